"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, a free port on
127.0.0.1, run as a non-root user (the server refuses root), stopped and removed afterwards.
One server per test session (each pytest-xdist worker is a session: its own server), shared
by the modules that use it (tests/conftest.py imports the fixture: one definition, where an
import in each module made one per module): each test names its own studies.

`make test` installs Debian's server (package postgresql) when it is missing; without it the
tests that need a database are skipped with the reason. Never a mock.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "postgres"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(dirs[-1]) if dirs else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user(args: list[str]) -> list[str]:
    """Run as the ``postgres`` user when we are root (created with useradd when missing)."""
    if os.geteuid() != 0:
        return args
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)
    return ["runuser", "-u", USER, "--", *args]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL server's ``postgres`` database (trust auth on 127.0.0.1)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing on CI: `make postgres` should have installed it")
        pytest.skip("PostgreSQL server not installed (make test installs Debian's postgresql)")
    if os.environ.get("CI"):
        import psycopg2  # noqa: F401  (on CI the postgres extra must be installed: fail, not skip)
    pytest.importorskip("psycopg2", reason="the postgres extra (psycopg2-binary) is not installed")
    root = Path(tempfile.mkdtemp(prefix="rnnlab-pg-"))
    if os.geteuid() == 0:
        _as_user(["true"])  # make sure the user exists before chown
        shutil.chown(root, user=USER)
    os.chmod(root, 0o700)
    data = root / "data"
    try:
        subprocess.run(_as_user([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                                 "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
        # Each pytest-xdist worker starts its own server: a port another process took between
        # _free_port and the server's bind fails the start, and the next free port is tried.
        for attempt in range(3):
            port = _free_port()
            started = subprocess.run(_as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                                               "-w", "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
                                               "-c fsync=off", "start"]), capture_output=True)
            if started.returncode == 0:
                break
            if attempt == 2:
                log = (root / "log").read_text() if (root / "log").exists() else ""
                pytest.fail(f"PostgreSQL did not start: {started.stderr.decode()}{log[-2000:]}")
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
