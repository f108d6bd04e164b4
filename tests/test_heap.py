"""The heap policy of a training process (rnnlab.heap, issue 23): freed memory is kept mapped for
the next step instead of being faulted in anew, and the run's timing.json says which policy ran."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tiny_run

from rnnlab import heap
from rnnlab.config import parse_config
from rnnlab.rundir import RunDir

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="the heap policy is glibc's mallopt")

# A "step" that allocates 16 blocks of 2 MB, writes them and frees them all, ten times; prints the
# page faults of the last nine. Plain malloc through ctypes: the heap torch's CPU tensors come from.
STEPS = """
import ctypes, resource, sys
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "kept":  # rnnlab/heap.py alone: importing the package would import torch (seconds)
    import importlib.util
    spec = importlib.util.spec_from_file_location("heap", sys.argv[2])
    heap = importlib.util.module_from_spec(spec)
    sys.modules["heap"] = heap  # (dataclasses looks its module up)
    spec.loader.exec_module(heap)
    assert heap.keep_freed_memory().kept
faults = 0
for step in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(2 << 20) for _ in range(16)]
    for b in blocks:
        ctypes.memset(b, 1, 2 << 20)
    for b in blocks:
        libc.free(b)
    faults += (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) if step else 0
print(faults)
"""


def _faults(policy: str) -> int:
    out = subprocess.run([sys.executable, "-c", STEPS, policy, heap.__file__], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_freed_blocks_are_reused_without_page_faults_once_the_policy_is_set():
    default, kept = _faults("default"), _faults("kept")
    # glibc's default returns the 32 MB freed at the heap's top to the kernel after every step and
    # faults its 8192 pages in again at the next (9 steps: ~74 000); kept, the pages stay mapped
    assert default > 9 * 4096, default
    assert kept < 1000, (default, kept)


def test_a_run_records_its_heap_policy_in_timing_json(tmp_path):
    tiny_run.run(parse_config(tiny_run.tiny_toml(training="epochs = 1")), tmp_path)
    timing = RunDir(tmp_path).read_timing()
    assert timing is not None and timing["heap"] == heap.HeapPolicy(True).describe()
