"""Text tables line up on a terminal when cells hold characters two columns wide (CJK, emoji) or
none (combining marks): every column starts at the same display column on every row."""

from __future__ import annotations

import unicodedata

from rnnlab.compare import compare_table
from rnnlab.tables import display_width, text_table


def columns(ch: str) -> int:
    """What a terminal gives ``ch`` (the rule the tables follow, spelt out here on its own)."""
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def starts(line: str, cells: list[str]) -> list[int]:
    """The display column at which each of ``cells`` starts on ``line`` (found in order)."""
    out, at = [], 0
    for cell in cells:
        at = line.index(cell, at)
        out.append(sum(columns(ch) for ch in line[:at]))
        at += len(cell)
    return out


def assert_aligned(table: str, rows: list[list[str]]) -> None:
    lines = table.split("\n")
    assert len(lines) == len(rows)
    found = [starts(line, row) for line, row in zip(lines, rows, strict=True)]
    assert all(f == found[0] for f in found), "\n" + table + "\n" + repr(found)


def test_cjk_and_emoji_names_keep_the_columns_in_line():
    rows = [["run", "epochs", "acc"],
            ["実験-α", "3", "0.91"],
            ["rocket🚀", "12", "0.5"],
            ["cafe\u0301", "7", "0.7"],  # (a combining accent: no column of its own)
            ["plain-ascii-name", "1", "0.2"]]
    table = text_table(rows)
    assert_aligned(table, rows)
    # the widest name sets the column, and two spaces separate it from the next
    assert starts(table.split("\n")[0], rows[0])[1] == len("plain-ascii-name") + 2


def test_a_wide_header_pads_narrow_cells_under_it():
    rows = [["名前", "値"], ["a", "1"], ["bb", "22"]]
    table = text_table(rows)
    assert_aligned(table, rows)
    assert starts(table.split("\n")[1], rows[1]) == [0, 6]


def test_display_width():
    assert [display_width(s) for s in ("abc", "実験", "🚀", "e\u0301", "α", "")] == [3, 4, 2, 1, 1, 0]


def test_compare_table_with_wide_run_names_lines_up():
    base = {"epochs": 3, "train_loss": 0.5, "train_acc": 0.9, "val_acc": None, "val_acc@best_epoch": None,
            "best_epoch": None, "test_acc": 0.8, "max_group_decay": 0.0}
    names = ["実験-α", "run-🚀", "baseline"]
    table = compare_table([{**base, "run": n} for n in names])
    lines = table.split("\n")
    header = lines[0].split()
    # each data row: its name, then one value per remaining header column
    rows = [header] + [[n] + line[line.index(n) + len(n):].split() for n, line in zip(names, lines[1:], strict=True)]
    assert all(len(r) == len(header) for r in rows)
    assert_aligned(table, rows)
