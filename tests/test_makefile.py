"""`make run` honours HOST and PORT, and prints the addresses that reach what it serves."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")


def dry_run(*variables) -> str:
    """The commands `make run` would run (-n: printed, not run)."""
    # Not the variables of a `make test` this suite may run under.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        [MAKE, "-n", "run", *variables],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(MAKE is None, reason="needs make")
@pytest.mark.parametrize(
    "variables, url, listen",
    [
        ((), "http://127.0.0.1:8000", "127.0.0.1:8000"),
        (("PORT=8001",), "http://127.0.0.1:8001", "127.0.0.1:8001"),
        (("HOST=localhost", "PORT=9000"), "http://localhost:9000", "localhost:9000"),
        # Listening on every interface: the address printed is one a browser here can open.
        (("HOST=0.0.0.0", "PORT=8001"), "http://127.0.0.1:8001", "0.0.0.0:8001"),
    ],
)
def test_make_run_serves_and_prints_where_asked(variables, url, listen):
    commands = dry_run(*variables)
    assert f"manage.py load_demo --url {url}\n" in commands
    assert f"manage.py runserver {listen}\n" in commands
