"""The one parallel engine: same results in process and on a real 2-process LocalCluster."""

import numpy as np
import pytest

from tracerdiff import parallel
from tracerdiff.parallel import TaskError, map_tasks, task_runner


def _work(seed):
    # Deterministic, BLAS-using task: a seeded solve (the kind of work inversion windows do).
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(40, 40)) + 40 * np.eye(40)
    return np.linalg.solve(a, rng.normal(size=40))


def _fails_on_three(i):
    if i == 3:
        raise ZeroDivisionError("boom")
    return i


def test_in_process_preserves_order_and_reports_progress():
    seen = []
    out = map_tasks(_work, [5, 1, 9], progress=lambda d, t: seen.append((d, t)))
    for seed, x in zip([5, 1, 9], out):
        np.testing.assert_array_equal(x, _work(seed))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_failure_names_the_task():
    with pytest.raises(TaskError, match=r"window 3 failed: ZeroDivisionError: boom"):
        map_tasks(_fails_on_three, range(5), names=[f"window {i}" for i in range(5)])


def test_local_cluster_matches_in_process_bit_for_bit():
    # Two spawned worker processes (the start method macOS and Windows use).
    seeds = list(range(6))
    serial = map_tasks(_work, seeds)
    seen = []
    distributed = map_tasks(_work, seeds, workers=2, progress=lambda d, t: seen.append(d))
    assert len(distributed) == len(serial)
    for a, b in zip(serial, distributed):
        assert a.tobytes() == b.tobytes()
    assert sorted(seen) == list(range(1, 7))
    with pytest.raises(TaskError, match=r"task 3 failed: ZeroDivisionError"):
        map_tasks(_fails_on_three, range(5), workers=2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="workers"):
        map_tasks(_work, [1], workers=0)
    with pytest.raises(ValueError, match="names"):
        map_tasks(_work, [1, 2], names=["a"])


def test_inversion_on_a_local_cluster_equals_in_process():
    # The window fits of a whole-image inversion on 2 spawned worker processes give the same
    # bytes as in process (deterministic tasks, single-threaded BLAS in both).
    from test_boundaries_inputs import _staircase  # tests/ is on sys.path under pytest

    from tracerdiff.inversion import InversionOptions, invert_boundaries

    i6, i7 = _staircase()
    c = i6 / (i6 + i7)
    options = InversionOptions(window_px=48, stride_px=32)  # 8 windows on 80 x 120 px: 4 per worker
    serial = invert_boundaries(c, d_bulk=2.6e-12, pixel_size_um=1.0, workers=1, options=options)
    cluster = invert_boundaries(c, d_bulk=2.6e-12, pixel_size_um=1.0, workers=2, options=options)
    a, b = serial.to_dict(), cluster.to_dict()
    assert a["population"] == b["population"]
    assert [x["dgb_over_delta"] for x in a["boundaries"]] == [x["dgb_over_delta"] for x in b["boundaries"]]
    assert len(a["boundaries"]) > 0


def test_a_cluster_that_cannot_start_says_why(monkeypatch):
    # The usual cause is a script without a __main__ guard (spawned workers re-import it).
    import distributed

    from tracerdiff.errors import TracerdiffError

    def refuse(*args, **kwargs):
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", refuse)
    with pytest.raises(TracerdiffError, match=r'__name__ == "__main__".*workers=1'):
        map_tasks(_work, [1, 2], workers=2)


def test_cli_workers_flag_is_checked():
    from typer.testing import CliRunner

    from tracerdiff.cli import app

    result = CliRunner().invoke(app, ["boundaries", "a.tif", "b.tif", "--pixel-size", "1um", "--d-bulk",
                                      "2.6e-8 cm^2/s", "--method", "inversion", "--workers", "zero"])
    assert result.exit_code != 0
    assert "--workers" in result.output


def _malloc_trim(_):
    import os

    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


@pytest.mark.parametrize("parent, expected", [(None, None), ("65536", None), ("1048576", "1048576")])
def test_local_cluster_workers_keep_the_default_allocator(monkeypatch, parent, expected):
    # distributed's nanny would set MALLOC_TRIM_THRESHOLD_=65536 in the workers, which made the
    # inversion's window fits 2.2x slower there than in process (every temporary above 128 KiB
    # mmap'd and unmapped). The local clusters tracerdiff starts leave it unset, also when an
    # earlier cluster's nanny wrote dask's value into this process's environment ("65536"); a
    # user's own value is passed on as it is.
    import os

    if parent is None:
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    else:
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", parent)
    with task_runner(workers=2) as runner:
        assert runner.client is not None
        assert runner.map(_malloc_trim, [0, 1]) == [expected, expected]
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") == parent  # the parent's environment as it was


def test_in_flight_bound_is_per_worker_thread_and_none_in_process():
    with task_runner(workers=1) as runner:
        assert runner.in_flight(2) is None
    with task_runner(workers=2) as runner:  # two single-threaded worker processes
        assert runner.in_flight(2) == 4


def _worker_log_length(_):
    from distributed import get_worker

    return get_worker().state.log.maxlen


def test_local_cluster_keeps_short_low_level_logs():
    # With distributed's 1000 entries, the in-process scheduler's logs held the inputs of the last
    # ~1000 finished tasks (~0.4 GB of inversion windows, see parallel._short_logs). The clusters
    # tracerdiff starts keep LOW_LEVEL_LOG_LENGTH entries, in the scheduler and in the workers, and
    # the caller's dask config is left as it was.
    import dask

    from tracerdiff.parallel import LOW_LEVEL_LOG_LENGTH

    before = dask.config.get("distributed.admin.low-level-log-length")
    assert before != LOW_LEVEL_LOG_LENGTH  # else this test would show nothing
    with task_runner(workers=2) as runner:
        length = runner.client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_log.maxlen)
        assert length == LOW_LEVEL_LOG_LENGTH
        assert runner.map(_worker_log_length, [0, 1]) == [LOW_LEVEL_LOG_LENGTH] * 2
    assert dask.config.get("distributed.admin.low-level-log-length") == before


def test_single_thread_blas_limits_every_blas_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg  # noqa: F401 - numpy's and scipy's wheels each bring a BLAS

    def blas_threads():
        return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and set(before.values()) == {2}
        for _ in range(2):  # the second entry uses the kept controller
            with parallel.single_thread_blas():
                assert blas_threads() == {path: 1 for path in before}
            assert blas_threads() == before
