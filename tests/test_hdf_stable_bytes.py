"""HDF5 outputs are the same bytes for the same data, whoever watches the writing thread (issue 16).

h5netcdf deletes a placeholder dataset per dimension during a write, and HDF5 reuses that space
only once the placeholder's last handle is closed. A profiler that holds the writer's frames
(dask's worker profiler samples each task thread every 10 ms) kept such handles alive and moved
objects around in the file: the simulate ensemble's image.h5 from a dask worker once differed
from the in-process one at byte 594. The sampler below holds the calling thread's frames for
2 ms per sample, as that profiler does when the machine is loaded.
"""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr

from tracerdiff.io.hdf import to_netcdf, write
from tracerdiff.io.image import make_image


def _image(seed=3):
    rng = np.random.default_rng(seed)
    return make_image({"6Li": rng.poisson(50, (40, 60)), "7Li": rng.poisson(50, (40, 60))}, 0.5,
                      fmt="synthetic", metadata={"seed": seed})


class _FrameHolder:
    """A thread that takes another thread's frames and holds them ``hold_s`` per sample."""

    def __init__(self, ident, hold_s):
        self.ident, self.hold_s, self.samples = ident, hold_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            frame = sys._current_frames().get(self.ident)
            self.samples += frame is not None
            time.sleep(self.hold_s)
            del frame
            time.sleep(0.0005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _in_a_task_thread(fn):
    """Run ``fn`` on a pool thread, as a dask worker runs a task (the thread its profiler samples)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def test_same_bytes_while_a_profiler_holds_the_writing_threads_frames(tmp_path):
    ds = _image()
    reference = write(ds, tmp_path / "reference.h5").read_bytes()  # the main thread, nothing sampling

    def sampled_writes():
        with _FrameHolder(threading.get_ident(), hold_s=0.002) as holder:
            outputs = [write(ds, tmp_path / f"{i}.h5").read_bytes() for i in range(30)]
        return holder.samples, outputs

    # 30 writes: before the fix, 25-45 % of writes under this sampler came out in another layout
    # (measured on the main thread: 43/200 and 54/200), so 30 equal by chance had p < 1e-3.
    samples, outputs = _in_a_task_thread(sampled_writes)
    assert samples >= 30  # the sampler really ran during the writes
    differing = [i for i, data in enumerate(outputs) if data != reference]
    assert not differing, f"writes {differing} differ from the first (same data)"
    # Still the ordinary file: the same dataset reads back.
    with xr.open_dataset(tmp_path / "0.h5", engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), ds)


def test_to_netcdf_reraises_the_writers_error_in_the_caller(tmp_path):
    # Off the main thread the write runs on a private thread; its failure reaches the caller
    # with its own type. On the main thread it fails the same way.
    missing = tmp_path / "no-such-folder" / "x.h5"
    with pytest.raises(OSError):
        _in_a_task_thread(lambda: to_netcdf(_image(), missing))
    with pytest.raises(OSError):
        to_netcdf(_image(), missing)
    assert not missing.parent.exists()
