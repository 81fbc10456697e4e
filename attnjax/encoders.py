"""Encoders: what maps an example's raw segments to the representations attention works on.

An encoder is a Flax module ``encoder(segments [B, m, *raw], mask [B, m]) -> [B, m, d]``
that treats each example on its own: example b's representations depend only on its own
segments, and never on a padded one (``mask`` False). The focus scores the
representations, soft attention pools them (``g(sum_j alpha_j e_j)``), hard attention and
LVML classify each one (``g(e_j)``); focus and classifier train the encoder together.
No encoder (``None``, the default for images and bags) means the representations are the
segments themselves, and every number is what it was before encoders existed.

Encoders here:
    MLPEncoder: one ReLU layer per segment, ``relu(W x + b)``, for bags of feature vectors.
    CNNEncoder: AttentionDeepMIL's feature extractor (Ilse et al. 2018): conv 5x5 (20),
        max-pool 2, conv 5x5 (50), max-pool 2, then a ReLU layer of ``width`` (their 500).
    TokenEmbedding: token ids to embeddings (the authors' simple text model).
    TransformerEncoder: an embedding, sinusoidal positional encoding, then masked
        multi-head self-attention layers (the authors' transformer-based text model).

The text models' heads ([`TextFocus`][attnjax.encoders.TextFocus], [`TextClassifier`][attnjax.encoders.TextClassifier]) are the authors' MLPs
with PyTorch's default initialisation ([`TorchDense`][attnjax.encoders.TorchDense]).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Bool, Float, Int  # shape annotations; not checked at run time

from .layers import CLASSIFIER_INITS, Conv, Dense, max_pool_2x2
from .protocol import DEFAULT_CONV, TRANSFORMER_HEAD_WIDTH, TRANSFORMER_HEADS, TRANSFORMER_LAYERS

__all__ = ["TorchDense", "MLPEncoder", "CNNEncoder", "TokenEmbedding", "TransformerEncoder", "TextFocus",
           "TextClassifier", "sinusoidal_encoding", "PAD_ID"]

#: The token id of padding (``attnjax.data.text``): its embedding is zero, as with
#: PyTorch's ``nn.Embedding(padding_idx=0)``.
PAD_ID = 0


def _torch_bias(fan_in: int):
    """PyTorch's ``nn.Linear`` bias initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


class TorchDense(nn.Module):
    """A dense layer initialised as PyTorch's ``nn.Linear``: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    ``[..., fan_in] -> [..., features]``; parameters ``kernel [fan_in, features]`` and ``bias``.
    """

    features: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        kernel = self.param("kernel", CLASSIFIER_INITS["uniform"], (fan_in, self.features), jnp.float32)
        y = jnp.dot(x, kernel, precision=jax.lax.Precision.HIGHEST)
        if self.use_bias:
            y = y + self.param("bias", _torch_bias(fan_in), (self.features,), jnp.float32)
        return y


class MLPEncoder(nn.Module):
    """``e = relu(W x + b)`` per segment, ``W`` ``[D, width]`` (D the flattened segment size).

    ``[B, m, *raw], [B, m] -> [B, m, width]``; PyTorch-style uniform weights, zero bias.
    """

    width: int = 64
    precision: str = "float32"

    @nn.compact
    def __call__(self, x: Float[jax.Array, "B m *raw"], mask: Bool[jax.Array, "B m"]) -> Float[jax.Array, "B m d"]:
        batch, m = x.shape[:2]
        h = Dense(self.width, CLASSIFIER_INITS["uniform"], True, self.precision, name="Dense_0")(
            x.reshape(batch * m, -1))
        return nn.relu(h).reshape(batch, m, self.width)


class CNNEncoder(nn.Module):
    """AttentionDeepMIL's feature extractor per segment. ``[B, m, H, W, C], [B, m] -> [B, m, width]``.

    conv 5x5 (20), max-pool 2, ReLU, conv 5x5 (50), max-pool 2, ReLU, flatten, dense ``width``, ReLU
    (Ilse et al. 2018, their MNIST-bags model). Valid convolutions: images of at least 16x16.
    """

    width: int = 500
    precision: str = "float32"
    conv: str = DEFAULT_CONV

    @nn.compact
    def __call__(self, x: Float[jax.Array, "B m H W C"], mask: Bool[jax.Array, "B m"]) -> Float[jax.Array, "B m d"]:
        batch, m = x.shape[:2]
        init = CLASSIFIER_INITS["uniform"]
        conv: dict[str, Any] = dict(kernel_size=(5, 5), kernel_init=init, precision=self.precision, conv=self.conv)
        h = x.reshape((batch * m,) + x.shape[2:])
        h = nn.relu(max_pool_2x2(Conv(20, name="Conv_0", **conv)(h)))
        h = nn.relu(max_pool_2x2(Conv(50, name="Conv_1", **conv)(h)))
        h = Dense(self.width, init, True, self.precision, name="Dense_0")(h.reshape(batch * m, -1))
        return nn.relu(h).reshape(batch, m, self.width)


class TokenEmbedding(nn.Module):
    """Token ids to ``width``-dimensional embeddings, N(0, 1) initialised; padding (id 0) embeds to zero.

    ``[B, L] int, [B, L] -> [B, L, width]``: PyTorch's ``nn.Embedding(V, width, padding_idx=0)``,
    whose padding row is zero and receives no gradient.
    """

    vocab_size: int
    width: int = 100

    @nn.compact
    def __call__(self, ids: Int[jax.Array, "B L"], mask: Bool[jax.Array, "B L"]) -> Float[jax.Array, "B L d"]:
        table = self.param("embedding", nn.initializers.normal(1.0), (self.vocab_size, self.width), jnp.float32)
        return jnp.where((ids == PAD_ID)[..., None], 0.0, jnp.take(table, ids, axis=0))


def sinusoidal_encoding(length: int, width: int) -> jax.Array:
    r"""The sinusoidal positional encoding ``[length, width]`` of Vaswani et al. (2017).

    .. math::
        PE_{p, 2i} = \sin(p / 10000^{2i / d}), \qquad PE_{p, 2i + 1} = \cos(p / 10000^{2i / d})

    for positions ``p = 0 .. length - 1`` (``width`` even).
    """
    position = jnp.arange(length, dtype=jnp.float32)[:, None]
    frequency = jnp.exp(jnp.arange(0, width, 2, dtype=jnp.float32) * (-math.log(10000.0) / width))
    angles = position * frequency
    return jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(length, width)


class _SelfAttention(nn.Module):
    """One masked multi-head self-attention layer with a residual connection, as the authors wrote it.

    ``q, k, v = x Wq, x Wk, x Wv`` (no biases, ``heads`` heads of ``head_width``), scores
    ``q . k / sqrt(d)`` (their scaling of q and k by ``d**(1/4)`` each, d the model width),
    padding keys excluded, then ``x + U concat(heads)`` (U with a bias). No layer norm, no
    feed-forward block, no dropout.
    """

    heads: int
    head_width: int

    @nn.compact
    def __call__(self, x, mask):
        batch, length, width = x.shape

        def project(name):
            return TorchDense(self.heads * self.head_width, use_bias=False, name=name)(x).reshape(
                batch, length, self.heads, self.head_width)

        q, k, v = project("query"), project("key"), project("value")
        scores = jnp.einsum("bqhc,bkhc->bhqk", q, k, precision=jax.lax.Precision.HIGHEST) / math.sqrt(width)
        scores = jnp.where(mask[:, None, None, :], scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1)
        context = jnp.einsum("bhqk,bkhc->bqhc", weights, v, precision=jax.lax.Precision.HIGHEST)
        return x + TorchDense(width, name="unify")(context.reshape(batch, length, self.heads * self.head_width))


class TransformerEncoder(nn.Module):
    """Embedding, sinusoidal positions, then ``layers`` masked self-attention layers. ``[B, L] -> [B, L, width]``.

    Padding is excluded as a key of every attention, so it never changes a real token's representation.
    """

    vocab_size: int
    width: int = 100
    heads: int = TRANSFORMER_HEADS
    head_width: int = TRANSFORMER_HEAD_WIDTH
    layers: int = TRANSFORMER_LAYERS

    @nn.compact
    def __call__(self, ids: Int[jax.Array, "B L"], mask: Bool[jax.Array, "B L"]) -> Float[jax.Array, "B L d"]:
        x = TokenEmbedding(self.vocab_size, self.width, name="embed")(ids, mask)
        x = x + sinusoidal_encoding(ids.shape[1], self.width)[None]
        for i in range(self.layers):
            x = _SelfAttention(self.heads, self.head_width, name=f"attention_{i}")(x, mask)
        return x


class TextFocus(nn.Module):
    """The authors' text focus: ``w2 . relu(W1 e + b1) + b2``. ``[N, d] -> [N]``."""

    hidden: int = 200

    @nn.compact
    def __call__(self, e: Float[jax.Array, "N d"]) -> Float[jax.Array, " N"]:
        return TorchDense(1, name="fc2")(nn.relu(TorchDense(self.hidden, name="fc1")(e)))[:, 0]


class TextClassifier(nn.Module):
    """The authors' text classifier: ``W2 relu(W1 e + b1) + b2``. ``[N, d] -> [N, K]``."""

    num_classes: int
    hidden: int = 200

    @nn.compact
    def __call__(self, e: Float[jax.Array, "N d"]) -> Float[jax.Array, "N K"]:
        return TorchDense(self.num_classes, name="fc2")(nn.relu(TorchDense(self.hidden, name="fc1")(e)))
