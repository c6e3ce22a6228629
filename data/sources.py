"""Named dataset sources: where each dataset's files are looked for and how they are read.

- `digits`: scikit-learn's embedded copy (8x8, 1797 images), always available;
- `fashion-mnist`: IDX files, gz or not; Debian package `dataset-fashion-mnist` or `--data-dir`;
- `mnist`: IDX files, gz or not, in `--data-dir`;
- `cifar10`: python batches (`cifar-10-batches-py/`) in `--data-dir`;
- `imagefolder`: `<class>/*.png|jpg` (or `train/<class>/`, `test/<class>/`) in `--data-dir`.

Nothing is ever downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onebit.errors import DatasetNotFoundError, UserInputError

from .dataset import Dataset
from .readers import read_cifar_batch, read_cifar_meta, read_idx_pair, read_image_folder

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
SPLIT_SEED = 0  # the fixed seed of every split onebit makes itself (digits, flat image folders)
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DatasetInfo:
    """One row of `list_datasets()`."""

    name: str
    available: bool
    where: str  # the file or folder found, or what was searched
    hint: str  # how to get it when missing


def stratified_split(
    y: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): per class, a seeded `test_fraction` share goes to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(len(idx) * test_fraction)) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


# --- digits -------------------------------------------------------------------------------------


def _digits(data_dir: Path | None) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # pixels are 0..16; v*255//16 maps them onto 0..255 exactly (0->0, 16->255), integer-only
    x = (bunch.images.astype(np.int64) * 255 // 16).astype(np.uint8)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    tr, te = stratified_split(y)
    return Dataset("digits", x[tr], y[tr], x[te], y[te], [str(c) for c in bunch.target_names])


# --- IDX (MNIST family) -------------------------------------------------------------------------

_IDX_STEMS = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _idx_files(folder: Path) -> dict[tuple[str, str], Path] | None:
    found = {}
    for key, stems in _IDX_STEMS.items():
        paths = [folder / (s + ext) for s in stems for ext in ("", ".gz")]
        hit = next((p for p in paths if p.is_file()), None)
        if hit is None:
            return None
        found[key] = hit
    return found


def _read_idx_folder(name: str, classes: list[str]) -> Callable[[Path], Dataset]:
    def read(folder: Path) -> Dataset:
        files = _idx_files(folder)
        x_tr, y_tr = read_idx_pair(files["train", "images"], files["train", "labels"])
        x_te, y_te = read_idx_pair(files["test", "images"], files["test", "labels"])
        return Dataset(name, x_tr, y_tr, x_te, y_te, classes)

    return read


# --- CIFAR-10 -----------------------------------------------------------------------------------


def _cifar_train_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("data_batch_*"), key=lambda p: (len(p.name), p.name))


def _is_cifar_folder(folder: Path) -> bool:
    return bool(_cifar_train_files(folder)) and (folder / "test_batch").is_file()


def _read_cifar10(folder: Path) -> Dataset:
    parts = [read_cifar_batch(p) for p in _cifar_train_files(folder)]
    x_te, y_te = read_cifar_batch(folder / "test_batch")
    meta = folder / "batches.meta"
    classes = read_cifar_meta(meta) if meta.is_file() else CIFAR10_CLASSES
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    return Dataset("cifar10", x_tr, y_tr, x_te, y_te, classes)


# --- image folder -------------------------------------------------------------------------------


def _read_imagefolder(root: Path) -> Dataset:
    name = "imagefolder"  # what load() takes back (meta["dataset"] of checkpoints)
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_tr, y_tr, classes = read_image_folder(root / "train")
        x_te, y_te, test_classes = read_image_folder(root / "test")
        if test_classes != classes:
            raise UserInputError(
                f"image folder '{root}': train classes {classes} differ from test classes "
                f"{test_classes}"
            )
        if x_tr.shape[1:] != x_te.shape[1:]:
            raise UserInputError(
                f"image folder '{root}': train images {x_tr.shape[1:]} and test images "
                f"{x_te.shape[1:]} differ (C, H, W)"
            )
        return Dataset(name, x_tr, y_tr, x_te, y_te, classes)
    x, y, classes = read_image_folder(root)
    tr, te = stratified_split(y)
    return Dataset(name, x[tr], y[tr], x[te], y[te], classes)


# --- registry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """Where a dataset may live (`folders(data_dir)`), how to recognise and read it."""

    folders: Callable[[Path | None], list[Path]]
    matches: Callable[[Path], bool]
    read: Callable[[Path], Dataset]
    expects: str  # the files looked for, for the not-found message
    hint: str  # how to get it


def _under(*subdirs: str, system: Path | None = None) -> Callable[[Path | None], list[Path]]:
    def folders(data_dir: Path | None) -> list[Path]:
        if data_dir is not None:
            return [data_dir] + [data_dir / s for s in subdirs]
        return [system] if system is not None else []

    return folders


_SOURCES: dict[str, _Source] = {
    "digits": _Source(
        lambda d: [Path("sklearn.datasets.load_digits")],
        lambda f: True,
        lambda f: _digits(None),
        "scikit-learn's embedded copy",
        "it ships with scikit-learn",
    ),
    "fashion-mnist": _Source(
        _under("fashion-mnist", "FashionMNIST/raw", system=FASHION_MNIST_SYSTEM_DIR),
        lambda f: _idx_files(f) is not None,
        _read_idx_folder("fashion-mnist", FASHION_MNIST_CLASSES),
        "train/t10k IDX files (gz or not)",
        "install it with 'apt-get install dataset-fashion-mnist' or pass --data-dir DIR",
    ),
    "mnist": _Source(
        _under("mnist", "MNIST/raw"),
        lambda f: _idx_files(f) is not None,
        _read_idx_folder("mnist", [str(d) for d in range(10)]),
        "train/t10k IDX files (gz or not)",
        "pass --data-dir DIR holding train-images-idx3-ubyte[.gz] and the other three files",
    ),
    "cifar10": _Source(
        lambda d: [] if d is None else [d / "cifar-10-batches-py", d],
        _is_cifar_folder,
        _read_cifar10,
        "data_batch_* and test_batch",
        "pass --data-dir DIR holding cifar-10-batches-py/ (the CIFAR-10 'python version')",
    ),
    "imagefolder": _Source(
        lambda d: [] if d is None else [d],
        lambda f: f.is_dir() and any(p.is_dir() for p in f.iterdir()),
        _read_imagefolder,
        "<class>/ subfolders of images",
        "pass --data-dir DIR holding DIR/<class>/*.png (or DIR/train/<class>/, DIR/test/<class>/)",
    ),
}
_ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "image-folder": "imagefolder",
    "image_folder": "imagefolder",
}


def dataset_names() -> list[str]:
    """The names `load` accepts."""
    return list(_SOURCES)


def canonical_name(name: str) -> str:
    """`name` as registered ('Fashion_MNIST' -> 'fashion-mnist'); UserInputError if unknown."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _SOURCES:
        raise UserInputError(f"unknown dataset '{name}': expected one of {', '.join(_SOURCES)}")
    return key


def _locate(key: str, data_dir: Path | None) -> Path:
    source = _SOURCES[key]
    folders = source.folders(data_dir)
    for folder in folders:
        if folder.is_dir() or key == "digits":
            if source.matches(folder):
                return folder
    where = f"in {', '.join(str(f) for f in folders)}" if folders else "(no --data-dir given)"
    raise DatasetNotFoundError(
        f"dataset '{key}' not found: no {source.expects} {where}; {source.hint}"
    )


def _as_dir(data_dir: str | Path | None, key: str) -> Path | None:
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(f"dataset '{key}' not found: '{path}' is not a directory")
    return path


def load(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load dataset `name` into memory, from `data_dir` or its default location.

    Raises DatasetNotFoundError (one line: where it looked, how to get it) when files are missing.
    `digits` ignores `data_dir`.
    """
    key = canonical_name(name)
    folder = _locate(key, _as_dir(data_dir, key) if key != "digits" else None)
    return _SOURCES[key].read(folder)


def list_datasets(data_dir: str | Path | None = None) -> list[DatasetInfo]:
    """Every known dataset and whether its files are present (nothing is read beyond a look)."""
    rows = []
    for key, source in _SOURCES.items():
        try:
            folder = _locate(key, _as_dir(data_dir, key) if key != "digits" else None)
            rows.append(DatasetInfo(key, True, str(folder), source.hint))
        except DatasetNotFoundError as e:
            rows.append(DatasetInfo(key, False, str(e), source.hint))
    return rows
