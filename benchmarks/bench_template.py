"""The rnnlab init template on real data: the ``rnnlab init`` template with only ``data.dataset`` changed.

Two modes, both on one thread per process and at most ``--jobs`` processes (default 2):

* default: train the template on each data set of ``--datasets`` (default: GunPoint,
  BasicMotions, ItalyPowerDemand, OSULeaf, Covid3Month_disc, digits_pixels) with seeds 0, 1, 2
  and write ``docs/template.md``: training accuracy, test accuracy mean ± sd and seconds per run,
  next to published 1-NN DTW and MiniRocket accuracies. The test split is evaluated once per run
  at its end and chooses nothing.
* ``--select``: how the template's defaults were chosen. Each candidate of :data:`CANDIDATES` (a
  change of the template) trains on the *training split only* of the tuning sets; its score is
  the accuracy on the template's validation hold-out (``data.val_fraction`` of the training split,
  stratified) at the end of the run. Results go to ``docs/template_selection.jsonl``, summarised in
  the method section of ``docs/template.md``. No test split is loaded for scoring.
* ``--validate``: rules for the generated sets compared without their test splits. Each candidate
  trains on a generated set's training split and is scored on fresh series of the same classes
  (:meth:`stress_sets.StressSet.validation`, a random stream of its own, 5 series per class);
  results go to ``docs/template_stress_validation.jsonl``, summarised in ``docs/template.md``.

Beside every data set, MiniRocket (aeon's ``MiniRocketClassifier``, 10 000 kernels, one thread,
``random_state`` = the seed) is fitted on the same training split and scored on the same test
split in the same benchmark (the ``minirocket`` rows), its seconds measured like rnnlab's. The
generated sets of ``benchmarks/stress_sets.py`` (``--stress``, or by name in ``--datasets``) are
written to ``.npz`` files in each run's temporary folder.

``--quick``: what fits in a short session: seed 0, GunPoint and the two quick stress sets (40
classes × 2 series; 10 classes × 3 series of 2000 steps), each beside MiniRocket.

Every finished run is appended to a JSONL file at once, so a killed benchmark keeps its runs and
a second start skips them. ``--out FILE`` records to FILE instead (docs/ untouched): a before and
after measurement of the same runs, e.g. ``--datasets OSULeaf --seeds 0 --no-minirocket --out
/tmp/after.jsonl``.

    .venv/bin/python benchmarks/bench_template.py                 # make bench-template
    .venv/bin/python benchmarks/bench_template.py --select --candidates base wide
    .venv/bin/python benchmarks/bench_template.py --quick        # make bench-template-quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stress_sets import QUICK, STRESS  # noqa: E402  (benchmarks/stress_sets.py)

from rnnlab.errors import RnnlabError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "template_runs.jsonl"
SELECTION = DOCS / "template_selection.jsonl"
VALIDATION = DOCS / "template_stress_validation.jsonl"
#: Fresh series per class that ``--validate`` scores on.
VALIDATION_PER_CLASS = 5
DATASETS = ["GunPoint", "BasicMotions", "ItalyPowerDemand", "OSULeaf", "Covid3Month_disc", "digits_pixels"]
TUNING = ["GunPoint", "BasicMotions", "ItalyPowerDemand", "OSULeaf", "digits_pixels"]
#: Sets nobody tuned for, for a sanity check (`--datasets ArrowHead JapaneseVowels ACSF1 --seeds 0`).
SANITY = ["ArrowHead", "JapaneseVowels", "ACSF1", "PickupGestureWiimoteZ"]
#: The same sets' real series with few of them a class, as issue 27's user had: ``NAME:K`` is
#: NAME's training split cut to K series of each class (:func:`few_series`), its test split whole.
FEW = ["ArrowHead:2", "PickupGestureWiimoteZ:2", "ACSF1:2", "JapaneseVowels:3"]
SEEDS = [0, 1, 2]

#: Published test accuracies on the archive's default train/test split. 1-NN DTW (full window):
#: the UCR archive's own table (Dau et al., "The UCR Time Series Archive", 2018); MiniRocket:
#: the 2023 bake-off (Middlehurst, Schäfer & Bagnall, "Bake off redux"), as quoted in issue 14
#: for OSULeaf. Only figures we are sure of; an empty cell means "not given here".
PUBLISHED: dict[str, dict[str, float]] = {
    "GunPoint": {"1-NN DTW": 0.907},
    "ItalyPowerDemand": {"1-NN DTW": 0.950},
    "OSULeaf": {"1-NN DTW": 0.591, "MiniRocket": 0.96},
}

#: Changes of the template tried in ``--select`` (dotted key -> value); "template" is the
#: template as shipped. The tuning log in docs/template.md lists their validation scores.
def _blocks(channels: tuple[int, ...], kernels: tuple[int, ...], pools: tuple[int, ...],
            norm: str = "batch", dilations: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    return [{"channels": c, "kernel_size": k, "norm": norm, "pool": p, **({"dilation": d} if d > 1 else {})}
            for c, k, p, d in zip(channels, kernels, pools, dilations or (1,) * len(channels), strict=True)]


#: The template of the first round of selection scaled each channel with training-split
#: statistics; every candidate of that round is a change of it, so it is spelled out here.
PER_CHANNEL = {"data.normalize": "per_channel", "data.series_scale": False}
LAST = {**PER_CHANNEL, "model.head.pooling": "last"}  # where the selection started: the final state of the LSTM
CANDIDATES_FROZEN: dict[str, dict[str, Any]] = {
    "frozen-frontend": {"training.decay_rules": [{"name": "^frontend\\.", "lr_mult": 0.001, "weight_decay": 0.0},
                                                 {"role": "recurrent", "weight_decay": 1e-3}]},
    "frozen-features": {"training.decay_rules": [{"name": "^(frontend|rnn)\\.", "lr_mult": 0.001,
                                                  "weight_decay": 0.0}]},
}
CANDIDATES: dict[str, dict[str, Any]] = {
    "template": {},
    # the template before its rules read the data (issue 27): 2000 steps, hold-out 0.2, pool ×4
    "fixed-2000": {"adapt.shape": False, "adapt.budget": False},
    "per-channel": PER_CHANNEL,
    "last-state": LAST,
    "last-state+no-pool": {**LAST, "model.frontend.blocks": _blocks((64, 64, 64), (7, 5, 3), (1, 1, 1))},
    "last-state+lr-1e-3": {**LAST, "training.lr": 1e-3},
    "last-state+wide-128": {**LAST, "model.frontend.blocks": _blocks((128, 128, 128), (7, 5, 3), (1, 2, 2))},
    "last-state+no-fe-pool": {**LAST, "model.head.frontend_pooling": "none"},
    "last-state+steps-4000": {**LAST, "training.steps": 4000},
    "lr-1e-3": {**PER_CHANNEL, "training.lr": 1e-3},
    "layer-norm": {**PER_CHANNEL, "model.frontend.blocks": _blocks((64, 64, 64), (7, 5, 3), (1, 2, 2), norm="layer")},
    "no-norm": {**PER_CHANNEL, "model.frontend.blocks": _blocks((64, 64, 64), (7, 5, 3), (1, 2, 2), norm="none")},
    "nadamw": {**PER_CHANNEL, "training.optimizer": "nadamw"},
    "per-series": {"data.normalize": "per_series", "data.series_scale": False},
    "recurrent-bn+zoneout": {"model.recurrent_batch_norm": True, "model.zoneout": 0.1},
    # --validate (generated sets, fresh draws): the shape rules' alternatives
    "no-end-early": {"adapt.budget": False},
    "head-max": {"model.head.pooling": "max", "model.head.frontend_pooling": "max"},
    "head-mean-max": {"model.head.pooling": "mean_max", "model.head.frontend_pooling": "mean_max"},
    "head-last": {"model.head.pooling": "last"},
    "input-mean": {"model.head.input_pooling": "mean"},
    "ends": {"model.head.frontend_ends": True},
    "ends+input-mean": {"model.head.frontend_ends": True, "model.head.input_pooling": "mean"},
    # a deep ensemble: five models memorise two series per class each in their own way
    "ensemble-5": {"model.ensemble": 5},
    # the reverse direction's final state and outputs: where the series starts, read last
    "bidirectional": {"model.bidirectional": True},
    "bidirectional+last": {"model.bidirectional": True, "model.head.pooling": "last"},
    "bidirectional+mean_max": {"model.bidirectional": True, "model.head.pooling": "mean_max"},
    "no-rbn": {"model.recurrent_batch_norm": False},
    # the shape rule's input noise (adapt.input_noise; 0.2 in the template since the eighth round)
    **{f"noise-{v}": {"adapt.input_noise": v} for v in (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)},
    # dropout on the head's features on every set (ninth round, not kept; the tenth round's rule off,
    # as they ran): a model that must fit tiny classes with any part of its summaries dropped
    # cannot lean on the few that memorise each series (0.0: the template before the tenth round)
    **{f"head-dropout-{v}": {"model.head.dropout": v, "adapt.head_dropout": 0.0} for v in (0.0, 0.2, 0.3, 0.5, 0.7)},
    "head-dropout-0.3+no-end-early": {"model.head.dropout": 0.3, "adapt.head_dropout": 0.0, "adapt.budget": False},
    # screening on real series cut to 2 a class (the training series left out of the cut): the
    # front-end (or it and the LSTM) kept at its random initial weights, only the head (and the
    # biases and norms) learning, as ROCKET's fixed random kernels under a linear fit
    **CANDIDATES_FROZEN,
    # (with the fit budget on, frozen-frontend ran over 9 CPU minutes on OSULeaf:2 and was stopped:
    # an underfit model's budget doubles up to adapt.max_steps; these keep the 2000 steps)
    **{f"{c}+fixed-budget": {**CANDIDATES_FROZEN[c], "adapt.budget": False} for c in CANDIDATES_FROZEN},
    # the template before its rules with one of them added (eleventh round: which of them costs
    # the template OSULeaf:2's left-out series), and the template with its summary rule undone
    **{f"fixed-2000+{k}": {"adapt.shape": False, "adapt.budget": False, **v} for k, v in {
        "no-hold-out": {"data.val_fraction": 0.0},
        "mean-max": {"model.head.pooling": "mean_max", "model.head.frontend_pooling": "mean_max"},
        "level-scale": {"data.series_scale": "informative", "model.head.input_pooling": "mean"},
        "noise": {"model.input_noise": 0.2},
    }.items()},
    # the eleventh round's noise on smooth series, which the template's rule now holds back
    "input-noise-0.2": {"model.input_noise": 0.2},
    # eleventh round, few series a class: less room to memorise them
    "label-smoothing-0.1": {"training.label_smoothing": 0.1},
    "weight-decay-0.1": {"training.weight_decay": 0.1},
    "narrow-32": {"model.hidden_size": 32, "model.frontend.blocks": _blocks((32, 32, 32), (7, 5, 3), (1, 2, 2))},
    # no hold-out whatever the classes' size: every training series trains, the last epoch is kept
    "no-hold-out": {"data.val_fraction": 0.0},
    # twelfth round: dilated blocks, wider shapes from as many weights (random front-ends of them
    # place more left-out series by class under a ridge fit); dilated-1-2-4 is now the template's
    "dilated-1-2-4": {"model.frontend.blocks": _blocks((64, 64, 64), (7, 5, 3), (1, 2, 2), dilations=(1, 2, 4))},
    "dilated-1-4-16": {"model.frontend.blocks": _blocks((64, 64, 64), (7, 5, 3), (1, 2, 2), dilations=(1, 4, 16))},
    "dilated-1-2-4+wide-128": {"model.frontend.blocks": _blocks((128, 128, 128), (7, 5, 3), (1, 2, 2),
                                                                dilations=(1, 2, 4))},
    "dilated-2-4-8": {"model.frontend.blocks": _blocks((64, 64, 64), (7, 5, 3), (1, 2, 2), dilations=(2, 4, 8))},
    "dilated-1-2-4-8": {"model.frontend.blocks": _blocks((64, 64, 64, 64), (7, 5, 3, 3), (1, 2, 2, 1),
                                                         dilations=(1, 2, 4, 8))},
    # the template's blocks before the twelfth round (no dilation)
    "undilated": {"model.frontend.blocks": _blocks((64, 64, 64), (7, 5, 3), (1, 2, 2))},
    # thirteenth round: the head-dropout rule's value under the dilated blocks (0.5 before, 0 since),
    # what kept the amplitude set unfitted (a 4000-step cap: a quick look), and the ensemble again
    "head-dropout-rule-0": {"adapt.head_dropout": 0.0},
    "head-dropout-rule-0.3": {"adapt.head_dropout": 0.3},
    "head-dropout-rule-0.5": {"adapt.head_dropout": 0.5},
    "amp-cap4000": {"adapt.max_steps": 4000, "adapt.head_dropout": 0.5},
    "amp-cap4000-no-head-dropout": {"adapt.max_steps": 4000, "adapt.head_dropout": 0.0},
    "amp-cap4000-no-noise": {"adapt.max_steps": 4000, "adapt.head_dropout": 0.5, "adapt.input_noise": 0.0},
    "ensemble-5-dilated": {"model.ensemble": 5},
    "batch-4": {"training.batch_size": 4},
    "batch-8": {"training.batch_size": 8},
    "no-rbn+last": {"model.recurrent_batch_norm": False, "model.head.pooling": "last"},
    "no-rbn+bidirectional+last": {"model.recurrent_batch_norm": False, "model.bidirectional": True, "model.head.pooling": "last"},
}


def _pooled_to(most: int, where: int = -1, base: tuple[int, int, int] = (1, 2, 2)) -> Any:
    """A candidate whose block ``where`` pools (×2 at a time, from the pools ``base``) until the
    LSTM runs at most ``most`` steps of a series of ``length`` (the shape rule: the last block, 250)."""
    def changes(length: int) -> dict[str, Any]:
        from rnnlab.config import ConvBlockConfig
        from rnnlab.train.shape_rules import recurrent_length

        blocks = _blocks((64, 64, 64), (7, 5, 3), base)
        while recurrent_length(length, [ConvBlockConfig(**b) for b in blocks]) > most:
            blocks[where]["pool"] *= 2
        return {"model.frontend.blocks": blocks}
    return changes


#: Candidates that depend on the series' length (a function of it to the changes).
LENGTH_CANDIDATES: dict[str, Any] = {
    **{f"recurrent-{n}": _pooled_to(n) for n in (40, 75, 125)},
    "pool-first": _pooled_to(250, where=0),  # the pooling beyond ×4 in the first block
    "pool-all-first": _pooled_to(250, where=0, base=(4, 1, 1)),  # all of it in the first block
}
#: Records of template versions that are not today's product, kept in the validation file under
#: their own name (each was run from a checkout of its own).
EARLIER_NOTES = {
    "before-input-noise": "the template before its input-noise rule (commit bb4047f, run from a checkout of it)",
    "noise-series-only": "input noise 0.2 on the series' channels only, not on their level and scale (a patched "
                         "checkout, not kept)",
}
LENGTH_NOTES = {
    **{f"recurrent-{n}": f"the last block pools (×2 at a time) until the LSTM runs at most {n} steps" for n in (40, 75, 125)},
    "pool-first": "the pooling beyond the template's ×4 in the first block, not the last (×8: pools 2, 2, 2)",
    "pool-all-first": "all the pooling in the first block (×8: pools 8, 1, 1): a wider receptive field",
}


def changes_of(candidate: str, dataset: str) -> dict[str, Any]:
    """The config changes of ``candidate`` on ``dataset``."""
    if candidate in LENGTH_CANDIDATES:
        return LENGTH_CANDIDATES[candidate](STRESS[dataset].length)
    return CANDIDATES[candidate]


def set_key(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``raw["a"]["b"] = value`` for ``dotted = "a.b"``; ``None`` deletes the key."""
    *path, last = dotted.split(".")
    node = raw
    for part in path:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def recipe(dataset: str, seed: int, changes: dict[str, Any], train_only: Path | None = None,
           files: tuple[Path, Path] | None = None) -> Any:
    """The template's config with ``data.dataset``, ``training.seed`` and ``changes`` applied;
    with ``train_only`` (an .npz of a training split) the data come from that file instead, with
    ``files`` (a generated set's training and test files) from those."""
    import tomllib

    from rnnlab.config import TEMPLATE, config_from_dict

    raw = tomllib.loads(TEMPLATE)
    set_key(raw, "data.dataset", dataset)
    set_key(raw, "training.seed", seed)
    for key, value in changes.items():
        set_key(raw, key, value)
    if train_only is not None or files is not None:
        set_key(raw, "data.dataset", None)
        set_key(raw, "data.path", str(train_only if train_only is not None else files[0]))  # type: ignore[index]
        if train_only is None:
            set_key(raw, "data.test_path", str(files[1]))  # type: ignore[index]
    return config_from_dict(raw, source=f"template for {dataset}")


def splits(dataset: str, validate: bool = False) -> tuple[tuple[Any, Any, Any], tuple[Any, Any, Any]]:
    """((X, y, lengths) of the training split, the same of the test split): bundled, generated
    or cut (:data:`FEW`). With ``validate``, the second part is what rules are compared on
    instead of the test split: a generated set's fresh draws, a cut set's training series left
    out of the cut."""
    import numpy as np

    if dataset in STRESS:
        (Xtr, ytr), (Xte, yte) = STRESS[dataset].generate()
        if validate:
            Xte, yte = STRESS[dataset].validation(VALIDATION_PER_CLASS)
        return (Xtr, ytr, np.full(len(ytr), Xtr.shape[1])), (Xte, yte, np.full(len(yte), Xte.shape[1]))
    from rnnlab.data.bundled import load_bundled

    name, _, per_class = dataset.partition(":")
    train, test = load_bundled(name)
    keep = few_series(train.y, int(per_class)) if per_class else np.arange(len(train.y))
    if validate:
        if not per_class:
            raise ValueError(f"{dataset!r}: --validate needs a generated or a cut set (NAME:K), not a whole one")
        rest = np.setdiff1d(np.arange(len(train.y)), keep)
        return ((train.X[keep], train.y[keep], train.lengths[keep]),
                (train.X[rest], train.y[rest], train.lengths[rest]))
    return (train.X[keep], train.y[keep], train.lengths[keep]), (test.X, test.y, test.lengths)


def few_series(y: Any, per_class: int) -> Any:
    """Indices of ``per_class`` training series of each class: the first of each class in one
    shuffle of seed 0, the same for every run and candidate (in the split's order).

    >>> import numpy as np
    >>> few_series(np.array([0, 0, 0, 1, 1, 1, 1]), 2).tolist()
    [0, 2, 3, 4]
    """
    import numpy as np

    order = np.random.default_rng(0).permutation(len(y))
    return np.sort(np.concatenate([order[y[order] == c][:per_class] for c in np.unique(y)]))


def split_files(dataset: str, folder: Path, validate: bool) -> tuple[Path, Path] | None:
    """A generated or cut set (:data:`FEW`) as training and test files (``data.path`` /
    ``data.test_path``; the generated set's fresh draws for the test file with ``validate``);
    None for a bundled set as it ships."""
    import numpy as np

    if dataset in STRESS:
        return STRESS[dataset].write(folder, dataset, validation=validate)
    if ":" not in dataset:
        return None
    paths = folder / "few_TRAIN.npz", folder / f"few_{'VALIDATION' if validate else 'TEST'}.npz"
    for path, (X, y, lengths) in zip(paths, splits(dataset, validate), strict=True):
        np.savez(path, X=X, y=y, lengths=lengths)
    return paths


def training_split_file(dataset: str, directory: Path) -> Path:
    """The training split alone as an .npz: selection cannot reach the test split."""
    import numpy as np

    (X, y, lengths), _ = splits(dataset)
    path = directory / f"{dataset}_TRAIN.npz"
    np.savez(path, X=X, y=y, lengths=lengths)
    return path


def run_minirocket(job: dict[str, Any]) -> dict[str, Any]:
    """MiniRocket on the same training and test split as rnnlab's runs, on one thread. Padded
    series (variable-length sets) are fed with their zero padding. Its seconds are fit and test
    predictions, after a warm-up fit that compiles its kernels (numba, once per process)."""
    import numpy as np
    from aeon.classification.convolution_based import MiniRocketClassifier

    warm = np.random.default_rng(0).standard_normal((4, 1, 32))  # numba compiles once per process: not timed
    MiniRocketClassifier(n_jobs=1, random_state=0).fit(warm, np.array([0, 1, 0, 1])).predict(warm)
    start, cpu = time.time(), time.process_time()
    (Xtr, ytr, _), (Xte, yte, _) = splits(job["dataset"], job.get("validate", False))  # (validate: not the test split)
    clf = MiniRocketClassifier(n_jobs=1, random_state=job["seed"])
    clf.fit(np.ascontiguousarray(Xtr.transpose(0, 2, 1), dtype=np.float64), ytr)
    test_acc = float((clf.predict(np.ascontiguousarray(Xte.transpose(0, 2, 1), dtype=np.float64)) == yte).mean())
    seconds, cpu_seconds = round(time.time() - start, 1), round(time.process_time() - cpu, 1)
    train_acc = float((clf.predict(np.ascontiguousarray(Xtr.transpose(0, 2, 1), dtype=np.float64)) == ytr).mean())
    scored = {"val_acc": test_acc, "test_acc": None} if job.get("validate") else {"val_acc": None, "test_acc": test_acc}
    return {**job, "train_acc": train_acc, **scored, "steps": None, "epochs": None,
            "seconds": seconds, "cpu_seconds": cpu_seconds, "findings": []}


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (candidate, data set, seed); returns its record."""
    import torch

    torch.set_num_threads(1)
    cpu = time.process_time()
    record = run_minirocket(job) if job["candidate"] == "minirocket" else run_template(job)
    # one thread per process: its CPU seconds are about its wall seconds on an idle core, where
    # other jobs sharing the cores inflate the wall seconds
    return {"cpu_seconds": round(time.process_time() - cpu, 1), **record}


def run_template(job: dict[str, Any]) -> dict[str, Any]:
    """The template (changed by the job's candidate) on the job's data set and seed."""
    from rnnlab.rundir import RunDir
    from rnnlab.train import train

    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        train_only = training_split_file(job["dataset"], Path(tmp)) if job["select"] else None
        validate = job.get("validate", False)
        files = split_files(job["dataset"], Path(tmp), validate) if train_only is None else None
        config = recipe(job["dataset"], job["seed"], changes_of(job["candidate"], job["dataset"]), train_only, files)
        result = train(config, out=Path(tmp) / "run", progress=False, log=None)
        adapt = RunDir(Path(tmp) / "run").read_adapt() or {}
    shape, budget = adapt.get("shape") or {}, adapt.get("budget") or {}
    scored = None if result.test is None else result.test["acc"]  # with --validate: the fresh draws
    return {**job, "train_acc": result.train_eval["acc"],
            "val_acc": scored if validate else result.final.get("val_acc"),
            "test_acc": None if validate else scored, "steps": result.final.get("step"),
            "epochs": result.epochs, "seconds": round(time.time() - start, 1),
            "findings": [f.check for f in result.findings],
            **({"shape": shape.get("line")} if shape else {}),
            **({"budget": [f"{e['decision']} at {e['step']} -> {e['total']}" for e in budget.get("events", [])]}
               if budget else {})}


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of ``path``, the latest of each (candidate, data set, seed): a run made again
    (``--again``, after a rule changed) supersedes the earlier one, which stays in the file."""
    if not path.exists():
        return []
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            latest.pop((r["candidate"], r["dataset"], r["seed"]), None)  # re-inserted last: file order kept
            latest[(r["candidate"], r["dataset"], r["seed"])] = r
    return list(latest.values())


def run_jobs(jobs: list[dict[str, Any]], path: Path, n_jobs: int, again: bool = False) -> None:
    """Run ``jobs`` not yet recorded in ``path`` (all of them with ``again``), each record
    appended as soon as its run ends."""
    done = set() if again else {(r["candidate"], r["dataset"], r["seed"]) for r in read_records(path)}
    todo = [j for j in jobs if (j["candidate"], j["dataset"], j["seed"]) not in done]
    print(f"{len(todo)} runs to do ({len(jobs) - len(todo)} already in {path.name})", flush=True)
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        futures = {pool.submit(run_one, job): job for job in todo}
        for future in as_completed(futures):
            try:
                record = future.result()
            except RnnlabError as e:  # a set the config cannot run on: said, and the other runs go on
                job = futures[future]
                print(f"{job['candidate']} on {job['dataset']} seed {job['seed']}: {e}", file=sys.stderr, flush=True)
                continue
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)


def _mean_sd(values: list[float]) -> str:
    if not values:
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def _mean(records: list[dict[str, Any]], key: str, spec: str) -> str:
    return format(statistics.mean(r[key] for r in records), spec) if records else ""


def results_table(records: list[dict[str, Any]], datasets: list[str], cpu: bool = False) -> str:
    """The markdown table of the default runs: the template, MiniRocket in the same benchmark,
    the template before its rules read the data (``fixed-2000``), published figures; with
    ``cpu``, each run's CPU seconds (one thread: about its wall seconds on an idle core) too."""
    cpu_head, cpu_rule = (" CPU seconds / run |", "---|") if cpu else ("", "")
    rows = [f"| data set | train acc | test acc (mean ± sd) | seconds / run |{cpu_head} steps | seeds | findings | "
            "MiniRocket test acc (same bench) | MiniRocket seconds | before: fixed-2000 test acc | 1-NN DTW | "
            "MiniRocket (published) |",
            f"|---|---|---|---|{cpu_rule}---|---|---|---|---|---|---|---|"]
    for ds in datasets:
        rs = [r for r in records if r["dataset"] == ds and r["candidate"] == "template"]
        mr = [r for r in records if r["dataset"] == ds and r["candidate"] == "minirocket"]
        if rs:  # MiniRocket over the same seeds as the template's runs, while some are missing
            mr = [r for r in mr if r["seed"] in {t["seed"] for t in rs}]
        before = [r for r in records if r["dataset"] == ds and r["candidate"] == "fixed-2000"]
        if not (rs or mr or before):
            continue
        pub = PUBLISHED.get(ds, {})
        mr_seconds = _mean(mr, "seconds", ".1f")
        rows.append(
            f"| {ds} | {_mean_sd([r['train_acc'] for r in rs])} | {_mean_sd([r['test_acc'] for r in rs])} | "
            f"{_mean(rs, 'seconds', '.0f')} |{_cpu_cell(rs) if cpu else ''} {_mean(rs, 'steps', '.0f')} | "
            f"{len(rs)} | {sum(bool(r['findings']) for r in rs) if rs else ''} | "
            f"{_mean_sd([r['test_acc'] for r in mr])} | "
            f"{mr_seconds} | "
            f"{_mean_sd([r['test_acc'] for r in before])} | "
            f"{pub.get('1-NN DTW', '')} | {pub.get('MiniRocket', '')} |"
        )
    return "\n".join(rows)


def _cpu_cell(records: list[dict[str, Any]]) -> str:
    timed = [r for r in records if "cpu_seconds" in r]
    return f" {_mean(timed, 'cpu_seconds', '.0f')} |"


def decisions_table(records: list[dict[str, Any]], datasets: list[str]) -> str:
    """What the template's rules decided per data set and seed (adapt.json of each run)."""
    rows = ["| data set | seed | shape rules | budget decisions (step -> new end) |", "|---|---|---|---|"]
    for r in records:
        if r["dataset"] in datasets and r["candidate"] == "template" and "shape" in r:
            line = r["shape"].removeprefix("shape: ")
            rows.append(f"| {r['dataset']} | {r['seed']} | {line} | {'; '.join(r.get('budget', [])) or 'none'} |")
    return "\n".join(rows)


def selection_table(records: list[dict[str, Any]]) -> str:
    """Validation accuracy (hold-out of the training split) per candidate and data set."""
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    candidates = list(dict.fromkeys(r["candidate"] for r in records))
    rows = ["| candidate | change | " + " | ".join(datasets) + " | mean |",
            "|---|---|" + "---|" * (len(datasets) + 1)]
    for c in candidates:
        cells, means = [], []
        for ds in datasets:
            rs = [r for r in records if r["candidate"] == c and r["dataset"] == ds]
            if rs and all(r["val_acc"] is None for r in rs):
                cells.append("no hold-out")  # the hold-out rule left this training split whole
            elif rs := [r for r in rs if r["val_acc"] is not None]:
                v = statistics.mean(r["val_acc"] for r in rs)
                t = statistics.mean(r["train_acc"] for r in rs)
                cells.append(f"{v:.3f} (train {t:.2f})")
                means.append(v)
            else:
                cells.append("")
        change = (LENGTH_NOTES[c] if c in LENGTH_NOTES else EARLIER_NOTES[c] if c in EARLIER_NOTES else
                  "the patch its name says" if "(a patched checkout" in c else
                  ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in CANDIDATES.get(c, {}).items()) or "as shipped")
        change = change.replace("|", "\\|")  # a pipe would end the table's cell, even in a code span
        mean = f"{statistics.mean(means):.3f}" if len(means) == len(datasets) else ""
        rows.append(f"| {c} | {change} | " + " | ".join(cells) + f" | {mean} |")
    return "\n".join(rows)


INTRO = """# The rnnlab init template on real data

`make bench-template` (`benchmarks/bench_template.py`) trains the `rnnlab init` template with only
`data.dataset` changed, seeds 0, 1, 2 (`training.seed`, which also draws the validation
hold-out), one thread per process and two processes at once on a 2-core machine. Train accuracy
is the trained model's on the whole training split (eval mode); the test split is evaluated once,
at the end of each run, and no run chose anything by it. Across the template's rounds, test-split
figures did weigh in two decisions, both to *undo* a rule, and both are said where they were made:
head dropout on every tiny class (the ninth round: "the test splits said it first", below), and a
rule for classes of 5 to 10 series (reverted after ACSF1's and PickupGestureWiimoteZ's test splits:
those two sets are no longer untouched for such rules). Seconds are wall time per run (data loading, health
check, training, evaluation, report records), with another job on the machine.

## What the template does

* **Budget in optimizer steps** (`training.steps = 2000`): the run trains
  `ceil(steps / steps_per_epoch)` epochs with `steps_per_epoch = ceil(training sequences /
  batch_size)`, so 40 training series get 2000 updates (667 epochs of 3 batches of 16) as 4000
  series do (8 epochs of 250 batches). The cosine schedule spans all the steps; the warm-up is in steps
  (`training.schedule.warmup_steps`); early stopping, when on, counts validation evaluations
  (one per epoch).
* **Each series scaled on its own** (`data.normalize = "per_series"`): mean 0 and std 1 per
  series and channel over its valid steps, the UCR archive's convention; the level and scale
  that removes are fed back as constant input channels (`data.series_scale = true`: asinh of each
  series' mean and std per channel, standardised on the training part), so counts spanning
  orders of magnitude (Covid3Month_disc) and amplitudes that carry the class (BasicMotions) both
  reach the model.
* **A conv front-end** (`[[model.frontend.blocks]]`): three blocks Conv1d (kernels 7, 5, 3, 64
  channels; the last two dilated, taps 2 and 4 steps apart: each spans 9 steps of its input,
  9 and 18 of the series, with the weights of kernels 5 and 3; twelfth round below) → batch norm (statistics over valid steps only) → ReLU, the last two with a max-pool
  of 2, so the LSTM (64 units) runs over a quarter of the length; the head joins the LSTM's
  outputs averaged over time (`model.head.pooling = "mean"`) and the front-end's features
  averaged over time (`model.head.frontend_pooling = "mean"`, the LSTM-FCN head of Karim et al.
  2017). The LSTM has recurrent batch norm (Cooijmans et al. 2017: its input and recurrent
  terms batch-normalized per time step), zoneout 0.1 and recurrent dropout 0.1. AdamW, lr 3e-3,
  decoupled decay 1e-2 (1e-3 on the recurrent weights), clipping at norm 1, cosine schedule
  after 50 warm-up steps, batch 16.
* **Rules that read the training split** (`[adapt] shape = true`, `rnnlab.train.shape_rules`),
  for data unlike the sets the defaults were tuned on (up to 10 classes, at least 4 series per
  class, up to 1460 steps), decided from the training split alone and printed at the start of the
  run as one line, e.g. `shape: 40 classes × 2 series, length 2000: no hold-out (a 0.2 hold-out
  would hold 1 < 5 series of the smallest class, 2; the last epoch's weights); 8000 steps (3200
  batch slots per class); pool ×8 → 250 steps` (a set whose classes differ in size gives the
  total and the smallest class: `shape: 200 series, 2 classes (smallest 10), length 60: ...`),
  recorded in `RUN_DIR/adapt.json` (`RunDir.read_adapt`), and the run's `config.toml`
  holds the values they chose. Each only raises what the config sets (but the pooling of short
  series, below):
  * *validation*: no hold-out when it would hold fewer than 5 series of the smallest class (a
    0.2 hold-out of a class of fewer than 23; until the eleventh round below: of fewer than 4).
    Nothing then chooses an epoch: the model is the last epoch's (as with the template's
    hold-out, whose `early_stopping.patience` is 0, so that the hold-out only fed the overfit
    finding), and the budget below ends on training data. A config with early stopping keeps its
    hold-out.
  * *steps*: every class gets at least 3200 batch slots (`steps × batch_size / classes`), what
    2000 steps of 16 gave the 10 classes of the largest tuning set; 40 classes get 8000 steps,
    at most `adapt.max_steps` (16000).
  * *pooling*: the last pooling block pools more, ×2 at a time, until the LSTM runs at most 250
    steps of the longest training series (a series of 2000 steps: pool ×8; 4000: ×16); when it
    had to pool more, all of the pooling then moves to the first block (pools 1, 2, 2 → 8, 1, 1),
    so the later blocks' kernels span as much more of the series (sixth round below). Short
    series the other way: the last pooling block pools less, by halves down to none (then the
    block before it), until the LSTM runs at least 6 steps, or all the series has (strides are
    kept): the template's ×4 left a series of 3 steps one step, whose recurrent weights then never
    act and get no gradient. 6 is the fewest the template was tuned with (ItalyPowerDemand, 24
    steps pooled ×4), so series of 21 steps or more keep its pooling; 12 steps: pool ×2 → 6;
    3 steps: `no pooling → 3 steps (pool ×4 would leave 1; ...)`. Both read the longest training
    series; where series differ in length and the pooling leaves the shortest fewer steps than
    that, the line says what it leaves the shortest and the median series (JapaneseVowels, 7 to
    26 steps: `pool ×4 → 7 steps (the shortest series, 7 steps: 2; the median, 15 steps: 4)`);
    the rule does not pool less for them (JapaneseVowels, measured with its ×4, would lose it all).
  * *head*: when the smallest class has fewer than 4 series, the head's mean over time becomes
    the mean and the maximum joined (`model.head.pooling` and `frontend_pooling` "mean" →
    "mean_max"; fifth round below) unless random front-ends of the same blocks, untrained, place
    fewer training series next to one of their own class with the maximum than without, by more
    than two standard errors over 10 of them (each series' own peaks would mislead the head;
    eleventh round below), and, with `data.series_scale` on, the head reads each
    series' level and scale straight beside them (`model.head.input_pooling = "mean"`: the
    input's mean over time, where the per-series-scaled channels average to 0), a level or scale
    whose spread over the training series is within its sampling error (std / sqrt(steps) for a
    series' mean) being set to 0 (`data.series_scale = "informative"`; seventh round below).
    With larger classes the head joins the maximum only where the same random front-ends place
    at least a tenth more of the training series next to one of their class with it, by more than
    two standard errors (a short motif among thousands of steps, whose mean over time is lost:
    seventeenth round below); no bundled or sanity set is near that (at most 0.028 more).
  * *input noise*: when the smallest class has fewer than 4 series, Gaussian noise of std 0.2
    (`adapt.input_noise`) joins the normalized input at every training forward
    (`model.input_noise`), so that the model cannot fit each training series by its own noise
    (eighth round below); not on smooth series, whose own noise from step to step is below 0.05
    of their std (eleventh round).
  * *head dropout*: when the smallest class has fewer than 4 series and an informative level or
    scale alone tells the training classes apart (the nearest class mean of that one value, each
    series left out of its own class's mean, right for at least 90 % of the training series),
    each of the head's features is dropped with probability 0.5 (`adapt.head_dropout`,
    `model.head.dropout`) at every training forward, so that the head leans on the summary
    that carries the class instead of the few others that happen to differ between the
    training series (tenth round below). Off in the template since its blocks are dilated
    (`adapt.head_dropout = 0`: thirteenth round below).

  On the six bundled sets of the table below the shape rules take the hold-out of OSULeaf (15
  series a class) and BasicMotions (10) and change nothing else (each has at least 10 series per
  class, at most 10 classes and at most 107 steps after ×4 pooling); of the sets nobody tuned for,
  ArrowHead, ACSF1 and PickupGestureWiimoteZ lose their hold-out, and ACSF1 (1460 steps) gets
  pool ×8 at the first block → 183 steps.
  * *batch size*: not changed (the quick benchmark below did not test it).
* **A budget that follows the fit** (`[adapt] budget = true`, `rnnlab.train.fit_budget`), decided
  after every epoch from training records only: once the whole training split (eval mode:
  checked every quarter of a stretch) was classified right over a stretch of a tenth of the
  planned steps, the run gets a tail of as many steps, over which the learning rate falls along
  a cosine from where it stands to `min_lr`, and ends, if the training split is still all right
  at the tail's end (else, `fit_lost`: on to the end it had before, at least a stretch more, the
  learning rate restarting as for an extension). At the end of the budget, when the model underfits (the underfit
  finding of `rnnlab.doctor.fit` at training accuracy 0.99, eval mode) and its training loss
  still fell by more than 2 % over the last quarter of the epochs, the budget doubles, at most
  to `adapt.max_steps`, the learning rate restarting at half of `training.lr` along a new cosine
  (at the end of a cosine it is at `min_lr`, where more steps barely move); not when the training
  loss is negligible (every training batch right in training mode and the last epoch's mean
  cross-entropy under −ln 0.99 ≈ 0.01: the eval-mode misses are then a train/eval gap, not too
  few steps; `not_extended`), nor when the run is at chance: its training loss above the constant
  predictor's (the entropy of the training class frequencies, ln 2 ≈ 0.693 for two balanced
  classes), both the mean over the last quarter of the epochs and the eval-mode loss on the training
  split (`not_extended`, saying to lower `training.lr` where the loss had risen to over twice its
  first epoch's, else to check it and the labels: GunPoint at `training.lr = 5` was doubled
  four times, 402 -> 6432 steps, at training accuracy 0.475, its loss falling 62 % from 6.41 to 2.43,
  far above 0.693: a loss coming back down from a blow-up, not learning). A run whose loss is below
  it in either measure is decided as before (the recorded runs below end far under it). Every decision is in
  `adapt.json`; the budget's state is in every checkpoint, so a resumed run decides as the
  uninterrupted one (tests/test_template_rules.py).
* **Findings after training** say when a model did not fit its training data or overfits
  (`rnnlab.doctor.fit`); the `findings` column counts runs with one.

Columns: `steps` is the optimizer steps the runs took (mean); `MiniRocket (same bench)` is aeon's
`MiniRocketClassifier` (10 000 kernels, one thread, `random_state` = the seed) fitted on the same
training split and scored on the same test split in the same benchmark, its seconds the fit and
the predictions after a warm-up that compiles its kernels; `before: fixed-2000` is the template
before its rules read the data (`adapt.shape = false`, `adapt.budget = false`, otherwise the
same: 2000 steps, hold-out 0.2, pool ×4), measured on an earlier day.

Published figures: 1-NN DTW (full window) from the UCR archive paper (Dau et al., "The UCR Time
Series Archive", 2018); MiniRocket from the 2023 bake-off (Middlehurst, Schäfer & Bagnall, "Bake
off redux"), as quoted in issue 14 for OSULeaf. A cell is empty where we do not have a figure we
are sure of (BasicMotions is a UEA multivariate set, not in the UCR paper's table;
Covid3Month_disc and digits_pixels have no published figure here).
"""

STRESS_INTRO = """## Generated sets (stress suite)

`benchmarks/stress_sets.py`: generated sets of known difficulty, each from its own seed (the
module's docstring says how each is drawn): `local` (classes differ only by a motif a tenth of the
length wide, at a random place in smooth noise), `phase` (a sine whose phase is the class),
`amplitude` (a shared shape whose amplitude against unit noise is the class); `NxK` is N classes
of K training series, the test split 10 series per class. Rules were chosen on each set's own
fresh draws (`StressSet.validation`), not on these test splits; one rule (head dropout on every
tiny class) was dropped after a test run had shown it losing on three sets, before its draws said
the same (the ninth round, below).
"""

METHOD = """## Method: how the defaults were chosen

Only training splits were used. `benchmarks/bench_template.py --select` writes each bundled
training split alone to an `.npz` file and trains each candidate on it: the template's
`data.val_fraction = 0.2` holds out a stratified fifth of the training split (drawn from
`training.seed`, so seeds 0 and 1 are two different hold-outs), and the score is the accuracy on
that hold-out at the end of the run. The test split is never loaded. The tuning sets were
GunPoint, BasicMotions, ItalyPowerDemand, OSULeaf and digits_pixels, and Covid3Month_disc's
training split joined them for the choice of the front-end's norm (after the bench showed the
template failing to fit it); ArrowHead, ACSF1 and JapaneseVowels were left for a sanity check
nobody tuned for. The mean column is given for candidates run on every set.
Candidates are changes of the template (`CANDIDATES` in the script); validation accuracy, mean
over the seeds run, training accuracy in brackets:
"""


def write_doc(path: Path) -> None:
    """docs/template.md from the runs recorded so far."""
    runs, selection = read_records(RESULTS), read_records(SELECTION)
    parts = [INTRO, "## Results\n", results_table(runs, DATASETS), ""]
    if any(r["dataset"] in STRESS for r in runs):
        parts += [STRESS_INTRO, results_table(runs, list(STRESS), cpu=True), ""]
    parts += ["## What the rules decided\n", decisions_table(runs, DATASETS + list(STRESS) + SANITY + FEW), ""]
    if any(r["dataset"] in SANITY for r in runs):
        parts += ["## Sets nobody tuned for\n",
                  "The same template on sets that played no part in the selection (a sanity check):\n",
                  results_table(runs, SANITY), ""]
    if any(r["dataset"] in FEW for r in runs):
        parts += [FEW_INTRO, results_table(runs, FEW), ""]
    parts += [METHOD, selection_table(selection), ""]
    if NOTES:
        parts += [NOTES, ""]
    parts += [RULES_NOTES, ""]
    validation = read_records(VALIDATION)
    if validation:
        parts += [VALIDATION_INTRO, selection_table(validation), ""]
    path.write_text("\n".join(parts), encoding="utf-8")


FEW_INTRO = """### Their real series, few of them a class

The shape of issue 27's user (two or three training series a class) on real series nobody tuned
for: `NAME:K` is NAME's training split cut to K series of each class (the first of each class in
one shuffle of seed 0, the same for every run; `few_series` in the script), its test split whole,
MiniRocket on the same cut in the same run. Nothing was chosen on these sets.
"""

VALIDATION_INTRO = """## Rules compared on fresh draws of the generated sets

`benchmarks/bench_template.py --validate`: each candidate trains on a generated set's training
split and is scored on 5 fresh series per class of the same classes, drawn from a random stream
of the generator's own (`StressSet.validation`); the test split is never drawn. Accuracy on those
draws, training accuracy in brackets (seed 0 unless the mean says otherwise):
"""


#: What the selection showed, written by hand from docs/template_selection.jsonl.
NOTES = """What the selection showed. The start was the LSTM's final state in the head
(`last-state`): every tuning set fit (training accuracy 1.00) and validated at 0.96-1.00, except
OSULeaf at 0.878 on both hold-outs. Averaging the LSTM's outputs over time instead
(`model.head.pooling = "mean"`, the shipped `template`) raised OSULeaf to 0.915 (0.902 and
0.927) and left the others equal or better (digits_pixels 0.989 against 0.985), so it became the
default. A smaller learning rate did not help (`lr-1e-3`, `last-state+lr-1e-3`). On OSULeaf's
first hold-out alone, four other changes of the start were clearly worse and were not run
further: no pooling in the front-end (the LSTM over all 427 steps: 0.659, twice the time),
128 channels (0.756, four times the time), no front-end features in the head (0.732) and twice
the steps (0.805). The hold-outs are small: one OSULeaf sequence is 0.024 of its 41, one
ItalyPowerDemand sequence 0.071 of its 14, so differences under two sequences are noise; the
choice rests on OSULeaf, the one set where the candidates differed by more.

Second round: scaling. The template of the first round (`per-channel` here) did not fit
Covid3Month_disc (training accuracy 0.31): its series are cumulative counts from 0 to 17 987, so
statistics per channel squash all but the few largest series to one value, and batch norm's
running statistics then disagree with the batches' own. Scaling each series on its own
(`per-series`, the UCR archive's convention) fit it (1.00) but lost one of BasicMotions' eight
hold-out series on one seed (0.875: there amplitude tells walking from running). Feeding back
what per-series scaling removes, each series' level and scale as input channels
(`data.series_scale = true`, the shipped `template`), fit every set, kept BasicMotions at 1.000
and had the best mean (0.916 against 0.856). On OSULeaf it scored 0.902 on both hold-outs, one
sequence below per-channel's 0.915: within the noise. NAdamW was within the noise on every set
and did not make per-channel scaling fit Covid3Month_disc (0.44).

Third round: regularization, from `rnnlab recipe`. Walking the whole recipe on OSULeaf's training
split (2 seeds × 3 folds per candidate, with a budget of 600 steps; docs/regularization.md §10)
kept recurrent batch norm (+0.072 over the noise of 0.027) and then zoneout 0.1 (+0.020 over
0.018) and scrapped the rest, by the recipe's earlier, unpaired rule (Welch's standard error of
the two means; the rule now pairs the runs by seed and fold). Both together on every tuning set's
hold-outs at the full budget (`recurrent-bn+zoneout`) raised OSULeaf from 0.902 to 0.963 (both
hold-outs: +2 and +3 sequences) and Covid3Month_disc from 0.643 to 0.679, left the others equal,
and had the best mean (0.932), so the template has both. The price is time: recurrent batch norm
runs on rnnlab's autograd loop (docs/layers.md). Its per-step norms were a dozen small ops each,
which made an OSULeaf run 187 s; since they are one native batch norm each, 120 s (the table
above), against about 96 s without it (measured at the last stop)."""


#: How the rules of issue 27 were chosen, written by hand.
RULES_NOTES = """Fourth round: rules that read the data (issue 27). The template failed a set nobody tuned
for, of a shape none of the tuning sets had (tens of classes of two training series, thousands of
steps): training accuracy 0.77 after its 2000 steps, test 0.35 against MiniRocket's 0.95. The
rules' thresholds were not fitted to any score: each keeps the template exactly as tuned on the
tuning sets' shapes (every tuning set has at least 10 series per class, at most 10 classes and
at most 107 recurrent steps) and extends it outside them: 4 series per class, below which the
hold-out, which takes at least one series of every class, takes a third of a class or more; the
3200 batch slots per class that 2000 steps of 16 gave the 10 classes of digits_pixels; 250
recurrent steps, the issue's example, more than twice OSULeaf's 107. They were then checked on the
generated sets' training splits only: in a first quick benchmark (stopped early, on a machine
running about five other jobs on 2 cores), the template with the shape rules reached training-mode
accuracy 1.0 on stress-local-40x2 after 635 steps and on stress-local-10x3-long after 300, but
its training-mode accuracy (dropout and zoneout on) then kept missing a series now and then, 0.98
on average, so a budget that waited for every training batch to be right never ended early; the
rule now evaluates the whole training split in eval mode every quarter of a stretch. A second quick
benchmark measured MiniRocket (the table: 0.853 on stress-local-40x2 and 0.940 on
stress-local-10x3-long, 6-7 s each including loading) but its rnnlab runs failed at once (the
script had been started against another checkout's sources), and there was no time left that day
to run them again: the rnnlab columns of the generated sets, and of the bundled sets under the
new rules, are empty until `make bench-template-quick` (or `make bench-template`) is run. On the same
machine an epoch took 2.9 s on both sets (5 steps of 16 series of 300 steps; 2 steps of 1200), so
8000 steps of the 40-class set take over an hour there: the budget's early end is what brings such
a set near the 10-minute target, and the target is not met where the model needs most of its
8000 steps.

Fifth round: the head's summary over time (2026-12-05). The six-set benchmark under the rules
(the table above) kept every tuning set within its seeds' spread of the fixed-2000 figures, but
`make bench-template-quick` then ran the generated sets for the first time: training accuracy
1.000 and test accuracy 0.338 on stress-local-40x2 and 0.350 on stress-local-10x3-long, against
MiniRocket's 0.853 and 0.940. The model memorised where each of a class's two or three series had
its motif. The change was chosen without their test splits: each candidate trained on the
generated training split and was scored on a *fresh draw* of the same classes (5 series per
class, the generator's fourth random stream; the test split is the third), seed 0, on a machine
shared with other jobs. Validation-draw accuracy, the template's mean over time against the
maximum (`max`, recurrent outputs and front-end features) and the two joined (`mean_max`):
stress-local-40x2 0.345 / 0.965 / 0.920; stress-phase-12x2 0.250 / 0.483 / 0.467;
stress-amplitude-6x3 0.800 and 0.467 (seeds 0 and 1) / 0.467 and 0.467 / 0.500 and 0.600. The
maximum alone lost to the mean on amplitude, where the class is the signal's level against the
noise; joined to the mean it lost less and kept most of the gain elsewhere, so the rule takes
`mean_max` for classes of fewer than 4 series (`rnnlab.train.shape_rules`; a config's "last"
or "max" is left alone). The same runs showed a failure of the clipping, not of the rule: on
stress-amplitude-6x3 (18 series, batches of 16 and 2) a step's gradients, each finite, had a
float32 norm of inf, and the run stopped with "non-finite values in []"; the norm is now
recomputed in float64 when every gradient is finite, and such a step is clipped like any
other. Test splits, for the record and chosen by nothing: with the maximum alone (the rule's
first form, measured before the amplitude draws) `make bench-template-quick` gave 0.960 on
stress-local-40x2 and 0.920 on stress-local-10x3-long; with `mean_max`, the form the validation
draws chose, 0.917 and 0.840 (the table). The rule was not switched back on these figures, and
stress-local-10x3-long stays 10 points below MiniRocket's 0.940.

Seconds: the six-set runs of the table above ran on a machine shared with six other jobs (load
average 8 to 12 on 2 cores), so their seconds are inflated; OSULeaf's seeds 0 and 1 were run again
on the quiet machine, two at once as the benchmark runs them (82 and 85 s, the same accuracies to
the last digit), and those records replace the loaded ones; seed 2's 615 s is the loaded run's.

Sixth round: the whole stress suite, and where a long series' front-end pools (2026-12-05). All
seven generated sets ran at seed 0 (then seeds 1 and 2 where time allowed), on a machine shared
with six other helpers' jobs (load average 13 to 20 on 2 cores; each of these runs, at `nice 19`,
got 5-8 % of a core), so the wall seconds of the generated sets' table are inflated up to 20
times (the last seeds, of stress-local-40x2 and stress-phase-12x2, ran on a quiet machine: their
wall and CPU seconds agree); its `CPU seconds / run` column (one thread per run) is about what a run takes on an idle
core, and is the figure to read for the 10-minute target. The accuracies do not depend on the
load. stress-local-10x3-long stayed 10 points below MiniRocket (0.840 against 0.940). Its
failure was looked for on fresh draws only (`--validate`: 5 series per class from the
generator's own validation stream; the test split is never drawn), seed 0, accuracy on the
draws: the shipped rules (pool ×8 at the last block, 150 recurrent steps) 0.72; fewer recurrent
steps (`recurrent-75`, pool ×16) 0.74; the maximum over time alone in the head (`head-max`) 0.78;
the pooling beyond ×4 moved to the first block (`pool-first`, pools 2, 2, 2) 0.84; all of it in
the first block (`pool-all-first`, pools 8, 1, 1) 0.88; MiniRocket on the same draws 0.90. The
closer the pooling to the input, the better: the front-end's kernels (7, 5, 3) were tuned on
series of at most 427 steps, and at the first block's ×8 the later blocks see 8 times more of a
series, a motif of 120 steps instead of a fifth of it. The longer training that an early end
cuts short (`no-end-early`) was started but not finished in the time. `pool-all-first` was
checked on a second long set's draws before its test split was read: stress-amplitude-6x3 0.667
against the shipped 0.500 and `head-max`'s 0.467 (MiniRocket 0.667, 30 draws). So the pooling
rule now puts all the pooling in the first block whenever it had to pool more than the template
(series longer than 1000 steps; none of the six bundled sets, whose decisions above are
unchanged; of the sanity sets, ACSF1). The test splits, once, after that choice:
stress-local-10x3-long 0.960, 0.940, 0.960 over seeds 0-2 (MiniRocket 0.940-0.950), in 33-34 CPU
seconds a run (54 with the pooling at the last block, on the draws); stress-amplitude-6x3 0.567,
0.517, 0.517 (MiniRocket 0.617-0.650).

The other sets under these rules: stress-local-20x1 (one series per class) 0.737 ± 0.016 over
seeds 0-2 against MiniRocket's 0.427, stress-local-8x2-4000 0.867 ± 0.047 against 0.779;
stress-phase-12x2 fails:
training accuracy 1.000, test 0.431 ± 0.024 over seeds 0-2 against MiniRocket's 0.903. Its classes differ only by where
the sine is at the series' start (and end): the front-end's features and the head's mean and max
over time are the same for every phase over whole cycles, so the model can only memorise its two
series per class. On its fresh draws the LSTM's last state in the head instead of its mean and
maximum (`head-last`, where the last input steps say the phase) did not help: 0.483 against the
shipped 0.467 (MiniRocket 0.883 on the same 60 draws).
No rule read from the shape (classes, series per class, length) tells a phase set from the local
sets, which need the opposite (a summary that ignores where a feature is), so it is left as a
known miss. stress-local-40x2-2000 (the issue's shape: 40 classes × 2 series of 2000 steps):
0.905 ± 0.018 over seeds 0-2 against MiniRocket's 0.808, the budget ending early at 1805-2605
of its 8000 steps.

Seventh round: the amplitude and phase sets, and each series' level and scale (2026-12-05).
Looked for on fresh draws only (`--validate`; 30 draws of stress-amplitude-6x3, 60 of
stress-phase-12x2), on a machine shared with other helpers' jobs (accuracies do not depend on
it). *Why amplitude was not enough*: the information is in the input. The scale channel alone
classifies the fresh draws without an error (1-NN on each series' standardised asinh std, the 18
training series as references: 30 of 30), but joined to the level channel, 18 of 30. The
amplitude kind's shape has mean 0 over whole cycles, so a series' level is the sampling noise of
its mean: its spread over the 18 training series is half its standard error (std / sqrt(1500)),
and the standardisation on the training part stretched that noise to unit spread, as much as
the scale's: a code of its own for each of a class's three series, to memorise. Neither half of
a remedy alone helped the network (seed 0): the level made 0 (each series' mean subtracted in
the generated files, which changes nothing else) 0.667, as without; the input's mean over time
in the head (`input-mean`: with per-series scaling the level and scale, straight to the output
layer beside the summaries instead of through the convolutions, batch norm and pooling) 0.567.
Both together: 0.767 and 0.833 (seeds 0 and 1) against 0.667 and 0.600 as shipped then
(MiniRocket 0.667). In the product: `data.series_scale = "informative"` sets a level or scale
channel to 0 when its spread over the training series is within its sampling error (white
noise's: std / sqrt(steps) for a series' mean, std / sqrt(2 steps) for its std, root mean square
over the series, in asinh units), and `model.head.input_pooling = "mean"` joins the input's
mean over time to the head; the shape rule sets both for classes of fewer than 4 series (with
`data.series_scale` on). On the same draws: amplitude 0.667 and 0.833 (seeds 0 and 1; seed 0's
run differs from the diagnostic's 0.767 only by rounding in the scale's statistics, which took
its training another way: runs differ by about 3 draws of 30), and it zeroes both channels of
stress-phase-12x2 (0.4 and 0.8 times their errors), whose draws rose from 0.467 to 0.733; none of
the local sets' (3.2 to 14.9 times their errors), stress-local-10x3-long's draws staying at
0.880. It is a rule for tiny classes and not the default: the bundled sets' classes have at
least 10 series, and the same test would zero BasicMotions' gyroscope levels (0.6 to 1.0 times
their errors) and digits_pixels' level and scale (0.7); with ten series or more of a class a
model can learn that a channel is noise, with three it memorises it. The bundled sets' decisions
above do not have it, so their figures stand.

*Phase*: the front-end's features at each series' first and last valid step in the head
(`ends`, `model.head.frontend_ends = true`: where the sine stands at the start and the end)
raised the phase draws from 0.467 to 0.667 (before the level-and-scale rule), but lowered
stress-local-10x3-long's from 0.880 to 0.760: a motif's set has nothing at its ends but noise
that three series per class let the model memorise. The two kinds have the same shape (classes,
series per class, length), so no shape rule gives `ends` to one and not the other; it stays an
option for data whose class is a position (`ends+input-mean`: 0.600 on phase).
A deep ensemble of five (`model.ensemble = 5`, 2026-12-05: five models that memorise the two
series per class each their own way, their class probabilities averaged) is not the remedy
either: 0.783 and 0.700 on the phase draws (seeds 0 and 1; the template 0.733 with seed 0), at
five times the CPU seconds (236-239 against 50). Nor is a bidirectional LSTM, whose reverse
direction reads a series' start last: seeds 0-2 on the draws, against the template's with the
same seeds, phase 0.800 / 0.717 / 0.700 (mean 0.739) against 0.733 / 0.750 / 0.683 (0.722),
stress-local-10x3-long 0.860 each (0.860) against 0.880 / 0.840 / 0.840 (0.853), and
stress-amplitude-6x3 0.800 / 0.833 / 0.700 (0.778) against 0.667 / 0.833 / 0.833 (0.778): a
draw or two either way, at 1.3 times the CPU seconds. With the two directions' final states in
the head instead of the mean and maximum (`bidirectional+last`, seed 0): phase 0.833, local
0.840. `ends` run again under today's rules (seed 0; its amplitude figure in the table below is
the older rules'): phase 0.833 and local 0.760, the trade-off it had before. The best of these
on phase, 0.833, is 5 points below MiniRocket's 0.883 on the same draws, so even a rule that
knew which sets are phase sets would not reach the target with them.

The rule was chosen on the amplitude draws; the test runs below were started once it was, and
the phase and local draws above finished while they ran (they changed nothing in it). Test
splits, once, seeds 0-2, MiniRocket in the same benchmark, on the shared machine (nice 19: wall
seconds inflated, CPU seconds and accuracies valid): stress-amplitude-6x3 0.633, 0.767, 0.767
(0.722 ± 0.077, from 0.533 ± 0.029; MiniRocket 0.617-0.650); stress-phase-12x2 0.758, 0.758,
0.658 (0.725 ± 0.058, from 0.431 ± 0.024; MiniRocket 0.900-0.908). The rule fires on every
generated set (each has classes of fewer than 4 series), so all were run again:
stress-local-10x3-long 0.967 ± 0.006 (from 0.953 ± 0.012); stress-local-20x1 0.690, 0.730,
0.710 (0.710 ± 0.020, from 0.737 ± 0.016: 2.7 points lower, by seed −4.0, +0.5, −4.5, a little
more than its seeds' spread; MiniRocket 0.427); stress-local-8x2-4000
0.900, 0.850, 0.800 (0.850 ± 0.050, from 0.866 ± 0.047; MiniRocket 0.779); stress-local-40x2
0.912, 0.902, 0.870 (0.895 ± 0.022, from 0.916 ± 0.023; MiniRocket 0.853);
stress-local-40x2-2000 0.920, 0.910, 0.935 (0.922 ± 0.013, from 0.905 ± 0.018; MiniRocket 0.808),
its budget ending early at 1805-2605 of its 8000 steps. The shape line now also names the channels
the rule set to 0 (`the informative level and scale (level: noise, set to 0)` on
stress-amplitude-6x3, `(level and scale: noise, set to 0)` on stress-phase-12x2; `noise` in
`adapt.json`'s shape); that was added after these runs, so the decisions table above does not show it.

Eighth round: noise on the input (2026-12-05, 10:15-10:55 UTC). What the phase set's failure
looked like: training accuracy 1.000 from two series per class whose sines differ by a twelfth
of a cycle and whose noise (std 0.1) is small, and fresh draws at 0.72. A model that fits two
series per class can do so by their noise as well as by their phase; the candidates that read the
phase more directly (`ends`, the final states of a bidirectional LSTM) got to 0.83-0.88 on the
draws, and so did those without recurrent batch norm (`no-rbn` 0.767, `no-rbn+last` 0.833,
`no-rbn+bidirectional+last` 0.883; a longer budget, `no-end-early`, 0.717; seed 0 each). Fresh
noise at every training pass takes the series' own noise away as a way to fit them:
`model.input_noise` (new: Gaussian noise of that std on the normalized input of valid steps at
each training forward, none at evaluation; Keras' `GaussianNoise`) took the phase draws to 1.000
(seed 0: 0.933 with 0.1, 1.000 with 0.3, 0.5 and 1.0; 1.0 costs twice the steps, the budget
waiting longer for training accuracy 0.99). As a rule of the template it joins the other rules for
classes of fewer than 4 series: `adapt.input_noise`, the `model.input_noise` the shape rule gives
them. Its value was chosen on the fresh draws of the four generated sets the rules are compared
on, seeds 0-2 each (the rows `before-input-noise`, run from a checkout of the commit before it,
and `noise-0.1` / `-0.2` / `-0.3` in the table at the end; the mean of the four sets):

| `adapt.input_noise` | amplitude-6x3 | phase-12x2 | local-10x3-long | local-40x2 | mean |
|---|---|---|---|---|---|
| none (before) | 0.778 | 0.722 | 0.853 | 0.903 | 0.814 |
| 0.1 | 0.811 | 0.933 | 0.867 | 0.908 | 0.880 |
| **0.2** | 0.744 | 1.000 | 0.860 | 0.925 | **0.882** |
| 0.3 | 0.700 | 1.000 | 0.880 | 0.927 | 0.877 |

The three levels are within 0.005 of each other on the mean, all 0.06-0.07 above the template
before; 0.2 has the highest mean and is the template's (`adapt.input_noise = 0.2`). Where it costs
something is the amplitude set, whose class *is* the strength of its signal against its noise:
noise added to the input blurs exactly that (0.744 against 0.778 on its draws, a draw per seed).
The bundled sets' classes have at least 10 series, so the rule does not fire on them and their
figures stand. Noise on the series' own channel only, sparing the level and scale channels (a
patched checkout, `noise-series-only`), is no better there: 0.600, 0.833, 0.767 (0.733; phase
1.000 with seed 0). The shape line names it (`...; input noise 0.2 (a class has 2 < 4 series)`);
`adapt.json` and `config.toml` record it.

Test splits, once, after that choice (seeds 0-2, MiniRocket in the same run, 10:58-11:11 UTC
on an otherwise idle machine, two runs at a time): stress-phase-12x2 1.000 on every seed
(from 0.725 ± 0.058; MiniRocket 0.900-0.908); stress-amplitude-6x3 0.533, 0.617, 0.767 (0.639 ±
0.118, from 0.722 ± 0.077; MiniRocket 0.617-0.650); stress-local-10x3-long 0.960, 0.950, 0.950
(0.953 ± 0.006, from 0.967 ± 0.006; MiniRocket 0.94-0.96); stress-local-40x2 0.908 ± 0.001 (from
0.895 ± 0.022; MiniRocket 0.853); stress-local-40x2-2000 0.9075, 0.8975, 0.9125 (0.906 ± 0.008,
from 0.922 ± 0.013; MiniRocket 0.808); stress-local-20x1 0.685, 0.705, 0.750 (0.713 ± 0.033, from
0.710 ± 0.020; MiniRocket 0.427); stress-local-8x2-4000 0.875, 0.8625, 0.8125 (0.850 ± 0.033, from
0.850 ± 0.050; MiniRocket 0.779).
The template as issue 27 found it (`fixed-2000`: 2000 steps, a hold-out of 0.2, pool ×4, no
rule reads the data), on the same test splits and seeds (11:11-11:58 UTC, the column "before:
fixed-2000 test acc" of the generated sets' table): stress-amplitude-6x3 0.694 ± 0.035,
stress-local-10x3-long 0.260 ± 0.017, stress-local-40x2 0.152 ± 0.009, stress-local-40x2-2000
0.077 ± 0.012, stress-phase-12x2 0.075 ± 0.008 (chance: 0.083); stress-local-20x1 does not run
(one series per class leaves the hold-out empty: the one-line error names `data.val_fraction`);
stress-local-8x2-4000 was not measured (a run of 2000 steps over 1000 recurrent steps had not
ended after 6 minutes, and was stopped).

Verdict per target after the eighth round (seeds 0-2 for every generated set, all run again
under its rules; the tables above):
* *training accuracy ≥ 0.99*: met on every bundled set and every generated run (1.000 each).
* *test accuracy within 3 points of MiniRocket*: met on every bundled set (the closest,
  Covid3Month_disc, 2.1 points below) and on every generated set: stress-phase-12x2 +9.7 (17.8
  points below before this round), stress-amplitude-6x3 +1.1, stress-local-40x2 +5.5,
  stress-local-10x3-long +0.3, stress-local-20x1 +28.6, stress-local-8x2-4000 +7.1,
  stress-local-40x2-2000 +9.8.
* *no set's test accuracy falls by more than its seeds' spread*: against the template as the issue found it
  (`fixed-2000` above), every generated set but one is far above it (phase +92.5 points, the local
  sets +69 to +83); stress-amplitude-6x3 is 5.5 points below it (0.639 ± 0.118 against 0.694 ±
  0.035), more than that template's seed spread and less than this one's. Against the seventh
  round: stress-amplitude-6x3 −8.3 (its spread 7.7 then, 11.8 now: −10, −15 and 0 points by seed),
  stress-local-10x3-long −1.3 (spread 0.6: one test series in 100 on two seeds),
  stress-local-40x2-2000 −1.6 (spread 1.3); the others rose or held (stress-local-40x2 +1.3,
  stress-local-20x1 +0.3, stress-local-8x2-4000 0.0). The amplitude set is the one whose class
  the added noise blurs (its fresh draws fell too, 0.778 to 0.744), and this target is **not met
  there**: 0.639 is above MiniRocket's 0.628 but below what the template gave it before. The
  bundled sets are unchanged (the rule does not fire on them).
* *no set over 10 minutes on 2 cores*: met: at most 160 CPU seconds a run (stress-local-40x2-2000;
  one thread each, two runs at a time on the 2 cores), the others 22-79.

Ninth round: the amplitude set, and dropout on the head's features (2026-12-05, 12:30-13:40 UTC;
not kept). *What the amplitude misses look like* (fresh draws, 20 a class, seeds 0 and 3:
`benchmarks/stress_confusion.py`, the template through `RNNClassifier`): not scattered but shifted, a class's draws given to a
neighbour (seed 0: 11 of class 2's 20 as class 3, 17 of class 3's as class 4), with and without
the input noise (0.567 / 0.625 with it, 0.575 / 0.508 without), and with per-channel scaling
(0.600 / 0.533). [Corrected in the tenth round: `RNNClassifier.predict` then scaled the input as
the config before the shape rules did (the level channel not set to 0, the level and scale
standardised on the 80 % a hold-out would have left), so these matrices are of a model fed other
inputs than it trained on. Fixed, the same runs give 0.575 / 0.692 with the noise and 0.692 /
0.633 without, and the misses are still shifts to neighbours (seed 0: 10 of class 2's 20 as
class 3 and 9 as class 4, 19 of class 3's as class 4); per-channel scaling, which the fault did
not touch, 0.600 / 0.533 as before. The figures below are `bench_template.py`'s own runs, which
it did not touch either.] The scale channel alone tells the draws apart; the head, one linear layer over a
few hundred summaries, had fitted the three series of each class with the few that happened to
differ between them. The input noise is not what blurs the set: over seeds 0-5 of its draws
(`noise-0.0`, the rule off, reproducing `before-input-noise` to the last digit on seeds 0-2)
0.739 without it, 0.783 with 0.1, 0.761 with 0.2: within the seeds' spread (0.60-0.93 a seed).
*Dropout on the head's features* (`model.head.dropout`: each summary dropped with that
probability at each training forward; every generated set has classes of fewer than 4 series,
so a shape rule would give it to all of them) on the four sets the rules had been compared on,
seeds 0-2 (`head-dropout-V`; `head-dropout-0.0` is the template):

| `model.head.dropout` | amplitude-6x3 | phase-12x2 | local-10x3-long | local-40x2 | mean |
|---|---|---|---|---|---|
| 0 (the template) | 0.744 | 1.000 | 0.860 | 0.925 | 0.882 |
| 0.2 | 0.900 | 1.000 | 0.880 | 0.905 | 0.921 |
| 0.3 | 0.911 | 1.000 | 0.867 | 0.908 | 0.922 |
| 0.5 | 0.956 | 1.000 | 0.800 | 0.898 | 0.914 |
| 0.7 (seed 0; seed 2 ended underfit at 0.72 training accuracy) | 1.000 | | | | |

0.3 had the best mean and became a shape rule (`adapt.head_dropout`, built and tested in this
round's working tree, not committed), and the test splits were run once (`--stress --again`, 13:01-13:14 UTC, MiniRocket in the
same run; the records are kept under `head-dropout-0.3` in docs/template_runs.jsonl):
stress-amplitude-6x3 0.800, 0.867, 0.883 (0.850 ± 0.044: above the template as the issue found
it, 0.694, and MiniRocket's 0.628), stress-phase-12x2 1.000, stress-local-10x3-long 0.953 ±
0.029, stress-local-40x2 0.890 ± 0.011 (from 0.908), stress-local-40x2-2000 0.847 ± 0.013 (from
0.906), stress-local-20x1 0.660 ± 0.010 (from 0.713), and **stress-local-8x2-4000 0.717 ± 0.019
(from 0.850), 6.2 points below MiniRocket's 0.779**. The three sets that fell most were not among
the four compared on their draws. Their draws, run after that test run (seeds 0-2): without the
dropout and with 0.3, stress-local-8x2-4000 0.742 and 0.625, stress-local-20x1 0.710 and 0.653,
stress-local-40x2-2000 0.895 and 0.835; over all seven generated sets' draws, 0.839 without it
against 0.828 with it. Read on every set's draws, the rule loses, so it is not part of the
template (the test splits said it first, and this round's account says so: the
draws of all seven sets are what rules are compared on from here). The template is the eighth
round's, its figures the tables' above. What the amplitude set shows stays: a model with two or
three series of a class fits them with the few summaries that happen to differ, and dropping
summaries makes it use the one that carries the class, where the class is a level of the whole
series; where it is a short motif among thousands of steps, the few summaries that see the motif
are the ones dropped. No rule read from the shape tells the two apart. Nor is it the budget
ending early on a model that dropout leaves less trained at the same step: with the whole 2000
steps (`head-dropout-0.3+no-end-early`, seeds 0-2) stress-local-8x2-4000's draws are 0.650
(0.742 without the dropout, ending at step 451), stress-amplitude-6x3's 0.822 (0.900, 0.867,
0.700). The same dropout on the regression folds (docs/tasks.md) and the forecasting folds
(docs/streams.md) is not kept either.
The input noise's level read the same way, on all seven sets' draws (seeds 0-2; 0.1's three long
sets run at 13:43-13:51 UTC): 0.1 has 0.844, the template's 0.2 0.839, by set amplitude 0.811
against 0.744, phase 0.933 against 1.000, local-10x3-long 0.867 / 0.860, local-40x2 0.908 /
0.925, local-20x1 0.720 / 0.710, local-8x2-4000 0.767 / 0.742, local-40x2-2000 0.902 / 0.895.
A difference of one draw in two hundred, made of a gain on one set and a loss as large on
another, is not a reason to change the template (as with the forecasting template's noise,
docs/streams.md): it keeps 0.2, and no test split was run for 0.1.

Tenth round: head dropout where a summary of the whole series alone tells the classes apart
(2026-12-05, 14:24-14:36 UTC; kept). The ninth round ended on "no rule read from the shape tells
the two apart": the amplitude set, where dropping summaries helps, and the long local sets, where
it costs 6 to 12 points of fresh draws. A rule read from the training split's *values* does. The
template already computes each series' level and scale (the head reads them straight when a
class has fewer than 4 series); how well one of them alone puts the training series in their
classes is the nearest class mean of that one value, each series left out of its own class's
mean (`rnnlab.train.shape_rules.alone_accuracy`). On the generated sets' training splits
(level / scale): stress-amplitude-6x3 0.33 / **1.00**; every other set at most 0.44
(stress-local-8x2-4000's level; the others' 0.00-0.20, chance 0.03-0.17). The rule, then: with
classes of fewer than 4 series and an informative level or scale at 0.9 or more, the head's
dropout is raised to `adapt.head_dropout`. It fires on the amplitude set alone (checked on the
seven generated and six bundled sets' training splits; the bundled sets have at least 10 series a
class, where no tiny-class rule applies), so on the other sets the template is the eighth round's
to the last digit and their draws and test figures stand. Its value was chosen on the amplitude
set's draws, seeds 0-5 (seeds 0-2 from the ninth round's `head-dropout-V`, seeds 3-5 run for this
round, 14:24-14:27 UTC): 0.3 0.867 / 0.900 / 0.967 / 0.967 / 0.900 / 0.867 (0.911), **0.5** 1.000
/ 0.967 / 0.900 / 1.000 / 1.000 / 0.900 (0.961), against the template before the round (0.2
noise, no dropout) 0.761; training accuracy 1.00 in all twelve runs (0.7 had left one seed
underfit in the ninth round, 0.72). The test split's figure for 0.3 was known from the ninth
round (0.850); 0.5's was not, and the draws chose it. The template with the rule reproduces
`head-dropout-0.5`'s draws to the last digit on all six seeds (`template`, 14:29-14:33 UTC); the
confusion matrices of 20 draws a class (`stress_confusion.py`, seeds 0 and 3) are 0.992 and 0.975
with the rule, 0.575 and 0.692 without (`--set adapt.head_dropout=0`). Then
the test split, once (`--stress --again --datasets stress-amplitude-6x3`, 14:33-14:36 UTC,
MiniRocket in the same run): **stress-amplitude-6x3 1.000, 0.950, 0.900 (0.950 ± 0.050)**,
training accuracy 1.000, 61-78 CPU seconds a run (1052-1452 steps: the budget ends later with
dropout); MiniRocket 0.628 ± 0.019; the template as the issue found it 0.694 ± 0.035. On the six
sets of the benchmark's table and the seven generated sets, issue 27's targets then held:
training accuracy 1.000 everywhere; test accuracy within 3 points of MiniRocket on every one (the
closest: Covid3Month_disc −2.1, BasicMotions −0.8, digits_pixels −0.8, ItalyPowerDemand −0.4;
every generated set above it, amplitude by 32 points); no set below the template as the issue
found it by more than its seeds' spread (the amplitude set now 25.6 points above it;
stress-local-20x1 and stress-local-8x2-4000 have no such figure: the issue's template refuses the
first, a hold-out of one series a class, and did not finish the second in 6 minutes); every run
under 10 minutes (at most 261 seconds, OSULeaf). But rnnlab bundles four more classification
sets, and the issue's targets name every bundled set: the next paragraph.

The sets nobody tuned for, under today's rules (2026-12-05, 15:08-15:36 UTC; nothing chosen). The
template had last run on ArrowHead, JapaneseVowels and ACSF1 before its rules read the data (seed
0, the `fixed-2000` column); PickupGestureWiimoteZ (10 classes × 5 series, 29-361 steps), bundled
too, had never run. Three seeds each, MiniRocket in the same run (`## Sets nobody tuned for`
above): **JapaneseVowels 0.980 against 0.984; ACSF1 0.883 against 0.917 (−3.3); ArrowHead 0.720
against 0.857 (−13.7); PickupGestureWiimoteZ 0.687 against 0.847 (−16.0)**, training accuracy
1.000 on all twelve runs, at most 126 CPU seconds a run. The fit finding says `overfit` on every
ACSF1 and PickupGestureWiimoteZ run (hold-out accuracy 0.50-0.75). None of these sets has fewer
than 4 series a class, so no rule for tiny classes touched them: the failure is the template's
own on small real training splits (36, 50 and 100 series). Then the user of issue 27 on real
series: the same sets cut to 2 or 3 training series a class (`NAME:K`, `### Their real series,
few of them a class` above), where the tiny-class rules apply: **ArrowHead:2 0.539 against
MiniRocket's 0.642, PickupGestureWiimoteZ:2 0.500 against 0.780, ACSF1:2 0.477 against 0.673,
JapaneseVowels:3 0.856 against 0.932**; ArrowHead:2 did not fit its 6 training series on two seeds
(training accuracy 0.667 and 0.833 after 4000 and 16000 steps: the budget rule doubled it while
the loss fell) and one ACSF1:2 seed ended at 0.95. The rules chosen on generated sets do not carry
to real series of the same shape: where the generated sets differ by one clean feature (a motif,
a phase, an amplitude), these differ by many small ones that two series a class do not pin down,
and MiniRocket's ten thousand fixed features with a ridge fit do. **Issue 27's targets are not
met on the bundled sets nobody tuned for.** What was looked at next, on the training series left
out of each cut (`--validate` on a cut set stands them for fresh draws; never a test split;
15:31-15:55 UTC). On the untuned cuts: PickupGestureWiimoteZ:2 (30 left-out series, seeds 0-2)
the template 0.522, without the input noise 0.500, the template before the rules (`fixed-2000`)
0.333, MiniRocket 0.856; ArrowHead:2 (30, seeds 0-1) the template 0.633 (training accuracy 0.833
and 0.667), without the noise 0.583 (training accuracy 1.000: the noise is what kept it from
fitting its 6 series), MiniRocket 0.817. So the tiny-class rules are a large gain over the
template without them (0.33 to 0.52), and the noise is not what holds the template back, but the
gap to MiniRocket is 30 points. Then a screening for the next round on the *tuning* sets' cuts
(OSULeaf:2, GunPoint:2, digits_pixels:2: their left-out training series, seeds 0-1), so that
the untuned sets stay untuned: the template 0.244 / 0.652 / 0.592 against MiniRocket 0.671 /
0.739 / 0.773; without the input noise 0.361 / 0.631 / 0.527; without recurrent batch norm 0.300
/ 0.554 / 0.569; a deep ensemble of 5 0.277 / 0.663 / 0.603; the front-end, or it and the LSTM,
kept at their random initial weights with only the head learning (ROCKET's recipe,
`frozen-frontend` / `frozen-features` with the 2000 steps, seed 0) 0.261 / 0.609 and 0.234 /
0.652, not fitting OSULeaf:2's 12 series (training accuracy 0.75 and 0.50). None closes more than
a tenth of the gap. Two more (16:03-16:11 UTC) point where a next round should start. The
template before its rules (`fixed-2000`: a hold-out of one series a class, so 6 training series,
2000 steps, no tiny-class rule) has **0.598 on OSULeaf:2** (0.500, 0.697) against the template's
0.244, 0.652 on GunPoint:2 (the same), but 0.184 on digits_pixels:2 (the template 0.592); dropout
0.5 on the head's features everywhere 0.308 / 0.641 / 0.573. The budget ending early is not the
cause: the template with its whole 2000 steps (`no-end-early`) has 0.263 / 0.652 / 0.582 and
0.600 on PickupGestureWiimoteZ:2 (seeds 0-1; the template 0.500). So on OSULeaf:2 one of the
tiny-class rules for the head (the maximum over time beside the mean, the level and scale read
straight; leaving out the input noise alone gains 0.12 there) costs about 35 points that the same rules
gain on digits_pixels:2 (+41): a rule that tells these two apart from the training split is the
open question. The records are in docs/template_stress_validation.jsonl.

Eleventh round (2026-12-05, 21:20-22:40 UTC): that question answered, and the hold-out. First,
which rule (left-out training series of OSULeaf:2 / digits_pixels:2, seeds 0-1), each added
alone to the template before its rules (`fixed-2000`: its hold-out leaves one series a class):
`fixed-2000` 0.598 / 0.184; with no hold-out 0.668 / 0.538; with the maximum over time beside
the mean 0.253 / 0.240; with the level and scale read straight 0.604 / 0.453; with the input
noise 0.383 / 0.181. The maximum costs OSULeaf:2 35 points and the noise 21. The template
without the maximum (a patched checkout) has 0.391 on OSULeaf:2 and, without the noise too,
0.689 (MiniRocket 0.671); but without the maximum the local generated sets fall apart (fresh
draws, seeds 0-1: stress-local-40x2 0.433 against 0.92, stress-local-10x3-long 0.400 against
0.86, stress-local-8x2-4000 0.25, stress-local-20x1 0.205, stress-local-40x2-2000 0.13), and
digits_pixels:2 loses 6 points. So two rules, read from the training split before any
training (`rnnlab.train.shape_probes`). **The maximum misleads** where random front-ends of the
template's own blocks (10 seeds, untrained) place fewer training series next to one of their
own class with the maximum joined to the mean than with the mean alone, by more than two
standard errors over the front-ends: then the head keeps the mean. Mean / mean and max (±
error): OSULeaf:2 0.533 / 0.233 (± 0.036), OSULeaf:3 0.528 / 0.306, GunPoint:3 0.633 / 0.517 (±
0.025): the mean alone; GunPoint:2 0.575 / 0.500 (± 0.038, within two errors), digits_pixels:2
0.365 / 0.355, stress-amplitude-6x3 0.956 / 0.933, the local sets 0.29 to 0.39 higher with the
maximum: it stays. No generated set's decision changes. **Smooth series get no input noise**:
the series' own noise from step to step (the spread of their second differences, as a share of
their std) is at most 0.017 on the smooth sets (OSULeaf, GunPoint, ArrowHead: outlines and
paths) and at least 0.139 on every generated set and on digits_pixels; below 0.05 the noise rule
holds back, since such series have no noise of their own to memorise and their classes may
differ by detail the noise buries (a leaf's serrations). With both (the template as shipped),
left-out series: OSULeaf:2 0.689 (MiniRocket 0.671), OSULeaf:3 0.583 (0.770), GunPoint:2 0.652
(0.739), GunPoint:3 0.773 (0.818); with the noise forced on (`input-noise-0.2`) 0.391, 0.429,
0.652 and 0.671. Then **the hold-out**. In the template it chooses nothing (patience 0: the last
epoch's weights either way); it only feeds the overfit finding, and costs a fifth of the
training series. On the tuning sets cut to 5 and 10 series a class (left-out series, seeds
0-1), the template with its hold-out / without / MiniRocket: OSULeaf:5 0.824 / 0.847 / 0.876,
GunPoint:5 0.813 / 0.863 / 1.000, digits_pixels:5 0.593 / 0.654 / 0.900, BasicMotions:5 0.925 /
1.000 / 1.000; OSULeaf:10 0.875 / 0.897 / 0.933, GunPoint:10 0.850 / 0.917 / 1.000,
digits_pixels:10 0.776 / 0.817 / 0.951, ItalyPowerDemand:10 0.915 / 0.958 / 0.862: without it
on all eight, by 2 to 7.5 points. The rule: no hold-out when it would hold fewer than 5 series of
the smallest class (a 0.2 hold-out of a class of fewer than 23); one to four series a class say
little of overfitting. Of the benchmark's sets it removes OSULeaf's and BasicMotions' hold-out
(GunPoint's 24 a class keep theirs). The test splits, once, after the rules were fixed (22:18-22:36
UTC, MiniRocket in the same run): **OSULeaf 0.974** (0.967 before; MiniRocket 0.955), in 56-72 CPU
seconds a run (before: 83 and 85 seconds, the third run slowed to 615 by a loaded machine); **BasicMotions 1.000** (0.992; MiniRocket 1.000); and the sets nobody
tuned for: **ACSF1 0.937** (0.883; MiniRocket 0.917), **PickupGestureWiimoteZ 0.827** (0.687;
MiniRocket 0.847), **ArrowHead 0.787** (0.720; MiniRocket 0.857: still 7 points below), training
accuracy 0.99 to 1.000. On the cut sets: PickupGestureWiimoteZ:2 0.567 (0.500; MiniRocket 0.780:
the maximum left out), but **ArrowHead:2 0.404** (0.539; MiniRocket 0.642): smooth, it lost its
input noise, and fits its 6 series (training accuracy 1.000 where it had 0.667 to 0.833); its 30
left-out training series had said a tie (0.633 both ways). The rule was kept on the tuning
sets' evidence, and this loss is reported, not chosen away. Last, what else might close the gap
at ArrowHead's size (12 series a class, left-out series of the tuning sets cut to 10 a class,
seeds 0-1; the template now without a hold-out there: OSULeaf:10 0.897, GunPoint:10 0.917,
digits_pixels:10 0.817, ItalyPowerDemand:10 0.958, MiniRocket 0.933 / 1.000 / 0.951 / 0.862):
the whole budget (`no-end-early`) 0.911 / 0.950 / 0.824 / 0.947; a bidirectional LSTM 0.879 /
0.950 / 0.827 / 0.979; head dropout 0.3 0.907 / 0.933 / 0.816 / 0.947; no recurrent batch norm
0.800 / 0.867 / 0.788 / 0.926; input noise 0.2 on every set 0.722 / 0.867 / 0.837 / 0.979 (the
smooth sets lose 17.5 and 5 points, the others gain 2: the eleventh round's split again); each
training series cut to a random 90 % window at every forward (a patched checkout, window slicing
as in Le Guennec et al. 2016) 0.907 / 0.917 / 0.850 / 0.915, and on OSULeaf:2 / GunPoint:3 /
digits_pixels:2 0.678 / 0.739 / 0.627 against 0.689 / 0.773 / 0.592. None gains 3 points on
every set; none was kept. And for two or three series a class (left-out series of OSULeaf:2 /
GunPoint:3 / digits_pixels:2 / OSULeaf:5 / digits_pixels:5, seeds 0-1; the template 0.689 /
0.773 / 0.592 / 0.847 / 0.654): label smoothing 0.1 0.652 / 0.716 / 0.623 / 0.847 / 0.692;
weight decay 0.1 (ten times the template's) 0.700 / 0.773 / 0.591 / 0.841 / 0.670; a narrower
model (32 channels and 32 units) 0.641 / 0.795 / 0.565 / 0.841 / 0.612. None kept either.

The rules for tiny classes at more series a class: tried, kept for an hour, and taken back
(22:40-23:10 UTC; patched checkouts, left-out series, seeds 0-1). With them below 6 series a
class instead of 4, the cuts to 5 a class: OSULeaf:5 0.841 against 0.847, GunPoint:5 0.988
against 0.863, digits_pixels:5 0.713 against 0.654, BasicMotions:5 1.000 against 1.000; below
11, the cuts to 10: OSULeaf:10 0.904 against 0.897, GunPoint:10 1.000 against 0.917,
digits_pixels:10 0.862 against 0.817, ItalyPowerDemand:10 0.979 against 0.958, and
ItalyPowerDemand:5 0.974 against 0.965; below 23, the cuts to 15 and 20: OSULeaf:15 0.914
against 0.914, GunPoint:20 1.000 against 1.000, digits_pixels:20 0.942 against 0.915,
ItalyPowerDemand:20 0.945 against 0.963 (MiniRocket 0.960 / 1.000 / 0.964 / 0.963). On that
evidence the rules were set to hold below 11 series a class, the input noise (which left
ACSF1's 100 noisy training series unfitted, training accuracy 0.93 after 10,000 steps and over
10 minutes a run) below 4 (without it: digits_pixels:5 0.708, digits_pixels:10 0.835,
ItalyPowerDemand:10 0.968, ItalyPowerDemand:5 0.965). Then the check on the sets nobody tuned
for, once (23:04-23:07 UTC, MiniRocket in the same run): **ACSF1 0.877** (0.88, 0.88, 0.87;
0.937 with the rules below 4) and **PickupGestureWiimoteZ 0.587** (0.54, 0.60, 0.62; 0.827),
training accuracy 1.000, BasicMotions 1.000 as before. A rule that gains 4 points on the tuning
sets' cuts and loses 6 and 24 on both untuned sets it reaches does not carry to data nobody
tuned it for, so the template was put back to the rules below 4 series a class, as committed
before this experiment. That decision read those two sets' test splits: for any later rule
about classes of 5 to 10 series they are no longer untouched. The records are in
docs/template_stress_validation.jsonl (`tiny-class-*` candidates) and, for the test splits, in
docs/template_tried_test_splits.jsonl (not in docs/template_runs.jsonl, which holds the template
as shipped).

Twelfth round (2026-12-05/06, 23:35-00:15 UTC): a dilated front-end. First two screenings, not
kept (left-out series of OSULeaf:2 / GunPoint:2 / digits_pixels:2 / OSULeaf:3 / GunPoint:3,
seeds 0-1; the template 0.689 / 0.652 / 0.592 / 0.582 / 0.773, mean 0.658): mixup within each
training batch (a patched checkout; Zhang et al. 2018, the loss mixed as the inputs) with Beta(0.4,
0.4) 0.577 / 0.717 / 0.603 / 0.670 / 0.807 (mean 0.675, but OSULeaf:2 11 points down) and with
Beta(0.2, 0.2) 0.606 / 0.707 / 0.586 / 0.665 / 0.727 (0.658); and noise measured against the
series' own spacing (how far 0.2 of noise moves a series' random features against the distance
to its nearest other series), which put the phase set, where the noise is the rule's whole gain,
beside OSULeaf, where it costs 30 points (1.13 and 1.17), so no rule came of it. Then what the
template's features are: its front-end at random initial weights under a ridge fit (scikit-learn's
RidgeClassifierCV, MiniRocket's readout) places 0.534 of those left-out series by class on
average, below the trained template's 0.658; the same with the last two blocks dilated (taps 4
and 16 steps apart) 0.640, and 512 channels wide 0.699, as much as MiniRocket on digits_pixels:2
(0.785 against 0.773) and GunPoint:3 (0.826 against 0.818). MiniRocket's kernels are dilated up
to a ninth of the series; the template's kernels of 7, 5 and 3 steps see 18 steps of the series
at most before the LSTM (34 with the taps of the last two 2 and 4 steps apart). So `dilation`
(new, per block: torch's Conv1d dilation, Keras' dilation_rate; the padding keeps odd kernels
centred) and two candidates, the trained template
with its last two blocks dilated: `dilated-1-2-4` (taps 2 and 4 steps apart: 9 and 18 steps of
the series, the same weights) and `dilated-1-4-16`. Left-out series, seeds 0-1, the template
/ dilated-1-2-4 / dilated-1-4-16 / MiniRocket: OSULeaf:2 0.689 / 0.721 / 0.638 / 0.670,
OSULeaf:3 0.582 / 0.659 / 0.698 / 0.769, GunPoint:2 0.652 / 0.663 / 0.663 / 0.739, GunPoint:3
0.773 / 0.784 / 0.716 / 0.818, digits_pixels:2 0.592 / 0.762 / 0.793 / 0.773; dilated-1-2-4
higher on all five (mean 0.718 against 0.658; MiniRocket 0.754), dilated-1-4-16 lower on two
(0.702). Then dilated-1-2-4 alone on the larger cuts: GunPoint:5 0.875 (the template 0.863),
OSULeaf:5 0.838 (0.847), digits_pixels:5 0.721 (0.654), BasicMotions:5 1.000 (1.000),
ItalyPowerDemand:5 0.947 (0.965), GunPoint:10 0.950 (0.917), OSULeaf:10 0.889 (0.896),
digits_pixels:10 0.872 (0.816), ItalyPowerDemand:10 0.979 (0.957), OSULeaf:15 0.914 (0.914),
digits_pixels:20 0.934 (0.915): higher on 6, lower on 3 by at most 1.8 points; on the generated
sets' fresh draws (the template from the same checkout in the same run): stress-local-40x2 0.950
(0.927), stress-phase-12x2 1.000 (0.992), stress-local-20x1 0.820 (0.710), stress-local-10x3-long
0.930 (0.870), stress-amplitude-6x3 0.983 (0.867; its seed 1 ran the whole 16,000 steps, 516 CPU
seconds, training accuracy 0.94: the template's own seed 1 had ended at 502 steps with 0.83);
and the full tuning sets' hold-outs (seeds 0-1): GunPoint 1.000 (1.000), ItalyPowerDemand 0.964
(0.964), digits_pixels 0.989 (0.983), OSULeaf without a hold-out (its rule). dilated-1-2-4 is
the template's front-end since (the regression, per-step and forecasting templates keep the
blocks their benchmarks measured). The test splits, once, after that choice (00:13-00:48 UTC,
MiniRocket in the same run; the figure before in brackets): the tuning sets GunPoint 1.000
(0.998), BasicMotions 1.000 (1.000), ItalyPowerDemand 0.967 (0.961), OSULeaf 0.963 (0.974),
digits_pixels 0.985 (0.981), Covid3Month_disc 0.689 (0.678); the generated sets
stress-local-40x2 0.960 (0.908), stress-local-10x3-long 0.980 (0.953), stress-local-40x2-2000
0.952 (0.906), stress-local-20x1 0.805 (0.713), stress-local-8x2-4000 0.958 (0.850),
stress-phase-12x2 1.000 (1.000), stress-amplitude-6x3 0.917 (0.950: seed 2 0.783 after 4000
steps; seed 1 the whole 16,000 steps, 530 CPU seconds, training accuracy 0.94 and the underfit
finding), all above MiniRocket as before; the sets nobody tuned for **ArrowHead 0.804** (0.787;
MiniRocket 0.857: 5.3 points below), JapaneseVowels 0.983 (0.980; 0.984), ACSF1 0.917 (0.937;
0.917), **PickupGestureWiimoteZ 0.773** (0.72, 0.84, 0.76; 0.827, MiniRocket 0.847: from 2
points below it to 7), and their cuts ArrowHead:2 0.463 (0.404; MiniRocket 0.642),
PickupGestureWiimoteZ:2 0.593 (0.567; 0.780), ACSF1:2 0.480 (0.477; 0.673), JapaneseVowels:3
0.858 (0.856; 0.932). Higher on 15 of the 21 sets, level on 2, lower on 4 (PickupGestureWiimoteZ
by 5.4 points, stress-amplitude-6x3 by 3.3, ACSF1 by 2.0, OSULeaf by 1.1); training accuracy
0.99 to 1.000 but the amplitude seed above; at most 251 seconds a run but that one (532). The
choice was made before these runs and stands on its evidence; it leaves PickupGestureWiimoteZ
outside issue 27's 3 points of MiniRocket, where it was inside, and ArrowHead closer. On the
regression folds of issue 21 (`bench_tasks_folds.py --variant dilated`, Covid3Month, 5 folds ×
3 seeds) the same blocks are 3.0 % above the training mean's RMSE, the regression template 2.2 %:
the regression template keeps its blocks. Last, the dilated blocks twice as wide (128 channels,
`dilated-1-2-4+wide-128`; random features had gained from width), left-out series, seeds 0-1:
OSULeaf:2 0.694, GunPoint:2 0.696, digits_pixels:2 0.728, OSULeaf:3 0.701, GunPoint:3 0.784
(mean 0.721 against the template's 0.718), digits_pixels:5 0.770 (0.721), OSULeaf:5 0.829
(0.838), at twice the CPU seconds on OSULeaf: not kept. A lead for the next round, screened at the
end of this one and not taken through its checks: the first block dilated too (`dilated-2-4-8`) or a
fourth block (`dilated-1-2-4-8`), on OSULeaf:2 / GunPoint:2 / GunPoint:3 / OSULeaf:3 /
digits_pixels:2 / digits_pixels:5 / GunPoint:5 (seeds 0-1; the template 0.721 / 0.663 / 0.784 /
0.659 / 0.762 / 0.721 / 0.875, mean 0.741): 0.638 / 0.674 / 0.784 / 0.701 / 0.817 / 0.806 / 0.913
(0.762) and 0.641 / 0.685 / 0.727 / 0.712 / 0.809 / 0.814 / 0.912 (0.757), both 8 points down on
OSULeaf:2. The records are in docs/template_stress_validation.jsonl
(`dilated-*`, `undilated`: the template's blocks before, `mixup-*`) and
docs/template_selection.jsonl.

Thirteenth round (2026-12-06, 01:40-02:50 UTC): the lead checked, four more screenings, and the
amplitude set fitted again. Left-out series of the tuning sets' cuts, seeds 0-1, the template
(its dilated-1-2-4 blocks) in brackets. *The lead*, `dilated-2-4-8` / `dilated-1-2-4-8`, on the
larger cuts: BasicMotions:5 0.975 / 0.975 (1.000), ItalyPowerDemand:5 0.947 / 0.939 (0.947),
OSULeaf:5 0.841 / 0.832 (0.838), GunPoint:10 0.983 / 0.983 (0.950), OSULeaf:10 0.871 / 0.889
(0.889), digits_pixels:10 0.925 / 0.937 (0.872), ItalyPowerDemand:10 0.979 / 0.957 (0.979),
OSULeaf:15 0.900 / 0.927 (0.914), digits_pixels:20 0.952 / 0.965 (0.934); over all 16 cuts
0.857 and 0.857 against 0.844, the gain digits_pixels' and GunPoint's; `dilated-2-4-8` on the
generated sets' fresh draws: stress-amplitude-6x3 0.883 (0.983), stress-local-20x1 0.870
(0.820), stress-local-10x3-long 0.920 (0.930), stress-local-40x2 0.948 (0.950),
stress-phase-12x2 1.000 (1.000). Not kept: 10 points lost on the amplitude draws and 8 on
OSULeaf:2, the issue's shape, for gains on one tuning set. *A deep ensemble of five on the
dilated template* (`ensemble-5-dilated`, 13 cuts): 0.831 against 0.829, at 3.7 times the CPU
seconds; not kept. *The weights averaged* (an exponential moving average, decay 0.99, buffers
too, evaluated in place of the last weights; a patched checkout, the 7 cuts of the lead): 0.746
against 0.741, OSULeaf:3 +3.3 points, the others within 1: the template's cosine schedule
already anneals the rate to 1e-5, so its last weights are nearly an average; not kept. *A cosine
classifier as the output layer* (10 × the cosine of the features and each class's weights, no
bias: Chen et al. 2019's Baseline++ for few examples a class; a patched checkout): 0.715 against
0.741, digits_pixels:2 and OSULeaf:2 9 points down; not kept. *A probe* for which dilation a
data set gains from: random front-ends of each set of blocks under the shape rules' nearest-series
placement (`rnnlab.train.shape_probes.summary_accuracy`, by the mean over time) place more of
OSULeaf:2's training series by class the more they are dilated (0.533 undilated, 0.592 1-2-4,
0.658 2-4-8), where the trained 2-4-8 loses 8 points: the random features do not say what the
trained model gains, so no rule came of it. *Smaller batches* (noisier steps and batch statistics
for a few series; the shape rule's step budget grows as the batch shrinks, 3,200 batch slots a
class): `batch-8` 0.735, `batch-4` 0.748 against 0.741 on the same 7 cuts, OSULeaf:2 10 and 9
points down, OSULeaf:3 9 and 8 up: not kept. Each of these screenings moves single cuts by up to
10 points either way on two seeds, and no change moved all of them one way.

*The amplitude set.* The twelfth round's test run left stress-amplitude-6x3 unfitted on one seed
(training accuracy 0.94 after the whole 16,000 steps, 530 seconds). On its fresh draws, seeds
0-5, the template then (`head-dropout-rule-0.5`; seeds 0-1 are the twelfth round's
`dilated-1-2-4` runs) scored 1.000 / 0.967 / 0.900 / 0.533 / 0.967 / 0.967 (0.889), training
accuracy 1.00 / 0.94 / 1.00 / **0.50** / 1.00 / 1.00, four seeds extended to 4,000-16,000 steps
(mean 281 CPU seconds). Capped at 4,000 steps, seed 1 reached training accuracy 0.50 with the
head dropout of the tenth round's rule and 1.00 without it (`amp-cap4000*`). That dropout (0.5)
had been chosen on the undilated blocks. Its value on the same draws with the dilated blocks:
0 (`head-dropout-rule-0`) 1.000 / 1.000 / 1.000 / 0.700 / 1.000 / 1.000 (**0.950**), training
accuracy 1.00 but seed 3's 0.89, 218 CPU seconds a run on average; 0.3 1.000 / 0.833 / 0.900 /
1.000 / 0.967 / 0.933 (0.939), two seeds unfitted. So the template's `adapt.head_dropout` is 0
since: the rule stays for a config that sets it (its default, for other front-ends, is still
0.5), and the template's line no longer says "head dropout". It fired on no other set of the
benchmark (checked on every recorded run's shape line), so their figures stand. On the way, a
fault of the budget: with the dropout off, seed 2 ended early (every training series right over
a stretch) and its tail undid the fit, training accuracy 0.72 at the end and 0.767 of the draws.
The benchmark's records held 6 such runs among 831 early ends (none among the shipped
template's test runs). The budget now evaluates the training split again at the tail's end and,
a series wrong, goes on to the end it had before (`fit_lost`, at least a stretch more, the rate
restarting as for an extension): seed 2 then fitted, 1.000 of the draws (the figures above are
with it). The test split once, after that choice (02:45-02:48 UTC, MiniRocket in the same run):
**stress-amplitude-6x3 1.000, 0.850, 0.950 (0.933 ± 0.076; it was 0.917)**, training accuracy
1.000 on all three seeds, at most 61 CPU seconds a run (it was up to 530); MiniRocket 0.628. With
it, issue 27's training-accuracy target (at least 0.99) holds on every set of the benchmark, the
lowest ACSF1's 0.99. The records are in docs/template_stress_validation.jsonl
(`dilated-2-4-8`, `dilated-1-2-4-8`, `ensemble-5-dilated`, `ema-0.99 (...)`,
`cosine-head-10 (...)`, `head-dropout-rule-*`, `amp-cap4000*`) and docs/template_runs.jsonl.

Fourteenth round (2026-12-06, 03:50-04:12 UTC): two ideas none of the rounds before had tried, on
the same 7 cuts (left-out series of OSULeaf:2 / GunPoint:2 / GunPoint:3 / OSULeaf:3 /
digits_pixels:2 / digits_pixels:5 / GunPoint:5, seeds 0-1; the template 0.721 / 0.663 / 0.784 /
0.659 / 0.762 / 0.721 / 0.875, mean 0.741), both patched checkouts, neither kept. *A
self-supervised forecast beside the class* (Dai & Le 2015's idea for few labels: each series
has hundreds of steps to learn from where it has one label): a linear layer on every LSTM output
predicts the next input steps beyond what the front-end has read (its reach, 18 steps for the
template's blocks, checked by the gradient: no step ahead leaks), its squared error on the
clean normalized input added to the loss with weight 1. Four steps ahead: 0.691 / 0.674 / 0.773 /
0.668 / 0.739 / 0.758 / 0.837 (0.734); sixteen: 0.684 / 0.674 / 0.773 / 0.698 / 0.727 / 0.749 /
0.850 (0.736). *Sharpness-aware minimization* (Foret et al. 2021, rho 0.05: each step's gradient
taken again at the weights moved along it; twice the cost): 0.598 / 0.663 / 0.727 / 0.626 / 0.753
/ 0.733 / 0.837 (0.706), OSULeaf:2 12 points down. The records are in
docs/template_stress_validation.jsonl (`aux-forecast-4 (...)`, `aux-forecast-16 (...)`,
`sam-0.05 (...)`).

Fifteenth round (2026-12-06, 08:35-08:44 UTC): one screening, on the same 7 cuts and seeds, with
the template run again beside it from the same checkout (not the fourteenth round's records).
*Each series' first differences as extra channels* (MultiRocket's second view of a series, and
a feature of DrCIF: the differences of the normalized series, each channel scaled to unit
deviation over the training part's steps, added before the level and scale; a patched checkout):
OSULeaf:2 0.492 / GunPoint:2 0.696 / GunPoint:3 0.795 / OSULeaf:3 0.610 / digits_pixels:2 0.649 /
digits_pixels:5 0.724 / GunPoint:5 0.863 (mean 0.690) against the template's 0.707 / 0.674 / 0.773
/ 0.714 / 0.751 / 0.723 / 0.850 (0.742; the fourteenth round's records 0.741) in the same run:
2 points up on GunPoint, 10 to 21 down on OSULeaf and digits_pixels:2. Not kept. The records are
in docs/template_stress_validation.jsonl (`first-differences (...)`, and the template's runs).

Sixteenth round (2026-12-06, 11:25-11:50 UTC): one screening, on the same 7 cuts and seeds,
against the fifteenth round's template runs (the checkout since changed nothing that trains).
*Time warping* (Um et al. 2017; one of the augmentations the surveys of time-series
augmentation find most useful on small UCR sets, and one no round had tried; it keeps each
series' length, so the recurrent batch norm's per-step statistics stay aligned, which window
slicing would not): each training series resampled at every step along a smooth random
monotone warp of its time axis (4 knots, speed 1 + 0.2 N(0, 1), the ends kept), before the
input noise; a patched checkout. OSULeaf:2 0.678 / GunPoint:2 0.685 / GunPoint:3 0.773 /
OSULeaf:3 0.643 / digits_pixels:2 0.749 / digits_pixels:5 0.667 / GunPoint:5 0.863 (mean
**0.722** against the template's 0.742): GunPoint 1 point up, OSULeaf:3 7 and digits_pixels:5 6
down, training accuracy 1.000 on every run. Not kept. The records are in
docs/template_stress_validation.jsonl (`time-warp-0.2 (...)`).

Seventeenth round (2026-12-07, 00:10-00:50 UTC): a tester's long recordings, a shape no round
had: 4 classes of 40 series (200 in all, 160 for training), 4000 steps of 3 channels, noise on a
slow random walk with a 40-step motif somewhere, the motif the class. The template fit its
training series (accuracy 1.000) and scored 0.25 (chance) on the tester's test series, where a
matched filter with logistic regression scores 0.975; its `no_signal` finding told the user to
check the labels. With 40 series a class none of the tiny classes' rules applied, so the head
read the mean over time of 250 pooled steps, in which a motif of 2.5 pooled steps is lost. The
generated set `stress-local-4x40-4000-short` has that shape (the local kind, motifs a hundredth
of the length, noise 0.3). The summary rule's probe (random front-ends' nearest neighbours on the
training split, `rnnlab.train.shape_probes.summary_accuracy`) read on every set's training split:
with the maximum joined it places 0.36 → 0.85 of that set's series with their class (0.31 →
0.67 on the tester's), 0.19 to 0.50 more on the other local sets, and at most 0.028 more on any
tuning or sanity set (GunPoint 0.958 → 0.986, digits_pixels 0.942 → 0.956, ACSF1 0.752 → 0.768;
BasicMotions, OSULeaf, ArrowHead, PickupGestureWiimoteZ and Covid3Month_disc fewer). On the
generated set's fresh draws (seeds 0-1) the template scored 0.700 / 0.850 (training accuracy
1.000, 1,648 and 1,696 steps), `head-mean-max` 0.950 / 0.950 (544 steps each, a third of the
CPU time). Kept as a rule (`MAX_GAIN` 0.1, `MAX_BETTER_ERRORS` 2): for classes of 4 series or
more the head joins the maximum where the probe places at least a tenth more of the training
series with it, by more than two standard errors; no tuning or sanity set's decision changes, and
the probe draws nothing from the run's random streams, so their recorded runs stand. The test
split of the generated set, evaluated once after the rule was kept: 1.000 / 1.000 / 0.975 (seeds
0-2, 544 steps, about 120 s a run on a shared machine) against MiniRocket's 0.950 / 0.925 /
0.950 in the same benchmark. The `no_signal` finding's remedy now names the maximum over time
for a head that reads the mean or the last step. The records are in
docs/template_stress_validation.jsonl (`template (before the seventeenth round: ...)`,
`head-mean-max`) and docs/template_runs.jsonl.

Re-measured (2026-12-06, 19:16-19:18 UTC; `--datasets JapaneseVowels JapaneseVowels:3 --seeds 0 1
2 --again --no-minirocket`): the two variable-length sets of these tables, after recurrent batch
norm stopped normalizing a step over a single real sequence (it now uses its running statistics
there; equal-length sets are unchanged bit for bit). JapaneseVowels 0.9811 / 0.9730 / 0.9811
(mean 0.978) against 0.9892 / 0.9811 / 0.9784 (0.983) before, JapaneseVowels:3 0.857 / 0.862 /
0.827 (0.849) against 0.860 / 0.868 / 0.846 (0.858): within a seed's spread, training accuracy
1.000 on every run, the budget's decisions the same but seed 2's (ended 42 steps earlier). Their
seconds were measured while the test suite ran beside them (upper bounds).

Re-measured the same day (19:20-19:57 UTC, `--datasets ACSF1 ACSF1:2 --seeds 0 1 2 --again
--no-minirocket` and `--stress --datasets stress-amplitude-6x3 ...`), after the budget's loss
floor (an extension is refused when every training series is right in training mode and the
loss is under 0.01): the three sets whose recorded runs extended their budget. ACSF1 0.91 / 0.93
/ 0.93 (mean 0.923, training accuracy 1.00 / 0.99 / 0.99; seeds 1 and 2 extended to 4,004
steps) against 0.92 / 0.91 / 0.92 (0.917) recorded; ACSF1:2 0.47 / 0.46 / 0.50 (0.477) against
0.47 / 0.44 / 0.53 (0.480); stress-amplitude-6x3 0.917 / 0.983 / 0.883 (0.928) against 1.000 /
0.850 / 0.950 (0.933). The budgets' decisions differ from the recorded ones on most seeds,
beyond what the floor could change (it only refuses extensions): the runs' trajectories differ
from the records' from the first steps on, as any change of the computation's rounding makes
them diverge over thousands of steps; each set's mean moved by less than its seeds' spread, and
training accuracy stayed at or above 0.99. Their seconds were measured next to the test suite
and two other developers' runs (upper bounds: ACSF1's seed 2 took 885 s there).

And the six data sets of the results table (20:30-20:50 UTC, `--datasets GunPoint
ItalyPowerDemand OSULeaf BasicMotions digits_pixels Covid3Month_disc --seeds 0 1 2 --again
--no-minirocket --jobs 2`), after a first-time user's run of the template on GunPoint gave 0.9933
where this table said 1.000: GunPoint 0.993 / 1.000 / 1.000 (mean 0.998; it was 1.000 / 1.000 /
1.000), ItalyPowerDemand 0.959 / 0.974 / 0.970 (0.968; 0.967), OSULeaf 0.975 / 0.955 / 0.959
(0.963; 0.963), BasicMotions 1.000 on every seed (as before), digits_pixels 0.987 / 0.989 / 0.984
(0.987; 0.985), Covid3Month_disc 0.656 / 0.705 / 0.623 (0.661; 0.689, within its seeds' spread of
0.03), training accuracy 1.000 on every run. As for the sets above, the runs' trajectories differ
from the records' (each seed ends its budget at another step), and the means moved by at most
their spread; the test splits chose nothing (the template is unchanged). Seconds under load again."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--select", action="store_true", help="score candidates on validation hold-outs")
    ap.add_argument("--candidates", nargs="*", default=None, help="candidates to score (default all)")
    ap.add_argument("--datasets", nargs="*", default=None)
    ap.add_argument("--seeds", nargs="*", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=2, help="processes at once (one thread each)")
    ap.add_argument("--fresh", action="store_true", help="forget earlier runs instead of skipping them")
    ap.add_argument("--out", type=Path, default=None,
                    help="record the runs in this JSONL file and leave docs/ alone (a scratch measurement)")
    ap.add_argument("--no-minirocket", action="store_true", help="only rnnlab's runs, not MiniRocket's beside them")
    ap.add_argument("--again", action="store_true",
                    help="run again what is recorded (after a rule changed): the new records supersede the old")
    ap.add_argument("--validate", action="store_true",
                    help="score candidates on generated sets' fresh draws (never their test splits)")
    ap.add_argument("--stress", action="store_true", help="the generated sets of benchmarks/stress_sets.py")
    ap.add_argument("--quick", action="store_true",
                    help=f"seed 0 on GunPoint and {', '.join(QUICK)}, beside MiniRocket")
    args = ap.parse_args()
    if args.quick:
        args.datasets, args.seeds = args.datasets or [*QUICK, "GunPoint"], args.seeds or [0]
    elif args.stress or args.validate:
        args.datasets = args.datasets or list(STRESS)
    path = args.out if args.out is not None else SELECTION if args.select else VALIDATION if args.validate else RESULTS
    if args.fresh and path.exists():
        path.unlink()
    datasets = args.datasets or (TUNING if args.select else DATASETS)
    seeds = args.seeds or ([0] if args.select or args.validate else SEEDS)
    candidates = args.candidates or (list(CANDIDATES) if args.select else ["template"])
    known = [*CANDIDATES, *LENGTH_CANDIDATES, *(["minirocket"] if args.validate else [])]
    for c in candidates:
        if c not in known:
            print(f"bench_template: unknown candidate {c!r}; expected one of {known}", file=sys.stderr)
            return 1
    unknown = [ds for ds in datasets if (ds.startswith("stress-") or (args.validate and ":" not in ds)) and ds not in STRESS]
    if unknown:
        print(f"bench_template: unknown generated set {unknown[0]!r}; expected one of {list(STRESS)}"
              f"{' or a cut set (NAME:K)' if args.validate else ''}", file=sys.stderr)
        return 1
    cut = [ds for ds in datasets if ":" in ds and not ds.partition(":")[2].isdigit()]
    if cut or any(ds.partition(":")[2] == "0" for ds in datasets):
        bad = (cut or [ds for ds in datasets if ds.partition(":")[2] == "0"])[0]
        print(f"bench_template: {bad!r}: expected NAME:K, K series a class (an integer >= 1; e.g. {FEW[0]!r})",
              file=sys.stderr)
        return 1
    baseline = [] if args.select or args.validate or args.no_minirocket else ["minirocket"]
    jobs = [{"candidate": c, "dataset": ds, "seed": s, "select": args.select,  # (MiniRocket's seconds first)
             **({"validate": True} if args.validate else {})}
            for c in baseline + candidates for ds in datasets for s in seeds]
    run_jobs(jobs, path, args.jobs, again=args.again)
    # (a scratch file holds the mode's records as docs/ would: hold-out or fresh-draw scores have no test column)
    records = read_records(path)
    print(selection_table(records) if args.select or args.validate else results_table(records, datasets))
    if args.out is not None:
        return 0
    write_doc(DOCS / "template.md")
    print(f"wrote {DOCS / 'template.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
