"""A PyTorch mirror of attnjax's training, used only by the benchmarks.

Nothing in ``attnjax/`` or ``tests/`` imports this module (or torch). It mirrors
``attnjax.models``, ``attnjax.losses``, ``attnjax.metrics`` and the training loop
of ``attnjax.train`` closely enough that the two sides train the same models on
the same data with the same loss and optimizer:

* the same model families (``linear``, ``mlp``, ``cnn``) with the same shapes and
  the same initialisation laws (zeros for ``linear``; Xavier-uniform and bias-free
  for the focus models; PyTorch's default weight law with zero biases for the
  classifiers, which is what attnjax's flax classifiers use, or Xavier-normal
  weights under ``classifier_init="xavier"``, the paper protocol's LeNet);
* the same per-example losses (soft, hard, LVML) averaged over the batch;
* SGD with momentum 0.9 (``torch.optim.SGD``'s heavy-ball update is optax's
  ``sgd(momentum=...)``: ``t = g + 0.9 t``, ``p -= lr t``);
* ``n_train // batch_size`` full minibatches of a fresh permutation per epoch;
* at the end of every epoch, the same evaluation attnjax runs inside its scan:
  all three inference rules and the focus/prediction counts on the whole train
  and test splits, in chunks of ``eval_batch_size`` mosaics.

Two trainers:

:func:`train_loop`
    the way the authors train: one seed after another in a Python loop, eager
    mode, a ``DataLoader`` over a ``TensorDataset`` of materialised mosaics
    (``shuffle=True, drop_last=True``), ``optimizer.zero_grad(); loss.backward();
    optimizer.step()``, ``loss.item()`` accumulated per step. ``loader="index"``
    swaps the DataLoader for a plain ``randperm`` index loop (less overhead).
:func:`train_vmap`
    all seeds at once with ``torch.func``: ``stack_module_state`` +
    ``functional_call`` + ``vmap(grad_and_value(...))``, SGD momentum applied
    to the stacked parameters with ``torch._foreach`` ops.

Segments are channels-first (``[B, m, C, H, W]``) for the CNNs, PyTorch's layout.

Device and arithmetic: ``TorchConfig.device`` (``"cuda"`` when
``torch.cuda.is_available()`` in the benchmarks, else ``"cpu"``) holds the models and
data; ``TorchConfig.precision`` mirrors ``attnjax.models.make_models(precision=...)``:
``float32`` (TF32 off), ``tensorfloat32`` (TF32 on for CUDA matmuls and cuDNN
convolutions; nothing changes on CPU), ``bfloat16`` (``torch.autocast`` to bfloat16
around every forward pass; float32 parameters, losses and optimiser).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "TorchConfig",
    "TorchData",
    "AttentionNet",
    "make_models",
    "LOSSES",
    "METRIC_NAMES",
    "to_torch_data",
    "set_precision",
    "autocast",
    "train_loop",
    "train_vmap",
]


# ----------------------------------------------------------------------------- config & data


@dataclasses.dataclass(frozen=True)
class TorchConfig:
    """The static settings, mirroring the fields of ``attnjax.train.TrainConfig`` used here."""

    loss: str = "soft"
    num_classes: int = 3
    m: int = 5
    segment_shape: tuple[int, ...] = (8, 8, 1)  # attnjax's layout (channels last)
    model: str = "mlp"
    hidden: int = 64
    epochs: int = 30
    batch_size: int = 64
    momentum: float = 0.9
    eval_batch_size: int = 1024
    device: str = "cpu"
    precision: str = "float32"
    classifier_init: str = "uniform"  # or "xavier": Xavier-normal weights (attnjax.models)

    @property
    def rule(self) -> int:
        return {"soft": 2, "hard": 1, "lvml": 1}[self.loss]

    @property
    def torch_segment_shape(self) -> tuple[int, ...]:
        """One segment in PyTorch's layout: channels first for images."""
        if self.model == "cnn":
            h, w, c = self.segment_shape
            return (c, h, w)
        return tuple(self.segment_shape)


class TorchData(NamedTuple):
    """Materialised mosaics of both splits as CPU tensors.

    ``*_x``: ``[N, m, *segment]`` float32; ``*_y``: ``[N]`` int64 labels;
    ``*_fg``: ``[N]`` int64 foreground positions.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    train_fg: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    test_fg: torch.Tensor


def set_precision(precision: str) -> None:
    """TF32 for CUDA matmuls and cuDNN convolutions exactly when ``precision == "tensorfloat32"``."""
    if precision not in ("float32", "tensorfloat32", "bfloat16"):
        raise ValueError(f"unknown precision {precision!r}")
    torch.backends.cuda.matmul.allow_tf32 = precision == "tensorfloat32"
    torch.backends.cudnn.allow_tf32 = precision == "tensorfloat32"


def autocast(config: "TorchConfig"):
    """``torch.autocast`` to bfloat16 when ``config.precision == "bfloat16"``, else nothing."""
    if config.precision != "bfloat16":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(config.device).type, dtype=torch.bfloat16)


def synchronize(device: str) -> None:
    """Wait for queued CUDA work (a no-op on CPU), so that a clock read after it is honest."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def to_torch_data(pool: np.ndarray, train, test, *, channels_first: bool,
                  device: str = "cpu") -> TorchData:
    """Materialise attnjax's pool + index splits into mosaics ``[N, m, ...]``.

    Arguments:
        pool: ``[P, *segment_shape]`` segments (attnjax's layout).
        train, test: objects with ``index [N, m]``, ``labels [N]``, ``fg_pos [N]``.
        channels_first: move an image's channel axis first (for the CNNs).
        device: where the tensors live (``"cpu"`` or ``"cuda"``).
    """
    pool = np.asarray(pool, np.float32)
    if channels_first:
        pool = np.ascontiguousarray(pool.transpose(0, 3, 1, 2))

    def split(s):
        x = torch.from_numpy(np.ascontiguousarray(pool[np.asarray(s.index)]))
        y = torch.from_numpy(np.asarray(s.labels, np.int64))
        fg = torch.from_numpy(np.asarray(s.fg_pos, np.int64))
        return x.to(device), y.to(device), fg.to(device)

    return TorchData(*split(train), *split(test))


# ----------------------------------------------------------------------------- models


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _xavier(layer: nn.Module) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight)
    return layer


def _classifier_layer(layer: nn.Module, init: str) -> nn.Module:
    """Zero bias; weights by PyTorch's default law (``"uniform"``) or Xavier-normal (``"xavier"``)."""
    if init == "xavier":
        nn.init.xavier_normal_(layer.weight)
    elif init != "uniform":
        raise ValueError(f"unknown classifier_init {init!r}")
    return _zero_bias(layer)


def _zero_bias(layer: nn.Module) -> nn.Module:
    # torch's default weight law (kaiming_uniform a=sqrt(5), i.e. U(+-1/sqrt(fan_in))) is
    # attnjax's classifier law; attnjax (flax) starts biases at zero, so do we.
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class LinearFocus(nn.Module):
    """``f(x) = u . x``: no bias, zero initialisation."""

    def __init__(self, dim: int):
        super().__init__()
        self.u = nn.Linear(dim, 1, bias=False)
        nn.init.zeros_(self.u.weight)

    def forward(self, x):
        return self.u(_flatten(x))[:, 0]


class LinearClassifier(nn.Module):
    """``g(x) = W x + b``: zero initialisation."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.w = nn.Linear(dim, num_classes)
        nn.init.zeros_(self.w.weight)
        nn.init.zeros_(self.w.bias)

    def forward(self, x):
        return self.w(_flatten(x))


class MLPFocus(nn.Module):
    """One hidden ReLU layer, bias-free, Xavier-uniform."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.hidden = _xavier(nn.Linear(dim, hidden, bias=False))
        self.out = _xavier(nn.Linear(hidden, 1, bias=False))

    def forward(self, x):
        return self.out(F.relu(self.hidden(_flatten(x))))[:, 0]


class MLPClassifier(nn.Module):
    """One hidden ReLU layer; zero biases, weights by ``init`` (see ``_classifier_layer``)."""

    def __init__(self, dim: int, hidden: int, num_classes: int, init: str = "uniform"):
        super().__init__()
        self.hidden = _classifier_layer(nn.Linear(dim, hidden), init)
        self.out = _classifier_layer(nn.Linear(hidden, num_classes), init)

    def forward(self, x):
        return self.out(F.relu(self.hidden(_flatten(x))))


def _flat_size(body: nn.Module, shape: Sequence[int]) -> int:
    with torch.no_grad():
        return int(body(torch.zeros((1,) + tuple(shape))).reshape(1, -1).shape[1])


class FocusCNN(nn.Module):
    """The paper's focus CNN (attnjax.models.FocusCNN): no biases, Xavier."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        c = shape[0]
        self.features = nn.Sequential(
            _xavier(nn.Conv2d(c, 32, 3, bias=False)), nn.ReLU(), nn.MaxPool2d(2),
            _xavier(nn.Conv2d(32, 64, 3, bias=False)), nn.ReLU(), nn.MaxPool2d(2),
            _xavier(nn.Conv2d(64, 64, 3, bias=False)), nn.ReLU(),
        )
        flat = _flat_size(self.features, shape)
        self.head = nn.Sequential(
            _xavier(nn.Linear(flat, 512, bias=False)), nn.ReLU(),
            _xavier(nn.Linear(512, 64, bias=False)), nn.ReLU(),
            _xavier(nn.Linear(64, 10, bias=False)), nn.ReLU(),
            _xavier(nn.Linear(10, 1, bias=False)),
        )

    def forward(self, x):
        return self.head(_flatten(self.features(x)))[:, 0]


class LeNetClassifier(nn.Module):
    """The paper's LeNet-style classifier (attnjax.models.LeNetClassifier)."""

    def __init__(self, shape: Sequence[int], num_classes: int, init: str = "uniform"):
        super().__init__()
        c = shape[0]
        self.features = nn.Sequential(
            _classifier_layer(nn.Conv2d(c, 6, 5), init), nn.ReLU(), nn.MaxPool2d(2),
            _classifier_layer(nn.Conv2d(6, 16, 5), init), nn.ReLU(), nn.MaxPool2d(2),
        )
        flat = _flat_size(self.features, shape)
        self.head = nn.Sequential(
            _classifier_layer(nn.Linear(flat, 120), init), nn.ReLU(),
            _classifier_layer(nn.Linear(120, 84), init), nn.ReLU(),
            _classifier_layer(nn.Linear(84, 10), init), nn.ReLU(),
            _classifier_layer(nn.Linear(10, num_classes), init),
        )

    def forward(self, x):
        return self.head(_flatten(self.features(x)))


def make_models(config: TorchConfig) -> tuple[nn.Module, nn.Module]:
    """The (focus, classifier) pair of ``config.model``, in PyTorch's layout."""
    shape = config.torch_segment_shape
    dim = math.prod(shape)
    if config.model == "linear":
        return LinearFocus(dim), LinearClassifier(dim, config.num_classes)
    if config.model == "mlp":
        return MLPFocus(dim, config.hidden), MLPClassifier(dim, config.hidden, config.num_classes,
                                                           config.classifier_init)
    if config.model == "cnn":
        return FocusCNN(shape), LeNetClassifier(shape, config.num_classes, config.classifier_init)
    raise ValueError(f"unknown model family {config.model!r}")


# ----------------------------------------------------------------------------- losses & metrics

Classifier = Callable[[torch.Tensor], torch.Tensor]


def _flat_segments(segments: torch.Tensor) -> torch.Tensor:
    b, m = segments.shape[:2]
    return segments.reshape((b * m,) + tuple(segments.shape[2:]))


def _segment_log_probs(segments, labels, classify: Classifier):
    b, m = segments.shape[:2]
    logp = F.log_softmax(classify(_flat_segments(segments)).reshape(b, m, -1), dim=-1)
    return logp.gather(2, labels[:, None, None].expand(b, m, 1))[..., 0]  # [B, m]


def _pool(alpha, segments):
    b, m = segments.shape[:2]
    pooled = torch.bmm(alpha[:, None, :], segments.reshape(b, m, -1))[:, 0]
    return pooled.reshape((b,) + tuple(segments.shape[2:]))


def soft_attention_loss(focus_logits, segments, labels, classify: Classifier):
    """CE(g(sum_j alpha_j x_j), y) per example."""
    alpha = torch.softmax(focus_logits, dim=-1)
    return F.cross_entropy(classify(_pool(alpha, segments)), labels, reduction="none")


def hard_attention_loss(focus_logits, segments, labels, classify: Classifier):
    """sum_j alpha_j CE(g(x_j), y) per example."""
    alpha = torch.softmax(focus_logits, dim=-1)
    return -(alpha * _segment_log_probs(segments, labels, classify)).sum(-1)


def lvml_loss(focus_logits, segments, labels, classify: Classifier):
    """-log sum_j alpha_j softmax(g(x_j))_y per example, in log space."""
    log_alpha = F.log_softmax(focus_logits, dim=-1)
    return -torch.logsumexp(log_alpha + _segment_log_probs(segments, labels, classify), dim=-1)


LOSSES = {"soft": soft_attention_loss, "hard": hard_attention_loss, "lvml": lvml_loss}

#: The 16 numbers one evaluation returns (percent of examples), attnjax's MetricCounts order.
METRIC_NAMES = tuple(
    [f"accuracy_rule{r}" for r in (1, 2, 3)]
    + ["focus_accuracy"]
    + [f"{cell}_rule{r}" for cell in ("ftpt", "ffpt", "ftpf", "ffpf") for r in (1, 2, 3)]
)


def _metric_counts(focus_logits, segments, labels, fg_pos, classify: Classifier):
    """Counts of correct predictions under the three rules and the focus/prediction cells."""
    b, m = segments.shape[:2]
    alpha = torch.softmax(focus_logits, dim=-1)
    seg_probs = torch.softmax(classify(_flat_segments(segments)).reshape(b, m, -1), dim=-1)
    k = seg_probs.shape[-1]
    top = alpha.argmax(-1)
    rule1 = seg_probs.gather(1, top[:, None, None].expand(b, 1, k))[:, 0]
    rule2 = torch.bmm(alpha[:, None, :], seg_probs)[:, 0]
    rule3 = torch.softmax(classify(_pool(alpha, segments)), dim=-1)
    probs = torch.stack([rule1, rule2, rule3])  # [3, B, K]
    focus_true = (top == fg_pos).to(alpha.dtype)  # [B]
    pred_true = (probs.argmax(-1) == labels[None]).to(alpha.dtype)  # [3, B]
    focus_false, pred_false = 1 - focus_true, 1 - pred_true
    return torch.cat([
        pred_true.sum(-1),
        focus_true.sum(-1, keepdim=True),
        (focus_true * pred_true).sum(-1),
        (focus_false * pred_true).sum(-1),
        (focus_true * pred_false).sum(-1),
        (focus_false * pred_false).sum(-1),
    ])


class AttentionNet(nn.Module):
    """Focus + classifier; ``forward`` returns the mean loss or the metric counts."""

    def __init__(self, config: TorchConfig):
        super().__init__()
        self.config = config
        self.focus, self.classifier = make_models(config)
        self.loss_fn = LOSSES[config.loss]

    def focus_logits(self, segments):
        b, m = segments.shape[:2]
        return self.focus(_flat_segments(segments)).reshape(b, m)

    def forward(self, segments, labels, fg_pos=None, metrics: bool = False):
        logits = self.focus_logits(segments)
        if metrics:
            return _metric_counts(logits, segments, labels, fg_pos, self.classifier)
        return self.loss_fn(logits, segments, labels, self.classifier).mean()


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@torch.no_grad()
def evaluate(model: AttentionNet, x, y, fg, eval_batch_size: int) -> torch.Tensor:
    """The 16 metrics (percent) of one split, in chunks like attnjax's scan."""
    with autocast(model.config):
        total = sum(model(x[s], y[s], fg[s], metrics=True)
                    for s in _chunks(len(y), eval_batch_size))
    return 100.0 * total.float() / len(y)


# ----------------------------------------------------------------------------- trainers


class TorchResult(NamedTuple):
    """Per-epoch history of S seeds: ``loss [S, E]``, ``train``/``test`` metrics ``[S, E, 16]``.

    ``seconds``: wall time of each seed (:func:`train_loop`) or of the whole run
    (:func:`train_vmap`, one entry).
    """

    loss: np.ndarray
    train: np.ndarray
    test: np.ndarray
    seconds: np.ndarray


def _new_model(config: TorchConfig, seed: int) -> AttentionNet:
    torch.manual_seed(seed)
    return AttentionNet(config).to(config.device)


def train_loop(
    config: TorchConfig,
    data: TorchData,
    seeds: Sequence[int],
    learning_rate: float,
    *,
    loader: str = "dataloader",
) -> TorchResult:
    """Train each seed in turn, eagerly, the way the authors' scripts do.

    Arguments:
        config: static settings.
        data: materialised mosaics.
        seeds: one torch seed per run (initialisation and shuffling).
        learning_rate: SGD step size.
        loader: ``"dataloader"`` (``DataLoader`` over a ``TensorDataset``) or
            ``"index"`` (``randperm`` and tensor indexing, no DataLoader).
    """
    from torch.utils.data import DataLoader, TensorDataset

    losses, train_m, test_m, seconds = [], [], [], []
    n_train = len(data.train_y)
    n_batches = n_train // config.batch_size
    for seed in seeds:
        start = time.perf_counter()
        model = _new_model(config, seed)
        opt = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=config.momentum)
        generator = torch.Generator().manual_seed(seed)
        if loader == "dataloader":
            batches = DataLoader(
                TensorDataset(data.train_x, data.train_y, data.train_fg),
                batch_size=config.batch_size, shuffle=True, drop_last=True, generator=generator,
            )
        seed_loss, seed_train, seed_test = [], [], []
        for _ in range(config.epochs):
            if loader != "dataloader":
                perm = torch.randperm(n_train, generator=generator)
                batches = (
                    (data.train_x[rows], data.train_y[rows], data.train_fg[rows])
                    for rows in perm[: n_batches * config.batch_size].view(n_batches, -1)
                )
            running = 0.0
            for x, y, _fg in batches:
                opt.zero_grad()
                with autocast(config):
                    loss = model(x, y)
                loss.backward()
                opt.step()
                running += loss.item()
            seed_loss.append(running / n_batches)
            seed_train.append(evaluate(model, data.train_x, data.train_y, data.train_fg,
                                       config.eval_batch_size))
            seed_test.append(evaluate(model, data.test_x, data.test_y, data.test_fg,
                                      config.eval_batch_size))
        losses.append(seed_loss)
        train_m.append(torch.stack(seed_train).cpu().numpy())
        test_m.append(torch.stack(seed_test).cpu().numpy())
        synchronize(config.device)
        seconds.append(time.perf_counter() - start)
    return TorchResult(np.array(losses), np.stack(train_m), np.stack(test_m), np.array(seconds))


def train_vmap(
    config: TorchConfig,
    data: TorchData,
    seeds: Sequence[int],
    learning_rate: float,
) -> TorchResult:
    """Train all seeds at once with ``torch.func`` (stacked parameters, vmapped gradients).

    Each seed draws its own permutation every epoch, as in attnjax's vmapped train.
    """
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    start = time.perf_counter()
    models = [_new_model(config, seed) for seed in seeds]
    stacked, _ = stack_module_state(models)
    params = {name: p.detach().clone() for name, p in stacked.items()}
    names = list(params)
    momentum = [torch.zeros_like(params[k]) for k in names]
    base = copy.deepcopy(models[0]).to("meta")

    def loss_of(p, x, y):
        with autocast(config):
            return functional_call(base, p, (x, y)).float()

    def metrics_of(p, x, y, fg):
        with autocast(config):
            return functional_call(base, p, (x, y, fg), {"metrics": True}).float()

    step_grads = vmap(grad_and_value(loss_of))
    split_metrics = vmap(metrics_of, in_dims=(0, None, None, None))

    def evaluate_all(x, y, fg):
        total = sum(split_metrics(params, x[s], y[s], fg[s])
                    for s in _chunks(len(y), config.eval_batch_size))
        return 100.0 * total / len(y)

    n_seeds = len(models)
    n_train = len(data.train_y)
    n_batches = n_train // config.batch_size
    generator = torch.Generator().manual_seed(int(seeds[0]))
    losses, train_m, test_m = [], [], []
    for _ in range(config.epochs):
        perms = torch.argsort(torch.rand(n_seeds, n_train, generator=generator), dim=1)
        perms = perms[:, : n_batches * config.batch_size].view(n_seeds, n_batches, -1)
        running = torch.zeros(n_seeds, device=config.device)
        for b in range(n_batches):
            rows = perms[:, b]  # [S, batch]
            grads, loss = step_grads(params, data.train_x[rows], data.train_y[rows])
            with torch.no_grad():
                g = [grads[k] for k in names]
                torch._foreach_mul_(momentum, config.momentum)
                torch._foreach_add_(momentum, g)
                torch._foreach_add_([params[k] for k in names], momentum, alpha=-learning_rate)
                running += loss
        with torch.no_grad():
            losses.append(running / n_batches)
            train_m.append(evaluate_all(data.train_x, data.train_y, data.train_fg))
            test_m.append(evaluate_all(data.test_x, data.test_y, data.test_fg))
    out = [torch.stack(h, 1).cpu().numpy() for h in (losses, train_m, test_m)]
    synchronize(config.device)
    return TorchResult(*out, np.array([time.perf_counter() - start]))
