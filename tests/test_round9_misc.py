"""Round 9, as new users met them: the forecasting template fitted to the bundled series it is
written for (ShampooSales' 36 months), a bundled series or text named without [task], the doctor
on a zero-initialized output layer, and `rnnlab compare` judging the model each run kept, each
seed once, past the directories of a study or a recipe."""

from __future__ import annotations

import json
import re

import pytest
import torch
from test_compare_round3 import cells, cli
from tiny_run import tiny_toml

from rnnlab.config import dump_config, parse_config, template_for
from rnnlab.data import load_data
from rnnlab.data.stream import BUNDLED_STREAMS, load_stream
from rnnlab.doctor import diagnose
from rnnlab.errors import DataError
from rnnlab.recipe.decide import verdict
from rnnlab.rundir import RECIPE, STUDY, RunDir, append_jsonl
from rnnlab.task import CLASSIFICATION, task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# --- 1. `rnnlab init --task forecasting --dataset NAME` fits the window to NAME -------------------


@pytest.mark.parametrize("name", list(BUNDLED_STREAMS))
def test_the_forecasting_template_loads_every_bundled_series_it_is_written_for(name):
    config = parse_config(template_for("forecasting", name))
    assert config.data.dataset == name and config.task.season == BUNDLED_STREAMS[name].season
    data = load_stream(config.data, 0, None, task_for(config))  # the bounds a run checks (data.bptt, streams)
    assert data.train.X.shape[1] >= config.data.bptt and len(data.val) and data.test is not None


def test_shampoo_sales_gets_a_window_that_fits_and_says_why(tmp_path, capsys):
    text = template_for("forecasting", "ShampooSales")
    c = parse_config(text)
    # 36 steps: 7 test, 6 validation, 23 training, 22 of them with a target (horizon 1)
    assert (c.data.bptt, c.data.streams) == (22, 1)
    bptt_line = next(line for line in text.splitlines() if line.startswith("bptt = "))
    assert "ShampooSales" in bptt_line and "22 training steps" in bptt_line
    assert "the template's 24" in text and "(the template: 2)" in text
    # a series the template's window fits keeps it, and its comment
    airline = template_for("forecasting", "Airline")
    assert airline == template_for("forecasting") and "bptt = 24 " in airline
    lynx = template_for("forecasting", "Lynx")
    assert re.search(r"^season = 10 +# Lynx's season .*not the template's 12", lynx, re.M)
    path = tmp_path / "sh.toml"
    path.write_text(text)
    code, out, err = cli(["doctor", path, "--steps", "1"], capsys)
    assert code == 0 and "error" not in err, err


def test_init_dataset_of_another_task_or_no_bundled_set_is_one_line():
    with pytest.raises(DataError, match=r"--dataset: 'GunPoint' is a classification data set, expected one for "
                                        r"--task forecasting"):
        template_for("forecasting", "GunPoint")
    with pytest.raises(DataError, match=r"--dataset: expected a bundled data set .*got 'shampoosales'; did you mean "
                                        r"'ShampooSales'\?"):
        template_for("forecasting", "shampoosales")
    assert 'dataset = "python-docs"' in template_for("language_model", "python-docs")


# --- 2. a bundled series or text without [task] -------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [("Airline", "forecasting"), ("python-docs", "language_model")])
def test_a_stream_set_without_task_names_the_task_kind_to_set(tmp_path, capsys, name, kind):
    with pytest.raises(DataError, match=rf'set \[task\] kind = "{kind}"'):
        load_data(parse_config(f'[data]\ndataset = "{name}"').data, 0, task=CLASSIFICATION)
    path = tmp_path / "c.toml"
    path.write_text(f'[data]\ndataset = "{name}"\n')
    code, out, err = cli(["train", path], capsys)
    assert code != 0 and "Traceback" not in err and "unknown bundled data set" not in err
    assert f"data.dataset '{name}'" in err and f'set [task] kind = "{kind}"' in err


def test_a_misspelt_name_is_matched_against_every_bundled_name():
    with pytest.raises(DataError, match=r"unknown bundled data set 'airline'; did you mean 'Airline'\?.*python-docs"):
        load_data(parse_config('[data]\ndataset = "airline"').data, 0, task=CLASSIFICATION)


# --- 3. the doctor on a zero-initialized output layer ---------------------------------------------


class Net(torch.nn.Module):
    """An LSTM and its output layer (``zero_head``: started at 0, as model.head.zero_init does), and
    beside them a layer whose input is multiplied by 0 (``cut``: its weight is cut from the loss)."""

    def __init__(self, zero_head: bool = True, cut: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head, self.side = torch.nn.LSTM(1, 8, batch_first=True), torch.nn.Linear(8, 1), None
        if zero_head:
            with torch.no_grad():
                self.head.weight.zero_(), self.head.bias.zero_()
        if cut:
            self.side = torch.nn.Linear(1, 1)

    def forward(self, x):
        out = self.head(self.rnn(x)[0])
        return out if self.side is None else out + self.side(x * 0)


def values():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 12, 1, generator=g), torch.randn(8, 12, 1, generator=g)


LSTM = ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"]


def test_a_zero_initialized_output_layer_explains_the_first_steps_zero_gradient():
    (z,) = diagnose(Net(), values(), torch.nn.MSELoss(), steps=1).by_check("zero_grad")
    assert z.severity == "info" and z.numbers["cause"] == "zero_initialized_layer"
    assert z.numbers["parameters"] == LSTM and z.numbers["layers"] == ["head.weight"]
    assert "nothing is cut" in z.message and "steps=2" in z.remedy
    # from the second step on they get a gradient: nothing to say
    assert diagnose(Net(), values(), torch.nn.MSELoss(), steps=2).by_check("zero_grad") == []
    # a real cut is still a warning: no zero layer: the weight whose input is multiplied by 0 is cut
    (z,) = diagnose(Net(zero_head=False, cut=True), values(), torch.nn.MSELoss(), steps=1).by_check("zero_grad")
    assert z.severity == "warning" and "cause" not in z.numbers and "path to the loss is cut" in z.message
    assert z.numbers["parameters"] == ["side.weight"]
    # a zero head and a cut: by the second step the zero layer has moved (the LSTM gets a gradient),
    # and the cut is named alone
    (z,) = diagnose(Net(cut=True), values(), torch.nn.MSELoss(), steps=2).by_check("zero_grad")
    assert z.severity == "warning" and z.numbers["parameters"] == ["side.weight"] and "cause" not in z.numbers


def test_the_first_step_behind_a_zero_layer_is_no_learning_rate_measurement():
    # AdamW with weight decay: at step 1 the LSTM (no gradient yet) moves by lr x decay alone, 1e-6
    # of its norm, which read as "learning rate too small" when the median of two steps took it
    opt = lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-3)  # noqa: E731
    report = diagnose(Net(), values(), torch.nn.MSELoss(), opt, steps=2)
    assert report.by_check("update_ratio") == []
    # a learning rate that is too small is still said to be
    slow = lambda ps: torch.optim.AdamW(ps, lr=1e-8, weight_decay=0.0)  # noqa: E731
    (u,) = diagnose(Net(), values(), torch.nn.MSELoss(), slow, steps=3).by_check("update_ratio")
    assert u.title.startswith("Learning rate too small")


def test_doctor_on_the_forecasting_template_warns_of_nothing(tmp_path, capsys):
    path = tmp_path / "Airline.toml"  # model.head.zero_init = true, an ensemble of 5
    path.write_text(template_for("forecasting"))  # (on Airline)
    code, out, err = cli(["doctor", path, "--steps", "1"], capsys)
    assert code == 0 and "[WARNING]" not in out and "get no gradient at the first step" in out
    code, out, err = cli(["doctor", path, "--steps", "2"], capsys)
    assert code == 0 and "[WARNING]" not in out and "Learning rate too small" not in out


# --- 4. and 5. `rnnlab compare`: the kept model's score, each seed once, no study or recipe ----------


def run_dir(path, toml, vals, best_epoch):
    """A finished run: ``vals`` its val_acc per epoch, its val_loss lowest at ``best_epoch``."""
    rd = RunDir(path)
    rd.config.write_text(dump_config(parse_config(toml)))
    for e, v in enumerate(vals, start=1):
        append_jsonl(rd.metrics, {"epoch": e, "step": 4 * e, "train_loss": 1.0 / e, "train_acc": 1.0,
                                  "val_loss": 0.5 if e == best_epoch else 1.0 + e, "val_acc": v})
    rd.summary.write_text(json.dumps({"best_epoch": best_epoch, "test": {"acc": 0.5}}))
    return rd.path


def rows_of(out):
    lines = out.splitlines()
    head = cells(lines[0])
    return head, {cells(line)[0]: dict(zip(head, cells(line), strict=True)) for line in lines[1:]
                  if len(cells(line)) == len(head)}


@pytest.mark.parametrize("patience", [0, 5])
def test_groups_are_judged_by_the_model_each_run_kept(tmp_path, capsys, patience):
    # every run's val_acc is 0.9 at its best epoch (1, lowest val_loss); zoneout's last epoch is the better
    stop = f"[training.early_stopping]\npatience = {patience}"
    lasts = {"none": (0.50, 0.52), "zoneout": (0.80, 0.82)}
    runs = [run_dir(tmp_path / f"{name}-s{s}", tiny_toml(model="" if name == "none" else "zoneout = 0.1",
                                                        training=f"seed = {s}", after=stop), (0.9, last), 1)
            for name, per_seed in lasts.items() for s, last in enumerate(per_seed)]
    code, out, err = cli(["compare", *runs, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    head, rows = rows_of(out)
    mark = head[-1]
    assert mark == f"vs {tmp_path}/none-s* (val_acc@kept)"
    z = rows[f"{tmp_path}/zoneout-s*"]
    assert z["val_acc@best_epoch"] == "0.9 ± 0"
    if patience == 0:  # the last epoch's weights are kept: the score rnnlab recipe decides on
        assert z["val_acc@kept"] == "0.81 ± 0.014"
        # (the same seeds a group: paired, seed 0 with seed 0)
        assert z[mark] == "better: " + verdict([0.80, 0.82], [0.50, 0.52], higher_is_better=True, paired=True).reason
    else:  # early stopping keeps the best epoch's weights
        assert z["val_acc@kept"] == "0.9 ± 0" and z[mark].startswith("not better: ")
    assert "<score>@kept: the score of the model the run kept" in out


def test_runs_of_one_seed_are_no_replicates(tmp_path, capsys):
    # a recipe's test/baseline and test/final: one config, one seed
    a, b = (run_dir(tmp_path / "test" / n, tiny_toml(), (0.5, 0.6), 2) for n in ("baseline", "final"))
    code, out, err = cli(["compare", a, b, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    head, rows = rows_of(out)
    assert head[0] == "run" and set(rows) == {str(a), str(b)}  # a row each, no "n 2, seeds 0,0"
    assert (f"note: {b} stands alone: same config, data and seed (0) as {a}, a rerun and not another seed"
            in out)
    # seeds 0, 1 and a second 0: the group holds 0 and 1, the rerun stands beside it
    c = run_dir(tmp_path / "test" / "s1", tiny_toml(training="seed = 1"), (0.5, 0.7), 2)
    code, out, err = cli(["compare", a, c, b, "--figures", tmp_path / "fig"], capsys)
    head, rows = rows_of(out)
    assert code == 0 and head[0] == "group"
    assert [(r["n"], r["seeds"]) for r in rows.values()] == [("2", "0,1"), ("1", "0")]


def test_a_glob_of_runs_skips_study_and_recipe_directories(tmp_path, capsys):
    runs = tmp_path / "runs"
    a = run_dir(runs / "a", tiny_toml(), (0.5, 0.6), 2)
    b = run_dir(runs / "b", tiny_toml(model="zoneout = 0.1"), (0.5, 0.6), 2)
    for name, kind in (("UnitTest-lstm-search", STUDY), ("UnitTest-lstm-recipe", RECIPE)):
        (runs / name).mkdir()
        (runs / name / kind.marker).write_text("{}")
    code, out, err = cli(["compare", *sorted(runs.iterdir()), "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert (f"skipped {runs / 'UnitTest-lstm-search'}: an rnnlab search study (its runs: "
            f"{runs / 'UnitTest-lstm-search'}/trials/*/fold-*, {runs / 'UnitTest-lstm-search'}/final), not a run") in lines
    assert any(line.startswith(f"skipped {runs / 'UnitTest-lstm-recipe'}: an rnnlab recipe") for line in lines)
    assert set(rows_of("\n".join(line for line in lines if not line.startswith("skipped")))[1]) == {str(a), str(b)}
    # nothing but those: one line saying what each is
    code, out, err = cli(["compare", runs / "UnitTest-lstm-search"], capsys)
    assert code != 0 and "expected run directories, got none" in err and "Traceback" not in err
