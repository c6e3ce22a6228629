"""The in-memory `Dataset` every source produces, and the torch loader over it.

Pixels stay uint8 (N, C, H, W) in memory; the loader hands out float32 tensors holding the
same integer values 0..255, which is the input convention of every onebit model (the export
flow annotates the graph input as UINT8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from onebit.errors import UserInputError

SPLITS = ("train", "test")


@dataclass
class Dataset:
    """A classification dataset held in memory.

    Example:
        >>> ds = onebit.data.load("digits")
        >>> ds.x_train.shape, ds.x_train.dtype, ds.input_shape
        ((1437, 1, 8, 8), dtype('uint8'), (1, 8, 8))
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    input_shape: tuple[int, int, int] = field(default=())  # (C, H, W), filled in from x_train

    def __post_init__(self) -> None:
        for split in SPLITS:
            x, y = self.split(split)
            x = np.asarray(x)
            if x.dtype != np.uint8 or x.ndim != 4:
                raise UserInputError(
                    f"dataset '{self.name}': {split} images must be uint8 (N, C, H, W), "
                    f"got {x.dtype} {x.shape}"
                )
            x = np.ascontiguousarray(x)
            y = np.asarray(y, dtype=np.int64)
            if y.shape != (x.shape[0],):
                raise UserInputError(
                    f"dataset '{self.name}': {split} has {x.shape[0]} images but labels "
                    f"of shape {y.shape}"
                )
            if y.size and (y.min() < 0 or y.max() >= len(self.classes)):
                raise UserInputError(
                    f"dataset '{self.name}': {split} labels must lie in 0..{len(self.classes) - 1}"
                )
            setattr(self, f"x_{split}", x)
            setattr(self, f"y_{split}", y)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise UserInputError(
                f"dataset '{self.name}': train images {self.x_train.shape[1:]} and test images "
                f"{self.x_test.shape[1:]} differ in shape"
            )
        self.input_shape = tuple(int(d) for d in self.x_train.shape[1:])
        self.classes = [str(c) for c in self.classes]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of `split` ('train' or 'test')."""
        if split not in SPLITS:
            raise UserInputError(f"unknown split '{split}': expected one of {', '.join(SPLITS)}")
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, classes={len(self.classes)})"
        )


class _Batches(torch.utils.data.Dataset):
    """Indexes a whole batch at once (fed by a BatchSampler): float32 pixels, int64 labels."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(index, dtype=torch.long)
        return self.x[idx].to(torch.float32), self.y[idx]


def loader(
    ds: Dataset,
    split: str = "train",
    batch_size: int = 64,
    shuffle: bool | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> DataLoader:
    """A DataLoader over one split yielding (float32 pixels 0..255 (B, C, H, W), int64 labels).

    `shuffle` defaults to True for 'train'; the order is a pure function of `seed` (each new
    iteration over the loader draws the next permutation). `limit` keeps the first `limit`
    samples of the split, for quick runs.
    """
    x, y = ds.split(split)
    if batch_size < 1:
        raise UserInputError(f"batch size must be at least 1, got {batch_size}")
    if limit is not None:
        if limit < 1:
            raise UserInputError(f"limit must be at least 1, got {limit}")
        x, y = x[:limit], y[:limit]
    data = _Batches(x, y)
    if shuffle is None:
        shuffle = split == "train"
    if shuffle:
        sampler = RandomSampler(data, generator=torch.Generator().manual_seed(seed))
    else:
        sampler = SequentialSampler(data)
    batches = BatchSampler(sampler, batch_size=batch_size, drop_last=False)
    return DataLoader(data, sampler=batches, batch_size=None, num_workers=0)
