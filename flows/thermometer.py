"""The thermometer encoder through the flow: its +-1 output into XNOR form, the input layout
transpose in front of it, and the HW layer (`onebit.flows.fracbnn_ops`).

- streamline (`ConvertThermometerMatMulToXnorPopcount`): a MatMul of +-1 weights reading a
  `Thermometer` (through a Pad, Transpose, Im2Col that nothing else reads) becomes an
  XnorPopcountMatMul, as qonnx's conversion does for a bipolar MultiThreshold (which it
  requires): the thermometer emits {0,1} codes, the weights become {0,1}, and Mul 2, Add -K
  restore the dot product. Its -1 Pad is then code 0 (`AbsorbBipolarPadIntoIm2Col`).
- streamline (`MoveTransposeBeforeThermometer`): Thermometer(NCHW) -> Transpose(to NHWC) is
  Transpose -> Thermometer(NHWC) (the encoding is per position), so the layout transpose of
  the graph input stays in software and the encoder joins the dataflow partition.
- hw_layers (`InferThermometerEncoder`): an NHWC `Thermometer` becomes a `ThermometerEncoder`.
"""

from __future__ import annotations

from onnx import TensorProto
from onnx import helper as oh
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from onebit.flows.and_popcount import append_affine, private_chain

DOMAIN = "onebit.flows.fracbnn_ops"
_NCHW_TO_NHWC = [0, 2, 3, 1]


def _is_thermometer(node) -> bool:
    return node.op_type == "Thermometer" and node.domain == DOMAIN


class ConvertThermometerMatMulToXnorPopcount(Transformation):
    """MatMul(Thermometer bits, +-1 W) -> XnorPopcountMatMul on {0,1} codes, Mul 2, Add -K."""

    def apply(self, model: ModelWrapper):
        for idx, node in enumerate(model.graph.node):
            if node.op_type != "MatMul":
                continue
            x, w = node.input[0], node.input[1]
            if (model.get_tensor_datatype(x) != DataType["BIPOLAR"]
                    or model.get_tensor_datatype(w) != DataType["BIPOLAR"]):
                continue
            W = model.get_initializer(w)
            chain = private_chain(model, x, _is_thermometer)
            if W is None or chain is None:
                continue
            thermo, tensors = chain
            getCustomOp(thermo).set_nodeattr("out_dtype", "BINARY")
            for t in tensors:
                model.set_tensor_datatype(t, DataType["BINARY"])
            model.set_initializer(w, (W + 1) / 2)
            model.set_tensor_datatype(w, DataType["BINARY"])
            node.op_type, node.domain = "XnorPopcountMatMul", "qonnx.custom_op.general"
            return append_affine(model, idx, 2.0, [-W.shape[0]]), True
        return model, False


class MoveTransposeBeforeThermometer(Transformation):
    """Thermometer(NCHW) -> Transpose(NCHW -> NHWC) becomes Transpose -> Thermometer(NHWC)."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for idx, node in enumerate(graph.node):
            if not _is_thermometer(node) or getCustomOp(node).get_nodeattr("data_layout") != "NCHW":
                continue
            cons = model.find_consumers(node.output[0]) or []
            if len(cons) != 1 or cons[0].op_type != "Transpose":
                continue
            tr = cons[0]
            perm = next((list(a.ints) for a in tr.attribute if a.name == "perm"), None)
            if perm != _NCHW_TO_NHWC:
                continue
            mid = model.make_new_valueinfo_name()
            n, c, h, w = model.get_tensor_shape(node.input[0])
            graph.value_info.append(oh.make_tensor_value_info(mid, TensorProto.FLOAT,
                                                              [n, h, w, c]))
            old = node.output[0]
            tr.input[0], node.input[0], node.output[0] = node.input[0], mid, tr.output[0]
            tr.output[0] = mid
            model.graph.value_info.remove(model.get_tensor_valueinfo(old))
            getCustomOp(node).set_nodeattr("data_layout", "NHWC")
            graph.node.remove(tr)
            graph.node.insert(idx, tr)
            model.set_tensor_datatype(mid, model.get_tensor_datatype(tr.input[0]))
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


class InferThermometerEncoder(Transformation):
    """An NHWC `Thermometer` -> the `ThermometerEncoder` HW layer (PE 1)."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for idx, node in enumerate(graph.node):
            if not _is_thermometer(node):
                continue
            op = getCustomOp(node)
            if op.get_nodeattr("data_layout") != "NHWC":
                continue
            shape = model.get_tensor_shape(node.input[0])
            hw = oh.make_node(
                "ThermometerEncoder", list(node.input), list(node.output), domain=DOMAIN,
                backend="fpgadataflow", name=node.name, NumChannels=int(shape[-1]), PE=1,
                resolution=op.get_nodeattr("resolution"),
                inputDataType=model.get_tensor_datatype(node.input[0]).name,
                outputDataType=op.get_nodeattr("out_dtype"),
                numInputVectors=[int(d) for d in shape[:-1]])  # fmt: skip
            graph.node.remove(node)
            graph.node.insert(idx, hw)
            return model, True
        return model, False
