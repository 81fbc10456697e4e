"""Data sets as pools of segments plus mosaic indices."""

from .base import Dataset, DataInfo, MosaicSplit
from .orthogonal import load_orthogonal

__all__ = ["Dataset", "DataInfo", "MosaicSplit", "load_orthogonal"]
