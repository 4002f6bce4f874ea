"""Profile: where the whole-image inversion's memory goes, phase by phase (issue 16, large maps).

Runs ``tracerdiff boundaries --method inversion`` (the CLI, in this process) on one mirrored
mosaic of ``bench_scale.py`` and prints one JSON line per phase (grain map, repair, each
population update, the boundaries, the result): the resident memory on entry and exit and the
phase's peak (sampled every 20 ms), with the CPU seconds so far. Baseline measured in the same
run: the resident memory before the analysis (interpreter, tracerdiff and the CLI imported),
and ``peak_ratio_vs_baseline`` for the whole run.

``--stub`` replaces each window fit by arrays of its real sizes (the window's K x K information
and step-Jacobian matrices, its model field) without fitting: the whole pipeline's bookkeeping at
4096² px in minutes instead of an hour, but without the fits' own transients, so a lower bound
of a real run's peak. Values of a stubbed run mean nothing.

Run: ``.venv/bin/python benchmarks/profile_inversion_memory.py --size 4096 --stub``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from _child_process import make_mirrored_images  # benchmarks/ is on sys.path when run as a script

PHASES = [("tracerdiff.inversion.analysis", "prepare_image"), ("tracerdiff.boundaries.inputs", "grain_labels"),
          ("tracerdiff.inversion.analysis", "fit_image"), ("tracerdiff.inversion.fitting", "repair_map"),
          ("tracerdiff.inversion.fitting", "population_estimate"), ("tracerdiff.inversion.fitting", "grain_chi2"),
          ("tracerdiff.inversion.analysis", "_boundary_steps"), ("tracerdiff.inversion.analysis", "_result")]


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Sampler:
    """The largest resident set since the last reset, sampled every 20 ms."""

    def __init__(self):
        self.peak = _rss()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            self.peak = max(self.peak, _rss())
            time.sleep(0.02)


def _stub_fit(args):
    """A WindowFit of the window's real sizes, without fitting (values meaningless)."""
    from tracerdiff.inversion.symmetric import PackedSymmetric
    from tracerdiff.inversion.window_layout import WindowData
    from tracerdiff.inversion.windows import WindowFit

    window, job = args  # WindowData (large images) or a kept WindowModel (small ones)
    pairs = np.asarray(window.pairs)
    k = len(pairs)
    # The model field: the data themselves (no misfit, so no repair after the first pass).
    field = np.array(window.c, dtype=float) if isinstance(window, WindowData) else np.full(window.shape, np.nan)
    if not isinstance(window, WindowData):
        field.ravel()[window.obs] = window.data
    rng = np.random.default_rng(k)
    a = 0.1 * rng.standard_normal((k, k))
    info = a @ a.T + np.eye(k)
    theta = job["mu"] + 0.1 * rng.standard_normal(k)
    # Stored as a real fit stores them: the information packed, the field in float32.
    return WindowFit(pairs, theta, PackedSymmetric.of(info), info @ theta, np.full(k, 0.05),
                     0.01 * rng.standard_normal((k, k)), 1.0, field.size, 1, {}, field.astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="Mosaic size (a multiple of 512).")
    parser.add_argument("--stub", action="store_true", help="Window fits replaced by arrays of their sizes.")
    parser.add_argument("--workers", type=int, default=1,
                        help="Worker processes (2: a local cluster; the phases are the main process's).")
    parser.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the images into this folder
    args = parser.parse_args()
    if args.make:  # in a child: the simulation's memory is not this run's
        make_mirrored_images(args.make, [args.size])
        return
    import importlib

    from tracerdiff.cli import main as cli_main
    from tracerdiff.inversion import fitting

    sampler = _Sampler()
    real_stdout = sys.stdout  # the CLI's own output (its JSON) goes to /dev/null
    t0 = time.process_time()
    base = _rss()
    print(json.dumps({"baseline": "interpreter + tracerdiff CLI imported", "rss_gb": round(base / 1e9, 3),
                      "size": f"{args.size}x{args.size}", "stub": args.stub}), flush=True)

    def wrap(module, name):
        func = getattr(module, name)

        def timed(*a, **k):
            enter, outer = _rss(), sampler.peak
            sampler.peak = enter
            out = func(*a, **k)
            print(json.dumps({"phase": name, "rss_enter_gb": round(enter / 1e9, 3), "rss_exit_gb": round(_rss() / 1e9, 3),
                              "phase_peak_gb": round(sampler.peak / 1e9, 3),
                              "cpu_s": round(time.process_time() - t0, 1)}), file=real_stdout, flush=True)
            sampler.peak = max(sampler.peak, outer)
            return out
        setattr(module, name, timed)

    for module, name in PHASES:
        wrap(importlib.import_module(module), name)
    if args.stub:
        fitting._fit_one = _stub_fit
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--make", tmp, "--size", str(args.size)], check=True)
        sys.argv = ["tracerdiff", "boundaries", f"{tmp}/6Li_{args.size}.tif", f"{tmp}/7Li_{args.size}.tif",
                    "--pixel-size", "1um", "--d-bulk", "2.6e-8 cm^2/s", "--thickness", "0.5 nm", "--source-edge",
                    "bottom", "--json", "--method", "inversion", "--psf", "0.5um", "--workers", str(args.workers)]
        stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
        try:
            cli_main()
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        finally:
            sys.stdout.close()
            sys.stdout = stdout
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    print(json.dumps({"peak_gb": round(peak / 1e9, 3), "peak_ratio_vs_baseline": round(peak / base, 2),
                      "cpu_s": round(time.process_time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
