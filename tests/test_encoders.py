"""The encoder stage: text as token ids, the authors' two text models, and embedding-level MIL.

Every expected value is computed here in NumPy (float64) from the parameters attnjax
initialised or trained: the authors' simple model and transformer layer are transcribed
from their PyTorch code (HateXplain/Simple, HateXplain/transformer-based; the layer as they
meant it, each post masking its own padding, where their mask is tiled in the wrong order), AttentionDeepMIL's
pooling from its formula. The models compute in float32 (HIGHEST precision); with values of
order 1 and sums over at most a few hundred terms, float32 rounding stays below 1e-5
relative, the tolerance used.
"""

import json
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attnjax.config import Hyper, TrainConfig
from attnjax.data import load_dataset
from attnjax.encoders import sinusoidal_encoding
from attnjax.errors import ConfigError
from attnjax.experiments import compare
from attnjax.focus import init_params, make_encode
from attnjax.train import make_batch_loss
from conftest import run_cli

RTOL = 1e-5
V, L, K, B = 23, 7, 3, 5


def _ids(seed=0):
    """B posts of 3..L token ids (padding, id 0, at the end), labels and mask."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, L + 1, B)
    mask = np.arange(L)[None] < lengths[:, None]
    ids = np.where(mask, rng.integers(1, V, (B, L)), 0).astype(np.int32)
    return ids, mask, (np.arange(B) % K).astype(np.int32)


def _np(tree):
    return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), tree)


def _mlp(x, layer_1, layer_2):
    """The authors' heads: fc2(relu(fc1(x))), PyTorch's Linear with biases."""
    h = np.maximum(x @ layer_1["kernel"] + layer_1["bias"], 0.0)
    return h @ layer_2["kernel"] + layer_2["bias"]


def _log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _reference_losses(reps, mask, labels, focus, classifier):
    """soft, hard and LVML losses (batch means) of the authors' heads on representations [B, L, d]."""
    f = _mlp(reps, focus["fc1"], focus["fc2"])[..., 0]
    log_alpha = _log_softmax(np.where(mask, f, -np.inf))
    alpha = np.exp(log_alpha)
    pooled = np.einsum("bl,bld->bd", alpha, reps)
    soft = -_log_softmax(_mlp(pooled, classifier["fc1"], classifier["fc2"]))[np.arange(B), labels]
    log_p = _log_softmax(_mlp(reps, classifier["fc1"], classifier["fc2"]))[np.arange(B), :, labels]
    hard = -np.sum(np.where(mask, alpha * log_p, 0.0), axis=-1)
    terms = np.where(mask, log_alpha + log_p, -np.inf)
    top = terms.max(-1)
    lvml = -(top + np.log(np.exp(terms - top[:, None]).sum(-1)))
    return {"soft": soft.mean(), "hard": hard.mean(), "lvml": lvml.mean()}


def _text_config(model, loss="soft", **kw):
    return TrainConfig(loss=loss, model=model, num_classes=K, m=L, segment_shape=(), vocab_size=V, **kw)


def _batch_loss(config, params, ids, mask, labels):
    loss = make_batch_loss(config)
    return float(loss(params, Hyper(), jnp.asarray(ids), jnp.zeros(B, jnp.int32), jnp.asarray(mask),
                      jnp.asarray(labels), jax.random.key(0), (), 0))


@pytest.mark.parametrize("loss", ["soft", "hard", "lvml"])
def test_embed_is_the_authors_simple_model(loss):
    """One shared 100-wide embedding (padding embeds to zero), an MLP focus 100-200-1 and an MLP
    classifier 100-200-K with biases; soft attention pools the embeddings."""
    config = _text_config("embed", loss)
    params = init_params(config, jax.random.key(3))
    p = _np(params)
    table = p["encoder"]["params"]["embedding"]
    assert table.shape == (V, 100)
    assert p["focus"]["params"]["fc1"]["kernel"].shape == (100, 200)
    assert p["classifier"]["params"]["fc2"]["kernel"].shape == (200, K)
    ids, mask, labels = _ids()
    reps = np.where((ids == 0)[..., None], 0.0, table[ids])
    want = _reference_losses(reps, mask, labels, p["focus"]["params"], p["classifier"]["params"])[loss]
    assert _batch_loss(config, params, ids, mask, labels) == pytest.approx(want, rel=RTOL)


def test_text_heads_start_as_pytorch_linear_layers():
    """PyTorch's nn.Linear draws weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), nn.Embedding
    from N(0, 1): checked on the drawn values' ranges and moments (200 x 100 draws: the sample
    standard deviation is within 2% of 1 at many standard errors)."""
    p = _np(init_params(_text_config("embed"), jax.random.key(0)))
    fc1 = p["focus"]["params"]["fc1"]
    bound = 1 / math.sqrt(100)
    for values in (fc1["kernel"], fc1["bias"]):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    table = p["encoder"]["params"]["embedding"]
    assert abs(table.std() - 1) < 0.05 and abs(table.mean()) < 0.05


def _reference_transformer(p, ids, mask, heads=2, head_width=50, width=100):
    """The authors' MultiAttention after an embedding and sinusoidal positions, in NumPy."""
    x = np.where((ids == 0)[..., None], 0.0, p["embed"]["embedding"][ids])
    pe = np.zeros((L, width))
    for pos in range(L):  # Vaswani et al.'s formula, written out
        for i in range(0, width, 2):
            pe[pos, i] = math.sin(pos / 10000 ** (i / width))
            pe[pos, i + 1] = math.cos(pos / 10000 ** (i / width))
    x = x + pe[None]
    a = p["attention_0"]
    q, k, v = (x @ a[name]["kernel"] for name in ("query", "key", "value"))
    out = np.zeros((B, L, heads * head_width))
    for h in range(heads):
        cols = slice(h * head_width, (h + 1) * head_width)
        # queries and keys each divided by width ** (1/4), as the authors scale them
        scores = (q[..., cols] / width ** 0.25) @ np.swapaxes(k[..., cols] / width ** 0.25, 1, 2)
        scores = np.where(mask[:, None, :], scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        out[..., cols] = weights @ v[..., cols]
    return x + out @ a["unify"]["kernel"] + a["unify"]["bias"]


def test_transformer_encoder_is_the_authors_attention_layer_and_padding_is_invisible():
    config = _text_config("transformer")
    params = init_params(config, jax.random.key(1))
    ids, mask, labels = _ids(1)
    encode = jax.jit(make_encode(config))
    reps = np.asarray(encode(params, jnp.asarray(ids), jnp.asarray(mask)), np.float64)
    want = _reference_transformer(_np(params["encoder"]["params"]), ids, mask)
    np.testing.assert_allclose(reps[mask], want[mask], rtol=RTOL, atol=RTOL * np.abs(want).max())
    # Other tokens in the padded positions change no real token's representation, bit for bit.
    other = np.where(mask, ids, np.random.default_rng(5).integers(1, V, ids.shape)).astype(np.int32)
    again = np.asarray(encode(params, jnp.asarray(other), jnp.asarray(mask)))
    assert np.array_equal(again[mask], np.asarray(reps, np.float32)[mask])
    p = _np(params)
    want_losses = _reference_losses(want, mask, labels, p["focus"]["params"], p["classifier"]["params"])
    assert _batch_loss(config, params, ids, mask, labels) == pytest.approx(want_losses["soft"], rel=RTOL)


def test_sinusoidal_encoding_formula():
    pe = np.asarray(sinusoidal_encoding(9, 6), np.float64)
    want = [[f(p / 10000 ** (2 * (i // 2) / 6)) for i, f in zip(range(6), [math.sin, math.cos] * 3)]
            for p in range(9)]
    np.testing.assert_allclose(pe, want, rtol=1e-6, atol=1e-6)


def test_text_segments_are_token_ids_so_memory_does_not_grow_with_the_vocabulary():
    """The pool is one int32 id per vocabulary entry, not a [V, V] one-hot matrix."""
    data, info = load_dataset("text", n_train=60, n_test=30, seed=0)
    assert info.segment_shape == () and info.vocab_size == len(np.asarray(data.pool))
    assert np.asarray(data.pool).dtype == np.int32
    assert np.array_equal(np.asarray(data.pool), np.arange(info.vocab_size))


class _Identity(nn.Module):
    """An explicit identity encoder: the representations are the segments."""

    @nn.compact
    def __call__(self, x, mask):
        return x


def test_an_identity_encoder_changes_no_number(tiny):
    """The encoder stage with an identity module trains bit for bit as without an encoder: the
    focus's and the classifier's keys, the losses and the metrics do not depend on the stage."""
    from attnjax.models import make_models

    data, info = tiny
    _, focus, classifier = make_models("mlp", num_classes=info.num_classes, segment_shape=info.segment_shape)
    runs = {}
    for name, modules in (("none", (focus, classifier)), ("identity", (_Identity(), focus, classifier))):
        runs[name] = compare(data, info, losses=["soft", "lvml", "hard-reinforce"], seeds=2, epochs=3,
                             batch_size=4, learning_rate=0.1, modules=modules)
    for loss in runs["none"]:
        a, b = runs["none"][loss], runs["identity"][loss]
        for x, y in zip(jax.tree_util.tree_leaves(a.history), jax.tree_util.tree_leaves(b.history)):
            assert np.array_equal(np.asarray(x), np.asarray(y)), loss
        assert np.array_equal(np.asarray(a.params["focus"]["params"]["Dense_0"]["kernel"]),
                              np.asarray(b.params["focus"]["params"]["Dense_0"]["kernel"]))


def _bags(n=60, m=5, d=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % K
    x = rng.normal(0, 1, (n, m, d)).astype(np.float32)
    pos = rng.integers(0, m, n)
    x[np.arange(n), pos, :K] += 3 * np.eye(K)[labels]
    truth = np.zeros((n, m), bool)
    truth[np.arange(n), pos] = True
    return {"segments": x, "labels": labels, "truth": truth}


def test_embedding_level_attention_on_bags_pools_the_features(tmp_path):
    """AttentionDeepMIL's pooling: e_j = relu(W x_j + b), alpha = softmax(f(e)), the classifier sees
    sum_j alpha_j e_j. Trained a few epochs; at the trained parameters the soft loss over the training
    bags equals this formula written out in NumPy, and training lowered it."""
    path = tmp_path / "bags.npz"
    np.savez(path, **_bags())
    data, info = load_dataset("bags", data_file=path)
    runs = compare(data, info, losses=["soft"], seeds=2, epochs=20, batch_size=8, learning_rate=0.01,
                   encoder="mlp", encoder_width=16)
    run = runs["soft"]
    assert run.config.encoder == "mlp" and run.config.to_json()["encoder_width"] == 16
    losses = np.asarray(run.history.loss)
    assert np.all(losses[:, -1] < losses[:, 0])
    split = data.train
    x = np.asarray(data.pool)[np.asarray(split.index)].astype(np.float64)
    labels, mask = np.asarray(split.labels), np.asarray(split.mask)
    n = len(labels)
    for s in range(2):
        params = jax.tree_util.tree_map(lambda leaf, s=s: leaf[s], run.params)
        p = _np(params)
        enc = p["encoder"]["params"]["Dense_0"]
        e = np.maximum(x @ enc["kernel"] + enc["bias"], 0.0)                       # [n, m, 16]
        f = p["focus"]["params"]
        scores = (np.maximum(e @ f["Dense_0"]["kernel"], 0.0) @ f["Dense_1"]["kernel"])[..., 0]
        alpha = np.exp(_log_softmax(np.where(mask, scores, -np.inf)))
        pooled = np.einsum("nm,nmd->nd", alpha, e)
        c = p["classifier"]["params"]
        logits = np.maximum(pooled @ c["Dense_0"]["kernel"] + c["Dense_0"]["bias"], 0.0) @ c["Dense_1"]["kernel"] \
            + c["Dense_1"]["bias"]
        want = -_log_softmax(logits)[np.arange(n), labels].mean()
        got = float(make_batch_loss(run.config)(
            params, Hyper(), jnp.asarray(data.pool)[split.index], split.fg_pos, split.mask, split.labels,
            jax.random.key(0), (), 0))
        assert got == pytest.approx(want, rel=RTOL)


@pytest.mark.parametrize("kwargs, fragment, field", [
    (dict(model="embed", segment_shape=(4,)), "token ids", "model"),
    (dict(model="mlp", segment_shape=(), vocab_size=9), "token ids", "model"),
    (dict(model="cnn", encoder="mlp", segment_shape=(28, 28, 1)), "the cnn model takes images", "model"),
    (dict(model="mlp", encoder="cnn", segment_shape=(8, 8, 1)), "16x16", "encoder"),
    (dict(model="transformer", segment_shape=(), vocab_size=9, encoder_width=7), "even", None),
    (dict(model="embed", segment_shape=(), vocab_size=9, encoder="mlp"), "an encoder does not apply", "encoder"),
])
def test_models_that_cannot_take_the_segments_are_config_errors(kwargs, fragment, field):
    from attnjax.focus import config_modules

    with pytest.raises(ConfigError, match=fragment) as info:
        config_modules(TrainConfig(**kwargs))
    assert info.value.field == field


def test_every_command_runs_with_an_encoder(tmp_path, capsys):
    """signature, fixed-focus and the sampled estimators read the representations too; each
    result records the encoder that ran."""
    path = tmp_path / "bags.npz"
    np.savez(path, **_bags())
    tiny = ["--seeds", "2", "--epochs", "2", "--batch-size", "8", "--compile-cache", "off"]
    runs = [
        (["signature", "--dataset", "bags", "--data-file", str(path), "--encoder", "mlp", "--model", "gated",
          "--losses", "soft,hard,lvml,hybrid,hard-reinforce,hard-gumbel,lvml-em"], "signature.json", "mlp"),
        (["fixed-focus", "--dataset", "bags", "--data-file", str(path), "--encoder", "mlp"], "fixed_focus.json",
         "mlp"),
        (["fixed-focus", "--dataset", "text", "--model", "transformer", "--n-train", "60", "--n-test", "30"],
         "fixed_focus.json", "transformer"),
    ]
    for i, (argv, name, encoder) in enumerate(runs):
        out = tmp_path / f"run{i}"
        code, _, err = run_cli([*argv, *tiny, "--out", str(out)], capsys)
        assert code == 0, err
        doc = json.loads((out / name).read_text())
        for paradigm in doc["config"]["paradigms"].values():
            assert paradigm["encoder"] == encoder



def test_behind_an_encoder_images_default_to_mlp_heads():
    """The CNNs take images; an encoder's features are vectors, so the default heads become mlp."""
    from attnjax.data.base import DataInfo

    info = DataInfo(name="fashion-mnist", num_classes=3, m=5, segment_shape=(28, 28, 1), class_names=("a", "b", "c"),
                    default_model="cnn")
    assert TrainConfig.for_data(info).model == "cnn"
    assert TrainConfig.for_data(info, encoder="cnn").model == "mlp"
    assert TrainConfig.for_data(info, encoder="mlp", model="gated").model == "gated"
