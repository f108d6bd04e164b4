"""Round 199 (a lab's K = 3 targets per recording: conc, temp, count): ``rnnlab predict`` leaves a
``.csv``'s target columns out whatever they hold, and any of them may be missing; a run an
estimator fitted on a DataFrame y names its predictions as the DataFrame's columns (the data
file's ``target_names``, which a user's ``.npz`` may hold too); a target whose spread is
negligible against its level is refused as constant."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_bad_inputs import one_line_error

from rnnlab.config import parse_config
from rnnlab.data import load_bundled
from rnnlab.data.checks import check_targets_vary
from rnnlab.errors import DataError
from rnnlab.estimators import FAST, RNNRegressor
from rnnlab.train.predict import prediction_rows
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TARGETS = ["conc", "temp", "count"]
STEPS = 12

CONFIG = """name = "lab"
[task]
kind = "regression"
[data]
path = "{path}"
{target}
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 16
threads = 1
[tracking]
enabled = false
"""


def recordings(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X [n, STEPS] (one channel) and y [n, 3]: conc, temp, count, each read off the series."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.3, 1.5, n)
    X = np.sin(f[:, None] * np.arange(STEPS)) + 0.1 * rng.normal(size=(n, STEPS))
    y = np.stack([0.01 * f, 290 + 10 * f, np.round(100 + 50 * f)], axis=1)
    return X, y


def write_csv(path: Path, X: np.ndarray, targets: dict[str, list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*targets, *(f"t{j}" for j in range(X.shape[1]))])
        for i, row in enumerate(X):
            w.writerow([*(cells[i] for cells in targets.values()), *map(str, row.tolist())])
    return path


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lab")
    X, y = recordings(48)
    path = write_csv(root / "train.csv", X, {name: list(map(str, y[:, k].tolist())) for k, name in enumerate(TARGETS)})
    cfg = parse_config(CONFIG.format(path=path, target=f"target_column = {TARGETS}"))
    run = train(cfg, out=str(root / "run"), progress=False, log=None).run_dir
    new, _ = recordings(10, seed=1)
    return {"run": Path(run), "root": root, "bare": write_csv(root / "bare.csv", new, {})}


def _new(csv_run, name: str, targets: dict[str, list[str]]) -> Path:
    new, _ = recordings(10, seed=1)
    return write_csv(csv_run["root"] / name, new, targets)


# ---------------------------------------------------------- 1, 2: predict reads X only


def test_predict_leaves_target_cells_out_whatever_they_hold(csv_run):
    expected = prediction_rows(csv_run["run"], csv_run["bare"])
    assert expected[0] == ["series", *TARGETS]
    half_empty = ["" if i % 2 else "300" for i in range(10)]  # new recordings have no reference values
    holes = _new(csv_run, "holes.csv", {"conc": ["0.01"] * 10, "temp": half_empty,
                                        "count": ["?"] + ["5"] * 9})
    assert prediction_rows(csv_run["run"], holes) == expected
    text = _new(csv_run, "text.csv", {"conc": ["n/a"] * 10, "temp": ["hot"] * 10, "count": ["1,5"] * 10})
    assert prediction_rows(csv_run["run"], text) == expected


def test_predict_takes_any_of_the_target_columns_and_the_rest_are_steps(csv_run, capsys):
    expected = prediction_rows(csv_run["run"], csv_run["bare"])
    only_conc = _new(csv_run, "conc.csv", {"conc": [""] * 10})
    assert prediction_rows(csv_run["run"], only_conc) == expected
    assert prediction_rows(csv_run["run"], _new(csv_run, "two.csv", {"count": ["1"] * 10, "temp": [""] * 10})) \
        == expected
    # a column that is no target is still no step: refused by name, as without the missing targets
    site = _new(csv_run, "site.csv", {"conc": ["1"] * 10, "site": ["a"] * 10})
    with pytest.raises(DataError, match=r"column 'site' is not a time step"):
        prediction_rows(csv_run["run"], site)
    # a target column spelt in another case would be read as a step: refused in one line, naming both
    cased = _new(csv_run, "cased.csv", {"conc": ["1"] * 10, "Temp": ["300"] * 10})
    one_line_error(["predict", str(csv_run["run"]), "--data", str(cased), "--out", str(csv_run["root"] / "o.csv")],
                   capsys, ["column 'Temp' would be read as a time step; the run's target column is 'temp'"])


# ---------------------------------------------------------- 3: the targets' names travel with the data


def test_an_estimators_run_names_its_predictions_as_the_dataframes_columns(tmp_path):
    X, y = recordings(40)
    frame = pd.DataFrame(y, columns=TARGETS)
    reg = RNNRegressor(hidden_size=4, steps=2, params=FAST, random_state=0, run_dir=tmp_path / "est")
    reg.fit(X[:, None, :], frame)
    with np.load(tmp_path / "est" / "train_data.npz") as held:
        assert held["target_names"].tolist() == TARGETS
    new = tmp_path / "new.npz"
    np.savez(new, X=recordings(5, seed=1)[0][:, :, None])
    header, rows = prediction_rows(tmp_path / "est", new)
    assert header == ["series", *TARGETS]
    # the values are the estimator's own predictions, column for column
    assert np.allclose(np.array([r[1:] for r in rows]), reg.predict(recordings(5, seed=1)[0][:, None, :]))
    # an array y has no names: its run's columns are named by position, as before
    plain = RNNRegressor(hidden_size=4, steps=2, params=FAST, random_state=0, run_dir=tmp_path / "arr")
    plain.fit(X[:, None, :], y)
    with np.load(tmp_path / "arr" / "train_data.npz") as held:
        assert "target_names" not in held.files
    assert prediction_rows(tmp_path / "arr", new)[0] == ["series", "target0", "target1", "target2"]


def test_a_users_npz_may_name_its_targets_and_names_that_do_not_fit_y_are_refused(tmp_path, capsys):
    X, y = recordings(48)
    path = tmp_path / "named.npz"
    np.savez(path, X=X, y=y, target_names=np.array(TARGETS))
    run = train(parse_config(CONFIG.format(path=path, target="")), out=str(tmp_path / "run"), progress=False,
                log=None).run_dir
    new = tmp_path / "new.npz"
    np.savez(new, X=recordings(4, seed=1)[0])
    assert prediction_rows(run, new)[0] == ["series", *TARGETS]
    for names, said in ((["conc", "temp"], "expected 3 target_names, one per target of y (shape [48, 3]), got 2: "
                                           "['conc', 'temp']"),
                        (["conc", "temp", "conc"], "target_names names 'conc' twice (at 0 and 2)"),
                        (np.array([1.0, 2.0, 3.0]), "expected 'target_names' to hold text")):
        bad = tmp_path / "bad.npz"
        np.savez(bad, X=X, y=y, target_names=np.asarray(names))
        (tmp_path / "bad.toml").write_text(CONFIG.format(path=bad, target=""))
        one_line_error(["train", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "bad_run"), "--quiet"], capsys,
                       [f"data.path ({bad}): ", said])


# ---------------------------------------------------------- 4: a target barely varying is constant


def test_a_target_whose_spread_is_negligible_against_its_level_is_refused(tmp_path, capsys):
    X, y = recordings(48)
    temp = np.full(48, 300.0)
    temp[7] = 300.0001
    path = write_csv(tmp_path / "flat.csv", X, {"conc": list(map(str, y[:, 0].tolist())),
                                                "temp": list(map(str, temp.tolist())),
                                                "count": list(map(str, y[:, 2].tolist()))})
    (tmp_path / "flat.toml").write_text(CONFIG.format(path=path, target=f"target_column = {TARGETS}"))
    one_line_error(["train", str(tmp_path / "flat.toml"), "--out", str(tmp_path / "run"), "--quiet"], capsys,
                   [f"data.path ({path}): target column 'temp' (data.target_column) barely varies: 300 to 300.0001 "
                    "(47 of 48 sequences 300)"])
    # an .npz's targets named by its target_names; unnamed, by their place in y
    npz = tmp_path / "flat.npz"
    np.savez(npz, X=X, y=np.stack([y[:, 0], temp], axis=1), target_names=np.array(["conc", "temp"]))
    with pytest.raises(DataError, match=r"target 'temp' \(y\[:, 1\]\) barely varies"):
        train(parse_config(CONFIG.format(path=npz, target="")), out=str(tmp_path / "r2"), progress=False, log=None)
    with pytest.raises(DataError, match=r": y barely varies: 300 to 300.0001"):
        check_targets_vary(temp, "data.path (t.npz)")
    # targets that vary, however high their level, pass; so does every bundled regression set's
    check_targets_vary(np.stack([1e3 + np.arange(48.0), 1e9 + 1e4 * np.arange(48.0)], axis=1), "data.path (t.npz)")
    for name in ("Covid3Month", "CardanoSentiment"):
        check_targets_vary(load_bundled(name)[0].y, name)
