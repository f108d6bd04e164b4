"""How the regression template's mean guard was chosen: folds of a bundled set's TRAINING split only.

The training split of a bundled regression set (Covid3Month, CardanoSentiment) is cut into 5
folds (stratified on the target, seed 0); each fold is predicted by the ``rnnlab init --task
regression`` template (only the data changed, ``task.mean_guard`` off, so that the trained model is
measured) trained on the other four, with its own validation hold-out inside them, for each seed.
Per run it records the guard's statistic on that hold-out (:func:`rnnlab.train.mean_guard.judge`:
the model's improvement over the training mean in standard errors, ``z``) and the RMSE on the
held-out fold of the model and of the training part's mean, with the predictions; then it prints,
pooled over folds and seeds, the RMSE of the template, of the guard at several margins (the model
where ``z`` exceeds the margin, the mean elsewhere), of averaging the seeds' models, and of the
mean. The test split is never read. Rows go to ``--out`` (JSONL) as each run ends.

``--variant NAME`` trains a candidate change to the template instead (:data:`VARIANTS`: no recurrent
batch norm, layer norm, smaller width, a lower learning rate, per-channel scaling; ``minirocket``:
aeon's MiniRocketRegressor on the same folds). Each run also records the training-part R² of its
last epoch's weights in eval mode, in training mode (batches of 16, on a copy) and in eval mode after
a precise-BN pass, and the held-out RMSE of the restored model after that pass: the train/eval gap
of docs/tasks.md. With the default ``--out`` the tables of docs/tasks.md (between ``<!-- guard-folds
-->`` and ``<!-- template-folds -->``) are rewritten from every run in it; ``--folds`` with no
number runs nothing and only rewrites them.

    .venv/bin/python benchmarks/bench_tasks_folds.py --dataset CardanoSentiment --seeds 0 1 2
    .venv/bin/python benchmarks/bench_tasks_folds.py --dataset Covid3Month --variant layer_norm
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.train.mean_guard import MARGIN

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "tasks_folds_runs.jsonl"
MARGINS = (0.0, 0.5, 1.0, 1.5, 1.645, 2.0)
_BATCH = 'norm = "batch"'
#: Candidate changes to the template (text edits), measured on the same folds.
VARIANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "template": (),
    "minirocket": (),  # (not the template: aeon's MiniRocketRegressor, the benchmark's reference)
    "no_rbn": (("recurrent_batch_norm = true ", "recurrent_batch_norm = false"),),
    "layer_norm": (("recurrent_batch_norm = true ", "recurrent_batch_norm = false"),
                   ("layer_norm = false", "layer_norm = true "), (_BATCH, 'norm = "layer"')),
    "front_layer": ((_BATCH, 'norm = "layer"'),),
    "small": (("hidden_size = 64", "hidden_size = 32"), ("channels = 64", "channels = 32")),
    "lr_low": (("\nlr = 3e-3", "\nlr = 1e-3"),),
    "tiny": (("hidden_size = 64", "hidden_size = 16"), ("channels = 64", "channels = 16")),
    "per_channel": (('normalize = "per_series" ', 'normalize = "per_channel"'), ("series_scale = true ", "series_scale = false")),
    # A deep ensemble of 5 (model.ensemble): early stopping and the guard's z on the members' mean.
    "ensemble_5": (("\nhidden_size = 64\n", "\nhidden_size = 64\nensemble = 5\n"),),
    # Gaussian noise on the input while training (model.input_noise; Keras' GaussianNoise).
    **{f"noise_{v}": (("\ninput_noise = 0.0 ", f"\ninput_noise = {v} "),) for v in ("0.1", "0.3", "1.0")},
}
VARIANTS["ensemble_5_noise_0.3"] = VARIANTS["ensemble_5"] + VARIANTS["noise_0.3"]
# Dropout on the head's features (model.head.dropout; tried for issue 27's tiny classes, not kept).
VARIANTS["head_dropout_0.3"] = (("\ndropout = 0.0\n", "\ndropout = 0.3\n"),)
# The classification template's dilated front-end (issue 27, twelfth round: taps 2 and 4 steps apart).
VARIANTS["dilated"] = (("\nkernel_size = 5\n", "\nkernel_size = 5\ndilation = 2\n"),
                       ("\nkernel_size = 3\n", "\nkernel_size = 3\ndilation = 4\n"))



def batch_norms(model: Any) -> list[Any]:
    """The batch norms of ``model`` that keep running statistics (front-end and recurrent)."""
    from torch import nn

    from rnnlab.layers.norm import TimestepBatchNorm

    return [m for m in model.modules()
            if isinstance(m, TimestepBatchNorm) or (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats)]


def has_batch_statistics(model: Any) -> bool:
    return bool(batch_norms(model))


def precise_batch_norm(model: Any, x: Any, lengths: Any) -> None:
    """A "precise BN" pass (Wu & Johnson 2021): every batch norm's running statistics set to the
    average of the batch statistics of one pass over ``x`` in training mode (chunks of at most 256
    series counted alike, as torch's ``momentum=None``), no gradient, the weights fixed. Tried on
    the folds as a fix for running statistics that lag the final weights; not part of rnnlab (it
    did not lower the held-out RMSE: docs/tasks.md)."""
    import torch

    norms, momenta = batch_norms(model), [m.momentum for m in batch_norms(model)]
    model.train()
    try:
        with torch.no_grad():
            for k, index in enumerate(torch.arange(len(x)).tensor_split(max(1, -(-len(x) // 256)))):
                for m in norms:  # the k-th chunk weighs 1 / (k + 1): every chunk alike
                    m.momentum = 1.0 / (k + 1)
                model(x[index], lengths[index])
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()

def run_fold(dataset: str, fold: int, seed: int, tmp: Path, variant: str = "template", steps: int = 0) -> dict[str, Any]:
    """Train the template (guard off) on four folds of ``dataset``'s training split; measure the
    fifth."""
    import torch

    from rnnlab.config import parse_config, template_for
    from rnnlab.data import load_bundled, load_data
    from rnnlab.data.folds import stratified_folds
    from rnnlab.task import REGRESSION, task_for
    from rnnlab.train.checkpoint import load_checkpoint
    from rnnlab.train.mean_guard import judge
    from rnnlab.train.trainer import train

    full, _ = load_bundled(dataset)  # the training split only
    y = full.y.reshape(len(full.y), -1)
    held = stratified_folds(REGRESSION.strata(y), 5, seed=0)[fold]
    rest = np.setdiff1d(np.arange(len(y)), held)
    if variant == "minirocket":  # the reference: aeon's MiniRocketRegressor fitted on the four folds
        from aeon.regression.convolution_based import MiniRocketRegressor

        start = time.perf_counter()
        reg = MiniRocketRegressor(random_state=seed, n_jobs=1).fit(np.transpose(full.X[rest], (0, 2, 1)), y[rest, 0])
        pred, truth = reg.predict(np.transpose(full.X[held], (0, 2, 1))), y[held, 0].astype(np.float64)
        return {"dataset": dataset, "variant": variant, "steps": 0, "fold": fold, "seed": seed, "z": float("nan"),
                "rmse_model": float(np.sqrt(np.mean((pred - truth) ** 2))),
                "rmse_mean": float(np.sqrt(np.mean((truth - y[rest, 0].mean()) ** 2))), "n": len(truth),
                "pred": pred.tolist(), "truth": truth.tolist(), "seconds": round(time.perf_counter() - start, 1)}
    for name, index in (("train", rest), ("held", held)):
        np.savez(tmp / f"{name}.npz", X=full.X[index], y=y[index], lengths=full.lengths[index])
    text = template_for("regression").replace('\ndataset = "Covid3Month"\n',
                                              f'\npath = "{tmp}/train.npz"\ntest_path = "{tmp}/held.npz"\n', 1)
    text = text.replace("\nseed = 0\n", f"\nseed = {seed}\n", 1).replace("\nmean_guard = true ", "\nmean_guard = false", 1)
    for a, b in VARIANTS[variant]:
        assert a in text, (variant, a)
        text = text.replace(a, b)
    if steps:
        text = text.replace("\nsteps = 2000\n", f"\nsteps = {steps}\n", 1)
    config = parse_config(text)
    assert not config.task.mean_guard and config.training.seed == seed
    start = time.perf_counter()
    result = train(config, out=tmp / f"run-{fold}-{seed}", log=None, progress=False)
    seconds = time.perf_counter() - start
    data = load_data(config.data, seed=seed, task=task_for(config))  # the run's own split and scaling

    def outputs(split: Any) -> np.ndarray:
        with torch.no_grad():
            return result.model.eval()(torch.from_numpy(split.X), torch.from_numpy(split.lengths))[0].double().numpy()

    def r2(out: np.ndarray, split: Any) -> float:  # against the training part's mean (0, standardized)
        y = split.y.reshape(len(split.y), -1).astype(np.float64)
        return float(1 - ((out - y) ** 2).sum() / (y ** 2).sum())

    def train_mode(split: Any) -> np.ndarray:
        """The model as training runs it (batch statistics of batches of 16, dropout, zoneout),
        on a copy, so that its running statistics stay."""
        twin = copy.deepcopy(result.model).train()
        torch.manual_seed(seed)
        order, outs = np.random.default_rng(seed).permutation(len(split.y)), np.zeros((len(split.y), 1))
        with torch.no_grad():
            for idx in np.array_split(order, max(1, len(order) // 16)):  # (none of a single series)
                outs[idx] = twin(torch.from_numpy(split.X[idx]), torch.from_numpy(split.lengths[idx]))[0].double().numpy()
        return outs

    scale = data.test.scale
    last = copy.deepcopy(result.model)  # the last epoch's weights (early stopping restored the best epoch's)
    last.load_state_dict(load_checkpoint(tmp / f"run-{fold}-{seed}" / "checkpoints" / "last.pt")["model"])
    twin, result.model = result.model, last
    last_fit = {"r2_train_eval_last": r2(outputs(data.train), data.train),
                "r2_train_trainmode_last": r2(train_mode(data.train), data.train), "r2_val_eval_last": r2(outputs(data.val), data.val)}
    precise_batch_norm(last, torch.from_numpy(data.train.X), torch.from_numpy(data.train.lengths))
    last_fit.update(r2_train_precise_last=r2(outputs(data.train), data.train), r2_val_precise_last=r2(outputs(data.val), data.val))
    result.model = twin
    fit = {**last_fit, "r2_train_eval": r2(outputs(data.train), data.train), "r2_train_trainmode": r2(train_mode(data.train), data.train),
           "r2_val_eval": r2(outputs(data.val), data.val)}
    guard = judge(outputs(data.val), data.val.y)
    pred = outputs(data.test)[:, 0] * scale.std[0] + scale.mean[0]
    truth = data.test.y[:, 0].astype(np.float64) * scale.std[0] + scale.mean[0]
    if has_batch_statistics(result.model):  # the same model after a precise-BN pass over its training part
        precise_batch_norm(result.model, torch.from_numpy(data.train.X), torch.from_numpy(data.train.lengths))
        pred_p = outputs(data.test)[:, 0] * scale.std[0] + scale.mean[0]
        fit.update(r2_train_precise=r2(outputs(data.train), data.train), r2_val_precise=r2(outputs(data.val), data.val),
                   z_precise=judge(outputs(data.val), data.val.y).z,
                   rmse_precise=float(np.sqrt(np.mean((pred_p - truth) ** 2))))
    return {"dataset": dataset, "variant": variant, "steps": steps, **fit, "fold": fold, "seed": seed, "z": guard.z, "n_val": guard.n_val,
            "best_epoch": result.best["epoch"] if result.best else None, "epochs": result.epochs,
            "rmse_model": float(np.sqrt(np.mean((pred - truth) ** 2))),
            "rmse_mean": float(np.sqrt(np.mean((truth - scale.mean[0]) ** 2))), "n": len(truth),
            "pred": pred.tolist(), "truth": truth.tolist(), "seconds": round(seconds, 1)}


def pooled(errors: list[tuple[int, float]]) -> float:
    """The RMSE over every held-out series of several runs, from each run's ``(n, RMSE)``."""
    return math.sqrt(sum(n * e * e for n, e in errors) / sum(n for n, _ in errors))


def seeds_averaged(rows: list[dict[str, Any]], key: str = "pred") -> float:
    """Pooled RMSE of the average of the seeds' predictions of each fold (an ensemble of the seeds)."""
    by_fold: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_fold.setdefault(r["fold"], []).append(r)
    return pooled([(len(rs[0]["truth"]), float(np.sqrt(np.mean((np.mean([r[key] for r in rs], axis=0)
                                                                 - np.array(rs[0]["truth"])) ** 2))))
                   for rs in by_fold.values()])


def rules(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(rule, its RMSE on the held-out folds pooled over folds and seeds) for one data set's runs."""

    out = [("template, no guard", f"{pooled([(r['n'], r['rmse_model']) for r in rows]):.4g}")]
    for m in MARGINS:
        kept = sum(r["z"] > m for r in rows)
        rmse = pooled([(r["n"], r["rmse_model"] if r["z"] > m else r["rmse_mean"]) for r in rows])
        out.append((f"guard, margin {m:g}", f"{rmse:.4g} (model kept in {kept} of {len(rows)})"))
    out.append(("the seeds' models averaged, per fold", f"{seeds_averaged(rows):.4g}"))
    out.append(("training mean", f"{pooled([(r['n'], r['rmse_mean']) for r in rows]):.4g}"))
    beats = sum(r["rmse_model"] < r["rmse_mean"] for r in rows)
    out.append(("runs whose model beat the mean on its fold", f"{beats} of {len(rows)}"))
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of ``docs/tasks.md`` (between its ``<!-- guard-folds -->`` markers): a
    column per data set."""
    names = sorted({r["dataset"] for r in rows})
    columns = [rules([r for r in rows if r["dataset"] == name]) for name in names]
    lines = ["| rule (RMSE on the held-out folds, pooled) | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for i, (rule, _) in enumerate(columns[0]):
        lines.append(f"| {rule} | " + " | ".join(c[i][1] for c in columns) + " |")
    return "\n".join(lines)


#: What each row of the candidates' table is, in the order shown.
SHOWN = {"template": "the template", "no_rbn": "no recurrent batch norm", "front_layer": "layer norm in the front-end",
         "layer_norm": "layer norm in the front-end and the LSTM (no batch statistics)",
         "small": "half the width (32 channels, 32 units)", "lr_low": "lr 1e-3 (not 3e-3)",
         "tiny": "a quarter of the width (16, 16)", "per_channel": 'normalize = "per_channel", no series_scale',
         "ensemble_5": "a deep ensemble of 5 (model.ensemble = 5)",
         "noise_0.1": "input noise 0.1 (model.input_noise)", "noise_0.3": "input noise 0.3 (model.input_noise)",
         "noise_1.0": "input noise 1.0 (model.input_noise)",
         "ensemble_5_noise_0.3": "a deep ensemble of 5 with input noise 0.3",
         "head_dropout_0.3": "dropout 0.3 on the head's features (model.head.dropout)",
         "minirocket": "MiniRocketRegressor (aeon), the benchmark's reference"}


def candidates_table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of ``docs/tasks.md`` between its ``<!-- template-folds -->`` markers: per
    candidate and data set, the pooled RMSE on the held-out folds of the model, of the model after a
    precise-BN pass, of the seeds' models averaged and of the run with the mean guard, against the
    training mean's; and the R² on the run's training part of the LAST epoch's weights in eval mode,
    in training mode, and in eval mode after the precise-BN pass (the train/eval gap)."""
    lines = ["| candidate | data set | model | precise BN | seeds averaged | with the guard (kept) | training mean "
             "| beat the mean | last epoch's training R²: eval / train mode / precise BN | best epoch (median) |",
             "|---" * 10 + "|"]
    for variant, name in SHOWN.items():
        for dataset in ("CardanoSentiment", "Covid3Month"):
            rs = [r for r in rows if r.get("variant", "template") == variant and r["dataset"] == dataset and not r.get("steps")]
            if not rs:
                continue
            mean = pooled([(r["n"], r["rmse_mean"]) for r in rs])

            def rel(x: float, mean: float = mean) -> str:
                return f"{x:.4g} ({100 * (x / mean - 1):+.1f} %)"

            precise = rel(pooled([(r["n"], r["rmse_precise"]) for r in rs])) if all("rmse_precise" in r for r in rs) else ""
            if variant == "minirocket":
                guard = fit = best = ""
            else:
                guard = (rel(pooled([(r["n"], r["rmse_model"] if r["z"] > MARGIN else r["rmse_mean"]) for r in rs]))
                         + f" ({sum(r['z'] > MARGIN for r in rs)})")
                fit = " / ".join(f"{np.mean([r[k] for r in rs if k in r]):.2f}" if any(k in r for r in rs) else "–"
                                 for k in ("r2_train_eval_last", "r2_train_trainmode_last", "r2_train_precise_last"))
                best = f"{np.median([r['best_epoch'] for r in rs]):g}"
            lines.append(f"| {name} | {dataset} | {rel(pooled([(r['n'], r['rmse_model']) for r in rs]))} | {precise} "
                         f"| {rel(seeds_averaged(rs))} | {guard} | {mean:.4g} "
                         f"| {sum(r['rmse_model'] < r['rmse_mean'] for r in rs)} of {len(rs)} | {fit} | {best} |")
    return "\n".join(lines)


def write_between(mark: str, text: str) -> None:
    """Replace what ``docs/tasks.md`` holds between its two ``mark`` lines with ``text``."""
    page = ROOT / "docs" / "tasks.md"
    if page.exists() and page.read_text().count(mark) == 2:
        head, _, rest = page.read_text().partition(mark)
        page.write_text(f"{head}{mark}\n{text}\n{mark}{rest.partition(mark)[2]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="CardanoSentiment", choices=["Covid3Month", "CardanoSentiment"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--resume", action="store_true", help="skip the runs already in --out")
    parser.add_argument("--variant", default="template", choices=list(VARIANTS), help="a candidate change to the template")
    parser.add_argument("--steps", type=int, default=0, help="the template's budget (0: its own, 2000 steps)")
    parser.add_argument("--folds", nargs="*", type=int, default=[0, 1, 2, 3, 4], help="(none: only the tables, from --out)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    rows = [r for r in rows if r["dataset"] == args.dataset and r["seed"] in args.seeds
            and r.get("variant", "template") == args.variant and r.get("steps", 0) == args.steps]
    done = {(r["fold"], r["seed"]) for r in rows} if args.resume else set()
    if not args.resume:
        rows = []
    for fold in args.folds:
        for seed in args.seeds:
            if (fold, seed) in done:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                row = run_fold(args.dataset, fold, seed, Path(tmp), args.variant, args.steps)
            rows.append(row)
            with open(out, "a", encoding="utf-8") as f:  # each run on disk as soon as it ends
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: v for k, v in row.items() if k not in ("pred", "truth")}), file=sys.stderr, flush=True)
    everything = list(map(json.loads, out.read_text().splitlines())) if out.exists() else []
    template = [r for r in everything if r.get("variant", "template") == "template" and not r.get("steps")]
    if template:
        text, candidates = table(template), candidates_table(everything)
        print(text, candidates, sep="\n\n")
        if out.resolve() == DEFAULT_OUT.resolve():  # (a run to another file leaves the page alone)
            write_between("<!-- guard-folds -->", text)
            write_between("<!-- template-folds -->", candidates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
