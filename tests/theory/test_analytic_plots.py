"""verify's figures read well: subplot titles apart, the phase portrait's colours explained."""

from analytic.plots import fixed_focus_figure, phase_figure


def _boxes(fig, texts):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts]


def test_fixed_focus_titles_do_not_run_into_each_other():
    fig = fixed_focus_figure(T=100.0)
    boxes = _boxes(fig, [ax.title for ax in fig.axes])
    assert all(b.width > 0 for b in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "closed form" in labels and "ODE solution" in labels


def test_phase_portrait_legend_names_the_starting_points():
    fig = phase_figure(T=100.0)
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert sum(label.startswith("start") for label in labels) == 4
    title = fig._suptitle.get_text()
    assert "colour: the starting point" in title and "(colour, t" not in title
