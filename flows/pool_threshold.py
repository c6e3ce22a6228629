"""MaxPool -> BatchNorm -> threshold (a common Brevitas ordering) becomes threshold -> MaxPool.

FINN streamlines only BatchNorm/threshold directly after a linear layer: a MaxPool between
them leaves scales that cannot pass it and a graph FINN cannot partition. Max-pooling commutes
with a monotonic function, so the threshold can go first:

- channels with a positive BatchNorm scale: f(max x) = max f(x);
- channels with a negative scale: f is decreasing and f(max x) = min f(x). With T thresholds
  and levels q c + r (c the count), the complement g = q (T - c) + r counts the opposite
  comparisons, an increasing threshold function of x, and min f = q T + 2 r - max g: the node
  thresholds g, pools, and `Add(-(q T + 2 r))` then a per-channel sign `Mul(-1)` follow the
  pool (`AbsorbChannelSignIntoLinear` moves the sign into the next layer's weights, FINN's
  streamlining the Add into its thresholds). For levels symmetric about 0 (bipolar +-1, 2-bit
  {-1, 0, +1}) the Add is 0 and only the sign remains;
- a zero scale: a constant channel.

The new thresholds act on the integer pool input directly (no BatchNorm left): for integer x,
`a x + b >= t` is `x >= ceil((t - b) / a)` (a > 0) and `x <= floor((t - b) / a)` (a < 0).
Only integer pool inputs are rewritten; anything else is left for the partition check to name.
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from onebit.flows.channel_sign import SIGN_SUFFIX


def _single_consumer(model: ModelWrapper, tensor: str, op_type: str):
    """The only reader of `tensor` if it is an `op_type` node and `tensor` is no graph output."""
    nxt = model.find_consumers(tensor)
    if len(nxt) != 1 or nxt[0].op_type != op_type:
        return None
    return None if any(o.name == tensor for o in model.graph.output) else nxt[0]


def _bn_affine(model: ModelWrapper, bn) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (a, b) of BatchNormalization `bn` (y = a x + b), float64; None if not const."""
    params = [model.get_initializer(i) for i in bn.input[1:5]]
    if any(p is None for p in params):
        return None
    gamma, beta, mean, var = (np.asarray(p, dtype=np.float64).reshape(-1) for p in params)
    eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    a = gamma / np.sqrt(var + eps)
    return a, beta - a * mean


def integer_thresholds(a: np.ndarray, b: np.ndarray, t: np.ndarray, lo: int, hi: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: thresholds on integer x in [lo, hi] counting `a x + b >= t` (a >= 0) or,
    where a < 0, counting `a x + b < t` (the negated function's steps); and the channel sign.

    `t` is (C, T) in BatchNorm-output space. Returns ((C, T) sorted float thresholds, (C,) +-1).
    Thresholds are clamped to [lo, hi + 1], which keeps every comparison on [lo, hi].
    """
    a, b = a[:, None], b[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = (t - b) / a
    finite = np.isfinite(r)
    fr = np.where(finite, r, 0.0)
    steps = np.where(a > 0, np.ceil(fr), np.floor(fr) + 1)  # x >= r  |  x > r (a < 0)
    # a == 0 or a step at +-inf: the comparison is the same for every x
    always = np.where(a == 0, b >= t, r < 0)
    steps = np.where((a != 0) & finite, steps, np.where(always, lo, hi + 1))
    sign = np.where(a[:, 0] < 0, -1.0, 1.0)
    return np.sort(np.clip(steps, lo, hi + 1), axis=1), sign


def _min_offset(op, n_thres: int) -> float:
    """q T + 2 r: min f = q T + 2 r - max g for levels q c + r of T thresholds (0 when the
    levels are symmetric about 0)."""
    return float(op.get_nodeattr("out_scale")) * n_thres + 2 * float(op.get_nodeattr("out_bias"))


class MoveMaxPoolPastThreshold(Transformation):
    """MaxPool(integer x) -> BatchNormalization -> MultiThreshold becomes
    MultiThreshold(x, integer thresholds) -> MaxPool [-> Add(per channel)] [-> Mul(+-1 per
    channel)]."""

    def apply(self, model: ModelWrapper):
        for pool in model.graph.node:
            if pool.op_type != "MaxPool":
                continue
            bn = _single_consumer(model, pool.output[0], "BatchNormalization")
            mt = bn and _single_consumer(model, bn.output[0], "MultiThreshold")
            if mt is None:
                continue
            xdt = model.get_tensor_datatype(pool.input[0])
            affine = _bn_affine(model, bn)
            thr = model.get_initializer(mt.input[1])
            if not xdt.is_integer() or affine is None or thr is None:
                continue
            op = getCustomOp(mt)
            if op.get_nodeattr("data_layout") != "NCHW":
                continue
            a, b = affine
            t = np.broadcast_to(np.asarray(thr, dtype=np.float64), (len(a), thr.shape[-1]))
            new_thr, sign = integer_thresholds(a, b, t, int(xdt.min()), int(xdt.max()))
            offset = np.where(sign < 0, -_min_offset(op, t.shape[1]), 0.0)
            self._rewrite(model, pool, bn, mt, new_thr.astype(np.float32), sign, offset)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False

    @staticmethod
    def _rewrite(model: ModelWrapper, pool, bn, mt, thr: np.ndarray, sign: np.ndarray,
                 offset: np.ndarray) -> None:
        x, y = pool.input[0], mt.output[0]
        dt = model.get_tensor_datatype(y)
        thr_name = model.make_new_valueinfo_name()
        model.set_initializer(thr_name, thr)
        act = model.make_new_valueinfo_name()
        mt.input[0], mt.input[1], mt.output[0] = x, thr_name, act
        pool.input[0] = act
        graph = model.graph
        graph.node.remove(bn)
        if (sign > 0).all():
            pool.output[0] = y
        else:  # pool -> [Add(offset)] -> Mul(sign), per channel
            pooled, s_name = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
            pool.output[0] = pooled
            at = list(graph.node).index(pool) + 1
            if offset.any():
                shifted, o_name = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
                model.set_initializer(o_name, offset.reshape(1, -1, 1, 1).astype(np.float32))
                graph.node.insert(at, helper.make_node("Add", [pooled, o_name], [shifted],
                                                       name=pool.name + "_min_offset"))
                pooled, at = shifted, at + 1
            model.set_initializer(s_name, sign.reshape(1, -1, 1, 1).astype(np.float32))
            mul = helper.make_node("Mul", [pooled, s_name], [y], name=pool.name + SIGN_SUFFIX)
            graph.node.insert(at, mul)
        # MultiThreshold first, then the pool: keep the node list topologically sorted
        graph.node.remove(mt)
        graph.node.insert(list(graph.node).index(pool), mt)
        model.set_tensor_datatype(act, dt)
        model.set_tensor_datatype(y, dt)
