"""Round 6 of the plots: a gradient through time that is 0 at its last processed step has no
reach (the picture says so, as the report does), and single-panel heatmaps keep their whole
title inside the figure and draw IndRNN's elementwise recurrent weight as what it is."""

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import plots
from rnnlab.introspect import grad_through_time


def figure_texts(fig):
    """Every text the figure draws: titles, notes, and its legends' entries."""
    out = [fig.get_suptitle()]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return [t for t in out if t]


def test_a_reverse_gradient_that_is_zero_before_its_first_step_has_no_reach_of_all_steps(tmp_path):
    # The classic bidirectional mistake: a loss on out[-1] reads the reverse direction only at
    # t = 24, the first step it processes; every step it processes after that gets exactly 0.
    torch.manual_seed(0)
    model = rnnlab.LSTM(2, 6, bidirectional=True)
    gtt = grad_through_time(model, torch.randn(25, 8, 2), lambda out: out[0][-1].pow(2).sum())[""]
    rev = gtt.layers[(0, "reverse")]
    assert (rev[:24] == 0).all() and (rev[24] != 0).any()  # (the premise: zero at t = 0..23)

    fig = plots.plot_grad_through_time(gtt, direction="reverse", path=tmp_path / "rev.png")
    said = " | ".join(figure_texts(fig))
    assert "all 25 steps" not in said and "never below" not in said
    assert "cannot be judged" in said  # as the report's sentence: the rule cannot judge a last value of 0
    assert "0 at the last step processed (t = 0)" in said
    assert "0 at t = 0–23, non-zero only at t = 24" in said
    assert "nan" not in said.lower()
    # no reach marker drawn, and no "0.001 × last value" line at a fraction of 0
    labels = [ln.get_label() for ln in fig.axes[1].lines]
    assert not any(lab.startswith("0.001 ×") for lab in labels)


def test_a_forward_curve_with_a_last_value_still_gets_its_reach():
    g = 0.5 ** np.arange(19.0, -1.0, -1.0)[:, None] * np.ones((20, 3))
    said = figure_texts(plots.plot_grad_through_time(g))
    assert "reach: 10 steps back" in said and "decay per step back: 0.5" in said


def title_inside(fig):
    renderer = fig.canvas.get_renderer()
    box = fig._suptitle.get_window_extent(renderer)
    return box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y0 >= 0 and box.y1 <= fig.bbox.height


@pytest.mark.parametrize("make", [lambda: rnnlab.RNN(3, 6), lambda: rnnlab.IndRNN(3, 6), lambda: rnnlab.GRU(3, 6)])
def test_a_weight_heatmap_title_lies_inside_its_figure_whole(make, tmp_path):
    fig = plots.plot_weight_heatmaps(make(), path=tmp_path / "w.png")
    assert title_inside(fig)
    # the whole title is there, wrapped at spaces if at all
    assert "recurrent (hidden→hidden) weights weight_hh_l0" in fig.get_suptitle().replace("\n", " ")


def test_an_activation_heatmap_title_lies_inside_its_figure():
    acts = rnnlab.introspect.gate_activations(rnnlab.RNN(3, 6), torch.randn(10, 2, 3))[0]
    assert title_inside(plots.plot_activation_heatmaps(acts))


def test_a_long_module_name_in_the_title_widens_the_figure_to_fit():
    from rnnlab.plots.heatmap import plot_gate_heatmaps

    fig = plot_gate_heatmaps({"h": np.eye(3)}, title="x " + "a_very_long_module_name." * 4 + "weight_hh_l0")
    assert title_inside(fig)


def test_indrnn_recurrent_vector_is_a_strip_along_the_hidden_unit_with_no_from_axis():
    model = rnnlab.IndRNN(3, 5)
    fig = plots.plot_weight_heatmaps(model)
    (ax,) = [ax for ax in fig.axes if ax.images]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), model.weight_hh_l0.detach().numpy()[None, :])
    assert "from" not in ax.get_xlabel() and ax.get_xlabel() == "hidden unit"
    assert list(ax.get_yticks()) == [] and ax.get_ylabel() == ""
    assert "elementwise" in fig.get_suptitle()
