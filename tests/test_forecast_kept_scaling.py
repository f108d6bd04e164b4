"""A forecasting run keeps what it fitted on its training block (the channels' scaling, the
reference ``relative_to = "auto"`` chose, the block's length and digest) in its checkpoints:
``rnnlab predict RUN`` and the report's forecast picture use it, never a refit of a ``data.path``
that grew or changed since; a changed training block is said in one warning line; a run trained
before the record was kept still forecasts, fitting again as it always did."""

from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.data import load_data
from rnnlab.data.stream import split_bounds
from rnnlab.task import task_for
from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.train.trainer import load_run_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

FIT_KEY = "run_fit"  # (the checkpoint key of rnnlab.train.run_fit.RunFit)

STEPS = 96


def series(n: int, scale: float = 1.0) -> np.ndarray:
    """A monthly series with a trend (appended rows move its mean: a refit would show) and a season."""
    t = np.arange(n)
    return scale * (50 + 0.4 * t + 10 * np.sin(2 * np.pi * t / 12) + np.cos(t))


def write(path: Path, values: np.ndarray) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["sales"], *[[f"{v:.6f}"] for v in values]])
    return path


def forecast(argv: list[str], out: Path) -> np.ndarray:
    """The values ``rnnlab predict ...`` writes to ``out``."""
    assert main([*argv, "--out", str(out), "--force"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return np.array([float(r[-1]) for r in rows])


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory: pytest.TempPathFactory, one_thread) -> tuple[Path, Path]:
    """A trained forecaster (``relative_to = "auto"``) of ``sales.csv``: (data file, run), trained
    once for the module (every test reads the same run)."""
    tmp = tmp_path_factory.mktemp("kept_scaling")
    data = write(tmp / "sales.csv", series(STEPS))
    cfg = tmp / "c.toml"
    cfg.write_text(stream_toml(str(data), task="horizon = 2\nseason = 12", training="steps = 16\nlr = 0.01"))
    assert main(["train", str(cfg), "--out", str(tmp / "run"), "--quiet"]) == 0
    return data, tmp / "run"


@pytest.fixture
def trained(trained_once: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The module's run, copied into ``tmp_path/run`` (tests rewrite its checkpoints), and its data
    file (which tests overwrite: written back as it was after each test). Each test says its data
    warnings afresh, as a command of its own would (they say a note once a process, and the
    module's tests share one data file, hence one note)."""
    from rnnlab.data import stream

    monkeypatch.setattr(stream, "_warned", set())
    data, run = trained_once
    shutil.copytree(run, tmp_path / "run")
    yield data, tmp_path / "run"
    write(data, series(STEPS))


def test_the_checkpoint_keeps_the_scaling_reference_and_training_block_fitted(trained):
    data, run = trained
    config = load_run_config(run)
    fitted = load_data(config.data, seed=config.training.seed, task=task_for(config))
    for name in ("last.pt", "best.pt"):
        kept = load_checkpoint(run / "checkpoints" / name)[FIT_KEY]
        assert kept["inputs"]["stats"]["mean"].numpy().tolist() == fitted.stats.mean.tolist()
        assert kept["inputs"]["stats"]["std"].numpy().tolist() == fitted.stats.std.tolist()
        assert kept["stream"]["reference"] == fitted.reference  # "auto" resolved, as the run said
        assert kept["stream"]["train_steps"] == [split_bounds(STEPS, config.data, None).train]
        assert len(kept["stream"]["train_sha256"]) == 64


def test_predict_on_a_rescaled_data_path_uses_the_runs_scaling_and_warns(trained, tmp_path, capsys):
    data, run = trained
    before = forecast(["predict", str(run)], tmp_path / "before.csv")
    tenfold = write(tmp_path / "tenfold.csv", series(STEPS, 10.0))
    # What the run's model makes of those values with the scaling it trained with (data.path untouched).
    expected = forecast(["predict", str(run), "--data", str(tenfold)], tmp_path / "expected.csv")
    capsys.readouterr()
    write(data, series(STEPS, 10.0))  # the run's file overwritten: other units
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # (whatever -W the test run was given)
        after = forecast(["predict", str(run)], tmp_path / "after.csv")
    assert after == pytest.approx(expected, rel=1e-9)
    # A refit would rescale the tenfold series back to the run's inputs: ten times the forecast before.
    assert not np.allclose(after, 10 * before, rtol=1e-3)
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warned) == 1, warned
    line = warned[0]
    steps = split_bounds(STEPS, load_run_config(run).data, None).train
    for part in ("rnnlab predict: warning: data.path (", str(data), "no longer holds the series the run trained on",
                 f"differs at step 0: {steps} of its {steps} training steps changed", "recorded scaling", "--data FILE"):
        assert part in line, line


def test_predict_after_rows_are_appended_forecasts_after_the_new_end_with_the_runs_scaling(trained, tmp_path,
                                                                                          capsys):
    data, run = trained
    longer = write(tmp_path / "longer.csv", series(STEPS + 30))
    expected = forecast(["predict", str(run), "--data", str(longer)], tmp_path / "expected.csv")
    capsys.readouterr()
    write(data, series(STEPS + 30))  # the usual way daily data grows: the same rows, and more after them
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        after = forecast(["predict", str(run)], tmp_path / "after.csv")
    assert after == pytest.approx(expected, rel=1e-9)
    assert "warning" not in capsys.readouterr().err  # its training block is the run's: nothing to say
    with open(tmp_path / "after.csv", newline="") as f:
        assert [r[2] for r in list(csv.reader(f))[1:]] == [str(STEPS + 30), str(STEPS + 31)]


def test_the_reports_forecast_picture_uses_the_runs_scaling_too(trained, tmp_path):
    from rnnlab.plots.forecast import forecast_lines

    data, run = trained
    tenfold = write(tmp_path / "tenfold.csv", series(STEPS, 10.0))
    expected = forecast(["predict", str(run), "--data", str(tenfold)], tmp_path / "expected.csv")
    write(data, series(STEPS, 10.0))
    with pytest.warns(UserWarning, match="no longer holds the series the run trained on"):
        lines = forecast_lines(run)
    assert lines.after[:, 0] == pytest.approx(expected, rel=1e-9)


def test_a_run_trained_before_the_record_still_forecasts_fitting_again(trained, tmp_path, capsys):
    data, run = trained
    for name in ("last.pt", "best.pt"):  # as a run directory from before this record was kept
        path = run / "checkpoints" / name
        state = load_checkpoint(path)
        del state[FIT_KEY]
        save_checkpoint(path, state)
    before = forecast(["predict", str(run)], tmp_path / "before.csv")
    capsys.readouterr()
    write(data, series(STEPS, 10.0))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        after = forecast(["predict", str(run)], tmp_path / "after.csv")
    assert after == pytest.approx(10 * before, rel=1e-6)  # today's behaviour: refit on the file as it is
    assert "warning" not in capsys.readouterr().err


def test_a_damaged_record_is_one_line_naming_the_checkpoint_and_key(trained, tmp_path, capsys):
    _, run = trained
    for name in ("last.pt", "best.pt"):
        path = run / "checkpoints" / name
        state = load_checkpoint(path)
        state[FIT_KEY]["stream"]["reference"] = "yesterday"
        save_checkpoint(path, state)
    one_line_error(["predict", str(run), "--out", str(tmp_path / "x.csv")], capsys,
                   ("checkpoint ", ".pt", f"'{FIT_KEY}'", "'stream'", "'reference': expected one of", "'yesterday'"))


def test_the_reports_forecast_picture_after_rows_are_appended_shows_the_runs_blocks(trained, tmp_path):
    from rnnlab.plots.forecast import forecast_lines, plot_forecast

    data, run = trained
    before = forecast_lines(run)
    write(data, series(STEPS + 30))  # rows appended after training
    lines = forecast_lines(run)
    # The run's blocks and the forecasts it scored, not blocks cut again from the longer file.
    assert lines.bounds == before.bounds and lines.bounds.test == STEPS
    assert lines.origins.tolist() == before.origins.tolist()
    assert np.allclose(lines.model, before.model, rtol=1e-9) and len(lines.values) == STEPS
    assert lines.added == 30 and before.added == 0
    title = plot_forecast(lines)._suptitle.get_text().replace("\n", " ")
    assert "30 steps appended to data.path since are not drawn" in title


def test_a_revised_value_in_the_training_block_is_named_by_its_step():
    # (docs/streams.md: the warning names the steps that differ)
    from rnnlab.train.run_fit import StreamFit

    x = np.arange(40, dtype=float).reshape(20, 2)
    fit = StreamFit.from_state(StreamFit.of([x, x + 1], [15, 15], "naive").state())  # (as a checkpoint holds it)
    y = x + 1
    y[9, 1] = -1.0  # one value of the second series revised
    assert fit.changed_in([x, y]) == "series 1 differs at step 9: 1 of its 15 training steps changed"
    y[16] = 0.0  # past the training block: not a change
    assert fit.changed_in([x, x + 1]) is None and fit.changed_in([x, np.where(np.arange(20)[:, None] >= 15, 0.0,
                                                                              x + 1)]) is None
    # A record written before step_crc32 says what it can.
    old = {k: v for k, v in fit.state().items() if k != "step_crc32"}
    assert StreamFit.from_state(old).changed_in([x, y]) == "its series differ in their first 15, 15 steps"


def test_predict_with_data_needs_no_data_path(trained, tmp_path, capsys):
    """Before: with data.path gone (a run moved to another machine), ``rnnlab predict RUN --data
    FILE`` stopped with "data.path: data file ... does not exist", although the docs say FILE is read
    with what the checkpoint kept: its column names are kept now too."""
    data, run = trained
    new = write(tmp_path / "new.csv", series(STEPS + 12))
    expected = forecast(["predict", str(run), "--data", str(new)], tmp_path / "expected.csv")
    kept = load_checkpoint(run / "checkpoints" / "last.pt")[FIT_KEY]
    assert kept["stream"]["columns"] == ["sales"]
    data.rename(data.with_suffix(".moved"))
    try:
        capsys.readouterr()
        assert forecast(["predict", str(run), "--data", str(new)], tmp_path / "after.csv") == pytest.approx(
            expected, rel=1e-12)
        assert "error" not in capsys.readouterr().err
        # a checkpoint from before the record: the one-line error says why data.path is needed
        for name in ("last.pt", "best.pt"):
            path = run / "checkpoints" / name
            state = load_checkpoint(path)
            del state[FIT_KEY]["stream"]["columns"]
            save_checkpoint(path, state)
        line = one_line_error(["predict", str(run), "--data", str(new), "--out", str(tmp_path / "old.csv")], capsys,
                              ["keeps no record of its series' column names", "reading --data needs its training file",
                               str(data), "does not exist"])
        assert line.startswith("rnnlab predict: error: ")
    finally:
        data.with_suffix(".moved").rename(data)
