"""The figures drawn from result documents read well: checked on the matplotlib objects.

Each test builds a small synthetic document (no training) and captures the Figure that
``plots`` would save.
"""

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from attnjax import plots, report
from attnjax.estimators import _device_words, plot_estimators


@pytest.fixture
def figures(monkeypatch):
    """Capture every figure the plot functions save (they are also written)."""
    saved = {}
    real = plots.save_figure_atomic

    def capture(fig, path, **kwargs):
        fig.canvas.draw()  # lay out texts so their positions are final
        saved[path.name] = fig
        return real(fig, path, **kwargs)

    monkeypatch.setattr(plots, "save_figure_atomic", capture)
    return saved


def _history(seeds, epochs, *, start=1.0, end=0.5, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    base = np.geomspace(start, end, epochs)[None]
    return base * np.exp(spread * rng.normal(size=(seeds, epochs)))


def _result(seeds, epochs, **kw):
    acc = np.clip(60 + 10 * _history(seeds, epochs, start=1, end=3, spread=0.2), 0, 100)
    cells = {k: [25.0] * seeds for k in ("ftpt", "ffpt", "ftpf", "ffpf")}
    return {"rule": "pooled", "train": {"accuracy": [90.0] * seeds, **cells},
            "test": {"accuracy": [90.0] * seeds, "focus_accuracy": [50.0] * seeds, **cells},
            "history": {"loss": _history(seeds, epochs, **kw),
                        "test": {"accuracy": acc, "focus_accuracy": acc, "a_z": acc / 100}}}


def _compare_doc(seeds=2, epochs=4, *, name="orthogonal", losses=("soft", "hybrid"), epochs_of=None,
                 switch=None, diverged=None, **kw):
    epochs_of = epochs_of or {}
    paradigms = {n: {"epochs": epochs_of.get(n, epochs)} for n in losses}
    if "hybrid" in losses:
        paradigms["hybrid"].update(switch_epoch=epochs // 2 if switch is None else switch, hybrid_to="hard")
    return {"kind": "compare",
            "config": {"seeds": seeds, "data": {"name": name, "m": 5}, "paradigms": paradigms,
                       "protocol": {"name": "attnjax"}},
            "results": {n: _result(seeds, epochs_of.get(n, epochs), **kw) for n in losses},
            "diverged": diverged or {}}


def _texts(fig):
    """Every text on the figure: its own, titles, labels, tick labels and legends."""
    out = [t.get_text() for t in fig.texts]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return out


def test_one_epoch_has_markers_and_integer_epoch_ticks(tmp_path, figures):
    plots.plot_compare(_compare_doc(seeds=2, epochs=1), tmp_path)
    fig = figures["curves.png"]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert any(line.get_marker() == "o" and len(line.get_xdata()) == 1 for line in ax.get_lines())


def test_two_seeds_are_lines_not_bands_and_many_seeds_bands_with_edges(tmp_path, figures):
    plots.plot_compare(_compare_doc(seeds=2, epochs=30), tmp_path)
    acc = figures["curves.png"].axes[0]
    assert not [c for c in acc.collections if isinstance(c, PolyCollection)]
    assert len(acc.get_lines()) >= 2 * 3  # per paradigm: the mean and two seeds
    assert "each seed" in figures["curves.png"]._suptitle.get_text()

    plots.plot_compare(_compare_doc(seeds=6, epochs=30), tmp_path)
    acc = figures["curves.png"].axes[0]
    bands = [c for c in acc.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2 and all(b.get_alpha() <= 0.06 for b in bands)  # two share the axis
    assert "mean ± std over 6 seeds" in figures["curves.png"]._suptitle.get_text()


def test_log_loss_bands_stay_positive_and_say_geometric(tmp_path, figures):
    doc = _compare_doc(seeds=6, epochs=20, losses=("soft",), start=1.0, end=1e-4, spread=1.5)
    plots.plot_compare(doc, tmp_path)
    fig = figures["curves.png"]
    loss = fig.axes[3]  # after the accuracy, focus accuracy and a_z panels
    assert loss.get_yscale() == "log"
    (band,) = [c for c in loss.collections if isinstance(c, PolyCollection)]
    assert np.all(band.get_paths()[0].vertices[:, 1] > 0)
    assert "log scale" in loss.get_ylabel() and "geometric mean" in fig._suptitle.get_text()


def test_diverged_paradigm_is_named_on_the_figure(tmp_path, figures):
    diverged = {"lvml": {"seed": 1, "epoch": 2, "loss": "nan"}}
    doc = _compare_doc(diverged=diverged)
    assert plots.diverged_note(doc) == "not drawn, diverged: lvml at seed 1, epoch 2 (loss nan)"
    assert plots.diverged_note(_compare_doc()) is None
    plots.plot_compare(doc, tmp_path)
    for name in ("curves.png", "ftpt.png"):
        assert plots.diverged_note(doc) in _texts(figures[name])
    assert "lvml: diverged, not drawn" in _texts(figures["curves.png"])


def test_doubled_hybrid_budget_is_said_and_its_switch_marked(tmp_path, figures):
    doc = _compare_doc(epochs=3, losses=("soft", "hard", "hybrid"), epochs_of={"hybrid": 6}, switch=3)
    assert plots.hybrid_budget(doc)["ratio"] == 2
    plots.plot_compare(doc, tmp_path)
    fig = figures["curves.png"]
    labels = [t for t in _texts(fig) if t.startswith("hybrid:")]
    assert labels and "doubled budget: 6 epochs vs the others' 3" in labels[0]
    assert "3 soft + 3 hard" in labels[0]
    acc = fig.axes[0]
    assert any(line.get_marker() == "|" and line.get_xdata()[0] == 3.5 for line in acc.get_lines())
    # Same budget: no claim.
    plots.plot_compare(_compare_doc(epochs=4, losses=("soft", "hybrid")), tmp_path)
    assert not any("budget" in t for t in _texts(figures["curves.png"]))


def test_text_documents_say_posts(tmp_path, figures):
    text = {"name": "text (synthetic)", "m": 16, "settings": {"segments": "token ids"}}
    assert plots.unit_of(text) == "posts" and plots.unit_of({"name": "hatexplain"}) == "posts"
    assert plots.unit_of({"name": "fashion-mnist"}) == plots.unit_of({"name": "orthogonal"}) == "mosaics"
    doc = report.compare_results_json({"data": text, "seeds": 2}, {})
    assert doc["metrics"]["units"] == "percent of posts"
    for note in (report.compare_footnote(doc), report.signature_footnote(doc)):
        assert "posts" in note and "mosaic" not in note
    assert "mosaics" in report.COMPARE_FOOTNOTE and report.METRIC_NOTES["units"] == "percent of mosaics"
    doc = _compare_doc(name="text (synthetic)")
    doc["config"]["data"] = text
    plots.plot_compare(doc, tmp_path)
    texts = _texts(figures["ftpt.png"])
    assert "% of test posts" in texts and not any("mosaic" in t for t in texts)


def _sweep_doc(grid, losses=("soft", "hard"), seeds=2):
    import itertools

    rows = []
    for loss in losses:
        for point in itertools.product(*grid.values()):
            for s in range(seeds):
                rows.append({"loss": loss, **dict(zip(grid, point)), "seed": s,
                             "test_accuracy": 50.0 + s, "test_focus_accuracy": 40.0 + 10 * s})
    return {"kind": "sweep", "config": {"data": {"name": "orthogonal", "m": 5}}, "grid": grid,
            "seeds": seeds, "rows": rows, "diverged": {}}


@pytest.mark.parametrize("grid", [{}, {"learning_rate": [0.05]}, {"learning_rate": [0.01, 0.1]},
                                  {"learning_rate": [0.01, 0.1], "momentum": [0.9]},
                                  {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]},
                                  {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9], "init_scale": [1, 2]}])
def test_sweep_draws_every_grid_shape_with_readable_labels(tmp_path, figures, grid):
    plots.plot_sweep(_sweep_doc(grid), tmp_path)
    fig = figures["sweep.png"]
    texts = _texts(fig)
    assert not any(name in t for t in texts for name in ("learning_rate", "init_scale"))
    varying = [a for a, v in grid.items() if len(v) > 1]
    if len(varying) >= 2:
        assert "learning rate" in texts and "momentum" in texts
        assert any(t.startswith("% of test mosaics") for t in texts)  # the colour bar
    elif varying:
        assert "learning rate" in texts
        ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        assert ticks == ["0.01", "0.1"]
    if "momentum" in grid and len(grid["momentum"]) == 1:
        assert "at momentum = 0.9" in fig._suptitle.get_text()


def test_fixed_focus_lines_stay_dark_on_white(tmp_path, figures):
    from matplotlib.colors import to_rgb

    curve = _history(2, 3)
    per_alpha = {f"{a:g}": {"loss": curve, "incentive": 0.1 * curve} for a in (0.2, 0.4, 0.6, 0.8, 1.0)}
    plots.plot_fixed_focus({"results": {"hard": per_alpha}, "incentive_step": 0.01,
                            "config": {"seeds": 2, "data": {"name": "orthogonal", "m": 5}}}, tmp_path)

    def contrast(c):  # WCAG contrast ratio against white
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in to_rgb(c)]
        return 1.05 / (0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] + 0.05)

    lines = figures["fixed_focus.png"].axes[0].get_lines()
    assert lines and min(contrast(line.get_color()) for line in lines) >= 2.9


def test_estimators_ticks_are_the_ms_and_the_device_is_said_once(tmp_path, monkeypatch):
    import attnjax.files as files

    saved = {}
    monkeypatch.setattr(files, "save_figure_atomic", lambda fig, path, **kw: saved.setdefault("fig", fig))
    row = {"variance": [1.0, 0.5], "bias": [0.1, 0.05], "bias_noise": [0.01, 0.02]}
    doc = {"ms": [5, 20], "device": "cpu: cpu", "settings": {"num_draws": 50},
           "estimators": {"reinforce": row, "gumbel tau=1": row}}
    plot_estimators(doc, tmp_path / "e.png")
    fig = saved["fig"]
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [5, 20] and ax.get_title()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "20"]
    assert fig._suptitle.get_text().endswith("on CPU") and "cpu: cpu" not in fig._suptitle.get_text()
    assert _device_words("gpu: NVIDIA H200") == "NVIDIA H200 (GPU)" and _device_words("tpu: TPU v4") == "TPU v4"


def _switch_entry(ax):
    """The legend's key and text for the hybrid's switch in ``ax``."""
    legend = ax.get_legend()
    entries = [(h, t.get_text()) for h, t in zip(legend.legend_handles, legend.get_texts())]
    return next((h, t) for h, t in entries if t.startswith("hybrid switch"))


def test_the_switch_tick_is_thin_and_named_in_the_legend(tmp_path, figures):
    """The tick on the hybrid's curve at its switch was a thick unexplained bar: now thinner than
    the curve, and the legend's switch entry shows it (a dashed line crossed by the tick)."""
    doc = _compare_doc(epochs=4, losses=("soft", "hybrid"), switch=2)
    plots.plot_compare(doc, tmp_path)
    fig = figures["curves.png"]
    hybrid_loss = next(ax for ax in fig.axes if ax.get_title() == plots.OBJECTIVE["hybrid"])
    for ax in (fig.axes[0], hybrid_loss):
        curve = next(line for line in ax.get_lines() if line.get_label().startswith("hybrid")
                     and not line.get_label().startswith("hybrid switch"))
        ticks = [line for line in ax.get_lines() if line.get_marker() == "|"]
        assert [list(t.get_xdata()) for t in ticks] == [[2.5]]
        assert ticks[0].get_markeredgewidth() < curve.get_linewidth() and ticks[0].get_markersize() <= 10
        handle, text = _switch_entry(ax)
        assert text == "hybrid switch (after epoch 2)"
        assert handle.get_marker() == "|" and handle.get_linestyle() == "--"
    # Without a curve to tick (the focus panel has no legend; a loss panel of the hybrid alone
    # is ticked too): the dashed line alone where the switch is labelled and nothing is ticked.
    ax = fig.axes[0]
    ax.clear()
    plots._mark_switch(ax, [2], label=True)
    ax.legend()
    handle, text = _switch_entry(ax)
    assert handle.get_marker() in (None, "None", "") and handle.get_linestyle() == "--"


def test_text_titles_say_posts_of_up_to_m_tokens(tmp_path, figures):
    """m of text data is the padded length: "m = 16" read as posts of 16 tokens."""
    text = {"name": "text (synthetic)", "m": 16, "settings": {"segments": "token ids", "max_len": 16}}
    doc = _compare_doc(name="text (synthetic)")
    doc["config"]["data"] = text
    plots.plot_compare(doc, tmp_path)
    for name in ("curves.png", "ftpt.png"):
        title = figures[name]._suptitle.get_text()
        assert title.startswith("text (synthetic), posts of up to 16 tokens, 2 seeds per loss"), title
        assert "m = 16" not in title
    curve = _history(2, 3)
    plots.plot_fixed_focus({"results": {"hard": {"1": {"loss": curve, "incentive": curve}}}, "incentive_step": 0.01,
                            "config": {"seeds": 2, "data": text}}, tmp_path)
    assert figures["fixed_focus.png"]._suptitle.get_text().startswith("text (synthetic), posts of up to 16 tokens:")
    assert plots.size_words({"name": "digits", "m": 5, "settings": {}}) == "m = 5"
    assert plots.size_words({"name": "digits", "m": 5, "settings": {"m_range": [3, 5]}}) == "3 to 5 segments per mosaic"
    assert plots.size_words({"name": "bags", "m": 7, "settings": {"segments_per_bag": [2, 7]}}) == \
        "2 to 7 segments per bag"
    assert plots.size_words({"name": "bags", "m": 4, "settings": {"segments_per_bag": [4, 4]}}) == "m = 4"


def test_an_all_zero_ftpt_panel_says_so_on_a_percent_scale(tmp_path, figures):
    """Every test post predicted right: the prediction-false panel was empty on a bare 0-1 scale."""
    doc = _compare_doc(name="text (synthetic)")
    doc["config"]["data"] = {"name": "text (synthetic)", "m": 16, "settings": {"segments": "token ids"}}
    for res in doc["results"].values():
        res["test"].update(ftpt=[100.0, 100.0], ffpt=[0.0, 0.0], ftpf=[0.0, 0.0], ffpf=[0.0, 0.0])
    plots.plot_compare(doc, tmp_path)
    right, wrong = figures["ftpt.png"].axes
    assert wrong.get_ylim() == (0.0, 100.0) and wrong.get_title() == "prediction false"
    assert [t.get_text() for t in wrong.texts] == ["0 % for every paradigm and seed:\nno test post was predicted wrong"]
    assert len(right.texts) == 0 and right.get_title() == "prediction true"
    # One value above zero: the panel keeps its own scale and says nothing.
    doc["results"]["soft"]["test"]["ffpf"] = [0.0, 2.0]
    plots.plot_compare(doc, tmp_path)
    wrong = figures["ftpt.png"].axes[1]
    assert len(wrong.texts) == 0 and wrong.get_title() == "prediction false (own scale)" and wrong.get_ylim()[1] < 5
