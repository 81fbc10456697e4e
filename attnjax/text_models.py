"""Attention models on token sequences, and their focus metrics against a rationale.

Contract with :mod:`attnjax.losses` and :mod:`attnjax.sampled` (every paradigm)::

    logits = focus.apply(fp, tokens, mask)                    # [B, L], -inf where mask is 0
    segments = classifier.apply(cp, tokens, method="embed")   # [B, L, E]: segments live in embedding space
    classify = lambda e: classifier.apply(cp, e, method="head")  # [N, E] -> [N, K]
    loss(logits, segments, labels, classify)

So soft attention classifies the alpha-pooled *embedding*, hard attention and
LVML classify each token's embedding, and ``classifier(tokens)`` is
``head(embed(tokens))``. Masked tokens get exactly zero attention: their logit
is -inf, ``softmax`` gives 0 there, and gradients stay finite while at least one
token per row is unmasked (every post has one).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

__all__ = ["TokenFocus", "TokenClassifier", "rationale_metrics"]


class TokenFocus(nn.Module):
    """Embedding then a linear score per token: ``(tokens [B, L], mask [B, L]) -> [B, L]``."""

    vocab_size: int
    features: int = 32

    @nn.compact
    def __call__(self, tokens, mask):
        scores = nn.Dense(1, use_bias=False)(nn.Embed(self.vocab_size, self.features)(tokens))[..., 0]
        return jnp.where(mask, scores, -jnp.inf)


class TokenClassifier(nn.Module):
    """Embedding then a linear layer to K logits, split as ``embed`` and ``head``.

    ``embed``: ``tokens [...] -> [..., E]``; ``head``: ``[..., E] -> [..., K]``;
    calling the module is ``head(embed(tokens))``.
    """

    vocab_size: int
    num_classes: int
    features: int = 32

    def setup(self):
        self.embedding = nn.Embed(self.vocab_size, self.features)
        self.linear = nn.Dense(self.num_classes)

    def embed(self, tokens):
        return self.embedding(tokens)

    def head(self, embeddings):
        return self.linear(embeddings)

    def __call__(self, tokens):
        return self.head(self.embed(tokens))


def rationale_metrics(attention, predictions, labels, rationale, mask) -> dict:
    """FTPT / FFPT / FTPF / FFPF on text, in NumPy.

    Focus true: the most-attended unmasked token (first on ties) is a rationale
    token. Posts whose rationale is all zero (HateXplain's "normal" posts) cannot
    have a true focus; they are left out of the four counts and the focus
    accuracy, and reported as ``n_without_rationale`` with their own accuracy.

    Arguments:
        attention: ``[N, L]`` weights (or logits: only the argmax matters).
        predictions, labels: ``[N]`` predicted and true classes.
        rationale: ``[N, L]`` 0/1.
        mask: ``[N, L]`` True on real tokens.

    Returns:
        ``n_with_rationale``, counts ``ftpt``, ``ffpt``, ``ftpf``, ``ffpf`` (over posts
        with a rationale), ``focus_accuracy`` and ``accuracy`` (percent, same posts),
        ``n_without_rationale``, ``accuracy_without_rationale`` (percent, NaN if none)
        and ``accuracy_all`` (percent over every post).
    """
    mask = np.asarray(mask, bool)
    rationale = np.asarray(rationale) * mask
    top = np.argmax(np.where(mask, np.asarray(attention, np.float64), -np.inf), axis=1)
    focus_true = rationale[np.arange(len(top)), top] == 1
    pred_true = np.asarray(predictions) == np.asarray(labels)
    rated = rationale.any(axis=1)
    ft, pt = focus_true[rated], pred_true[rated]

    def percent(x):
        return float(100 * x.mean()) if x.size else float("nan")

    return dict(
        n_with_rationale=int(rated.sum()),
        ftpt=int(np.sum(ft & pt)), ffpt=int(np.sum(~ft & pt)),
        ftpf=int(np.sum(ft & ~pt)), ffpf=int(np.sum(~ft & ~pt)),
        focus_accuracy=percent(ft), accuracy=percent(pt),
        n_without_rationale=int((~rated).sum()),
        accuracy_without_rationale=percent(pred_true[~rated]),
        accuracy_all=percent(pred_true),
    )
