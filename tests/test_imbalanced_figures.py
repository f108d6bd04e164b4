"""An imbalanced classification says more than its accuracy: the balanced accuracy (scikit-learn's
``balanced_accuracy_score``) and each class's count, recall and precision in summary.json, the
balanced accuracy and the majority class's rate on ``rnnlab train``'s last line when the classes
are imbalanced, and the report's Final metrics naming each class with a confusion matrix of the
split the run evaluated; run directories from before these figures still render."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import balanced_accuracy_score, precision_score, recall_score

from rnnlab.cli import main
from rnnlab.report import render_report

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CLASSES = ("sitting", "walking", "cycling")


def _series(counts: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Series whose class sets their level, the levels close enough that a short run mistakes some."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([[name] * n for name, n in counts.items()])
    level = np.array([CLASSES.index(c) * 0.6 for c in y])
    X = level[:, None, None] + rng.normal(size=(len(y), 12, 1))
    order = rng.permutation(len(y))
    return {"X": X[order].astype(np.float32), "y": y[order]}


def _train(tmp_path: Path, train: dict[str, int], test: dict[str, int], name: str = "run") -> Path:
    """`rnnlab train` of a short run on series of these class counts, in ``tmp_path/name``."""
    np.savez(tmp_path / "train.npz", **_series(train, 0))
    np.savez(tmp_path / "test.npz", **_series(test, 1))
    (tmp_path / "c.toml").write_text(
        '[data]\npath = "train.npz"\ntest_path = "test.npz"\nval_fraction = 0.2\nnormalize = "none"\n'
        "[model]\nhidden_size = 6\n[training]\nepochs = 3\nbatch_size = 16\nlr = 0.01\n"
        "[tracking]\nhealth = false\ngrads_every = 0\nweights_every = 0\ngrad_through_time = false\n")
    run = tmp_path / name
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(run)]) == 0
    return run


def _run(tmp_path: Path, train: dict[str, int], test: dict[str, int], capsys: pytest.CaptureFixture[str],
         name: str = "run") -> tuple[Path, str]:
    """:func:`_train`'s run and what the command printed."""
    capsys.readouterr()
    run = _train(tmp_path, train, test, name)
    return run, capsys.readouterr().out


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory) -> tuple[Path, str]:
    """The imbalanced run three tests below read, trained once: (the run, what `rnnlab train` printed)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = _train(tmp_path_factory.mktemp("imbalanced"), {"sitting": 70, "walking": 40, "cycling": 10},
                     {"sitting": 40, "walking": 20, "cycling": 6})
    return run, printed.getvalue()


def _predicted(run: Path, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(actual, predicted) labels of the run's test file, as rnnlab predict writes them (to ``tmp_path``)."""
    out, test = tmp_path / "p.csv", run.parent / "test.npz"
    assert main(["predict", str(run), "--data", str(test), "--out", str(out)]) == 0
    with out.open() as f:
        predicted = np.array([row["label"] for row in csv.DictReader(f)])
    return np.load(test)["y"], predicted


def test_an_imbalanced_run_records_balanced_accuracy_and_says_it(imbalanced, tmp_path):
    run, said = imbalanced
    summary = json.loads((run / "summary.json").read_text())
    actual, predicted = _predicted(run, tmp_path)
    figures = summary["test_by_class"]
    assert figures["balanced_acc"] == pytest.approx(balanced_accuracy_score(actual, predicted))
    # (the figures mean something here: the short run mistakes some series, so balanced and plain differ)
    assert figures["balanced_acc"] != pytest.approx(summary["test"]["acc"])
    present = sorted(set(actual))
    recall = recall_score(actual, predicted, labels=present, average=None)
    precision = precision_score(actual, predicted, labels=present, average=None, zero_division=np.nan)
    for name, r, p in zip(present, recall, precision, strict=True):
        assert figures["recall"][name] == pytest.approx(r)
        assert (figures["precision"][name] is None) if np.isnan(p) else figures["precision"][name] == pytest.approx(p)
    assert figures["count"] == {"cycling": 6, "sitting": 40, "walking": 20}
    assert figures["majority"] == "sitting" and figures["majority_rate"] == pytest.approx(40 / 66)
    # the existing keys are as they were; the training split's classes beside them
    assert set(summary["test"]) == {"loss", "acc"} and set(summary["train_eval"]) == {"loss", "acc"}
    assert sum(summary["train_eval_by_class"]["count"].values()) + sum(summary["val_by_class"]["count"].values()) == 120
    # The CLI's last figure: accuracy, then what it is worth on these classes.
    line = next(s for s in said.splitlines() if s.startswith("train accuracy"))
    assert line.endswith(f"test accuracy {summary['test']['acc']:.4f} (balanced {figures['balanced_acc']:.3f}; "
                         f"the training majority class alone {40 / 66:.3f})"), line


def test_a_balanced_run_says_accuracy_alone(tmp_path, capsys):
    run, said = _run(tmp_path, {"sitting": 40, "walking": 40, "cycling": 40},
                     {"sitting": 20, "walking": 20, "cycling": 20}, capsys)
    line = next(s for s in said.splitlines() if s.startswith("train accuracy"))
    assert "balanced" not in line and "majority" not in line
    assert re.fullmatch(r"train accuracy \d\.\d{4}  test accuracy \d\.\d{4}", line), line
    # (summary.json records the figures whatever the balance)
    assert "balanced_acc" in json.loads((run / "summary.json").read_text())["test_by_class"]


def _class_table(html: str) -> dict[str, list[str]]:
    """The report's table of classes: ``{class: [series, recall, precision]}``."""
    table = re.search(r"<table><tr><th>class</th><th>series</th><th>recall</th><th>precision</th></tr>(.*?)</table>",
                      html, re.S)
    assert table, "no table of classes under Final metrics"
    return {m[0]: list(m[1:]) for m in re.findall(r'<tr><th>(.*?)</th><td class="num">(.*?)</td>'
                                                  r'<td class="num">(.*?)</td><td class="num">(.*?)</td></tr>',
                                                  table.group(1))}


def test_the_report_names_each_class_and_draws_the_confusion_matrix(imbalanced, tmp_path):
    run, _ = imbalanced
    actual, predicted = _predicted(run, tmp_path)
    html = (run / "report.html").read_text()  # (the report `rnnlab train` wrote: render_report's page)
    final = html[html.index('<section id="final-metrics">'):html.index("</section>", html.index('id="final-metrics"'))]
    rows = _class_table(final)
    assert set(rows) == set(CLASSES)
    for name, (count, recall, precision) in rows.items():
        assert int(count) == int((actual == name).sum())
        assert float(recall) == pytest.approx(recall_score(actual, predicted, labels=[name], average=None)[0], abs=5e-4)
        hits = (predicted == name).sum()
        assert precision == "—" if not hits else \
            float(precision) == pytest.approx(((predicted == name) & (actual == name)).sum() / hits, abs=5e-4)
    assert f"Balanced accuracy {balanced_accuracy_score(actual, predicted):.3f}" in final
    assert f"the training split's majority class alone (sitting, 40 of 66 series here) scores {40 / 66:.3f}" in final
    picture = re.search(r'<img alt="confusion matrix of the classes, test split" src="data:image/png;base64,([^"]+)"',
                        final)
    assert picture, "no confusion matrix of the test split under Final metrics"
    assert Image.open(io.BytesIO(base64.b64decode(picture.group(1)))).size[0] > 200


def test_a_run_directory_from_before_the_figures_by_class_still_renders(imbalanced, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(imbalanced[0], run)  # (this test rewrites its summary.json)
    summary = json.loads((run / "summary.json").read_text())
    old = {k: v for k, v in summary.items() if not k.endswith("_by_class")}
    (run / "summary.json").write_text(json.dumps(old))
    html = render_report(run)
    assert "could not" not in html.split('id="final-metrics"')[1].split("</section>")[0]
    assert set(_class_table(html)) == set(CLASSES)
    assert f'<td class="num">{summary["test"]["acc"]:.4g}</td>' in html  # (the test row, as before)
