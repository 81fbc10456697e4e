"""Text attention data: posts as token sequences with a label and a token rationale.

Two sources, one output (`TextData`):

* `load_hatexplain`: a user-supplied JSON file in the HateXplain layout
  (post id -> ``post_id``, ``annotators`` [{"label"}], ``rationales`` [[0/1 per
  token] per rationale annotator], ``post_tokens``). Nothing is downloaded.
  Label: the one most annotators gave; a tie for the most votes makes the post
  *undecided* and it is dropped (as HateXplain's own processing does), counted
  in ``settings["undecided"]``. Rationale: tokens marked by a strict majority
  (more than half) of the rationale annotators; a post without rationales has
  an all-zero rationale (it cannot have a true focus; ``tests/rationale_reference.py``
  transcribes the focus metrics in NumPy).
* `load_synthetic_text`: K classes, each with a few trigger tokens placed
  among random filler tokens; the rationale is the trigger positions.

The vocabulary is built from the training split: ``<pad>`` (id 0), ``<unk>``
(id 1), then tokens by decreasing count (ties alphabetical).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, DataError
from ..protocol import TEXT_SIZES
from .fileio import open_regular

__all__ = ["HATEXPLAIN_LABELS", "PAD", "UNK", "Post", "TextSplit", "TextData",
           "read_hatexplain", "load_hatexplain", "load_synthetic_text", "build_text_data", "text_dataset"]

HATEXPLAIN_LABELS = ("hatespeech", "offensive", "normal")
PAD, UNK = "<pad>", "<unk>"
_FIELDS = ("post_id", "annotators", "rationales", "post_tokens")


class Post(NamedTuple):
    """One post: ``tokens`` (strings), integer ``label`` and ``rationale`` ``[len(tokens)]`` 0/1."""

    post_id: str
    tokens: tuple[str, ...]
    label: int
    rationale: np.ndarray


class TextSplit(NamedTuple):
    """One split, padded to L.

    Attributes:
        tokens: ``[N, L]`` int32 vocabulary ids (0 = padding).
        mask: ``[N, L]`` bool, True on real tokens.
        labels: ``[N]`` int32 in ``[0, K)``.
        rationale: ``[N, L]`` int32 0/1 (0 on padding).
        post_ids: the N post ids.
    """

    tokens: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    rationale: np.ndarray
    post_ids: tuple[str, ...]


class TextData(NamedTuple):
    """Train/val/test splits, the vocabulary (id -> token), class names and settings."""

    train: TextSplit
    val: TextSplit
    test: TextSplit
    vocabulary: tuple[str, ...]
    class_names: tuple[str, ...]
    settings: dict


def _post(path, pid, entry) -> Post | None:
    """Validate one HateXplain entry; None when its label is undecided."""
    def fail(what):
        raise DataError(f"{path}: post {pid!r}: {what}")

    if not isinstance(entry, dict):
        fail("is not a JSON object")
    for field in _FIELDS:
        if field not in entry:
            fail(f"missing field {field!r}")
    tokens, annotators, rationales = entry["post_tokens"], entry["annotators"], entry["rationales"]
    if entry["post_id"] != pid:
        fail(f"post_id {entry['post_id']!r} differs from its key")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        fail("post_tokens is not a list of strings")
    if not tokens:
        fail("empty post (no tokens)")
    if not isinstance(annotators, list) or not annotators:
        fail("annotators is not a non-empty list")
    votes = []
    for a in annotators:
        if not isinstance(a, dict) or "label" not in a:
            fail("an annotator has no 'label' field")
        if a["label"] not in HATEXPLAIN_LABELS:
            fail(f"unknown label {a['label']!r} (expected one of {', '.join(HATEXPLAIN_LABELS)})")
        votes.append(HATEXPLAIN_LABELS.index(a["label"]))
    if not isinstance(rationales, list):
        fail("rationales is not a list")
    for i, r in enumerate(rationales):
        if not isinstance(r, list) or len(r) != len(tokens):
            fail(f"rationale {i} has {len(r) if isinstance(r, list) else 'no'} entries for {len(tokens)} tokens")
        if not all(v in (0, 1) for v in r):
            fail(f"rationale {i} holds values other than 0 and 1")
    counts = np.bincount(votes, minlength=len(HATEXPLAIN_LABELS))
    if np.sum(counts == counts.max()) > 1:
        return None
    marks = np.asarray(rationales, np.int64).reshape(len(rationales), len(tokens))
    rationale = (2 * marks.sum(axis=0) > len(rationales)).astype(np.int32)
    return Post(pid, tuple(tokens), int(counts.argmax()), rationale)


def _read_json(path, what):
    """The JSON document of a regular file (a FIFO or a device is refused, never waited on)."""
    with open_regular(path, f"a {what}") as f:
        try:
            raw = f.read()
        except OSError as err:
            raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: not a JSON {what} ({str(err).splitlines()[0]})") from None
    except RecursionError:
        raise DataError(f"{path}: not a {what}: its JSON is nested too deeply to read") from None


def read_hatexplain(path) -> tuple[list[Post], int]:
    """Read and validate a HateXplain-layout file.

    Arguments:
        path: the JSON file.

    Returns:
        ``(posts, undecided)``: the decided posts in file order and the number dropped as ties.

    Raises:
        DataError: not JSON, not an object of posts, or any malformed post (named).
    """
    posts, undecided, _ = _read_posts(path)
    return posts, undecided


def _read_posts(path) -> tuple[list[Post], int, set[str]]:
    """`read_hatexplain`'s posts and undecided count, and every post id of the file (the file read once)."""
    doc = _read_json(path, "HateXplain file")
    if not isinstance(doc, dict) or not doc:
        raise DataError(f"{path}: expected a non-empty JSON object of post id -> post")
    posts = [_post(path, pid, entry) for pid, entry in doc.items()]
    return [p for p in posts if p is not None], sum(p is None for p in posts), set(doc)


def _split_by_file(path, split_file, posts, all_ids):
    doc = _read_json(split_file, "split file")
    by_id = {p.post_id: p for p in posts}
    out, seen = [], set()
    for name in ("train", "val", "test"):
        ids = doc.get(name) if isinstance(doc, dict) else None
        if not isinstance(ids, list):
            raise DataError(f"{split_file}: expected a list under {name!r}")
        for pid in ids:
            if pid not in all_ids:
                raise DataError(f"{split_file}: post {pid!r} ({name}) is not in {path}")
            if pid in seen:
                raise DataError(f"{split_file}: post {pid!r} is in more than one split")
            seen.add(pid)
        out.append([by_id[pid] for pid in ids if pid in by_id])  # undecided posts drop out
    return out


def _split_at_random(posts, fractions, seed):
    order = np.random.default_rng(seed).permutation(len(posts))
    cuts = np.round(np.cumsum(fractions)[:2] / np.sum(fractions) * len(posts)).astype(int)
    return [[posts[i] for i in part] for part in np.split(order, cuts)]


def load_hatexplain(path, *, split_file=None, fractions=(0.8, 0.1, 0.1), seed=0,
                    max_len: int | None = None, min_count: int = 1) -> TextData:
    """A HateXplain-layout file as `TextData`.

    Arguments:
        path: the data file (never downloaded).
        split_file: optional JSON ``{"train": [ids], "val": [ids], "test": [ids]}``
            (HateXplain's ``post_id_divisions.json``); posts in no split are left out.
        fractions, seed: the seeded random split used when there is no split file.
        max_len, min_count: as in `build_text_data`.

    Raises:
        DataError: a malformed file or post (one line naming the file and post).
    """
    posts, undecided, all_ids = _read_posts(path)
    if split_file is None:
        splits = _split_at_random(posts, fractions, seed)
    else:
        splits = _split_by_file(path, split_file, posts, all_ids)
    if not splits[0]:
        raise DataError(f"{path}: the training split has no decided posts")
    settings = dict(source=str(path), split_file=None if split_file is None else str(split_file),
                    undecided=undecided, seed=seed, fractions=None if split_file is not None else list(fractions))
    return build_text_data(splits, HATEXPLAIN_LABELS, max_len=max_len, min_count=min_count, settings=settings)


def build_text_data(splits, class_names, *, max_len=None, min_count=1, settings=None) -> TextData:
    """Vocabulary from the training posts, then every split encoded and padded.

    Arguments:
        splits: ``[train, val, test]`` lists of `Post`.
        class_names: K names, in label order.
        max_len: L; longer posts are truncated (count in ``settings["truncated"]``).
            Default: the longest post, so nothing is truncated.
        min_count: training occurrences a token needs to get its own id (else ``<unk>``).
        settings: extra entries for ``TextData.settings``.
    """
    counts = Counter(t for p in splits[0] for t in p.tokens)
    vocabulary = (PAD, UNK, *sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t)))
    ids = {t: i for i, t in enumerate(vocabulary)}
    longest = max((len(p.tokens) for s in splits for p in s), default=1)
    length = longest if max_len is None else max_len
    if length < 1:
        raise ConfigError(f"max_len must be positive, got {max_len}")

    def encode(posts):
        n = len(posts)
        tokens, rationale = np.zeros((n, length), np.int32), np.zeros((n, length), np.int32)
        for i, p in enumerate(posts):
            k = min(len(p.tokens), length)
            tokens[i, :k] = [ids.get(t, 1) for t in p.tokens[:k]]
            rationale[i, :k] = p.rationale[:k]
        labels = np.array([p.label for p in posts], np.int32)
        return TextSplit(tokens, tokens != 0, labels, rationale, tuple(p.post_id for p in posts))

    truncated = sum(len(p.tokens) > length for s in splits for p in s)
    settings = dict(settings or {}, max_len=length, min_count=min_count, truncated=truncated,
                    sizes=[len(s) for s in splits])
    return TextData._make([*map(encode, splits), vocabulary, tuple(class_names), settings])


def load_synthetic_text(*, num_classes=3, triggers_per_class=3, filler=50, length=(8, 16),
                        max_triggers=2, n_train=TEXT_SIZES["n_train"], n_val=TEXT_SIZES["n_val"],
                        n_test=TEXT_SIZES["n_test"], seed=0) -> TextData:
    """The bundled synthetic task: trigger tokens of the post's class among filler.

    Token ``c{k}t{i}`` is trigger i of class k, ``w{i}`` filler i. A post has a
    uniform length in ``length`` (inclusive) and 1..``max_triggers`` triggers of
    its class at distinct uniform positions (the rationale); labels cycle
    through the classes.

    Raises:
        ConfigError: sizes that make no sense.
    """
    lo, hi = length
    if num_classes < 2 or triggers_per_class < 1 or filler < 1 or not 1 <= max_triggers <= lo <= hi:
        raise ConfigError("synthetic text needs K >= 2, triggers and filler >= 1, 1 <= max_triggers <= length")
    rng = np.random.default_rng(seed)
    posts = []
    for i in range(n_train + n_val + n_test):
        label, n = i % num_classes, int(rng.integers(lo, hi + 1))
        tokens = [f"w{j}" for j in rng.integers(0, filler, n)]
        rationale = np.zeros(n, np.int32)
        for pos in rng.choice(n, int(rng.integers(1, max_triggers + 1)), replace=False):
            tokens[pos], rationale[pos] = f"c{label}t{rng.integers(triggers_per_class)}", 1
        posts.append(Post(f"syn-{i}", tuple(tokens), label, rationale))
    splits = [posts[:n_train], posts[n_train:n_train + n_val], posts[n_train + n_val:]]
    settings = dict(source="synthetic", seed=seed, triggers_per_class=triggers_per_class, filler=filler)
    return build_text_data(splits, [f"class{k}" for k in range(num_classes)], max_len=hi, settings=settings)


def _posts_needed(fractions, most: int = 10_000) -> int | None:
    """The fewest posts whose random split (`_split_at_random`) puts one in train and one in test."""
    for n in range(2, most):
        cuts = np.round(np.cumsum(fractions)[:2] / np.sum(fractions) * n).astype(int)
        if cuts[0] >= 1 and n - cuts[1] >= 1:
            return n
    return None


def text_dataset(text: "TextData", *, name: str = "text"):
    """A `TextData` as attnjax's ``(Dataset, DataInfo)``: tokens are the segments.

    A segment is a token id: the pool is ``[V]`` (entry i is id i), a mosaic's index row
    is a post's token ids, ``mask`` its real tokens and ``truth`` its rationale, so every
    paradigm, metric and the signature work unchanged; the text models' encoder embeds the
    ids ([`attnjax.encoders`][]), so memory does not grow with the vocabulary. Focus true
    means the most-attended token is a rationale token. ``fg_pos`` is the first rationale
    token (0 for a post without one). Validation posts are not used by the training commands.

    Raises:
        DataError: a training or test split without posts (training needs both).
    """
    from .base import Dataset, DataInfo, as_split, default_model

    sizes = [len(part.labels) for part in (text.train, text.val, text.test)]
    if not sizes[0] or not sizes[2]:
        fractions = text.settings.get("fractions")
        raise DataError(
            f"{text.settings.get('source', name)}: {sum(sizes)} decided posts split into {sizes[0]} train / "
            f"{sizes[1]} val / {sizes[2]} test; training needs at least one post in train and one in test"
            + (f" (the random split {tuple(fractions)} needs at least {_posts_needed(fractions)} decided posts)"
               if fractions else "")
        )
    size = len(text.vocabulary)

    def split(part: "TextSplit"):
        truth = part.rationale.astype(bool) & part.mask
        return as_split(part.tokens, part.labels, np.argmax(truth, axis=1), part.mask, truth)

    pool = np.arange(size, dtype=np.int32)
    info = DataInfo(
        name=name, num_classes=len(text.class_names), m=int(text.train.tokens.shape[1]), segment_shape=(),
        class_names=tuple(text.class_names), background_names=(), default_model=default_model("text"),
        settings=dict(text.settings, vocabulary_size=size, segments="token ids",
                      truth="rationale tokens", no_rationale_posts=int(sum((~(s.rationale.astype(bool))).all(1).sum()
                                                                            for s in (text.train, text.test)))),
        vocab_size=size,
    )
    return Dataset(pool=pool, train=split(text.train), test=split(text.test)), info
