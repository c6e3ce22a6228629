"""onebit_label_select against FINN's Python execution of LabelSelect (ONNX TopK), ties included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.onnx_exec import execute_onnx

from onebit.errors import UnsupportedOpError
from onebit.hw import labelselect, packing, rtl_source, verilator
from onebit.hw.mvau import set_lut_levels

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
    "dt, lo, hi, labels, pe, k, budget",
    [
        ("INT8", -3, 3, 10, 2, 3, None),       # few distinct scores: many ties
        ("UINT3", 0, 7, 8, 4, 8, None),        # full sort
        pytest.param("INT16", -40000, 40000, 10, 10, 1, None, marks=pytest.mark.slow),
        pytest.param("BIPOLAR", -1, 1, 6, 3, 4, None, marks=pytest.mark.slow),
        # one list per lane (a LUT-level budget), PE 10
        pytest.param("INT16", -40000, 40000, 10, 10, 1, 6, marks=pytest.mark.slow),
        pytest.param("INT8", -3, 3, 10, 10, 5, 6, marks=pytest.mark.slow),
    ],
)
def test_labelselect_matches_finn(dt, lo, hi, labels, pe, k, budget, tmp_path, vcache):
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
    set_lut_levels(node, budget)
    inst = labelselect.generate(node, spec, tmp_path)
    assert inst.module == (labelselect.MODULE if budget is None else labelselect.MODULE_LANES)
    odt = DataType["UINT8"]
    assert inst.out_width == 8 and inst.params["OUT_BITS"] == 8
    words = packing.pack(x, dt, pe)
    want = packing.pack(golden, odt, 1)
    simulate_under_stalls(inst, words, want, vcache)  # asserts every run's output exactly


@pytest.mark.verilator
@pytest.mark.parametrize("module, params", [
    (labelselect.MODULE, {"PE": 1, "ELEM_BITS": 1, "SIGNED": 0, "LABELS": 2, "K": 1,
                          "OUT_BITS": 8}),
    (labelselect.MODULE, {"PE": 5, "ELEM_BITS": 16, "SIGNED": 1, "LABELS": 10, "K": 10,
                          "OUT_BITS": 16}),
    (labelselect.MODULE_LANES, {"PE": 10, "ELEM_BITS": 16, "SIGNED": 1, "LABELS": 10, "K": 5,
                                "OUT_BITS": 4, "MERGE_LAYERS": 3}),
    (labelselect.MODULE_LANES, {"PE": 3, "ELEM_BITS": 3, "SIGNED": 0, "LABELS": 12, "K": 12,
                                "OUT_BITS": 4, "MERGE_LAYERS": 2}),
    (labelselect.MODULE_LANES, {"PE": 2, "ELEM_BITS": 1, "SIGNED": 0, "LABELS": 2, "K": 1,
                                "OUT_BITS": 1, "MERGE_LAYERS": 1}),
])
def test_lint_clean(module, params):
    assert verilator.lint([rtl_source(module)], module, params) == ""


@pytest.mark.verilator
@pytest.mark.parametrize("module, params", [
    (labelselect.MODULE, {"PE": 3, "LABELS": 10}),
    (labelselect.MODULE_LANES, {"PE": 3, "LABELS": 10}),
    (labelselect.MODULE_LANES, {"PE": 1, "LABELS": 10}),
    (labelselect.MODULE_LANES, {"PE": 2, "MERGE_LAYERS": 0}),
])
def test_invalid_parameters_rejected(module, params):
    with pytest.raises(verilator.VerilatorError):
        verilator.lint([rtl_source(module)], module, params)


def test_narrow_output_rejected(tmp_path):
    model = labelselect_model(DataType["INT4"], 20, 1, 1, 1, odt="UINT4")
    with pytest.raises(UnsupportedOpError, match="LabelSelect_0.*UINT4"):
        labelselect.generate(model.graph.node[0], model, tmp_path)


# A logic-depth budget: one list per PE lane, merged after the vector (onebit_label_select
# onebit_label_select_lanes). Scores are drawn from a few values so that ties are common.
def _tied_scores(dt: DataType, labels: int, nvec: int, rng) -> np.ndarray:
    if dt == DataType["BIPOLAR"]:
        return rng.choice([-1.0, 1.0], size=(nvec, labels)).astype(np.float32)
    lo, hi = int(dt.min()), int(dt.max())
    vals = rng.choice(np.arange(lo, hi + 1), size=min(4, hi - lo + 1), replace=False)
    x = rng.choice(vals, size=(nvec, labels)).astype(np.float32)
    x[0] = lo  # all equal
    x[1] = hi  # all equal, the other end (the flipped sign bit of the merge keys)
    return x


def _budget_model(dt: DataType, labels: int, pe: int, k: int, nvec: int, budget: int | None):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    spec = labelselect_model(dt, labels, pe, k, nvec).transform(SpecializeLayers(PART))
    set_lut_levels(spec.graph.node[0], budget)
    return spec


@pytest.mark.verilator
def test_lanes_keep_throughput_and_add_latency_only(tmp_path, vcache):
    """The same node without and with a budget on 48 tied vectors: both equal FINN's golden,
    the same steady-state cycles per vector, the end delayed by exactly `merge_latency`;
    the lanes again under random valid/ready."""
    from onebit.hw import sim

    dt, labels, pe, k, nvec = DataType["INT4"], 12, 4, 3, 48
    x = _tied_scores(dt, labels, nvec, np.random.default_rng(3))
    runs = {}
    for budget in (None, 2):
        model = _budget_model(dt, labels, pe, k, nvec, budget)
        golden = execute_onnx(labelselect_model(dt, labels, pe, k, nvec), {"inp": x})["out"]
        inst = labelselect.generate(model.graph.node[0], model, tmp_path)
        want = packing.pack(golden, DataType[f"UINT{inst.params['OUT_BITS']}"], 1)
        res = sim.simulate_instance(inst, packing.pack(x, dt, pe), len(want), run_dir=tmp_path,
                                    cache_dir=vcache)
        assert np.array_equal(res.out_words, want), budget
        assert res.cycles == labelselect.expected_cycles(inst, nvec)
        runs[budget] = (res, inst)
    (r0, i0), (r1, i1) = runs[None], runs[2]
    assert (i0.module, i1.module) == (labelselect.MODULE, labelselect.MODULE_LANES)
    assert i1.params["MERGE_LAYERS"] == labelselect.merge_layers(2) == 1
    assert labelselect.merge_latency(i1.params) == 2 * (1 + 2)  # 2 levels of 1 + clog2(4)
    assert np.array_equal(np.diff(r0.out_cycles), np.diff(r1.out_cycles))
    assert r1.cycles - r0.cycles == labelselect.merge_latency(i1.params)
    simulate_under_stalls(i1, packing.pack(x, dt, pe), want, vcache)


# (datatype, labels) of the random structures: PE is any divisor of labels up to 10
SCORES = [("INT8", 10), ("UINT3", 12), ("BIPOLAR", 8), ("INT16", 20), ("UINT1", 6), ("INT2", 9)]


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=12, deadline=None, derandomize=True)
@given(scores=st.sampled_from(SCORES), data=st.data())
def test_lanes_match_finn_for_random_parameters(scores, data, tmp_path_factory, vcache):
    """Random PE (2..10 dividing the labels; PE 1 is the single list of the tests above), K
    (1..5), budget and tied scores: the node
    built for the budget equals FINN's golden under every valid/ready throttle of STALLS and,
    free-running, takes `expected_cycles` (slow: a Verilator build per example)."""
    dtn, labels = scores
    dt = DataType[dtn]
    pe = data.draw(st.sampled_from([p for p in range(2, 11) if labels % p == 0]), label="pe")
    k = data.draw(st.integers(1, min(5, labels)), label="k")
    budget = data.draw(st.sampled_from([2, 4, 6]), label="budget")
    nvec = 16
    x = _tied_scores(dt, labels, nvec, np.random.default_rng(data.draw(st.integers(0, 999))))
    model = _budget_model(dt, labels, pe, k, nvec, budget)
    golden = execute_onnx(labelselect_model(dt, labels, pe, k, nvec), {"inp": x})["out"]
    inst = labelselect.generate(model.graph.node[0], model, tmp_path_factory.mktemp("ls"))
    assert inst.module == labelselect.MODULE_LANES
    odt = DataType[f"UINT{inst.params['OUT_BITS']}"]
    runs = simulate_under_stalls(inst, packing.pack(x, dt, pe), packing.pack(golden, odt, 1),
                                 vcache)
    assert runs[0][1].cycles == labelselect.expected_cycles(inst, nvec)


def test_budget_parameters():
    """The budget reaches the RTL only at PE > 1; the merge's layers and registers."""
    assert [labelselect.merge_layers(b) for b in (1, 2, 3, 6, 9)] == [1, 1, 1, 2, 3]
    with pytest.raises(ValueError):
        labelselect.merge_layers(0)
    ml = labelselect.merge_latency
    assert ml({"PE": 10, "K": 5}) == 0  # one list
    assert ml({"PE": 2, "K": 1, "MERGE_LAYERS": 3}) == 1  # one layer
    assert ml({"PE": 10, "K": 5, "MERGE_LAYERS": 3}) == 6  # 4 levels * (1 + 3) layers
    assert ml({"PE": 10, "K": 1, "MERGE_LAYERS": 1}) == 4
    for pe, budget, extra in ((1, 6, {}), (5, None, {}), (5, 6, {"MERGE_LAYERS": 2})):
        model = _budget_model(DataType["INT8"], 10, pe, 2, 1, budget)
        inst = labelselect.generate(model.graph.node[0], model, Path("."))
        assert inst.module == (labelselect.MODULE_LANES if extra else labelselect.MODULE)
        assert inst.sources == [rtl_source(inst.module)]
        assert inst.params == {"PE": pe, "ELEM_BITS": 8, "SIGNED": 1, "LABELS": 10, "K": 2,
                               "OUT_BITS": 8, **extra}
