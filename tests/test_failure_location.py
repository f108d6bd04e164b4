"""Where a run failed or stopped is carried by the trainer as data (helper-168): an error that
escapes a phase of training carries its :class:`rnnlab.errors.Place` (epoch and step, the health
check, the gradient through time, an epoch's evaluation), which ``rnnlab train``'s out-of-memory
line says; the trainer's :class:`Interrupted` carries the epoch it stopped in, which an estimator
says in its own words. Nothing reads the trainer's frames or parses its message. And the rule
"the model beside the better reference, 'no better' where it does not beat it" is one function,
by which both of a forecaster's lines judge.

The failures are real: a global forward hook (torch's ``register_module_forward_pre_hook``) makes
the model's forward raise torch's own out-of-memory error, or send a real SIGINT, at a chosen
forward, in the middle of a real run."""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import Interrupted, Place, place_of
from rnnlab.task import Metric
from rnnlab.train.model import SequenceClassifier
from rnnlab.train.trainer import TrainResult, better_reference, train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

#: what torch's CPU allocator says when an allocation fails
ALLOCATOR = ("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4194304 bytes. "
             "Error code 12 (Cannot allocate memory)")


def _config(tmp_path: Path, health: bool = False, through_time: bool = False) -> Path:
    """A small run: 48 series (38 trained on, in 5 batches of 8 per epoch), validated each epoch."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 12, 2)).astype("float32")
    y = np.arange(48) % 2
    X[y == 1, :, 0] += 1.0
    np.savez(tmp_path / "d.npz", X=X, y=y)
    path = tmp_path / "c.toml"
    path.write_text(f"""name = "where"
[data]
path = "d.npz"
[model]
hidden_size = 4
[training]
epochs = 3
batch_size = 8
threads = 1
[tracking]
health = {str(health).lower()}
grad_through_time = {str(through_time).lower()}
[adapt]
shape = false
budget = false
""")
    return path


class _Forwards:
    """Counts the model's forwards as the trainer makes them: in training mode (one per optimizer
    step), and in evaluation mode without gradients (the validation after each epoch), so a
    failure lands at a point that is known from the run itself, not assumed."""

    def __init__(self, fail: Callable[[_Forwards, bool], bool], then: Callable[[], None]) -> None:
        self.fail, self.then = fail, then
        self.steps = 0  # training forwards so far (each an optimizer step)
        self.evaluations = 0  # evaluation-mode forwards without gradients (the epochs' validations)
        self.steps_at_evaluation: list[int] = []

    def __call__(self, module: torch.nn.Module, inputs: object) -> None:
        if not isinstance(module, SequenceClassifier):
            return
        with_grad = torch.is_grad_enabled()
        if module.training:
            self.steps += 1
        elif not with_grad:
            self.evaluations += 1
            self.steps_at_evaluation.append(self.steps)
        if self.fail(self, with_grad):
            self.then()


@contextlib.contextmanager
def forwards(fail: Callable[[_Forwards, bool], bool], then: Callable[[], None]) -> Iterator[_Forwards]:
    counter = _Forwards(fail, then)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(counter)
    try:
        yield counter
    finally:
        handle.remove()


def _out_of_memory() -> None:
    raise torch.OutOfMemoryError(ALLOCATOR)


def _second_step_of_epoch_2(f: _Forwards, with_grad: bool) -> bool:
    # epoch 1's validation marks its end: the second training forward after it is epoch 2's step 2
    return f.evaluations == 1 and f.steps == f.steps_at_evaluation[0] + 2 and with_grad


# 1. an out-of-memory error carries where it happened --------------------------------------------------


def test_an_error_in_a_training_step_carries_its_epoch_and_step(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    with forwards(_second_step_of_epoch_2, _out_of_memory) as f, pytest.raises(torch.OutOfMemoryError) as error:
        train(config, out=tmp_path / "run", log=None, progress=False)
    steps_in_epoch_1 = f.steps_at_evaluation[0]
    assert steps_in_epoch_1 == 5  # (38 series in batches of 8: the step counted is the run's, not the epoch's)
    assert place_of(error.value) == Place("training", 2, steps_in_epoch_1 + 2)


def test_rnnlab_train_says_the_epoch_and_step_an_allocation_failed_in(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path)
    with forwards(_second_step_of_epoch_2, _out_of_memory) as f:
        code = main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    said = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(said) == 1, said
    step = f.steps_at_evaluation[0] + 2
    assert said[0].startswith("rnnlab train: error: out of memory (an allocation of 4 MiB failed) during epoch 2, "
                              f"step {step}; "), said[0]
    # what of the run is intact: epoch 1's checkpoint, which --resume continues from
    assert "the checkpoint after epoch 1" in said[0] and "--resume" in said[0], said[0]


def test_an_error_in_an_epochs_evaluation_is_placed_there(tmp_path: Path, capsys) -> None:
    def in_second_validation(f: _Forwards, with_grad: bool) -> bool:
        return f.evaluations == 2 and not with_grad

    with forwards(in_second_validation, _out_of_memory):
        code = main(["train", str(_config(tmp_path)), "--out", str(tmp_path / "run"), "--quiet"])
    said = capsys.readouterr().err.strip()
    assert code == 1 and said.startswith("rnnlab train: error: out of memory (an allocation of 4 MiB failed) "
                                         "evaluating epoch 2; "), said


def test_an_error_in_the_health_check_is_placed_there(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, health=True))
    with forwards(lambda f, with_grad: True, _out_of_memory), pytest.raises(torch.OutOfMemoryError) as error:
        train(config, out=tmp_path / "run", log=None, progress=False)
    assert place_of(error.value) == Place("health_check")
    assert str(place_of(error.value)) == "during the health check"


def test_an_error_in_the_gradient_through_time_is_placed_there(tmp_path: Path, capsys) -> None:
    # the one forward in evaluation mode with gradients: the trained model's gradient through time
    with forwards(lambda f, with_grad: with_grad and f.evaluations == 3, _out_of_memory):
        code = main(["train", str(_config(tmp_path, through_time=True)), "--out", str(tmp_path / "run"), "--quiet"])
    said = capsys.readouterr().err.strip()
    assert code == 1 and " during the gradient through time; " in said, said


# 2. a stop carries the epoch it stopped in ------------------------------------------------------------


def _sigint() -> None:
    signal.raise_signal(signal.SIGINT)


def test_the_trainers_stop_carries_the_epoch_it_stopped_in(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    with forwards(_second_step_of_epoch_2, _sigint), pytest.raises(Interrupted) as stop:
        train(config, out=tmp_path / "run", log=None, progress=False)
    assert place_of(stop.value) == Place("training", 2)
    assert str(stop.value).startswith("interrupted by SIGINT during epoch 2; the checkpoint after epoch 1"), stop.value


def test_an_estimator_stopped_in_epoch_2_says_so(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from rnnlab.estimators import FAST, RNNClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2, 10)), np.array(["cat", "dog"] * 20)
    est = RNNClassifier(hidden_size=4, steps=40, batch_size=8, params={**FAST, "tracking.health": False}, random_state=0,
                        run_dir=tmp_path / "e")
    with forwards(_second_step_of_epoch_2, _sigint), pytest.raises(Interrupted) as stop:
        est.fit(X, y)
    assert str(stop.value).startswith("interrupted by SIGINT during epoch 2 of RNNClassifier.fit; "), stop.value


def test_a_stop_the_trainer_did_not_place_says_no_epoch(tmp_path: Path) -> None:
    # (a message that happens to read " during epoch 7;" is not where the trainer stopped)
    pytest.importorskip("sklearn")
    from rnnlab.estimators import RNNClassifier

    stop = Interrupted(int(signal.SIGTERM), "interrupted by SIGTERM during epoch 7; said by someone else")
    said = str(RNNClassifier()._interrupted(stop))
    assert said.startswith("interrupted by SIGTERM of RNNClassifier.fit; "), said


# 3. one rule for "no better than" ------------------------------------------------------------------


MASE = Metric("mase", False, "MASE", False)
SKILL = Metric("skill", True, "skill")


@pytest.mark.parametrize(("value", "references", "metric", "expected"), [
    (0.9955, {"naive": 1.4, "seasonal naive": 0.9945}, MASE, ("seasonal naive", 0.9945, True)),
    (0.90, {"naive": 1.4, "seasonal naive": 0.9945}, MASE, ("seasonal naive", 0.9945, False)),
    (0.9945, {"naive": 1.4, "seasonal naive": 0.9945}, MASE, ("seasonal naive", 0.9945, True)),  # a tie
    (0.2, {"naive": 0.1, "seasonal naive": 0.3}, SKILL, ("seasonal naive", 0.3, True)),  # higher is better
    (0.4, {"naive": 0.1, "seasonal naive": 0.3}, SKILL, ("seasonal naive", 0.3, False)),
    (0.9, {"naive": math.nan, "seasonal naive": 1.2}, MASE, ("seasonal naive", 1.2, False)),  # NaN: no figure
    (math.nan, {"naive": 1.4}, MASE, ("naive", 1.4, True)),  # a model with no figure beats nothing
])
def test_the_better_reference_and_its_verdict(value, references, metric, expected) -> None:
    assert tuple(better_reference(value, references, metric)) == expected
    assert better_reference(0.5, {"naive": math.nan}, MASE) is None


def test_the_channel_line_judges_by_the_same_rule() -> None:
    figures = {"load": 0.9955, "temp": 0.846, "wind": 1.3}
    naive = {"load": 1.4, "temp": 0.95, "wind": 1.2}
    seasonal = {"load": 0.9945, "temp": 0.91, "wind": math.nan}
    r = TrainResult(Path("run"), 1, False, {}, None, {}, {}, None, by_channel={
        "test": {"mase": figures},
        "baselines": {"test": {"naive": {"mase": naive}, "seasonal_naive": {"mase": seasonal}}}})
    line = r.channel_line(MASE)
    for channel, value in figures.items():
        verdict = better_reference(value, {"naive": naive[channel], "seasonal naive": seasonal[channel]}, MASE)
        said = f"{channel} {MASE.show(value)} ({verdict.name} {MASE.show(verdict.value)}"
        assert said + (": no better)" if verdict.no_better else ")") in line, (said, line)
    assert line == ("test MASE by channel: load 0.9955 (seasonal naive 0.9945: no better), temp 0.846 "
                    "(seasonal naive 0.91), wind 1.3 (naive 1.2: no better)")
