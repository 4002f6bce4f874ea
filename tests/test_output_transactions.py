"""Output folders are transactions (issue 14 findings 1, 2, 3, 4, 6, 8: data loss, loud failures,
stale outputs, the lock, interrupts and full disks, empty --out).

The interrupt tests run the CLI in subprocesses that pause at named points of a run
(``TRACERDIFF_PAUSE_AT``, :func:`tracerdiff.report.transaction.checkpoint`), send SIGINT or
SIGTERM there, and compare every file of the output folder (sha256) with the previous complete
output and with a complete new output: it must equal one of them exactly, never a mix.
"""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.errors import OutputError
from tracerdiff.report import atomic
from tracerdiff.study.runner import AnalysisFailed, run_study
from tracerdiff.study.synthetic import write_synthetic_study

CLI = [sys.executable, "-c", "from tracerdiff.cli import main; main()"]


def _minimal_study(folder: Path, full: Path, title: str) -> Path:
    """One exchange scan and two NMR points (a run of ~2 s), data copied from the synthetic study."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(full.parent / "scan_ex110h.csv", folder / "scan_ex110h.csv")
    (folder / "study.toml").write_text(f'''title = "{title}"
[sample]
material = "LLTO"
grain_size = "16 um"
grain_size_sd = "11 um"
gb_thickness = "0.5 nm"
li_density = "5e21 cm^-3"
natural_fraction = 0.0759
enriched_fraction = 0.95
[[steps]]
name = "ex59h"
kind = "exchange"
temperature = "22 degC"
duration = "59 h"
[[steps]]
name = "ex110h"
kind = "exchange"
temperature = "22 degC"
duration = "51 h"
[[measurements.line_scans]]
name = "scan_ex110h"
after = "ex110h"
file = "scan_ex110h.csv"
[[reference.series]]
name = "nmr"
kind = "d_nmr"
points = [{{temperature = "22 degC", value = "2.6e-8 cm^2/s", stderr = "0.1e-8 cm^2/s"}},
          {{temperature = "100 degC", value = "3.1e-7 cm^2/s", stderr = "0.1e-7 cm^2/s"}}]
''')
    return folder / "study.toml"


def snapshot(folder: Path) -> dict:
    """Relative path -> sha256 of every file under ``folder`` (folders themselves by name)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    base = tmp_path_factory.mktemp("studies")
    full = write_synthetic_study(base / "full", seed=3, image=False)
    new = _minimal_study(base / "new", full, "new study")
    old_out = base / "old-output"
    run_study(full, old_out, quiet=True)  # the previous complete output: impedance, evolution, ...
    new_out = base / "new-output"
    run_study(new, new_out, quiet=True)  # what a complete run of the new study gives
    return {"full": full, "new": new, "old": snapshot(old_out), "old_out": old_out, "new_snap": snapshot(new_out)}


def test_rerun_leaves_no_outputs_of_analyses_not_done(studies, tmp_path):
    # Finding 3: a re-run kept the old impedance/evolution tables and figures next to the new results.json.
    out = tmp_path / "out"
    shutil.copytree(studies["old_out"], out)
    assert any("impedance" in k for k in studies["old"])
    run_study(studies["new"], out, quiet=True)
    assert snapshot(out) == studies["new_snap"]
    assert not any("impedance" in k or "evolution" in k for k in snapshot(out))


def _start(args, pause_at, flag: Path, env_extra=None):
    env = {**os.environ, "TRACERDIFF_PAUSE_AT": pause_at, "TRACERDIFF_PAUSE_FILE": str(flag), **(env_extra or {})}
    return subprocess.Popen(CLI + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(flag: Path, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not flag.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited before pausing (rc {proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("never reached the pause point")
        time.sleep(0.02)


# Points of a run (in order) and which output each must leave when interrupted there:
# before the swap the previous output, from the swap on (signals are held during it) the new one.
POINTS = [("staging", "old"), ("data-loaded", "old"), ("analysis:erfc", "old"), ("tables", "old"),
          ("report", "old"), ("before-commit", "old"), ("commit", "new"), ("committed", "new")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_anywhere_leaves_old_or_new_complete_output(studies, tmp_path, sig):
    # Finding 6: SIGINT kept the old results.json next to new figures, or left finished figures in a
    # fresh folder. All points run in parallel (one subprocess each) to keep the test short.
    cases = []
    for i, (point, expect) in enumerate(POINTS):
        case = tmp_path / f"c{i}"
        case.mkdir()
        shutil.copytree(studies["old_out"], case / "out")
        flag = case / "paused"
        cases.append((point, expect, case, flag,
                      _start(["run", str(studies["new"]), "--out", str(case / "out"), "--quiet"], point, flag)))
    problems = []
    for point, expect, case, flag, proc in cases:
        _wait_for(flag, proc)
        proc.send_signal(sig)
        time.sleep(0.05)
        flag.unlink()  # resume (a pause with signals held only sees the signal afterwards)
        _, err = proc.communicate(timeout=120)
        got = snapshot(case / "out")
        want = studies["old"] if expect == "old" else studies["new_snap"]
        if got != want:
            which = {True: "the new", False: "the old"}.get(got == studies["new_snap"], "a mix") \
                if got in (studies["new_snap"], studies["old"]) else "a mix"
            problems.append(f"{point}: expected the {expect} output, got {which}")
        if proc.returncode != 130 or "interrupted" not in err:
            problems.append(f"{point}: exit {proc.returncode}, stderr {err!r}")
        leftovers = sorted(p.name for p in case.iterdir() if p.name not in ("out",))
        if leftovers:
            problems.append(f"{point}: left {leftovers} beside the output")
    assert not problems, problems


def test_interrupt_of_a_first_run_leaves_nothing(studies, tmp_path):
    flag = tmp_path / "paused"
    proc = _start(["run", str(studies["new"]), "--out", str(tmp_path / "fresh"), "--quiet"], "report", flag)
    _wait_for(flag, proc)
    proc.send_signal(signal.SIGINT)
    flag.unlink()
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no half output, no staging folder, no lock


def test_killed_run_leaves_a_named_staging_folder_that_the_next_run_removes(studies, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(studies["old_out"], out)
    flag = tmp_path / "paused"
    proc = _start(["run", str(studies["new"]), "--out", str(out), "--quiet"], "tables", flag)
    _wait_for(flag, proc)
    proc.kill()  # SIGKILL: no cleanup possible
    proc.communicate(timeout=60)
    staging = [p for p in tmp_path.iterdir() if ".tracerdiff-staging-" in p.name]
    assert len(staging) == 1 and staging[0].name == f"out.tracerdiff-staging-{proc.pid}"
    assert snapshot(out) == studies["old"]
    run_study(studies["new"], out, quiet=True)
    assert snapshot(out) == studies["new_snap"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "paused"]


def test_crash_between_the_two_renames_of_the_fallback_swap_is_repaired(studies, tmp_path, monkeypatch):
    # Without renameat2 the swap is two renames; a crash between them leaves the previous output
    # under <name>.tracerdiff-previous-<pid>. The next run puts it back before anything else, so even
    # a run that then fails (here --fail-fast on a broken analysis) leaves it in place.
    from tracerdiff.study import derived

    shutil.copytree(studies["old_out"], tmp_path / "out.tracerdiff-previous-4242")
    monkeypatch.setattr(derived, "haven", lambda ctx: 1 / 0)
    with pytest.raises(AnalysisFailed):
        run_study(studies["full"], tmp_path / "out", quiet=True, fail_fast=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert snapshot(tmp_path / "out") == studies["old"]


def test_fallback_swap_without_renameat2(studies, tmp_path, monkeypatch):
    from tracerdiff.report import transaction

    monkeypatch.setattr(transaction, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    shutil.copytree(studies["old_out"], out)
    run_study(studies["new"], out, quiet=True)
    assert snapshot(out) == studies["new_snap"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_full_disk_keeps_the_previous_output_and_names_the_file(studies, tmp_path, monkeypatch):
    # Finding 6: ENOSPC gave "[Errno 28]" without a path and left figures/ and tables/ without results.json.
    out = tmp_path / "out"
    shutil.copytree(studies["old_out"], out)
    real_fsync = os.fsync

    def full(fd):
        if "erfc_scan_ex110h.png" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OutputError) as info:
        run_study(studies["new"], out, quiet=True)
    text = str(info.value)
    assert "No space left on device (errno 28)" in text and "erfc_scan_ex110h.png" in text
    assert snapshot(out) == studies["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    res = CliRunner().invoke(app, ["run", str(studies["new"]), "--out", str(out), "--quiet"])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "errno 28" in lines[0] and "figures" in lines[0], res.output
    assert snapshot(out) == studies["old"]


def test_second_run_on_a_locked_folder_fails_at_once(studies, tmp_path):
    # Finding 4: two runs on one folder both exited 0 and left a mix of the two studies.
    out = tmp_path / "out"
    flag = tmp_path / "paused"
    first = _start(["run", str(studies["full"]), "--out", str(out), "--quiet"], "analysis:erfc", flag)
    _wait_for(flag, first)
    t0 = time.monotonic()
    second = subprocess.run(CLI + ["run", str(studies["new"]), "--out", str(out), "--quiet"], capture_output=True,
                            text=True, timeout=120)
    elapsed = time.monotonic() - t0
    flag.unlink()
    first.communicate(timeout=120)
    assert second.returncode == 2 and f"another tracerdiff process (PID {first.pid})" in second.stderr
    assert elapsed < 30  # fails before reading any data (interpreter start-up only)
    assert first.returncode == 0
    assert json.loads((out / "results.json").read_text())["study"].startswith("Synthetic LLTO")  # the first run's
    assert not (tmp_path / ".out.tracerdiff-lock").exists()  # released and removed


def test_output_folder_holding_the_study_inputs_is_refused(studies, tmp_path):
    # Finding 1: run --out <the study's own folder> replaced tables/impedance.csv (an input) and exited 0.
    study_dir = tmp_path / "study"
    shutil.copytree(studies["full"].parent, study_dir)
    (study_dir / "tables").mkdir()
    shutil.move(study_dir / "is_p22C.csv", study_dir / "tables" / "impedance.csv")
    toml = study_dir / "study.toml"
    toml.write_text(toml.read_text().replace('"is_p22C.csv"', '"tables/impedance.csv"'))
    before = snapshot(study_dir)
    for out in (study_dir, study_dir / "tables", tmp_path):
        res = CliRunner().invoke(app, ["run", str(toml), "--out", str(out), "--quiet"])
        assert res.exit_code == 2, res.output
        assert "contains the input file" in res.stderr
        assert snapshot(study_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study"]


@pytest.mark.parametrize("out", ["", ".", "  ", "bad\nname", "trailing "])
def test_empty_or_odd_out_is_refused(studies, tmp_path, monkeypatch, out):
    # Finding 8: run --out '' wrote everything into the current directory.
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["run", str(studies["new"]), "--out", out, "--quiet"])
    assert res.exit_code == 2 and "--out" in res.stderr, res.output
    assert list(tmp_path.iterdir()) == []


def test_current_folder_and_its_parents_are_refused(studies, tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for out in (str(tmp_path / "work"), str(tmp_path), "..", "/"):
        res = CliRunner().invoke(app, ["run", str(studies["new"]), "--out", out, "--quiet"])
        assert res.exit_code == 2, (out, res.output)
    assert list((tmp_path / "work").iterdir()) == []


def test_failed_analysis_exits_1_and_keeps_the_rest(studies, tmp_path, monkeypatch):
    # Finding 2: an exception inside an analysis was filed as "skipped", exit 0, silent with --quiet.
    from tracerdiff.study import derived

    def broken(ctx, **kwargs):
        raise OverflowError("math range error")

    monkeypatch.setattr(derived, "cryo", broken)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(studies["full"]), "--out", str(out), "--quiet"])
    assert res.exit_code == 1, res.output
    assert "failed: cryo_validity: broken raised OverflowError: math range error" in res.stderr
    results = json.loads((out / "results.json").read_text())
    entry = results["analyses"]["cryo_validity"]
    assert entry["status"] == "failed" and "OverflowError: math range error" in entry["error"]
    assert "cryo_validity" in results["failed"] and "cryo_validity" not in results["skipped"]
    assert results["analyses"]["erfc"]["status"] == "done" and (out / "figures" / "arrhenius.png").is_file()


def test_fail_fast_stops_and_keeps_the_previous_output(studies, tmp_path, monkeypatch):
    from tracerdiff.study import reference

    calls = []

    def broken(ctx, **kwargs):
        raise ValueError("simulated bug")

    monkeypatch.setattr(reference, "analyse_impedance", broken)
    from tracerdiff.study import imaging
    real_scans = imaging.analyse_scans
    monkeypatch.setattr(imaging, "analyse_scans", lambda *a, **k: (calls.append(1), real_scans(*a, **k)))
    out = tmp_path / "out"
    shutil.copytree(studies["old_out"], out)
    res = CliRunner().invoke(app, ["run", str(studies["full"]), "--out", str(out), "--quiet", "--fail-fast"])
    assert res.exit_code == 1 and "failed: impedance" in res.stderr and "--fail-fast" in res.stderr, res.output
    assert calls == []  # stopped at the first failure: the line scans were never analysed
    assert snapshot(out) == studies["old"]
    with pytest.raises(AnalysisFailed):
        run_study(studies["full"], out, quiet=True, fail_fast=True)


def test_simulate_and_convert_are_transactions_too(tmp_path):
    runner = CliRunner()
    sim = tmp_path / "sim"
    args = ["simulate", "--out", str(sim), "--shape", "40x60", "--n-steps", "5", "--seed", "1"]
    assert runner.invoke(app, args).exit_code == 0
    first = snapshot(sim)
    assert ".tracerdiff-output" in first and "truth.json" in first
    (sim / "notes.txt").write_text("mine")
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "did not write" in res.stderr  # the user's file is not deleted by a swap
    (sim / "notes.txt").unlink()
    assert runner.invoke(app, ["simulate", "--out", "", "--shape", "40x60"]).exit_code == 2
    # convert: the input cannot be the output, a held lock fails at once, the output is atomic.
    res = runner.invoke(app, ["convert", str(sim / "6Li.tif"), str(sim / "6Li.tif")])
    assert res.exit_code == 2
    import fcntl

    target = tmp_path / "c.h5"
    fd = os.open(tmp_path / ".c.h5.tracerdiff-lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"12345\n")
        res = subprocess.run(CLI + ["convert", str(sim / "6Li.tif"), str(target), "--pixel-size-um", "1"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and "PID 12345" in res.stderr and not target.exists()
    finally:
        os.close(fd)
    res = runner.invoke(app, ["convert", str(sim / "6Li.tif"), str(target), "--pixel-size-um", "1"])
    assert res.exit_code == 0 and target.is_file()


def test_simulate_interrupted_keeps_the_previous_output(tmp_path):
    sim = tmp_path / "sim"
    base = ["simulate", "--out", str(sim), "--shape", "40x60", "--n-steps", "5"]
    assert CliRunner().invoke(app, base + ["--seed", "1"]).exit_code == 0
    before = snapshot(sim)
    for sig in (signal.SIGINT, signal.SIGTERM):
        flag = tmp_path / "paused"
        proc = _start(base + ["--seed", "2"], "before-commit", flag)
        _wait_for(flag, proc)
        proc.send_signal(sig)
        flag.unlink()
        proc.communicate(timeout=120)
        assert proc.returncode == 130
        assert snapshot(sim) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]
