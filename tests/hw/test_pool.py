"""onebit_pool against FINN's Python execution of the MaxPool `Pool` node."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from onebit.errors import UnsupportedOpError
from onebit.hw import packing, pool, rtl_source, verilator

from finn_nodes import PART, simulate_under_stalls, single_node_model


def pool_model(dt: DataType, ch: int, pe: int, k: int, odim: int, fxn="MaxPool") -> ModelWrapper:
    """One Pool node with the attributes InferPool gives it (PE then folded)."""
    node = helper.make_node(
        "Pool", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        InputDataType=dt.name, OutputDataType=dt.name, Channels=ch, PE=pe, KernelSize=[k, k],
        Function=fxn, OutImgDims=[odim, odim], AccumBits=0, Size=0, BatchSize=1,
        cpp_interface="hls_vector", name="Pool_0",
    )
    return single_node_model(node, [1, odim, odim, k * k * ch], [1, odim, odim, ch], dt, dt)


def random_values(rng, dt: DataType, shape) -> np.ndarray:
    if dt == DataType["BIPOLAR"]:
        return rng.choice([-1.0, 1.0], size=shape, p=[0.7, 0.3]).astype(np.float32)
    return rng.integers(int(dt.min()), int(dt.max()) + 1, size=shape).astype(np.float32)


@pytest.mark.verilator
@pytest.mark.parametrize(
    "dt, ch, pe, k",
    [
        ("BIPOLAR", 8, 4, 2),
        ("INT8", 6, 2, 3),
        pytest.param("UINT4", 3, 3, 1, marks=pytest.mark.slow),    # 1x1 window, PE = C
        pytest.param("BINARY", 4, 1, 3, marks=pytest.mark.slow),
    ],
)
def test_maxpool_matches_finn(dt, ch, pe, k, tmp_path, vcache):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    dt, odim = DataType[dt], 3
    rng = np.random.default_rng(ch)
    model = pool_model(dt, ch, pe, k, odim)
    x = random_values(rng, dt, (1, odim, odim, k * k * ch))
    golden = execute_onnx(model, {"inp": x})["out"]
    spec = model.transform(SpecializeLayers(PART))
    node = spec.graph.node[0]
    assert node.op_type == "Pool_hls"
    inst = pool.generate(node, spec, tmp_path)
    assert inst.params == {
        "PE": pe, "ELEM_BITS": dt.bitwidth(), "SIGNED": int(dt.signed() and dt.bitwidth() > 1),
        "K": k * k,
    }
    words = packing.pack(pool.window_stream_order(x, k * k, ch, pe), dt, pe)
    want = packing.pack(golden, dt, pe)
    for (_, pv, pr), res in simulate_under_stalls(inst, words, want, vcache):
        if pv == 1.0 and pr == 1.0:  # one word per cycle, one cycle of latency
            assert res.cycles == len(words) + 1


@pytest.mark.verilator
@pytest.mark.parametrize("params", [
    {"PE": 1, "ELEM_BITS": 1, "SIGNED": 0, "K": 1},
    {"PE": 4, "ELEM_BITS": 8, "SIGNED": 1, "K": 9},
])
def test_lint_clean(params):
    assert verilator.lint([rtl_source(pool.MODULE)], pool.MODULE, params) == ""


@pytest.mark.verilator
def test_invalid_parameters_rejected():
    with pytest.raises(verilator.VerilatorError):
        verilator.lint([rtl_source(pool.MODULE)], pool.MODULE, {"PE": 1, "ELEM_BITS": 1, "K": 0})


def test_avgpool_rejected(tmp_path):
    model = pool_model(DataType["UINT4"], 2, 1, 2, 2, fxn="AvgPool")
    with pytest.raises(UnsupportedOpError, match="Pool_0.*AvgPool"):
        pool.generate(model.graph.node[0], model, tmp_path)


def test_window_stream_order():
    # (pixel, K=2, C=4) with PE=2 -> (pixel, C/PE=2, K=2, PE=2)
    x = np.arange(8).reshape(1, 8)
    assert pool.window_stream_order(x, 2, 4, 2).tolist() == [0, 1, 4, 5, 2, 3, 6, 7]
