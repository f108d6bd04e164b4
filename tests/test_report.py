"""The HTML report: every section present, names escaped, images embedded, and in a real browser
(headless Chromium) no image broken and a page that is not blank."""

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from rnnlab.doctor.findings import Finding
from rnnlab.htmlkit import NO_DATA
from rnnlab.introspect import gate_activations, grad_through_time
from rnnlab.introspect.gates_file import write_gate_activations
from rnnlab.plots.norms import reading_order as _report_order
from rnnlab.report import (
    MAX_HISTOGRAM_COLUMNS,
    MAX_LINE_PANELS,
    SECTIONS,
    _histogram_params,
    read_grad_through_time,
    write_grad_through_time,
    write_report,
)
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json, atomic_write_text
from rnnlab.tracker import Tracker

EVIL = "<script>alert(1)</script>"
CONFIG = """[data]
dataset = "GunPoint"
[model]
kind = "lstm"
hidden_size = 8
name = "a <b>bold</b> & \\"quoted\\" name"
[training]
weight_decay = 2e-4
"""


def _run_dir(root: Path) -> RunDir:
    run = RunDir(root / "decay-2e-4 & <co>")
    atomic_write_text(run.config, CONFIG)
    for e in range(1, 7):
        append_jsonl(run.metrics, {
            "epoch": e, "step": 4 * e, "time": 0.1, "train_loss": 1.5 * 0.7 ** e, "train_acc": 1 - 0.5 * 0.7 ** e,
            "val_loss": 1.6 * 0.75 ** e, "val_acc": 1 - 0.55 * 0.75 ** e, "lr": 0.01, "weight_decay": 2e-4,
            "grad_norm": 0.8 * 0.9 ** e})
    torch.manual_seed(0)
    model = torch.nn.LSTM(2, 4, batch_first=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    x = torch.randn(3, 12, 2)
    with Tracker(run, model, grads_every=2) as tracker:
        for step in range(8):
            opt.zero_grad()
            loss = model(x)[0][:, -1].pow(2).sum()
            loss.backward()
            tracker.step(loss, epoch=step // 4 + 1)
            opt.step()
    gtt = grad_through_time(model, x, lambda out: out[0][:, -1].sum())
    write_grad_through_time(run, gtt, step=8, epoch=2)
    write_gate_activations(run, gate_activations(model, x), step=8, epoch=2)
    findings = [
        Finding("gates_stuck", "error", EVIL, {"fraction": 0.93, "units": [1, 2, 3]},
                "The forget gate <never> opens.", "Set unit_forget_bias = true & retry."),
        Finding("update_ratio", "warning", "update/weight ratio 0.3 in 'weight_hh_l0'",
                {"ratio": 0.3}, "Steps are large.", "Lower the learning rate."),
        Finding("zero_grad", "info", "bias_hh_l0 gradient small", {}, "", ""),
        Finding("underfit", "warning", "The model did not fit its training data: training accuracy 0.6",
                {"steps": 24}, "Too few steps.", "set training.steps = 2000", phase="after_training"),
    ]
    atomic_write_json(run.health, [f.to_dict() for f in findings])
    atomic_write_json(run.path / "summary.json", {"train_eval": {"acc": 0.6}, "test": {"acc": 0.55}})
    return run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = _run_dir(tmp_path_factory.mktemp("report"))
    path = write_report(run.path)
    return run, path, path.read_text(encoding="utf-8")


def test_report_has_every_section_and_escapes_names(report):
    run, path, text = report
    assert path == run.report
    for sid, title in SECTIONS:
        assert f'<section id="{sid}"><h2>{title}</h2>' in text
    # the only script is the report's own; the finding title, message and config are escaped
    assert "<script>alert" not in text
    assert text.count("<script>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "The forget gate &lt;never&gt; opens." in text
    assert "Set unit_forget_bias = true &amp; retry." in text
    assert "a &lt;b&gt;bold&lt;/b&gt; &amp;" in text  # config.toml shown as text
    assert "<b>bold</b>" not in text
    assert "Run decay-2e-4 &amp; &lt;co&gt;</h1>" in text
    # findings keep their severity, numbers, explanation and remedy
    assert '<div class="finding error">' in text and '<div class="finding warning">' in text
    assert '<th>units</th><td class="num">[1, 2, 3]</td>' in text
    assert '<th>fraction</th><td class="num">0.93</td>' in text
    # final metrics: the last epoch's record
    assert '<th>val_acc</th><td class="num">' + f"{1 - 0.55 * 0.75 ** 6:.4g}" in text
    assert NO_DATA not in text  # every section had data
    # the fit after training comes first, the health checks before training in their own section
    fit = text.split('<section id="fit">')[1].split("</section>")[0]
    health = text.split('<section id="health">')[1].split("</section>")[0]
    assert "training.steps = 2000" in fit and "(underfit)" in fit and "gates_stuck" not in fit
    assert "(underfit)" not in health and "(gates_stuck)" in health
    assert text.index('<section id="fit">') < text.index('<section id="final-metrics">')


def test_report_images_are_embedded_pngs_and_nothing_external(report):
    _, _, text = report
    srcs = re.findall(r'<img [^>]*src="([^"]*)"', text)
    # metrics, norm lines, norm histograms, gradient norms, update ratios, gradient through time of the one layer
    assert len(srcs) == 7
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "http://" not in text and "https://" not in text


def test_report_of_an_empty_run_says_no_data(tmp_path):
    run = RunDir(tmp_path / "empty")
    text = write_report(run.path).read_text()
    for sid, _ in SECTIONS:
        body = text.split(f'<section id="{sid}">')[1].split("</section>")[0]
        assert NO_DATA in body, sid
    assert "<img" not in text and "health checks were off" not in text
    with pytest.raises(FileNotFoundError, match="run_dir"):
        write_report(tmp_path / "missing")
    # a run of rnnlab train that never finished (here: failed before training, its config written)
    atomic_write_text(run.config, CONFIG)
    text = write_report(run.path).read_text()
    assert "the run recorded no epoch yet: it is setting up, or stopped before its first epoch" in text
    assert "health checks were off" not in text
    # one that recorded an epoch and stopped (killed, or still training)
    run.append(run.metrics, {"epoch": 1, "train_loss": 0.5})
    assert "the run has not finished (summary.json is missing)" in write_report(run.path).read_text()


def test_rnnlab_report_on_a_users_own_loop_with_a_tracker(tmp_path, capsys):
    """A directory that rnnlab.Tracker (and rnnlab.diagnose) wrote in the user's own loop, no
    metrics or config: the report shows its weight norms and says why there is no summary."""
    from rnnlab.cli import main

    run = RunDir(tmp_path / "mine")
    model = torch.nn.LSTM(2, 4, batch_first=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Tracker(run, model, weights_every=1, grads_every=1) as tracker:
        for _ in range(4):
            opt.zero_grad()
            loss = model(torch.randn(3, 5, 2))[0].square().mean()
            loss.backward()
            tracker.step(loss)
            opt.step()
    assert main(["report", str(run.path)]) == 0
    text = (run.path / "report.html").read_text()
    norms = text.split('<section id="weight-norms">')[1].split("</section>")[0]
    assert "<img" in norms
    assert "rnnlab.Tracker and rnnlab.diagnose alone do not" in text and "has not finished" not in text
    assert main(["report", str(tmp_path)]) == 1  # (a directory with none of a run's files)
    assert "is not a run directory" in capsys.readouterr().err


def test_report_shows_a_corrupt_file_instead_of_breaking(tmp_path):
    run = RunDir(tmp_path / "bad")
    append_jsonl(run.metrics, {"epoch": 1, "train_loss": float("nan"), "val_loss": 0.5})
    atomic_write_json(run.health, [{"check": "x", "severity": "fatal", "title": "t"}])
    text = write_report(run.path).read_text()
    assert 'class="problem">could not show health findings: ValueError' in text
    # one epoch: its figures as a table (a curve of one point says nothing), the NaN shown
    assert text.count("<img") == 0 and '<th>train_loss (the epoch, training mode)</th><td class="num">nan</td>' in text


def test_report_says_what_the_rules_read_from_the_data_decided(tmp_path):
    # adapt.json: the shape line and every budget decision, escaped; a broken one hides no config
    run = _run_dir(tmp_path)
    run.write_adapt(shape={"line": "shape: 40 classes × 2 series <x>: no hold-out"},
                    budget={"planned": 2000, "events": [
                        {"step": 952, "decision": "end_early", "total": 1152, "why": "every training series right"},
                        {"step": 1152, "decision": "fit_lost", "total": 2000, "why": "training accuracy 0.722"}]})
    text = write_report(run.path).read_text()
    config = text.split('<section id="configuration">')[1].split("</section>")[0]
    assert "shape: 40 classes × 2 series &lt;x&gt;: no hold-out" in config
    assert "after step 952: <code>end_early</code>, the run ends at step 1152 (every training series right)" in config
    assert "<code>fit_lost</code>, the run ends at step 2000 (training accuracy 0.722)" in config
    run.adapt.write_text("[1, 2]")
    config = write_report(run.path).read_text().split('<section id="configuration">')[1].split("</section>")[0]
    assert "could not show adapt.json" in config and "a &lt;b&gt;bold&lt;/b&gt; &amp;" in config


def test_grad_through_time_file_round_trip(tmp_path):
    gru = torch.nn.GRU(2, 3, num_layers=2, bidirectional=True)
    gtt = grad_through_time(gru, torch.randn(5, 2, 2), lambda out: out[0][-1].sum())
    write_grad_through_time(tmp_path, gtt, step=3)
    back, meta = read_grad_through_time(tmp_path)
    assert meta == {"step": 3, "epoch": None}
    assert back[""].directions == ("forward", "reverse") and back[""].num_layers == 2
    for key, arr in gtt[""].layers.items():
        np.testing.assert_array_equal(back[""].layers[key], arr)


# ------------------------------------------------------------------------------ real browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _chromium(args, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: `make browser` should have installed it")
        pytest.skip("chromium is not installed (apt-get install chromium, or `make browser`)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_report_in_headless_chromium(report, tmp_path):
    _, path, _ = report
    url = path.resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-broken-images="0"' in dom.stdout, dom.stdout[:500]
    assert dom.stdout.count("<img") == 7
    assert "alert(1)" not in dom.stdout.replace("&lt;script&gt;alert(1)&lt;/script&gt;", "")

    shot = tmp_path / "report.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1200,2400", url], tmp_path)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels[..., :3].std() > 0.05  # text, tables and figures, not a blank page
    Path("/tmp/rnnlab_figs").mkdir(exist_ok=True)
    shutil.copy(shot, "/tmp/rnnlab_figs/report_screenshot.png")


def test_weight_norm_figures_show_the_recurrent_layer_first():
    """The template puts conv blocks before the LSTM: 12 frontend tensors used to fill every
    panel, and the recurrent weights the report is about were never drawn."""
    from rnnlab.config import TEMPLATE, parse_config
    from rnnlab.train.model import build_model

    model = build_model(parse_config(TEMPLATE).model, input_size=1, num_classes=2)
    names = [n for n, _ in model.named_parameters()]
    assert names.index("rnn.weight_ih_l0") >= 9  # the frontend's tensors come first in the model
    lines = _report_order(names)[:MAX_LINE_PANELS]
    assert lines[:4] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"]
    assert "head.0.weight" in lines
    assert _histogram_params(names)[:2] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0"]
    assert len(_histogram_params(names)) == MAX_HISTOGRAM_COLUMNS
    # a DropConnect'ed recurrent weight is tracked under its parametrization and still comes first
    dropped = ["frontend.conv.weight", "rnn.parametrizations.weight_hh_l0.original"]
    assert _report_order(dropped)[0] == "rnn.parametrizations.weight_hh_l0.original"
