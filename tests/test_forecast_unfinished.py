"""``rnnlab predict RUN`` on a forecasting run that has not finished (no summary.json: stopped, or
training still) says so in one line, as a classification run's predictions do; a finished run's
forecast says nothing of it. A real tiny run on the bundled Airline series."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.train.forecast import forecast_rows
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = ('[task]\nkind = "forecasting"\nhorizon = 3\nseason = 12\n[data]\ndataset = "Airline"\nbptt = 24\n'
          '[model]\nhidden_size = 4\n[training]\nepochs = 2\n[tracking]\nenabled = false')


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    return train(parse_config(CONFIG), out=tmp_path_factory.mktemp("airline") / "run", progress=False,
                 log=None).run_dir


def test_an_unfinished_forecasting_run_is_said_in_one_line(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "summary.json").unlink()  # what a run stopped after its last epoch's checkpoint leaves
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["predict", str(run)]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "has not finished" in line]
    assert len(said) == 1, err
    assert "its last recorded epoch is 2 of 2" in said[0] and "checkpoints/last.pt" in said[0], said
    assert (run / "forecast.csv").exists()
    with warnings.catch_warnings(record=True) as caught:  # from Python: a UserWarning at the caller's line
        warnings.simplefilter("always")
        forecast_rows(run)
    assert [w.category for w in caught if "has not finished" in str(w.message)] == [UserWarning]


def test_a_finished_forecasting_run_says_nothing_of_it(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    assert main(["predict", str(run)]) == 0
    assert "has not finished" not in capsys.readouterr().err
