"""attnjax leaves the caller's global state alone.

After training (``experiments.compare``, ``experiments.signature``), building result
documents and drawing every figure, the caller's ``jax_enable_x64``, matplotlib
backend, rcParams (one of them set by the caller to a non-default value) and pyplot's
open figures are what they were.
"""

import jax
import matplotlib
import numpy as np
import pytest

from attnjax import experiments, plots
from attnjax.data import load_orthogonal
from attnjax.report import compare_results_json

SEEDS, EPOCHS = 2, 3


@pytest.fixture
def caller_state():
    """A caller with its own choices: the pdf backend, thick lines and one pyplot figure."""
    import matplotlib.pyplot as plt

    backend, linewidth = matplotlib.get_backend(), matplotlib.rcParams["lines.linewidth"]
    matplotlib.use("pdf")
    matplotlib.rcParams["lines.linewidth"] = 3.3
    fig = plt.figure()
    try:
        yield plt
    finally:
        plt.close(fig)
        matplotlib.rcParams["lines.linewidth"] = linewidth
        matplotlib.use(backend)


def _state(plt):
    return {"x64": jax.config.jax_enable_x64, "backend": matplotlib.get_backend(),
            "rc": dict(matplotlib.rcParams), "figures": plt.get_fignums()}


def _settings():
    return {"seeds": SEEDS, "data": {"name": "orthogonal", "m": 3},
            "paradigms": {"hybrid": {"switch_epoch": 1}}, "protocol": {"name": "attnjax"}}


def test_training_and_plots_leave_global_state(tmp_path, caller_state):
    plt = caller_state
    before = _state(plt)
    assert before["x64"] is False and before["backend"] == "pdf"
    assert before["rc"]["lines.linewidth"] == 3.3 and len(before["figures"]) == 1

    data, info = load_orthogonal(num_classes=3, m=3, n_train=12, n_test=6, noise=0.1,
                                 random_position=True, seed=0)
    runs = experiments.compare(data, info, losses=("soft", "hybrid"), seeds=SEEDS, epochs=EPOCHS,
                               batch_size=4, learning_rate=0.1, switch_epoch=1)
    assert _state(plt) == before
    signature = experiments.signature(runs["soft"], data)
    assert _state(plt) == before

    paths = plots.plot_compare(compare_results_json(_settings(), runs), tmp_path)
    heat = {"own": signature["heatmap"]["own"], "pooled": signature["heatmap"]["pooled"]}
    paths.append(plots.plot_signature(
        {"shown": "own", "heatmaps": {"soft": heat}, "bins": {"edges": np.linspace(0, 1, 6)},
         "config": _settings()}, tmp_path))
    curve = np.linspace(1.0, 0.5, EPOCHS)[None].repeat(SEEDS, 0)
    paths.append(plots.plot_fixed_focus(
        {"results": {"hard": {"0.6": {"loss": curve, "incentive": 0.1 * curve}}},
         "incentive_step": 0.01, "config": _settings()}, tmp_path))
    assert sorted(p.name for p in paths) == ["curves.png", "fixed_focus.png", "ftpt.png",
                                             "signature.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)

    after = _state(plt)
    changed = {k: (before["rc"][k], after["rc"][k]) for k in before["rc"] if before["rc"][k] != after["rc"].get(k)}
    assert not changed, changed
    assert after == before
