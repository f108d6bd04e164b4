"""study.html, second round of a new user's reading: importances when every trial tied, the best
trial's gain over the config itself against its noise, scores with 4 decimals, slice plots with a
colour bar and x margins."""

from __future__ import annotations

import re

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial

from rnnlab.plots import style
from rnnlab.search.report import _slices, render_study_report
from rnnlab.search.storage import BASELINE_ATTR

DISTS = {"model.recurrent_dropout": FloatDistribution(0.0, 0.5),
         "training.weight_decay": FloatDistribution(1e-4, 1e-1, log=True)}


def _study(rows: list[tuple[float, float, float, list[float]]], direction: str = "maximize") -> optuna.Study:
    """Trials (recurrent_dropout, weight_decay, value, fold scores); the first is the config itself."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction)
    for i, (rd, wd, value, folds) in enumerate(rows):
        attrs = {"fold_scores": folds, **({BASELINE_ATTR: True} if i == 0 else {})}
        study.add_trial(create_trial(params={"model.recurrent_dropout": rd, "training.weight_decay": wd},
                                     distributions=DISTS, value=value, user_attrs=attrs))
    return study


def _section(html: str, sid: str) -> str:
    return html.split(f'<section id="{sid}">')[1].split("</section>")[0]


def test_importances_of_tied_trials_say_so_without_an_exception(tmp_path):
    study = _study([(0.1, 1e-2, 1.0, [1.0, 1.0]), (0.27, 6e-3, 1.0, [1.0, 1.0]), (0.2, 1e-4, 1.0, [1.0, 1.0]),
                    (0.4, 3e-2, 1.0, [1.0, 1.0])])
    section = _section(render_study_report(tmp_path, study), "importances")
    assert "could not show" not in section and "Error" not in section and "variance in all trees" not in section
    assert "every trained trial scored the same (1.0000): nothing to rank the parameters by" in section


# The user's hard study: trial 1 (0.700, 0.6167) against the config itself (0.6667, 0.600): gain
# 0.025, better on both folds (+0.0333, +0.0167); the trials of a study score the same folds, so the
# rule pairs them: the standard error of the mean of the differences, 0.0118 / sqrt(2) = 0.0083 (as
# unmatched samples, Welch's form, sqrt(0.0589^2/2 + 0.0471^2/2) = 0.0534, which hid the gain).
HARD = [(0.1, 1e-2, 0.63335, [0.6667, 0.6]), (0.27, 6e-3, 0.65835, [0.7, 0.6167]), (0.2, 1e-4, 0.6333, [0.6667, 0.6])]


def test_gain_over_the_config_with_its_standard_error_and_verdict(tmp_path):
    result = _section(render_study_report(tmp_path, _study(HARD)), "result")
    # (the recipe's rule, rnnlab.recipe.decide.verdict: the paired folds' standard error)
    assert re.search(r"Gain over the config itself: \+0\.0250 ± 0\.0083 \(the standard error of the mean of the "
                     r"2 per-fold differences: both trials scored on the same folds\): above one standard error", result)
    assert "the standard deviation of its 2 fold scores" in result  # what the ± is


def test_a_gain_smaller_than_its_standard_error_is_within_the_noise(tmp_path):
    # differences +0.10 and -0.05: gain 0.025, se 0.075
    rows = [(0.1, 1e-2, 0.55, [0.5, 0.6]), (0.3, 1e-3, 0.575, [0.6, 0.55])]
    result = _section(render_study_report(tmp_path, _study(rows)), "result")
    assert "Gain over the config itself: +0.0250 ± 0.0750" in result and "not above one standard error" in result
    assert ": above one standard error" not in result


def test_a_gain_in_a_minimized_score_is_the_drop_and_one_fold_cannot_tell(tmp_path):
    rows = [(0.1, 1e-2, 0.5, [0.5]), (0.3, 1e-3, 0.4, [0.4])]
    result = _section(render_study_report(tmp_path, _study(rows, direction="minimize")), "result")
    assert ("Gain over the config itself: +0.1000; whether it is above one standard error cannot be told from one hold-out "
            "score a side") in result
    assert "not above one standard error" not in result and ": above one standard error" not in result


def test_scores_and_spreads_have_four_decimals(tmp_path):
    rows = [(0.1, 1e-2, 0.6, [0.6, 0.6]), (0.3, 1e-3, 0.65, [0.7, 0.6]), (0.2, 1e-3, 1.0, [1.0, 1.0])]
    html = render_study_report(tmp_path, _study(rows))
    result, table = _section(html, "result"), _section(html, "best-trials")
    assert "<b>1.0000</b> ± 0.0000" in result and "0.6000 ± 0.0000" in result
    cells = re.findall(r"<td class='num'>([^<]*)</td>", table)
    assert "0.6500" in cells and "0.0707" in cells and "0.7000, 0.6000" in cells and "1.0000" in cells
    assert not re.search(r"<td class='num'>(0\.65|0\.05|0\.700, 0\.600)</td>", table)


def test_slice_plots_have_a_legend_of_trials_and_x_margins():
    fig = _slices(_study(HARD).get_trials(), "val_acc")
    # (one colour per trial across the page's figures, named in a legend: no colour bar)
    assert not [ax for ax in fig.axes if ax.get_label() == style.COLORBAR]
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"trial 0", "trial 1", "trial 2"}
    linear, log = (ax for ax in fig.axes if ax.get_visible() and ax.get_label() != style.COLORBAR)
    low, high = linear.get_xlim()
    assert low < 0.0 and high > 0.5  # a point at the range's edge drawn whole
    assert len([t for t in linear.get_xticks() if low <= t <= high]) <= 4  # (labels of neighbours met)
    low, high = log.get_xlim()
    assert log.get_xscale() == "log" and low < 1e-4 and high > 1e-1
