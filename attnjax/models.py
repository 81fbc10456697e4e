"""Focus and classification models, applied to a batch of single segments.

A focus model maps ``[N, *segment_shape]`` to scores ``[N]``; a classifier maps
``[N, *segment_shape]`` to logits ``[N, K]``. The losses reshape mosaics
``[B, m, ...]`` to ``[B * m, ...]`` before calling them, so one model serves
every segment (the paper's weight sharing).

Families:
    linear: focus ``u . x`` with no bias; classifier ``W x + b``. Zero
        initialisation, as in the paper's simple setting.
    mlp: one hidden ReLU layer for each model (Xavier-initialised focus with no
        biases; the classifier's weights per ``CLASSIFIER_INITS``, zero biases).
    cnn: the paper's focus CNN (conv 32-64-64, fully connected 512-64-10-1, no
        bias, Xavier) and its LeNet-style classifier (conv 6-16, fully connected
        120-84-10-K). Valid convolutions, so 32x32x3 gives the paper's 1024 and
        400 flattened sizes; other image sizes give other sizes.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from .errors import ConfigError

__all__ = [
    "LinearFocus",
    "LinearClassifier",
    "MLPFocus",
    "MLPClassifier",
    "FocusCNN",
    "LeNetClassifier",
    "MODEL_FAMILIES",
    "CLASSIFIER_INITS",
    "make_models",
]

# The paper's focus network: no bias, Xavier (Glorot) initialisation.
_xavier = nn.initializers.xavier_uniform()
# Classifier weight initialisations (biases start at zero under both):
#   "uniform": PyTorch's default weight scale, kaiming_uniform(a=sqrt(5)) =
#       U(-1/sqrt(fan_in), 1/sqrt(fan_in)); attnjax's default protocol.
#   "xavier": Xavier (Glorot) normal, the authors' LeNet classifier. Their
#       models.py is missing from their repository; this follows a copy of it
#       with the exact class signatures their scripts import, found in another
#       public repository (see the README's table of differences).
CLASSIFIER_INITS = {
    "uniform": nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
    "xavier": nn.initializers.xavier_normal(),
}


def _flatten(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1)


class LinearFocus(nn.Module):
    """``f(x) = u . x`` (no bias, zero initialisation). ``[N, ...] -> [N]``."""

    @nn.compact
    def __call__(self, x):
        return nn.Dense(1, use_bias=False, kernel_init=nn.initializers.zeros)(_flatten(x))[:, 0]


class LinearClassifier(nn.Module):
    """``g(x) = W x + b`` (zero initialisation). ``[N, ...] -> [N, K]``."""

    num_classes: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.num_classes, kernel_init=nn.initializers.zeros)(_flatten(x))


class MLPFocus(nn.Module):
    """Bias-free ReLU MLP scoring a segment. ``[N, ...] -> [N]``."""

    hidden: Sequence[int] = (64,)

    @nn.compact
    def __call__(self, x):
        h = _flatten(x)
        for width in self.hidden:
            h = nn.relu(nn.Dense(width, use_bias=False, kernel_init=_xavier)(h))
        return nn.Dense(1, use_bias=False, kernel_init=_xavier)(h)[:, 0]


class MLPClassifier(nn.Module):
    """ReLU MLP classifying a segment. ``[N, ...] -> [N, K]``."""

    num_classes: int
    hidden: Sequence[int] = (64,)
    init: str = "uniform"

    @nn.compact
    def __call__(self, x):
        kernel_init = CLASSIFIER_INITS[self.init]
        h = _flatten(x)
        for width in self.hidden:
            h = nn.relu(nn.Dense(width, kernel_init=kernel_init)(h))
        return nn.Dense(self.num_classes, kernel_init=kernel_init)(h)


class FocusCNN(nn.Module):
    """The paper's focus CNN. ``[N, H, W, C] -> [N]``.

    conv 3x3 (32), max-pool 2, conv 3x3 (64), max-pool 2, conv 3x3 (64), then
    fully connected 512, 64, 10, 1; ReLU between layers; no biases; Xavier init.
    """

    @nn.compact
    def __call__(self, x):
        conv = dict(kernel_size=(3, 3), padding="VALID", use_bias=False, kernel_init=_xavier)
        h = nn.relu(nn.Conv(32, **conv)(x))
        h = nn.max_pool(h, (2, 2), strides=(2, 2))
        h = nn.relu(nn.Conv(64, **conv)(h))
        h = nn.max_pool(h, (2, 2), strides=(2, 2))
        h = nn.relu(nn.Conv(64, **conv)(h))
        h = _flatten(h)
        for width in (512, 64, 10):
            h = nn.relu(nn.Dense(width, use_bias=False, kernel_init=_xavier)(h))
        return nn.Dense(1, use_bias=False, kernel_init=_xavier)(h)[:, 0]


class LeNetClassifier(nn.Module):
    """The paper's LeNet-style classifier. ``[N, H, W, C] -> [N, K]``.

    conv 5x5 (6), max-pool 2, conv 5x5 (16), max-pool 2, then fully connected
    120, 84, 10, K with ReLU between layers.
    """

    num_classes: int
    init: str = "uniform"

    @nn.compact
    def __call__(self, x):
        kernel_init = CLASSIFIER_INITS[self.init]
        conv = dict(kernel_size=(5, 5), padding="VALID", kernel_init=kernel_init)
        h = nn.max_pool(nn.relu(nn.Conv(6, **conv)(x)), (2, 2), strides=(2, 2))
        h = nn.max_pool(nn.relu(nn.Conv(16, **conv)(h)), (2, 2), strides=(2, 2))
        h = _flatten(h)
        for width in (120, 84, 10):
            h = nn.relu(nn.Dense(width, kernel_init=kernel_init)(h))
        return nn.Dense(self.num_classes, kernel_init=kernel_init)(h)


MODEL_FAMILIES = ("linear", "mlp", "cnn")


def make_models(
    family: str,
    *,
    num_classes: int,
    segment_shape: Sequence[int],
    hidden: int = 64,
    classifier_init: str = "uniform",
) -> tuple[nn.Module, nn.Module]:
    """The (focus, classifier) pair of one family.

    Arguments:
        family: one of ``"linear"``, ``"mlp"``, ``"cnn"``.
        num_classes: K, the classifier's output size.
        segment_shape: shape of one segment; the CNNs need ``(H, W, C)`` with
            H and W large enough for their valid convolutions (at least 18).
        hidden: hidden width of the MLPs.
        classifier_init: weight initialisation of the MLP and LeNet
            classifiers, a key of ``CLASSIFIER_INITS`` (the linear
            classifier always starts at zero, as in the paper's simple setting).

    Returns:
        ``(focus_model, classifier_model)`` as Flax modules.

    Raises:
        ConfigError: unknown family, or a CNN on segments it cannot take.
    """
    if classifier_init not in CLASSIFIER_INITS:
        raise ConfigError(
            f"unknown classifier init {classifier_init!r}; choose from {', '.join(CLASSIFIER_INITS)}"
        )
    if family == "linear":
        return LinearFocus(), LinearClassifier(num_classes)
    if family == "mlp":
        if hidden < 1:
            raise ConfigError(f"hidden width must be positive, got {hidden}")
        return MLPFocus((hidden,)), MLPClassifier(num_classes, (hidden,), classifier_init)
    if family == "cnn":
        if len(segment_shape) != 3 or min(segment_shape[:2]) < 18:
            raise ConfigError(
                f"the paper's CNNs need image segments of at least 18x18 (H, W, C), "
                f"got segment shape {tuple(segment_shape)}; use --model mlp"
            )
        return FocusCNN(), LeNetClassifier(num_classes, classifier_init)
    raise ConfigError(f"unknown model family {family!r}; choose one of {', '.join(MODEL_FAMILIES)}")
