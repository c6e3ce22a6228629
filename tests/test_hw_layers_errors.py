"""FINN's own exceptions in the HW conversion become one-line onebit errors naming the node."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.flows.hw_layers import to_hw_layers


def _matmul_threshold(out_bias: float) -> ModelWrapper:
    """x (INT2) -> MatMul (+-1) -> MultiThreshold 'mt0' (INT2 output, 2 thresholds)."""
    mm = helper.make_node("MatMul", ["x", "w"], ["acc"], name="mm0")
    mt = helper.make_node("MultiThreshold", ["acc", "thr"], ["y"], name="mt0",
                          domain="qonnx.custom_op.general", out_dtype="INT2",
                          out_bias=out_bias)  # fmt: skip
    graph = helper.make_graph([mm, mt], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = ModelWrapper(helper.make_model(graph))
    rng = np.random.default_rng(0)
    model.set_initializer("w", rng.choice([-1.0, 1.0], (8, 4)).astype(np.float32))
    model.set_initializer("thr", np.sort(rng.normal(size=(4, 2)), axis=1).astype(np.float32))
    model.set_tensor_datatype("x", DataType["INT2"])
    model.set_tensor_datatype("w", DataType["BIPOLAR"])
    model.set_tensor_datatype("acc", DataType["INT32"])
    model.set_tensor_datatype("y", DataType["INT2"])
    from qonnx.transformation.infer_shapes import InferShapes

    return model.transform(InferShapes())


def test_finn_user_error_names_the_node():
    """CNV-W1A2 before the bias absorption: a signed threshold output with out_bias 0."""
    with pytest.raises(UnsupportedOpError, match=r"^unsupported node 'mt0' \(MultiThreshold\): "
                       r"FINN's InferQuantizedMatrixVectorActivation cannot map it "
                       r"\(FINNUserError: mt0: Signed output requires actval < 0\)$"):
        to_hw_layers(_matmul_threshold(out_bias=0.0))


def test_signed_threshold_output_with_its_offset_maps():
    model = to_hw_layers(_matmul_threshold(out_bias=-1.0))
    assert [n.op_type for n in model.graph.node] == ["MVAU"]
