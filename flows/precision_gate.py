"""Precision-gated (FracBNN) layers through the flow (ops in `onebit.flows.fracbnn_ops`).

- streamline (`LowerPGToMatMul`): `PGConv` becomes Transpose(to NHWC) -> Im2Col (padding code
  0, i.e. -1 on both bit planes: FINN's FMPadding value) -> `PGMatMul` -> Transpose(to NCHW),
  as qonnx lowers a Conv, so the same passes then move its thresholds and transposes; `PGGemm`
  becomes a `PGMatMul`. The paper's float threshold becomes the integer gate on the MSB
  accumulator (`gate_thresholds`: acc_m >= T, the same decision on every integer).
- hw_layers (`InferGatedMVAU`): `PGMatMul` and the MultiThreshold after it (or none: the
  logits) become a `GatedMVAU` (op type MVAU, this flow's domain), the golden of the RTL.
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

from onebit.errors import UnsupportedOpError
from onebit.flows.fracbnn_ops import gate_thresholds

DOMAIN = "onebit.flows.fracbnn_ops"


def _value(model: ModelWrapper, shape) -> str:
    name = model.make_new_valueinfo_name()
    model.graph.value_info.append(oh.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    return name


def _matmul(model: ModelWrapper, node, x: str, w: np.ndarray, out: str):
    """A PGMatMul of `x` and +-1 `w` (K, O) with the node's threshold as integer gates."""
    thr = model.get_initializer(node.input[2])
    if thr is None:
        raise UnsupportedOpError(node.name, node.op_type, "gate thresholds are not a constant")
    wname, gname = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
    model.set_initializer(wname, np.ascontiguousarray(w, dtype=np.float32))
    model.set_tensor_datatype(wname, DataType["BIPOLAR"])
    model.set_initializer(gname, gate_thresholds(thr).astype(np.float32))
    return oh.make_node("PGMatMul", [x, wname, gname], [out], domain=DOMAIN,
                        name=f"{node.name}_matmul")  # fmt: skip


class LowerPGToMatMul(Transformation):
    """PGConv -> Transpose, Im2Col, PGMatMul, Transpose; PGGemm -> PGMatMul."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for idx, node in enumerate(graph.node):
            if node.domain != DOMAIN or node.op_type not in ("PGConv", "PGGemm"):
                continue
            W = model.get_initializer(node.input[1])
            if W is None or not set(np.unique(W).tolist()) <= {-1.0, 1.0}:
                raise UnsupportedOpError(node.name, node.op_type, "weights must be constant +-1")
            if node.op_type == "PGGemm":
                new = [_matmul(model, node, node.input[0], W.T, node.output[0])]
            else:
                new = self._lower_conv(model, node, W)
            graph.node.remove(node)
            for i, n in enumerate(new):
                graph.node.insert(idx + i, n)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False

    @staticmethod
    def _lower_conv(model: ModelWrapper, node, W: np.ndarray) -> list:
        op = getCustomOp(node)
        k = op.get_nodeattr("kernel_shape")[0]
        n, c, h, w = model.get_tensor_shape(node.input[0])
        _, o, oh_, ow = model.get_tensor_shape(node.output[0])
        nhwc = _value(model, [n, h, w, c])
        cols = _value(model, [n, oh_, ow, c * k * k])
        acc = _value(model, [n, oh_, ow, o])
        wm = W.transpose(0, 2, 3, 1).reshape(o, -1).T  # Im2Col's (kh, kw, c) order
        return [
            oh.make_node("Transpose", [node.input[0]], [nhwc], perm=[0, 2, 3, 1]),
            oh.make_node("Im2Col", [nhwc], [cols], domain="qonnx.custom_op.general",
                         stride=[1, 1], kernel_size=[k, k], pad_amount=op.get_nodeattr("pads"),
                         input_shape=str((n, h, w, c)).replace(" ", ""), pad_value=0),
            _matmul(model, node, cols, wm, acc),
            oh.make_node("Transpose", [acc], [node.output[0]], perm=[0, 3, 1, 2]),
        ]  # fmt: skip


class InferGatedMVAU(Transformation):
    """PGMatMul [-> MultiThreshold] -> GatedMVAU (thresholds and their out_bias as ActVal)."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for idx, node in enumerate(graph.node):
            if node.domain != DOMAIN or node.op_type != "PGMatMul":
                continue
            x, w, g = node.input
            W, gate = model.get_initializer(w), model.get_initializer(g)
            mw, mh = W.shape
            cons = model.find_consumers(node.output[0]) or []
            mt = cons[0] if len(cons) == 1 and cons[0].op_type == "MultiThreshold" else None
            attrs = dict(MW=mw, MH=mh, SIMD=1, PE=1, weightDataType="BIPOLAR", binaryXnorMode=0,
                         inputDataType=model.get_tensor_datatype(x).name, backend="fpgadataflow",
                         numInputVectors=[int(d) for d in model.get_tensor_shape(x)[:-1]],
                         gate_thresholds=[int(v) for v in gate],
                         mem_mode="internal_decoupled")  # fmt: skip
            if mt is None:
                inputs, out = [x, w], node.output[0]
                attrs.update(noActivation=1, ActVal=0, outputDataType="INT32")
            else:
                mt_op = getCustomOp(mt)
                bias = float(mt_op.get_nodeattr("out_bias"))
                if float(mt_op.get_nodeattr("out_scale")) != 1.0 or bias != int(bias):
                    raise UnsupportedOpError(mt.name, "MultiThreshold",
                                             "a PG layer's activation needs scale 1 and an "
                                             "integer bias")  # fmt: skip
                T = model.get_initializer(mt.input[1])
                if T.shape[0] == 1:
                    model.set_initializer(mt.input[1], np.tile(T, (mh, 1)))
                inputs, out = [x, w, mt.input[1]], mt.output[0]
                attrs.update(noActivation=0, ActVal=int(bias),
                             outputDataType=model.get_tensor_datatype(out).name)
                graph.node.remove(mt)
            hw = oh.make_node("MVAU", inputs, [out], domain=DOMAIN, name=node.name, **attrs)
            graph.node.remove(node)
            graph.node.insert(idx, hw)
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False
