"""attnjax: learning dynamics of soft, hard and latent-variable attention in JAX.

The public surface is small; the modules behind it are focused:
``losses`` (the three paradigms), ``models`` (focus and classifier families),
``encoders`` (segments to representations: embeddings, MLP/CNN features, self-attention),
``data`` (mosaics), ``metrics``, ``train`` (one compiled program per run,
vmappable over seeds), ``loop`` (the host loop over chunks of epochs),
``checkpoint`` (orbax checkpoints) and ``experiments`` (many seeds, plain results).
"""

import importlib

# Public names and the module each lives in. They are imported on first use
# (PEP 562), so ``attnjax --help``, ``--version`` and Ctrl-C during start-up do
# not wait for JAX to load.
_EXPORTS = {
    "DATASETS": "data",
    "Dataset": "data",
    "DataInfo": "data",
    "MosaicSplit": "data",
    "build_mosaic_dataset": "data",
    "load_dataset": "data",
    "load_orthogonal": "data",
    "AttnjaxError": "errors",
    "ConfigError": "errors",
    "DataError": "errors",
    "NonFiniteLossError": "errors",
    "compare": "experiments",
    "fixed_focus": "experiments",
    "signature": "experiments",
    "train_seeds": "experiments",
    "LOSSES": "losses",
    "hard_attention_loss": "losses",
    "loss_at_attention": "losses",
    "lvml_loss": "losses",
    "soft_attention_loss": "losses",
    "METRICS": "metrics",
    "RULES": "metrics",
    "Predictions": "metrics",
    "predict": "metrics",
    "signature_histogram": "metrics",
    "PARADIGMS": "protocol",
    "Paradigm": "paradigms",
    "get_paradigm": "paradigms",
    "make_step": "train",
    "make_batch_loss": "train",
    "make_encode": "focus",
    "make_models": "models",
    "make_optimizer": "optim",
    "make_evaluate": "evaluation",
    "Hyper": "train",
    "TrainConfig": "train",
    "TrainResult": "train",
    "make_predict": "train",
    "make_train": "train",
    "make_chunk": "train",
    "HostLoop": "loop",
    "EpochChunks": "loop",
    "Checkpoints": "checkpoint",
    "Programs": "programs",
    "HistoryLog": "runlog",
    "load_results": "files",
    "read_attention": "attention",
    "Protocol": "protocol",
    "PROTOCOLS": "protocol",
    "Diverged": "experiments",
    "OutOfMemoryError": "errors",
    "paired_difference": "stats",
    "PairedDifference": "stats",
    "flow_time_scale": "clock",
    "flow_times": "clock",
    "PointMetrics": "train",
    "AttentionMetrics": "metrics",
}


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'attnjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one definition)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("attnjax")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _version()

__all__ = list(_EXPORTS)
