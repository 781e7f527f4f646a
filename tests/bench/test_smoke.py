"""Every benchmark in bench/ at its smoke size (--smoke): a benchmark that no longer runs, or
whose own checks fail (rows stored, the usage summary, drafts against the floor, the report's
numbers), fails the suite.

Each one runs as a subprocess, as by hand, on a database of its own on the test's PostgreSQL
server: `<name>_bench_smoke_<benchmark>` (`<name>` from DATABASE_URL), never a full-size
benchmark's database nor a test database, dropped before and after. They are copied from a
migrated template, `<name>_bench_smoke_template` (`python bench/benchdb.py template`), kept
between sessions and made again when a migration file changes: a copy takes half a second where
migrating takes 4 to 15 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.workers.celery_workers import redis_answers

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # seconds for one benchmark; each takes 5 to 30 s (the machine's load decides)
MAX_NAME = 63  # PostgreSQL's identifiers

# benchmark: (its database variable, lines its output must have beside the ratio line)
BENCHMARKS = {
    "statement": ("BENCH_DATABASE_URL", [r"^selector\+pricing +median"]),
    "ingest": (
        "BENCH_INGEST_DATABASE_URL",
        [
            r"^run 2: API .*every answer 200, 1,000 rows stored, summary 1,000 chats\)",
            r"^checked: the summary of the last run equals summary_rebuild\(\)",
        ],
    ),
    "import_csv": (
        "BENCH_IMPORT_DATABASE_URL",
        [r"^ +checked: 3,000 rows stored; the summary counts the 4,000 chats stored"],
    ),
    "report": ("BENCH_REPORT_DATABASE_URL", [r"^report page +median", r"^  bench-big +median"]),
    # Needs Redis too (its own database, BENCH_REDIS_URL: db 3 by default) and starts workers.
    "issue_month": (
        "BENCH_ISSUE_DATABASE_URL",
        [r"^checked: numbers 1 to 24, one PDF each, 24 e-mails for 24 invoices", r"^2 workers: "],
    ),
    "close_month": (
        "BENCH_CLOSE_DATABASE_URL",
        [
            r"^checked: every draft's points equal the floor's",
            r"^invoice_pdf\(\) +median",
            r"^invoice_facturx_pdf\(\) +median",
            r"^ratio Factur-X / plain PDF \d",
        ],
    ),
    "dashboard": (
        "BENCH_DASHBOARD_DATABASE_URL",
        [r"^dataset \(smoke\): 60 dealers with a plan", r"^dashboard page +median"],
    ),
}
RATIO_LINE = re.compile(r"^ratio .*\d", re.MULTILINE)


def smoke_url(suffix: str) -> str:
    """The test server's URL with the database `<name>_bench_smoke_<suffix>` (shortened with a
    hash if PostgreSQL would cut it)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    base = parts.path.lstrip("/")
    tail = f"_bench_smoke_{suffix}"
    if len(base) + len(tail) > MAX_NAME:
        digest = hashlib.sha1(base.encode(), usedforsecurity=False).hexdigest()[:8]
        base = f"{base[: MAX_NAME - len(tail) - 9]}_{digest}"
    return urlunsplit(parts._replace(path=f"/{base}{tail}"))


def benchdb(*args: str) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "benchdb.py"), *args],
        cwd=ROOT,
        check=True,
        timeout=TIMEOUT,
        capture_output=True,
    )


def migrations_key() -> str:
    """A hash of the project's migration files: the template is made again when one changes."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"migrations {digest.hexdigest()}"


@pytest.fixture(scope="session")
def smoke_template() -> str:
    """The migrated database the benchmarks' databases are copied from (shared by the xdist
    workers: the first makes it, the others wait for it)."""
    url = smoke_url("template")
    benchdb("template", url, "--key", migrations_key())
    return urlsplit(url).path.lstrip("/")


def run_benchmark(script: str, env: dict[str, str]) -> tuple[int | None, str]:
    """(exit code, or None after the timeout; stdout and stderr). It runs in its own process
    group, ended whatever happens: nothing it started (gunicorn, clients) outlives the test."""
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / f"{script}.py"), "--smoke"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the benchmark stops its gunicorn on SIGTERM
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        code = None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group
    return code, output


@pytest.mark.parametrize("script", list(BENCHMARKS))
def test_benchmark_runs_at_smoke_size(script, smoke_template):
    if script == "issue_month" and not redis_answers():
        pytest.skip("no redis-server answers (make test starts it)")
    variable, expected = BENCHMARKS[script]
    url = smoke_url(script)
    env = {**os.environ, variable: url, "BENCH_TEMPLATE_DATABASE": smoke_template}
    benchdb("drop", url)  # a smoke run always generates its data: that can rot too
    try:
        code, output = run_benchmark(script, env)
    finally:
        benchdb("drop", url)
    shown = f"bench/{script}.py --smoke\n{output[-6000:]}"
    assert code is not None, f"no end after {TIMEOUT} s: {shown}"
    assert code == 0, f"exit code {code}: {shown}"
    assert RATIO_LINE.search(output), f"no ratio line: {shown}"
    for pattern in expected:
        assert re.search(pattern, output, re.MULTILINE), f"no line {pattern!r}: {shown}"
