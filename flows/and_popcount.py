"""Bipolar activations times {0,1} weights (SiMaN) as a BINARY x BINARY (AND-popcount) MatMul.

A SiMaN layer multiplies a +-1 activation x by {0,1} weights W. With x = 2b - 1 (b the {0,1}
code of x, what the hardware streams anyway):

    x . W = 2 (b . W) - colsum(W)

so the MatMul can run on b (an AND-popcount MVAU: BINARY input, BINARY weights) followed by
`Mul 2` and `Add -colsum(W)`, which Streamline folds into the next thresholds, exactly as
qonnx's `ConvertBipolarMatMulToXnorPopcount` does for +-1 weights. The producing bipolar
MultiThreshold then emits b, and a -1 `Pad` of x (left as is, as after the XNOR conversion)
becomes FMPadding's code 0 in `AbsorbBipolarPadIntoIm2Col`.

The identity holds for any integer W, so ternary {-1, 0, +1} weights (`INT2`, from
`onebit.flows.ternary_sign`) are rewritten too. Wider integer weights (an 8-bit output layer)
only where the bipolar threshold stands alone, not merged into the MVAU before it (a
residual's sign after the add): FINN's Thresholding layer has no +-1 output (out_scale 2),
while its {0,1} code is a plain BINARY threshold.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto
from onnx import helper as oh
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes


def _bipolar_threshold(node) -> bool:
    if node.op_type != "MultiThreshold":
        return False
    return getCustomOp(node).get_nodeattr("out_dtype") == "BIPOLAR"


def private_chain(model: ModelWrapper, tensor: str, source=_bipolar_threshold):
    """(the `source` node (default: a bipolar MultiThreshold), the tensors from it down to
    `tensor`) through single-consumer data-movement nodes, or None.

    Only a chain that nothing else reads may change from +-1 to {0,1} codes.
    """
    outputs = {o.name for o in model.graph.output}
    tensors = []
    while True:
        node = model.find_producer(tensor)
        if node is None or len(model.find_consumers(tensor)) != 1 or tensor in outputs:
            return None
        tensors.append(tensor)
        if source(node):
            return node, tensors
        if node.op_type not in ("Transpose", "Pad", "Im2Col", "MaxPool", "MaxPoolNHWC", "Reshape",
                                "Flatten"):  # fmt: skip
            return None
        tensor = node.input[0]


def _merges_into_mvau(model: ModelWrapper, mt) -> bool:
    """Whether FINN makes `mt` the activation of the MVAU of the MatMul that feeds it."""
    prod = model.find_producer(mt.input[0])
    return (prod is not None and prod.op_type in ("MatMul", "XnorPopcountMatMul")
            and len(model.find_consumers(prod.output[0])) == 1)


def _integer_weights(dt: DataType) -> bool:
    return dt.is_integer() and dt != DataType["BIPOLAR"]


def _ternary(w: np.ndarray) -> bool:
    return set(np.unique(w).tolist()) <= {-1.0, 0.0, 1.0}


class ConvertBipolarByBinaryMatMul(Transformation):
    """MatMul(BIPOLAR x, BINARY or ternary W) -> Add(Mul(MatMul(BINARY b, W), 2), -colsum(W));
    also for other integer W where x's bipolar threshold stands alone."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for idx, node in enumerate(graph.node):
            if node.op_type != "MatMul":
                continue
            x, w = node.input[0], node.input[1]
            if model.get_tensor_datatype(x) != DataType["BIPOLAR"]:
                continue
            wdt = model.get_tensor_datatype(w)
            if not _integer_weights(wdt):
                continue
            W = model.get_initializer(w)
            chain = private_chain(model, x)
            if W is None or chain is None:
                continue
            mt, tensors = chain
            if not _ternary(W) and _merges_into_mvau(model, mt):
                continue
            inst = getCustomOp(mt)
            if inst.get_nodeattr("out_scale") != 2.0 or inst.get_nodeattr("out_bias") != -1.0:
                continue
            inst.set_nodeattr("out_dtype", "BINARY")
            inst.set_nodeattr("out_scale", 1.0)
            inst.set_nodeattr("out_bias", 0.0)
            for t in tensors:  # the chain now carries codes
                model.set_tensor_datatype(t, DataType["BINARY"])
            colsum = np.asarray(W, dtype=np.float32).sum(axis=0)
            return append_affine(model, idx, 2.0, -colsum), True
        return model, False


def append_affine(model: ModelWrapper, idx: int, scale: float, offset) -> ModelWrapper:
    """Node `idx`'s output becomes Add(Mul(its new output, scale), offset) (a popcount's
    return to the dot product); shapes and datatypes inferred again."""
    graph = model.graph
    node = graph.node[idx]
    shape = model.get_tensor_shape(node.output[0])
    out = node.output[0]
    acc, mul, scaled, add = (model.make_new_valueinfo_name() for _ in range(4))
    for name in (acc, scaled):
        graph.value_info.append(oh.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    model.set_initializer(mul, np.asarray([scale], dtype=np.float32))
    model.set_initializer(add, np.asarray(offset, dtype=np.float32).reshape(-1))
    node.output[0] = acc
    graph.node.insert(idx + 1, oh.make_node("Mul", [acc, mul], [scaled]))
    graph.node.insert(idx + 2, oh.make_node("Add", [scaled, add], [out]))
    return model.transform(InferShapes()).transform(InferDataTypes())
