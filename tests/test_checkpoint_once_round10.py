"""load_run takes the checkpoint fitted_model chose: the choice is made (and the file read) once."""
from __future__ import annotations

import pytest
from test_predict_cli import classifier  # noqa: F401  (the module's tiny classifier run)

import rnnlab.train.run_fit as run_fit

pytestmark = pytest.mark.usefixtures("one_thread")


def test_load_run_chooses_its_checkpoint_once(classifier, monkeypatch):  # noqa: F811
    import rnnlab

    chosen = []
    choose = run_fit.evaluated_checkpoint

    def counted(*args, **kwargs):
        chosen.append(choose(*args, **kwargs))
        return chosen[-1]

    monkeypatch.setattr(run_fit, "evaluated_checkpoint", counted)
    run = rnnlab.load_run(classifier)
    assert chosen == [run.checkpoint], chosen
