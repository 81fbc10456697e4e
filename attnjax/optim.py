"""The optimizer of a run: an optax factory whose numeric arguments are traced.

``make_optimizer(config)(hparams)`` is the ``GradientTransformation`` of one run:
``optax.inject_hyperparams(factory)`` with the learning rate from
``hparams.learning_rate`` and the other numbers from ``hparams.optimizer`` (SGD's
momentum defaults to ``config.momentum``), so a grid of any of them vmaps like seeds.
"""

from __future__ import annotations

from typing import Callable

import optax

from .protocol import OPTIMIZER_NAMES

__all__ = ["OPTIMIZERS", "make_optimizer"]

#: Optimizers by name; any other optax factory can be passed as ``TrainConfig.optimizer``.
OPTIMIZERS = {name: getattr(optax, name) for name in OPTIMIZER_NAMES}


def make_optimizer(config) -> Callable[..., optax.GradientTransformation]:
    """``tx(hparams) -> optax.GradientTransformation`` for ``config.optimizer``.

    Arguments:
        config: a [`TrainConfig`][attnjax.config.TrainConfig] (its ``optimizer`` and ``momentum``).

    Returns:
        A function of the run's [`Hyper`][attnjax.config.Hyper]; ``tx(hparams).init`` and
        ``.update`` are optax's.
    """
    factory = OPTIMIZERS[config.optimizer] if isinstance(config.optimizer, str) else config.optimizer
    opt = optax.inject_hyperparams(factory)

    def tx(hparams) -> optax.GradientTransformation:
        options = dict(hparams.optimizer or {})
        if config.optimizer == "sgd":
            options.setdefault("momentum", config.momentum)
        return opt(learning_rate=hparams.learning_rate, **options)

    return tx
