"""The theory drawn over SGD: the reduced flow at a run's flow times, and SGD against it.

attnjax records a run's history on a flow-time clock (`attnjax.clock`): with SGD at
learning rate ``lr`` and heavy-ball momentum ``beta`` (optax: ``v <- beta v + g``,
``theta <- theta - lr v``), step ``k`` is at flow time ``t_k = k lr / (1 - beta)``.
`theory_at_flow_times` gives the reduced gradient flow's alpha(t), mu(t) and nu(t) at such
times; `sgd_against_flow` trains attnjax itself (``make_train``, minibatch SGD with
momentum, evaluations inside the epoch) and measures how far its foreground attention is
from the flow's alpha on that clock.

How a training run is the simple setting (paper-notes section 3)
-----------------------------------------------------------------
The flow is gradient flow, from mu = nu = 0, of the *mean* loss over C mosaics, one per
class, whose foreground is ``e_y`` and whose m - 1 background segments are zero, for a
linear focus ``u . x`` (no bias) and a linear classifier ``W x + b``, all starting at zero.
attnjax's run is exactly that when:

* the data are ``load_orthogonal(noise=0)`` (``--dataset orthogonal --protocol attnjax``,
  whose orthogonal noise is 0; the paper protocol adds noise 0.1 to the background's last
  coordinate, which the theory does not have) with ``n_train`` a multiple of C, so the
  labels ``i % C`` put every class equally often in the training mean (``--n-train`` a
  multiple of ``--classes``; the default is one mosaic per class). The foreground's
  position does not matter: attention and the pooled segment do not depend on the order;
* the model is ``linear`` (``--model linear``, the orthogonal default): focus without
  bias, classifier with a bias that stays zero on the symmetric manifold, zero
  initialisation whatever ``--init-scale`` says (zero times anything is zero);
* the optimizer is SGD (``--optimizer sgd``, the default) with any momentum, and the loss
  is ``soft``, ``hard`` or ``lvml`` (or ``hybrid`` with ``hybrid_to="hard"``, switching at
  flow time ``switch_epoch * n_batches * lr / (1 - beta)``);
* the flow's time is the full-parameter time of `analytic.solve_flow`: one full-batch
  plain gradient step of size ``lr`` is ``lr`` of flow time with no further factor
  (checked by ``time_scaling`` and ``gd_order`` in ``attnjax verify``).

Then the run's ``test_attention.a_z`` (mean attention on the foreground over the test
mosaics) is alpha, ``u[y]`` is nu and ``W[y, y] - W[k, y]`` is mu. With a full batch
(``batch_size = n_train``) and no momentum the only difference is Euler's O(lr); with
minibatches the state leaves the symmetric manifold by O(lr) within an epoch (random
reshuffling: every mosaic once an epoch) and momentum adds a lag (see `sgd_against_flow`).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._common import KINDS, check_size
from .solve import solve_flow

__all__ = ["theory_at_flow_times", "sgd_against_flow", "momentum_lag"]

THEORY_KINDS = KINDS + ("hybrid",)
_CHUNK = 63


def theory_at_flow_times(kind: str, flow_times, *, m, C, switch_time=None) -> dict:
    """The reduced flow from zero at the given flow times, in float64.

    Arguments:
        kind: "soft", "hard", "lvml", or "hybrid" (soft until ``switch_time``, then hard).
        flow_times: flow times >= 0 of any shape and order (for example
            `attnjax.clock.flow_times`' ``[P]`` or ``[runs, P]``); NaN entries give NaN.
        m, C: segments and classes (integers >= 2), keyword-only.
        switch_time: the hybrid's switch, in flow time (only for "hybrid").

    Returns:
        ``{"alpha", "mu", "nu"}``, NumPy float64 arrays shaped like ``flow_times``:
        the attention on the foreground ``e^nu / (e^nu + m - 1)``, the margin and the
        focus score.

    Raises:
        ValueError: an unknown kind, bad m or C, a negative or infinite time, a missing or
            spurious switch time.
        analytic.SolverFailure: the solve did not finish.
    """
    if kind not in THEORY_KINDS:
        raise ValueError(f"no theory for kind {kind!r}; expected one of {', '.join(THEORY_KINDS)}")
    m, C = check_size("m", m), check_size("C", C)
    times = np.asarray(flow_times, np.float64)
    finite = times[~np.isnan(times)]
    if np.any(np.isinf(finite)) or np.any(finite < 0):
        raise ValueError("flow times must be finite and non-negative (NaN marks a missing time)")
    if (kind == "hybrid") != (switch_time is not None):
        raise ValueError("switch_time is needed for, and only for, kind='hybrid'")
    out = {name: np.full(times.shape, np.nan) for name in ("alpha", "mu", "nu")}
    if finite.size == 0:
        return out
    grid, inverse = np.unique(finite, return_inverse=True)
    tau = None if switch_time is None else float(switch_time)
    with jax.enable_x64(True):
        # Chunks of _CHUNK times, each solved from 0: every length reuses the one compiled
        # program of solve_flow's smallest-but-one bucket (64 saved times), which
        # ``attnjax verify`` compiles anyway; a solve of the whole grid would compile a new
        # program for each bucket (256, 1024, 4096 ...) a history's length falls in.
        pieces = [solve_flow(kind, jnp.asarray(grid[i:i + _CHUNK], jnp.float64), m=m, C=C,
                             switch_time=tau) for i in range(0, grid.size, _CHUNK)]
        mu = np.concatenate([np.asarray(p[0], np.float64) for p in pieces])
        nu = np.concatenate([np.asarray(p[1], np.float64) for p in pieces])
    # alpha = sigmoid(nu - log(m - 1)), written to keep full relative accuracy near 1.
    alpha = 1.0 / (1.0 + np.exp(np.log(m - 1.0) - nu))
    where = ~np.isnan(times)
    for name, values in (("alpha", alpha), ("mu", mu), ("nu", nu)):
        out[name][where] = values[inverse.reshape(-1)]
    return out


def momentum_lag(momentum: float) -> float:
    """Steps by which heavy-ball SGD trails the clock ``k lr / (1 - beta)`` from rest.

    From ``v_0 = 0`` under a constant gradient g, ``v_j = g (1 - beta^j) / (1 - beta)``,
    so after k steps theta has moved ``lr g / (1 - beta) * (k - beta (1 - beta^k) / (1 - beta))``:
    the clock runs ``beta / (1 - beta)`` steps ahead (9 at beta = 0.9), a flow-time lag of
    ``lr beta / (1 - beta)^2``, proportional to lr.
    """
    return float(momentum) / (1.0 - float(momentum))


def _schedule(epochs: int, n_batches: int, every: int) -> np.ndarray:
    """Global step of each record, in time order: ``[epochs, P + 1]`` (points, then the epoch's end)."""
    n_points = (n_batches - 1) // every
    inside = (np.arange(1, n_points + 1) * every)[None, :]
    e = np.arange(epochs)[:, None]
    return np.concatenate([e * n_batches + inside, (e + 1) * n_batches + np.zeros((1, 1), np.int64)], axis=1)


def sgd_against_flow(kind: str, *, m: int = 5, C: int = 4, T: float = 100.0, lrs=(0.01, 0.005),
                     momentum: float = 0.9, per_class: int = 8, batch_size: int = 4,
                     eval_every: int = 2, seeds: int = 4, seed: int = 0) -> dict:
    """Train attnjax by minibatch SGD with momentum and compare its alpha with the flow's.

    The data are ``load_orthogonal(noise=0)`` with ``per_class`` training mosaics per class
    (so the training mean is the population mean of the theory) and one test mosaic per
    class; the model is ``linear`` from zero. Each learning rate runs
    ``round(T (1 - momentum) / lr)`` steps (rounded up to whole epochs) in one
    ``jit(vmap(make_train(config)))`` program over seeds and learning rates, evaluating
    every ``eval_every`` steps (``TrainConfig.eval_every``). alpha of SGD is the seeds' mean
    of ``test_attention.a_z`` at each point; its flow time is ``step * lr / (1 - momentum)``
    (`attnjax.clock`); the gap is the largest ``|alpha_SGD - alpha_flow|`` over the points
    with flow time <= T.

    The gap is first order in lr and mostly the momentum's: the velocity averages the
    gradients with a delay of ``beta / (1 - beta)`` steps (`momentum_lag`), and along
    the chain mu -> nu of the takeoff these delays add (see
    `analytic.checks.sgd_follows_flow` for the numbers). Minibatch noise (random
    reshuffling, every mosaic once an epoch) and Euler's own O(lr) are much smaller.

    Arguments:
        kind: "soft", "hard" or "lvml".
        m, C: segments and classes.
        T: flow time compared.
        lrs: learning rates (the first is the largest).
        momentum: SGD's heavy-ball momentum.
        per_class: training mosaics per class; ``batch_size`` must divide ``per_class * C``.
        eval_every: steps between in-epoch evaluations.
        seeds: runs per learning rate (their minibatch orders differ).
        seed: the key of the first run.

    Returns:
        A JSON-ready dict: ``settings``, and per learning rate (``runs``) the flow times,
        the seeds' mean alpha and its spread, the flow's alpha, the gap, the time of the
        gap, and the lag estimate ``max |alpha'| lr beta / (1 - beta)^2``; plus
        ``ratio`` (gap at the first lr over the gap at the second).

    Raises:
        ValueError: bad sizes or options.
    """
    from attnjax.clock import flow_time_scale, flow_times
    from attnjax.data import load_orthogonal
    from attnjax.train import Hyper, TrainConfig

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    lrs = [float(lr) for lr in lrs]
    if not lrs or min(lrs) <= 0 or not 0.0 <= momentum < 1.0 or T <= 0:
        raise ValueError(f"need positive lrs and T and momentum in [0, 1), got {lrs}, {T}, {momentum}")
    n_train = per_class * C
    if n_train % batch_size:
        raise ValueError(f"batch_size {batch_size} must divide the {n_train} training mosaics")
    n_batches = n_train // batch_size
    if n_batches < 2 or not 1 <= eval_every < n_batches:
        raise ValueError(f"eval_every {eval_every} must be below the {n_batches} steps of an epoch")
    scales = np.array([flow_time_scale("sgd", lr, momentum)[0] for lr in lrs])
    epochs = int(np.ceil(T / (scales.min() * n_batches)))
    with jax.enable_x64(False):
        data, info = load_orthogonal(num_classes=C, m=m, n_train=n_train, n_test=C, noise=0.0,
                                     random_position=False)
        config = TrainConfig.for_data(info, loss=kind, model="linear", epochs=epochs,
                                      batch_size=batch_size, momentum=momentum, eval_every=eval_every)
        runs = len(lrs) * seeds
        keys = jax.random.split(jax.random.key(seed), seeds)
        keys = jnp.concatenate([keys] * len(lrs))
        rates: Any = np.repeat(lrs, seeds)  # one per run (Hyper.tile takes a grid)
        hp = Hyper.tile(runs, learning_rate=rates)
        history = _train(config)(keys, hp, data).history
        a_points = np.asarray(history.points.test_attention.a_z, np.float64)  # [runs, E, P]
        a_end = np.asarray(history.test_attention.a_z, np.float64)  # [runs, E]
    a = np.concatenate([a_points, a_end[..., None]], axis=-1).reshape(len(lrs), seeds, -1)
    steps = np.concatenate([[0], _schedule(epochs, n_batches, eval_every).reshape(-1)])
    a = np.concatenate([np.full(a.shape[:2] + (1,), 1.0 / m), a], axis=-1)  # alpha(0) = 1/m from zero
    out = []
    for i, (lr, scale) in enumerate(zip(lrs, scales)):
        t = flow_times(steps, scale)
        keep = t <= T * (1 + 1e-12)
        t = t[keep]
        mean, spread = a[i].mean(0)[keep], a[i].std(0)[keep]
        theory = theory_at_flow_times(kind, t, m=m, C=C)["alpha"]
        gap = np.abs(mean - theory)
        j = int(np.argmax(gap))
        slope = np.max(np.abs(np.diff(theory) / np.diff(t)))
        out.append({
            "lr": lr, "flow_time_per_step": float(scale), "steps": int(steps[keep][-1]),
            "flow_times": t, "sgd_alpha": mean, "sgd_alpha_std": spread, "theory_alpha": theory,
            "gap": float(gap[j]), "gap_time": float(t[j]),
            "lag_estimate": float(slope * lr * momentum_lag(momentum) / (1.0 - momentum)),
        })
    ratio = out[0]["gap"] / out[1]["gap"] if len(out) > 1 and out[1]["gap"] > 0 else None
    return {
        "settings": {"kind": kind, "m": m, "C": C, "T": T, "lrs": lrs, "momentum": momentum,
                     "n_train": n_train, "n_test": C, "batch_size": batch_size, "epochs": epochs,
                     "eval_every": eval_every, "seeds": seeds, "model": "linear",
                     "data": "load_orthogonal(noise=0, random_position=False)",
                     "sgd_dtype": "float32", "theory_dtype": "float64"},
        "runs": out, "ratio": ratio,
    }


@functools.lru_cache(maxsize=8)
def _train(config):
    from attnjax.train import make_train

    return jax.jit(jax.vmap(make_train(config), in_axes=(0, 0, None)))
