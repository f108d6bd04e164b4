"""A file the system refuses (permission, a folder where a file is expected) is named with what
the system said, in one line, not as Python's "[Errno 13] ..." text."""

from __future__ import annotations

import errno

from rnnlab.cli import EXIT_USER_ERROR, _outcome


def test_a_refused_file_is_named_with_the_systems_reason():
    line, code = _outcome(PermissionError(errno.EACCES, "Permission denied", "ro/p.csv"))
    assert (line, code) == ("error: ro/p.csv: permission denied", EXIT_USER_ERROR)
    line, _ = _outcome(IsADirectoryError(errno.EISDIR, "Is a directory", "runs/x"))
    assert line == "error: runs/x: is a directory" and "Errno" not in line


def test_an_os_error_without_a_file_keeps_its_text():
    line, _ = _outcome(OSError("no space left for the checkpoint of run r"))
    assert line == "error: no space left for the checkpoint of run r"
