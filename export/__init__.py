"""onebit.export: Brevitas -> QONNX, verified against the torch model."""

from onebit.export.qonnx import export_qonnx, load_onnx, run_qonnx
from onebit.export.verify import torch_forward, verify_export

__all__ = ["export_qonnx", "load_onnx", "run_qonnx", "torch_forward", "verify_export"]
