"""Resolve what the user asked to build (checkpoint, ONNX, bnn_pynq model) into a BuildInput."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType

from onebit.errors import UserInputError
from onebit.flows.build import BuildInput

BNN_PYNQ = {"tfc", "sfc", "lfc", "cnv"}
PIXELS = DataType["UINT8"]
"""What onebit's own exports take: dataset pixels 0..255."""
POOL = 256
"""Candidate inputs offered for directed vectors (a build uses `vectors.CANDIDATES` per vector
it may choose, `flows/vectors.py`)."""


def test_vectors(dataset, n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Test images `start` to `start + n` (float32 pixels 0..255) and labels of a dataset."""
    x, y = dataset.split("test")
    return x[start:start + n].astype(np.float32), y[start:start + n]


def random_vectors(shape: tuple[int, ...], n: int, seed: int = 0,
                   datatype: DataType | None = None) -> np.ndarray:
    """Random values of the graph input's datatype (default UINT8), for builds without a dataset.

    BIPOLAR draws -1/+1, BINARY 0/1, INTn/UINTn every integer of the type's range.
    """
    dt = datatype or PIXELS
    rng = np.random.default_rng(seed)
    if dt == DataType["BIPOLAR"]:
        return (2 * rng.integers(0, 2, size=(n, *shape)) - 1).astype(np.float32)
    lo, hi = int(dt.min()), int(dt.max())
    return rng.integers(lo, hi + 1, size=(n, *shape), dtype=np.int64).astype(np.float32)


def graph_input_datatype(model, override: str | None = None, source: str = "the model") -> DataType:
    """The datatype of the graph input: `override` (--input-datatype), else its annotation.

    A graph input without an integer annotation (FLOAT32) is refused: the accelerator streams
    integers, and vectors of the wrong range fail verification with a misleading message.
    """
    iname = model.graph.input[0].name
    annotated = model.get_tensor_datatype(iname)
    if override is not None:
        dt = parse_datatype(override)
        if annotated != DataType["FLOAT32"] and annotated != dt:
            raise UserInputError(
                f"{source}: the graph input '{iname}' is annotated {annotated.name}, "
                f"--input-datatype says {dt.name}"
            )
        return dt
    if annotated == DataType["FLOAT32"]:
        raise UserInputError(
            f"{source}: the graph input '{iname}' is FLOAT32 (no datatype annotation); the "
            "accelerator streams integers: pass --input-datatype (UINT8 for pixels 0..255, "
            "INT8, BIPOLAR, ...) or annotate the input with qonnx "
            "(model.set_tensor_datatype(input, DataType['UINT8'])) before building"
        )
    if not annotated.is_integer():
        raise UserInputError(
            f"{source}: the graph input '{iname}' is {annotated.name}; onebit takes integer, "
            "BINARY or BIPOLAR inputs (--input-datatype overrides an unannotated input)"
        )
    return annotated


MOVES = ("Reshape", "Flatten", "Transpose", "Identity", "Squeeze", "Unsqueeze")


def check_bipolar_input(model, dt: DataType) -> None:
    """Refuse a BIPOLAR graph input that reaches a layer with +-1 weights (through reshapes).

    FINN's XNOR conversion rewrites +-1 x +-1 products as popcounts of bits and needs the +-1
    values to come from a bipolar MultiThreshold in the graph; a graph input has none.
    """
    from onebit.errors import UnsupportedOpError

    if dt != DataType["BIPOLAR"]:
        return
    tensor = model.graph.input[0].name
    while True:
        consumers = model.find_consumers(tensor)
        if len(consumers) != 1 or consumers[0].op_type not in (*MOVES, "MatMul", "Gemm", "Conv"):
            return
        node = consumers[0]
        if node.op_type in MOVES:
            tensor = node.output[0]
            continue
        w = node.input[1] if len(node.input) > 1 else ""
        producer = model.find_producer(w)
        init = model.get_initializer(w)
        bipolar = (producer is not None and producer.op_type == "BipolarQuant") or (
            init is not None and set(np.unique(init).tolist()) <= {-1.0, 1.0})
        if bipolar:
            raise UnsupportedOpError(
                node.name or node.output[0], node.op_type,
                "a BIPOLAR graph input straight into +-1 weights: FINN's XNOR conversion needs "
                "the +-1 values to come from a bipolar activation in the graph (not yet for "
                "a graph input; a UINTn/INTn/BINARY input works)",
            )
        return


def parse_datatype(name: str) -> DataType:
    """A qonnx integer DataType by name (UINT8, INT4, BIPOLAR, BINARY), or a one-line error."""
    try:
        dt = DataType[name.upper()]
    except (KeyError, AttributeError):
        dt = None
    if dt is None or not dt.is_integer() or dt.bitwidth() > 32:
        raise UserInputError(
            f"input datatype '{name}': expected BIPOLAR, BINARY, UINTn or INTn (n <= 32)"
        )
    return dt


def holds_pixels(dt: DataType | None) -> bool:
    """Whether dataset pixels (integers 0..255) are values of `dt`."""
    return dt is None or (dt.is_integer() and dt.min() <= 0 and dt.max() >= 255)


def check_vectors(x: np.ndarray, dt: DataType, what: str) -> None:
    """Every value of `x` is one of `dt`, else a one-line error naming the first one that isn't."""
    u = np.unique(np.asarray(x, dtype=np.float64))
    if dt == DataType["BIPOLAR"]:
        ok = np.isin(u, (-1.0, 1.0))
    else:
        ok = (u == np.rint(u)) & (u >= dt.min()) & (u <= dt.max())
    if not ok.all():
        raise UserInputError(f"{what}: value {u[~ok][0]:g} is not a {dt.name} (the graph "
                             "input's datatype)")


def _dataset_vectors(spec: str, dt: DataType | None, dataset, n: int) -> dict:
    """The first `n` test images and labels, and the next `POOL` as the directed pool."""
    if not holds_pixels(dt):
        raise UserInputError(
            f"{spec}: the graph input is {dt.name}, which cannot hold dataset pixels 0..255; "
            f"build without --dataset (random {dt.name} vectors) or with --input-datatype UINT8"
        )
    x, y = test_vectors(dataset, n)
    pool, pool_y = test_vectors(dataset, POOL, start=n)
    return {"x": x, "y": y, "pool": pool, "pool_y": pool_y}


def _random_vectors(shape, n: int, seed: int, dt: DataType) -> dict:
    """`n` random vectors and a pool of `POOL` more (another seed)."""
    return {"x": random_vectors(shape, n, seed, dt), "vectors_source": f"random {dt.name}",
            "pool": random_vectors(shape, POOL, seed + 1, dt)}


def resolve(spec: str, *, vectors: int, dataset: str | None = None, data_dir=None,
            weights: Path | None = None, seed: int = 0,
            input_datatype: str | None = None) -> BuildInput:
    """`spec` is a checkpoint (.pt), an ONNX/QONNX file, or `bnn_pynq:<name>` (e.g. `tfc`,
    `cnv-w1a2`: `onebit.models.bnn_pynq.parse_bnn_pynq_name`).

    `input_datatype` (--input-datatype) names the datatype of the graph input: it annotates an
    unannotated ONNX input and sets the range of random vectors; onebit's own exports take
    UINT8 pixels.
    """
    from onebit import data as datasets

    override = parse_datatype(input_datatype) if input_datatype else None
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
            return BuildInput(spec, torch_model=model, meta=meta, input_datatype=input_datatype,
                              **_dataset_vectors(spec, override, ds, vectors))
        return BuildInput(spec, torch_model=model, meta=meta, input_datatype=input_datatype,
                          **_random_vectors(shape, vectors, seed, override or PIXELS))
    path = Path(spec)
    if not path.exists():
        raise UserInputError(
            f"'{spec}' is neither a file nor bnn_pynq:<{'|'.join(sorted(BNN_PYNQ))}>[-w1a2]"
        )
    if path.suffix in (".pt", ".pth", ".ckpt"):
        from onebit.models.train import load_checkpoint

        model, meta = load_checkpoint(path)
        ds = datasets.load(dataset or meta["dataset"], data_dir)
        _check_shape(str(path), tuple(meta["input_shape"]), ds.input_shape)
        return BuildInput(meta.get("arch", path.stem), torch_model=model, meta=meta,
                          input_datatype=input_datatype,
                          **_dataset_vectors(spec, override, ds, vectors))
    from onebit.export.qonnx import load_model_file
    from onebit.flows.check import check_supported

    model = load_model_file(path)
    check_supported(model)
    dt = graph_input_datatype(model, input_datatype, source=str(path))
    shape = tuple(model.get_tensor_shape(model.graph.input[0].name))[1:]
    meta = {"source": str(path), "input_datatype": dt.name}
    if dataset:
        ds = datasets.load(dataset, data_dir)
        return BuildInput(path.stem, qonnx_path=path, meta=meta, input_datatype=input_datatype,
                          **_dataset_vectors(spec, dt, ds, vectors))
    return BuildInput(path.stem, qonnx_path=path, meta=meta, input_datatype=input_datatype,
                      **_random_vectors(shape, vectors, seed, dt))


def _check_shape(spec: str, want: tuple, got: tuple) -> None:
    if tuple(want) != tuple(got):
        raise UserInputError(f"{spec} takes inputs of shape {tuple(want)}, the dataset has {got}")
