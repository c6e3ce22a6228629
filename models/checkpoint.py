"""Checkpoints: a state_dict plus the metadata that rebuilds the model without anything else."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

import onebit
from onebit.errors import ModelFormatError, UserInputError

from .registry import build

CHECKPOINT_FORMAT = "onebit-checkpoint"
CHECKPOINT_VERSION = 1
INPUT_QUANTIZATION = "uint8 pixels"  # float tensor of integers 0..255, graph input UINT8
REQUIRED_META = ("arch", "arch_kwargs", "input_shape", "num_classes")


def model_meta(model: nn.Module) -> dict:
    """What `build` needs to rebuild `model`, plus the input convention and onebit's version."""
    missing = [a for a in REQUIRED_META if not hasattr(model, a)]
    if missing:
        raise UserInputError(
            f"model has no {', '.join(missing)}: build it with onebit.models.build"
        )
    return {
        "arch": model.arch,
        "arch_kwargs": dict(model.arch_kwargs),
        "input_shape": list(model.input_shape),
        "num_classes": int(model.num_classes),
        "input_quantization": INPUT_QUANTIZATION,
        "recipe": "ste",
        "onebit_version": onebit.__version__,
    }


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict | None = None) -> Path:
    """Writes `model`'s weights and metadata (model_meta(model) updated with `meta`) to `path`.

    `meta` typically adds dataset, test_accuracy, epochs, seed (see TrainResult.meta()).
    """
    path = Path(path)
    full = model_meta(model)
    full.update(meta or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "meta": full,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    torch.save(payload, path)
    return path


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) from a file written by `save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint '{path}' does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        why = "a pickled Python object, not a state dict" if "Weights only load failed" in \
            str(e) else (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelFormatError(f"'{path}' is not a onebit checkpoint ({why}); onebit reads "
                               "checkpoints written by onebit train") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelFormatError(
            f"'{path}' is not a onebit checkpoint (no '{CHECKPOINT_FORMAT}' tag)"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ModelFormatError(
            f"checkpoint '{path}' has version {payload.get('version')}, "
            f"expected {CHECKPOINT_VERSION}"
        )
    meta = payload["meta"]
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ModelFormatError(f"checkpoint '{path}' lacks meta {', '.join(missing)}")
    shape, kwargs = tuple(meta["input_shape"]), meta["arch_kwargs"]
    model = build(meta["arch"], shape, meta["num_classes"], **kwargs)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise ModelFormatError(
            f"checkpoint '{path}' does not fit {meta['arch']}: {first}"
        ) from None
    model.eval()
    return model, meta
