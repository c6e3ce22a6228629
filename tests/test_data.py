"""onebit.data: every format from tiny files made here, the loader, missing-dataset errors."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from onebit import data
from onebit.errors import DatasetNotFoundError, UserInputError


def _write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def _make_idx_dir(folder, n_train=12, n_test=5, hw=(28, 28), compress=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, a in arrays.items():
        _write_idx(folder / name, a, compress)
    return arrays


def test_digits_is_embedded_uint8_and_split_is_fixed():
    ds = data.load("digits")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0
    assert len(ds.y_train) + len(ds.y_test) == 1797
    # every value is v*255//16 of a 0..16 pixel
    allowed = {v * 255 // 16 for v in range(17)}
    assert set(np.unique(ds.x_test).tolist()) <= allowed
    again = data.load("DIGITS")
    assert np.array_equal(ds.x_test, again.x_test) and np.array_equal(ds.y_train, again.y_train)
    assert set(np.unique(ds.y_test).tolist()) == set(range(10))  # stratified


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx(tmp_path, compress):
    arrays = _make_idx_dir(tmp_path / "m", compress=compress)
    ds = data.load("mnist", tmp_path / "m")
    assert ds.input_shape == (1, 28, 28)
    assert np.array_equal(ds.x_train[:, 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    assert ds.classes == [str(d) for d in range(10)]


def test_mnist_in_torchvision_layout(tmp_path):
    _make_idx_dir(tmp_path / "MNIST" / "raw")
    assert data.load("mnist", tmp_path).input_shape == (1, 28, 28)


def test_fashion_mnist_from_data_dir(tmp_path):
    _make_idx_dir(tmp_path, n_train=3, n_test=2)
    ds = data.load("fashion_mnist", tmp_path)
    assert ds.name == "fashion-mnist" and ds.classes[9] == "Ankle boot"
    assert len(ds.y_train) == 3


def test_truncated_idx_is_a_user_error(tmp_path):
    _make_idx_dir(tmp_path, compress=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(UserInputError, match="train-images-idx3-ubyte"):
        data.load("mnist", tmp_path)


def test_missing_datasets_say_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="--data-dir"):
        data.load("mnist")
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path)) as e:
        data.load("fashion-mnist", tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        data.load("cifar10", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="not a directory"):
        data.load("cifar10", tmp_path / "nope")
    with pytest.raises(UserInputError, match="unknown dataset"):
        data.load("imagenet")


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    batch = {
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"labels": rng.integers(0, 10, n).tolist(),
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return batch


def test_cifar10_python_batches(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    b1 = _cifar_batch(root / "data_batch_1", 4, 1)
    _cifar_batch(root / "data_batch_2", 3, 2)
    bt = _cifar_batch(root / "test_batch", 2, 3)
    names = [n.encode() for n in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]]
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    ds = data.load("cifar10", tmp_path)
    assert ds.input_shape == (3, 32, 32) and len(ds.y_train) == 7 and ds.classes[0] == "a"
    # CIFAR rows are channel-major: the first 1024 bytes are the red plane
    assert np.array_equal(ds.x_train[0, 0].ravel(), b1[b"data"][0, :1024])
    assert ds.y_test.tolist() == bt[b"labels"]


def test_cifar_pickle_may_not_run_code(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    _cifar_batch(root / "data_batch_1", 2, 1)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (root / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(UserInputError, match="refusing"):
        data.load("cifar10", tmp_path)


def _png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)


def test_imagefolder_grayscale_split(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(5):
            _png(tmp_path / c / f"{i}.png", rng.integers(0, 256, (6, 7), dtype=np.uint8))
    ds = data.load("imagefolder", tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.input_shape == (1, 6, 7)
    assert len(ds.y_train) == 8 and len(ds.y_test) == 2


def test_imagefolder_rgb_train_test(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            _png(tmp_path / split / c / "x.png", img)
    ds = data.load("imagefolder", tmp_path)
    assert ds.input_shape == (3, 4, 4)
    assert np.array_equal(ds.x_test[0], img.transpose(2, 0, 1))


def test_imagefolder_rejects_mixed_sizes(tmp_path):
    (tmp_path / "a").mkdir()
    _png(tmp_path / "a" / "0.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "a" / "1.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(UserInputError, match="same size"):
        data.load("imagefolder", tmp_path)


def test_loader_yields_integer_float_pixels_deterministically():
    ds = data.load("digits")
    batches = list(data.loader(ds, "train", batch_size=100, seed=3, limit=250))
    assert [len(y) for _, y in batches] == [100, 100, 50]
    x, y = batches[0]
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == (1, 8, 8)
    assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() <= 255
    again = next(iter(data.loader(ds, "train", batch_size=100, seed=3, limit=250)))
    assert torch.equal(again[1], y)
    seen = torch.cat([b[1] for b in batches]).sort().values
    assert torch.equal(seen, torch.from_numpy(ds.y_train[:250]).sort().values)
    test = next(iter(data.loader(ds, "test", batch_size=10)))  # not shuffled
    assert torch.equal(test[1], torch.from_numpy(ds.y_test[:10]))


def test_list_datasets():
    rows = {r.name: r for r in data.list_datasets()}
    assert set(rows) == set(data.dataset_names())
    assert rows["digits"].available
    assert not rows["mnist"].available and "--data-dir" in rows["mnist"].where
