"""onebit.data: datasets as uint8 (N, C, H, W) arrays and torch loaders of integer pixels.

    >>> from onebit import data
    >>> ds = data.load("digits")
    >>> xb, yb = next(iter(data.loader(ds, "train", batch_size=32, seed=0)))
    >>> xb.dtype, float(xb.max()) <= 255.0
    (torch.float32, True)
"""

from .dataset import SPLITS, Dataset, loader
from .sources import (
    DatasetInfo,
    canonical_name,
    dataset_names,
    list_datasets,
    load,
    stratified_split,
)

__all__ = [
    "SPLITS",
    "Dataset",
    "DatasetInfo",
    "canonical_name",
    "dataset_names",
    "list_datasets",
    "load",
    "loader",
    "stratified_split",
]
