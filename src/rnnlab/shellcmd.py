"""Commands that rnnlab prints or writes for a user to copy into a shell.

Every word is quoted with :func:`shlex.quote`: a path holding a space, a quote, ``<``, ``&``,
``$`` or ``;`` is one word again once pasted into a POSIX shell, and a plain path reads as typed.
A line on the terminal names a path as the user gave it (relative to where they type); a page or
file read from anywhere (report.html, study.html, recipe.md, best.toml) has no working directory
of its own, so its callers pass the absolute path (``path.resolve()``, as its header shows it).
A page escapes the command for HTML after quoting it (:func:`rnnlab.htmlkit.esc`).

Example:
    >>> shell_command("rnnlab", "report", "runs/gp")
    'rnnlab report runs/gp'
    >>> print(shell_command("rnnlab", "report", "runs/my run"))
    rnnlab report 'runs/my run'
"""

from __future__ import annotations

import os
import shlex


def shell_command(*words: str | os.PathLike[str]) -> str:
    """The command line of ``words`` for copying, each word shell-quoted where it needs it.

    Splitting the result with :func:`shlex.split` (as a POSIX shell does) gives back exactly the
    words, whatever characters a path holds.

    Example:
        >>> from pathlib import Path
        >>> print(shell_command("rnnlab", "train", Path("it's") / "final.toml"))
        rnnlab train 'it'"'"'s/final.toml'
        >>> shlex.split(shell_command("rnnlab", "report", "a b;c"))
        ['rnnlab', 'report', 'a b;c']
    """
    return " ".join(shlex.quote(os.fspath(w)) for w in words)


__all__ = ["shell_command"]
