"""The Gates section's heatmaps count the recurrent layer's steps, which a front-end that pools
shortens: their axis says "recurrent step" and the lead says by how much, as the gradient
through time's does (a tester read the steps of a pooled run's heatmaps as the input's)."""

from __future__ import annotations

import html
import re

import numpy as np

from rnnlab.config import parse_config
from rnnlab.report import _gate_step_axis, render_report
from rnnlab.rundir import RunDir
from rnnlab.train import train


def _gates_text(run: RunDir) -> str:
    page = render_report(run)
    section = page.split('id="gates"')[1].split("</section>")[0]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section)))


def _run(tmp_path, frontend: str) -> RunDir:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((12, 40, 1)).astype(np.float32), y=np.arange(12) % 2)
    cfg = parse_config(f'[data]\npath = "{tmp_path / "d.npz"}"\nval_fraction = 0\n[model]\nhidden_size = 4\n'
                       f"{frontend}[training]\nsteps = 2\nbatch_size = 6\n"
                       "[tracking]\nweights_every = 0\ngrads_every = 0\n")  # (the Gates section alone is read)
    return RunDir(train(cfg, out=tmp_path / "run", progress=False, log=None).run_dir)


def test_a_pooled_runs_gate_heatmaps_count_recurrent_steps(tmp_path) -> None:
    text = _gates_text(_run(tmp_path, "[[model.frontend.blocks]]\nchannels = 4\nkernel_size = 3\npool = 4\n"))
    assert "A step here is the recurrent layer's (input pooled ×4), not the input's" in text
    assert _gate_step_axis(1, recurrent=True) == "recurrent step"
    assert _gate_step_axis(8, recurrent=True) == "recurrent step (each column: mean of 8)"


def test_without_a_front_end_the_steps_are_the_inputs(tmp_path) -> None:
    text = _gates_text(_run(tmp_path, ""))
    assert "recurrent layer's" not in text
    assert _gate_step_axis(1) == "step"
