"""A per-channel sign Mul(+-1) before a linear layer moves into that layer's weights.

`MoveMaxPoolPastThreshold` leaves `Mul(s)` (s = +-1 per channel, NCHW) after a pool whose
channels had a negative BatchNorm scale. Flipping the sign of the weights that read channel c
keeps binary (+-1) and integer weights what they were ({0,1} weights become ternary
{-1, 0, +1}, as in `onebit.flows.ternary_sign`), so the Mul disappears:

- `Conv` (weights (O, C, kh, kw)): W[:, c] *= s_c;
- `Reshape`/`Flatten` to (N, C*H*W) then `MatMul` (weights (C*H*W, O)): rows of channel c.

Padding between the Mul and the conv would pad -s_c-scaled values per channel, which no FINN
padding can do; that and any other consumer are refused by name.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes

from onebit.errors import UnsupportedOpError
from onebit.flows.ternary_sign import TERNARY_WEIGHTS

_FLATTEN = ("Reshape", "Flatten")
SIGN_SUFFIX = "_channel_sign"
"""Name suffix of the Mul nodes this pass moves (made by `MoveMaxPoolPastThreshold`)."""


def _channel_sign(model: ModelWrapper, node) -> np.ndarray | None:
    """s (C,) if `node` is Mul(x, s) with s = +-1 of shape (1, C, 1, 1) on a 4D tensor."""
    if node.op_type != "Mul" or not node.name.endswith(SIGN_SUFFIX):
        return None
    s = model.get_initializer(node.input[1])
    shape = model.get_tensor_shape(node.input[0])
    if s is None or shape is None or len(shape) != 4 or s.shape != (1, shape[1], 1, 1):
        return None
    s = np.asarray(s).reshape(-1)
    return s if set(np.unique(s).tolist()) <= {-1.0, 1.0} else None


def _flip(model: ModelWrapper, node, mul, factor: np.ndarray) -> None:
    """Multiply `node`'s weight initializer by `factor` (+-1, broadcast), keeping its datatype."""
    w = model.get_initializer(node.input[1])
    if w is None:
        raise UnsupportedOpError(node.name, node.op_type,
                                 f"reads the sign-flipped channels of '{mul.name}' but its "
                                 "weights are not a constant")
    new = np.asarray(w) * factor.astype(w.dtype)
    dt = model.get_tensor_datatype(node.input[1])
    if dt == DataType["BINARY"]:  # {0,1} weights take the sign as ternary ones
        dt = TERNARY_WEIGHTS
        model.set_tensor_datatype(node.input[1], dt)
    if not all(dt.allowed(v) for v in np.unique(new)):
        raise UnsupportedOpError(node.name, node.op_type,
                                 f"its {dt.name} weights cannot take the sign of the negative "
                                 f"BatchNorm-scale channels before it ('{mul.name}')")
    model.set_initializer(node.input[1], new)


class AbsorbChannelSignIntoLinear(Transformation):
    """Mul(x, +-1 per channel) -> Conv, or -> Reshape/Flatten -> MatMul: into the weights."""

    def apply(self, model: ModelWrapper):
        for mul in model.graph.node:
            s = _channel_sign(model, mul)
            if s is None:
                continue
            consumers = model.find_consumers(mul.output[0])
            if len(consumers) != 1:
                raise UnsupportedOpError(
                    mul.name, "Mul", "a per-channel sign after a pool must feed one layer, "
                    f"it feeds {len(consumers)}")
            nxt = consumers[0]
            _, c, h, w = model.get_tensor_shape(mul.input[0])
            if nxt.op_type == "Conv":
                _flip(model, nxt, mul, s.reshape(1, c, 1, 1))
            elif nxt.op_type in _FLATTEN and len(model.find_consumers(nxt.output[0])) == 1 \
                    and model.find_consumers(nxt.output[0])[0].op_type == "MatMul" \
                    and model.get_tensor_shape(nxt.output[0]) == [1, c * h * w]:
                mm = model.find_consumers(nxt.output[0])[0]
                _flip(model, mm, mul, np.repeat(s, h * w).reshape(-1, 1))
            else:
                raise UnsupportedOpError(
                    nxt.name, nxt.op_type,
                    f"follows '{mul.name}', the sign of channels whose BatchNorm scale is "
                    "negative after a max-pool; onebit moves it into a following Conv or "
                    "flatten + MatMul only (no padding in between)")
            nxt.input[0] = mul.input[0]
            model.graph.node.remove(mul)
            return model.transform(InferDataTypes()), True
        return model, False
