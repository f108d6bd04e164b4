"""A panel's MASE: each series on its own scale, the run's the mean over series (issue of a demand
planner's 60 store-item series, scales 1 to 1000, some intermittent); and a panel's per-series
notes and errors said once, with counts.

The panels here are small and real: daily Poisson sales of very different sizes, one intermittent,
of different lengths (an .npz with ``lengths``). The expected figures are computed here in numpy,
from the MASE definition (Hyndman & Koehler 2006), not by rnnlab's code.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.data.folds import Fold
from rnnlab.data.stream import baseline_forecasts, every_note, load_stream
from rnnlab.errors import DataError
from rnnlab.task import task_for

H = M = 7          # horizon and season: daily data, a week ahead
TEST = VAL = 14
DOW = np.array([1.0, 0.9, 0.95, 1.0, 1.2, 1.5, 0.6])


def sales(rng: np.random.Generator, n: int, level: float) -> np.ndarray:
    """Daily Poisson sales of mean ``level`` with a weekly pattern."""
    return rng.poisson(level * DOW[np.arange(n) % 7]).astype(float)


def write_panel(path: Path, series: list[np.ndarray]) -> str:
    """An .npz panel [N, L, 1] padded at the end, with its lengths."""
    lengths = np.array([len(s) for s in series])
    X = np.zeros((len(series), lengths.max(), 1))
    for i, s in enumerate(series):
        X[i, : len(s), 0] = s
    np.savez(path, X=X, lengths=lengths)
    return str(path)


def store_panel(tmp_path: Path) -> tuple[str, list[np.ndarray]]:
    """An intermittent item (about 0.3 a day), a small one, a big store (about 1000) and a middle one."""
    rng = np.random.default_rng(7)
    series = [sales(rng, 120, 0.3), sales(rng, 150, 5.0), sales(rng, 140, 1000.0), sales(rng, 130, 60.0)]
    return write_panel(tmp_path / "stores.npz", series), series


def config(path: str, test_steps: int = TEST) -> object:
    return parse_config(f"""[task]
kind = "forecasting"
horizon = {H}
season = {M}
relative_to = "seasonal_naive"
[data]
path = "{path}"
test_steps = {test_steps}
val_steps = {VAL}
bptt = 14
streams = 1
[model]
hidden_size = 4
[training]
steps = 4
seed = 0
threads = 1
[tracking]
enabled = false
health = false
grad_through_time = false
""")


def own_scale(x: np.ndarray, train: int) -> float:
    """The series' own MASE scale: its training block's mean one-step seasonal-naive error."""
    return float(np.mean(np.abs(x[M:train] - x[:train - M])))


def block_errors(x: np.ndarray, start: int, stop: int, forecast) -> np.ndarray:
    """|error| of ``forecast(t, k)`` at every origin whose H steps ahead lie in [start, stop)."""
    return np.array([[abs(x[t + k] - forecast(t, k)) for k in range(1, H + 1)]
                     for t in range(start - 1, stop - H)])


def naive(x):
    return lambda t, k: x[t]


def seasonal_naive(x):
    return lambda t, k: x[t + k - M * -(-k // M)]


def load(cfg, fold: Fold | None = None) -> tuple[object, list[str]]:
    with every_note(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        data = load_stream(cfg.data, seed=0, fold=fold, task=task_for(cfg))
    return data, [str(w.message) for w in said]


def test_the_baselines_mase_is_the_mean_of_each_series_own_mase(tmp_path):
    path, series = store_panel(tmp_path)
    data, _ = load(config(path))
    got = baseline_forecasts(data.test, task_for(config(path)), data.reference)
    # (rel 1e-5: the splits hold float32 values of the 1000-a-day store)
    for name, forecast in (("naive", naive), ("seasonal_naive", seasonal_naive)):
        own = [block_errors(x, len(x) - TEST, len(x), forecast(x)).mean() / own_scale(x, len(x) - TEST - VAL)
               for x in series]
        pooled = np.concatenate([block_errors(x, len(x) - TEST, len(x), forecast(x)).ravel() for x in series]).mean() / \
            np.concatenate([np.abs(x[M:len(x) - 28] - x[:len(x) - 28 - M]) for x in series]).mean()
        assert got[name]["mase"] == pytest.approx(np.mean(own), rel=1e-5), name
        assert abs(np.mean(own) - pooled) > 0.05 * np.mean(own)  # (the panel tells the two apart)


def test_a_fold_scales_each_series_by_its_own_training_part_of_the_fold(tmp_path):
    path, series = store_panel(tmp_path)
    cfg = config(path)
    data, _ = load(cfg, Fold(k=2, index=0, seed=0))
    got = baseline_forecasts(data.val, task_for(cfg), data.reference)["seasonal_naive"]["mase"]
    from rnnlab.data.stream import split_bounds

    own = []
    for x in series:
        b = split_bounds(len(x), cfg.data, Fold(k=2, index=0, seed=0))
        own.append(block_errors(x, b.train, b.val, seasonal_naive(x)).mean() / own_scale(x, b.train))
    assert got == pytest.approx(np.mean(own), rel=1e-5)


@pytest.fixture(scope="module")
def trained_run():
    """A few training steps on the store panel, intermittent item first (the picture's series 1)."""
    tmp = Path(tempfile.mkdtemp())
    path, series = store_panel(tmp)
    from rnnlab.train.trainer import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(config(path), out=str(tmp / "runs"), progress=False, log=None)
    return result.run_dir, series, config(path)


def model_forecasts(run_dir, cfg, x: np.ndarray) -> np.ndarray:
    """The run's model's forecasts [L, H, 1] at every origin of ``x``, in the data's units."""
    from rnnlab.plots.evaluated import evaluated
    from rnnlab.train.forecast import origin_forecasts

    ev = evaluated(run_dir, cfg)
    return origin_forecasts(ev.model, x[:, None], ev.data.stats, ev.data.reference, task_for(cfg))


def test_the_run_s_test_and_training_mase_are_the_mean_of_each_series_own_mase(trained_run):
    import json

    run_dir, series, cfg = trained_run
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    test, train = [], []
    for x in series:
        f = model_forecasts(run_dir, cfg, x)[:, :, 0]
        scale, tr = own_scale(x, len(x) - TEST - VAL), len(x) - TEST - VAL
        test.append(block_errors(x, len(x) - TEST, len(x), lambda t, k, f=f: f[t, k - 1]).mean() / scale)
        train.append(block_errors(x, 1, tr, lambda t, k, f=f: f[t, k - 1]).mean() / scale)
    assert summary["test"]["mase"] == pytest.approx(np.mean(test), rel=1e-4)
    assert summary["train_eval"]["mase"] == pytest.approx(np.mean(train), rel=1e-4)


def test_evaluation_in_batches_of_fewer_rows_than_series_scores_each_row_on_its_series_scale(trained_run):
    from rnnlab.plots.evaluated import evaluated
    from rnnlab.train.trainer import evaluation_tally

    run_dir, _, cfg = trained_run
    ev = evaluated(run_dir, cfg)
    whole = evaluation_tally(ev.model, ev.data.test, task_for(cfg), batch_size=256, window=14)
    by_one = evaluation_tally(ev.model, ev.data.test, task_for(cfg), batch_size=1, window=14)
    # (rows read from the wrong series would be off by their scales' ratio, up to 2500 here)
    assert by_one.result()["mase"] == pytest.approx(whole.result()["mase"], rel=1e-6)
    assert np.allclose(by_one.series_mase(), whole.series_mase(), rtol=1e-6)


def test_the_forecast_picture_titles_series_1_with_its_own_scale(trained_run):
    from rnnlab.plots.forecast import forecast_lines, plot_forecast

    run_dir, series, cfg = trained_run
    x = series[0]  # the intermittent item: its own scale is about 0.4, the panel's pooled one about 80
    scale = own_scale(x, len(x) - TEST - VAL)
    f = model_forecasts(run_dir, cfg, x)[:, :, 0]
    expected = {"model": lambda t, k: f[t, k - 1], "naive": naive(x), "seasonal naive": seasonal_naive(x)}
    lines = forecast_lines(run_dir)
    mase = lines.mase()
    for name, forecast in expected.items():
        want = block_errors(x, len(x) - TEST, len(x), forecast).mean() / scale
        assert mase[name][0] == pytest.approx(want, rel=1e-4), name
    title = plot_forecast(lines).axes[0].get_title()
    assert f"seasonal naive {mase['seasonal naive'][0]:.3f}" in title
    assert mase["seasonal naive"][0] > 0.5  # (over the pooled scale it read about 0.005)


def test_a_series_that_never_sold_in_training_has_no_mase_said_once_and_the_others_average(tmp_path):
    rng = np.random.default_rng(3)
    new = [np.concatenate([np.zeros(105), sales(rng, 25, 2.0)]) for _ in range(2)]  # launched in validation
    others = [sales(rng, 130, 4.0), sales(rng, 130, 400.0)]
    path = write_panel(tmp_path / "new.npz", new + others)
    data, said = load(config(path))
    notes = [s for s in said if "no MASE" in s]
    assert len(notes) == 1 and "2 of the 4 series" in notes[0] and "(series 0, 1)" in notes[0], said
    got = baseline_forecasts(data.test, task_for(config(path)), data.reference)["seasonal_naive"]["mase"]
    own = [block_errors(x, len(x) - TEST, len(x), seasonal_naive(x)).mean() / own_scale(x, len(x) - TEST - VAL)
           for x in others]
    assert got == pytest.approx(np.mean(own), rel=1e-6)


def test_series_that_repeat_their_season_exactly_take_their_naive_scale_said_once(tmp_path):
    rng = np.random.default_rng(4)
    weekly = [np.tile(DOW * level, 20)[:n] for level, n in ((3.0, 130), (50.0, 125))]
    path = write_panel(tmp_path / "weekly.npz", weekly + [sales(rng, 130, 9.0)])
    data, said = load(config(path))
    notes = [s for s in said if "repeat their season" in s]
    assert len(notes) == 1 and "2 of the 3 series" in notes[0], said
    scale = data.test.scale.seasonal_error[:, 0]
    for i, x in enumerate(weekly):
        tr = len(x) - TEST - VAL
        assert scale[i] == pytest.approx(np.mean(np.abs(np.diff(x[:tr]))))


def test_a_short_test_block_is_one_warning_for_the_panel_counting_its_forecasts(tmp_path):
    path, series = store_panel(tmp_path)
    _, said = load(config(path, test_steps=8))
    notes = [s for s in said if "the test block" in s]
    assert len(notes) == 1, notes
    assert "all 4 series" in notes[0] and "2 origins per series" in notes[0] and "those 8 forecasts" in notes[0]


def test_too_short_series_are_one_error_counting_them(tmp_path):
    rng = np.random.default_rng(5)
    # 28 steps held out, horizon 7, bptt 14: 34 steps leave 6 for training (too short: 7 needed), 45 leave a
    # window of 10 steps with targets (shorter than bptt)
    lengths = [120, 34, 130, 33, 45, 46, 125, 35, 34, 30, 34]
    path = write_panel(tmp_path / "m.npz", [sales(rng, n, 20.0) for n in lengths])
    with pytest.raises(DataError) as e:
        load(config(path))
    message = str(e.value)
    assert "6 of the 11 series are too short (series 1, 3, 7, 8, 9 and 1 more)" in message
    assert "and 2 more (series 4, 5) leave fewer training steps with targets than one window" in message
    assert "8 of the 11 series in all" in message and "\n" not in message
    cfg = Path(tmp_path / "m.toml")
    cfg.write_text(f'[task]\nkind = "forecasting"\nhorizon = {H}\nseason = {M}\n[data]\npath = "{path}"\n'
                   f'test_steps = {TEST}\nval_steps = {VAL}\nbptt = 14\nstreams = 1\n[tracking]\nenabled = false\n')
    cli = subprocess.run([sys.executable, "-m", "rnnlab", "train", str(cfg), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode != 0 and "Traceback" not in cli.stderr
    assert "6 of the 11 series are too short" in cli.stderr
