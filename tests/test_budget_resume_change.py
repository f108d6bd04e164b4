"""``--resume --allow-change training.steps`` with the budget that follows the fit (adapt.budget,
on in the template): the new budget is the one trained, not the checkpoint's, and the change is
recorded among the budget's decisions."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[data]
path = "{data}"
val_fraction = 0.0
[model]
hidden_size = 4
[training]
steps = {steps}
batch_size = 8
seed = 0
[tracking]
enabled = false
[adapt]
shape = false
budget = true
"""


@pytest.mark.parametrize(("before", "after"), [(20, 40), (40, 20)])
def test_a_changed_step_budget_on_resume_is_the_one_trained(tmp_path, before, after):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 10, 1)).astype("float32")  # noise: no series is fitted early
    np.savez(tmp_path / "d.npz", X=X, y=np.repeat([0, 1], 12))
    text = CONFIG.format(data=tmp_path / "d.npz", steps=before)
    per_epoch = train(parse_config(text), out=tmp_path / "run", progress=False, log=None, stop_after=1).final["step"]
    whole = per_epoch * -(-after // per_epoch)  # (a budget in steps trains whole epochs)
    result = train(parse_config(CONFIG.format(data=tmp_path / "d.npz", steps=after)), out=tmp_path / "run",
                   progress=False, log=None, resume=True, allow_change=["training.steps"])
    budget = RunDir(tmp_path / "run").read_adapt()["budget"]
    assert budget["planned"] == whole and budget["total"] == whole, budget
    assert result.final["step"] == whole
    assert [e["decision"] for e in budget["events"]] == ["replanned"]
    assert budget["events"][0]["from"] == per_epoch * -(-before // per_epoch)
