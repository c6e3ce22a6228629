"""FracBNN's graph ops and HW layers (the ONNX domain is this module's name, so qonnx finds
them when it executes a graph). Two module-level functions are the golden model of every one:
`thermometer` and `pg_accumulate`.

Graph ops (QONNX, finn and streamline graphs):

- `Thermometer`: pixels -> C * L thermometer bits per position (channel c * L + k is bit k of
  channel c: p >= t_k, `onebit.models.thermometer`); +-1 (`out_dtype` BIPOLAR) or their {0,1}
  codes (BINARY, after the XNOR conversion); channels on axis 1 (NCHW) or last (NHWC).
- `PGConv` (x, W, thr): the precision-gated conv of `onebit.models.precision_gate` on 2-bit
  codes (W in torch's (O, I, kh, kw) layout, +-1; thr per output channel in the paper's units);
  stride 1, code-0 padding `pads`. `PGGemm` (x, W (O, I), thr): its fully connected form.
- `PGMatMul` (x, W, gate): the lowered form of both, on the last axis (W (K, O), +-1); `gate`
  holds integer thresholds on the MSB accumulator (the full result where acc_m >= gate).

HW layers (the dataflow golden; FINN's HWCustomOp interface, backend "fpgadataflow"):

- `ThermometerEncoder`: a `Thermometer` on an NHWC pixel stream (`NumChannels` C, `PE`).
- `MVAU` (`GatedMVAU`): FINN's MVAU whose accumulator is `pg_accumulate` of the code stream
  (`inputDataType` UINT2) with `gate_thresholds` per output channel, then the thresholds.
"""

from __future__ import annotations

import numpy as np
from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU as FinnMVAU
from numpy.lib.stride_tricks import sliding_window_view
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from onebit.flows.zero_pad_ops import threshold_output
from onebit.models.thermometer import thermometer_levels, thermometer_thresholds

# ---------------------------------------------------------------------------- the math


def thermometer(x: np.ndarray, resolution: int, axis: int = 1, binary: bool = False) -> np.ndarray:
    """Channel c of `x` (pixels 0..255) -> channels c*L .. c*L+L-1, bit k = [p >= t_k], as
    +-1 or (binary) {0, 1}."""
    t = np.asarray(thermometer_thresholds(resolution), dtype=np.float64)
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    on = x[..., None] >= t
    bits = on.reshape(*x.shape[:-1], -1).astype(np.float32)
    return np.moveaxis(bits if binary else 2.0 * bits - 1.0, -1, axis)


def gate_thresholds(thr: np.ndarray) -> np.ndarray:
    """Integer T with (acc_m >= T) == (2 acc_m > 3 thr) for every integer acc_m, the compare
    torch makes in float32 (3 * thr rounded as torch rounds it)."""
    v = np.float32(3.0) * np.asarray(thr, dtype=np.float32)
    return np.floor(v.astype(np.float64) / 2.0) + 1.0


def pg_accumulate(codes: np.ndarray, w: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """Precision-gated accumulator in thirds over the last axis of 2-bit `codes` (0..3):
    acc_m = msb . w, acc_l = lsb . w (msb, lsb the +-1 bit planes of a = 2 q - 3),
    2 acc_m + acc_l where acc_m >= gate, else 2 acc_m."""
    q = np.asarray(codes, dtype=np.float64)
    hi = q >= 2
    msb = np.where(hi, 1.0, -1.0)
    lsb = np.where(q - 2.0 * hi == 1.0, 1.0, -1.0)
    w = np.asarray(w, dtype=np.float64)
    acc_m, acc_l = msb @ w, lsb @ w
    return 2.0 * acc_m + np.where(acc_m >= np.asarray(gate, dtype=np.float64), acc_l, 0.0)


def conv_patches(codes: np.ndarray, kernel: int, pads: list[int]) -> np.ndarray:
    """(N, C, H, W) codes padded with code 0 -> (N, OH, OW, C * k * k) windows (stride 1), in
    the order of torch's (O, C, k, k) weights flattened."""
    top, left, bottom, right = pads
    x = np.pad(codes, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=0.0)
    win = sliding_window_view(x, (kernel, kernel), axis=(2, 3))  # N, C, OH, OW, k, k
    n, c, oh, ow = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n, oh, ow, c * kernel * kernel)


# ---------------------------------------------------------------------------- graph ops


class Thermometer(CustomOp):
    """Thermometer bits of 8-bit pixels (see the module docstring)."""

    def get_nodeattr_types(self):
        return {"resolution": ("i", True, 8),
                "out_dtype": ("s", False, "BIPOLAR", {"BIPOLAR", "BINARY"}),
                "data_layout": ("s", False, "NCHW", {"NCHW", "NHWC"})}  # fmt: skip

    def _axis(self) -> int:
        return 1 if self.get_nodeattr("data_layout") == "NCHW" else -1

    def make_shape_compatible_op(self, model):
        shape = list(model.get_tensor_shape(self.onnx_node.input[0]))
        shape[self._axis()] *= thermometer_levels(self.get_nodeattr("resolution"))
        return super().make_const_shape_op(shape)

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0],
                                  DataType[self.get_nodeattr("out_dtype")])

    def execute_node(self, context, graph):
        node = self.onnx_node
        context[node.output[0]] = thermometer(
            context[node.input[0]], self.get_nodeattr("resolution"), self._axis(),
            self.get_nodeattr("out_dtype") == "BINARY")

    def verify_node(self):
        return []


class _PGOp(CustomOp):
    """Shared datatype inference of the PG graph ops: integer accumulators (in thirds)."""

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["INT32"])

    def verify_node(self):
        return []


class PGConv(_PGOp):
    """Precision-gated conv on NCHW 2-bit codes (stride 1, code-0 padding)."""

    def get_nodeattr_types(self):
        return {"kernel_shape": ("ints", True, []), "pads": ("ints", False, [0, 0, 0, 0])}

    def make_shape_compatible_op(self, model):
        n, _, h, w = model.get_tensor_shape(self.onnx_node.input[0])
        o = model.get_tensor_shape(self.onnx_node.input[1])[0]
        k = self.get_nodeattr("kernel_shape")[0]
        top, left, bottom, right = self.get_nodeattr("pads")
        return super().make_const_shape_op([n, o, h + top + bottom - k + 1,
                                            w + left + right - k + 1])  # fmt: skip

    def execute_node(self, context, graph):
        node = self.onnx_node
        w = np.asarray(context[node.input[1]], dtype=np.float64)
        x = conv_patches(context[node.input[0]], self.get_nodeattr("kernel_shape")[0],
                         self.get_nodeattr("pads"))  # fmt: skip
        acc = pg_accumulate(x, w.reshape(w.shape[0], -1).T, gate_thresholds(context[node.input[2]]))
        context[node.output[0]] = acc.transpose(0, 3, 1, 2).astype(np.float32)


class PGGemm(_PGOp):
    """Precision-gated fully connected layer: (N, I) codes, W (O, I)."""

    def get_nodeattr_types(self):
        return {}

    def make_shape_compatible_op(self, model):
        n = model.get_tensor_shape(self.onnx_node.input[0])[0]
        return super().make_const_shape_op([n, model.get_tensor_shape(self.onnx_node.input[1])[0]])

    def execute_node(self, context, graph):
        node = self.onnx_node
        w = np.asarray(context[node.input[1]], dtype=np.float64)
        acc = pg_accumulate(context[node.input[0]], w.T, gate_thresholds(context[node.input[2]]))
        context[node.output[0]] = acc.astype(np.float32)


class PGMatMul(_PGOp):
    """The lowered PG layer: codes (..., K) x W (K, O) with integer gate thresholds (O,)."""

    def get_nodeattr_types(self):
        return {}

    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node("MatMul", [node.input[0], node.input[1]], [node.output[0]])

    def execute_node(self, context, graph):
        node = self.onnx_node
        acc = pg_accumulate(context[node.input[0]], context[node.input[1]], context[node.input[2]])
        context[node.output[0]] = acc.astype(np.float32)


# ---------------------------------------------------------------------------- HW layers


class ThermometerEncoder(HWCustomOp):
    """HW thermometer on an NHWC stream: C pixels in, C * L bits ({0,1} codes) out; PE
    channels per cycle."""

    def get_nodeattr_types(self):
        return {**super().get_nodeattr_types(),
                "NumChannels": ("i", True, 0), "PE": ("i", True, 1),
                "resolution": ("i", True, 8),
                "inputDataType": ("s", True, "UINT8"),
                "outputDataType": ("s", True, "BINARY"),
                "numInputVectors": ("ints", False, [1])}  # fmt: skip

    def _levels(self) -> int:
        return thermometer_levels(self.get_nodeattr("resolution"))

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind=0):
        return DataType[self.get_nodeattr("outputDataType")]

    def get_normal_input_shape(self, ind=0):
        return (*self.get_nodeattr("numInputVectors"), self.get_nodeattr("NumChannels"))

    def get_normal_output_shape(self, ind=0):
        return (*self.get_nodeattr("numInputVectors"),
                self.get_nodeattr("NumChannels") * self._levels())  # fmt: skip

    def _fold(self) -> int:
        return self.get_nodeattr("NumChannels") // self.get_nodeattr("PE")

    def get_folded_input_shape(self, ind=0):
        return (*self.get_nodeattr("numInputVectors"), self._fold(), self.get_nodeattr("PE"))

    def get_folded_output_shape(self, ind=0):
        return (*self.get_nodeattr("numInputVectors"), self._fold(),
                self.get_nodeattr("PE") * self._levels())  # fmt: skip

    def get_instream_width(self, ind=0):
        return self.get_input_datatype().bitwidth() * self.get_nodeattr("PE")

    def get_outstream_width(self, ind=0):
        return self.get_output_datatype().bitwidth() * self.get_nodeattr("PE") * self._levels()

    def get_number_output_values(self):
        return int(np.prod(self.get_folded_output_shape()[:-1]))

    def get_exp_cycles(self):
        return int(np.prod(self.get_folded_input_shape()[:-1]))

    def make_shape_compatible_op(self, model):
        return super().make_const_shape_op([1, *self.get_normal_output_shape()])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], self.get_output_datatype())

    def execute_node(self, context, graph):
        node = self.onnx_node
        bits = thermometer(context[node.input[0]], self.get_nodeattr("resolution"), -1,
                           self.get_output_datatype() == DataType["BINARY"])  # fmt: skip
        context[node.output[0]] = bits.reshape(context[node.output[0]].shape)

    def verify_node(self):
        return []


class GatedMVAU(FinnMVAU):
    """FINN's MVAU computing `pg_accumulate` of its 2-bit code input (weights +-1) with
    `gate_thresholds` per output channel, then its thresholds (or none: the accumulator)."""

    def get_nodeattr_types(self):
        return {**super().get_nodeattr_types(), "gate_thresholds": ("ints", True, [])}

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]].reshape(self.get_normal_input_shape())
        acc = pg_accumulate(x, context[node.input[1]], self.get_nodeattr("gate_thresholds"))
        context[node.output[0]] = threshold_output(self, acc, context)

    def minimize_accumulator_width(self, model, datatype_only=False):
        """The accumulator spans +-3 sum|w| per column (a = 2 q - 3 in -3..3), not FINN's
        range of a 0..3 input; typed so, thresholds left as they are."""
        w = np.abs(np.asarray(model.get_initializer(self.onnx_node.input[1])))
        bound = int(3 * w.sum(axis=0).max())
        bits = max(bound, 1).bit_length() + 1
        if self.get_nodeattr("noActivation"):
            if model.find_direct_successors(self.onnx_node) is None:
                bits = -(-bits // 8) * 8
            self.set_nodeattr("outputDataType", f"INT{bits}")
            model.set_tensor_datatype(self.onnx_node.output[0], DataType[f"INT{bits}"])
        self.set_nodeattr("accDataType", f"INT{bits}")
        return DataType[f"INT{bits}"]


custom_op = {"Thermometer": Thermometer, "PGConv": PGConv, "PGGemm": PGGemm,
             "PGMatMul": PGMatMul, "ThermometerEncoder": ThermometerEncoder,
             "MVAU": GatedMVAU}  # fmt: skip
