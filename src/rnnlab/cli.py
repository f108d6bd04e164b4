"""The ``rnnlab`` command: train, report, doctor, compare, datasets, init.

A user error (config, data, checkpoint, run directory) is one line on stderr and exit code 1;
a bad command line is argparse's usage message and exit code 2.

Example:
    >>> main(["init", "--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError, RunDirError

EXIT_USER_ERROR = 1

EXAMPLES = {
    "train": """examples:
  rnnlab init my.toml && rnnlab train my.toml
  rnnlab train examples/configs/gunpoint.toml --out runs/gp
  rnnlab train examples/configs/gunpoint.toml --out runs/gp --resume   # after a crash or kill""",
    "report": """examples:
  rnnlab report runs/gp          # writes runs/gp/report.html""",
    "doctor": """examples:
  rnnlab doctor examples/configs/gunpoint.toml
  rnnlab doctor my.toml --steps 20""",
    "compare": """examples:
  rnnlab compare runs/decay-2e-3 runs/decay-2e-4 runs/no-decay
  rnnlab compare runs/* --figures comparison/""",
    "datasets": """examples:
  rnnlab datasets                # name, sizes, length, channels, classes""",
    "init": """examples:
  rnnlab init                    # writes rnnlab.toml
  rnnlab init vowels.toml --dataset JapaneseVowels   # runs/JapaneseVowels-lstm
  rnnlab init experiments/lstm.toml --force""",
}


def _say(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------ commands


def cmd_train(args: argparse.Namespace) -> int:
    from rnnlab.config import load_config
    from rnnlab.train.trainer import train

    config = load_config(args.config)
    result = train(config, out=args.out, resume=args.resume, progress=None if not args.quiet else False,
                   log=None if args.quiet else _say)
    _say(f"train accuracy {result.train_eval['acc']:.4f}"
         + (f"  test accuracy {result.test['acc']:.4f}" if result.test else ""))
    report = _write_report(result.run_dir)
    _say(f"run directory: {result.run_dir}" + (f"\nreport: {report}" if report else ""))
    if result.findings:  # last, where the eye lands: did the model fit, does it overfit?
        from rnnlab.doctor import format_findings

        _say("\n" + format_findings(result.findings, "After training"))
    else:
        steps = result.final.get("step", 0)
        _say(f"after training: no findings (the model fit its training data in {steps} steps"
             + ("; no sign of overfitting)" if "val_acc" in result.final else ")"))
    return 0


def _write_report(run_dir: Path) -> Path | None:
    try:
        from rnnlab.report import write_report
    except ImportError:
        _say("report skipped: rnnlab.report is not available in this installation")
        return None
    return Path(write_report(run_dir))


def cmd_report(args: argparse.Namespace) -> int:
    run = Path(args.run_dir)
    if not (run / "metrics.jsonl").exists() and not (run / "config.toml").exists():
        raise RunDirError(f"{run} is not a run directory (no metrics.jsonl or config.toml)")
    path = _write_report(run)
    if path is None:
        return EXIT_USER_ERROR
    _say(f"report: {path}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import torch

    from rnnlab.config import load_config
    from rnnlab.data import load_data
    from rnnlab.train.model import LogitsOnly, build_model
    from rnnlab.train.trainer import build_optimizer, doctor_batch, seed_everything

    try:
        from rnnlab.doctor import diagnose
    except ImportError:
        raise RnnlabError("doctor: rnnlab.doctor is not available in this installation") from None
    config = load_config(args.config)
    seed_everything(config.training.seed)
    data = load_data(config.data, seed=config.training.seed)
    model = build_model(config.model, data.channels, len(data.classes))
    optimizer = build_optimizer(model, config.training)
    batch = doctor_batch(data.train, config.training.batch_size)
    report = diagnose(LogitsOnly(model), batch, torch.nn.CrossEntropyLoss(), optimizer, steps=args.steps,
                      seed=config.training.seed)
    _say(str(report))
    return 0


def _run_summary(run: Path) -> dict[str, Any]:
    from rnnlab.rundir import read_json, read_jsonl

    records = read_jsonl(run / "metrics.jsonl")
    if not records:
        raise RunDirError(f"{run} has no per-epoch metrics (metrics.jsonl missing or empty)")
    final = records[-1]
    with_val = [r for r in records if "val_acc" in r]
    best = max(with_val, key=lambda r: (r["val_acc"], -r["val_loss"])) if with_val else None
    summary = read_json(run / "summary.json") if (run / "summary.json").exists() else {}
    test = (summary.get("test") or {}).get("acc")
    return {"run": str(run), "epochs": final["epoch"], "train_loss": final.get("train_loss"),
            "train_acc": final.get("train_acc"), "val_acc": final.get("val_acc"),
            "best_val_acc": best["val_acc"] if best else None, "best_epoch": best["epoch"] if best else None,
            "test_acc": test, "weight_decay": final.get("weight_decay"), "records": records}


def text_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces.

    >>> print(text_table([["a", "bb"], ["ccc", "d"]]))
    a    bb
    ccc  d
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def compare_table(rows: list[dict[str, Any]]) -> str:
    """Runs side by side: final and best metrics (one row per run).

    >>> print(compare_table([{"run": "a", "epochs": 3, "train_loss": 0.5, "train_acc": 0.9,
    ...                       "val_acc": None, "best_val_acc": None, "best_epoch": None,
    ...                       "test_acc": 0.8, "weight_decay": 0.0}]))
    run  epochs  train_loss  train_acc  val_acc  best_val_acc  best_epoch  test_acc  weight_decay
    a    3       0.5         0.9        -        -             -           0.8       0
    """
    cols = ["run", "epochs", "train_loss", "train_acc", "val_acc", "best_val_acc", "best_epoch",
            "test_acc", "weight_decay"]

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return text_table([cols] + [[cell(r.get(c)) for c in cols] for r in rows])


def cmd_compare(args: argparse.Namespace) -> int:
    runs = [Path(r) for r in args.run_dirs]
    for r in runs:
        if not r.is_dir():
            raise RunDirError(f"run directory {str(r)!r} does not exist")
    rows = [_run_summary(r) for r in runs]
    _say(compare_table(rows))
    try:
        from rnnlab.plots import plot_compare_metrics, plot_compare_norms
    except ImportError:
        _say("comparison figures skipped: rnnlab.plots is not available in this installation")
        return 0
    out = Path(args.figures) if args.figures else runs[0].parent
    out.mkdir(parents=True, exist_ok=True)
    names = [r.name for r in runs]
    # Runs are labelled by directory name, or by the path given when two names clash.
    labelled = {(r.name if names.count(r.name) == 1 else str(r)): r for r in runs}
    has_val = any(row["val_acc"] is not None for row in rows)
    metrics = ("train_loss", "val_loss", "train_acc", "val_acc") if has_val else ("train_loss", "train_acc")
    plot_compare_metrics(labelled, metrics=metrics, ncols=2, path=out / "compare_metrics.png")
    _say(f"figure: {out / 'compare_metrics.png'}")
    if any((r / "tracked.jsonl").exists() for r in runs):
        plot_compare_norms(labelled, params=_recurrent_params(runs), path=out / "compare_norms.png")
        _say(f"figure: {out / 'compare_norms.png'}")
    return 0


def _recurrent_params(runs: list[Path]) -> list[str] | None:
    """The recurrent layers' weights (the usual subject of a decay comparison), when tracked."""
    from rnnlab.rundir import read_jsonl

    names: dict[str, None] = {}
    for r in runs:
        for rec in read_jsonl(r / "tracked.jsonl"):
            if rec["name"].startswith("rnn.weight_") and rec["stat"] == "l2_mean":
                names[rec["name"]] = None
    return list(names) or None


def cmd_datasets(args: argparse.Namespace) -> int:
    from rnnlab.data import describe_bundled

    rows = describe_bundled()
    cols = ["name", "train", "test", "length", "channels", "classes"]
    _say(text_table([cols] + [[str(r[c]) for c in cols] for r in rows]))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from rnnlab.config import TEMPLATE
    from rnnlab.rundir import atomic_write_text

    path = Path(args.path)
    if path.exists() and not args.force:
        raise RnnlabError(f"{path} already exists; pass --force to overwrite it")
    text = TEMPLATE
    if args.dataset is not None:
        from rnnlab._checks import did_you_mean
        from rnnlab.data.bundled import bundled_names
        from rnnlab.errors import DataError

        names = bundled_names()
        if args.dataset not in names:
            raise DataError(f"--dataset: expected a bundled data set (see `rnnlab datasets`), got "
                            f"{args.dataset!r}{did_you_mean(args.dataset, names)}")
        # The template's one dataset line; name and output.dir follow it when left unset.
        text = TEMPLATE.replace('\ndataset = "GunPoint"\n', f'\ndataset = "{args.dataset}"\n', 1)
    atomic_write_text(path, text)
    _say(f"wrote {path}; train it with: rnnlab train {path}")
    return 0


# ------------------------------------------------------------------------------ parser


class _VersionAction(argparse.Action):
    """``--version``, computed when asked for: it imports torch, which other commands' help need not."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(_version())
        parser.exit()


def _version() -> str:
    """rnnlab's and torch's versions, and which LSTM step loops this install runs."""
    import torch

    import rnnlab
    from rnnlab.layers import native

    loops = "compiled" if native.NATIVE else f"Python ({native.WHY_NOT})"
    return f"rnnlab {rnnlab.__version__} (torch {torch.__version__}; LSTM step loops: {loops})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab", description="Train, inspect and compare regularized recurrent networks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  rnnlab init my.toml\n  rnnlab train my.toml\n  rnnlab report runs/gunpoint-lstm\n"
               "run 'rnnlab COMMAND --help' for each command's options",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show versions and which step loops run, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = add("train", "Train the model a TOML config describes; writes metrics, checkpoints and a report.")
    p.add_argument("config", help="the TOML config (rnnlab init writes an example)")
    p.add_argument("--resume", action="store_true", help="continue the run in the output directory from its last checkpoint")
    p.add_argument("--out", metavar="DIR", help="run directory (default: output.dir of the config)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.set_defaults(func=cmd_train)

    p = add("report", "Write RUN_DIR/report.html from a run's records.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_report)

    p = add("doctor", "Health-check the untrained model of a config and a few training steps.")
    p.add_argument("config", help="the TOML config")
    p.add_argument("--steps", type=int, default=5, help="optimizer steps to observe (default 5)")
    p.set_defaults(func=cmd_doctor)

    p = add("compare", "Show runs side by side: final and best metrics, metric and weight-norm figures.")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--figures", metavar="DIR",
                   help="where to write compare_metrics.png and compare_norms.png (default: the first run's parent)")
    p.set_defaults(func=cmd_compare)

    p = add("datasets", "List the bundled data sets (usable as data.dataset).")
    p.set_defaults(func=cmd_datasets)

    p = add("init", "Write a commented example config.")
    p.add_argument("path", nargs="?", default="rnnlab.toml", help="where to write it (default rnnlab.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--dataset", default=None, help="the bundled data set to train on (default GunPoint)")
    p.set_defaults(func=cmd_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 1 user error, 2 bad command line)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RnnlabError as e:
        print(f"rnnlab {args.command}: error: {e}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"rnnlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
