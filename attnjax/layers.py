"""The layers attnjax's networks are built from: dense and convolutional layers at a chosen precision,
im2col convolutions, 2x2 max pooling, and the classifiers' weight initialisations.

[`attnjax.models`][] (the focus and classification families) and [`attnjax.encoders`][] (the encoders
and text models) both build on this module, so neither imports the other's internals.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from .errors import ConfigError
from .protocol import CLASSIFIER_INIT_NAMES, CONVS, DEFAULT_CONV, auto_conv

__all__ = ["CLASSIFIER_INITS", "Conv", "Dense", "flatten", "im2col", "max_pool_2x2", "resolve_conv"]

# Classifier weight initialisations (biases start at zero under both):
#   "uniform": PyTorch's default weight scale, kaiming_uniform(a=sqrt(5)) =
#       U(-1/sqrt(fan_in), 1/sqrt(fan_in)); attnjax's default protocol.
#   "xavier": Xavier (Glorot) normal, N(0, 2 / (fan_in + fan_out)), untruncated as
#       torch.nn.init.xavier_normal_ draws it (flax's xavier_normal is a truncated
#       normal), the authors' LeNet classifier. Their models.py is missing from
#       their repository; this follows a copy of it with the exact class
#       signatures their scripts import, found in another public repository
#       (see the table of differences in docs/protocol.md).
CLASSIFIER_INITS = {
    "uniform": nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
    "xavier": nn.initializers.variance_scaling(1.0, "fan_avg", "normal"),
}
assert tuple(CLASSIFIER_INITS) == CLASSIFIER_INIT_NAMES


def flatten(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1)


# ``PRECISIONS`` (``make_models(precision=...)``): how convolutions and dense layers compute.
#   float32: float32 products at full precision (``lax.Precision.HIGHEST``).
#   tensorfloat32: ``lax.Precision.DEFAULT``; TF32 tensor cores on recent NVIDIA
#       GPUs, plain float32 on CPU.
#   bfloat16: inputs and kernels cast to bfloat16, products accumulated in float32;
#       parameters, activations between layers and outputs stay float32.


def _operands(x: jax.Array, kernel: jax.Array, precision: str):
    """``(x, kernel, lax_precision)`` of a product in the arithmetic ``precision`` names."""
    if precision == "bfloat16":
        return x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16), None
    if precision == "tensorfloat32":
        return x, kernel, jax.lax.Precision.DEFAULT
    return x, kernel, jax.lax.Precision.HIGHEST


def _dot(x: jax.Array, kernel: jax.Array, precision: str) -> jax.Array:
    """``x @ kernel`` over x's last axis, in the arithmetic ``precision`` names (float32 out)."""
    x, kernel, lax_precision = _operands(x, kernel, precision)
    return jax.lax.dot_general(
        x, kernel, (((x.ndim - 1,), (0,)), ((), ())), precision=lax_precision,
        preferred_element_type=jnp.float32,
    )


# ----------------------------------------------------------------------------- the CNNs
#
# On CPU the CNNs are written out as matrix products rather than with ``nn.Conv`` and
# ``nn.max_pool``, because XLA:CPU runs those slowly (benchmarks/README.md,
# "Making the CNNs fast"): its convolution weight gradient was up to 4x slower than
# PyTorch's, and the max-pool's backward pass (a select-and-scatter fed by
# four index-tracking reductions) cost as much as the convolutions. Here:
#
# * a convolution is im2col + one matrix product: the ``kh * kw`` shifted views of
#   the input are concatenated along the channel axis (``[N, H', W', kh*kw*C]``) and
#   multiplied by the kernel reshaped to ``[kh*kw*C, O]``. Its weight gradient is
#   then one matrix product over the patches, and under ``vmap`` over seeds the
#   products become batched matrix products (or, for the shared input of the
#   first layer, one product with the seeds folded into the output channels)
#   instead of grouped convolutions.
# * a 2x2 max-pool is a reshape and a max over the two window axes (an odd trailing
#   row or column is dropped, as a VALID pool does), applied before the ReLU:
#   ``max(relu(x)) == relu(max(x))``, on a quarter of the elements. Its gradient
#   goes to the window's maximum; where the maximum is tied, JAX's max splits the
#   gradient evenly between the tied entries, where ``nn.max_pool`` sends it all to
#   one of them. Ties between positive values are the only case in which the two
#   differ (a tie at or below zero gets no gradient through the ReLU either way).
#
# On GPUs and TPUs a convolution is ``lax.conv_general_dilated`` instead (``conv="lax"``,
# which ``conv="auto"`` picks there: cuDNN's convolutions beat the im2col copies); the
# pools are the same reshape-and-max on every path. Both paths have one parameter tree.
#
# The parameter tree is the one ``nn.Conv`` / ``nn.Dense`` would make (same names,
# shapes, initialisers and hence the same initial values for the same key):
# ``Conv_i/kernel [kh, kw, C, O]`` (+ ``bias [O]``), ``Dense_i/kernel [in, out]``
# (+ ``bias [out]``), features flattened in (H, W, C) order.

def im2col(x: jax.Array, kernel_size: tuple[int, int]) -> jax.Array:
    """VALID patches of ``[N, H, W, C]``: ``[N, H-kh+1, W-kw+1, kh*kw*C]``, (i, j, c) order."""
    kh, kw = kernel_size
    _, h, w, _ = x.shape
    ho, wo = h - kh + 1, w - kw + 1
    views = [x[:, i:i + ho, j:j + wo, :] for i in range(kh) for j in range(kw)]
    return jnp.concatenate(views, axis=-1)


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2, stride-2 VALID max-pool of ``[N, H, W, C]`` by reshape and max."""
    n, h, w, c = x.shape
    x = x[:, : h - h % 2, : w - w % 2, :]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def resolve_conv(conv: str) -> str:
    """The convolution ``conv`` names on this backend.

    Arguments:
        conv: one of ``CONVS``.

    Returns:
        ``"im2col"`` or ``"lax"``: ``conv`` itself, or for ``"auto"`` the choice for
        ``jax.default_backend()`` (`attnjax.protocol.auto_conv`).

    Raises:
        ConfigError: not one of ``CONVS``.
    """
    if conv not in CONVS:
        raise ConfigError(f"unknown conv {conv!r}; choose from {', '.join(CONVS)}")
    return auto_conv(jax.default_backend()) if conv == "auto" else conv


class Conv(nn.Module):
    """VALID, stride-1 convolution (im2col + matrix product, or ``lax.conv_general_dilated``); ``nn.Conv``'s
    parameters."""

    features: int
    kernel_size: tuple[int, int]
    kernel_init: Any
    use_bias: bool = True
    precision: str = "float32"
    conv: str = DEFAULT_CONV

    @nn.compact
    def __call__(self, x):
        shape = tuple(self.kernel_size) + (x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        if resolve_conv(self.conv) == "lax":
            lhs, rhs, lax_precision = _operands(x, kernel, self.precision)
            y = jax.lax.conv_general_dilated(
                lhs, rhs, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax_precision,
                preferred_element_type=jnp.float32)
        else:
            if self.precision == "bfloat16":
                x = x.astype(jnp.bfloat16)  # before im2col: the patches are half the size
            y = _dot(im2col(x, self.kernel_size), kernel.reshape(-1, self.features), self.precision)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y


class Dense(nn.Module):
    """``nn.Dense``'s parameters and result, computed in the arithmetic of ``precision``."""

    features: int
    kernel_init: Any
    use_bias: bool = True
    precision: str = "float32"

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        y = _dot(x, kernel, self.precision)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y
