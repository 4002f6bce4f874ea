"""Benchmark: large mosaics (512² ... 4096² px), step analysis and inversion, 1 and 2 workers (issue 16).

Targets: cost grows at most ~linearly with the pixel count, and 4096² px runs in under 4 GB of
peak memory. Each run is the real command line (``tracerdiff boundaries``: read two TIFFs,
isotope fraction, segmentation, every boundary, JSON) in its own subprocess, so that its
memory is its own:

* ``peak_process_gb``: the largest resident set of any one process of the run, exact, from the
  kernel's accounting (``os.wait4``; a process's rusage includes the children it reaped);
* ``peak_tree_gb``: the largest *sum* over the process tree (the CLI plus, with 2 workers, the
  dask worker processes), sampled from ``/proc`` every 0.1 s (a short spike can be missed).

Time: ``wall_s``, and ``cpu_s``, the CPU seconds of the run's processes (user + system, from the
same rusage, workers included once reaped). The linearity check uses ``cpu_s``: on a shared
machine the wall time follows the load of other jobs. With 2 workers ``cpu_s`` includes the
cluster's own start-up and transfer costs, so ``wall_s`` is what shows the gain on an idle
machine.

Baselines measured in the same run: the interpreter with tracerdiff's CLI imported (fixed
memory), and the 512² run of the same method and workers (ratios ``*_ratio_vs_512``).

Methods: ``steps`` (the whole-image step analysis, serial), ``steps-tiled`` (the same in 1024 px
tiles with a 128 px halo: ``tracerdiff boundaries --tile 1024px``, the TIFFs read lazily, tiles as
tasks of :mod:`tracerdiff.boundaries.tiled`) and ``inversion``. Every run prints the full JSON.

The images (as in ``bench_memory.py``): one simulated 512 x 512 exchange (Voronoi 16 µm grains,
3000 counts/px, seed 1, 20 time steps) tiled by mirroring to the larger sizes, as a stitched
mosaic of fields would be, so grains and boundaries grow with the area (the mirrored C field is
not one physical exchange profile, so the source edge is given). The inversion is slow on a
2-core machine: sizes above ``--max-inversion`` are not run but extrapolated from the measured
sizes with the fitted power law ``t ~ pixels^b``; such lines say ``"extrapolated": true``. The
4096² inversion is measured with ``--methods inversion --workers 1 --sizes 512,4096
--max-inversion 4096`` (about 50 CPU minutes; its 4 GB target is checked like every other row).

Run: ``.venv/bin/python benchmarks/bench_scale.py [--sizes 512,1024,2048,4096] [--max-inversion 1024]``;
prints one JSON line per size, method and worker count; exits 1 when a measured run misses a target.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from _child_process import make_mirrored_images, run_child  # benchmarks/ is on sys.path when run as a script

LIMIT = 4e9
CLI = [sys.executable, "-c", "from tracerdiff.cli import main; main()"]
#: Wall-time growth allowed over linear in pixels (allocator, cache and load noise on a shared machine).
LINEAR_SLACK = 1.3


def _command(paths: list[str], method: str, workers: int) -> list[str]:
    cmd = CLI + ["boundaries", *paths, "--pixel-size", "1um", "--d-bulk", "2.6e-8 cm^2/s", "--thickness", "0.5 nm",
                 "--source-edge", "bottom", "--json"]
    if method == "steps-tiled":
        cmd += ["--tile", "1024px", "--halo", "128px", "--workers", str(workers)]
    if method == "inversion":
        cmd += ["--method", "inversion", "--psf", "0.5um", "--workers", str(workers)]
    return cmd


def _extrapolate(measured: list[tuple[int, float]], pixels: int) -> tuple[float, float]:
    """(estimate, exponent b) of ``t = a * pixels^b`` fitted to the measured (pixels, seconds)."""
    if len(measured) == 1:
        (p0, t0), b = measured[0], 1.0
    else:
        xs = [math.log(p) for p, _ in measured]
        ys = [math.log(t) for _, t in measured]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        p0, t0 = measured[-1]
    return t0 * (pixels / p0) ** b, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048,4096", help="Comma-separated sizes (multiples of 512).")
    parser.add_argument("--methods", default="steps,steps-tiled,inversion",
                        help="steps (whole image, serial), steps-tiled (1024 px tiles + 128 px halo) and/or inversion.")
    parser.add_argument("--workers", default="1,2", help="Worker counts (the step method is serial: 1 only).")
    parser.add_argument("--max-inversion", type=int, default=1024, help="Largest size inverted; above: extrapolated.")
    parser.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the images into this folder
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.make:
        make_mirrored_images(args.make, sizes)
        return
    base = run_child(CLI + ["--version"])["peak"]
    print(json.dumps({"baseline": "interpreter + tracerdiff CLI imported", "peak_gb": round(base / 1e9, 3)}),
          flush=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--make", tmp, "--sizes", args.sizes], check=True)
        for method in args.methods.split(","):
            for workers in [int(w) for w in args.workers.split(",")]:
                if method == "steps" and workers > 1:
                    continue  # serial: the same run as workers=1
                ok &= _series(tmp, sizes, method, workers, base, args.max_inversion)
    sys.exit(0 if ok else 1)


def _series(tmp: str, sizes: list[int], method: str, workers: int, base: float, max_inversion: int) -> bool:
    ok, first, measured = True, None, []
    for n in sizes:
        row = {"method": method, "workers": workers, "size": f"{n}x{n}", "pixels": n * n}
        if method == "inversion" and n > max_inversion:
            if measured:
                estimate, b = _extrapolate(measured, n * n)
                row.update(extrapolated=True, cpu_s_estimate=round(estimate), exponent_b=round(b, 2),
                           note=f"not run: CPU time extrapolated from the measured sizes with t ~ pixels^{b:.2f}"
                                + (" (one measured size: linear assumed)" if len(measured) == 1 else ""))
                print(json.dumps(row), flush=True)
            continue
        paths = [str(Path(tmp) / f"{c}_{n}.tif") for c in ("6Li", "7Li")]
        run = run_child(_command(paths, method, workers))
        if run["rc"] != 0:
            row["error"] = run["text"][-500:]
            print(json.dumps(row), flush=True)
            ok = False
            continue
        result = json.loads(run["text"])
        n_boundaries = result.get("n_boundaries", len(result.get("boundaries", [])))
        measured.append((n * n, run["cpu"]))
        if first is None:
            first = (n * n, run["cpu"], run["peak"])
        pixel_ratio = n * n / first[0]
        median = ((result.get("summary") or {}).get("dgb_over_delta") or {}).get("median") or {}
        row.update(extrapolated=False, boundaries=n_boundaries, median=median.get("value"), wall_s=round(run["wall"], 1),
                   cpu_s=round(run["cpu"], 1),
                   peak_process_gb=round(run["peak"] / 1e9, 3), peak_tree_gb=round(run["tree"] / 1e9, 3),
                   pixel_ratio_vs_512=round(pixel_ratio, 2), cpu_ratio_vs_512=round(run["cpu"] / first[1], 2),
                   peak_above_baseline_ratio_vs_512=round((run["peak"] - base) / max(first[2] - base, 1.0), 2))
        row["below_4gb"] = max(run["peak"], run["tree"]) < LIMIT
        row["time_at_most_linear"] = run["cpu"] / first[1] <= LINEAR_SLACK * pixel_ratio
        row["memory_at_most_linear"] = (run["peak"] - base) / max(first[2] - base, 1.0) <= 1.1 * pixel_ratio
        ok &= row["below_4gb"] and row["time_at_most_linear"] and row["memory_at_most_linear"]
        print(json.dumps(row), flush=True)
    return ok


if __name__ == "__main__":
    main()
