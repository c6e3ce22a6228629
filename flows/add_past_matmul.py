"""A per-channel constant Add before a flatten and a MatMul moves after the MatMul.

`MoveMaxPoolPastThreshold` leaves `Add(d)` (d per channel, NCHW) after a pool whose channels
had a negative BatchNorm scale and levels not symmetric about 0. Before a conv FINN moves it
past (`MoveAddPastConv`); before a flatten + MatMul nothing does (FINN moves only scalar Adds
past a MatMul), and the MatMul would stay in software. Linearity does it:

    flatten(x + d) . W = flatten(x) . W + flatten(d) . W

with d broadcast over the map, so the Add becomes one constant per output column after the
MatMul, where streamlining absorbs it into the next thresholds (or it ends the graph).
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

_FLATTEN = ("Reshape", "Flatten")


def _only_consumer(model: ModelWrapper, tensor: str, op_types: tuple[str, ...]):
    nxt = model.find_consumers(tensor)
    if not nxt or len(nxt) != 1 or nxt[0].op_type not in op_types or nxt[0].input[0] != tensor:
        return None
    return None if any(o.name == tensor for o in model.graph.output) else nxt[0]


class MoveChannelAddPastFlattenMatMul(Transformation):
    """Add(x NCHW, constant) -> Reshape/Flatten (N, C*H*W) -> MatMul(W) becomes
    Reshape/Flatten -> MatMul -> Add(flatten(d) . W)."""

    def apply(self, model: ModelWrapper):
        for add in model.graph.node:
            if add.op_type != "Add" or len(add.input) != 2:
                continue
            d = model.get_initializer(add.input[1])
            shape = model.get_tensor_shape(add.input[0])
            flat = _only_consumer(model, add.output[0], _FLATTEN)
            mm = flat and _only_consumer(model, flat.output[0], ("MatMul",))
            if d is None or mm is None or shape is None or len(shape) != 4:
                continue
            w = model.get_initializer(mm.input[1])
            if w is None or model.get_tensor_shape(flat.output[0]) != [1, int(np.prod(shape[1:]))]:
                continue
            try:
                dmap = np.broadcast_to(np.asarray(d, dtype=np.float64), shape)
            except ValueError:
                continue
            bias = dmap.reshape(1, -1) @ np.asarray(w, dtype=np.float64)
            flat.input[0] = add.input[0]
            acc, b_name = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
            out = mm.output[0]
            mm.output[0] = acc
            model.set_initializer(b_name, bias.astype(np.float32))
            graph = model.graph
            graph.node.remove(add)
            graph.node.insert(list(graph.node).index(mm) + 1,
                              helper.make_node("Add", [acc, b_name], [out], name=add.name))
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False
