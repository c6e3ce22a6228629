"""Zero padding of a bipolar (+-1) conv input, computed exactly.

A +-1 stream has no 0: FINN's padding inserts code 0, which is -1. onebit therefore builds a
conv that zero-pads a bipolar map as the -1-padded conv (FMPadding as for `BipolarPad`) plus a
correction. A padded tap contributes w * (-1) instead of 0, so at output position (h, w) and
channel c

    acc_zero[h, w, c] = acc_minus1[h, w, c] + corr[class(h, w), c]

where corr[k, c] is the sum of the weights of channel c over the padded taps of class k. The
padded taps of a position are those of its row (which kernel rows fall outside the image) or of
its column, so the classes are the pairs (row mask, column mask): `pad_classes` numbers the
distinct masks per axis (3 x 3 = 9 classes for a 3x3 kernel with padding 1, whatever the
image size).

Why a correction of the thresholds: the conv is always followed by thresholds (checked in the
finn step), and `acc + corr >= T` is `acc >= T - corr`, so the correction costs one threshold
set per class (NCLS x MH x T words instead of MH x T; 9 x for 3x3/pad 1) and two small class
tables, and nothing in the datapath: the stream stays 1 bit wide and the MVAU stays
XNOR-popcount. A ternary padding path would double the width of every buffer of that layer
(2-bit codes through FMPadding and the sliding window) and turn the XNOR into an adder tree; a
per-position bias would add an adder per PE and hold as many words as the thresholds when
T = 1 (the binary case).

The stages:

- finn (`ZeroPadBipolarConv`): `Conv(pads)` on a BIPOLAR input becomes `Pad(-1)` ->
  `Conv(pads=0)` -> `PadCorrection` (onebit op, adds corr per class and channel). Refused by name
  (UnsupportedOpError) unless thresholds follow the conv. An explicit `Pad(+1)` of a BIPOLAR
  input before a conv is the same with twice the correction (a padded tap holds +1, not -1):
  its value becomes -1 and `PadCorrection` adds 2 corr.
- streamline (`HoistPadCorrection`): the correction moves up past the layout Transpose and the
  XNOR/AND-popcount `Mul 2`, `Add -K` to the MatMul (corr / 2 in popcount units), where FINN
  cannot see it; everything else streamlines as for -1 padding.
- hw_layers (`detach_pad_corrections` / `attach_pad_corrections`): FINN makes the MVAU from
  MatMul + MultiThreshold, then the MVAU becomes onebit's `PaddedMVAU` (execute: FINN's
  accumulator, `apply_correction`, thresholds), the golden. The RTL (`hw/mvau.py`) reads the
  class tables and corrections and stores thresholds T - corr per class.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto
from onnx import helper as oh
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_by_name

from onebit.errors import UnsupportedOpError

DOMAIN = "onebit.flows.zero_pad_ops"
"""ONNX domain of onebit's ops: qonnx imports the module of that name to execute them."""

PAD_ATTRS = ("pad_rows", "pad_cols", "pad_correction")
"""Node attributes that carry a correction: class of each output row and column, and the
(row classes * column classes, channels) correction, row-major, flattened."""

_THROUGH = ("BatchNormalization", "Mul", "Add", "Sub", "Div", "MaxPool")
"""Between a padded conv and its thresholds (a max-pool: `onebit.flows.pool_threshold`)."""


# ---------------------------------------------------------------------------- math


def pad_classes(size: int, kernel: int, stride: int, dilation: int, pad_begin: int,
                out_size: int) -> tuple[list[int], list[tuple[bool, ...]]]:
    """One axis: the class of each output index and, per class, which kernel taps are padding.

    Classes are numbered in order of first occurrence; the interior (no padded tap) is a class
    like any other.
    """
    masks: list[tuple[bool, ...]] = []
    cls = []
    for o in range(out_size):
        mask = tuple(not 0 <= o * stride + k * dilation - pad_begin < size for k in range(kernel))
        if mask not in masks:
            masks.append(mask)
        cls.append(masks.index(mask))
    return cls, masks


def padding_correction(w: np.ndarray, row_masks, col_masks) -> np.ndarray:
    """corr[r, c, o] = sum of w[o, :, ky, kx] over the taps padded in row class r or column
    class c: what zero padding adds to a -1-padded accumulator. Shape (NR * NC, O)."""
    w = np.asarray(w, dtype=np.float64)
    corr = np.zeros((len(row_masks), len(col_masks), w.shape[0]))
    for r, rm in enumerate(row_masks):
        for c, cm in enumerate(col_masks):
            padded = np.logical_or.outer(np.asarray(rm), np.asarray(cm))  # (KH, KW)
            corr[r, c] = (w.sum(axis=1) * padded).sum(axis=(1, 2))
    return corr.reshape(-1, w.shape[0])


def apply_correction(x: np.ndarray, rows, cols, corr: np.ndarray,
                     channels_last: bool) -> np.ndarray:
    """x + corr[class(h, w), channel] on a (N, C, H, W) or (N, H, W, C) tensor."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    ncols = int(cols.max()) + 1
    cls = rows[:, None] * ncols + cols[None, :]  # (H, W)
    per_pos = np.asarray(corr, dtype=np.float64)[cls]  # (H, W, C)
    if not channels_last:
        per_pos = per_pos.transpose(2, 0, 1)
    return (x + per_pos[None]).astype(x.dtype)


def class_thresholds(thr: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Thresholds (C, T) on acc + corr as thresholds (NCLS, C, T) on acc: T - corr."""
    return np.asarray(thr, dtype=np.float64)[None] - np.asarray(corr, dtype=np.float64)[:, :, None]


def node_correction(node) -> tuple[list[int], list[int], np.ndarray] | None:
    """(row classes, column classes, corr (NCLS, C)) of a node carrying PAD_ATTRS, or None."""
    a = [get_by_name(node.attribute, n) for n in PAD_ATTRS]
    if any(x is None for x in a):
        return None
    rows, cols = list(a[0].ints), list(a[1].ints)
    corr = np.asarray(a[2].floats, dtype=np.float64)
    ncls = (max(rows) + 1) * (max(cols) + 1)
    return rows, cols, corr.reshape(ncls, -1)


def set_correction(node, rows, cols, corr: np.ndarray) -> None:
    """Write (or replace) PAD_ATTRS on `node`: row classes, column classes, corr (NCLS, C)."""
    for name in PAD_ATTRS:
        old = get_by_name(node.attribute, name)
        if old is not None:
            node.attribute.remove(old)
    node.attribute.extend([
        oh.make_attribute("pad_rows", [int(v) for v in rows]),
        oh.make_attribute("pad_cols", [int(v) for v in cols]),
        oh.make_attribute("pad_correction", [float(v) for v in np.asarray(corr).reshape(-1)]),
    ])


# ---------------------------------------------------------------------------- finn step


def _attr(node, name, default):
    a = get_by_name(node.attribute, name)
    return default if a is None else list(a.ints)


def _check_thresholded(model: ModelWrapper, conv) -> None:
    """The conv's output must reach a MultiThreshold through constant affine ops only."""
    tensor = conv.output[0]
    while True:
        consumers = model.find_consumers(tensor)
        outputs = {o.name for o in model.graph.output}
        if tensor in outputs or not consumers or len(consumers) != 1:
            break
        nxt = consumers[0]
        if nxt.op_type == "MultiThreshold":
            return
        if nxt.op_type not in _THROUGH or nxt.input[0] != tensor or any(
                model.get_initializer(i) is None for i in nxt.input[1:]):
            break
        tensor = nxt.output[0]
    raise UnsupportedOpError(
        conv.name, "Conv",
        "zero-pads a bipolar (+-1) input (or pads it with +1) but is not followed by thresholds "
        "(only constant BatchNorm/Mul/Add between the conv and its sign/threshold activation): "
        "onebit computes such padding exactly by correcting thresholds; pad with -1 "
        "(BipolarPad) instead",
    )


def _plus_one_pad(model: ModelWrapper, conv) -> tuple[object, list[int]] | None:
    """(Pad node, conv-style pads [top, left, bottom, right]) if `conv` (pads 0) reads a
    spatial `Pad` of a bipolar tensor with +1 that nothing else reads, else None."""
    from onebit.flows.bipolar_pad import pad_spec

    pad = model.find_producer(conv.input[0])
    if pad is None or pad.op_type != "Pad" or len(model.find_consumers(pad.output[0])) != 1:
        return None
    if model.get_tensor_datatype(pad.input[0]) != DataType["BIPOLAR"]:
        return None
    p, value = pad_spec(model, pad)
    if value != 1.0 or len(p) != 8 or p[[0, 1, 4, 5]].any():
        return None
    return pad, [int(v) for v in p[[2, 3, 6, 7]]]


class ZeroPadBipolarConv(Transformation):
    """Conv(pads != 0) on a BIPOLAR input -> Pad(-1) -> Conv(pads=0) -> PadCorrection (exact);
    likewise Pad(+1) -> Conv, with the Pad's value set to -1 and twice the correction."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for idx, node in enumerate(graph.node):
            if node.op_type != "Conv":
                continue
            if model.get_tensor_datatype(node.input[0]) != DataType["BIPOLAR"]:
                continue
            auto = get_by_name(node.attribute, "auto_pad")
            if auto is not None and auto.s.decode() not in ("NOTSET", "VALID"):
                raise UnsupportedOpError(node.name, "Conv", f"auto_pad={auto.s.decode()} on a "
                                         "bipolar input: give explicit pads")
            pads = _attr(node, "pads", [])
            plus_one = None if any(pads) else _plus_one_pad(model, node)
            if not any(pads) and plus_one is None:
                continue
            if len(pads) != 4 and plus_one is None:
                raise UnsupportedOpError(node.name, "Conv", f"pads {pads}: only 2D convs map")
            w = model.get_initializer(node.input[1])
            if w is None:
                raise UnsupportedOpError(node.name, "Conv", "weights are not a constant")
            _check_thresholded(model, node)
            src = node.input[0] if plus_one is None else plus_one[0].input[0]
            n, ci, h, wd = model.get_tensor_shape(src)
            _, co, oh_, ow_ = model.get_tensor_shape(node.output[0])
            kh, kw = w.shape[2:]
            sh, sw = _attr(node, "strides", [1, 1])
            dh, dw = _attr(node, "dilations", [1, 1])
            if plus_one is not None:
                pads = plus_one[1]
            rows, rmasks = pad_classes(h, kh, sh, dh, pads[0], oh_)
            cols, cmasks = pad_classes(wd, kw, sw, dw, pads[1], ow_)
            # a padded tap holds -1 instead of 0 (+1): the correction once (twice)
            corr = padding_correction(w, rmasks, cmasks) * (1 if plus_one is None else 2)
            if plus_one is None:  # Pad(-1) in front of the unpadded conv
                graph.node.insert(idx, _minus_one_pad(model, node, pads))
                idx += 1
                get_by_name(node.attribute, "pads").ints[:] = [0, 0, 0, 0]
            else:  # the +1 Pad pads -1 now
                val_t = model.make_new_valueinfo_name()
                model.set_initializer(val_t, np.asarray(-1.0, dtype=np.float32))
                plus_one[0].input[2] = val_t
            # the correction after it
            acc = model.make_new_valueinfo_name()
            graph.value_info.append(oh.make_tensor_value_info(acc, TensorProto.FLOAT,
                                                              [n, co, oh_, ow_]))
            corr_node = oh.make_node("PadCorrection", [acc], [node.output[0]], domain=DOMAIN,
                                     name=f"{node.name}_zero_pad", data_layout="NCHW")
            set_correction(corr_node, rows, cols, corr)
            node.output[0] = acc
            graph.node.insert(idx + 1, corr_node)
            model = model.transform(InferShapes()).transform(InferDataTypes())
            return model, True
        return model, False


def _minus_one_pad(model: ModelWrapper, conv, pads: list[int]):
    """A Pad(-1) node of `pads` (conv order) producing the conv's new (BIPOLAR) input."""
    n, ci, h, wd = model.get_tensor_shape(conv.input[0])
    padded = model.make_new_valueinfo_name()
    pshape = [n, ci, h + pads[0] + pads[2], wd + pads[1] + pads[3]]
    model.graph.value_info.append(oh.make_tensor_value_info(padded, TensorProto.FLOAT, pshape))
    pads_t, val_t = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
    model.set_initializer(pads_t, np.asarray([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]],
                                             dtype=np.int64))
    model.set_initializer(val_t, np.asarray(-1.0, dtype=np.float32))
    pad = oh.make_node("Pad", [conv.input[0], pads_t, val_t], [padded], mode="constant",
                       name=f"{conv.name}_pad")
    conv.input[0] = padded
    model.set_tensor_datatype(padded, DataType["BIPOLAR"])
    return pad


# ---------------------------------------------------------------------------- streamline


def _scalar(model: ModelWrapper, node) -> float | None:
    """The constant scalar operand (input 1) of a Mul/Add, or None."""
    c = model.get_initializer(node.input[1]) if len(node.input) == 2 else None
    if c is None or np.asarray(c).size != 1:
        return None
    return float(np.asarray(c).reshape(-1)[0])


class HoistPadCorrection(Transformation):
    """Transpose/Mul(scalar)/Add(const) -> PadCorrection becomes PadCorrection -> the same.

    Past a scalar `Mul a` the correction becomes corr / a (exact for the XNOR/AND-popcount
    `Mul 2`, checked), past an `Add` of any constant it is unchanged, past a Transpose it changes
    layout. It ends on the MatMul, in accumulator units.
    """

    def apply(self, model: ModelWrapper):
        for node in model.graph.node:
            if node.op_type != "PadCorrection" or node.domain != DOMAIN:
                continue
            prod = model.find_producer(node.input[0])
            if prod is None or len(model.find_consumers(prod.output[0])) != 1:
                continue
            layout = get_by_name(node.attribute, "data_layout").s.decode()
            rows, cols, corr = node_correction(node)
            if prod.op_type == "Transpose":
                perm = list(get_by_name(prod.attribute, "perm").ints)
                if perm == [0, 3, 1, 2] and layout == "NCHW":
                    new_layout = "NHWC"
                elif perm == [0, 2, 3, 1] and layout == "NHWC":
                    new_layout = "NCHW"
                else:
                    continue
                get_by_name(node.attribute, "data_layout").s = new_layout.encode()
            elif prod.op_type == "Add":  # any constant: additions commute
                if (len(prod.input) != 2 or model.get_initializer(prod.input[1]) is None
                        or model.get_tensor_shape(prod.input[0])
                        != model.get_tensor_shape(prod.output[0])):
                    continue
            elif prod.op_type == "Mul":
                k = _scalar(model, prod)
                if k is None or k == 0 or np.any((corr / k) * k != corr):
                    continue
                set_correction(node, rows, cols, corr / k)
            else:
                continue
            return _swap(model, prod, node), True
        return model, False


def _swap(model: ModelWrapper, first, second) -> ModelWrapper:
    """x -> first -> t -> second -> y  becomes  x -> second -> t -> first -> y (data inputs 0)."""
    x, t, y = first.input[0], first.output[0], second.output[0]
    second.input[0], second.output[0] = x, t
    first.input[0], first.output[0] = t, y
    model.graph.value_info.remove(model.get_tensor_valueinfo(t))
    model.graph.node.remove(second)
    model.graph.node.insert(list(model.graph.node).index(first), second)
    return model.transform(InferShapes()).transform(InferDataTypes())


def channel_signs(model: ModelWrapper, node, channels: int, layout: str) -> np.ndarray | None:
    """The +-1 per-channel (or scalar) constant of a Mul, as a (channels,) vector, or None."""
    c = model.get_initializer(node.input[1]) if len(node.input) == 2 else None
    if c is None or not set(np.unique(c).tolist()) <= {-1.0, 1.0}:
        return None
    c = np.asarray(c, dtype=np.float64)
    if c.size == 1:
        return np.full(channels, float(c.reshape(-1)[0]))
    want = [channels, 1, 1] if layout == "NCHW" else [channels]
    dims = list(c.shape)
    while len(dims) > len(want) and dims[0] == 1:
        dims.pop(0)
    if dims != want:
        return None
    return c.reshape(-1)


class SinkPadCorrectionPastSignMul(Transformation):
    """PadCorrection -> Mul(+-1 per channel) becomes Mul -> PadCorrection(corr * sign).

    The sign of a negative BatchNorm scale stays as such a Mul after streamlining; once it
    follows the conv directly, FINN absorbs it into the +-1 weights (Absorb1BitMulIntoConv).
    """

    def apply(self, model: ModelWrapper):
        for node in model.graph.node:
            if node.op_type != "PadCorrection" or node.domain != DOMAIN:
                continue
            cons = model.find_consumers(node.output[0])
            if not cons or len(cons) != 1 or cons[0].op_type != "Mul":
                continue
            mul = cons[0]
            if mul.input[0] != node.output[0]:
                continue
            layout = get_by_name(node.attribute, "data_layout").s.decode()
            rows, cols, corr = node_correction(node)
            sign = channel_signs(model, mul, corr.shape[1], layout)
            if sign is None:
                continue
            set_correction(node, rows, cols, corr * sign[None, :])
            return _swap(model, node, mul), True
        return model, False


# ---------------------------------------------------------------------------- hw_layers


def detach_pad_corrections(model: ModelWrapper) -> tuple[ModelWrapper, dict]:
    """Remove every MatMul -> PadCorrection -> MultiThreshold correction so that FINN can make
    the MVAU; returns {MultiThreshold output: (rows, cols, corr, name)} for the attach."""
    stash = {}
    for node in list(model.graph.node):
        if node.op_type != "PadCorrection" or node.domain != DOMAIN:
            continue
        prod = model.find_producer(node.input[0])
        cons = model.find_consumers(node.output[0])
        layout = get_by_name(node.attribute, "data_layout").s.decode()
        if (prod is None or prod.op_type not in ("MatMul", "XnorPopcountMatMul")
                or not cons or len(cons) != 1 or cons[0].op_type != "MultiThreshold"
                or layout != "NHWC"):
            raise UnsupportedOpError(
                node.name, "PadCorrection",
                "the zero-padding correction did not end between the conv's MatMul and its "
                f"thresholds (after {prod.op_type if prod else 'the input'}, layout {layout})")
        rows, cols, corr = node_correction(node)
        stash[cons[0].output[0]] = (rows, cols, corr, node.name)
        cons[0].input[0] = node.input[0]
        model.graph.value_info.remove(model.get_tensor_valueinfo(node.output[0]))
        model.graph.node.remove(node)
    return model, stash


def attach_pad_corrections(model: ModelWrapper, stash: dict) -> ModelWrapper:
    """The MVAU FINN made of each detached MatMul + MultiThreshold becomes a `PaddedMVAU`."""
    from qonnx.custom_op.registry import getCustomOp

    for out, (rows, cols, corr, name) in stash.items():
        node = model.find_producer(out)
        if node is None or node.op_type != "MVAU" or getCustomOp(node).get_nodeattr(
                "noActivation"):
            raise UnsupportedOpError(
                name, "PadCorrection",
                "FINN did not merge the zero-padded conv and its thresholds into one MVAU "
                f"(got {node.op_type if node is not None else 'nothing'})")
        inst = getCustomOp(node)
        nv = list(inst.get_nodeattr("numInputVectors"))
        if nv[-2:] != [len(rows), len(cols)] or corr.shape[1] != inst.get_nodeattr("MH"):
            raise UnsupportedOpError(
                node.name, node.op_type,
                f"zero-padding correction for {len(rows)}x{len(cols)} positions and "
                f"{corr.shape[1]} channels, MVAU has vectors {nv} and MH={inst.get_nodeattr('MH')}")
        node.domain = DOMAIN
        set_correction(node, rows, cols, corr)
    return model

