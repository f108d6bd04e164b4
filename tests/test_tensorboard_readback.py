"""The TensorBoard export read back with TensorBoard's own event reader: every scalar and
histogram the conversion gives is in the event files, at its step, with its value."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_export_tensorboard import tracked_run

from rnnlab.export import tensorboard as tb

pytest.importorskip("tensorboard")


def test_tensorboards_reader_finds_every_record(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lstm = tracked_run(tmp_path, steps=3)
    scalars, hists = tb.tensorboard_records(tmp_path, model=lstm)
    out = tb.export_tensorboard(tmp_path, model=lstm)
    events = EventAccumulator(str(out), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert set(tags["scalars"]) == {s.tag for s in scalars}
    assert set(tags["histograms"]) == {h.tag for h in hists if np.isfinite(h.values).all()}
    for s in scalars:
        (read,) = [e for e in events.Scalars(s.tag) if e.step == s.step]
        assert read.value == pytest.approx(s.value, rel=1e-6)  # stored as float32
    for h in hists:
        (read,) = [e for e in events.Histograms(h.tag) if e.step == h.step]
        v = read.histogram_value
        assert v.num == h.values.size and v.min == pytest.approx(h.values.min(), rel=1e-6)
        assert v.max == pytest.approx(h.values.max(), rel=1e-6)
        assert v.sum == pytest.approx(h.values.sum(), rel=1e-5, abs=1e-9)


def test_missing_tensorboard_names_the_extra_even_when_installed(tmp_path, monkeypatch):
    # (test_export_tensorboard's version of this check only runs where tensorboard is absent)
    tracked_run(tmp_path, steps=1)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"rnnlab\[tensorboard\]"):
        tb.export_tensorboard(tmp_path)
