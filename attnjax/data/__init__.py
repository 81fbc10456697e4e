"""Data sets as pools of segments plus mosaic indices."""

from .base import Dataset, DataInfo, MosaicSplit
from .mosaic import build_mosaic_dataset
from .orthogonal import load_orthogonal
from .registry import DATASETS, load_dataset

__all__ = [
    "DATASETS",
    "Dataset",
    "DataInfo",
    "MosaicSplit",
    "build_mosaic_dataset",
    "load_dataset",
    "load_orthogonal",
]
