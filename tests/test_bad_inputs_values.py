"""Issue 26, values and messages: database passwords in every form libpq reads never printed or
written; search spaces naming one setting twice; every numeric config key bounded; one precise
line (exit 1, no traceback, the key or file named, nothing changed) for the cases below.

The CLI cases use the battery's checks (tests/test_bad_inputs.py), in a table of their own.
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pg import postgres_url  # noqa: F401  (the fixture)
from test_bad_inputs import digest

from rnnlab.cli import main
from rnnlab.redact import mask

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def check_one_line(argv: list[str], expected: tuple[str, ...], capsys, run: Path | None = None) -> str:
    """The battery's assertions: exit 1, one line on stderr starting ``rnnlab CMD: error:``, no
    traceback, every part of ``expected`` in it; every file of ``run`` unchanged."""
    before = digest(run) if run is not None else None
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: not expected here
        code = e.code
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 1, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert lines[0].startswith(f"rnnlab {argv[0]}: error: "), err
    for part in expected:
        assert part in lines[0], (part, lines[0])
    if run is not None:
        assert digest(run) == before
    return lines[0]


# ------------------------------------------------------------------------------ passwords

#: (a --storage value, its passwords as they could leak: as written and as decoded)
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


def _search_everywhere(tmp_path: Path, url: str, secrets: tuple[str, ...], capsys, study: str,
                       final: bool = False) -> int:
    """``rnnlab search`` (with its final run and reports when ``final``) then ``rnnlab study``
    with ``url``: the password is in no line printed and no file written; returns the search's
    exit code."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(SEARCH)
    out = tmp_path / f"s-{study}"
    capsys.readouterr()
    code = main(["search", str(cfg), "--storage", url, "--study", study, "--out", str(out),
                 *([] if final else ["--no-final"])])
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


def test_a_password_in_any_form_is_never_printed_or_written(tmp_path, capsys, postgres_url):  # noqa: F811
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
