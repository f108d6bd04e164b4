"""Second round: ``rnnlab tensorboard RUN`` builds the model from the shape the run's checkpoint
recorded when it trained (``RunFit``, a forecaster's with its reference and training block), so it needs no training file; a run from before the record still reads
``data.path`` and says in one line when it is gone. A forecasting channel that repeats its season
exactly over the training part (seasonal naive without error: MASE has no scale) has its MASE
scaled by the one-step naive error, and training says so in one line naming it; before, a
stand-in scale of 1.0 (or rounding noise, a huge MASE) was used without a word."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import tiny_run
from test_bad_inputs import one_line_error
from test_predict_cli import separable
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import load_config, parse_config
from rnnlab.data import load_data
from rnnlab.export.tensorboard import last_model, tensorboard_records
from rnnlab.task import task_for
from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.train.run_fit import RUN_FIT_KEY

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _train(tmp: Path, toml: str) -> Path:
    """A run of ``toml`` trained through the API: the run directory `rnnlab train` writes, less the
    report.html that command draws at the end, which `rnnlab tensorboard` never reads."""
    (tmp / "c.toml").write_text(toml)
    run = tmp / "run"
    tiny_run.run(load_config(tmp / "c.toml"), run)
    return run


def _classifier(tmp: Path) -> Path:
    np.savez(tmp / "d.npz", **separable(40, 0))
    return _train(tmp, f'[data]\npath = "{tmp / "d.npz"}"\n[model]\nhidden_size = 4\n[training]\nepochs = 2\n'
                       "[tracking]\nenabled = true\n")


def _forecaster(tmp: Path) -> Path:
    t = np.arange(120)
    x = np.stack([np.sin(2 * np.pi * t / 12) + 0.02 * t, np.cos(2 * np.pi * t / 7) + 0.01 * t], axis=1)
    np.savez(tmp / "s.npz", X=x)
    return _train(tmp, stream_toml(str(tmp / "s.npz"), task="horizon = 3\nseason = 12").replace(
        "enabled = false", "enabled = true"))


def _weights(run: Path) -> dict[str, np.ndarray]:
    """The per-gate weight histograms the export writes, by tag (what needs the model's shape)."""
    _, hists = tensorboard_records(run, model=last_model(run))
    return {h.tag: h.values for h in hists if h.tag.startswith("weights/")}


def _without_record(run: Path, to: Path, key: str) -> Path:
    """A copy of ``run`` whose checkpoints lack ``key``'s record, as a run trained before it was kept."""
    shutil.copytree(run, to)
    for path in (to / "checkpoints").glob("*.pt"):
        state = load_checkpoint(path)
        assert key in state  # (the run kept it)
        del state[key]
        save_checkpoint(path, state)
    return to


@pytest.mark.parametrize("kind", ["classification", "forecasting"])
def test_tensorboard_needs_no_training_file_when_the_checkpoint_records_the_shape(tmp_path, capsys, kind):
    run = (_classifier if kind == "classification" else _forecaster)(tmp_path)
    data = tmp_path / ("d.npz" if kind == "classification" else "s.npz")
    before = _weights(run)
    assert before  # (the gate split needs the model)
    shutil.move(data, tmp_path / "moved.npz")
    capsys.readouterr()
    assert main(["tensorboard", str(run)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "not split per gate" not in out, out
    after = _weights(run)
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) for k in before)
    # a data.path that now holds other data (another channel count) changes nothing either
    np.savez(data, X=np.random.default_rng(1).normal(size=(30, 8 if kind == "classification" else 200, 3)),
             y=np.arange(30) % 3)
    after = _weights(run)
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_a_run_from_before_the_record_reads_data_path_and_says_in_one_line_when_it_is_gone(tmp_path, capsys):
    run = _classifier(tmp_path)
    before = _weights(run)
    old = _without_record(run, tmp_path / "old_run", RUN_FIT_KEY)
    again = _weights(old)  # its shape read again from data.path, as before
    assert again.keys() == before.keys() and all(np.array_equal(again[k], before[k]) for k in before)
    data = tmp_path / "d.npz"
    shutil.move(data, tmp_path / "moved.npz")
    one_line_error(["tensorboard", str(old)], capsys,
                   [str(old), "keeps no record", f"data.path ({data})", "does not exist", "restore it"])
    # a forecaster's run from before its record, likewise
    fore = tmp_path / "f"
    fore.mkdir()
    old_fore = _without_record(_forecaster(fore), fore / "old_run", RUN_FIT_KEY)
    shutil.move(fore / "s.npz", fore / "moved.npz")
    one_line_error(["tensorboard", str(old_fore)], capsys, ["keeps no record", f"data.path ({fore / 's.npz'})"])


# ------------------------------------------------------------------ MASE of a channel that repeats its season

N = 96
T = np.arange(N)
PATTERN = np.array([0.0, 1.0, 5.0, 2.0, 3.0, 1.0])  # a season of 6 steps, not constant


def _csv(path: Path, columns: dict[str, np.ndarray]) -> str:
    lines = [",".join(columns)] + [",".join(repr(float(c[i])) for c in columns.values()) for i in range(N)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _scale_and_said(path: str, data: str = "", season: int = 6) -> tuple[np.ndarray, list[str]]:
    c = parse_config(stream_toml(path, data=data, task=f"season = {season}"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        scale = load_data(c.data, seed=0, task=task_for(c)).train.scale.seasonal_error
    return scale, [str(w.message) for w in said if "repeats its season" in str(w.message)]


NOISY = 10 + 0.3 * T + np.sin(T)  # a trend: its seasonal error is far from 0


def test_a_column_that_repeats_its_season_exactly_is_scaled_by_the_naive_error_and_said(tmp_path):
    cycle = np.tile(PATTERN, N // 6)
    path = _csv(tmp_path / "r.csv", {"sales": NOISY, "cycle": cycle})
    scale, said = _scale_and_said(path)
    train = N - 24
    assert len(said) == 1 and "\n" not in said[0], said
    for part in ("data.columns: column 'cycle' of ", "repeats its season (task.season = 6) exactly",
                 "scaled by the one-step naive error"):
        assert part in said[0], said
    assert scale[1] == pytest.approx(np.abs(np.diff(cycle[:train])).mean(), rel=1e-9)  # not 1.0, not 0
    assert scale[0] == pytest.approx(np.abs(NOISY[6:train] - NOISY[: train - 6]).mean(), rel=1e-9)
    # (the tolerance is relative: a channel close to its season's repeat has a scale, and keeps its own)
    near = cycle + 1e-4 * np.random.default_rng(0).normal(size=N)
    scale, said = _scale_and_said(_csv(tmp_path / "n.csv", {"sales": NOISY, "cycle": near}))
    assert not said and scale[1] == pytest.approx(np.abs(near[6:train] - near[: train - 6]).mean(), rel=1e-9)


def test_a_periodic_function_repeating_up_to_rounding_is_scaled_alike(tmp_path):
    # sin(2 pi t / 12) one season later differs by ~1e-16: a scale of rounding noise, not 0
    x = np.stack([NOISY, 3 + 2 * np.sin(2 * np.pi * T / 12)], axis=1)
    assert 0 < np.abs(x[12:, 1] - x[:-12, 1]).mean() < 1e-12
    np.savez(tmp_path / "p.npz", X=x)
    scale, said = _scale_and_said(str(tmp_path / "p.npz"), season=12)
    assert len(said) == 1 and "task.season = 12" in said[0], said
    train = N - 24
    assert scale[1] == pytest.approx(np.abs(np.diff(x[:train, 1])).mean(), rel=1e-9)


def test_rnnlab_train_says_so_in_one_line(tmp_path, capsys):
    path = _csv(tmp_path / "r.csv", {"sales": NOISY, "cycle": np.tile(PATTERN, N // 6)})
    (tmp_path / "c.toml").write_text(stream_toml(path, task="season = 6"))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "repeats its season" in ln]
    assert len(lines) == 1 and lines[0].startswith("rnnlab train: warning: data.columns: column 'cycle'"), lines
