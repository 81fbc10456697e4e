"""The shared text encoder learns through both heads, and padding embeds to zero.

* The gradient of the batch loss along a random direction in the encoder's parameters is
  checked against a central finite difference of the same loss (float64): a gradient path
  that is cut (a ``stop_gradient`` on the representations the classifier sees) leaves the
  loss's value unchanged, so the difference of values still measures the whole derivative
  while autodiff would miss the cut part.
* The authors' ``nn.Embedding(..., padding_idx=0)`` makes every padding embedding zero and
  gives the padding row no gradient; the encoder's output at every padding position is
  checked to be exactly 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.config import Hyper, TrainConfig
from attnjax.encoders import PAD_ID, TokenEmbedding
from attnjax.focus import init_params, make_encode
from attnjax.train import make_batch_loss

V, L, K, B = 23, 7, 3, 5


def _posts(seed=0):
    """B posts of 3..L token ids with padding (id 0) at the end, their mask and labels; at least one
    post is padded."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, L + 1, B)
    lengths[0] = 3
    mask = np.arange(L)[None] < lengths[:, None]
    ids = np.where(mask, rng.integers(1, V, (B, L)), PAD_ID).astype(np.int32)
    return ids, mask, (np.arange(B) % K).astype(np.int32)


def _config(model, loss):
    return TrainConfig(loss=loss, model=model, num_classes=K, m=L, segment_shape=(), vocab_size=V, hidden=16,
                       encoder_width=8 if model == "embed" else 100)


@pytest.mark.parametrize("loss", ["soft", "hard"])
@pytest.mark.parametrize("model", ["embed", "transformer"])
def test_the_encoder_gradient_matches_a_central_difference(model, loss):
    """d/dh loss(theta + h v) at h = 0 for a random unit direction v in the encoder's parameters:
    jax.grad . v against (loss(theta + h v) - loss(theta - h v)) / (2 h), h = 1e-5, in float64.

    Error budget of the central difference: truncation h^2/6 |loss'''| (below 1e-10 for third
    derivatives of order 1-10) plus rounding about 2 eps |loss| / (2 h), 2.2e-16 * 1.1 / 1e-5 = 3e-11
    for a loss near log 3. The tolerance, 1e-9 absolute plus 1e-6 relative, is above both (the
    measured gaps are 1e-11 to 2e-11) and far below what a cut gradient path changes: without the
    classifier's path the directional derivatives here are off by 4.5e-4 to 2.5e-3, one to four
    times their size."""
    ids, mask, labels = _posts()
    config = _config(model, loss)
    batch_loss = make_batch_loss(config)
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), init_params(config, jax.random.key(2)))
        leaves, treedef = jax.tree_util.tree_flatten(params["encoder"])
        rng = np.random.default_rng(7)
        direction = [rng.normal(size=x.shape) for x in leaves]
        norm = np.sqrt(sum(np.sum(d ** 2) for d in direction))
        direction = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(d / norm) for d in direction])
        args = (jnp.asarray(ids), jnp.zeros(B, jnp.int32), jnp.asarray(mask), jnp.asarray(labels),
                jax.random.key(0), (), jnp.int32(0))

        def at(h, encoder):
            moved = jax.tree_util.tree_map(lambda p, d: p + h * d, encoder, direction)
            return batch_loss(dict(params, encoder=moved), Hyper(), *args)

        grad = jax.grad(lambda e: at(0.0, e))(params["encoder"])
        along = sum(float(jnp.vdot(g, d)) for g, d in zip(jax.tree_util.tree_leaves(grad),
                                                          jax.tree_util.tree_leaves(direction)))
        h = 1e-5
        difference = (float(at(h, params["encoder"])) - float(at(-h, params["encoder"]))) / (2 * h)
    assert abs(difference) > 1e-5  # a direction the loss does move along (10^4 times the tolerance)
    print(f"{model} {loss}: grad . v = {along:.12g}, central difference = {difference:.12g}")
    assert along == pytest.approx(difference, rel=1e-6, abs=1e-9), (along, difference)


@pytest.mark.parametrize("model", ["embed", "transformer"])
def test_padding_embeds_to_exactly_zero_and_its_row_gets_no_gradient(model):
    """The embedding at every padding position is exactly 0, whatever the table's row 0 holds; for
    ``embed`` that is the encoder's output itself (the transformer adds positions and attention on
    top of its embedding, so its embedding layer is checked). The padding row gets a zero gradient."""
    ids, mask, labels = _posts(1)
    assert (~mask).any()
    config = _config(model, "soft")
    params = init_params(config, jax.random.key(3))
    table_path = ("params", "embedding") if model == "embed" else ("params", "embed", "embedding")
    table = params["encoder"]
    for k in table_path:
        table = table[k]
    assert np.abs(np.asarray(table[PAD_ID])).min() > 0  # row 0 itself is an ordinary N(0, 1) draw
    if model == "embed":
        reps = np.asarray(make_encode(config)(params, jnp.asarray(ids), jnp.asarray(mask)))
    else:
        layer = TokenEmbedding(V, 100)
        reps = np.asarray(layer.apply({"params": {"embedding": table}}, jnp.asarray(ids), jnp.asarray(mask)))
    assert reps.shape[:2] == (B, L)
    assert np.all(reps[~mask] == 0.0), np.abs(reps[~mask]).max()
    assert np.all(np.any(reps[mask] != 0.0, axis=-1))  # real tokens are not zero

    loss = make_batch_loss(config)
    grad = jax.grad(loss)(params, Hyper(), jnp.asarray(ids), jnp.zeros(B, jnp.int32), jnp.asarray(mask),
                          jnp.asarray(labels), jax.random.key(0), (), jnp.int32(0))["encoder"]
    for k in table_path:
        grad = grad[k]
    assert np.all(np.asarray(grad[PAD_ID]) == 0.0)
    assert np.any(np.asarray(grad[ids[mask]]) != 0.0)  # the real tokens' rows do learn
