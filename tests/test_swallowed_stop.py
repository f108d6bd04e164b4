"""A stop signal that lands while Python runs a weakref callback (importlib's module locks have
one, so any import can be the place): the handler's exception is swallowed there. Before, CI saw
"Exception ignored in: <function _get_module_lock.<locals>.cb ...>" with a traceback from a
search worker, and the worker went on training; now the stop is raised again where it
propagates, and nothing is printed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The handler is installed by each case; the signal then lands inside a weakref callback.
SCRIPT = """
import os, signal, sys, time, weakref
{setup}

class Thing:
    pass

def callback(ref):
    os.kill(os.getpid(), signal.SIGTERM)
    total = 0
    for i in range(100000):  # the handler runs here, inside the callback
        total += i

thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing
    for _ in range(300):
        time.sleep(0.01)
    print("not stopped")
except {caught} as e:
    print("stopped", type(e).__name__)
"""

CASES = {
    "search worker": ("from rnnlab.search.study import _Stop\nsignal.signal(signal.SIGTERM, _Stop())",
                      "KeyboardInterrupt", "stopped KeyboardInterrupt"),
    "command": ("from rnnlab.stops import StopSignals\nStopSignals((signal.SIGTERM,)).__enter__()",
                "BaseException", "stopped Interrupted"),
    "recipe worker in training": ("from rnnlab.recipe.run import _WORKER_STOP\n_WORKER_STOP.training = True\n"
                                  "signal.signal(signal.SIGTERM, _WORKER_STOP)",
                                  "BaseException", "stopped Interrupted"),
    "recipe worker between runs": ("from rnnlab.recipe.run import _WORKER_STOP\n"
                                   "signal.signal(signal.SIGTERM, _WORKER_STOP)",
                                   "SystemExit", "stopped SystemExit"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_stop_swallowed_by_a_weakref_callback_is_raised_again_without_a_traceback(case: str):
    setup, caught, expected = CASES[case]
    script = textwrap.dedent(SCRIPT).format(setup=setup, caught=caught)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == expected, done.stdout + done.stderr
    assert done.stderr == "", done.stderr


def test_other_unraisable_exceptions_are_still_reported():
    script = textwrap.dedent("""
        import signal
        from rnnlab.search.study import _Stop
        signal.signal(signal.SIGTERM, _Stop())
        import os
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            pass
        class Broken:
            def __del__(self):
                raise ValueError("from __del__")
        Broken()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "ValueError: from __del__" in done.stderr, done.stderr
