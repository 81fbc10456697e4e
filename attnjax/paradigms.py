"""Training paradigms as objects: one place says what each paradigm *is*.

A [`Paradigm`][attnjax.paradigms.Paradigm] is a NamedTuple of plain data and pure functions, in the
spirit of optax's ``GradientTransformation``; the training loop only calls its
interface:

* ``make_loss(config, hparams, epoch)`` returns the per-example loss
  ``loss(focus_logits [B, m], segments [B, m, ...], labels [B], classify, key, state) -> [B]``
  for that (traced) epoch index;
* ``init_state(config)`` and ``update_state(state, batch_loss, config, hparams, epoch)`` carry
  what the paradigm keeps between minibatches (REINFORCE's moving-average baseline; an empty
  tuple for the exact losses), initialised and updated by the paradigm itself;
* ``reset_optimizer(config, hparams, epoch)``: None, or a traced boolean that is true at the
  epoch where the optimizer state starts afresh (the hybrid's switch with ``hybrid_reset``);
* ``rule``: the inference rule it is judged by (``attnjax.metrics.RULES``);
* ``options`` / ``hyper``: the [`TrainConfig`][attnjax.config.TrainConfig] and
  [`Hyper`][attnjax.config.Hyper] fields that apply to it alone (the CLI refuses their
  options elsewhere; ``TrainConfig.to_json`` records them only where they apply);
* ``objective`` and ``color``: how figures name and draw it.

The hybrid is a paradigm made of two others and a switch (`hybrid`).

This module imports no JAX (the command line reads it for ``--help``): the loss
functions are imported when a loss is built. To train a paradigm of your own, build
a ``Paradigm`` and pass it as ``TrainConfig(loss=...)`` or in ``compare(losses=[...])``;
nothing needs registering.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from .errors import ConfigError

__all__ = ["Paradigm", "REGISTRY", "get_paradigm", "paradigm_name", "hybrid_phases", "switch_epoch",
           "ALL_OPTIONS", "options_of", "hyper_of", "SECOND_PHASES", "FIXED_FOCUS"]


def _no_state(config):
    return ()


def _keep_state(state, batch_loss, config, hparams, epoch):
    return state


def _never(config, hparams, epoch):
    return None


class Paradigm(NamedTuple):
    """One training paradigm (see the module docstring for the interface)."""

    name: str
    make_loss: Callable[[Any, Any, Any], Callable]
    rule: str = "expected"
    objective: str = ""
    color: str | None = None
    options: tuple[str, ...] = ()
    hyper: tuple[str, ...] = ()
    init_state: Callable[[Any], Any] = _no_state
    update_state: Callable[..., Any] = _keep_state
    reset_optimizer: Callable[[Any, Any, Any], Any] = _never
    second_phase: bool = True
    fixed_focus: bool = False


# ----------------------------------------------------------------------------- the exact losses


def _exact(name: str):
    def make_loss(config, hparams, epoch):
        from .losses import LOSSES

        exact = LOSSES[name]
        return lambda logits, segments, labels, classify, key, state: exact(logits, segments, labels, classify)

    return make_loss


SOFT = Paradigm("soft", _exact("soft"), rule="pooled", objective="soft-attention loss", color="tab:blue",
                second_phase=False, fixed_focus=True)
HARD = Paradigm("hard", _exact("hard"), objective="hard-attention loss (expected CE)", color="tab:red",
                fixed_focus=True)
LVML = Paradigm("lvml", _exact("lvml"), objective="LVML loss (−log marginal likelihood)", color="tab:green",
                fixed_focus=True)


# ----------------------------------------------------------------------------- the sampled estimators


def _reinforce_loss(config, hparams, epoch):
    from .sampled import reinforce_hard_loss

    def loss(logits, segments, labels, classify, key, baseline):
        return reinforce_hard_loss(logits, segments, labels, classify, key=key, baseline=baseline,
                                   num_samples=config.samples, replace=config.sample_replace)

    return loss


def _reinforce_init(config):
    import jax.numpy as jnp

    return jnp.zeros((), jnp.float32)


def _reinforce_update(baseline, batch_loss, config, hparams, epoch):
    from .sampled import update_baseline

    return update_baseline(baseline, batch_loss, config.baseline_decay)


def _gumbel_loss(config, hparams, epoch):
    from .sampled import gumbel_hard_loss

    return lambda logits, segments, labels, classify, key, state: gumbel_hard_loss(
        logits, segments, labels, classify, key=key, temperature=hparams.temperature)


def _em_loss(config, hparams, epoch):
    import jax

    from .losses import lvml_loss
    from .sampled import lvml_em_losses

    def loss(logits, segments, labels, classify, key, state):
        # EM's gradient is LVML's; its value exceeds LVML's by H(q), so the recorded
        # value is LVML's (a stop-gradient shift, no gradient change).
        surrogate = lvml_em_losses(logits, segments, labels, classify)
        return surrogate + jax.lax.stop_gradient(lvml_loss(logits, segments, labels, classify) - surrogate)

    return loss


HARD_REINFORCE = Paradigm("hard-reinforce", _reinforce_loss, objective="sampled CE (REINFORCE, mean over batch)",
                          color="tab:orange", options=("samples", "sample_replace", "baseline_decay"),
                          init_state=_reinforce_init, update_state=_reinforce_update)
HARD_GUMBEL = Paradigm("hard-gumbel", _gumbel_loss, objective="sampled CE (straight-through Gumbel)",
                       color="tab:brown", hyper=("temperature",))
LVML_EM = Paradigm("lvml-em", _em_loss, objective="LVML loss (trained by EM)", color="tab:olive")


# ----------------------------------------------------------------------------- the hybrid


def hybrid_phases(config) -> tuple[Paradigm, Paradigm]:
    """The hybrid's ``(first, second)`` paradigms: soft attention, then ``config.hybrid_to``."""
    return SOFT, get_paradigm(config.hybrid_to)


def switch_epoch(config, hparams):
    """The hybrid's (traced) switch epoch: ``hparams.switch_epoch``, else the config's default."""
    import jax.numpy as jnp

    return jnp.int32(config.default_switch_epoch) if hparams.switch_epoch is None else hparams.switch_epoch


def _hybrid_loss(config, hparams, epoch):
    """The active phase's loss, picked with ``lax.cond`` on ``epoch >= switch``."""
    import jax

    first, second = hybrid_phases(config)
    second_phase = epoch >= switch_epoch(config, hparams)
    a, b = first.make_loss(config, hparams, epoch), second.make_loss(config, hparams, epoch)

    def loss(logits, segments, labels, classify, key, state):
        sa, sb = state
        return jax.lax.cond(second_phase, lambda: b(logits, segments, labels, classify, key, sb),
                            lambda: a(logits, segments, labels, classify, key, sa))

    return loss


def _hybrid_init(config):
    first, second = hybrid_phases(config)
    return first.init_state(config), second.init_state(config)


def _hybrid_update(state, batch_loss, config, hparams, epoch):
    """Only the active phase's state moves."""
    import jax
    import jax.numpy as jnp

    first, second = hybrid_phases(config)
    second_phase = epoch >= switch_epoch(config, hparams)
    a, b = state
    new_a = jax.tree_util.tree_map(lambda new, old: jnp.where(second_phase, old, new),
                                   first.update_state(a, batch_loss, config, hparams, epoch), a)
    new_b = jax.tree_util.tree_map(lambda new, old: jnp.where(second_phase, new, old),
                                   second.update_state(b, batch_loss, config, hparams, epoch), b)
    return new_a, new_b


def _hybrid_reset(config, hparams, epoch):
    """With ``hybrid_reset``: a fresh optimizer at the switch, as when the second phase is its own run."""
    return (epoch == switch_epoch(config, hparams)) if config.hybrid_reset else None


HYBRID = Paradigm("hybrid", _hybrid_loss, objective="hybrid: soft, then second-phase loss", color="tab:purple",
                  options=("switch_epoch", "hybrid_to", "hybrid_reset"), hyper=("switch_epoch",),
                  init_state=_hybrid_init, update_state=_hybrid_update, reset_optimizer=_hybrid_reset,
                  second_phase=False)

#: The built-in paradigms by name: the three exact losses, the soft-then-hard hybrid,
#: then the sampled estimators of hard attention and LVML by EM.
REGISTRY: dict[str, Paradigm] = {p.name: p for p in (SOFT, HARD, LVML, HYBRID, HARD_REINFORCE, HARD_GUMBEL, LVML_EM)}

#: Paradigms the hybrid can switch to.
SECOND_PHASES = tuple(name for name, p in REGISTRY.items() if p.second_phase)
#: Paradigms the fixed-focus experiment trains (an exact loss at given attention weights).
FIXED_FOCUS = tuple(name for name, p in REGISTRY.items() if p.fixed_focus)
#: Every paradigm-specific TrainConfig field of the built-in paradigms.
ALL_OPTIONS = tuple(dict.fromkeys(o for p in REGISTRY.values() for o in p.options))


def get_paradigm(loss: str | Paradigm) -> Paradigm:
    """The [`Paradigm`][attnjax.paradigms.Paradigm] called ``loss``, or ``loss`` itself if it is one.

    Raises:
        ConfigError: an unknown name.
    """
    if isinstance(loss, Paradigm):
        return loss
    if loss not in REGISTRY:
        raise ConfigError(f"unknown loss {loss!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[loss]


def paradigm_name(loss: str | Paradigm) -> str:
    """The name a paradigm is reported under."""
    return loss.name if isinstance(loss, Paradigm) else loss


def _used(config, kind: str) -> set[str]:
    """``kind`` (``"options"`` or ``"hyper"``) of a config's paradigm, with its second phase's for the hybrid."""
    paradigm = get_paradigm(config.loss)
    used = set(getattr(paradigm, kind))
    if paradigm is HYBRID:
        used |= set(getattr(get_paradigm(config.hybrid_to), kind))
    return used


def options_of(config) -> set[str]:
    """The paradigm-specific TrainConfig fields a config uses (its second phase's too, for the hybrid)."""
    return _used(config, "options")


def hyper_of(config) -> set[str]:
    """The traced [`Hyper`][attnjax.config.Hyper] fields a config's paradigm reads (with its second phase's)."""
    return _used(config, "hyper")
