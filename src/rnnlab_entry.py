"""The ``rnnlab`` command's entry point (the console script): a Ctrl-C from the moment this module
runs ends in one line, ``rnnlab: interrupted``, and exit code 130, never in a traceback (what the
interpreter does before it, its own start-up of some 20-50 ms, is the interpreter's).

A module of its own, outside the ``rnnlab`` package, of the standard library only: importing any
``rnnlab.*`` module first runs ``rnnlab/__init__.py``, which imports torch (1-4 s), and a Ctrl-C
then lands before any code of rnnlab runs: Python's KeyboardInterrupt, with the traceback of
whatever torch was importing. Raised inside an import it can also be caught and dropped there,
leaving a module half-initialised: the command then went on and failed with "internal error:
AttributeError: module 'numpy' has no attribute ...". So until :func:`rnnlab.cli.main` takes
SIGINT over (its first statement), a Ctrl-C exits at once: nothing has been written yet.

Example (what the console script does):
    >>> import subprocess, sys
    >>> run = subprocess.run([sys.executable, "-c", "import sys; from rnnlab_entry import main; "
    ...                       "sys.argv[1:] = ['init', '--help']; sys.exit(main())"], capture_output=True)
    >>> run.returncode, run.stdout.decode().startswith("usage: rnnlab init")
    (0, True)
"""

# _signal: the C module under `signal`, built into the interpreter; `signal` itself imports enum,
# functools and collections, 20-50 ms of the window this module is here to close.
import _signal
import os

#: the exit code of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it)
EXIT_INTERRUPTED = 130


def main() -> int:
    """Run the ``rnnlab`` command on ``sys.argv``; returns its exit code (:func:`rnnlab.cli.main`).
    SIGINT is left ignored after the command has said how it ended: the process is exiting.

    >>> import sys
    >>> sys.exit(main())  # doctest: +SKIP
    """
    if _signal.getsignal(_signal.SIGINT) not in (_signal.SIG_IGN, None):
        # (an ignored SIGINT, as `nohup` or a background job has it, stays so)
        try:
            _signal.signal(_signal.SIGINT, _interrupted_while_starting)
        except ValueError:  # not the main thread, where no handler can be set: rnnlab.cli's rules apply
            pass
    from rnnlab.cli import main as command

    return command(exiting=True)


def _interrupted_while_starting(signum: int, frame: object) -> None:
    # (os.write and os._exit: no Python-level buffer or exit handler of a half-imported module runs)
    os.write(2, b"rnnlab: interrupted\n")
    os._exit(EXIT_INTERRUPTED)
