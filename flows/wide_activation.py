"""A wide activation split off its MVAU into a thresholding layer of its own.

FINN's MVAU applies its activation by comparing each accumulator with all of its thresholds at
once: one comparator a threshold and PE lane, then a tree counting the hits. For an activation
of 5 bits or more that is 31 to 255 comparators a lane, most of such a layer's LUTs and of its
simulation's work (every comparator evaluated every cycle). Here such an MVAU computes its
accumulator alone (`noActivation`) and a standalone `Thresholding` layer applies the same
thresholds to it, as FINN's own flow does for a MultiThreshold it does not absorb; onebit builds
that layer as a pipelined binary search over the sorted thresholds (`hw/thresholding.py`: 8
compares a lane for 255 thresholds, block RAM when deep). The function is the same: FINN's
Thresholding executes the MVAU's thresholds and output offset on the MVAU's accumulator.

Runs on the dataflow graph after `MinimizeAccumulatorWidth` (the accumulator's datatype is the
new stream's), before the nodes are named (the new layer is numbered among the thresholding
layers, as a folding file names them). onebit's own MVAUs (zero-padded convs'
position-dependent thresholds, FracBNN's gated layers) keep their activation.
"""

from __future__ import annotations

from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from onebit.flows.hw_layers import HW_DOMAIN

MAX_PARALLEL_THRESHOLDS = 15
"""Thresholds an MVAU still compares at once (a 4-bit activation); more are split off."""


def wide(model: ModelWrapper, node) -> bool:
    """Whether `node` is a FINN MVAU whose activation has more than `MAX_PARALLEL_THRESHOLDS`
    thresholds."""
    if node.op_type != "MVAU" or node.domain != HW_DOMAIN or len(node.input) < 3:
        return False
    if getCustomOp(node).get_nodeattr("noActivation"):
        return False
    thr = model.get_initializer(node.input[2])
    return thr is not None and thr.shape[-1] > MAX_PARALLEL_THRESHOLDS


class SplitWideActivations(Transformation):
    """MVAU(thresholds T, ActVal a) -> MVAU(noActivation) -> Thresholding(T, ActVal a)."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for node in list(graph.node):
            if not wide(model, node):
                continue
            mvau = getCustomOp(node)
            out = node.output[0]
            acc = model.make_new_valueinfo_name()
            acc_dt = DataType[mvau.get_nodeattr("accDataType")]
            shape = model.get_tensor_shape(out)
            graph.value_info.append(helper.make_tensor_value_info(acc, TensorProto.FLOAT, shape))
            model.set_tensor_datatype(acc, acc_dt)
            layout = model.get_tensor_layout(out)
            if layout is not None:
                model.set_tensor_layout(acc, layout)
            thr_name = node.input[2]
            thr = model.get_initializer(thr_name)
            act = helper.make_node(
                "Thresholding", [acc, thr_name], [out],
                domain=HW_DOMAIN, backend="fpgadataflow",
                name=f"Thresholding_{node.name}",
                NumChannels=int(mvau.get_nodeattr("MH")), PE=1, numSteps=int(thr.shape[-1]),
                inputDataType=acc_dt.name,
                weightDataType=model.get_tensor_datatype(thr_name).name,
                outputDataType=mvau.get_nodeattr("outputDataType"),
                numInputVectors=list(mvau.get_nodeattr("numInputVectors")),
                ActVal=int(mvau.get_nodeattr("ActVal")),
            )
            del node.input[2]
            node.output[0] = acc
            mvau.set_nodeattr("noActivation", 1)
            mvau.set_nodeattr("ActVal", 0)
            mvau.set_nodeattr("outputDataType", acc_dt.name)
            graph.node.insert(list(graph.node).index(node) + 1, act)
        return model, False

