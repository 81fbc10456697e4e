"""One pure, compiled training run per seed; ``vmap`` makes it many.

In the style of purejaxrl: :func:`make_train` takes a static
:class:`TrainConfig` and returns a pure function ``train(key, hparams, data)``.
The whole run, every epoch and minibatch plus the per-epoch evaluation, is one
``lax.scan``, so::

    train = make_train(config)
    keys = jax.random.split(jax.random.key(0), 8)
    hparams = Hyper(learning_rate=jnp.full(8, 0.05))
    result = jax.jit(jax.vmap(train, in_axes=(0, 0, None)))(keys, hparams, data)

trains 8 seeds in one program. The learning rate is an array argument, so a
grid of learning rates vmaps exactly like seeds. The data is an argument
rather than a closed-over constant so that it is not baked into the compiled
program (a closed-over array becomes an HLO literal as large as the data).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .data.base import Dataset, DataInfo, MosaicSplit
from .errors import ConfigError
from .losses import LOSSES, loss_at_attention
from .metrics import DEFAULT_RULE, RULES, MetricCounts, Predictions, count_metrics, predict, to_percent
from .models import CLASSIFIER_INITS, MODEL_FAMILIES, make_models
from .protocol import DEFAULT_PROTOCOL, PARADIGMS, PROTOCOLS, SECOND_PHASES, Protocol, get_protocol
from .sampled import gumbel_hard_loss, lvml_em_losses, reinforce_hard_loss, update_baseline

__all__ = [
    "PARADIGMS",
    "TrainConfig",
    "Hyper",
    "TrainState",
    "EpochMetrics",
    "TrainResult",
    "make_train",
    "make_apply",
    "make_focus_logits",
    "make_predict",
    "init_params",
    "config_modules",
    "OPTIMIZERS",
]



_ATTNJAX = PROTOCOLS[DEFAULT_PROTOCOL]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static settings of one training run (everything that changes the program).

    Shapes, the model family, the loss and the schedule's length are static:
    changing any of them compiles a new program. The learning rate, the
    fixed-focus alpha and the hybrid's switch epoch are traced :class:`Hyper`
    fields instead, so they vmap like seeds.

    Attributes:
        loss: ``"soft"``, ``"hard"``, ``"lvml"`` or ``"hybrid"``.
        num_classes: K.
        m: segments per mosaic.
        segment_shape: shape of one segment.
        model: model family for focus and classifier (``linear``, ``mlp``, ``cnn``);
            ignored when ``modules`` is given.
        hidden: MLP hidden width.
        classifier_init: weight initialisation of the classifier
            (``attnjax.models.CLASSIFIER_INITS``).
        precision: arithmetic of the built-in models' products
            (``float32``, ``tensorfloat32``, ``bfloat16``; see ``attnjax.models``).
        modules: your own ``(focus, classifier)`` Flax modules, with the
            built-in families' contract: the focus maps ``[N, *segment_shape]``
            to scores ``[N]``, the classifier to logits ``[N, K]``. The
            built-in families are built by :func:`attnjax.models.make_models`
            and go through the same path.
        optimizer: ``"sgd"``, ``"adam"`` or any optax optimizer factory (for
            example ``optax.adamw``) whose numeric arguments are traced through
            ``optax.inject_hyperparams``: ``learning_rate`` from
            ``Hyper.learning_rate``, the others from ``Hyper.optimizer``.
        epochs: passes over the training mosaics (for the hybrid: both phases).
        batch_size: minibatch size; each epoch uses ``n_train // batch_size``
            full batches of a fresh permutation (the remainder is dropped).
        momentum: SGD momentum (the paper's 0.9): the default of
            ``Hyper.optimizer["momentum"]`` for ``optimizer="sgd"``.
        switch_epoch: hybrid only: the default number of soft-attention epochs
            before the switch (``Hyper.switch_epoch`` overrides it per run);
            None means ``epochs // 2``.
        hybrid_to: hybrid only: the paradigm after the switch (``SECOND_PHASES``:
            ``"hard"``, ``"lvml"`` or a sampled one).
        hybrid_reset: hybrid only: reset the optimizer state (momentum) at the
            switch, as when the second phase is a separate run.
        samples: ``hard-reinforce`` only: k segments sampled per example.
        sample_replace: ``hard-reinforce`` only: sample with replacement
            (else k distinct segments, priority-sampling weights).
        baseline_decay: ``hard-reinforce`` only: the moving-average baseline's
            decay, b <- decay b + (1 - decay) L (the authors' 0.9).
        fixed_focus: freeze the attention at ``hparams.alpha`` on the foreground
            and ``(1 - alpha) / (m - 1)`` on each background segment, and train
            only the classifier (the paper's fixed-focus experiment).
        incentive_step: fixed-focus only: the step d in the incentive
            L(alpha) - L(alpha + d) (the paper's 0.01; L(alpha - d) - L(alpha)
            where alpha + d > 1).
        eval_batch_size: mosaics per chunk in the per-epoch evaluation, which is
            vmapped over seeds like training; None means ``batch_size``, so that
            evaluating needs no more memory than a training step.
    """

    loss: str = "soft"
    num_classes: int = 3
    m: int = 5
    segment_shape: tuple[int, ...] = (8, 8, 1)
    model: str = "mlp"
    hidden: int = 64
    classifier_init: str = _ATTNJAX.classifier_init
    precision: str = "float32"
    modules: tuple[Any, Any] | None = None
    optimizer: str | Callable[..., optax.GradientTransformation] = "sgd"
    epochs: int = _ATTNJAX.epochs
    batch_size: int = _ATTNJAX.batch_size
    momentum: float = _ATTNJAX.momentum
    switch_epoch: int | None = None
    hybrid_to: str = "hard"
    hybrid_reset: bool = _ATTNJAX.hybrid_reset
    samples: int = 1
    sample_replace: bool = True
    baseline_decay: float = 0.9
    fixed_focus: bool = False
    incentive_step: float = 0.01
    eval_batch_size: int | None = None

    def __post_init__(self):
        if self.loss not in PARADIGMS:
            raise ConfigError(f"unknown loss {self.loss!r}; choose from {', '.join(PARADIGMS)}")
        if self.modules is not None and len(self.modules) != 2:
            raise ConfigError("modules must be a (focus, classifier) pair of Flax modules")
        if isinstance(self.optimizer, str) and self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)} "
                "or pass an optax optimizer factory"
            )
        if self.modules is None and self.model not in MODEL_FAMILIES:
            raise ConfigError(
                f"unknown model {self.model!r}; choose from {', '.join(MODEL_FAMILIES)}"
            )
        if self.classifier_init not in CLASSIFIER_INITS:
            raise ConfigError(
                f"unknown classifier init {self.classifier_init!r}; "
                f"choose from {', '.join(CLASSIFIER_INITS)}"
            )
        if self.m < 2:
            raise ConfigError(f"m must be at least 2 segments, got {self.m}")
        for name in ("num_classes", "epochs", "batch_size", "hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise ConfigError(f"eval_batch_size must be positive, got {self.eval_batch_size}")
        if self.num_classes < 2:
            raise ConfigError(f"need at least 2 foreground classes, got {self.num_classes}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.hybrid_to not in SECOND_PHASES:
            raise ConfigError(f"--hybrid-to must be one of {', '.join(SECOND_PHASES)}, got {self.hybrid_to!r}")
        if self.samples < 1 or (not self.sample_replace and self.samples > self.m):
            raise ConfigError(f"--samples must be in 1..m={self.m} without replacement, got {self.samples}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError(f"--baseline-decay must be in [0, 1), got {self.baseline_decay}")
        if self.switch_epoch is not None and not 0 <= self.switch_epoch <= self.epochs:
            raise ConfigError(
                f"switch_epoch must be in [0, epochs={self.epochs}], got {self.switch_epoch}"
            )
        if self.fixed_focus and self.loss not in LOSSES:
            raise ConfigError(f"the fixed-focus experiment trains soft, hard or lvml, not the {self.loss}")

    @classmethod
    def for_data(cls, info: DataInfo, *, protocol: str | Protocol | None = None, **overrides) -> "TrainConfig":
        """A config matching a data set, with defaults from a protocol.

        Arguments:
            info: the data set's description (classes, m, segment shape, default model).
            protocol: ``"attnjax"`` (default) or ``"paper"``: supplies every
                field not given (batch size, epochs, momentum, classifier
                init, the hybrid's reset and phase lengths).
            **overrides: other fields; a value of None means "the protocol's
                default". ``hybrid_epochs=(soft, second)`` sets a hybrid's
                ``epochs`` to their sum and ``switch_epoch`` to ``soft`` (other
                paradigms ignore it).

        Under ``hybrid_phase_epochs == "each"`` (the paper protocol) a hybrid
        without an explicit ``switch_epoch`` runs soft attention for
        ``epochs`` epochs, then the second phase for ``epochs`` more, as two
        separate runs would.
        """
        p = get_protocol(protocol)
        given = {k: v for k, v in overrides.items() if v is not None}
        hybrid_epochs = given.pop("hybrid_epochs", None)
        if hybrid_epochs is not None and given.get("loss") == "hybrid":
            soft, second = hybrid_epochs
            given.update(epochs=soft + second, switch_epoch=soft)
        fixed = given.get("fixed_focus", False)
        values = dict(
            model=info.default_model, classifier_init=p.classifier_init, batch_size=p.batch_size,
            epochs=p.fixed_focus_epochs if fixed else p.epochs, momentum=p.momentum,
            hybrid_reset=p.hybrid_reset,
        )
        if given.get("loss") == "hybrid" and p.hybrid_phase_epochs == "each" and "switch_epoch" not in given:
            per_phase = given.pop("epochs", values["epochs"])
            values.update(epochs=2 * per_phase, switch_epoch=per_phase)
        values.update(given)
        return cls(num_classes=info.num_classes, m=info.m, segment_shape=tuple(info.segment_shape), **values)

    @property
    def rule(self) -> int:
        """Index (0, 1, 2) of the inference rule this paradigm is judged by."""
        return DEFAULT_RULE[self.loss]

    @property
    def default_switch_epoch(self) -> int:
        """The hybrid's switch epoch when ``Hyper.switch_epoch`` is not given."""
        return self.epochs // 2 if self.switch_epoch is None else self.switch_epoch

    @property
    def eval_chunk(self) -> int:
        """Mosaics per evaluation chunk (``eval_batch_size``, default ``batch_size``)."""
        return self.batch_size if self.eval_batch_size is None else self.eval_batch_size

    def to_json(self) -> dict:
        """Every field this run uses, resolved (no None for a value in use)."""
        out = dataclasses.asdict(self)
        out["eval_batch_size"] = self.eval_chunk
        out["optimizer"] = self.optimizer if isinstance(self.optimizer, str) else _qualname(self.optimizer)
        if self.modules is not None:
            out["modules"] = [_qualname(type(m)) for m in self.modules]
            for name in ("model", "hidden", "classifier_init", "precision"):
                out.pop(name)
        else:
            out.pop("modules")
        if self.optimizer != "sgd":
            out.pop("momentum")
        if self.loss == "hybrid":
            out["switch_epoch"] = self.default_switch_epoch
        else:
            for name in ("switch_epoch", "hybrid_to", "hybrid_reset"):
                out.pop(name)
        uses = {self.loss} | ({self.hybrid_to} if self.loss == "hybrid" else set())
        if "hard-reinforce" not in uses:
            for name in ("samples", "sample_replace", "baseline_decay"):
                out.pop(name)
        if not self.fixed_focus:
            out.pop("incentive_step")
        if self.modules is None and self.model not in ("mlp", "embed"):
            out.pop("hidden")
        if self.modules is None and self.model == "linear":
            out.pop("classifier_init")
        out["rule"] = RULES[self.rule]
        return out


class Hyper(NamedTuple):
    """Traced hyper-parameters: vmap over them like over seeds.

    Attributes:
        learning_rate: SGD step size.
        alpha: the frozen foreground attention when ``config.fixed_focus``
            (ignored otherwise).
        switch_epoch: hybrid only: epochs of soft attention before the
            switch, compared with the epoch index inside the scan; None means
            ``config.default_switch_epoch``.
        init_scale: every initial parameter is multiplied by it (1 keeps the
            models' own initialisation).
        optimizer: the optimizer's other numeric hyper-parameters by keyword
            (``{"momentum": ...}`` for SGD, ``{"b1": ..., "b2": ...}`` for
            Adam); None means ``{"momentum": config.momentum}`` for SGD and the
            factory's defaults otherwise.
        temperature: ``hard-gumbel`` only: the Gumbel-softmax temperature.
    """

    learning_rate: jax.Array | float = _ATTNJAX.learning_rate
    alpha: jax.Array | float = 1.0
    switch_epoch: jax.Array | int | None = None
    init_scale: jax.Array | float = 1.0
    optimizer: dict[str, jax.Array | float] | None = None
    temperature: jax.Array | float = 1.0

    @classmethod
    def tile(cls, n: int, learning_rate=_ATTNJAX.learning_rate, alpha=1.0, switch_epoch=None,
             init_scale=1.0, optimizer=None, temperature=1.0) -> "Hyper":
        """n copies as ``[n]`` arrays, ready for ``vmap`` over seeds.

        A scalar is repeated; an array of length n (a grid) is used as is.
        """

        def column(x, dtype):
            return None if x is None else jnp.broadcast_to(jnp.asarray(x, dtype), (n,))

        return cls(
            learning_rate=column(learning_rate, jnp.float32), alpha=column(alpha, jnp.float32),
            switch_epoch=column(switch_epoch, jnp.int32), init_scale=column(init_scale, jnp.float32),
            optimizer=None if optimizer is None else {k: column(v, jnp.float32) for k, v in optimizer.items()},
            temperature=column(temperature, jnp.float32),
        )


class TrainState(NamedTuple):
    """The scan carry."""

    params: Any
    opt_state: Any
    key: jax.Array
    baseline: jax.Array  # hard-reinforce's moving-average baseline (0 otherwise)


class EpochMetrics(NamedTuple):
    """One epoch's record (one entry per epoch in the history).

    Attributes:
        loss: mean training loss over the epoch's minibatches.
        train, test: :class:`MetricCounts` in percent after the epoch, each
            field with a leading rule axis of 3 (``focus_accuracy`` has none).
        fixed_focus_loss: fixed-focus runs only: ``[2]``, the mean training
            loss L(alpha) after the epoch and the focus model's incentive
            L(alpha) - L(alpha + incentive_step) (backward difference at
            alpha = 1); None otherwise.
    """

    loss: jax.Array
    train: MetricCounts
    test: MetricCounts
    fixed_focus_loss: jax.Array | None = None


class TrainResult(NamedTuple):
    """What ``train`` returns: final parameters and the per-epoch history."""

    params: Any
    history: EpochMetrics


#: Optimizers by name; any other optax factory can be passed as ``TrainConfig.optimizer``.
OPTIMIZERS = {"sgd": optax.sgd, "adam": optax.adam}


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def config_modules(config: TrainConfig):
    """The ``(focus, classifier)`` Flax modules: the user's, or a built-in family's."""
    if config.modules is not None:
        return tuple(config.modules)
    return make_models(
        config.model, num_classes=config.num_classes, segment_shape=config.segment_shape,
        hidden=config.hidden, classifier_init=config.classifier_init, precision=config.precision,
    )


def init_params(config: TrainConfig, key: jax.Array) -> dict:
    """Initial ``{"focus": ..., "classifier": ...}`` parameters."""
    focus, classifier = config_modules(config)
    dummy = jnp.zeros((1,) + tuple(config.segment_shape), jnp.float32)
    focus_key, classifier_key = jax.random.split(key)
    return {
        "focus": focus.init(focus_key, dummy),
        "classifier": classifier.init(classifier_key, dummy),
    }


def make_apply(config: TrainConfig):
    """``(focus_fn, classify_fn)`` builders: ``focus_fn(params)`` maps segments to scores."""
    focus, classifier = config_modules(config)

    def focus_fn(params):
        return lambda x: focus.apply(params["focus"], x)

    def classify_fn(params):
        return lambda x: classifier.apply(params["classifier"], x)

    return focus_fn, classify_fn


def fixed_focus_attention(alpha: jax.Array, fg_pos: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, m]`` weights: alpha on the foreground, (1 - alpha)/(n - 1) on each of the other
    n - 1 real segments (``mask`` True), 0 on padding."""
    alpha = jnp.asarray(alpha, jnp.float32)
    others = jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True) - 1, 1).astype(jnp.float32)
    is_fg = jnp.arange(mask.shape[-1])[None, :] == fg_pos[:, None]
    return jnp.where(is_fg, alpha, jnp.where(mask, (1.0 - alpha) / others, 0.0))


def fixed_focus_logits(alpha: jax.Array, fg_pos: jax.Array, mask: jax.Array) -> jax.Array:
    """Logits whose softmax is :func:`fixed_focus_attention` (-inf where a weight is 0)."""
    return jnp.log(fixed_focus_attention(alpha, fg_pos, mask))


def make_focus_logits(config: TrainConfig):
    """``focus_logits(params, hparams, segments [B, m, ...], fg_pos [B], mask [B, m]) -> [B, m]``.

    The learned focus model, or the frozen attention of the fixed-focus
    experiment; padding (``mask`` False) gets the logit -inf, so zero attention.
    """
    focus_fn, _ = make_apply(config)

    def focus_logits(params, hparams: Hyper, segments, fg_pos, mask):
        if config.fixed_focus:
            return fixed_focus_logits(hparams.alpha, fg_pos, mask)
        batch, m = segments.shape[:2]
        flat = segments.reshape((batch * m,) + segments.shape[2:])
        return jnp.where(mask, focus_fn(params)(flat).reshape(batch, m), -jnp.inf)

    return focus_logits


def make_predict(config: TrainConfig):
    """``predict(params, hparams, segments, fg_pos, mask) -> Predictions`` (all three rules)."""
    focus_logits = make_focus_logits(config)
    _, classify_fn = make_apply(config)

    def predictions(params, hparams: Hyper, segments, fg_pos, mask) -> Predictions:
        logits = focus_logits(params, hparams, segments, fg_pos, mask)
        return predict(logits, segments, classify_fn(params))

    return predictions


def make_train(
    config: TrainConfig, *, progress: Callable[[int], None] | None = None
) -> Callable[[jax.Array, Hyper, Dataset], TrainResult]:
    """Build the pure training function for one configuration.

    Arguments:
        config: the static settings.
        progress: optional host callback, called with the index of each
            finished epoch: once per epoch (under vmap the epoch index is not
            batched, so one call covers every seed of the program). It does
            not change the numbers.

    Returns:
        ``train(key, hparams, data) -> TrainResult``, pure and jittable. The
        history's leaves have a leading epoch axis.
    """
    _, classify_fn = make_apply(config)
    focus_logits = make_focus_logits(config)
    predictions = make_predict(config)
    factory = OPTIMIZERS[config.optimizer] if isinstance(config.optimizer, str) else config.optimizer
    opt = optax.inject_hyperparams(factory)

    def chunked_sum(data: Dataset, split: MosaicSplit, fn, zeros):
        """Sum ``fn(segments, labels, fg_pos, mask, truth, weight)`` over a split in fixed-size chunks."""
        n = split.index.shape[0]
        chunk = min(config.eval_chunk, n)
        n_chunks = -(-n // chunk)
        pad = n_chunks * chunk - n

        def padded(x):
            return jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape(
                (n_chunks, chunk) + x.shape[1:]
            )

        def body(total, xs):
            index, labels, fg_pos, mask, truth, weight = xs
            part = fn(data.pool[index], labels, fg_pos, mask, truth, weight)
            return jax.tree_util.tree_map(jnp.add, total, part), None

        xs = (padded(split.index), padded(split.labels), padded(split.fg_pos),
              jnp.pad(split.mask, ((0, pad), (0, 0)), constant_values=True).reshape((n_chunks, chunk, -1)),
              padded(split.truth), padded(jnp.ones(n, jnp.float32)))
        total, _ = jax.lax.scan(body, zeros, xs)
        return total

    def evaluate(params, hparams, data: Dataset, split: MosaicSplit) -> MetricCounts:
        def counts(segments, labels, fg_pos, mask, truth, weight):
            pred = predictions(params, hparams, segments, fg_pos, mask)
            return count_metrics(pred, labels, fg_pos, weight, truth=truth)

        zeros = MetricCounts(*(jnp.zeros(s) for s in [(3,), (), (3,), (3,), (3,), (3,)]))
        return to_percent(chunked_sum(data, split, counts, zeros), split.index.shape[0])

    def fixed_focus_losses(loss_name, params, hparams, data: Dataset):
        """``[L(alpha), incentive]`` on the training set, the classifier as it is now.

        The incentive is L(alpha) - L(alpha + d); where alpha + d would leave the
        simplex (alpha = 1) it is the backward difference L(alpha - d) - L(alpha).
        """
        step = config.incentive_step
        lower = jnp.where(hparams.alpha + step <= 1.0, hparams.alpha, hparams.alpha - step)
        alphas = jnp.stack([hparams.alpha, lower, lower + step])

        def losses(segments, labels, fg_pos, mask, truth, weight):
            def at(alpha):
                attention = fixed_focus_attention(alpha, fg_pos, mask)
                per_example = loss_at_attention(
                    loss_name, attention, segments, labels, classify_fn(params)
                )
                return jnp.sum(weight * per_example)

            return jax.vmap(at)(alphas)

        total = chunked_sum(data, data.train, losses, jnp.zeros(3)) / data.train.index.shape[0]
        return jnp.stack([total[0], total[1] - total[2]])

    def switch_of(hparams: Hyper):
        if hparams.switch_epoch is None:
            return jnp.int32(config.default_switch_epoch)
        return hparams.switch_epoch

    def one_loss(name: str, hparams: Hyper):
        """``loss(logits, segments, labels, classify, key, baseline) -> [B]`` for one paradigm."""
        if name == "hard-reinforce":
            return lambda lg, seg, lab, cl, key, b: reinforce_hard_loss(
                lg, seg, lab, cl, key=key, baseline=b, num_samples=config.samples,
                replace=config.sample_replace)
        if name == "hard-gumbel":
            return lambda lg, seg, lab, cl, key, b: gumbel_hard_loss(
                lg, seg, lab, cl, key=key, temperature=hparams.temperature)
        if name == "lvml-em":
            # EM's gradient is LVML's; its value exceeds LVML's by H(q), so the
            # recorded value is LVML's (a stop-gradient shift, no gradient change).
            def em(lg, seg, lab, cl, key, b):
                surrogate = lvml_em_losses(lg, seg, lab, cl)
                return surrogate + jax.lax.stop_gradient(LOSSES["lvml"](lg, seg, lab, cl) - surrogate)

            return em
        return lambda lg, seg, lab, cl, key, b: LOSSES[name](lg, seg, lab, cl)

    def paradigm_loss(second_phase, hparams: Hyper):
        """The per-example loss; the hybrid picks its phase's loss with ``lax.cond``."""
        if config.loss != "hybrid":
            return one_loss(config.loss, hparams)
        first, second = one_loss("soft", hparams), one_loss(config.hybrid_to, hparams)

        def loss(*args):
            return jax.lax.cond(second_phase, lambda: second(*args), lambda: first(*args))

        return loss

    reinforce_active = (
        (lambda second_phase: True) if config.loss == "hard-reinforce"
        else (lambda second_phase: second_phase) if config.loss == "hybrid" and config.hybrid_to == "hard-reinforce"
        else None
    )

    def make_epoch(hparams: Hyper, data: Dataset):
        split = data.train
        n_train = split.index.shape[0]
        n_batches = n_train // config.batch_size
        if n_batches == 0:
            raise ConfigError(
                f"batch size {config.batch_size} exceeds the {n_train} training mosaics"
            )
        switch = switch_of(hparams)

        def epoch(state: TrainState, epoch_index):
            second_phase = epoch_index >= switch
            loss_fn = paradigm_loss(second_phase, hparams)

            def batch_loss(params, rows, key, baseline):
                segments = data.pool[split.index[rows]]
                labels, fg_pos = split.labels[rows], split.fg_pos[rows]
                logits = focus_logits(params, hparams, segments, fg_pos, split.mask[rows])
                return jnp.mean(loss_fn(logits, segments, labels, classify_fn(params), key, baseline))

            def step(carry, xs):
                params, opt_state, baseline = carry
                rows, index = xs
                key = jax.random.fold_in(perm_key, index + 1)  # the sampled losses' draws
                loss, grads = jax.value_and_grad(batch_loss)(params, rows, key, baseline)
                updates, opt_state = opt_tx(hparams).update(grads, opt_state, params)
                if reinforce_active is not None:
                    baseline = jnp.where(reinforce_active(second_phase),
                                         update_baseline(baseline, loss, config.baseline_decay), baseline)
                return (optax.apply_updates(params, updates), opt_state, baseline), loss

            opt_state = state.opt_state
            if config.loss == "hybrid" and config.hybrid_reset:
                # A fresh optimizer at the switch, as when the second phase is its own run.
                fresh = opt_tx(hparams).init(state.params)
                opt_state = jax.tree_util.tree_map(
                    lambda new, old: jnp.where(epoch_index == switch, new, old), fresh, opt_state
                )
            key, perm_key = jax.random.split(state.key)
            perm = jax.random.permutation(perm_key, n_train)
            batches = perm[: n_batches * config.batch_size].reshape(n_batches, config.batch_size)
            (params, opt_state, baseline), losses = jax.lax.scan(
                step, (state.params, opt_state, state.baseline), (batches, jnp.arange(n_batches))
            )
            record = EpochMetrics(
                loss=jnp.mean(losses),
                train=evaluate(params, hparams, data, data.train),
                test=evaluate(params, hparams, data, data.test),
                fixed_focus_loss=(
                    fixed_focus_losses(config.loss, params, hparams, data)
                    if config.fixed_focus else None
                ),
            )
            if progress is not None:
                jax.debug.callback(progress, epoch_index)
            return TrainState(params, opt_state, key, baseline), record

        return epoch

    def opt_tx(hparams: Hyper):
        options = dict(hparams.optimizer or {})
        if config.optimizer == "sgd":
            options.setdefault("momentum", config.momentum)
        return opt(learning_rate=hparams.learning_rate, **options)

    def train(key: jax.Array, hparams: Hyper, data: Dataset) -> TrainResult:
        init_key, loop_key = jax.random.split(key)
        params = init_params(config, init_key)
        params = jax.tree_util.tree_map(lambda p: p * hparams.init_scale, params)
        if config.fixed_focus:
            params = {"classifier": params["classifier"]}  # only the classifier learns
        state = TrainState(params, opt_tx(hparams).init(params), loop_key, jnp.zeros((), jnp.float32))
        # One scan over every epoch; the hybrid compares the epoch index with its
        # (traced) switch epoch inside the scan.
        state, history = jax.lax.scan(make_epoch(hparams, data), state, jnp.arange(config.epochs))
        return TrainResult(params=state.params, history=history)

    return train
