"""Resolve what the user asked to build (checkpoint, ONNX, bnn_pynq model) into a BuildInput."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from onebit.errors import UserInputError
from onebit.flows.build import BuildInput

BNN_PYNQ = {"tfc", "sfc", "lfc", "cnv"}


def test_vectors(dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` test images (float32 pixels 0..255) and labels of a dataset."""
    x, y = dataset.split("test")
    return x[:n].astype(np.float32), y[:n]


def random_vectors(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Random uint8 pixels, for graphs built without a dataset."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape)).astype(np.float32)


def resolve(spec: str, *, vectors: int, dataset: str | None = None, data_dir=None,
            weights: Path | None = None, seed: int = 0) -> BuildInput:
    """`spec` is a checkpoint (.pt), an ONNX/QONNX file, or `bnn_pynq:<name>` (e.g. `tfc`,
    `cnv-w1a2`: `onebit.models.bnn_pynq.parse_bnn_pynq_name`)."""
    from onebit import data as datasets

    if spec.startswith("bnn_pynq:"):
        from onebit.models import bnn_pynq

        name = spec.split(":", 1)[1].lower()
        # random weights come with random per-channel BatchNorm statistics (distinct thresholds)
        model = bnn_pynq(name, weights=weights, seed=seed, random_bn=weights is None)
        shape = model.input_shape
        meta = {"source": spec, "weights": str(weights) if weights else f"random (seed {seed})"}
        if dataset:
            ds = datasets.load(dataset, data_dir)
            _check_shape(spec, shape, ds.input_shape)
            x, y = test_vectors(ds, vectors)
            return BuildInput(spec, x, y, torch_model=model, meta=meta)
        return BuildInput(spec, random_vectors(shape, vectors, seed), torch_model=model,
                          vectors_source="random uint8", meta=meta)
    path = Path(spec)
    if not path.exists():
        raise UserInputError(
            f"'{spec}' is neither a file nor bnn_pynq:<{'|'.join(sorted(BNN_PYNQ))}>[-w1a2]"
        )
    if path.suffix in (".pt", ".pth", ".ckpt"):
        from onebit.models.train import load_checkpoint

        model, meta = load_checkpoint(path)
        ds = datasets.load(dataset or meta["dataset"], data_dir)
        x, y = test_vectors(ds, vectors)
        return BuildInput(meta.get("arch", path.stem), x, y, torch_model=model, meta=meta)
    from onebit.export.qonnx import load_onnx

    model = load_onnx(path)
    shape = tuple(model.get_tensor_shape(model.graph.input[0].name))[1:]
    if dataset:
        ds = datasets.load(dataset, data_dir)
        x, y = test_vectors(ds, vectors)
        return BuildInput(path.stem, x, y, qonnx_path=path, meta={"source": str(path)})
    return BuildInput(path.stem, random_vectors(shape, vectors, seed), qonnx_path=path,
                      vectors_source="random uint8", meta={"source": str(path)})


def _check_shape(spec: str, want: tuple, got: tuple) -> None:
    if tuple(want) != tuple(got):
        raise UserInputError(f"{spec} takes inputs of shape {tuple(want)}, the dataset has {got}")
