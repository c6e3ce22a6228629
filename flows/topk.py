"""Top-k label output: the accelerator returns the indices of the k best scores (FINN's
`InsertTopK`, built as a LabelSelect layer), as finn-examples' bnn-pynq accelerators do.

`append_topk` ends a verified QONNX graph in an ONNX TopK; `topk_reference` turns the stage
chain's reference scores into the indices that TopK must give (largest first, equal scores
with the lower index first, as ONNX specifies), so the chain stays verified end to end.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.insert_topk import InsertTopK

from onebit.errors import UserInputError


def append_topk(model: ModelWrapper, k: int) -> ModelWrapper:
    """`model` with a TopK of `k` on its (N, classes) output; its output is then the indices."""
    out = model.graph.output[0].name
    producer = model.find_producer(out)
    if producer is not None and producer.op_type in ("TopK", "ArgMax"):
        raise UserInputError(f"--top-k: the model already ends in {producer.op_type} "
                             f"'{producer.name}'")
    shape = model.get_tensor_shape(out)
    classes = int(np.prod(shape[1:]))
    if len(shape) != 2 or shape[0] != 1:
        raise UserInputError(f"--top-k needs a (1, classes) output; '{out}' is {tuple(shape)}")
    if not 1 <= k <= classes:
        raise UserInputError(f"--top-k {k}: the output has {classes} classes")
    return model.transform(InsertTopK(k=k)).transform(InferShapes()).transform(InferDataTypes())


def topk_reference(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` largest scores per row, ties broken towards the lower index."""
    s = np.asarray(scores).reshape(len(scores), -1)
    return np.argsort(-s, axis=1, kind="stable")[:, :k].astype(np.float32)
