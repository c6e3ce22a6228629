"""A conv from one channel to one channel is a dense conv, not a depthwise one.

qonnx's `LowerConvsToMatMul` takes any conv with group == in channels == out channels for
depthwise: it marks the Im2Col `depthwise=1` and the weights with a "dw" sparsity annotation.
With one channel in and out (group 1) that holds, yet FINN's `InferQuantizedMatrixVectorActivation`
skips a MatMul so annotated and only a vector-vector unit (VVAU, no onebit RTL) would take it,
so the layer stayed in software. Its (K*K, 1) weight matrix has no structural zeros: dropping
the annotation and the flag changes nothing that is computed, and the layer becomes an MVAU.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name


def _drop_sparsity(model: ModelWrapper, tensor: str) -> None:
    ann = get_by_name(model.graph.quantization_annotation, tensor, "tensor_name")
    entry = get_by_name(ann.quant_parameter_tensor_names, "tensor_sparsity", "key")
    ann.quant_parameter_tensor_names.remove(entry)


class DenseOneChannelConv(Transformation):
    """Im2Col(depthwise=1) -> MatMul with "dw" (K, 1) weights: a dense Im2Col and MatMul."""

    def apply(self, model: ModelWrapper):
        changed = False
        for mm in model.get_nodes_by_op_type("MatMul"):
            w = model.get_initializer(mm.input[1])
            sparsity = model.get_tensor_sparsity(mm.input[1])
            if w is None or not sparsity or "dw" not in sparsity or w.shape[1] != 1:
                continue
            im2col = model.find_producer(mm.input[0])
            if im2col is None or im2col.op_type != "Im2Col":
                continue
            getCustomOp(im2col).set_nodeattr("depthwise", 0)
            _drop_sparsity(model, mm.input[1])
            changed = True
        return model, changed
