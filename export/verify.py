"""Verification of the export stage: QONNX execution equals the torch forward, bit-exactly."""

from __future__ import annotations

import numpy as np
import torch
from qonnx.core.modelwrapper import ModelWrapper

from onebit.export.qonnx import run_qonnx
from onebit.verify import StageCheck, compare


def torch_forward(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The torch model's outputs on `x` (N, C, H, W), in eval mode."""
    with torch.no_grad():
        return model.eval()(torch.as_tensor(x, dtype=torch.float32)).numpy()


def verify_export(model: torch.nn.Module, qonnx_model: ModelWrapper, x: np.ndarray) -> StageCheck:
    """Run `x` through torch and QONNX and require identical outputs."""
    expected = torch_forward(model, x)
    actual = run_qonnx(qonnx_model, x)
    return compare("qonnx", expected, actual, reference="torch",
                   layer=qonnx_model.graph.output[0].name)
