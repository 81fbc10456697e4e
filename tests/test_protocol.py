"""The paper protocol and its pieces, checked against independent transcriptions."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_softmax

from attnjax.data import load_dataset, load_orthogonal
from attnjax.losses import LOSSES, loss_at_attention, lvml_loss
from attnjax.protocol import PROTOCOLS
from reference_loop import reference_run
from attnjax.train import Hyper, TrainConfig, make_apply, make_train


# --------------------------------------------------------------------------- LVML in log space


def _lvml_reference(weights, log_p):
    """-log sum_j w_j exp(log p_j) in float64, shifted by hand (NumPy, not the library)."""
    weights, log_p = np.asarray(weights, np.float64), np.asarray(log_p, np.float64)
    used = weights > 0
    top = np.max(np.where(used, log_p, -np.inf), axis=-1, keepdims=True)
    return -(top[..., 0] + np.log(np.sum(np.where(used, weights * np.exp(log_p - top), 0.0), axis=-1)))


@pytest.mark.parametrize("label_log_prob", [-1.0, -120.0, -700.0, -3000.0])
def test_lvml_at_attention_is_finite_for_a_confident_classifier(label_log_prob):
    """log p = -120 for the label gave inf before (linear-space sum); now it is 120 exactly."""
    K = 3
    # Classifier logits that make log softmax(g(x))_0 = label_log_prob on every segment.
    logits = jnp.array([label_log_prob, 0.0, -np.inf], jnp.float32)
    classify = lambda x: jnp.broadcast_to(logits, (x.shape[0], K))
    segments = jnp.zeros((4, 5, 2))
    labels = jnp.zeros(4, jnp.int32)
    weights = np.array([
        [0.2, 0.2, 0.2, 0.2, 0.2],
        [1.0, 0.0, 0.0, 0.0, 0.0],      # exact zeros must drop out
        [0.6, 0.1, 0.1, 0.1, 0.1],
        [0.0, 0.0, 0.5, 0.0, 0.5],
    ], np.float32)
    got = np.asarray(loss_at_attention("lvml", jnp.asarray(weights), segments, labels, classify))
    log_p = np.full((4, 5), log_softmax(np.asarray(logits, np.float64))[0])
    want = _lvml_reference(weights, log_p)
    assert np.all(np.isfinite(got))
    # float32 arithmetic on numbers of size |log p|: relative 1e-6.
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_lvml_at_attention_matches_the_logit_loss_at_extremes():
    """Mixed per-segment log-probabilities from -2000 to 0, weights with zeros, against lvml_loss."""
    rng = np.random.default_rng(0)
    B, m, K = 16, 6, 4
    seg_logits = rng.uniform(-1000, 1000, (B, m, K)).astype(np.float32)
    segments = jnp.asarray(seg_logits)  # the "classifier" reads the logits off the segment
    classify = lambda x: x
    labels = jnp.asarray(rng.integers(0, K, B), jnp.int32)
    weights = rng.dirichlet(np.ones(m), B).astype(np.float32)
    weights[rng.random((B, m)) < 0.3] = 0.0
    weights[:, 0] += 1e-3
    weights /= weights.sum(1, keepdims=True)
    got = np.asarray(loss_at_attention("lvml", jnp.asarray(weights), segments, labels, classify))
    log_p = log_softmax(seg_logits.astype(np.float64), axis=-1)
    log_p = np.take_along_axis(log_p, np.asarray(labels)[:, None, None].repeat(m, 1), -1)[..., 0]
    np.testing.assert_allclose(got, _lvml_reference(weights, log_p), rtol=1e-5, atol=1e-3)
    with np.errstate(divide="ignore"):
        by_logits = lvml_loss(jnp.log(jnp.asarray(weights)), segments, labels, classify)
    np.testing.assert_allclose(got, np.asarray(by_logits), rtol=1e-5, atol=1e-3)


# --------------------------------------------------------------------------- the hybrid as two runs


def _two_run_reference(config, key, lr, data, switch, reset):
    """The hybrid written out by hand (``tests/reference_loop.py``): soft for ``switch`` epochs,
    then the second loss; with ``reset`` the second phase starts a fresh optimizer, as the
    authors' second run."""
    focus_fn, classify_fn = make_apply(config)

    def batch_loss(p, segments, labels, fg_pos, epoch, sample_key, baseline):
        flat = segments.reshape((-1,) + segments.shape[2:])
        logits = focus_fn(p)(flat).reshape(segments.shape[:2])
        loss = LOSSES["soft" if epoch < switch else config.hybrid_to]
        return jnp.mean(loss(logits, segments, labels, classify_fn(p)))

    params, _ = reference_run(config, key, lr, data, batch_loss, momentum=config.momentum,
                              reset_at=switch if reset else None)
    return params


@pytest.mark.parametrize("reset", [False, True])
def test_hybrid_equals_soft_then_second_run(reset):
    data, info = load_orthogonal(num_classes=3, m=3, n_train=12, n_test=6, noise=0.1,
                                 random_position=True, seed=1)
    config = TrainConfig.for_data(info, loss="hybrid", epochs=5, batch_size=4, model="mlp", hidden=6,
                                  hybrid_reset=reset)
    key, lr, switch = jax.random.key(3), 0.3, 2
    got = jax.jit(make_train(config))(key, Hyper(learning_rate=lr, switch_epoch=switch), data).params
    want = _two_run_reference(config, key, lr, data, switch, reset)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), got, want)
    # A switch one epoch late, or no reset, gives different parameters: the test can fail.
    late = _two_run_reference(config, key, lr, data, switch + 1, reset)
    other = _two_run_reference(config, key, lr, data, switch, not reset)
    for wrong in (late, other):
        gap = max(float(np.max(np.abs(a - b))) for a, b in
                  zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(wrong)))
        assert gap > 1e-4


def test_switch_epoch_grid_is_one_program():
    """The switch epoch is traced: a grid of switches times seeds compiles once."""
    data, info = load_orthogonal(num_classes=3, m=3, n_train=12, n_test=6, seed=0)
    config = TrainConfig.for_data(info, loss="hybrid", epochs=4, batch_size=4)
    traces = []
    train = make_train(config)

    def counted(*args):
        traces.append(1)
        return train(*args)

    run = jax.jit(jax.vmap(counted, in_axes=(0, 0, None)))
    switches = jnp.array([0, 1, 2, 3, 4, 0, 2, 4])
    keys = jax.random.split(jax.random.key(0), 8)
    first = run(keys, Hyper.tile(8, 0.1, switch_epoch=switches), data)
    run(keys, Hyper.tile(8, 0.2, switch_epoch=switches[::-1]), data)
    assert len(traces) == 1
    # switch 0 is pure hard attention and switch 4 (= epochs) pure soft attention.
    for loss, s in (("hard", 0), ("soft", 4)):
        plain = TrainConfig.for_data(info, loss=loss, epochs=4, batch_size=4)
        ref = jax.jit(make_train(plain))(keys[s], Hyper(learning_rate=0.1), data)
        np.testing.assert_allclose(first.history.loss[s], ref.history.loss, rtol=1e-5)


# --------------------------------------------------------------------------- data pieces


def test_paper_data_choices():
    base, _ = load_dataset("digits", n_train=400, n_test=100, seed=0)
    data, info = load_dataset("digits", n_train=400, n_test=100, seed=0, protocol="paper")
    assert info.settings["bg_replacement"] is True and info.settings["pixel_range"] == [-1.0, 1.0]
    np.testing.assert_allclose(np.asarray(data.pool), 2 * np.asarray(base.pool) - 1, atol=1e-6)
    assert np.asarray(data.pool).min() >= -1 and np.asarray(data.pool).max() <= 1
    # With replacement, repeated backgrounds occur (7 background classes, ~1250 images: a
    # mosaic of 4 draws repeats with probability ~0.5%; over 400 mosaics, almost surely some).
    big, _ = load_dataset("digits", n_train=4000, n_test=100, seed=0, bg_replacement=True, fg="0",
                          bg="1")
    index, fg = np.asarray(big.train.index), np.asarray(big.train.fg_pos)
    bgs = [np.delete(row, f) for row, f in zip(index, fg)]
    assert any(len(set(b)) < len(b) for b in bgs)
    no_repeat, _ = load_dataset("digits", n_train=4000, n_test=100, seed=0, fg="0", bg="1")
    index, fg = np.asarray(no_repeat.train.index), np.asarray(no_repeat.train.fg_pos)
    assert all(len(set(np.delete(r, f))) == len(r) - 1 for r, f in zip(index, fg))
    first, _ = load_dataset("digits", n_train=50, n_test=20, fg_first=True)
    assert not np.any(np.asarray(first.train.fg_pos)) and not np.any(np.asarray(first.test.fg_pos))


def test_paper_orthogonal_noise_has_the_authors_variance():
    data, info = load_dataset("orthogonal", n_train=2000, n_test=20, m=5, protocol="paper")
    index, fg = np.asarray(data.train.index), np.asarray(data.train.fg_pos)
    bg_rows = index[np.arange(index.shape[1])[None, :] != fg[:, None]]
    last = np.asarray(data.pool)[bg_rows, -1]
    # The authors' background covariance is 1e-2 in the last coordinate; 8000 draws give the
    # sample variance to about +-3.2% (2 standard errors).
    assert abs(last.var() / 1e-2 - 1) < 0.05


# --------------------------------------------------------------------------- the command


def _run_cli(*args):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "attnjax.cli", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def _nulls(tree, path=""):
    if tree is None:
        return [path]
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in _nulls(v, f"{path}[{i}]")]
    return []


def test_signature_under_the_paper_protocol(tmp_path):
    out = tmp_path / "sig"
    proc = _run_cli("signature", "--protocol", "paper", "--dataset", "digits", "--n-train", "600",
                    "--n-test", "200", "--epochs", "3", "--seeds", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "signature.json").read_text())
    for loss, maps in doc["heatmaps"].items():
        for convention in ("own", "pooled"):
            assert np.sum(maps[convention]) == pytest.approx(100.0, abs=1e-6), (loss, convention)
    # Soft attention's own rule is the pooled rule: the two heatmaps are the same.
    np.testing.assert_array_equal(doc["heatmaps"]["soft"]["own"], doc["heatmaps"]["soft"]["pooled"])
    assert doc["shown"] == "pooled"
    config = doc["config"]
    paper = PROTOCOLS["paper"]
    assert config["protocol"]["name"] == "paper"
    hybrid = config["paradigms"]["hybrid"]
    # --epochs 3 under the paper protocol: soft 3 epochs, then a separate 3-epoch hard run.
    assert (hybrid["epochs"], hybrid["switch_epoch"], hybrid["hybrid_reset"]) == (6, 3, True)
    for p in config["paradigms"].values():
        assert p["learning_rate"] == pytest.approx(paper.learning_rate)
        assert p["batch_size"] == paper.batch_size and p["classifier_init"] == "xavier"
    assert config["data"]["settings"]["bg_replacement"] is True
    assert config["data"]["settings"]["pixel_range"] == [-1.0, 1.0]
    assert config["versions"]["attnjax"] and config["versions"]["jax"]
    assert _nulls(config) == []
