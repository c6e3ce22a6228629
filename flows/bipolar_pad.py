"""Padding of bipolar (+-1) conv inputs.

FINN computes a convolution that zero-pads a bipolar input wrongly after streamlining (the
+-1 -> {0,1} rescaling is moved past the padding). onebit's models therefore pad explicitly with
-1 (an ONNX `Pad` before a conv with `pads=0`); a conv that zero-pads (`Conv(pads)`) becomes such
a -1 padding plus an exact correction (`onebit.flows.zero_pad`). After lowering and the XNOR
conversion the padded tensor is BINARY ({0,1} codes of +-1), and the pad value -1 is code 0:
exactly what FINN's FMPadding inserts. `AbsorbBipolarPadIntoIm2Col` moves such a `Pad` into the
`Im2Col` that consumes it (a +1 `Pad` before a conv has become a -1 one with a correction,
`onebit.flows.zero_pad`). `check_no_bipolar_zero_padding` refuses an explicit `Pad` of a
bipolar tensor with any other value, naming the layer, instead of building a wrong accelerator.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes

from onebit.errors import UnsupportedOpError

_NCHW_TO_NHWC = [0, 2, 3, 1]


def pad_spec(model: ModelWrapper, node) -> tuple[np.ndarray, float]:
    """Pads (ONNX order) and constant value of a Pad node, from inputs (opset >= 11)."""
    mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
    if mode != "constant":
        raise UnsupportedOpError(node.name, "Pad", f"mode '{mode}' (only constant padding maps)")
    pads = model.get_initializer(node.input[1])
    if pads is None:
        raise UnsupportedOpError(node.name, "Pad", "pads must be a constant")
    value = 0.0
    if len(node.input) > 2 and node.input[2]:
        v = model.get_initializer(node.input[2])
        if v is None:
            raise UnsupportedOpError(node.name, "Pad", "pad value must be a constant")
        value = float(np.asarray(v).reshape(-1)[0])
    return np.asarray(pads, dtype=np.int64).reshape(-1), value


def check_no_bipolar_zero_padding(model: ModelWrapper) -> None:
    """Raise if a Pad pads a BIPOLAR tensor with anything but +-1 (a conv that zero-pads one
    has been rewritten by `ZeroPadBipolarConv` before this check)."""
    for node in model.graph.node:
        dt = model.get_tensor_datatype(node.input[0])
        if dt != DataType["BIPOLAR"]:
            continue
        if node.op_type == "Conv" and any(
                next((list(a.ints) for a in node.attribute if a.name == "pads"), [])):
            raise UnsupportedOpError(node.name, "Conv", "zero padding of a bipolar input left "
                                     "uncorrected (internal: ZeroPadBipolarConv did not run)")
        if node.op_type == "Pad":
            _, value = pad_spec(model, node)
            if value not in (-1.0, 1.0):
                raise UnsupportedOpError(
                    node.name, "Pad", f"pads a bipolar (+-1) input with {value}, not with +-1"
                )


class AbsorbBipolarPadIntoIm2Col(Transformation):
    """Pad(+-1) -> Transpose(NCHW->NHWC) -> Im2Col on a BINARY tensor becomes a padding Im2Col."""

    def apply(self, model: ModelWrapper):
        for node in model.graph.node:
            if node.op_type != "Pad":
                continue
            dt = model.get_tensor_datatype(node.input[0])
            if dt not in (DataType["BINARY"], DataType["BIPOLAR"]):
                continue
            tr = model.find_direct_successors(node)
            if not tr or len(tr) != 1 or tr[0].op_type != "Transpose":
                continue
            tr = tr[0]
            perm = next((list(a.ints) for a in tr.attribute if a.name == "perm"), None)
            i2c = model.find_direct_successors(tr)
            if perm != _NCHW_TO_NHWC or not i2c or len(i2c) != 1 or i2c[0].op_type != "Im2Col":
                continue
            i2c = i2c[0]
            if dt == DataType["BIPOLAR"]:
                raise UnsupportedOpError(
                    node.name, "Pad",
                    "pads a bipolar map that feeds a non-XNOR conv (e.g. {0,1} weights): FINN's "
                    "FMPadding can only insert -1 into XNOR (BINARY-coded) maps; use padding 0 "
                    "convs there",
                )
            pads, value = pad_spec(model, node)
            if value not in (-1.0, 1.0):
                raise UnsupportedOpError(node.name, "Pad", f"bipolar pad value {value}")
            if value == 1.0:
                raise UnsupportedOpError(
                    node.name,
                    "Pad",
                    "pad value +1 on a bipolar input: FINN's FMPadding only inserts -1 "
                    "(code 0); use pad value -1",
                )
            if len(pads) != 8 or pads[[0, 1, 4, 5]].any():
                raise UnsupportedOpError(node.name, "Pad", "only spatial (H, W) padding maps")
            inst = getCustomOp(i2c)
            if any(inst.get_nodeattr("pad_amount")):
                continue
            h_b, w_b, h_e, w_e = (int(p) for p in pads[[2, 3, 6, 7]])
            inst.set_nodeattr("pad_amount", [h_b, w_b, h_e, w_e])
            inst.set_nodeattr("pad_value", 0)
            n, c, h, w = model.get_tensor_shape(node.input[0])
            inst.set_nodeattr("input_shape", str((n, h, w, c)).replace(" ", ""))
            tr.input[0] = node.input[0]
            model.graph.value_info.remove(model.get_tensor_valueinfo(tr.output[0]))
            model.graph.node.remove(node)
            return model.transform(InferShapes()), True
        return model, False
