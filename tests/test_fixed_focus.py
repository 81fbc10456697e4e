"""Fixed-focus training on the orthogonal data against the closed forms of analytic/.

Classifier-only gradient descent with lr = 0.01 (one full batch of one mosaic per
class per epoch, no momentum) approximates the fixed-focus gradient flow at time
t = epochs * lr. Forward Euler's global error is O(lr): here |mu_GD - mu(t)| is about
lr * t * max|mu''| / 2 <~ 0.01 * 4 * 0.1 / 2 = 2e-3, so we allow 1e-2 absolute on mu
and 1e-2 relative on the losses and incentives (float32 rounding is ~1e-6).
"""

import jax
import numpy as np
import pytest

from analytic.closed_form import fixed_focus_incentive, fixed_focus_margin
from analytic.setting import focus_loss
from attnjax.data import load_orthogonal
from attnjax.experiments import train_seeds
from attnjax.train import TrainConfig

C, M, LR, EPOCHS = 5, 4, 0.01, 400
ALPHAS = np.array([0.2, 0.6, 1.0])


@pytest.mark.parametrize("kind", ["soft", "hard", "lvml"])
def test_classifier_only_training_follows_the_closed_form(kind):
    data, info = load_orthogonal(num_classes=C, m=M)
    config = TrainConfig.for_data(
        info, loss=kind, fixed_focus=True, momentum=0.0, batch_size=C, epochs=EPOCHS,
        eval_batch_size=C,
    )
    runs = train_seeds(config, data, seeds=len(ALPHAS), learning_rate=LR, alpha=ALPHAS)
    kernel = np.asarray(runs.params["classifier"]["params"]["Dense_0"]["kernel"])  # [S, C+1, C]
    W = kernel.transpose(0, 2, 1)  # g(x) = W x + b
    # mu = W[y, y] - W[k, y]; by symmetry every (y, k != y) pair gives the same value.
    margins = np.array([[W[s, y, y] - W[s, k, y] for y in range(C) for k in range(C) if k != y]
                        for s in range(len(ALPHAS))])
    np.testing.assert_allclose(margins, np.broadcast_to(margins[:, :1], margins.shape), atol=1e-5)
    mu_gd = margins[:, 0]
    t = EPOCHS * LR
    with jax.enable_x64(True):
        mu_exact = np.asarray(fixed_focus_margin(kind, ALPHAS, t, C=C))
        loss_exact = np.asarray(focus_loss(kind, ALPHAS, mu_exact, C=C))
        incentive_exact = 0.01 * np.asarray(fixed_focus_incentive(kind, ALPHAS, mu_exact, C=C))
    np.testing.assert_allclose(mu_gd, mu_exact, atol=1e-2)
    loss_alpha, incentive = runs.history.fixed_focus_loss[:, -1].T
    np.testing.assert_allclose(loss_alpha, loss_exact, rtol=1e-2)
    # L(a) - L(a + 0.01) (backward at a = 1) = 0.01 * (-dL/da) + O(0.01^2 * d2L/da2): ~1% more.
    np.testing.assert_allclose(incentive, incentive_exact, rtol=3e-2)


def _document(*, data="orthogonal", fg_position="first", model="linear", epochs=3):
    """A fixed-focus document as the command writes it (only what the theory reads)."""
    paradigm = {"model": model, "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "batch_size": 256}
    per_alpha = {a: {"loss": np.zeros((2, epochs)).tolist(), "incentive": np.zeros((2, epochs)).tolist()}
                 for a in ("0.2", "1")}
    return {"kind": "fixed-focus", "incentive_step": 0.01,
            "config": {"data": {"name": data, "num_classes": 20, "m": 20,
                                "settings": {"n_train": 5000, "fg_position": fg_position, "noise_std": 0.1}},
                       "paradigms": {"hard": dict(paradigm), "soft": dict(paradigm)}},
            "results": {"hard": per_alpha, "soft": per_alpha}}


def test_the_command_attaches_the_closed_forms_at_each_epochs_flow_time():
    """Against scipy's brentq on the defining equations (paper-notes section 3), float64.

    Epoch e is at t = lr * e * (5000 // 256) / (1 - momentum) = 0.05 * 19 e / 0.1 = 9.5 e. Hard:
    e^mu + (C - 1) mu = 1 + alpha t; soft: the same for y = alpha mu at rate alpha^2. The losses are
    typed from the notes; brentq's xtol 1e-14 makes 1e-9 relative a safe bound.
    """
    from scipy.optimize import brentq

    from analytic.run_theory import attach_fixed_focus_theory

    C = 20
    doc = attach_fixed_focus_theory(_document())
    t = 9.5 * np.arange(1, 4)
    np.testing.assert_allclose(doc["theory"]["hard"]["flow_time"], t, rtol=1e-12)

    def solve(rate):  # e^y + (C - 1) y = 1 + rate
        return brentq(lambda y: np.exp(y) + (C - 1) * y - 1 - rate, 0.0, 50.0, xtol=1e-14)

    def hard_loss(a, mu):
        return a * np.log1p((C - 1) * np.exp(-mu)) + (1 - a) * np.log(C)

    def soft_loss(a, mu):
        return np.log1p((C - 1) * np.exp(-a * mu))

    for a in (0.2, 1.0):
        key = f"{a:g}"
        mu_hard = np.array([solve(a * ti) for ti in t])
        mu_soft = np.array([solve(a * a * ti) for ti in t]) / a
        other = a + 0.01 if a + 0.01 <= 1 else a - 0.01
        sign = 1.0 if a + 0.01 <= 1 else -1.0
        for name, mu, loss in (("hard", mu_hard, hard_loss), ("soft", mu_soft, soft_loss)):
            got = doc["theory"][name]["alphas"][key]
            np.testing.assert_allclose(got["mu"], mu, rtol=1e-9)
            np.testing.assert_allclose(got["loss"], loss(a, mu), rtol=1e-9)
            np.testing.assert_allclose(got["incentive"], sign * (loss(a, mu) - loss(other, mu)), rtol=1e-7)


@pytest.mark.parametrize("change", [{"data": "digits"}, {"fg_position": "uniform"}, {"model": "mlp"}])
def test_no_closed_form_is_attached_outside_its_setting(change):
    from analytic.run_theory import attach_fixed_focus_theory

    assert "theory" not in attach_fixed_focus_theory(_document(**change))
