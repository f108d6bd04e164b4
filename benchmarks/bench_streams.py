"""Long streams (issue 22): forecasting against seasonal naive and ETS, fitted in the same run.

Forecasting part (:func:`forecasting`): for series shipped by installed packages (aeon's data
folder: Airline, Lynx, Uschange, solar), at horizon 1 and at a seasonal horizon (one season
ahead; half a day for solar), each scored by MASE on the test block (the last 20 % of the series) over every origin
in it, as ``rnnlab train`` scores the model:

* rnnlab: the ``rnnlab init --task forecasting`` template with only the data set, its season, the
  horizon and the seed changed (``--steps`` shortens the budget for a quick run);
* seasonal naive (and naive), from :func:`rnnlab.data.stream.baseline_forecasts`;
* ETS: statsmodels' Holt-Winters ``ExponentialSmoothing`` (damped additive trend; multiplicative
  season on positive series, additive otherwise), its parameters fitted once on everything
  before the test block, then run forward origin by origin with those parameters (no refit), so
  every forecast reads only the values up to its origin.

MASE's scale is the same for all: the one-step seasonal-naive error on the template's training
block. The test block is evaluated once per run and chooses nothing. Results go to
``docs/streams_runs.jsonl`` (one line per run) and a table in ``docs/streams.md`` between its
``<!-- bench-streams-forecasting -->`` markers.

    .venv/bin/python benchmarks/bench_streams.py                         # make bench-streams
    .venv/bin/python benchmarks/bench_streams.py --steps 200 --seeds 0 --series Airline Lynx PBS
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "streams_runs.jsonl"
PAGE = DOCS / "streams.md"
#: PBS (aeon's PBS_dataset) is left out: a count of 0-3 scripts a month, no series to forecast.
SERIES = ["Airline", "Lynx", "Uschange", "solar"]
SEEDS = [0, 1, 2]
#: The seasonal horizon of each series: one season ahead, but half a day for solar (its 48-step
#: day is longer than the template's validation block, 20 % of what precedes the test block).
SEASONAL_HORIZON = {"solar": 24}
MARK = "<!-- bench-streams-forecasting -->"


def template(series: str, horizon: int, seed: int, steps: int | None) -> str:
    """The forecasting template with only the data set, its season, the horizon, the seed (and,
    for a quick run, the budget) changed."""
    from rnnlab.config import template_for
    from rnnlab.data.stream import BUNDLED_STREAMS

    text = template_for("forecasting")
    for old, new in (('\ndataset = "Airline"\n', f'\ndataset = "{series}"\n'), ("\nhorizon = 1 ", f"\nhorizon = {horizon} "),
                     ("\nseason = 12 ", f"\nseason = {BUNDLED_STREAMS[series].season} "),
                     ("\nseed = 0\n", f"\nseed = {seed}\n")) + ((("\nsteps = 600\n", f"\nsteps = {steps}\n"),) if steps else ()):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def rnnlab_run(series: str, horizon: int, seed: int, steps: int | None) -> list[dict[str, Any]]:
    """The template's test MASE, and seasonal naive's and naive's on the same steps."""
    from rnnlab.config import parse_config
    from rnnlab.train.trainer import train

    config = parse_config(template(series, horizon, seed, steps))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(config, out=Path(tmp) / "run", log=None, progress=False)
        seconds = time.perf_counter() - start
    assert result.test is not None and result.baselines is not None
    rows = [{"model": "rnnlab", "seed": seed, "test_mase": result.test["mase"], "train_mase": result.train_eval["mase"],
             "seconds": seconds, "steps": config.training.steps}]
    if seed == 0:
        rows += [{"model": name.replace("_", " "), "seed": None, "test_mase": v["mase"], "seconds": 0.0}
                 for name, v in result.baselines["test"].items()]
    return rows


def ets_run(series: str, horizon: int) -> dict[str, Any]:
    """statsmodels' ETS (see the module docstring), scored by the template's MASE."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    from rnnlab.config import parse_config
    from rnnlab.data.stream import read_series, seasonal_error, split_bounds

    config = parse_config(template(series, horizon, 0, None))
    m = config.task.season
    x = read_series(config.data).values[0]
    b = split_bounds(len(x), config.data, None)
    scale = seasonal_error([x[: b.train]], m)
    start = time.perf_counter()
    errors = []
    for c in range(x.shape[1]):
        v = x[:, c]
        seasonal = ("mul" if v.min() > 0 else "add") if m > 1 else None
        spec = dict(trend="add", damped_trend=True, seasonal=seasonal, seasonal_periods=m if seasonal else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = ExponentialSmoothing(v[: b.val], initialization_method="estimated", **spec).fit()
            p = fitted.params
            known = dict(initialization_method="known", initial_level=p["initial_level"], initial_trend=p["initial_trend"],
                         **({"initial_seasonal": p["initial_seasons"]} if seasonal else {}))
            fixed = {k: p[k] for k in ("smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend")
                     if k in p and p[k] is not None and not (k == "smoothing_seasonal" and not seasonal)}
            for t in range(b.val - 1, b.test - horizon):  # origins whose horizon lies in the test block
                f = ExponentialSmoothing(v[: t + 1], **spec, **known).fit(optimized=False, **fixed).forecast(horizon)
                errors += list(np.abs(np.asarray(f) - v[t + 1: t + 1 + horizon]) / scale[c])
    return {"model": "ETS (statsmodels)", "seed": None, "test_mase": float(np.mean(errors)),
            "seconds": time.perf_counter() - start}


#: Template variants compared on the training part (``--choose``): text edits of the template.
VARIANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "template": (),
    # The template before its head started at zero (docs/streams.md: "Solar one half-day ahead").
    "random_init": (("\nzero_init = true ", "\nzero_init = false "),),
    "naive_reference": (('\nrelative_to = "auto" ', '\nrelative_to = "naive" '),),
    "seasonal_reference": (('\nrelative_to = "auto" ', '\nrelative_to = "seasonal_naive" '),),
    # The template's model, then judged against its reference forecast on the validation block (the
    # mean guard, rnnlab.train.mean_guard): the same training, so its rows also stand for "template".
    "guard": (('\nrelative_to = "auto" ', '\nmean_guard = true\nrelative_to = "auto" '),),
    # Fewer or smaller steps: does training move the model away from its reference too far?
    "lr_1e-3": (("\nlr = 3e-3\n", "\nlr = 1e-3\n"),),
    "steps_300": (("\nsteps = 600\n", "\nsteps = 300\n"),),
    # A window of a whole season (solar: 48 half-hours; the template's 24 is half of it).
    "bptt_48": (("\nbptt = 24 ", "\nbptt = 48 "),),
    # Fewer weights for series of 70-190 training steps, or a stronger pull toward the reference.
    "hidden_16": (("\nhidden_size = 64\n", "\nhidden_size = 16\n"),),
    "wd_0.1": (("\nweight_decay = 1e-2 ", "\nweight_decay = 1e-1 "),),
    # Deep ensembles (the template has 5 members since 2026-12-05; before, one model: "single").
    "single": (("\nensemble = 5 ", "\nensemble = 1 "),),
    "ensemble_3": (("\nensemble = 5 ", "\nensemble = 3 "),),
    # Gaussian noise on the input while training (model.input_noise; Keras' GaussianNoise).
    **{f"noise_{v}": (("\ninput_noise = 0.0 ", f"\ninput_noise = {v} "),) for v in ("0.1", "0.3")},
    # Dropout on what the head reads (model.head.dropout; tried for issue 27's tiny classes, not kept).
    "head_dropout_0.3": (("\ndropout = 0.0\n", "\ndropout = 0.3\n"),),
}


def choose(series_names: list[str], variants: list[str], folds: int, steps: int | None, seeds: list[int]) -> str:
    """Score template variants on forward-chaining folds of each series' part before its test
    block (:func:`rnnlab.data.folds.forward_chaining`; the test block is never read), as a search
    scores a trial: the best validation epoch's MASE on the fold's validation block, beside
    seasonal naive's on the same steps; and the fit on the fold's training block (skill: 1 - MASE
    over seasonal naive's there). Every run goes to :data:`RESULTS` (part "choose")."""
    from rnnlab.config import parse_config
    from rnnlab.data import Fold
    from rnnlab.data.stream import BUNDLED_STREAMS
    from rnnlab.errors import DataError
    from rnnlab.train.trainer import train

    rows = []
    with open(RESULTS, "a", encoding="utf-8") as log:
        for series in series_names:
            for horizon in sorted({1, SEASONAL_HORIZON.get(series, BUNDLED_STREAMS[series].season)}):
                for variant, seed, index in itertools.product(variants, seeds, range(folds)):
                    text = template(series, horizon, seed, steps)
                    for old, new in VARIANTS[variant]:
                        assert old in text, old
                        text = text.replace(old, new, 1)
                    with tempfile.TemporaryDirectory() as tmp:
                        try:
                            r = train(parse_config(text), out=Path(tmp) / "run", log=None, progress=False,
                                      fold=Fold(k=folds, index=index, seed=0))
                        except DataError as e:  # a first fold too short for one window
                            print(f"{series} h{horizon} fold {index}: {e}", file=sys.stderr)
                            continue
                    assert r.baselines is not None and r.best is not None
                    row = {"series": series, "horizon": horizon, "variant": variant, "fold": index, "seed": seed,
                           "val_mase": r.best["val_mase"], "val_snaive": r.baselines["val"]["seasonal_naive"]["mase"],
                           "train_skill": r.train_eval["skill"], "best_epoch": r.best["epoch"],
                           "val_naive": r.baselines["val"]["naive"]["mase"]}
                    if r.mean_guard is not None:  # what the guard decided, and the validation MASE after it
                        base = r.baselines["val"]["naive" if r.mean_guard.baseline == "naive" else "seasonal_naive"]
                        row.update(guard_kept=r.mean_guard.kept, guard_z=r.mean_guard.z, reference=r.mean_guard.baseline,
                                   val_mase_guarded=row["val_mase"] if r.mean_guard.kept else base["mase"])
                    print(json.dumps(row), flush=True)
                    log.write(json.dumps({**row, "part": "choose",
                                          "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
                    rows.append(row)
    lines = ["| series | horizon | variant | fold val MASE / seasonal naive's | folds below it | train skill |",
             "|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["series"], r["horizon"], r["variant"]) for r in rows):
        got = [r for r in rows if (r["series"], r["horizon"], r["variant"]) == key]
        ratios = [r["val_mase"] / r["val_snaive"] for r in got]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {statistics.mean(ratios):.3f} | "
                     f"{sum(x < 1 for x in ratios)}/{len(ratios)} | {statistics.mean(r['train_skill'] for r in got):+.3f} |")
    return "\n".join(lines)


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.2f}"


def table(rows: list[dict[str, Any]], steps: int | None) -> str:
    """The markdown table: test MASE (mean ± sd over the seeds) per series, horizon and model."""
    lines = [f"Budget of the rnnlab runs: {f'training.steps = {steps} (shortened)' if steps else 'the template (600 steps)'}; "
             f"{os.cpu_count()} CPUs on the machine, one run at a time.", "",
             "| series | horizon | model | test MASE | runs | seconds per run |", "|---|---|---|---|---|---|"]
    keys = sorted({(r["series"], r["horizon"]) for r in rows}, key=lambda k: (SERIES.index(k[0]), k[1]))
    for series, horizon in keys:
        for model in ("rnnlab", "seasonal naive", "naive", "ETS (statsmodels)"):
            got = [r for r in rows if r["series"] == series and r["horizon"] == horizon and r["model"] == model]
            if got:
                lines.append(f"| {series} | {horizon} | {model} | {_ms([r['test_mase'] for r in got])} | {len(got)} | "
                             f"{statistics.mean(r['seconds'] for r in got):.1f} |")
    return "\n".join(lines)


def forecasting(series_names: list[str], seeds: list[int], steps: int | None) -> str:
    """Run the forecasting part; append every run to :data:`RESULTS`; return its table."""
    from rnnlab.data.stream import BUNDLED_STREAMS

    rows: list[dict[str, Any]] = []
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as log:
        for series in series_names:
            for horizon in sorted({1, SEASONAL_HORIZON.get(series, BUNDLED_STREAMS[series].season)}):
                found = [ets_run(series, horizon)]
                for seed in seeds:
                    found += rnnlab_run(series, horizon, seed, steps)
                for r in found:
                    r.update(series=series, horizon=horizon)
                    print(json.dumps(r), flush=True)
                    log.write(json.dumps({**r, "part": "forecasting",
                                          "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
                log.flush()
                rows += found
    return table(rows, steps)


def _write(mark: str, text: str) -> None:
    if PAGE.exists() and PAGE.read_text().count(mark) == 2:
        head, _, rest = PAGE.read_text().partition(mark)
        _, _, tail = rest.partition(mark)
        PAGE.write_text(f"{head}{mark}\n{text}\n{mark}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", default=SERIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    parser.add_argument("--steps", type=int, default=None, help="shorten the template's budget (a quick run)")
    parser.add_argument("--choose", nargs="+", metavar="VARIANT", choices=list(VARIANTS),
                        help=f"instead: score template variants on folds of the training part ({', '.join(VARIANTS)})")
    parser.add_argument("--folds", type=int, default=2, help="--choose: forward-chaining folds (default 2)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.choose:
        print(choose(args.series, args.choose, args.folds, args.steps, args.seeds))
        return 0
    text = forecasting(args.series, args.seeds, args.steps)
    print(text)
    _write(MARK, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
