"""The report's pictures and lines say which weights were judged and what they leave out: the epoch
early stopping restored, the forecaster's MASE against its references, the mean guard's decision,
a gradient that grows going back, the weight-norm panels with no room."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnlab.plots.metrics import plot_metrics
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.report import MAX_LINE_PANELS, render_report
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json, atomic_write_text
from rnnlab.tracker import Tracker

EARLY = '[data]\ndataset = "GunPoint"\n[training.early_stopping]\npatience = 5\n'
NO_EARLY = '[data]\ndataset = "GunPoint"\n'


def _run(root: Path, config: str, best: int, epochs: int = 10, **summary) -> RunDir:
    run = RunDir(root)
    atomic_write_text(run.config, config)
    records = [{"epoch": e, "step": 2 * e, "time": 0.5, "train_loss": 1 / e, "val_loss": 1 / e + (e > best) * 0.1 * e,
                "train_r2": 1 - 1 / e, "val_r2": 0.3, "lr": 0.01, "grad_norm": 1.0} for e in range(1, epochs + 1)]
    for r in records:
        append_jsonl(run.metrics, r)
    atomic_write_json(run.summary, {"epochs": epochs, "stopped_early": best < epochs, "final": records[-1],
                                    "best": records[best - 1], "best_epoch": best,
                                    "train_eval": {"loss": 0.5, "r2": 0.4}, "test": {"loss": 0.6, "r2": 0.3},
                                    "fit_checked": {"overfit": "no sign of overfitting"}, **summary})
    return run


def _restored_lines(fig) -> list[tuple[str, float]]:
    return [(line.get_label(), float(line.get_xdata()[0])) for ax in fig.axes if ax.get_visible()
            for line in ax.get_lines() if line.get_label().startswith("restored")]


def test_every_metric_panel_marks_the_epoch_early_stopping_restored(tmp_path):
    fig = plot_metrics(_run(tmp_path / "r", EARLY, best=4))
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 4  # loss, R², learning rate, gradient norm: each marked once
    assert _restored_lines(fig) == [("restored: epoch 4", 4.0)] * len(panels)
    # without early stopping the last weights are kept whatever best_epoch says; with it, best = last is no news
    assert _restored_lines(plot_metrics(_run(tmp_path / "n", NO_EARLY, best=4))) == []
    assert _restored_lines(plot_metrics(_run(tmp_path / "l", EARLY, best=10))) == []


def test_fit_and_final_metrics_name_the_restored_epoch(tmp_path):
    text = render_report(_run(tmp_path / "r", EARLY, best=4))
    fit = text.split('id="fit"')[1].split("</section>")[0]
    assert "the weights of epoch 4, restored by early stopping" in fit and "last epoch 10" in fit
    final = text.split('id="final-metrics"')[1].split("</section>")[0]
    assert "the test and train (eval) rows: the weights of epoch 4" in final
    assert "time (seconds, this epoch)" in final
    plain = render_report(_run(tmp_path / "p", NO_EARLY, best=4))
    assert "restored by early stopping" not in plain


def test_forecaster_has_a_mase_panel_with_its_reference_forecasts(tmp_path):
    run = _run(tmp_path / "f", NO_EARLY, best=10, baselines={
        "train": {"naive": {"mase": 0.61}, "seasonal_naive": {"mase": 0.952}},
        "val": {"naive": {"mase": 1.19}, "seasonal_naive": {"mase": 1.07}},
        "test": {"naive": {"mase": 1.54}, "seasonal_naive": {"mase": 1.43}}})
    records = run.read_metrics()
    for r in records:
        r.update(train_mase=1 / r["epoch"], val_mase=0.5 + 0.05 * r["epoch"])
    run.metrics.unlink()
    for r in records:
        append_jsonl(run.metrics, r)
    fig = plot_metrics(run)
    mase = [ax for ax in fig.axes if ax.get_title().startswith("MASE")]
    assert len(mase) == 1
    refs = {line.get_label(): float(line.get_ydata()[0]) for line in mase[0].get_lines() if "naive" in line.get_label()}
    # the splits drawn per epoch (no test curve: its references would have nothing to compare with)
    assert refs == {"train naive 0.61": 0.61, "train seasonal naive 0.952": 0.952,
                    "val naive 1.19": 1.19, "val seasonal naive 1.07": 1.07}


def test_report_says_the_mean_guard_replaced_the_model(tmp_path):
    run = _run(tmp_path / "g", NO_EARLY, best=10, mean_guard={
        "kept": False, "model_mse": 1.0835, "mean_mse": 1.2596, "z": 0.7735, "n_val": 29, "margin": 1.645,
        "baseline": "the training mean", "rows": "series"})
    fit = render_report(run).split('id="fit"')[1].split("</section>")[0]
    assert "The run predicts the training mean, not its model" in fit
    assert "29 validation series" in fit and "z = 0.77" in fit and "task.mean_guard" in fit


def test_a_gradient_growing_going_back_is_said_to_grow_on_whole_timesteps():
    g = 1.5 ** np.arange(4.0, 0.0, -1.0)[:, None] * np.ones((4, 3))  # larger the earlier: grows ×1.5 going back
    fig = plot_grad_through_time(g)
    fig.canvas.draw()
    ax_line = fig.axes[1]
    labels = [t.get_text() for t in ax_line.get_legend().get_texts()]
    assert "grows ×1.5 per step back" in labels and not any(t.startswith("decay") for t in labels)
    ticks = ax_line.get_xticks()
    assert np.all(ticks == np.round(ticks)) and len(ticks) > 1  # (4 steps had ticks at -0.5, 0.5, ...)


def test_weight_norm_section_names_the_parameters_it_does_not_draw(tmp_path):
    run = RunDir(tmp_path / "n")
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(6)])  # 12 parameters
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 3)
    with Tracker(run, model, grads_every=1) as tracker:
        for _ in range(2):
            opt.zero_grad()
            loss = model(x).pow(2).sum()
            loss.backward()
            tracker.step(loss, epoch=1)
            opt.step()
    norms = render_report(run).split('id="weight-norms"')[1].split("</section>")[0]
    assert f"{12 - MAX_LINE_PANELS} more parameters tracked, not drawn: 3.bias, 4.bias, 5.bias" in norms
    assert "2 more weights tracked, not drawn: 4.weight, 5.weight" in norms
