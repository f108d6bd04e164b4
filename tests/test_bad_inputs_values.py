"""Issue 26, values and messages: database passwords in every form libpq reads never printed or
written; search spaces naming one setting twice; every numeric config key bounded; one precise
line (exit 1, no traceback, the key or file named, nothing changed) for the cases below.

The CLI cases use the battery's checks (tests/test_bad_inputs.py), in a table of their own.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import Env, _xy, config, one_line_error

from rnnlab.cli import main
from rnnlab.redact import mask

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def password_forms(base: str, secret: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """``base`` is ``postgresql://USER@HOST:PORT/DB``; one URL per form libpq reads a password in."""
    scheme, rest = base.split("://", 1)
    user, hostdb = rest.split("@", 1)
    return [
        ("userinfo", f"{scheme}://{user}:{secret}1@{hostdb}", (f"{secret}1",)),
        ("query", f"{scheme}://{user}@{hostdb}?password={secret}2", (f"{secret}2",)),
        ("query-after-another", f"{scheme}://{user}@{hostdb}?connect_timeout=5&password={secret}3", (f"{secret}3",)),
        ("query-key-encoded", f"{scheme}://{user}@{hostdb}?%70assword={secret}4", (f"{secret}4",)),
        ("percent-encoded-at", f"{scheme}://{user}:{secret}%405@{hostdb}", (f"{secret}%405", f"{secret}@5")),
        ("empty-user", f"{scheme}://:{secret}6@{hostdb}", (f"{secret}6",)),
        ("raw-at", f"{scheme}://{user}:{secret}@7@{hostdb}", (f"{secret}@7", f"{secret}")),
        ("postgres-scheme", f"postgres://{user}:{secret}8@{hostdb}", (f"{secret}8",)),
    ]


SECRET = "Hunter2xyz"


@pytest.mark.parametrize("text, hidden, kept", [
    ("postgresql://ann:Hunter2xyz@db:5432/s", "Hunter2xyz", "postgresql://ann:***@db:5432/s"),
    ("postgresql://:Hunter2xyz@db/s", "Hunter2xyz", "postgresql://:***@db/s"),
    ("postgresql://ann:Hun@ter2/xyz@db/s: error", "ter2", "@db/s: error"),
    ("postgresql://ann:Hunter%402xyz@db/s", "Hunter", "postgresql://ann:***@db/s"),
    ("postgresql://ann@db/s?password=Hunter2xyz", "Hunter2xyz", "?password=***"),
    ("postgresql://ann@db/s?sslmode=require&password=Hunter2xyz&x=1", "Hunter2xyz", "&password=***&x=1"),
    ("postgresql://ann@db/s?%70assword=Hunter2xyz", "Hunter2xyz", "?%70assword=***"),
    ("postgresql://ann@db/s?sslpassword=Hunter2xyz", "Hunter2xyz", "?sslpassword=***"),
    ("host=db user=ann password=Hunter2xyz dbname=s", "Hunter2xyz", "password=*** dbname=s"),
    ("host=db password = 'Hunter 2\\'xyz' dbname=s", "Hunter", "password = *** dbname=s"),
    ("--storage postgresql://ann:Hunter2xyz@db/s: FATAL: no access for Hunter2xyz", "Hunter2xyz", "FATAL: no access for ***"),
    ("got 'postgresql://ann:Hunter2xyz@db/s'", "Hunter2xyz", "got 'postgresql://ann:***@db/s'"),
])
def test_mask_hides_every_form_of_password(text, hidden, kept):
    masked = mask(text)
    assert hidden not in masked and kept in masked, masked
    assert mask(masked) == masked  # masking twice changes nothing


def test_mask_keeps_what_is_no_password():
    for text in ("postgresql://ann@db:5432/s", "postgresql://db/s?sslmode=require",
                 "password authentication failed for user \"ann\"", "journal file"):
        assert mask(text) == text


def _grep_tree(root: Path, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            found += [f"{p}: {s}" for s in secrets if s.encode() in data]
    return found


SEARCH = """name = "pw"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 1
batch_size = 8
threads = 1
[tracking]
health = false
grad_through_time = false
[search]
trials = 1
folds = 2
pruner = "none"
"""


#: The search of the password tests: one key in its space, so that the study page draws one
#: slice panel instead of one per key of the default space (most of each search's time; the
#: password is in none of them).
PASSWORD_SEARCH = SEARCH + """[search.space]
"model.recurrent_dropout" = { low = 0.0, high = 0.5 }
"""


def _search_everywhere(tmp_path: Path, url: str, secrets: tuple[str, ...], capsys, study: str,
                       final: bool = False) -> int:
    """``rnnlab search`` (with its final run and every report when ``final``; else no trial
    report, each costing more than the tiny trial) then ``rnnlab study`` with ``url``: the
    password is in no line printed and no file written; returns the search's exit code."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(PASSWORD_SEARCH)
    out = tmp_path / f"s-{study}"
    capsys.readouterr()
    code = main(["search", str(cfg), "--storage", url, "--study", study, "--out", str(out),
                 *([] if final else ["--no-final", "--reports", "none"])])
    printed = capsys.readouterr()
    if code == 0:
        assert main(["study", str(out)]) == 1  # the stored URL is masked: it asks for --storage
        assert "pass --storage URL" in capsys.readouterr().err
        assert main(["study", str(out), "--storage", url]) == 0
        printed_study = capsys.readouterr()
        printed = (printed.out + printed_study.out, printed.err + printed_study.err)
        assert (out / "study.html").exists() and (out / "final" / "report.html").exists() == final
    text = "\n".join(printed)
    for s in secrets:
        assert s not in text, (s, text)
    assert not _grep_tree(tmp_path, secrets)
    return code


def test_a_closed_port_prints_no_password(tmp_path, capsys):
    pytest.importorskip("psycopg2", reason="the postgres extra (psycopg2-binary) is not installed")
    for form, url, secrets in password_forms("postgresql://ann@127.0.0.1:1/none", SECRET):
        assert _search_everywhere(tmp_path, url, secrets, capsys, form) == 1, form
    conninfo = f"host=127.0.0.1 port=1 user=ann password='{SECRET}9 x' dbname=none"
    assert _search_everywhere(tmp_path, conninfo, (f"{SECRET}9",), capsys, "conninfo") == 1


def test_a_password_in_any_form_is_never_printed_or_written(tmp_path, capsys, postgres_url):
    # The test server trusts every local connection: any password is accepted, so each form
    # runs a whole search (trials, final run, reports) that could write it somewhere.
    codes = {}
    for form, url, secrets in password_forms(postgres_url, SECRET):
        codes[form] = _search_everywhere(tmp_path, url, secrets, capsys, form, final=form == "userinfo")
    # a user other than the server's, and an "@" the URL does not encode, cannot connect
    assert codes == {"userinfo": 0, "query": 0, "query-after-another": 0, "query-key-encoded": 0,
                     "percent-encoded-at": 0, "empty-user": codes["empty-user"], "raw-at": 1,
                     "postgres-scheme": 0}


# ------------------------------------------------------------------------------ numeric bounds

#: A config with every optional table present, so that every numeric key has a place to go.
RICH: dict = {
    "data": {"dataset": "UnitTest"},
    "model": {"hidden_size": 4, "num_layers": 2, "frontend": {"blocks": [{"channels": 4}]},
              "kernel_constraint": {"kind": "max_norm", "value": 3.0},
              "recurrent_constraint": {"kind": "max_norm", "value": 3.0},
              "bias_constraint": {"kind": "max_norm", "value": 3.0}},
    "training": {"epochs": 2, "decay_rules": [{"role": "recurrent"}], "schedule": {"kind": "cosine_restarts"}},
    "search": {"space": {"model.recurrent_dropout": {"low": 0.0, "high": 0.5}}},
}
#: Numbers bounded where they are used rather than where they are read: a search range is in
#: the units of the key it names, each bound checked as that key's value when the space is
#: built (see test_search_bounds_are_checked_as_the_key).
BOUNDED_BY_THE_KEY = {"search.space.*.low", "search.space.*.high"}


def numeric_keys(model=None, prefix: str = "") -> list[tuple[str, bool]]:
    """Every numeric key path of the config models (``[0]`` for a list item, ``*`` for a table
    of user keys), with whether it takes integers only."""
    from pydantic import BaseModel

    from rnnlab.config import Config, section_of

    model = model or Config
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        inner = section_of(field.annotation)
        if inner is not None:
            origin = typing.get_origin(field.annotation)
            args = typing.get_args(field.annotation)
            if origin is dict or (args and any(typing.get_origin(a) is dict for a in args)):
                out += numeric_keys(inner, f"{path}.*.")
            elif origin is list or any(typing.get_origin(a) is list for a in args):
                out += numeric_keys(inner, f"{path}[0].")
            else:
                out += numeric_keys(inner, f"{path}.")
            continue
        text = str(field.annotation)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            continue
        is_float, is_int = "float" in text, "int" in text and field.annotation is not bool
        if field.annotation is bool or not (is_float or is_int):
            continue
        out.append((path, not is_float))
    return out


def _with(raw: dict, path: str, value) -> dict:
    import copy
    import re

    raw = copy.deepcopy(raw)
    if path.startswith("model.frontend.") and not path.startswith("model.frontend.blocks"):
        raw["model"]["frontend"] = {}  # the single-block form
    node, parts = raw, re.findall(r"[^.\[\]]+|\[\d+\]", path.replace(".*.", ".model.recurrent_dropout.")
                                  if path.startswith("search.space") else path)
    keys = [int(p[1:-1]) if p.startswith("[") else p for p in parts]
    if keys[:2] == ["search", "space"]:
        keys = ["search", "space", "model.recurrent_dropout", *keys[4:]]
    for k in keys[:-1]:
        node = node[k] if isinstance(k, int) else node.setdefault(k, {})
    node[keys[-1]] = value
    return raw


def test_every_numeric_key_is_bounded_above_and_below():
    """A value far out of any sensible range, above or below, is one ConfigError naming the
    key; so a future key cannot be added without a range the run can honour."""
    from rnnlab.config import config_from_dict
    from rnnlab.errors import ConfigError

    config_from_dict(RICH)  # the base is valid
    keys = numeric_keys()
    assert len(keys) > 40 and ("model.hidden_size", True) in keys and ("model.zoneout", False) in keys
    unbounded = []
    for path, integer in keys:
        if path in BOUNDED_BY_THE_KEY:
            continue
        shown = path.replace(".*.", ".")
        for far in ((2**62, -(2**62)) if integer else (1e300, -1e300)):
            try:
                config_from_dict(_with(RICH, path, far))
            except ConfigError as e:
                name = path.split(".")[-1].split("[")[0]
                if name not in str(e):
                    unbounded.append(f"{shown} = {far}: the error does not name it: {e}")
                continue
            unbounded.append(f"{shown} = {far}")
    assert not unbounded, "numeric keys without a bound: " + "; ".join(unbounded)


def test_search_bounds_are_checked_as_the_key(tmp_path, capsys):
    """A search range's bounds are values of the key it names: refused as that key's would be."""
    for high, expected in (("1e7", ("'model.hidden_size'", "10000000", "expected a number <= 65536")),
                           ("60000", ("'model.hidden_size'", "model.hidden_size = 60000", "GiB"))):
        cfg = tmp_path / "c.toml"
        cfg.write_text(SEARCH + f'[search.space]\n"model.hidden_size" = {{ low = 4, high = {high} }}\n')
        one_line_error(["search", str(cfg), "--out", str(tmp_path / "s")], capsys, expected, kept=tmp_path)


# ------------------------------------------------------------------------------ the table

SPACE = SEARCH.replace("[search]", "[[training.decay_rules]]\nrole = \"recurrent\"\nweight_decay = 0.01\n[search]")


def search_cfg(space: str) -> Callable[[Env], list[str]]:
    return lambda env: ["search", str(env.file("c.toml", SPACE + "[search.space]\n" + space)), "--out",
                        str(env.tmp / "s"), "--no-final"]


def train_text(text: str) -> Callable[[Env], list[str]]:
    return lambda env: ["train", str(env.file("c.toml", text)), "--out", str(env.tmp / "new"), "--quiet"]


def train_data(make: Callable[[Env], Path], extra: str = "") -> Callable[[Env], list[str]]:
    """A new run on the data file ``make`` writes (its path absolute in the config)."""
    return lambda env: ["train", str(env.data_config(make(env), extra)), "--out", str(env.tmp / "new"), "--quiet"]


def _fifo(env: Env) -> Path:
    p = env.tmp / "d.npz"
    os.mkfifo(p)
    return p


def _npy_as_npz(env: Env) -> Path:
    np.save(env.tmp / "d.npy", _xy()["X"])
    return (env.tmp / "d.npy").rename(env.tmp / "d.npz")


def _lengths(values: list[float]) -> Callable[[Env], Path]:
    return lambda env: env.npz(**_xy(n=len(values), t=12), lengths=np.array(values))


def _same_test_file(env: Env) -> list[str]:
    data = env.npz(**_xy())
    (env.tmp / "link.npz").symlink_to(data)
    return ["train", str(env.data_config(data, f'test_path = "{env.tmp / "link.npz"}"')), "--out", str(env.tmp / "new")]


def _relative_missing(env: Env) -> list[str]:
    folder = env.tmp / "configs"
    folder.mkdir()
    cfg = folder / "c.toml"
    cfg.write_text(config().replace('dataset = "UnitTest"', 'path = "missing.npz"'))
    return ["train", str(cfg), "--out", str(env.tmp / "new")]


def _study_json(text: str) -> Callable[[Env], list[str]]:
    def build(env: Env) -> list[str]:
        (env.tmp / "s").mkdir()
        env.file("s/study.json", text)
        return ["study", str(env.tmp / "s")]
    return build


def _batch_norm_stride(env: Env) -> list[str]:
    text = config().replace("batch_size = 8", "batch_size = 1") + "[[model.frontend.blocks]]\nchannels = 4\nstride = 64\nnorm = \"batch\"\n"
    return ["train", str(env.file("c.toml", text.replace("[tracking]", "[tracking]", 1))), "--out", str(env.tmp / "new")]


# (id, argv builder, substrings the one line must hold)
CASES: list[tuple[str, Callable[[Env], list[str]], tuple[str, ...]]] = [
    # --- point 11: one setting named twice in a search space
    ("space-normalization-and-layer-norm", search_cfg('"model.normalization" = { choices = ["none", "layer_norm"] }\n'
                                                      '"model.layer_norm" = { choices = [false, true] }\n'),
     ("'model.normalization'", "'model.layer_norm'", "both set model.layer_norm")),
    ("space-decay-and-its-rule", search_cfg('"decay.recurrent" = { low = 1e-4, high = 1e-2, log = true }\n'
                                            '"training.decay_rules[0].weight_decay" = { low = 1e-4, high = 1e-2 }\n'),
     ("'decay.recurrent'", "'training.decay_rules[0].weight_decay'")),
    ("space-max-norm-and-constraint", search_cfg('"model.max_norm" = { choices = [false, true] }\n'
                                                 '"model.kernel_constraint" = { choices = ["none", { kind = "unit_norm" }] }\n'),
     ("'model.max_norm'", "'model.kernel_constraint'")),
    ("space-table-and-its-key", search_cfg('"model.frontend" = { choices = ["none", { channels = 4 }] }\n'
                                           '"model.frontend.kernel_size" = { low = 3, high = 5 }\n'),
     ("'model.frontend'", "'model.frontend.kernel_size'")),
    ("space-step-wider-than-range", search_cfg('"model.zoneout" = { low = 0.0, high = 0.2, step = 0.5 }\n'),
     ("search.space", "model.zoneout", "'step'")),
    # --- point 15: sizes and numbers beyond what a run can honour
    ("hidden-size-beyond-bound", train_text(config().replace("hidden_size = 4", f"hidden_size = {10**7}")),
     ("'model.hidden_size'", "expected a number <= 65536")),
    ("hidden-size-beyond-memory", train_text(config().replace("hidden_size = 4", "hidden_size = 60000")),
     ("model.hidden_size = 60000", "GiB", "memory available")),
    ("conv-channels-beyond-bound", train_text(config() + "[[model.frontend.blocks]]\nchannels = 1000000\n"),
     ("'model.frontend.blocks[0].channels'", "<= 65536")),
    ("head-hidden-beyond-bound", train_text(config(model="[model.head]\nhidden = 10000000")),
     ("'model.head.hidden'", "<= 65536")),
    ("threads-beyond-bound", train_text(config(training="threads = 100000")), ("'training.threads'", "<= 1024")),
    ("num-layers-beyond-bound", train_text(config(model="num_layers = 100000")), ("'model.num_layers'", "expected an integer in [1, 32]")),
    ("search-seed-negative", train_text(SEARCH.replace("trials = 1", "trials = 1\nseed = -1")),
     ("'search.seed'", ">= 0")),
    ("batch-of-one-strided-batch-norm", _batch_norm_stride, ("model.frontend.blocks[0].norm", "training.batch_size")),
    ("data-npy-named-npz", train_data(_npy_as_npz), ("d.npz", "single .npy array", "numpy.savez")),
    ("study-json-empty-object", _study_json("{}"), ("study.json", "'study'", "got null")),
    ("study-json-list", _study_json("[]"), ("study.json", "expected a JSON object", "a list")),
    ("study-json-storage-number", _study_json('{"study": "s", "storage": 5}'), ("study.json", "'storage'", "5")),
    # --- point 16: messages that say what is wrong
    ("data-fifo", train_data(_fifo), ("d.npz", "named pipe (FIFO)", "not a regular file")),
    ("data-dev-zero", train_data(lambda env: Path("/dev/zero")), ("/dev/zero", "character device", "not a regular file")),
    ("data-relative-missing", _relative_missing, ("configs/missing.npz", "does not exist")),
    ("lengths-not-integral", train_data(_lengths([12.0, 10.5] * 6)), ("d.npz", "expected integer lengths, got 10.5")),
    ("timeout-nan", lambda env: ["search", str(env.file("c.toml", SEARCH)), "--timeout", "nan", "--out", str(env.tmp / "s")],
     ("--timeout", "expected a finite number of seconds > 0", "nan")),
    ("timeout-inf", lambda env: ["search", str(env.file("c.toml", SEARCH)), "--timeout", "inf", "--out", str(env.tmp / "s")],
     ("--timeout", "inf")),
    ("study-missing", lambda env: ["study", str(env.tmp / "nowhere")], ("nowhere", "does not exist")),
    ("study-is-file", lambda env: ["study", str(env.file("f", "x"))], ("expected a directory, got a file",)),
    # --- point 13: labels and files
    ("csv-label-column-twice", train_data(lambda env: env.file("d.csv", "label,a,label\n0,1,2\n1,2,3\n")),
     ("d.csv", "'label' twice", "columns 1 and 3")),
    ("test-path-is-path", _same_test_file, ("data.test_path", "same file as data.path", "training data")),
]


@pytest.mark.parametrize(("case", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_value_is_one_line_naming_the_problem(case, build, expected, tmp_path, capsys):
    env = Env(tmp_path, None)
    argv = build(env)
    one_line_error(argv, capsys, expected, kept=tmp_path)


# ------------------------------------------------------------------------------ read correctly


def test_a_csv_and_a_config_with_a_byte_order_mark_are_read(tmp_path):
    from rnnlab.config import load_config
    from rnnlab.data.files import load_file

    p = tmp_path / "d.csv"
    p.write_bytes(b"\xef\xbb\xbflabel,a,b\ncat,1,2\ndog,3,4\n")
    X, y, lengths = load_file(p)
    assert y.tolist() == ["cat", "dog"] and X[:, :, 0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\xef\xbb\xbf" + config().encode())
    assert load_config(cfg).model.hidden_size == 4


def test_labels_with_spaces_are_one_class_from_either_format(tmp_path):
    from rnnlab.config import DataConfig
    from rnnlab.data import load_data

    labels = ["cat", "cat ", " dog", "dog"] * 3
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 5, 1))
    np.savez(tmp_path / "d.npz", X=X, y=np.array(labels))
    rows = "".join(f'"{lab}",' + ",".join(str(v) for v in X[i, :, 0]) + "\n" for i, lab in enumerate(labels))
    (tmp_path / "d.csv").write_text("label," + ",".join(f"t{j}" for j in range(5)) + "\n" + rows)
    for name in ("d.npz", "d.csv"):
        d = load_data(DataConfig(path=str(tmp_path / name), val_fraction=0.0), seed=0)
        assert d.classes == ["cat", "dog"], name


def test_integral_float_lengths_are_lengths(tmp_path):
    from rnnlab.data.files import load_file

    np.savez(tmp_path / "d.npz", X=np.zeros((2, 10, 1)), y=np.array([0, 1]), lengths=np.array([10.0, 7.0]))
    _, _, lengths = load_file(tmp_path / "d.npz")
    assert lengths.dtype == np.int64 and lengths.tolist() == [10, 7]


def test_a_relative_data_path_is_taken_from_the_config_folder(tmp_path, monkeypatch):
    from rnnlab.config import load_config

    folder = tmp_path / "experiment"
    folder.mkdir()
    np.savez(folder / "d.npz", **_xy())
    (folder / "c.toml").write_text(config().replace('dataset = "UnitTest"', 'path = "d.npz"\ntest_path = "d2.npz"'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("..") / "experiment" / "c.toml")
    assert cfg.data.path == str(folder / "d.npz") and cfg.data.test_path == str(folder / "d2.npz")
    # a file found only from the working directory (configs written before the rule) is read with a
    # warning and recorded absolute, so that a resume from another folder finds it
    np.savez(elsewhere / "old.npz", **_xy())
    (folder / "old.toml").write_text(config().replace('dataset = "UnitTest"', 'path = "old.npz"'))
    with pytest.warns(UserWarning, match="working directory"):
        assert load_config(folder / "old.toml").data.path == str(elsewhere / "old.npz")


def test_lengths_on_another_device_are_one_line():
    import torch

    import rnnlab

    layer = rnnlab.LSTM(3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"^lengths: expected a tensor on the CPU or on the input's device \(cpu\), got device meta$"):
        layer(torch.zeros(2, 5, 3), lengths=torch.tensor([5, 3], device="meta"))
