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
    gated: the gated attention of Ilse, Tomczak & Welling (2018, attention-based deep
        multiple-instance learning): focus ``w . (tanh(V x) * sigmoid(U x))`` with
        hidden width ``hidden`` (no biases, Xavier, as the formula has none), and the mlp
        classifier. For bags of feature vectors.
    cnn: the paper's focus CNN (conv 32-64-64, fully connected 512-64-10-1, no
        bias, Xavier) and its LeNet-style classifier (conv 6-16, fully connected
        120-84-10-K). Valid convolutions, so 32x32x3 gives the paper's 1024 and
        400 flattened sizes; other image sizes give other sizes.
    embed, transformer: the authors' text models on token ids; their encoders and MLP heads
        live in [`attnjax.encoders`][].

[`make_models`][attnjax.models.make_models] returns ``(encoder, focus, classifier)``: an encoder
([`attnjax.encoders`][]) maps an example's raw segments to the representations the focus
and the classifier see; None means the segments themselves.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Float  # shape annotations; not checked at run time

from .encoders import CNNEncoder, MLPEncoder, TextClassifier, TextFocus, TokenEmbedding, TransformerEncoder
from .errors import ConfigError
from .layers import CLASSIFIER_INITS, Conv, Dense, flatten, max_pool_2x2, resolve_conv
from .protocol import (CONVS, DEFAULT_CONV, ENCODER_WIDTHS, ENCODERS, MIN_IMAGE_SIDE,
                       MODEL_FAMILIES, PRECISIONS, TEXT_FAMILIES, TRANSFORMER_HEAD_WIDTH, TRANSFORMER_HEADS,
                       TRANSFORMER_LAYERS, default_hidden)

__all__ = [
    "LinearFocus",
    "LinearClassifier",
    "MLPFocus",
    "MLPClassifier",
    "GatedFocus",
    "FocusCNN",
    "LeNetClassifier",
    "MODEL_FAMILIES",
    "PRECISIONS",
    "CONVS",
    "make_models",
]

# The paper's focus network: no bias, Xavier (Glorot) initialisation.
_xavier = nn.initializers.xavier_uniform()
def _mlp_head(x, widths, *, kernel_init, use_bias, precision):
    """Flatten, then ``Dense_0 .. Dense_{n-1}`` with ReLU between them."""
    h = flatten(x)
    for i, width in enumerate(widths):
        if i:
            h = nn.relu(h)
        h = Dense(width, kernel_init, use_bias, precision, name=f"Dense_{i}")(h)
    return h


class LinearFocus(nn.Module):
    """``f(x) = u . x`` (no bias, zero initialisation). ``[N, ...] -> [N]``."""

    precision: str = "float32"

    @nn.compact
    def __call__(self, x: Float[jax.Array, " N *segment"]) -> Float[jax.Array, " N"]:
        return _mlp_head(x, (1,), kernel_init=nn.initializers.zeros, use_bias=False,
                         precision=self.precision)[:, 0]


class LinearClassifier(nn.Module):
    """``g(x) = W x + b`` (zero initialisation). ``[N, ...] -> [N, K]``."""

    num_classes: int
    precision: str = "float32"

    @nn.compact
    def __call__(self, x: Float[jax.Array, " N *segment"]) -> Float[jax.Array, "N K"]:
        return _mlp_head(x, (self.num_classes,), kernel_init=nn.initializers.zeros,
                         use_bias=True, precision=self.precision)


class MLPFocus(nn.Module):
    """Bias-free ReLU MLP scoring a segment. ``[N, ...] -> [N]``."""

    hidden: Sequence[int] = (64,)
    precision: str = "float32"

    @nn.compact
    def __call__(self, x: Float[jax.Array, " N *segment"]) -> Float[jax.Array, " N"]:
        return _mlp_head(x, tuple(self.hidden) + (1,), kernel_init=_xavier, use_bias=False,
                         precision=self.precision)[:, 0]


class MLPClassifier(nn.Module):
    """ReLU MLP classifying a segment. ``[N, ...] -> [N, K]``."""

    num_classes: int
    hidden: Sequence[int] = (64,)
    weight_init: str = "uniform"
    precision: str = "float32"

    @nn.compact
    def __call__(self, x: Float[jax.Array, " N *segment"]) -> Float[jax.Array, "N K"]:
        return _mlp_head(x, tuple(self.hidden) + (self.num_classes,),
                         kernel_init=CLASSIFIER_INITS[self.weight_init], use_bias=True,
                         precision=self.precision)


class GatedFocus(nn.Module):
    """Gated attention (Ilse et al. 2018): ``a(x) = w . (tanh(V x) * sigmoid(U x))``. ``[N, ...] -> [N]``.

    ``V`` and ``U`` are ``[D, hidden]`` (D the flattened segment size), ``w`` ``[hidden]``;
    no biases, Xavier initialisation. The softmax over a bag's segments is taken by the
    caller, as for every focus model.
    """

    hidden: int = 64
    precision: str = "float32"

    @nn.compact
    def __call__(self, x):
        h = flatten(x)
        dense: dict[str, Any] = dict(kernel_init=_xavier, use_bias=False, precision=self.precision)
        v = jnp.tanh(Dense(self.hidden, name="V", **dense)(h))
        u = jax.nn.sigmoid(Dense(self.hidden, name="U", **dense)(h))
        return Dense(1, name="w", **dense)(v * u)[:, 0]


class FocusCNN(nn.Module):
    """The paper's focus CNN. ``[N, H, W, C] -> [N]``.

    conv 3x3 (32), max-pool 2, conv 3x3 (64), max-pool 2, conv 3x3 (64), then
    fully connected 512, 64, 10, 1; ReLU between layers; no biases; Xavier init.
    ``precision``: one of ``PRECISIONS``; ``conv``: one of ``CONVS`` (see [`make_models`][attnjax.models.make_models]).
    """

    precision: str = "float32"
    conv: str = DEFAULT_CONV

    @nn.compact
    def __call__(self, x: Float[jax.Array, "N H W C"]) -> Float[jax.Array, " N"]:
        conv: dict[str, Any] = dict(kernel_size=(3, 3), kernel_init=_xavier, use_bias=False,
                    precision=self.precision, conv=self.conv)
        h = nn.relu(max_pool_2x2(Conv(32, name="Conv_0", **conv)(x)))
        h = nn.relu(max_pool_2x2(Conv(64, name="Conv_1", **conv)(h)))
        h = nn.relu(Conv(64, name="Conv_2", **conv)(h))
        return _mlp_head(h, (512, 64, 10, 1), kernel_init=_xavier, use_bias=False,
                         precision=self.precision)[:, 0]


class LeNetClassifier(nn.Module):
    """The paper's LeNet-style classifier. ``[N, H, W, C] -> [N, K]``.

    conv 5x5 (6), max-pool 2, conv 5x5 (16), max-pool 2, then fully connected
    120, 84, 10, K with ReLU between layers. ``precision``: one of ``PRECISIONS``; ``conv``:
    one of ``CONVS`` (see [`make_models`][attnjax.models.make_models]).
    """

    num_classes: int
    weight_init: str = "uniform"
    precision: str = "float32"
    conv: str = DEFAULT_CONV

    @nn.compact
    def __call__(self, x: Float[jax.Array, "N H W C"]) -> Float[jax.Array, "N K"]:
        kernel_init = CLASSIFIER_INITS[self.weight_init]
        conv: dict[str, Any] = dict(kernel_size=(5, 5), kernel_init=kernel_init, precision=self.precision,
                                    conv=self.conv)
        h = nn.relu(max_pool_2x2(Conv(6, name="Conv_0", **conv)(x)))
        h = nn.relu(max_pool_2x2(Conv(16, name="Conv_1", **conv)(h)))
        return _mlp_head(h, (120, 84, 10, self.num_classes), kernel_init=kernel_init,
                         use_bias=True, precision=self.precision)


def make_models(
    family: str,
    *,
    num_classes: int,
    segment_shape: Sequence[int],
    hidden: int | None = None,
    classifier_init: str = "uniform",
    precision: str = "float32",
    conv: str = DEFAULT_CONV,
    encoder: str = "none",
    encoder_width: int | None = None,
    vocab_size: int | None = None,
    heads: int = TRANSFORMER_HEADS,
    layers: int = TRANSFORMER_LAYERS,
) -> tuple[nn.Module | None, nn.Module, nn.Module]:
    """The ``(encoder, focus, classifier)`` modules of one family.

    Arguments:
        family: one of ``MODEL_FAMILIES``: ``"linear"``, ``"mlp"``, ``"cnn"``, ``"gated"``, or for
            token ids ``"embed"`` (the authors' simple text model: a shared embedding, then MLP heads
            d-hidden-1 and d-hidden-K) and ``"transformer"`` (embedding, sinusoidal positions and
            masked self-attention, then the same heads).
        num_classes: K, the classifier's output size.
        segment_shape: shape of one segment (``()`` for token ids); the CNNs need ``(H, W, C)`` with
            H and W large enough for their valid convolutions (`attnjax.protocol.MIN_IMAGE_SIDE`).
        hidden: hidden width of the MLP heads (and of gated attention's V and U); default
            `attnjax.protocol.default_hidden` (200 for the text families, else 64).
        classifier_init: weight initialisation of the MLP and LeNet
            classifiers, a key of ``CLASSIFIER_INITS`` (the linear
            classifier always starts at zero, as in the paper's simple setting; the text
            families' heads use PyTorch's default, as the authors' models do).
        precision: the arithmetic of every convolution and dense layer, one of
            ``PRECISIONS``: ``"float32"`` (default; full float32 products, also on
            GPUs with TF32), ``"tensorfloat32"`` (the backend's default precision:
            TF32 on recent NVIDIA GPUs, float32 on CPU) or ``"bfloat16"`` (inputs
            and kernels cast to bfloat16, float32 accumulation, parameters and
            outputs). The parameters do not depend on it.
        conv: the CNNs' convolutions, one of ``CONVS``: ``"im2col"`` (shifted views and one
            matrix product), ``"lax"`` (``lax.conv_general_dilated``) or ``"auto"`` (default:
            ``attnjax.protocol.AUTO_CONV_RULE``, decided here from ``jax.default_backend()``, so the
            modules hold the concrete choice). The parameters do not depend on it; the outputs
            agree to float32 rounding. The other families have no convolution and ignore it.
        encoder: for the non-text families, one of ``ENCODERS``: ``"none"`` (default: the heads see
            the segments), ``"mlp"`` or ``"cnn"`` ([`attnjax.encoders`][]); the heads then see
            ``encoder_width``-dimensional representations (embedding-level attention, as in MIL).
        encoder_width: d, the representations' width (default ``ENCODER_WIDTHS``: 100 for text, 64
            for the mlp encoder, 500 for the cnn encoder).
        vocab_size: V, for the text families (token ids in ``[0, V)``).
        heads: the transformer family's attention heads (each of width
            ``TRANSFORMER_HEAD_WIDTH``).
        layers: the transformer family's layers.

    Returns:
        ``(encoder, focus_model, classifier_model)`` as Flax modules; ``encoder`` is None for
        ``encoder="none"``.

    Raises:
        ConfigError: unknown family, encoder, precision or conv, or a model that cannot take the segments.
    """

    if conv not in CONVS:  # resolved (asking JAX for its backend) only where a CNN is built
        raise ConfigError(f"unknown conv {conv!r}; choose from {', '.join(CONVS)}")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if classifier_init not in CLASSIFIER_INITS:
        raise ConfigError(
            f"unknown classifier init {classifier_init!r}; choose from {', '.join(CLASSIFIER_INITS)}"
        )
    if family not in MODEL_FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; choose one of {', '.join(MODEL_FAMILIES)}")
    if encoder not in ENCODERS:
        raise ConfigError(f"unknown encoder {encoder!r}; choose from {', '.join(ENCODERS)}")
    hidden = default_hidden(family) if hidden is None else hidden
    if hidden < 1:
        raise ConfigError(f"hidden width must be positive, got {hidden}")
    text = family in TEXT_FAMILIES
    encoded = text or encoder != "none"  # the heads see an encoder's width-d representations
    width = 0 if not encoded else ENCODER_WIDTHS[family if text else encoder] if encoder_width is None \
        else encoder_width
    if encoded and width < 1:
        raise ConfigError(f"the encoder width must be positive, got {width}")
    if text != (vocab_size is not None):
        raise ConfigError(f"the {family} model takes token ids (the text data sets); the text data sets take "
                          f"the {' or '.join(TEXT_FAMILIES)} model" if text else
                          f"token ids (the text data sets) need the {' or '.join(TEXT_FAMILIES)} model, not {family}",
                          field="model")
    encoder_module: nn.Module | None = None
    if text:
        assert vocab_size is not None  # checked above
        if encoder != "none":
            raise ConfigError(f"an encoder does not apply to the {family} model (its encoder is the token embedding)",
                              field="encoder")
        if family == "transformer":
            if width % 2:
                raise ConfigError(f"the transformer's width must be even (sinusoidal positions), got {width}")
            if heads < 1 or layers < 1:
                raise ConfigError(f"the transformer needs at least one head and one layer, got {heads} and {layers}")
            encoder_module = TransformerEncoder(vocab_size, width, heads, TRANSFORMER_HEAD_WIDTH, layers)
        else:
            encoder_module = TokenEmbedding(vocab_size, width)
        return encoder_module, TextFocus(hidden), TextClassifier(num_classes, hidden)
    if encoder == "mlp":
        encoder_module = MLPEncoder(width, precision)
    elif encoder == "cnn":
        side = MIN_IMAGE_SIDE["cnn encoder"]
        if len(segment_shape) != 3 or min(segment_shape[:2]) < side:
            raise ConfigError(f"the cnn encoder needs image segments of at least {side}x{side} (H, W, C), "
                              f"got segment shape {tuple(segment_shape)}; use the mlp encoder", field="encoder")
        encoder_module = CNNEncoder(width, precision, resolve_conv(conv))
    if encoder_module is not None:
        if family == "cnn":
            raise ConfigError(f"the cnn model takes images, but the {encoder} encoder gives it {width}-wide vectors; "
                              "use the mlp, gated or linear model on the encoder's features", field="model")
        segment_shape = (width,)
    if family == "linear":
        return encoder_module, LinearFocus(precision), LinearClassifier(num_classes, precision)
    if family == "mlp":
        return (encoder_module, MLPFocus((hidden,), precision),
                MLPClassifier(num_classes, (hidden,), classifier_init, precision))
    if family == "gated":
        return (encoder_module, GatedFocus(hidden, precision),
                MLPClassifier(num_classes, (hidden,), classifier_init, precision))
    side = MIN_IMAGE_SIDE["cnn"]
    if len(segment_shape) != 3 or min(segment_shape[:2]) < side:
        raise ConfigError(
            f"the paper's CNNs need image segments of at least {side}x{side} (H, W, C), "
            f"got segment shape {tuple(segment_shape)}; use the mlp model", field="model"
        )
    conv = resolve_conv(conv)
    return None, FocusCNN(precision, conv), LeNetClassifier(num_classes, classifier_init, precision, conv)
