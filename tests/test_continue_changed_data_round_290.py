"""A continued search or recipe and the data its runs trained and were tested on (round 290): a
data.path or data.test_path file whose contents changed since is refused before anything trains;
a recipe's test run of another config is kept beside, never trained over, and every test
evaluation recorded and said."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.errors import RunDirError
from rnnlab.recipe.run import RecipeOptions, run_recipe_command
from rnnlab.search.study import SearchOptions, run_search
from rnnlab.search.trained_data import TRAINED_DATA, check_trained_data

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = """name = "tiny"
[data]
{data}
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
[tracking]
weights_every = 0
grads_every = 0
health = false
grad_through_time = false
[search]
folds = 2
reports = "none"
"""


def _npz(path: Path, seed: int, shuffled: bool = False) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(24, 12, 1)).astype(np.float32)
    y = (X.mean(axis=(1, 2)) > 0).astype(np.int64)
    np.savez(path, X=X, y=rng.permutation(y) if shuffled else y)


def _config(tmp_path: Path, data: str) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(TINY.format(data=data))
    return config


def test_the_record_refuses_changed_contents_and_passes_a_moved_copy(tmp_path):
    _npz(tmp_path / "train.npz", 0)
    _npz(tmp_path / "test.npz", 1)
    out = tmp_path / "study"
    out.mkdir()

    def config(train: str = "train.npz", test: str = "test.npz"):
        return parse_config(f'[data]\npath = "{tmp_path / train}"\ntest_path = "{tmp_path / test}"')

    assert check_trained_data(out, config(), trained=False, what="study") is None
    assert set(json.loads((out / TRAINED_DATA).read_text())) == {"data.path", "data.test_path"}
    (tmp_path / "copy.npz").write_bytes((tmp_path / "train.npz").read_bytes())
    assert check_trained_data(out, config("copy.npz"), trained=True, what="study") is None  # (same bytes)
    _npz(tmp_path / "train.npz", 0, shuffled=True)
    with pytest.raises(RunDirError) as e:
        check_trained_data(out, config(), trained=True, what="study")
    said = str(e.value)
    assert "\n" not in said
    assert said.startswith(f"data.path: {tmp_path / 'train.npz'} is not the file this study's runs trained on: "
                           "its contents changed (SHA-256 "), said
    assert said.endswith("restore the file's earlier contents, or start a new study on these data with another --out")
    _npz(tmp_path / "train.npz", 0)
    _npz(tmp_path / "test.npz", 2)
    with pytest.raises(RunDirError, match=r"^data\.test_path: .*test\.npz is not the file this recipe's runs "
                                          r"evaluated the test split on: its contents changed"):
        check_trained_data(out, config(), trained=True, what="recipe")
    # no run evaluated the test split yet (--no-final): the new test file is recorded, then held to
    assert check_trained_data(out, config(), trained=True, what="study", tested=False) is None
    assert check_trained_data(out, config(), trained=True, what="study") is None
    # a directory from before the record: one line says it cannot be checked, nothing is refused
    (out / TRAINED_DATA).unlink()
    note = check_trained_data(out, config(), trained=True, what="study")
    assert note is not None and "cannot be checked" in note and not (out / TRAINED_DATA).exists()


def test_a_continued_search_refuses_a_training_file_whose_contents_changed(tmp_path):
    _npz(tmp_path / "train.npz", 0)
    config = _config(tmp_path, f'path = "{tmp_path / "train.npz"}"')
    out = tmp_path / "s"
    run_search(SearchOptions(str(config), trials=1, out=str(out), final=False), log=None)
    _npz(tmp_path / "train.npz", 0, shuffled=True)  # (the same X, the labels shuffled)
    with pytest.raises(RunDirError, match=r"^data\.path: .*train\.npz is not the file this study's runs trained on"):
        run_search(SearchOptions(str(config), trials=2, out=str(out), final=False), log=None)
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000"]  # (nothing trained)


def test_a_rerun_recipe_refuses_a_changed_test_file_and_keeps_each_test_run_it_would_train_over(tmp_path):
    _npz(tmp_path / "train.npz", 0)
    _npz(tmp_path / "test.npz", 1)
    data = f'path = "{tmp_path / "train.npz"}"\ntest_path = "{tmp_path / "test.npz"}"'
    config = _config(tmp_path, data)
    out = tmp_path / "rec"
    options = RecipeOptions(config=str(config), seeds=1, steps="zoneout", out=str(out))
    run_recipe_command(options, log=None)
    first = json.loads((out / "recipe.json").read_text())["tests"]

    # another base config (its baseline and final configs differ): the test runs are kept beside
    config.write_text(TINY.format(data=data).replace("hidden_size = 4", "hidden_size = 5"))
    lines: list[str] = []
    outcome = run_recipe_command(options, log=lines.append)
    assert (out / "test" / "final-earlier" / "summary.json").is_file()
    assert (out / "test" / "baseline-earlier" / "summary.json").is_file()
    record = json.loads((out / "recipe.json").read_text())["tests"]
    for name in ("baseline", "final"):
        evaluations = record[name]["test_evaluations"]
        assert [e["run_dir"] for e in evaluations] == [f"test/{name}-earlier", f"test/{name}"], evaluations
        assert evaluations[0]["test"] == first[name]["test"] and evaluations[1]["test"] == record[name]["test"]
        said = [line for line in lines if line.startswith(f"{name}: ")]
        assert said and f"the test split has now been evaluated 2 times for the recipe's {name}: " in said[-1], lines
    assert outcome.tests["final"]["test_evaluations"] == record["final"]["test_evaluations"]
    # and recipe.md and recipe.html say so, not "evaluated once"
    md, page = (out / "recipe.md").read_text(), (out / "recipe.html").read_text()
    assert "(evaluated up to 2 times) |" in md and "evaluated once" not in md, md
    assert "(up to 2 times)</th>" in page and "The test split has now been evaluated 2 times for the recipe&#x27;s " \
        "final" in page

    _npz(tmp_path / "test.npz", 2)
    with pytest.raises(RunDirError, match=r"^data\.test_path: .*test\.npz is not the file this recipe's runs "
                                          r"evaluated the test split on"):
        run_recipe_command(options, log=None)
