"""Benchmark: lazy vs eager reading of a Cameca .im stack (memory at open, time to the channel sums).

A synthetic NanoSIMS file of 40 planes x 2 masses x 512 x 512 (uint32, 84 MB) is written with
:func:`tracerdiff.io.synth.write_cameca_im`. Measured in the same run: the eager read through
``sims`` (the baseline) and ``lazy=True`` (memmap + dask): Python heap peak (tracemalloc) while
opening, and the time to open and sum each channel. Target: opening lazily allocates < 5 % of
the eager read. Run: ``.venv/bin/python benchmarks/bench_cameca_lazy.py``; prints one JSON line.
"""

from __future__ import annotations

import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _measure(path: Path, *, lazy: bool) -> dict:
    from tracerdiff import io as tio

    tracemalloc.start()
    t0 = time.perf_counter()
    ds = tio.read(path, lazy=lazy, stack=True)
    _, peak_open = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sums = {k: int(ds[k].sum()) for k in ds.data_vars}
    return {"peak_open_MB": peak_open / 1e6, "seconds_to_sums": time.perf_counter() - t0, "sums": sums}


def main() -> None:
    from tracerdiff.io import synth

    rng = np.random.default_rng(0)
    planes = rng.poisson(20, size=(40, 512, 512)).astype(np.uint32)
    with tempfile.TemporaryDirectory() as tmp:
        path = synth.write_cameca_im(Path(tmp) / "stack.im", {"16O": planes, "18O": planes // 4},
                                     [15.995, 17.999], raster_um=50.0)
        eager = _measure(path, lazy=False)
        lazy = _measure(path, lazy=True)
    if eager["sums"] != lazy["sums"]:
        raise SystemExit("lazy and eager sums differ")
    ratio = lazy["peak_open_MB"] / eager["peak_open_MB"]
    print(json.dumps({"benchmark": "cameca_lazy", "baseline": "eager read via sims",
                      "eager_peak_open_MB": round(eager["peak_open_MB"], 1),
                      "lazy_peak_open_MB": round(lazy["peak_open_MB"], 2), "peak_ratio": round(ratio, 4),
                      "eager_s": round(eager["seconds_to_sums"], 3), "lazy_s": round(lazy["seconds_to_sums"], 3),
                      "target_met": ratio < 0.05}))


if __name__ == "__main__":
    main()
