"""Round 298: a Tracker on a model nobody trains says so (not "call it after loss.backward()"), one
made again on a run of another model's records refuses to join their curves, a params pattern
misspelt is pointed to the module's pattern, and the introspection records refuse (or point to) a
wrong kind, gate, direction, module, or values their activation cannot give."""

from __future__ import annotations

import fnmatch
import pickle
import warnings

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab import introspect
from rnnlab.errors import RunDirError
from rnnlab.introspect import GateActivations
from rnnlab.introspect.gates_file import summarize_gates
from rnnlab.introspect.keyed import Keyed
from rnnlab.tracker import Tracker, read_tracked

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _said(run, tracked: torch.nn.Module, trained: torch.nn.Module, steps: int) -> list[str]:
    """A loop in the documented order that trains ``trained`` while the tracker holds ``tracked``."""
    opt = torch.optim.SGD(trained.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        tracker = Tracker(run, tracked, grads_every=1)
        for _ in range(steps):
            loss = trained(torch.ones(3, 2)).pow(2).mean()
            opt.zero_grad(); loss.backward(); tracker.step(loss); opt.step()  # noqa: E702
        tracker.close()
    return [str(w.message) for w in said if str(w.message).startswith("Tracker.step")]


# ------------------------------------------------------------------ 4. the tracker on another model


@pytest.mark.parametrize("steps, by", [(3, "step 1"), (1, "close()")])
def test_a_tracker_on_a_model_nobody_trains_names_that_cause_not_the_call_order(tmp_path, steps, by):
    torch.manual_seed(0)
    old, new = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)  # (a notebook cell made the model again)
    (message,) = _said(tmp_path / "run", old, new, steps)
    assert message.startswith("Tracker.step (step 0): no tracked parameter has a gradient")
    assert f"by {by} no loss.backward() has reached the tracked parameters nor has any of their weights changed" \
        in message
    assert "the model tracked (Linear) is not the one the loss and the optimizer use" in message
    assert message.endswith("make the Tracker on the model you train, after that model is made")
    assert "it ran before loss.backward()" not in message and "\n" not in message
    # what it says of the records holds: flat norms, no movement
    weight = read_tracked(tmp_path / "run")["weight"]
    assert len(set(weight["l2"].values.tolist())) == 1 and set(weight["update_ratio"].values.tolist()) == {0.0}
    # the same loop on the model it trains says nothing
    assert _said(tmp_path / "right", new, new, steps) == []


# ------------------------------------------------------------------ 5. a run of another model's records


def test_a_tracker_made_again_with_another_model_size_refuses_to_join_the_old_curves(tmp_path):
    run = tmp_path / "run"
    with Tracker(run, small := torch.nn.Linear(2, 3)) as t:
        small(torch.ones(1, 2)).sum().backward()
        t.step()
    before = (run / "tracked.jsonl").read_text()
    with pytest.raises(RunDirError) as err:
        Tracker(run, torch.nn.Linear(2, 5))
    message = str(err.value)
    assert message.startswith(f"run_dir: {str(run)!r} holds the records of steps up to 0 of another model: parameter "
                              "'weight' has 3 rows (dim 0) there and 5 now (shape (5, 2))")
    assert message.endswith("record this model into another run directory, or pass start_step=0 to drop those "
                            "records and start over") and "\n" not in message
    assert (run / "tracked.jsonl").read_text() == before  # (refused: nothing dropped, the lock given back)
    with pytest.warns(UserWarning, match="already holds records of steps up to 0"):
        Tracker(run, torch.nn.Linear(2, 3)).close()  # (the same model's size continues, as documented)
    Tracker(run, torch.nn.Linear(2, 5), start_step=0).close()  # (the documented way to start over)


def test_a_misspelt_params_pattern_is_pointed_to_the_module_pattern(tmp_path):
    model = torch.nn.Sequential()
    model.add_module("lstm", torch.nn.LSTM(2, 3))
    with pytest.raises(KeyError, match=r"pattern 'lsmt\.\*' matches no trainable parameter of Sequential; "
                                       r"did you mean 'lstm\.\*'\?"):
        Tracker(tmp_path / "run", model, params=["lsmt.*"])


# ------------------------------------------------------------------ 7. gate records checked when made


def _mgu_free(**kw) -> GateActivations:
    rng = np.random.default_rng(0)
    return GateActivations("rnn", 0, kw.pop("direction", "forward"), kw.pop("kind", "gru"),
                           kw.pop("gates", {g: rng.uniform(0, 1, (2, 3, 4)) for g in "rzn"}), **kw)


@pytest.mark.parametrize("kw, says", [
    ({"direction": "backward"}, "direction: expected one of ['forward', 'reverse'] (a bidirectional layer's second "
                                "direction is 'reverse'), got 'backward'; did you mean 'reverse'?"),
    # (the kinds listed are the built-in ones and those other tests' cells declared)
    ({"kind": "gruu"}, "kind: expected a kind whose gates rnnlab knows, one of ['gru', 'indrnn', 'lstm', *, got "
                       "'gruu'; did you mean 'gru'?"),
    ({"gates": {"update": np.zeros((1, 2, 3))}}, "gates: expected gates of 'gru', ['r', 'z', 'n'], got 'update'; "
                                                 "did you mean 'z' (update gate)?"),
    ({"gates": {"z": np.full((1, 2, 3), 2.5)}}, "gates['z']: expected the values of a sigmoid gate, within [0, 1], "
                                                "got values from 2.5 to 2.5"),
])
def test_a_gate_record_of_a_wrong_kind_gate_direction_or_range_is_refused_in_one_line(kw, says):
    with pytest.raises(ValueError) as err:
        _mgu_free(**kw)
    assert fnmatch.fnmatchcase(str(err.value), says.replace("[", "[[]") + "*"), str(err.value)
    assert "\n" not in str(err.value)


def test_gate_records_that_are_right_pass_and_a_changed_direction_is_not_stored():
    # non-finite values (a diverged model's) pass: the pictures mark them
    _mgu_free(gates={"z": np.array([[[np.nan, np.inf, 0.5]]])})
    # a kind not declared here, with its activations named (a record read back in another process)
    assert _mgu_free(kind="mgu_elsewhere", gates={"f": np.zeros((1, 2, 3))}, activations={"f": "sigmoid"}).kind \
        == "mgu_elsewhere"
    a = _mgu_free()
    a.direction = "backwards"  # (changed after it was made: stored, it would read back as forward)
    with pytest.raises(ValueError, match=r"^acts\[0\]\.direction: expected one of \['forward', 'reverse'\], "
                                         r"got 'backwards'$"):
        summarize_gates([a])


def test_a_gate_of_another_function_is_recorded_without_a_range_it_does_not_have():
    torch.manual_seed(0)
    relu = rnnlab.LSTM(2, 3, batch_first=True, activation="relu")
    (a,) = introspect.gate_activations(relu, 5 * torch.randn(2, 4, 2))
    assert a.gates["g"].max() > 1.0  # (a relu's values: no tanh's)
    assert a.activations == {"i": "sigmoid", "f": "sigmoid", "o": "sigmoid"}


# ------------------------------------------------------------------ 8. keyed results


def test_a_missing_gate_or_module_is_a_key_error_naming_those_there():
    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.add_module("lstm", rnnlab.LSTM(2, 3, batch_first=True))
    x = torch.randn(2, 4, 2)
    cases = [
        (lambda: introspect.gate_weights(model)[0].recurrent["forget"],
         "gate: expected one of ['i', 'f', 'g', 'o'] (the gates of 'lstm' in lstm l0 recurrent), got 'forget'; "
         "did you mean 'f' (forget gate)?"),
        (lambda: introspect.gate_activations(model, x)[0].gates["input"], "did you mean 'i' (input gate)?"),
        (lambda: introspect.grad_through_time(model, x, lambda out: out[0][:, -1].sum())["lsmt"],
         "module: expected one of ['lstm'] (the recurrent modules measured), got 'lsmt'; did you mean 'lstm'?"),
        (lambda: introspect.layer_outputs(model, x)["lsmt"], "did you mean 'lstm'?"),
    ]
    for call, says in cases:
        with pytest.raises(KeyError) as err:
            call()
        assert says in str(err.value), str(err.value)
    # still a dict to the rest: equal, pickled with its words, .get as a dict's
    gates = Keyed({"i": 1}, what="gate", of="x")
    assert gates == {"i": 1} and gates.get("f") is None
    again = pickle.loads(pickle.dumps(gates))
    assert isinstance(again, Keyed) and again == gates and again.what == "gate"
