"""onebit's ops for exact zero padding of bipolar conv inputs (see `onebit.flows.zero_pad`).

The ONNX domain of these nodes is this module's name, so qonnx finds them when it executes a
graph. Both execute through `zero_pad.apply_correction`, the one definition of the correction.

- `PadCorrection`: y = x + corr[class(h, w), c] (data_layout NCHW or NHWC), between a -1-padded
  conv and its thresholds in the finn and streamline graphs.
- `MVAU` (`PaddedMVAU`): FINN's MVAU whose accumulator gets the correction before the
  thresholds; the golden HW layer of such a conv. FINN's code generation never sees it: the fold
  step turns it back into FINN's MVAU with the correction as attributes for `hw/mvau.py`.
"""

from __future__ import annotations

import numpy as np
from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU as FinnMVAU
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp
from qonnx.custom_op.general.multithreshold import multithreshold

from onebit.flows.zero_pad import apply_correction

_PAD_ATTR_TYPES = {
    "pad_rows": ("ints", True, []),
    "pad_cols": ("ints", True, []),
    "pad_correction": ("floats", True, []),
}


def _correction(op: CustomOp) -> tuple[list[int], list[int], np.ndarray]:
    rows, cols = op.get_nodeattr("pad_rows"), op.get_nodeattr("pad_cols")
    corr = np.asarray(op.get_nodeattr("pad_correction"), dtype=np.float64)
    return rows, cols, corr.reshape((max(rows) + 1) * (max(cols) + 1), -1)


class PadCorrection(CustomOp):
    """x + corr[class(h, w), c]: what zero padding adds to a -1-padded conv's output."""

    def get_nodeattr_types(self):
        return {**_PAD_ATTR_TYPES, "data_layout": ("s", True, "", {"NCHW", "NHWC"})}

    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node("Identity", [node.input[0]], [node.output[0]])

    def infer_node_datatype(self, model):
        # integer plus integer corrections (in the conv's own units) is an integer, which a
        # max-pool may pass (flows/pool_threshold.py); half-integer corrections (after the
        # XNOR's Mul 2) are not: thresholds on this tensor must not be rounded as if it were
        corr = _correction(self)[2]
        integral = (model.get_tensor_datatype(self.onnx_node.input[0]).is_integer()
                    and bool(np.all(corr == np.round(corr))))
        model.set_tensor_datatype(self.onnx_node.output[0],
                                  DataType["INT32" if integral else "FLOAT32"])

    def execute_node(self, context, graph):
        node = self.onnx_node
        rows, cols, corr = _correction(self)
        x = context[node.input[0]]
        context[node.output[0]] = apply_correction(
            x, rows, cols, corr, self.get_nodeattr("data_layout") == "NHWC")

    def verify_node(self):
        return []


class PaddedMVAU(FinnMVAU):
    """FINN's MVAU (thresholds, NHWC vectors [1, H, W]) whose accumulator is corrected for the
    zero padding of its conv before the thresholds."""

    def get_nodeattr_types(self):
        return {**super().get_nodeattr_types(), **_PAD_ATTR_TYPES}

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]].reshape(self.get_normal_input_shape())
        w = context[node.input[1]]
        if self.get_nodeattr("binaryXnorMode"):
            from qonnx.custom_op.general.xnorpopcount import xnorpopcountmatmul

            acc = xnorpopcountmatmul(x, w)
        elif (self.get_nodeattr("inputDataType") == "BIPOLAR"
              and self.get_nodeattr("weightDataType") == "BIPOLAR"):
            from qonnx.custom_op.general.xnorpopcount import xnorpopcountmatmul

            acc = xnorpopcountmatmul((x + 1) / 2, (w + 1) / 2)
        else:
            acc = np.matmul(x, w)
        rows, cols, corr = _correction(self)
        acc = apply_correction(np.asarray(acc, dtype=np.float64), rows, cols, corr, True)
        context[node.output[0]] = threshold_output(self, acc, context)


def threshold_output(op: FinnMVAU, acc: np.ndarray, context: dict) -> np.ndarray:
    """An MVAU's output from its accumulator (channels last): its thresholds (input 2; a
    bipolar output is +-1, else counts from ActVal), or the accumulator with noActivation."""
    node = op.onnx_node
    oshape = context[node.output[0]].shape
    if op.get_nodeattr("noActivation"):
        return np.asarray(acc).reshape(oshape).astype(np.float32)
    bipolar = op.get_nodeattr("outputDataType") == "BIPOLAR"
    y = multithreshold(acc, np.asarray(context[node.input[2]], dtype=np.float64),
                       2 if bipolar else 1, -1 if bipolar else op.get_nodeattr("ActVal"),
                       channels_last=True)
    return y.reshape(oshape).astype(np.float32)


custom_op = {"PadCorrection": PadCorrection, "MVAU": PaddedMVAU}
