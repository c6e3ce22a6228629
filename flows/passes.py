"""Run lists of qonnx/FINN transformations with a check after each."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

Pass = Transformation | Callable[[ModelWrapper], ModelWrapper]


def run_passes(model: ModelWrapper, passes: Iterable[Pass]) -> ModelWrapper:
    """Apply transformations (or plain model->model functions) in order.

    FINN's passes warn liberally about assumptions ("Assuming 4D input is NCHW"); they are
    silenced here because every stage is verified on real vectors afterwards.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in passes:
            model = model.transform(p) if isinstance(p, Transformation) else p(model)
    return model
