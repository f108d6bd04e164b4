"""Four small defects: ``rnnlab compare`` with a run killed before its first epoch, the metrics
figure's y label cut at the figure's edge, the Gates section naming the tracking key that is off,
and the trial of a search killed with -9 recorded as stopped by the parent-death signal."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_search import tiny_search_toml

from rnnlab.compare import run_compare
from rnnlab.errors import RunDirError

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")

RUN = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = {hidden}
[training]
epochs = 2
batch_size = 8
threads = 1
[tracking]
enabled = true
health = false
grad_through_time = false
"""


def _train(tmp: Path, name: str, hidden: int) -> Path:
    from rnnlab.cli import main

    config = tmp / f"{name}.toml"
    config.write_text(RUN.format(hidden=hidden))
    out = tmp / name
    # (`rnnlab train`, in this process: a process of its own would cost a start of torch, and
    # these runs are only read)
    assert main(["train", str(config), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Two trained runs, and what rnnlab train leaves when killed before its first epoch: its
    config.toml and marker (written first), no metrics.jsonl and no checkpoint."""
    tmp = tmp_path_factory.mktemp("runs")
    a, b = _train(tmp, "a", 4), _train(tmp, "b", 5)
    killed = tmp / "killed"
    killed.mkdir()
    for name in ("config.toml", ".rnnlab-run"):
        shutil.copy(a / name, killed / name)
    return a, b, killed


def test_compare_leaves_out_a_run_killed_before_its_first_epoch(runs, tmp_path):
    a, b, killed = runs
    said: list[str] = []
    run_compare([str(a), str(killed), str(b)], str(tmp_path / "figs"), say=said.append)
    text = "\n".join(said)
    note = next(line for line in said if line.startswith("left out"))
    # in rnnlab train's words (its run, not a loop of the user's own), naming the run
    assert str(killed) in note and "before its first epoch" in note
    assert "the same command without --resume starts the run again" in note
    assert "tracker.run.append" not in text
    # the other two are compared
    table = next(block for block in said if block.startswith("run ")).splitlines()
    assert [r.split()[0] for r in table[1:]] == [str(a), str(b)]
    assert (tmp_path / "figs" / "compare_metrics.png").exists()


def test_compare_refuses_when_fewer_than_two_runs_have_an_epoch(runs, tmp_path):
    a, _, killed = runs
    with pytest.raises(RunDirError) as e:
        run_compare([str(a), str(killed)], str(tmp_path / "figs"), say=lambda _: None)
    said = str(e.value)
    assert "\n" not in said and "at least 2 runs" in said and "got 1" in said and str(killed) in said
    assert "before its first epoch" in said and "tracker.run.append" not in said


def test_the_gates_section_names_the_tracking_key_that_is_off(runs):
    from rnnlab.report import write_report

    a = runs[0]
    page = Path(write_report(a)).read_text()
    assert "tracking.grad_through_time = false" in page
    assert "tracking.enabled = false" not in page  # (it is on)
    assert "tracking is off" not in page


def _metrics(run: Path, epochs: int = 144) -> None:
    """Records like those of a run killed at epoch 144: a loss spanning 2 decades (a log axis and
    its long y label) beside a warmed-up learning rate (wide tick labels, ×10⁻³)."""
    lines = []
    for e in range(1, epochs + 1):
        loss = 0.6 * 10 ** (-2 * e / epochs) * (1.3 if e % 7 == 0 else 1.0)
        lr = 1.7e-3 if e == 1 else 3e-3 * math.cos(0.3 * e / epochs)
        lines.append(json.dumps({"epoch": e, "step": 3 * e, "train_loss": loss, "val_loss": loss * 1.4,
                                 "train_acc": min(1.0, 0.5 + e / 100), "val_acc": min(1.0, 0.5 + e / 120),
                                 "lr": lr, "grad_norm": 1.0 + (e % 5), "grad_norm_max": 2.0 + (e % 5)}))
    run.mkdir()
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_every_text_of_the_metrics_figure_lies_inside_it(tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from rnnlab.plots import plot_metrics

    run = tmp_path / "trunc"
    _metrics(run)
    fig = plot_metrics(str(run), path=str(tmp_path / "x.png"))
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    labels = [t.get_text() for ax in fig.axes for t in (ax.yaxis.label,)]
    assert any("log scale (the values span" in t for t in labels), labels  # (the case this test is about)
    for t in fig.findobj(Text):
        if not (t.get_visible() and t.get_text()):
            continue
        ext = t.get_window_extent(renderer)
        assert ext.x0 >= box.x0 - 0.5 and ext.x1 <= box.x1 + 0.5, (t.get_text(), ext, box)
        assert ext.y0 >= box.y0 - 0.5 and ext.y1 <= box.y1 + 0.5, (t.get_text(), ext, box)
    plt.close(fig)


@linux
def test_a_search_killed_with_9_records_its_trials_as_stopped_by_the_parent_death(tmp_path):
    from rnnlab.search.storage import interrupted
    from rnnlab.search.study import STOPPED_BY_ATTR, open_existing, stop_words

    config = tmp_path / "s.toml"
    config.write_text(tiny_search_toml(epochs=400))
    out = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "search", str(config), "--trials", "2",
                             "--workers", "2", "--out", str(out), "--no-final", "--quiet"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180  # (a bound on a wait for the first epochs, on a loaded machine)
        while time.time() < deadline and proc.poll() is None and not any(
                m.stat().st_size for m in out.glob("trials/*/fold-1/metrics.jsonl")):
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)  # (the workers hold the pipe: it closes when they have ended)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stopped = [t for t in open_existing(out).get_trials() if interrupted(t)]
    assert stopped, [(t.number, t.state, t.user_attrs) for t in open_existing(out).get_trials()]
    for t in stopped:
        words = stop_words(t)
        assert f"the search (pid {proc.pid}) ended" in t.user_attrs[STOPPED_BY_ATTR]
        assert "parent-death signal" in words and "Ctrl-C" not in words
