"""Round 290: what the last session left undone and this session's testers found. A missing-value
code among per-sequence regression targets (y [N] or [N, K]) was accepted: the standardization's
mean and std were set by it and every other target became one value."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import DataConfig
from rnnlab.data import load_data
from rnnlab.errors import DataError
from rnnlab.task import REGRESSION

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _error(call) -> str:
    with pytest.raises(DataError) as e:
        call()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_missing_value_code_among_regression_targets_is_refused_and_the_fix_works(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12, 2))
    y = np.stack([X[:, :, 0].mean(1) + 5, X[:, :, 1].std(1)], axis=1)
    y[[4, 9], 1] = -1e30
    path = tmp_path / "r.npz"
    np.savez(path, X=X, y=y)
    text = _error(lambda: load_data(DataConfig(path=str(path)), seed=0, task=REGRESSION))
    assert text.startswith(f"data.path ({path}): y has 2 targets over 1e+06 times their target's typical magnitude "
                           "at [sequence, target] [4, 1], [9, 1]; first -1e+30, where target 1 is typically "), text
    assert "keep = ~(y == -1e+30).any(axis=1); X, y = X[keep], y[keep]" in text
    # the fix it gives works
    keep = ~(y == -1e+30).any(axis=1)
    np.savez(path, X=X[keep], y=y[keep])
    data = load_data(DataConfig(path=str(path)), seed=0, task=REGRESSION)
    assert len(data.train) + len(data.val) == 38
    assert np.ptp(data.train.y[:, 1]) > 1  # standardized targets that still vary


def test_a_csv_of_unequal_columns_advises_choosing_columns_only_where_none_were_chosen(tmp_path):
    from rnnlab.data.stream import read_series

    path = tmp_path / "wide.csv"
    rows = ["a,b"] + [f"{i},{'' if i < 5 else i * 2}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    chosen_by_default = _error(lambda: read_series(DataConfig(path=str(path))))
    assert chosen_by_default.endswith("keep the rows where every column has a value (df.dropna()) or set data.columns "
                                      "to the columns to read"), chosen_by_default
    # chosen already (a user's data.columns; under rnnlab predict --data, the run's own, which no key changes)
    chosen = _error(lambda: read_series(DataConfig(path=str(path), columns=["a", "b"])))
    assert "column 'b' is empty on its first 5 rows" in chosen
    assert chosen.endswith("keep the rows where every column has a value (df.dropna())"), chosen


def test_a_regression_whose_hold_out_leaves_one_training_sequence_says_so_not_that_targets_are_constant(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, X=np.random.default_rng(0).normal(size=(2, 6, 1)), y=np.array([1.0, 2.0]))
    text = _error(lambda: load_data(DataConfig(path=str(path)), seed=0, task=REGRESSION))
    assert text == (f"data.path ({path}), training split: holds 1 of the 2 sequences after holding out "
                    "data.val_fraction=0.2 for validation: one value of each target, nothing to learn from or to "
                    "standardize by; expected at least 2 (give more sequences, or set data.val_fraction = 0 to train "
                    "on all of them)"), text
    assert len(load_data(DataConfig(path=str(path), val_fraction=0.0), seed=0, task=REGRESSION).train) == 2


def test_introspections_modules_argument_is_a_list_of_names_and_a_single_string_is_refused_with_the_list():
    import torch

    from rnnlab.introspect import gate_activations, gate_weights, grad_through_time

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = torch.nn.LSTM(2, 3, batch_first=True)

        def forward(self, x):
            return self.enc(x)[0][:, -1]

    model, x = Net(), torch.randn(4, 5, 2)
    for call in (lambda m: gate_activations(model, x, modules=m), lambda m: gate_weights(model, modules=m),
                 lambda m: grad_through_time(model, x, lambda out: out.pow(2).mean(), modules=m)):
        with pytest.raises(TypeError) as e:
            call("enc")
        assert str(e.value) == ("modules: expected a list of submodule names (or None for every recurrent layer), got "
                                "the str 'enc'; give modules=['enc']")
        assert call(["enc"])  # (what it advises works)


def test_gradient_reachs_advice_averages_magnitudes_not_signed_gradients():
    import torch

    from rnnlab.introspect.stats import gradient_reach

    grad = torch.randn(30, 8)
    with pytest.raises(ValueError) as e:
        gradient_reach(grad)
    assert "abs(grad).mean(axis=1)" in str(e.value)
    assert 0 <= gradient_reach(abs(grad).mean(axis=1)) <= 30  # (as advised, on a tensor)
    assert 0 <= gradient_reach(abs(grad.numpy()).mean(axis=1)) <= 30  # (and on an array)


@pytest.mark.timeout(120)  # (the defect: the report looped without end)
def test_a_run_whose_config_warns_gets_its_report_and_each_warning_once(tmp_path, capsys):
    from rnnlab.cli import main

    config = tmp_path / "bns.toml"
    config.write_text('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\nbatch_norm_steps = 4\n'
                      '[training]\nepochs = 1\nthreads = 1\n[tracking]\nhealth = false\n')
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert (tmp_path / "run" / "report.html").exists()  # (drawn by train: the evaluation that looped)
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "batch_norm_steps=4" in line]
    # once, as rnnlab's own line (not pydantic's file and line, where the validation ran)
    assert said == ["rnnlab train: warning: batch_norm_steps=4 sets how many steps recurrent batch norm keeps "
                    "statistics for, so without recurrent_batch_norm it does nothing; set recurrent_batch_norm=True, "
                    "or leave batch_norm_steps out"], err
    assert "pydantic" not in err


def test_a_finished_final_run_is_reused_wherever_its_directory_is_reached_from(tmp_path, monkeypatch):
    import shutil

    from rnnlab.config import parse_config
    from rnnlab.train.final import retrain_and_test, reusable

    cfg = parse_config('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = 1\nthreads = 1\n'
                       '[tracking]\nenabled = false\n')
    monkeypatch.chdir(tmp_path)
    first = retrain_and_test(cfg, Path("study/final"))
    # the same directory spelt absolute, and the study moved: the run that tested the test split is kept
    assert reusable(cfg, tmp_path / "study" / "final")
    shutil.move(tmp_path / "study", tmp_path / "moved")
    again = retrain_and_test(cfg, Path("moved/final"))
    assert again.get("reused") and again["test"] == first["test"]


def _trained(tmp_path: Path, tracking: str) -> tuple[Path, Path]:
    """A config of one epoch on UnitTest (``tracking``: its [tracking] line) and its run, trained."""
    from rnnlab.cli import main

    config = tmp_path / "c.toml"
    config.write_text('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = 1\nthreads = 1\n'
                      f'[tracking]\n{tracking}\n')
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--quiet"]) == 0
    return config, run


def test_resuming_a_finished_run_that_a_stop_left_without_its_report_draws_it(tmp_path, capsys):
    from rnnlab.cli import main

    config, run = _trained(tmp_path, "health = false")
    (run / "report.html").unlink()  # (what a stop while the page was drawn leaves)
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(run), "--quiet", "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"run directory: {run} (finished; its report drawn now: a stop had left it without one)" in out, out
    assert (run / "report.html").exists()
    assert main(["train", str(config), "--out", str(run), "--quiet", "--resume"]) == 0
    assert f"run directory: {run} (unchanged)" in capsys.readouterr().out


def test_smaller_items_of_the_testers(tmp_path):
    from rnnlab.config import parse_config, template_for
    from rnnlab.errors import StorageError
    from rnnlab.search.storage import open_storage
    from rnnlab.search.table import short_names

    # an IPv6 host left open: one line naming it, the password masked (not Python's int() error)
    with pytest.raises(StorageError) as e:
        open_storage("postgresql://user:s3cret@[::1:1/db", tmp_path)
    assert "the host '[::1:1' opens an IPv6 address with '[' without closing it" in str(e.value)
    assert "s3cret" not in str(e.value)
    # a key the optimizer does not read, set away from its default: said (it did nothing without a word)
    with pytest.warns(UserWarning, match=r"'training.momentum' is read by the sgd and sgdw optimizers only, not with "
                                         r"training.optimizer = 'adam': it does nothing; remove the key, or set "
                                         r"training.optimizer = \"sgd\""):
        parse_config('[data]\ndataset = "UnitTest"\n[training]\noptimizer = "adam"\nmomentum = 0.5')
    with pytest.warns(UserWarning, match=r"'training.betas' is read by the adam, adamw and nadamw optimizers only"):
        parse_config('[data]\ndataset = "UnitTest"\n[training]\noptimizer = "sgd"\nbetas = [0.8, 0.99]')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_config('[data]\ndataset = "UnitTest"\n[training]\noptimizer = "sgd"\nmomentum = 0.5'
                            ).training.momentum == 0.5
    # a label column where labels are no column (a bundled set, an .npz): read by nothing, refused
    with pytest.raises(ValueError, match=r"'data.label_column' = 'cls' names the label column of a .csv; data.dataset "
                                         r"'GunPoint' is a bundled set, its labels its own: remove the key"):
        parse_config('[data]\ndataset = "GunPoint"\nlabel_column = "cls"')
    with pytest.raises(ValueError, match=r"data.path 'x.npz' is an .npz, whose labels are its y: remove the key"):
        parse_config('[data]\npath = "x.npz"\nlabel_column = "cls"')
    assert parse_config('[data]\npath = "x.csv"\nlabel_column = "cls"').data.label_column == "cls"
    # rnnlab init --dataset of another task: the --task to give
    with pytest.raises(DataError, match=r"for its own task, give --task regression$"):
        template_for("classification", "Covid3Month")
    # rnnlab study: a searched training.epochs is not a second "epochs" column
    assert short_names(["training.epochs", "model.dropout"], taken=("epochs",)) == {
        "training.epochs": "training.epochs", "model.dropout": "dropout"}


def test_a_resume_says_that_predictions_written_before_it_are_of_the_earlier_weights(tmp_path, capsys):
    from rnnlab.cli import main

    config, run = _trained(tmp_path, "enabled = false")
    (run / "predictions.csv").write_text("series,label\n0,a\n")  # (as rnnlab predict --data left it)
    config.write_text(config.read_text().replace("epochs = 1", "epochs = 2"))
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(run), "--quiet", "--resume", "--allow-change",
                 "training.epochs"]) == 0
    assert (f"note: {run / 'predictions.csv'} is of the weights before this resume; `rnnlab predict {run} --data FILE` "
            "writes it for the weights now") in capsys.readouterr().out


def test_a_search_space_key_read_only_under_another_setting_the_space_leaves_off_is_refused():
    from rnnlab.config import parse_config
    from rnnlab.errors import SearchError
    from rnnlab.search.space import space_from_config

    def space(optimizer: str, keys: str):
        return space_from_config(parse_config(f'[data]\ndataset = "UnitTest"\n[training]\noptimizer = "{optimizer}"\n'
                                              f'[search.space]\n{keys}'), 1, 2)

    momentum = '"training.momentum" = { low = 0.1, high = 0.99 }\n'
    with pytest.raises(SearchError, match=r"search.space.'training.momentum': read by the sgd and sgdw optimizers only, "
                                          r"not with training.optimizer = 'adamw', and the space does not vary "
                                          r"training.optimizer: every trial would train alike in it"):
        space("adamw", momentum)
    assert len(space("sgd", momentum).params) == 1
    with warnings.catch_warnings():  # (a conditional search: the adamw trials leave it unread)
        warnings.simplefilter("ignore")
        assert len(space("adamw", momentum + '"training.optimizer" = { choices = ["sgd", "adamw"] }\n').params) == 2
    with pytest.raises(SearchError, match=r"search.space.'model.batch_norm_steps': read by recurrent batch norm only"):
        space("adamw", '"model.batch_norm_steps" = { low = 4, high = 64 }\n')


def test_quiet_search_and_recipe_leave_out_the_progress_and_say_the_result(tmp_path, capsys):
    from rnnlab.cli import main

    config = tmp_path / "c.toml"
    config.write_text('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = 1\nthreads = 1\n'
                      '[tracking]\nenabled = false\n[search]\nfolds = 2\n')
    assert main(["search", str(config), "--trials", "1", "--out", str(tmp_path / "s"), "--no-final", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best trial 0: val_acc" in out and f"best config: {tmp_path / 's' / 'best.toml'}" in out, out
    assert not any(line.startswith("trial ") for line in out.splitlines()), out
    assert main(["recipe", str(config), "--steps", "zoneout", "--seeds", "1", "--out", str(tmp_path / "r"),
                 "--no-final", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "step zoneout: " in out and "final config: " in out and "  scoring" not in out, out
