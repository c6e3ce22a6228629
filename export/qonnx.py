"""Export a Brevitas model to QONNX, cleaned and annotated for FINN."""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model

from onebit.errors import ModelFormatError

INPUT_DATATYPE = DataType["UINT8"]
"""onebit models take integer pixels 0..255: the graph input is annotated UINT8."""


def export_qonnx(model: torch.nn.Module, input_shape: tuple[int, ...], path: Path,
                 input_datatype: DataType = INPUT_DATATYPE) -> ModelWrapper:
    """Export `model` (eval mode) for inputs of `input_shape` (C, H, W) to a cleaned QONNX file."""
    from brevitas.export import export_qonnx as brevitas_export

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example = torch.zeros((1, *input_shape))
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        onnx_log = logging.getLogger("torch.onnx")
        level = onnx_log.level
        onnx_log.setLevel(logging.ERROR)  # "torchvision is not installed" and the like
        try:
            with warnings.catch_warnings(), torch.no_grad(), redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")  # torch.onnx narrates its passes on stdout
                brevitas_export(model, input_t=example, export_path=tmp)
        finally:
            onnx_log.setLevel(level)
        wrapped = cleanup_model(ModelWrapper(tmp))
        wrapped.set_tensor_datatype(wrapped.graph.input[0].name, input_datatype)
        wrapped.save(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it 0600; a written file is the user's
        os.replace(tmp, path)
    finally:
        # torch.onnx may put large initializers into "<file>.data" (loaded back, saved inline)
        for leftover in (tmp, tmp + ".data"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return wrapped


def load_onnx(path: Path) -> ModelWrapper:
    """Load an ONNX/QONNX file, with a one-line error for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such file")
    try:
        model = ModelWrapper(str(path))
    except Exception as e:  # onnx raises DecodeError, ValueError, ... for garbage
        raise ModelFormatError(f"{path}: not a valid ONNX model ({type(e).__name__})") from None
    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise ModelFormatError(
            f"{path}: onebit builds graphs with one input and one output, this one has "
            f"{len(model.graph.input)} inputs and {len(model.graph.output)} outputs"
        )
    if not model.graph.node:
        raise ModelFormatError(f"{path}: the graph has no nodes")
    return model


def run_qonnx(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """Execute a QONNX/FINN graph on a batch of vectors, one at a time; stacks the outputs."""
    from qonnx.core.onnx_exec import execute_onnx

    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    ishape = model.get_tensor_shape(iname)
    outs = []
    for v in np.asarray(x, dtype=np.float32):
        v = v.reshape(ishape)
        outs.append(execute_onnx(model, {iname: v})[oname])
    return np.stack(outs)
