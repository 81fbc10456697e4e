"""attnjax: learning dynamics of soft, hard and latent-variable attention in JAX.

The public surface is small; the modules behind it are focused:
``losses`` (the three paradigms), ``models`` (focus and classifier families),
``data`` (mosaics), ``metrics``, ``train`` (one compiled program per run,
vmappable over seeds) and ``experiments`` (many seeds, plain results).
"""

from .data import DATASETS, Dataset, DataInfo, MosaicSplit, build_mosaic_dataset, load_dataset, load_orthogonal
from .errors import AttnjaxError, ConfigError, DataError, NonFiniteLossError
from .experiments import compare, fixed_focus, signature, train_seeds
from .losses import LOSSES, hard_attention_loss, loss_at_attention, lvml_loss, soft_attention_loss
from .metrics import METRICS, RULES, Predictions, predict, signature_histogram
from .train import PARADIGMS, Hyper, TrainConfig, TrainResult, make_predict, make_train

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "Dataset",
    "DataInfo",
    "MosaicSplit",
    "build_mosaic_dataset",
    "load_dataset",
    "load_orthogonal",
    "AttnjaxError",
    "ConfigError",
    "DataError",
    "NonFiniteLossError",
    "compare",
    "fixed_focus",
    "signature",
    "train_seeds",
    "LOSSES",
    "soft_attention_loss",
    "hard_attention_loss",
    "lvml_loss",
    "loss_at_attention",
    "METRICS",
    "RULES",
    "Predictions",
    "predict",
    "signature_histogram",
    "PARADIGMS",
    "Hyper",
    "TrainConfig",
    "TrainResult",
    "make_predict",
    "make_train",
]
