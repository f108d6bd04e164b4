"""A new user's three findings in the run report: the gradient-through-time picture (after
training) beside a health finding (before training) that it seemed to contradict, metric legends
covering curves, and remedies spelled as Python keywords for a run that a config.toml describes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

import rnnlab
from rnnlab.config import ModelConfig, parse_config
from rnnlab.doctor import diagnose
from rnnlab.doctor.checks import (
    CHECKS,
    SPELLING,
    NonFinite,
    Observations,
    Thresholds,
    TimeGradient,
    judge_through_time,
)
from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.introspect.through_time_file import write_grad_through_time
from rnnlab.plots.metrics import plot_metrics
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.report import render_report
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json
from rnnlab.train.model import LogitsOnly, build_model

T = 40
NAME = "'model.rnn' layer 0 forward"


def _curve(first_over_last: float) -> np.ndarray:
    """A [T, H] |dLoss/dh_t| that changes geometrically from ``first_over_last`` at t = 0 to 1 at
    the last step."""
    per_t = first_over_last ** (np.arange(T - 1, -1, -1.0) / (T - 1))
    return per_t[:, None] * np.ones((T, 3))


def _run(root: Path, after: np.ndarray, before: np.ndarray | None) -> RunDir:
    """A run whose health check before training judged ``before`` (None: it raised nothing) and
    whose gradient through time after training is ``after``."""
    run = RunDir(root)
    append_jsonl(run.metrics, {"epoch": 1, "step": 5, "train_loss": 0.7})
    found = [] if before is None else \
        [judge_through_time(TimeGradient(NAME, torch.from_numpy(before[:, 0])), Thresholds())[1].to_dict()]
    atomic_write_json(run.health, found)
    gtt = GradThroughTime("model.rnn", "rnn", 1, ("forward",), {(0, "forward"): after})
    write_grad_through_time(run, {"model.rnn": gtt}, step=5, epoch=1)
    return run


def _section(text: str, sid: str) -> str:
    return text.split(f'id="{sid}"')[1].split("</section>")[0]


# --- 1. before training / after training -------------------------------------------------------------


def test_the_sections_say_which_moment_each_shows(tmp_path):
    text = render_report(_run(tmp_path / "r", after=_curve(1.0), before=_curve(1e-6)))
    health, gtt = _section(text, "health"), _section(text, "gradient-through-time")
    assert "<h2>Health findings before training</h2>" in health and "on the untrained model" in health
    assert "<h2>Gradient through time after training</h2>" in gtt
    assert "Measured after training (at step 5, epoch 1), on the trained model" in gtt


def test_a_vanishing_gradient_found_before_training_that_reaches_back_after_it_no_longer_holds(tmp_path):
    th = Thresholds()
    # the check's own thresholds decide, not a copy of them: twice grad_rel at the first step reaches; a curve
    # below grad_rel over the first half of the steps (short of Thresholds.short_reach) vanishes
    gone = _section(render_report(_run(tmp_path / "gone", after=_curve(2 * th.grad_rel), before=_curve(1e-6))),
                    "gradient-through-time")
    assert f"After training the gradient reaches back (it stays above {th.grad_rel:g} × its value at the last " \
           f"step over at least {th.short_reach:.0%} of the steps back" in gone
    assert f"the vanishing gradient the health check found before training (reach 20 of {T} steps) no longer holds" \
        in gone
    kept = _section(render_report(_run(tmp_path / "kept", after=_curve(th.grad_rel ** 2), before=_curve(1e-6))),
                    "gradient-through-time")
    assert "After training the gradient still vanishes" in kept and "still holds" in kept
    assert "no longer holds" not in kept


def test_the_after_training_sentence_without_a_finding_before(tmp_path):
    gtt = _section(render_report(_run(tmp_path / "r", after=_curve(1e-6), before=None)), "gradient-through-time")
    assert "After training the gradient vanishes" in gtt
    assert "no health finding before training is about this layer" in gtt


# --- 2. legends that cover no data ---------------------------------------------------------------------


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _assert_legends_cover_nothing(fig) -> None:
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_visible() and ax.get_legend() is not None]
    assert legends
    boxes = [leg.get_window_extent(renderer) for leg in legends]
    for leg in legends:  # (an axes' tight box holds its legend: measure the panels without them)
        leg.set_visible(False)
    panels = [(ax.get_title(), ax.get_tightbbox(renderer)) for ax in fig.axes if ax.get_visible()]
    for leg, box in zip(legends, boxes, strict=True):
        assert box.y0 >= 0 and box.x0 >= 0 and box.x1 <= fig.bbox.x1 + 0.5  # on the figure
        for title, panel in panels:  # no panel's data area, nor its tick labels, title or axis labels
            assert not _overlaps(box, panel), (leg.get_texts()[0].get_text(), title)


def test_no_metric_legend_covers_a_panel_the_forecasters_mase_included():
    records = [{"epoch": e, "step": 4 * e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_mase": 1.2 - e / 40,
                "val_mase": 1.3 - e / 50, "train_rmse": 3 / e, "val_rmse": 3.5 / e, "lr": 1e-3,
                "grad_norm": 1.0 + e, "grad_norm_max": 2.0 + e} for e in range(1, 31)]
    baselines = {split: {"naive": {"mase": 1.0 + k / 10}, "seasonal_naive": {"mase": 0.9 + k / 10}}
                 for k, split in enumerate(("train", "val"))}
    fig = plot_metrics(records, restored=18, baselines=baselines)
    mase = next(ax for ax in fig.axes if ax.get_title().startswith("MASE"))
    assert len(mase.get_legend().get_texts()) == 7  # the curves, the four references, the restored epoch
    _assert_legends_cover_nothing(fig)


def test_the_gradient_through_time_legend_covers_no_panel():
    _assert_legends_cover_nothing(plot_grad_through_time(_curve(1.0)))


# --- 3. remedies in the words of the run -------------------------------------------------------------------


def _vanishing_remedy(model: torch.nn.Module, remedies: str = "python") -> str:
    batch = (torch.randn(4, 200, 1), torch.randint(0, 2, (4,)))
    report = diagnose(model, batch, torch.nn.CrossEntropyLoss(), steps=0, checks=["gradient_through_time"],
                      remedies=remedies)
    (f,) = report.by_check("gradient_through_time")
    return f.remedy


class _PythonUsersNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = rnnlab.RNN(1, 8, batch_first=True), torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def test_a_config_runs_vanishing_remedy_names_its_config_keys_a_python_users_the_keywords():
    torch.manual_seed(0)
    # what rnnlab train and rnnlab doctor check: the model a config describes, logits only
    remedy = _vanishing_remedy(LogitsOnly(build_model(ModelConfig(layer="rnn", hidden_size=8), 1, 2)), "config")
    assert 'model.recurrent_init = "orthogonal"' in remedy and "model.layer_norm = true" in remedy
    assert 'model.layer = "lstm"' in remedy
    assert "recurrent_init='orthogonal'" not in remedy and "layer_norm=True" not in remedy
    python = _vanishing_remedy(_PythonUsersNet())
    assert "recurrent_init='orthogonal'" in python and "layer_norm=True" in python and "model." not in python


def test_rnnlab_train_writes_remedies_in_config_keys_and_a_bad_remedies_value_is_refused(tmp_path):
    from rnnlab.rundir import RunDir
    from rnnlab.train.trainer import train

    config = parse_config('[data]\ndataset = "UnitTest"\n[model]\nlayer = "rnn"\nhidden_size = 4\n'
                          '[training]\nsteps = 2\nlr = 10.0')  # (a rate the update-ratio check finds too large)
    result = train(config, out=tmp_path / "run", progress=False, log=None)
    found = {f["check"]: f["remedy"] for f in RunDir(result.run_dir).read_health()
             if f.get("phase") == "before_training"}
    assert found["update_ratio"].startswith("Lower training.lr "), found
    assert "=True" not in " ".join(found.values()) and "='" not in " ".join(found.values()), found
    try:
        _vanishing_remedy(_PythonUsersNet(), "toml")
    except ValueError as e:
        assert str(e).startswith("remedies: expected one of ['python', 'config'], got 'toml'")
    else:
        raise AssertionError("remedies='toml' was accepted")


def test_every_remedy_of_the_checks_is_spelled_for_its_reader():
    growing = TimeGradient(NAME, torch.logspace(6, 0, 20))  # explodes going back
    python = ("clip_grad_norm_", "layer_norm=True", "the learning rate")
    keys = ("training.clip_norm", "model.layer_norm = true", "training.lr", "model.recurrent_constraint")
    for config in (False, True):
        obs = Observations(steps=1, through_time=[growing], config=config,
                           nonfinite=[NonFinite("training step 1", "loss", 1, 1)])
        remedies = " ".join(f.remedy for name in ("gradient_through_time", "nonfinite")
                            for f in CHECKS[name](obs, Thresholds()))
        assert all((k in remedies) == config for k in keys), remedies
        assert all((p in remedies) != config for p in python), remedies


def test_every_config_spelling_names_a_key_the_config_takes():
    settings = {"data": ['dataset = "GunPoint"']}
    for _, toml in SPELLING.values():
        for section, key, value in re.findall(r'\b(model|training|data)\.(\w+) = ("\w+"|true|false)', toml):
            settings.setdefault(section, []).append(f"{key} = {value}")
    assert len(settings["model"]) >= 4
    lstm = [s for s in settings["model"] if not s.startswith("layer =")] + ['layer = "lstm"']
    text = "".join(
        f"[{section}]\n" + "\n".join(lstm if section == "model" else lines) + "\n"
        for section, lines in settings.items())
    parse_config(text)  # (a key the config does not take, or a value it refuses, is a ConfigError)


def test_an_unfinished_run_without_health_json_is_not_said_to_have_skipped_its_checks(tmp_path):
    # (killed while its health checks ran, before they wrote health.json: "did not run" would be untrue)
    from tiny_run import run, tiny_toml

    # (no weights or gradients tracked: the pages below are read for their health section alone)
    result = run(parse_config(tiny_toml(training="epochs = 1", after="[tracking]\nweights_every = 0\ngrads_every = 0")),
                 tmp_path / "r")
    rd = RunDir(result.run_dir)
    rd.health.unlink()
    assert "health checks did not run" in _section(render_report(rd), "health")
    rd.summary.unlink()  # (as a run killed before its end has none)
    said = _section(render_report(rd), "health")
    assert "the run has not finished" in said and "health checks did not run" not in said
