"""Suite-wide checks: every input file keeps its sha256 through the whole test run (issue 14).

Raw data must never be modified. The test data (``tests/data``) and the shared real vendor
files (``../shared/realdata``, when present) are hashed when the session starts and again
when it ends; any file changed, added or removed fails the run (exit status 1) and is listed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INPUT_DIRS = (ROOT / "tests" / "data", ROOT.parent / "shared" / "realdata")


def hash_tree(folders) -> dict[str, str]:
    """Path -> sha256 of every file under ``folders`` (missing folders are skipped)."""
    out = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                h = hashlib.sha256()
                with open(p, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                out[str(p)] = h.hexdigest()
    return out


def changed_files(before: dict, after: dict) -> list[str]:
    """Files whose hash changed, or that appeared or disappeared, each with what happened."""
    out = [f"changed: {k}" for k in sorted(before) if k in after and before[k] != after[k]]
    out += [f"removed: {k}" for k in sorted(set(before) - set(after))]
    out += [f"added: {k}" for k in sorted(set(after) - set(before))]
    return out


def pytest_sessionstart(session):
    session.config._input_hashes = hash_tree(INPUT_DIRS)


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_input_hashes", None)
    if before is None:
        return
    problems = changed_files(before, hash_tree(INPUT_DIRS))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        if reporter is not None:
            reporter.write_sep("=", "input files modified by the test run", red=True)
            for line in problems:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(f"input files unchanged: {len(before)} files under "
                            + ", ".join(str(d) for d in INPUT_DIRS if d.is_dir()) + " (sha256)")
