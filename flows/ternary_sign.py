"""The sign of a negative BatchNorm scale after a {0,1}-weight layer goes into its weights.

Streamlining splits a BatchNorm scale a into |a| (absorbed by the thresholds that follow) and
a per-channel `Mul(s)`, s = sign(a) = +-1, left right after the linear layer. For +-1 weights
FINN absorbs it into the weights (`Absorb1BitMulIntoMatMul`/`Conv`: -W is again +-1); {0,1}
(SiMaN) weights cannot hold -1, so the Mul stays in software between two HW layers.

Here the Mul goes into the weights anyway, which become ternary {-1, 0, +1} (`INT2`): output
channel o computes x . (s_o W_o) = s_o (x . W_o) exactly. onebit's MVAU multiplies any integer
weights, so the layer stays in hardware at 2 bits a weight; a bipolar input still becomes {0,1}
codes (`ConvertBipolarByBinaryMatMul`: x . W = 2 b . W - colsum(W) holds for any W).
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes

from onebit.flows.zero_pad import channel_signs

TERNARY_WEIGHTS = DataType["INT2"]
"""The datatype of {0,1} weights after absorbing a sign: -1, 0, +1 (FINN's MVAU reads INTn)."""


def _output_signs(model: ModelWrapper, layer, mul) -> np.ndarray | None:
    """s (out channels,) if `mul` multiplies `layer`'s output by +-1 per output channel."""
    w = model.get_initializer(layer.input[1])
    if w is None or len(mul.input) != 2 or mul.input[0] != layer.output[0]:
        return None
    if layer.op_type == "Conv":
        return channel_signs(model, mul, w.shape[0], "NCHW")
    return channel_signs(model, mul, w.shape[1], "NC")


class AbsorbSignIntoBinaryWeights(Transformation):
    """Conv/MatMul with BINARY weights -> Mul(+-1 per output channel): the Mul into the
    weights, which become INT2 (ternary)."""

    def apply(self, model: ModelWrapper):
        for layer in model.graph.node:
            if layer.op_type not in ("Conv", "MatMul"):
                continue
            if model.get_tensor_datatype(layer.input[1]) != DataType["BINARY"]:
                continue
            consumers = model.find_consumers(layer.output[0])
            if not consumers or len(consumers) != 1 or consumers[0].op_type != "Mul":
                continue
            if any(o.name == layer.output[0] for o in model.graph.output):
                continue
            mul = consumers[0]
            s = _output_signs(model, layer, mul)
            if s is None:
                continue
            w = np.asarray(model.get_initializer(layer.input[1]))
            axis = (-1, 1, 1, 1) if layer.op_type == "Conv" else (1, -1)
            model.set_initializer(layer.input[1], (w * s.reshape(axis)).astype(w.dtype))
            model.set_tensor_datatype(layer.input[1], TERNARY_WEIGHTS)
            layer.output[0] = mul.output[0]
            model.graph.node.remove(mul)
            return model.transform(InferDataTypes()), True
        return model, False
