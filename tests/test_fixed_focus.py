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
