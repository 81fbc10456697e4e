"""The clocks a history can be read on: minibatch steps, (fractional) epochs and flow time.

Gradient flow ``theta'(t) = -grad L(theta)`` is what minibatch SGD follows for small
steps. Plain SGD with step size ``lr`` moves ``theta`` by ``-lr grad L`` per step, so one
step is ``lr`` of flow time. With heavy-ball momentum ``mu`` (optax's
``v <- mu v + g; theta <- theta - lr v``), a slowly varying gradient builds a velocity of
``g / (1 - mu)``, so each step advances ``lr / (1 - mu)`` of flow time once the momentum
has built up. Hence, after k steps with learning rates ``lr_1 .. lr_k``::

    t_k = sum_{i <= k} lr_i / (1 - mu)        (mu = 0 for plain SGD)

Adaptive optimizers (Adam and the like) rescale each coordinate by its own history: their
steps are not a multiple of the gradient, and no single flow time exists. For them
`flow_time_scale` returns None with the reason.
"""

from __future__ import annotations

import numpy as np

__all__ = ["flow_time_scale", "flow_times", "ADAPTIVE_NOTE"]

#: Why an adaptive optimizer's history has no flow time (recorded in the result documents).
ADAPTIVE_NOTE = ("no flow time: the optimizer rescales each coordinate by its own gradient history, "
                 "so its steps are not a multiple of the gradient (flow time is defined for SGD, with or "
                 "without momentum)")


def flow_time_scale(optimizer, learning_rate, momentum=None) -> tuple[np.ndarray | None, str | None]:
    """Flow time per minibatch step: ``lr / (1 - momentum)`` for SGD, else None and the reason.

    Arguments:
        optimizer: the run's optimizer (``TrainConfig.optimizer``): ``"sgd"`` has a flow time;
            any other name or factory has none.
        learning_rate: the step size, a scalar or ``[runs]`` (one per seed or grid point).
        momentum: SGD's momentum, a scalar or shaped like ``learning_rate`` (None or 0: plain SGD).

    Returns:
        ``(scale, None)`` with ``scale`` shaped like ``learning_rate`` (float64), or
        ``(None, reason)``.
    """
    if optimizer != "sgd":
        return None, ADAPTIVE_NOTE
    mu = np.asarray(0.0 if momentum is None else momentum, np.float64)
    return np.asarray(learning_rate, np.float64) / (1.0 - mu), None


def flow_times(steps, scale) -> np.ndarray:
    """Flow time at each step count: ``steps * scale`` (a constant learning rate).

    Arguments:
        steps: ``[P]`` minibatch steps taken at each history point.
        scale: `flow_time_scale`'s scale, a scalar or ``[runs]``.

    Returns:
        ``[P]`` for a scalar scale, ``[runs, P]`` for a per-run one (float64).
    """
    steps = np.asarray(steps, np.float64)
    scale = np.asarray(scale, np.float64)
    return scale[..., None] * steps if scale.ndim else scale * steps
