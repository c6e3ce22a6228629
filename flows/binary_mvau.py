"""XNOR-popcount MatMul + MultiThreshold -> FINN MVAU, with the threshold's own output offset.

FINN's `InferBinaryMatrixVectorActivation` sets a multi-bit output's ActVal to the output
datatype's minimum; a 2-bit {-1, 0, +1} activation (INT2, out_bias = -1) after an XNOR layer
then starts at -2. This pass runs FINN's conversion and sets ActVal to the absorbed
threshold's out_bias, refusing by name a scale FINN's MVAU cannot apply.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from onebit.errors import UnsupportedOpError


class InferBinaryMVAU(Transformation):
    """XnorPopcountMatMul -> MultiThreshold becomes MVAU(binaryXnorMode=1, ActVal=out_bias)."""

    def apply(self, model: ModelWrapper):
        from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (  # noqa: E501
            InferBinaryMatrixVectorActivation,
        )

        offsets = {}
        for node in model.get_nodes_by_op_type("XnorPopcountMatMul"):
            consumers = model.find_consumers(node.output[0])
            if len(consumers) != 1 or consumers[0].op_type != "MultiThreshold":
                continue
            mt = consumers[0]
            if model.get_tensor_datatype(mt.output[0]).bitwidth() == 1:
                continue  # BINARY / BIPOLAR: FINN's ActVal 0 is right
            op = getCustomOp(mt)
            scale, bias = float(op.get_nodeattr("out_scale")), float(op.get_nodeattr("out_bias"))
            if scale != 1.0 or bias != int(bias):
                raise UnsupportedOpError(mt.name, "MultiThreshold",
                                         f"out_scale={scale:g}, out_bias={bias:g} after an XNOR "
                                         "layer: FINN's MVAU needs scale 1 and an integer bias")
            offsets[mt.output[0]] = int(bias)
        model = model.transform(InferBinaryMatrixVectorActivation())
        for node in model.graph.node:
            if node.op_type == "MVAU" and node.output[0] in offsets:
                getCustomOp(node).set_nodeattr("ActVal", offsets[node.output[0]])
        return model, False


class PopcountAccumulator(Transformation):
    """An XNOR MVAU without activation outputs a popcount, [0, MW]: type it so.

    FINN's `MinimizeAccumulatorWidth` sizes it from the bipolar weights' dot product with the
    BINARY input, which is not the popcount's range ([-57, 63] -> INT7 for a 64-wide layer
    whose count reaches 64). A last layer is rounded to 8 bits and gets away with it; one that
    feeds a LabelSelect (`--top-k`) does not. Run after `MinimizeAccumulatorWidth`; the output
    is in whole bytes when it ends the graph, as FINN does. (Layers with thresholds output
    their activation; onebit_mvau sizes their counters itself.)
    """

    def apply(self, model: ModelWrapper):
        from qonnx.core.datatype import DataType

        for node in model.get_nodes_by_op_type("MVAU"):
            op = getCustomOp(node)
            if not (op.get_nodeattr("binaryXnorMode") and op.get_nodeattr("noActivation")):
                continue
            mw = int(op.get_nodeattr("MW"))
            odt = DataType[op.get_nodeattr("outputDataType")]
            if odt.allowed(0) and odt.allowed(mw):
                continue
            bits = max(1, mw.bit_length())
            last = model.find_direct_successors(node) is None
            out = DataType[f"UINT{-(-bits // 8) * 8 if last else bits}"]
            op.set_nodeattr("outputDataType", out.name)
            op.set_nodeattr("accDataType", out.name)
            model.set_tensor_datatype(node.output[0], out)
        return model, False
