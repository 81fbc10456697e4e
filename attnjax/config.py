"""The static and the traced settings of a training run.

[`TrainConfig`][attnjax.config.TrainConfig] holds everything that changes the compiled program
(shapes, model, loss, optimizer factory, schedule length); [`Hyper`][attnjax.config.Hyper] holds
every number that may differ between the runs of one program (learning rate,
optimizer hyper-parameters, switch epoch, fixed-focus alpha, init scale,
temperature), so grids of them vmap like seeds. Defaults come from
`attnjax.protocol`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import optax

from .data.base import DataInfo
from .errors import ConfigError
from .metrics import RULES
from .layers import CLASSIFIER_INITS, resolve_conv
from .models import CONVS, MODEL_FAMILIES
from .optim import OPTIMIZERS  # re-exported from its old home
from .paradigms import ALL_OPTIONS, Paradigm, get_paradigm, options_of, paradigm_name
from .protocol import (DEFAULT_CONV, DEFAULT_PROTOCOL, ENCODER_WIDTHS, ENCODERS, M, PROTOCOLS, SECOND_PHASES,
                       TEXT_FAMILIES, TRANSFORMER_HEADS, TRANSFORMER_LAYERS, Protocol, default_hidden, get_protocol)

__all__ = ["TrainConfig", "Hyper", "OPTIMIZERS"]


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


_ATTNJAX = PROTOCOLS[DEFAULT_PROTOCOL]
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static settings of one training run (everything that changes the program).

    Shapes, the model family, the loss and the schedule's length are static:
    changing any of them compiles a new program. The learning rate, the
    fixed-focus alpha and the hybrid's switch epoch are traced [`Hyper`][attnjax.config.Hyper]
    fields instead, so they vmap like seeds.

    Attributes:
        loss: a paradigm: a name of ``attnjax.paradigms.REGISTRY`` (``"soft"``, ``"hard"``,
            ``"lvml"``, ``"hybrid"``, ...) or your own [`Paradigm`][attnjax.paradigms.Paradigm].
        num_classes: K.
        m: segments per mosaic.
        segment_shape: shape of one segment.
        model: model family for focus and classifier (``linear``, ``mlp``, ``cnn``, ``gated``, and for
            token ids ``embed`` and ``transformer``); ignored when ``modules`` is given.
        hidden: hidden width of the MLP heads; None: the family's
            (`attnjax.protocol.default_hidden`: 200 for the text families, else 64).
        encoder: ``none``, ``mlp`` or ``cnn`` (`attnjax.protocol.ENCODERS`): what maps the
            segments to the representations the heads see (the text families always embed).
        encoder_width: d, the encoder's output width; None: ``ENCODER_WIDTHS``' for the encoder.
        vocab_size: V when the segments are token ids (the text data sets); None otherwise.
        heads: the transformer family's self-attention heads.
        layers: the transformer family's layers.
        classifier_init: weight initialisation of the classifier
            (``attnjax.layers.CLASSIFIER_INITS``).
        precision: arithmetic of the built-in models' products
            (``float32``, ``tensorfloat32``, ``bfloat16``; see ``attnjax.models``).
        conv: the CNNs' convolutions (``auto``, ``im2col``, ``lax``; see
            [`attnjax.models.make_models`][]); ``auto`` is decided from the backend when the
            models are built, and [`to_json`][attnjax.config.TrainConfig.to_json] records what it decided. Other families
            have no convolution and ignore it.
        modules: your own ``(focus, classifier)`` or ``(encoder, focus, classifier)`` Flax
            modules, with the built-in families' contract: the encoder (None: none) maps
            ``segments [B, m, *segment_shape], mask [B, m]`` to representations ``[B, m, d]``,
            each example on its own ([`attnjax.encoders`][]); the focus maps ``[N, d]`` (or,
            without an encoder, ``[N, *segment_shape]``) to scores ``[N]``, the classifier to
            logits ``[N, K]``. The built-in families are built by
            [`attnjax.models.make_models`][] and go through the same path.
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
        eval_every: also evaluate every this many minibatch steps inside each epoch (counted
            from the epoch's start; `attnjax.train.PointMetrics`); None: once an epoch.
        eval_mosaics: the in-epoch evaluations use each split's first this many mosaics
            (None: all); the epoch-end evaluation always uses the whole split.
    """

    loss: str | Paradigm = "soft"
    num_classes: int = 3
    m: int = M
    segment_shape: tuple[int, ...] = (8, 8, 1)
    model: str = "mlp"
    hidden: int | None = None
    encoder: str = "none"
    encoder_width: int | None = None
    vocab_size: int | None = None
    heads: int = TRANSFORMER_HEADS
    layers: int = TRANSFORMER_LAYERS
    classifier_init: str = _ATTNJAX.classifier_init
    precision: str = "float32"
    conv: str = DEFAULT_CONV
    modules: tuple[Any, ...] | None = None
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
    eval_every: int | None = None
    eval_mosaics: int | None = None

    def __post_init__(self):
        get_paradigm(self.loss)  # raises ConfigError naming the choices
        if self.modules is not None and len(self.modules) not in (2, 3):
            raise ConfigError("modules must be (focus, classifier) or (encoder, focus, classifier) Flax modules")
        if self.hidden is None:  # the family's default, resolved once so that to_json records it
            object.__setattr__(self, "hidden", default_hidden(self.model))
        if self.encoder not in ENCODERS:
            raise ConfigError(f"unknown encoder {self.encoder!r}; choose from {', '.join(ENCODERS)}")
        if self.vocab_size is not None and self.vocab_size < 2:
            raise ConfigError(f"vocab_size must be at least 2 (padding and one token), got {self.vocab_size}")
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
        if self.conv not in CONVS:
            raise ConfigError(f"unknown conv {self.conv!r}; choose from {', '.join(CONVS)}")
        if self.m < 2:
            raise ConfigError(f"m must be at least 2 segments, got {self.m}")
        for name in ("num_classes", "epochs", "batch_size", "hidden", "heads", "layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.encoder_width is not None and self.encoder_width < 1:
            raise ConfigError(f"encoder_width must be positive, got {self.encoder_width}")
        for name in ("eval_batch_size", "eval_every", "eval_mosaics"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.eval_mosaics is not None and self.eval_every is None:
            raise ConfigError("eval_mosaics sizes the in-epoch evaluations: it needs eval_every")
        if self.num_classes < 2:
            raise ConfigError(f"need at least 2 foreground classes, got {self.num_classes}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.hybrid_to not in SECOND_PHASES:
            raise ConfigError(f"the hybrid's second phase must be one of {', '.join(SECOND_PHASES)}, got "
                              f"{self.hybrid_to!r}", field="hybrid_to")
        if self.samples < 1 or (not self.sample_replace and self.samples > self.m):
            raise ConfigError(f"the number of samples must be in 1..m={self.m} without replacement, got {self.samples}",
                              field="samples")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError(f"the baseline decay must be in [0, 1), got {self.baseline_decay}", field="baseline_decay")
        if self.switch_epoch is not None and not 0 <= self.switch_epoch <= self.epochs:
            raise ConfigError(
                f"switch_epoch must be in [0, epochs={self.epochs}], got {self.switch_epoch}"
            )
        if self.fixed_focus and not get_paradigm(self.loss).fixed_focus:
            raise ConfigError(f"the fixed-focus experiment trains soft, hard or lvml, not the {paradigm_name(self.loss)}")

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
        p = get_protocol(protocol).for_data(info.vocab_size is not None)
        given = {k: v for k, v in overrides.items() if v is not None}
        hybrid_epochs = given.pop("hybrid_epochs", None)
        fixed = given.get("fixed_focus", False)
        values: dict[str, Any] = dict(
            model="mlp" if info.default_model == "cnn" and given.get("encoder", "none") != "none"
            else info.default_model,  # an encoder's features are vectors: not the CNNs' images
            classifier_init=p.classifier_init, batch_size=p.batch_size,
            epochs=p.fixed_focus_epochs if fixed else p.epochs, momentum=p.momentum,
            hybrid_reset=p.hybrid_reset,
        )
        if paradigm_name(given.get("loss", "soft")) == "hybrid":
            epochs, switch = p.hybrid_schedule(given.get("epochs"), given.get("switch_epoch"), hybrid_epochs)
            given.update(epochs=epochs, switch_epoch=switch)
        values.update(given)
        return cls(num_classes=info.num_classes, m=info.m, segment_shape=tuple(info.segment_shape),
                   vocab_size=info.vocab_size, **values)

    @property
    def rule(self) -> int:
        """Index (0, 1, 2) of the inference rule this paradigm is judged by."""
        return RULES.index(get_paradigm(self.loss).rule)

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
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["eval_batch_size"] = self.eval_chunk
        for name in ("eval_every", "eval_mosaics"):  # absent when off: such runs' settings are as before
            if out[name] is None:
                out.pop(name)
        out["optimizer"] = self.optimizer if isinstance(self.optimizer, str) else _qualname(self.optimizer)
        if self.modules is not None:
            out["modules"] = [None if m is None else _qualname(type(m)) for m in self.modules]
            for name in ("model", "hidden", "classifier_init", "precision", "conv", "encoder", "encoder_width",
                         "heads", "layers"):
                out.pop(name)
        else:
            out.pop("modules")
            text = self.model in TEXT_FAMILIES
            if text or self.encoder != "none":
                out["encoder"] = self.model if text else self.encoder  # what ran
                out["encoder_width"] = (ENCODER_WIDTHS[out["encoder"]] if self.encoder_width is None
                                        else self.encoder_width)
            else:
                out.pop("encoder_width")
            if self.model != "transformer":
                out.pop("heads")
                out.pop("layers")
        if self.vocab_size is None:
            out.pop("vocab_size")
        if self.optimizer != "sgd":
            out.pop("momentum")
        out["loss"] = paradigm_name(self.loss)
        used = options_of(self)  # the paradigm's own fields (and its second phase's, for the hybrid)
        for name in ALL_OPTIONS:
            if name not in used:
                out.pop(name)
        if "switch_epoch" in used:
            out["switch_epoch"] = self.default_switch_epoch
        if not self.fixed_focus:
            out.pop("incentive_step")
        if self.modules is None and self.model not in ("mlp", "gated", *TEXT_FAMILIES):
            out.pop("hidden")
        if self.modules is None and self.model in ("linear", *TEXT_FAMILIES):
            out.pop("classifier_init")  # zero for linear; PyTorch's default for the text heads
        if self.modules is None and self.model in TEXT_FAMILIES:
            out.pop("precision")  # the text models compute in float32
        if self.modules is None:  # what ran: "auto" resolved for this backend
            if self.model == "cnn" or self.encoder == "cnn":
                out["conv"] = resolve_conv(self.conv)
            else:
                out.pop("conv")
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

    learning_rate: jax.Array | np.ndarray | float = _ATTNJAX.learning_rate
    alpha: jax.Array | np.ndarray | float = 1.0
    switch_epoch: jax.Array | np.ndarray | int | None = None
    init_scale: jax.Array | np.ndarray | float = 1.0
    optimizer: dict[str, jax.Array | np.ndarray | float] | None = None
    temperature: jax.Array | np.ndarray | float = 1.0

    @classmethod
    def checked(cls, n: int, *, learning_rate: npt.ArrayLike = _ATTNJAX.learning_rate, alpha: npt.ArrayLike = 1.0,
                switch_epoch: npt.ArrayLike | None = None, init_scale: npt.ArrayLike = 1.0,
                optimizer: Mapping[str, npt.ArrayLike] | None = None, temperature: npt.ArrayLike = 1.0) -> "Hyper":
        """n runs' values exactly as given: ``[n]`` float64 NumPy arrays (switch epochs int32), each checked.

        A scalar is repeated; a sequence of length n is used as is. Record these; train with
        [`traced`][attnjax.config.Hyper.traced], their float32 roundings.

        Raises:
            ConfigError: names the field: a learning rate or temperature that is not positive in
                float32, an alpha outside (0, 1], a negative switch epoch, a value float32 cannot hold.
        """
        def column(x, name):
            array = np.array(np.broadcast_to(np.asarray(x, np.float64), (n,)))
            if not np.all(np.isfinite(array) & (np.abs(array) <= _FLOAT32_MAX)):
                raise ConfigError(f"{name} must be finite in float32 (magnitude at most {_FLOAT32_MAX:.4g}), got {x}")
            return array

        values = cls(
            learning_rate=column(learning_rate, "learning_rate"), alpha=column(alpha, "alpha"),
            switch_epoch=None if switch_epoch is None else np.array(np.broadcast_to(np.asarray(switch_epoch), (n,)),
                                                                    np.int32),
            init_scale=column(init_scale, "init_scale"),
            optimizer=None if not optimizer else {k: column(v, f"optimizer[{k!r}]") for k, v in optimizer.items()},
            temperature=column(temperature, "temperature"),
        )
        for name, given in (("learning_rate", learning_rate), ("temperature", temperature)):
            if not np.all(getattr(values, name).astype(np.float32) > 0):
                raise ConfigError(f"{name} must be positive in float32, got {given}")
        if not np.all((values.alpha > 0) & (values.alpha <= 1)):
            raise ConfigError(f"alpha must be in (0, 1], got {alpha}")
        if values.switch_epoch is not None and np.any(values.switch_epoch < 0):
            raise ConfigError(f"switch_epoch must be non-negative, got {switch_epoch}")
        return values

    def traced(self) -> "Hyper":
        """The values as the program takes them: float32 arrays (int32 switch epochs)."""
        def f32(x) -> Any:
            return None if x is None else jnp.asarray(np.asarray(x, np.float64).astype(np.float32))

        return Hyper(f32(self.learning_rate), f32(self.alpha),
                     None if self.switch_epoch is None else jnp.asarray(self.switch_epoch, jnp.int32),
                     f32(self.init_scale), None if self.optimizer is None else
                     {k: f32(v) for k, v in self.optimizer.items()}, f32(self.temperature))

    @classmethod
    def tile(cls, n: int, learning_rate=_ATTNJAX.learning_rate, alpha=1.0, switch_epoch=None,
             init_scale=1.0, optimizer=None, temperature=1.0) -> "Hyper":
        """n copies as ``[n]`` arrays, ready for ``vmap`` over seeds.

        A scalar is repeated; an array of length n (a grid) is used as is.
        """

        def column(x, dtype) -> Any:
            return None if x is None else jnp.broadcast_to(jnp.asarray(x, dtype), (n,))

        return cls(
            learning_rate=column(learning_rate, jnp.float32), alpha=column(alpha, jnp.float32),
            switch_epoch=column(switch_epoch, jnp.int32), init_scale=column(init_scale, jnp.float32),
            optimizer=None if optimizer is None else {k: column(v, jnp.float32) for k, v in optimizer.items()},
            temperature=column(temperature, jnp.float32),
        )


