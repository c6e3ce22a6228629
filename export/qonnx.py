"""Export a Brevitas model to QONNX, cleaned and annotated for FINN."""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from contextlib import redirect_stdout
from copy import deepcopy
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
    """Load an ONNX/QONNX file, with a one-line error for anything that is not one.

    Accepts files as `brevitas.export.export_qonnx` writes them with torch's exporter:
    weights in a side file (`<file>.data`, loaded from beside the file) and every initializer
    also listed as a graph input (dropped from the inputs).
    """
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError, ValueError, ... for garbage
        raise ModelFormatError(f"{path}: not a valid ONNX model ({type(e).__name__})") from None
    missing = sorted({loc for loc in _external_locations(proto)
                      if not (path.parent / loc).is_file()})  # fmt: skip
    if missing:
        raise ModelFormatError(
            f"{path}: its weights are stored in {', '.join(missing)}, which is not beside it "
            f"in {path.parent} (copy the .data file next to the .onnx file)"
        )
    try:
        load_external_data_for_model(proto, str(path.parent))
    except Exception as e:
        raise ModelFormatError(f"{path}: cannot read its external weights ({e})") from None
    model = ModelWrapper(proto)
    inits = {i.name for i in model.graph.initializer}
    for i in [i for i in model.graph.input if i.name in inits]:
        model.graph.input.remove(i)  # torch's exporter lists weights as inputs too
    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise ModelFormatError(
            f"{path}: onebit builds graphs with one input and one output, this one has "
            f"{len(model.graph.input)} inputs and {len(model.graph.output)} outputs"
        )
    if not model.graph.node:
        raise ModelFormatError(f"{path}: the graph has no nodes")
    return model


def load_model_file(path: Path) -> ModelWrapper:
    """`load_onnx`, then qonnx's cleanup as FINN's builder runs it on a QONNX file (shapes,
    constant folding of shape arithmetic, unused tensors) but keeping the file's node names,
    which errors quote; a graph that already holds FINN HW layers is left as it is."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveUniqueParameterTensors,
        RemoveStaticGraphInputs,
        RemoveUnusedTensors,
    )
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    model = load_onnx(path)
    if any(n.domain.startswith("finn.custom_op.fpgadataflow") for n in model.graph.node):
        return model
    for n in model.graph.node:
        if n.op_type in ("Quant", "Trunc", "BipolarQuant"):
            n.domain = "qonnx.custom_op.general"  # as qonnx's cleanup_model does
    keep = ["Quant", "BipolarQuant", "QuantizeLinear", "DequantizeLinear"]
    raw = ModelWrapper(deepcopy(model.model))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in (InferShapes(), GiveUniqueParameterTensors(), FoldConstants(keep),
                      FoldTransposeIntoQuantInit(), RemoveUnusedTensors(),
                      RemoveStaticGraphInputs()):
                model = model.transform(t)
    except Exception as e:  # an op qonnx cannot execute or infer: name it if onebit can't map it
        from onebit.flows.check import check_supported

        check_supported(raw)
        raise ModelFormatError(f"{path}: qonnx's cleanup failed ({type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''})") from None
    for i, n in enumerate(model.graph.node):
        n.name = n.name or f"{n.op_type}_{i}"
    return model


def _external_locations(proto) -> list[str]:
    """File names of the external data of every tensor (initializers, Constant attributes)."""
    from onnx.external_data_helper import uses_external_data

    tensors = list(proto.graph.initializer)
    tensors += [a.t for n in proto.graph.node for a in n.attribute if a.HasField("t")]
    return [next((e.value for e in t.external_data if e.key == "location"), "?")
            for t in tensors if uses_external_data(t)]  # fmt: skip


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
