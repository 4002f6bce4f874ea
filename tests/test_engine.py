"""The parallel engine from the CLI: --scheduler ADDRESS on run and simulate, ensembles, progress."""

import json

import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.cli.simulate_cmds import parse_seeds
from tracerdiff.errors import InputError
from tracerdiff.parallel import engine, in_worker, map_tasks, stage

SMALL = ["--shape", "40x60", "--n-steps", "6", "--grain-size", "12um"]


def _where(i):
    return i, in_worker()


@pytest.fixture(scope="module")
def cluster():
    # An existing cluster, as a user's `dask scheduler` + `dask worker` would be: 2 spawned processes.
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=50) as c:
        yield c


def test_engine_is_ambient_and_nested_work_stays_on_the_worker(cluster):
    from distributed import Client

    assert map_tasks(_where, [1, 2]) == [(1, False), (2, False)]  # no engine: in process
    with Client(cluster.scheduler_address) as client, engine(scheduler=client):
        assert map_tasks(_where, [1, 2, 3]) == [(1, True), (2, True), (3, True)]
    assert map_tasks(_where, [1, 2]) == [(1, False), (2, False)]  # the engine ends with its block


def test_stage_reports_label_done_total():
    seen = []
    tick = stage(lambda *a: seen.append(a), "images", 2)
    tick()
    tick()
    tick()  # more ticks than announced never report beyond the total
    assert seen == [("images", 0, 2), ("images", 1, 2), ("images", 2, 2), ("images", 2, 2)]
    stage(None, "x", 3)()  # no callback: a no-op


def test_simulate_ensemble_same_bytes_in_process_and_on_a_scheduler(cluster, tmp_path):
    runner = CliRunner()
    local = runner.invoke(app, ["simulate", "--out", str(tmp_path / "a"), "--seeds", "0-2",
                                "--dgb-over-delta", "1.5e-6 cm/s, 3e-6 cm/s", "--workers", "1", "--json", *SMALL])
    assert local.exit_code == 0, local.output
    remote = runner.invoke(app, ["simulate", "--out", str(tmp_path / "b"), "--seeds", "0-2",
                                 "--dgb-over-delta", "1.5e-6 cm/s, 3e-6 cm/s", "--scheduler",
                                 cluster.scheduler_address, *SMALL])
    assert remote.exit_code == 0, remote.output
    assert "dask cluster" in remote.output or "dashboard" in remote.output  # where the work went, said once
    members = json.loads(local.output)["members"]
    assert [m["member"] for m in members] == [f"g{g}-seed-{s}" for g in (0, 1) for s in (0, 1, 2)]
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len([f for f in files if f.name == "image.h5"]) == 6
    for rel in files:
        a, b = (tmp_path / "a" / rel).read_bytes(), (tmp_path / "b" / rel).read_bytes()
        assert a == b, _describe_difference(rel, a, b)
    # A member equals the same simulation run alone (the single-run command, same seed and value).
    alone = runner.invoke(app, ["simulate", "--out", str(tmp_path / "c"), "--seed", "1",
                                "--dgb-over-delta", "3e-6 cm/s", *SMALL])
    assert alone.exit_code == 0, alone.output
    for name in ("6Li.tif", "7Li.tif", "image.h5", "truth.json"):
        assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "a" / "g1-seed-1" / name).read_bytes()
    # Different seeds are different microstructures; a larger conductance lets more tracer in.
    by_name = {m["member"]: m for m in members}
    assert len({m["mean_c"] for m in members[:3]}) == 3
    assert all(by_name[f"g1-seed-{s}"]["mean_c"] > by_name[f"g0-seed-{s}"]["mean_c"] for s in range(3))


def _describe_difference(rel, a: bytes, b: bytes) -> str:
    """Where two outputs differ: the first byte, and for HDF5 which object or attribute (or only the layout)."""
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    text = f"{rel}: {len(a)} vs {len(b)} bytes, first difference at byte {first}"
    if rel.suffix != ".h5":
        return text
    import io

    import h5py
    import numpy as np

    def objects(data):
        out = {}
        with h5py.File(io.BytesIO(data), "r") as f:
            out["/ attrs"] = {k: repr(v) for k, v in f.attrs.items()}
            for name, obj in f.items():
                refs = ("DIMENSION_LIST", "REFERENCE_LIST")  # object references: addresses, compared via the layout
                out[name] = {"address": h5py.h5o.get_info(obj.id).addr, "data": np.asarray(obj[()]).tobytes(),
                             "attrs": {k: repr(v) for k, v in obj.attrs.items() if k not in refs}}
        return out

    oa, ob = objects(a), objects(b)
    def same_content(k):
        return k in oa and k in ob and {**oa[k], "address": 0} == {**ob[k], "address": 0}

    content = [k for k in sorted(set(oa) | set(ob)) if not same_content(k)]
    layout = {k: (oa[k]["address"], ob[k]["address"]) for k in oa if k in ob and k != "/ attrs"
              and oa[k]["address"] != ob[k]["address"]}
    return f"{text}; objects whose data/attributes differ: {content}; object addresses that differ: {layout}"


def _slow_profiler(on):
    """In a worker: the profiler holds the task thread's frames 3 ms longer per sample (a loaded machine)."""
    import time

    import distributed.profile as profile

    if on:
        original = profile.process

        def process(*args, **kwargs):
            time.sleep(0.003)
            return original(*args, **kwargs)

        process.original = original
        profile.process = process
    else:
        profile.process = getattr(profile.process, "original", profile.process)


def _image_h5_hashes(n):
    """sha256 of the same simulated image written ``n`` times by the package's HDF5 writer."""
    import hashlib
    import tempfile
    from pathlib import Path

    import numpy as np

    from tracerdiff.io.hdf import write
    from tracerdiff.io.image import make_image

    rng = np.random.default_rng(11)
    ds = make_image({"6Li": rng.poisson(40, (40, 60)), "7Li": rng.poisson(60, (40, 60))}, 0.5, fmt="synthetic")
    with tempfile.TemporaryDirectory() as tmp:
        return [hashlib.sha256(write(ds, Path(tmp) / f"{i}.h5").read_bytes()).hexdigest() for i in range(n)]


def test_hdf5_bytes_in_a_worker_do_not_depend_on_its_profiler(cluster):
    # The cause of a once-failing byte comparison above: dask's worker profiler holds the task
    # thread's frames while it samples; on a loaded machine long enough that h5netcdf's deleted
    # placeholder datasets stayed open and the file's layout changed. Before the fix 277 of 300
    # writes in a worker with this slowed profiler differed from the first; now none may.
    from distributed import Client

    reference = _image_h5_hashes(1)[0]
    with Client(cluster.scheduler_address) as client:
        client.run(_slow_profiler, True)
        try:
            hashes = client.submit(_image_h5_hashes, 40, pure=False).result()
        finally:
            client.run(_slow_profiler, False)
    assert set(hashes) == {reference}, f"{len(set(hashes))} different files from the same data"


def test_campaign_on_a_scheduler_address_matches_in_process(cluster, tmp_path):
    from tracerdiff.study.synthetic import write_synthetic_study

    studies = [str(write_synthetic_study(tmp_path / n, seed=s, image=False)) for n, s in (("x", 5), ("y", 6))]
    runner = CliRunner()
    a = runner.invoke(app, ["run", *studies, "--out", str(tmp_path / "a"), "--workers", "1", "--quiet"])
    b = runner.invoke(app, ["run", *studies, "--out", str(tmp_path / "b"), "--scheduler", cluster.scheduler_address,
                            "--json"])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    for rel in ("campaign.csv", "campaign.json", "x-study/results.json", "y-study/results.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_seeds_and_scheduler_errors(tmp_path):
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    for bad in ("a-b", "3-1", "-1", "1,1", ""):
        with pytest.raises(InputError, match="--seeds"):
            parse_seeds(bad)
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "o"), "--seeds", "0-x", *SMALL])
    assert result.exit_code == 2 and "--seeds" in result.output
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "o"), "--seeds", "0-1",
                                      "--scheduler", "tcp://127.0.0.1:1", *SMALL])
    assert result.exit_code == 2 and "cannot connect to the dask scheduler at tcp://127.0.0.1:1" in result.output
    assert not (tmp_path / "o").exists()


def _dies_once(item):
    """Kill this worker process the first time (a node lost mid-run), return 2 * value after."""
    import os
    from pathlib import Path

    marker, value = item
    if not Path(marker).exists():
        Path(marker).write_text("died")
        os._exit(1)
    return 2 * value


def test_a_lost_worker_is_retried_and_the_run_completes(cluster, tmp_path):
    # The first task's worker dies abruptly (os._exit: no exception to report); the scheduler
    # reschedules the task on a live worker and the map still returns every result in order.
    from distributed import Client

    items = [(str(tmp_path / "died"), 5)] + [(str(tmp_path / "never"), v) for v in (1, 2)]
    (tmp_path / "never").write_text("")
    with Client(cluster.scheduler_address) as client:
        assert map_tasks(_dies_once, items, scheduler=client) == [10, 2, 4]
    assert (tmp_path / "died").read_text() == "died"  # the worker really was lost once
