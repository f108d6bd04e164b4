"""``model.ensemble``: members that learn as they would alone, predictions that are their mean
(values) or the mean of their class probabilities, a carried state that keeps each member's own,
and each task end to end (train, report, predict / sample)."""

from __future__ import annotations

import csv
import json
import math

import pytest
import tiny_run
import torch
from test_bad_inputs import one_line_error
from test_language_model import write as lm_config
from test_streams import sine, stream_toml

from rnnlab.cli import main
from rnnlab.config import ModelConfig, parse_config
from rnnlab.train.checkpoint import load_checkpoint
from rnnlab.train.mean_guard import predict_the_mean
from rnnlab.train.model import Ensemble, SequenceClassifier, build_model, member_outputs

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _members(n: int, values: bool, **model) -> Ensemble:
    torch.manual_seed(0)
    return build_model(ModelConfig(hidden_size=5, ensemble=n, **model), 3, 4, values=values)


def test_values_are_the_members_mean_and_classes_the_mean_of_their_probabilities():
    x = torch.randn(6, 9, 3)
    for values in (True, False):
        m = _members(3, values).eval()
        outs = [member(x)[0] for member in m.members]
        got = m(x)[0]
        if values:
            assert torch.allclose(got, torch.stack(outs).mean(0), atol=1e-6)
        else:  # log of the mean probability: a distribution, whose argmax is the members' vote by probability
            probs = torch.stack([o.softmax(-1) for o in outs]).mean(0)
            assert torch.allclose(got.exp(), probs, atol=1e-6)
            assert torch.allclose(got.exp().sum(-1), torch.ones(6), atol=1e-6)


def test_the_first_member_starts_from_the_single_models_weights_and_the_others_differ():
    single = _members(1, True)
    ens = _members(3, True)
    assert isinstance(single, SequenceClassifier) and isinstance(ens, Ensemble)
    first, second = ens.members[0].state_dict(), ens.members[1].state_dict()
    for key, value in single.state_dict().items():
        assert torch.equal(first[key], value)
    assert not torch.equal(first["rnn.weight_hh_l0"], second["rnn.weight_hh_l0"])


def test_the_carried_state_keeps_each_members_own():
    m = _members(2, True, layer="lstm").eval()
    x = torch.randn(2, 10, 3)
    outs, state = member_outputs(m, x[:, :6])
    outs2, state2 = member_outputs(m, x[:, 6:], None, state)
    for k, member in enumerate(m.members):  # each member run alone over both windows
        _, own = member(x[:, :6])
        out, own2 = member(x[:, 6:], None, own)
        assert torch.allclose(outs2[k], out, atol=1e-6)
        assert torch.allclose(state2[0][k:k + 1], own2[0], atol=1e-6)  # [members x layers, B, H]
    g = _members(2, True, layer="gru").eval()  # a single-tensor state
    _, s = member_outputs(g, x[:, :6])
    assert s.shape == (2, 2, 5) and member_outputs(g, x[:, 6:], None, s)[1].shape == (2, 2, 5)


def test_the_mean_guards_fallback_zeroes_every_member():
    m = _members(3, True)
    predict_the_mean(m)
    assert torch.equal(m(torch.randn(2, 4, 3))[0], torch.zeros(2, 4))


def test_a_member_learns_exactly_as_it_would_alone(tmp_path):
    # Same seed and batches, no dropout: the ensemble's first member ends where the single model
    # does (its own loss, its own clipped gradient, its own Adam moments), though the members'
    # summed gradient would be clipped at a tighter global norm.
    training = "epochs = 3\nclip_norm = 0.05\nweight_decay = 0.01"
    one = tiny_run.run(parse_config(tiny_run.tiny_toml(training=training)), tmp_path / "one")
    two = tiny_run.run(parse_config(tiny_run.tiny_toml(model="ensemble = 2", training=training)), tmp_path / "two")
    alone, member = one.model.state_dict(), two.model.members[0].state_dict()
    assert alone.keys() == member.keys()
    for key in alone:
        assert torch.allclose(alone[key], member[key], atol=1e-6), key
    assert not torch.allclose(alone["rnn.weight_hh_l0"], two.model.members[1].state_dict()["rnn.weight_hh_l0"])
    # The recorded training loss is the members' mean loss; accuracy is the ensemble's.
    assert two.final["train_loss"] > 0 and 0 <= two.final["val_acc"] <= 1


def test_classification_end_to_end_with_the_report(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_run.tiny_toml(model="ensemble = 2", training="epochs = 2\nseed = 3"))
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 0
    assert "test acc" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "run")]) == 0
    assert "members.1.rnn" in (tmp_path / "run" / "report.html").read_text()


def test_a_forecasting_ensemble_trains_resumes_and_predicts(tmp_path, capsys):
    cfg = tmp_path / "f.toml"
    cfg.write_text(stream_toml(sine(tmp_path), task='horizon = 2\nseason = 12\nrelative_to = "seasonal_naive"',
                               training="steps = 30\nlr = 0.01").replace("[model]\n", "[model]\nensemble = 3\n"))
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "test MASE" in out and "model: an ensemble of 3 (model.ensemble)" in out and "with their mean" in out
    assert main(["predict", str(tmp_path / "run")]) == 0
    rows = list(csv.reader((tmp_path / "run" / "forecast.csv").open()))
    assert [r[2] for r in rows[1:]] == ["120", "121"] and all(abs(float(v)) < 5 for r in rows[1:] for v in r[3:])
    # Stopped after 2 epochs and resumed: the same weights as the run straight through.
    part = tmp_path / "part"
    tiny_run.run(parse_config(cfg.read_text()), part, stop_after=2)
    tiny_run.run(parse_config(cfg.read_text()), part, resume=True)
    whole = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    again = load_checkpoint(part / "checkpoints" / "last.pt")["model"]
    assert whole.keys() == again.keys() and any(k.startswith("members.2.") for k in whole)
    assert all(torch.equal(whole[k], again[k]) for k in whole)


def test_a_language_model_ensemble_trains_and_samples(tmp_path, capsys):
    config = lm_config(tmp_path, model="ensemble = 2\ntie_weights = true", training="steps = 20\nar = 1.0",
                       tracking="enabled = false")  # (what the tracker records: not checked here)
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test"]["bpc"] == pytest.approx(summary["test"]["loss"] / math.log(2))
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--length", "20", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out.rstrip("\n")) >= 20


@pytest.mark.parametrize("value, expected", [("0", "expected a number >= 1, got 0"), ("17", "expected a number <= 16, got 17"),
                                             ("1.5", "ensemble")])
def test_a_bad_ensemble_size_is_one_line(value, expected, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_run.tiny_toml(model=f"ensemble = {value}"))
    one_line_error(["train", str(cfg), "--quiet"], capsys, ("'model.ensemble'", expected))


def test_the_memory_check_counts_every_member():
    from rnnlab.train.memory import parameter_bytes

    one, five = ModelConfig(hidden_size=32), ModelConfig(hidden_size=32, ensemble=5)
    assert parameter_bytes(five, 3, 4) == 5 * parameter_bytes(one, 3, 4)


def test_search_with_two_workers_and_recipe_with_two_seeds_on_an_ensemble(tmp_path):
    cfg = tmp_path / "f.toml"
    cfg.write_text(stream_toml(sine(tmp_path), training="epochs = 2").replace("[model]\n", "[model]\nensemble = 2\n") +
                   '[search]\nfolds = 2\ntrials = 2\nsampler = "random"\nreports = "none"\n'
                   '[search.space]\n"model.hidden_size" = { low = 4, high = 8 }\n')
    final, _, _ = tiny_run.search_then_recipe(cfg, tmp_path, trials=2, step="zoneout")
    assert set(final["test"]) >= {"mase", "rmse"}
    assert "ensemble = 2" in (tmp_path / "s" / "best.toml").read_text()
