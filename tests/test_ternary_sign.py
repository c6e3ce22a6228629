"""{0,1} weights after which a BatchNorm scale is negative: the sign goes into the weights
(ternary), and a bipolar threshold feeding them becomes a {0,1} one (flows/ternary_sign.py,
flows/and_popcount.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_shapes import InferShapes

from onebit.flows.ternary_sign import AbsorbSignIntoBinaryWeights

from build_outcome import run_case
from random_nets import BlockSpec, Case, ConvSpec, Folding, NetSpec


def _binary_matmul_sign() -> ModelWrapper:
    """x (BIPOLAR) -> MatMul (W in {0,1}) -> Mul(+-1 per column) -> y."""
    mm = helper.make_node("MatMul", ["x", "w"], ["acc"], name="mm0")
    mul = helper.make_node("Mul", ["acc", "s"], ["y"], name="mul0")
    graph = helper.make_graph([mm, mul], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])])
    model = ModelWrapper(helper.make_model(graph))
    rng = np.random.default_rng(0)
    model.set_initializer("w", rng.integers(0, 2, (12, 5)).astype(np.float32))
    model.set_initializer("s", np.array([[1, -1, -1, 1, -1]], dtype=np.float32))
    model.set_tensor_datatype("x", DataType["BIPOLAR"])
    model.set_tensor_datatype("w", DataType["BINARY"])
    return model.transform(InferShapes())


def test_sign_after_binary_weights_goes_into_them_as_ternary():
    model = _binary_matmul_sign()
    x = np.random.default_rng(1).choice([-1.0, 1.0], (1, 12)).astype(np.float32)
    want = execute_onnx(model, {"x": x})["y"]
    new = model.transform(AbsorbSignIntoBinaryWeights())
    assert [n.op_type for n in new.graph.node] == ["MatMul"]
    assert new.get_tensor_datatype("w") == DataType["INT2"]
    assert set(np.unique(new.get_initializer("w"))) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(execute_onnx(new, {"x": x})["y"], want)


def _case(spec: NetSpec) -> Case:
    return Case(spec, Folding(target_fps=1e4), weight_seed=5, vectors=6, seed=-1)


@pytest.mark.verilator
def test_binary01_residual_with_negative_scales_simulates_bit_exactly(tmp_path):
    """A Bi-Real block with {0,1} weights and an 8-bit output layer: the block conv's negative
    BatchNorm scales make its weights ternary, the signs after the adds become {0,1}
    thresholds (FINN's Thresholding has no +-1 output), all in one partition, bit-exact."""
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(4, 3),), blocks=(BlockSpec(4, 3),),
                   weights="binary01", io_weights="int8")  # fmt: skip
    o = run_case(_case(spec), tmp_path / "w", sim=True)
    assert o.outcome == "built", o.message
    hw = ModelWrapper(str(next((tmp_path / "w" / "build" / "intermediate")
                               .glob("*_dataflow_golden.onnx"))))
    ops = [getCustomOp(n) for n in hw.graph.node]
    assert any(op.onnx_node.op_type == "MVAU" and op.get_nodeattr("weightDataType") == "INT2"
               for op in ops)
    assert any(op.onnx_node.op_type == "Thresholding"
               and op.get_nodeattr("outputDataType") == "BINARY" for op in ops)


def test_binary01_mlp_with_negative_scales_builds(tmp_path):
    spec = NetSpec((1, 5, 5), 3, fcs=((7, "sign"), (5, "int2"), (6, "sign")), weights="binary01")
    o = run_case(_case(spec), tmp_path / "w", sim=False)
    assert o.outcome == "built", o.message


def test_binary01_conv_after_a_pool_takes_the_channel_sign(tmp_path):
    """conv -> MaxPool -> BatchNorm (negative scales) -> sign -> {0,1} conv: the sign of the
    negative channels after the pool goes into the {0,1} conv's weights, as ternary ones
    (flows/channel_sign.py)."""
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(5, 1, pool=2, pool_at="before_bn"),
                                        ConvSpec(4, 2)), weights="binary01")  # fmt: skip
    case = _case(spec)
    bn = next(m for m in case.module().modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert (bn.weight < 0).any()
    o = run_case(case, tmp_path / "w", sim=False)
    assert o.outcome == "built", o.message
