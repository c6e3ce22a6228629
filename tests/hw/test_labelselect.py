"""onebit_label_select against FINN's Python execution of LabelSelect (ONNX TopK), ties included."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.onnx_exec import execute_onnx

from onebit.errors import UnsupportedOpError
from onebit.hw import labelselect, packing, rtl_source, verilator

from finn_nodes import PART, simulate_under_stalls, single_node_model


def labelselect_model(dt: DataType, labels: int, pe: int, k: int, nvec: int, odt: str = ""):
    """One LabelSelect node as InferLabelSelectLayer writes it (PE then folded)."""
    attrs = {"outputDataType": odt} if odt else {}
    node = helper.make_node(
        "LabelSelect", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", Labels=labels, PE=pe, K=k, inputDataType=dt.name,
        numInputVectors=[nvec], name="LabelSelect_0", **attrs,
    )
    return single_node_model(node, [nvec, labels], [nvec, k], dt)


@pytest.mark.verilator
@pytest.mark.parametrize(
    "dt, lo, hi, labels, pe, k",
    [
        ("INT8", -3, 3, 10, 2, 3),       # few distinct scores: many ties
        ("UINT3", 0, 7, 8, 4, 8),        # full sort
        pytest.param("INT16", -40000, 40000, 10, 10, 1, marks=pytest.mark.slow),
        pytest.param("BIPOLAR", -1, 1, 6, 3, 4, marks=pytest.mark.slow),
    ],
)
def test_labelselect_matches_finn(dt, lo, hi, labels, pe, k, tmp_path, vcache):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    dt, nvec = DataType[dt], 12
    rng = np.random.default_rng(labels)
    if dt == DataType["BIPOLAR"]:
        x = rng.choice([-1.0, 1.0], size=(nvec, labels)).astype(np.float32)
    else:
        lo, hi = max(lo, int(dt.min())), min(hi, int(dt.max()))
        x = rng.integers(lo, hi + 1, size=(nvec, labels)).astype(np.float32)
        x[1] = np.arange(labels)[::-1] % (hi - lo + 1) + lo
    x[0] = lo  # all equal
    model = labelselect_model(dt, labels, pe, k, nvec)
    golden = execute_onnx(model, {"inp": x})["out"]
    spec = model.transform(SpecializeLayers(PART))
    node = spec.graph.node[0]
    assert node.op_type == "LabelSelect_hls"
    inst = labelselect.generate(node, spec, tmp_path)
    odt = DataType["UINT8"]
    assert inst.out_width == 8 and inst.params["OUT_BITS"] == 8
    words = packing.pack(x, dt, pe)
    want = packing.pack(golden, odt, 1)
    simulate_under_stalls(inst, words, want, vcache)  # asserts every run's output exactly


@pytest.mark.verilator
@pytest.mark.parametrize("params", [
    {"PE": 1, "ELEM_BITS": 1, "SIGNED": 0, "LABELS": 2, "K": 1, "OUT_BITS": 8},
    {"PE": 5, "ELEM_BITS": 16, "SIGNED": 1, "LABELS": 10, "K": 10, "OUT_BITS": 16},
])
def test_lint_clean(params):
    assert verilator.lint([rtl_source(labelselect.MODULE)], labelselect.MODULE, params) == ""


@pytest.mark.verilator
def test_invalid_parameters_rejected():
    params = {"PE": 3, "LABELS": 10}
    with pytest.raises(verilator.VerilatorError):
        verilator.lint([rtl_source(labelselect.MODULE)], labelselect.MODULE, params)


def test_narrow_output_rejected(tmp_path):
    model = labelselect_model(DataType["INT4"], 20, 1, 1, 1, odt="UINT4")
    with pytest.raises(UnsupportedOpError, match="LabelSelect_0.*UINT4"):
        labelselect.generate(model.graph.node[0], model, tmp_path)
