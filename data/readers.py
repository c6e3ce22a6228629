"""File-format readers: IDX (MNIST family), CIFAR-10 python batches, image folders.

Each reader takes paths and returns numpy arrays; finding the files is `onebit.data.sources`'
job. Malformed files raise `UserInputError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path

import numpy as np

from onebit.errors import UserInputError

# IDX type codes (http://yann.lecun.com/exdb/mnist/): only unsigned bytes are used by datasets.
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise UserInputError(f"cannot read '{path}': {e}") from None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzip-compressed) as a numpy array of its declared shape."""
    raw = _read_bytes(Path(path))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UserInputError(f"'{path}' is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserInputError(f"'{path}' is truncated (IDX header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - header != count * dtype.itemsize:
        raise UserInputError(
            f"'{path}' holds {len(raw) - header} data bytes, its header {shape} needs "
            f"{count * dtype.itemsize}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).copy()


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """IDX images (N, H, W) and labels (N,) as uint8 (N, 1, H, W) and int64 (N,)."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise UserInputError(
            f"'{images}': expected uint8 images (N, H, W), got {x.dtype} {x.shape}"
        )
    if y.ndim != 1 or len(y) != len(x):
        raise UserInputError(f"'{labels}': expected {len(x)} labels, got shape {y.shape}")
    return x[:, None, :, :], y.astype(np.int64)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays: a data file may not run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as e:
        raise UserInputError(f"cannot read CIFAR batch '{path}': {e}") from None
    if not isinstance(obj, dict):
        raise UserInputError(f"'{path}' is not a CIFAR batch (a dict), got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch as uint8 (N, 3, 32, 32) and int64 (N,)."""
    batch = _unpickle(path)
    if "data" not in batch or "labels" not in batch:
        raise UserInputError(f"'{path}' is not a CIFAR-10 batch (needs 'data' and 'labels')")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserInputError(
            f"'{path}': expected uint8 data (N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],):
        raise UserInputError(f"'{path}': {data.shape[0]} images but {labels.size} labels")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_meta(path: Path) -> list[str]:
    """Class names from CIFAR-10's `batches.meta`."""
    names = _unpickle(path).get("label_names")
    if not isinstance(names, list):
        raise UserInputError(f"'{path}' has no 'label_names' list")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_image_folder(root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`root/<class>/*.png|jpg` as uint8 (N, C, H, W), int64 labels and sorted class names.

    All images must have the same size; grayscale images give C=1 unless some image in the
    folder has colour, then every image is converted to RGB (C=3).
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserInputError(f"image folder '{root}' has no class subfolders (<class>/*.png)")
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += [(p, label) for p in found]
    if not files:
        raise UserInputError(f"image folder '{root}' has no images ({', '.join(IMAGE_SUFFIXES)})")
    images = []
    for path, _ in files:
        try:
            with Image.open(path) as im:
                im.load()
                images.append(im.copy())
        except (OSError, UnidentifiedImageError) as e:
            raise UserInputError(f"cannot read image '{path}': {e}") from None
    gray = all(im.mode in ("1", "L", "P") and _is_gray(im) for im in images)
    mode = "L" if gray else "RGB"
    size = images[0].size
    arrays = []
    for (path, _), im in zip(files, images, strict=True):
        if im.size != size:
            raise UserInputError(
                f"image '{path}' is {im.size[0]}x{im.size[1]}, the first image "
                f"'{files[0][0]}' is {size[0]}x{size[1]}: all images must have the same size"
            )
        a = np.asarray(im.convert(mode), dtype=np.uint8)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    labels = np.array([label for _, label in files], dtype=np.int64)
    return np.stack(arrays), labels, classes


def _is_gray(im) -> bool:
    if im.mode != "P":
        return True
    rgb = np.asarray(im.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
