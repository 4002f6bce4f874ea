"""Benchmark: peak memory of ``tracerdiff boundaries`` (step method) at 512², 1024², 2048² px (issue 14).

Target: every size below 4 GB, growing at most linearly with the pixel count. Before issue 14
``regional_slope`` held boundaries x grains arrays: 0.41 GB at 512², 3.5 GB at 1024², killed
by the kernel at 24 GB for 2048².

Each size runs the real command line (read two TIFFs, isotope fraction, segmentation, every
boundary, JSON) in its own subprocess; its peak RSS is read with ``os.wait4`` (the rusage of
that child alone). Linux counts the parent's resident pages at fork in the child's peak, so
this parent imports no numpy: the images are made by another subprocess. Baselines measured in the same run: the interpreter with tracerdiff's CLI
imported (fixed cost), and the 512² image; ratios are given against both.

The images: one simulated 512 x 512 exchange (Voronoi 16 µm grains, 3000 counts/px, seed 1)
tiled by mirroring to the larger sizes, so grains and boundaries grow with the area as in a
larger field of view (the mirrored C field is not a physical exchange profile, so the source
edge is given, ``bottom`` as in the simulation; every boundary is still segmented and fitted,
which is what costs memory; simulating 2048² directly would need ~20 GB itself).

Measured on 2026-11-30 (2 shared cores, load ~12), peak RSS of the CLI process: baseline
0.056 GB; 512² 0.242 GB (3365 boundaries); 1024² 0.417 GB (13458); 2048² 1.035 GB (54019;
141 s); 4096² 3.452 GB (216453; 1020 s). Above the baseline: 709, 344, 234, 202 bytes/px, so
growth is below linear (the fixed imports of scipy/skimage weigh most at 512²).

Run: ``.venv/bin/python benchmarks/bench_memory.py [--sizes 512,1024,2048,4096]``; prints one JSON
line per size and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _child_process import make_mirrored_images, run_child  # benchmarks/ is on sys.path when run as a script

LIMIT = 4e9
CLI = [sys.executable, "-c", "from tracerdiff.cli import main; main()"]


def _peak(cmd: list[str]) -> tuple[float, float, str, int]:
    """(peak RSS in bytes, wall seconds, stdout, return code) of one child process."""
    run = run_child(cmd)
    return run["peak"], run["wall"], run["text"], run["rc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048", help="Comma-separated image sizes (multiples of 512).")
    parser.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the images into this folder
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.make:
        make_mirrored_images(args.make, sizes)
        return
    base, _, _, _ = _peak(CLI + ["--version"])
    print(json.dumps({"baseline": "interpreter + tracerdiff CLI imported", "peak_gb": round(base / 1e9, 3)}))
    ok = True
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--make", tmp, "--sizes", args.sizes], check=True)
        for n in sizes:
            paths = [str(Path(tmp) / f"{c}_{n}.tif") for c in ("6Li", "7Li")]
            peak, wall, text, rc = _peak(CLI + ["boundaries", *paths, "--pixel-size", "1um", "--d-bulk",
                                                "2.6e-8 cm^2/s", "--thickness", "0.5 nm", "--source-edge",
                                                "bottom", "--json"])
            if rc != 0:
                print(json.dumps({"size": n, "error": text[-500:]}))
                ok = False
                continue
            result = json.loads(text)
            n_boundaries = result.get("n_boundaries", len(result.get("boundaries", [])))
            row = {"size": f"{n}x{n}", "pixels": n * n, "boundaries": n_boundaries, "peak_gb": round(peak / 1e9, 3),
                   "wall_s": round(wall, 1), "bytes_per_pixel_above_baseline": round((peak - base) / (n * n), 1)}
            if first is None:
                first = (n * n, peak)
            row["pixel_ratio_vs_512"] = round(n * n / first[0], 2)
            row["peak_ratio_vs_512"] = round(peak / first[1], 2)
            row["peak_above_baseline_ratio_vs_512"] = round((peak - base) / (first[1] - base), 2)
            # Linear: the memory above the fixed cost grows no faster than the pixel count (10 % slack
            # for allocator granularity).
            row["below_4gb"] = peak < LIMIT
            row["at_most_linear"] = (peak - base) / (first[1] - base) <= 1.1 * n * n / first[0]
            ok &= row["below_4gb"] and row["at_most_linear"]
            print(json.dumps(row), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
