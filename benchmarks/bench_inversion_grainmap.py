"""Benchmark (issue 12, items 4-5): the whole-image inversion with imperfect grain maps, over fresh seeds.

Images: ``synthetic_exchange_image`` 206 x 512 px, 1 um, 3000 counts/px, PSF sigma 0.6 um,
59 h exchange on a domain 400 um taller than the field, D*bulk 2.6e-8 cm^2/s, D*gb/delta
median 1.5e-6 cm/s, uniform or log-normal (sigma_ln 0.5). Grain maps per seed:

- ``micrograph``: segmented from ``synthetic_micrograph(..., imperfections=MicrographImperfections())``
  (realistic defaults: groove depth 0.3-0.8, width 1-3 px, 4 % faint, tone, illumination, noise,
  pores, scratches, scale 1.1, rotation 2 deg) by ``invert_boundaries(optical=...)``;
- ``cmap``: no map (grains segmented from the C map);
- ``deleted``: the true labels with 10 % of the true boundaries (grain pairs) deleted at random;
- ``true``: the true labels (the inversion's own error, for the calibration of the model term).

Every seed's numbers are printed (one JSON line per inversion): population median / truth, its
reported relative standard error, whether |ln(median / truth)| <= 2 x that error, Spearman over
accepted boundaries (log-normal, truth looked up 4 px either side of each boundary in the true
labels), the grain-map quality figure and whether a GrainMapWarning was raised. A summary line per
condition follows. Timing: on the first seed, the inversion of the micrograph's labels is timed
with this code and with the code of ``--baseline-rev`` (default d109d1e, before the repair) in the
same run, on the same labels, and the ratio printed.

Run: ``.venv/bin/python benchmarks/bench_inversion_grainmap.py --seeds 10 [--first-seed 200]
[--conditions micrograph,cmap,deleted]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

D_BULK, G_TRUE = 2.6e-12, 1.5e-8
ROOT = Path(__file__).resolve().parents[1]


def _image(seed: int, sigma_ln: float, *, keep_simulation: bool = False):
    """(dataset, grains or the whole simulation if ``keep_simulation``, true D*gb/delta per pair)."""
    from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image

    ds, sim = synthetic_exchange_image(shape=(206, 512), domain_rows=606, seed=seed,
                                       exchange=ExchangeConditions(d_bulk=D_BULK, dgb_over_delta=G_TRUE,
                                                                   dgb_sigma_ln=sigma_ln),
                                       sims=SimsOptions(counts_per_pixel=3000, psf_sigma_um=0.6))
    g = {tuple(int(v) for v in b["grains"]): float(b["dgb_over_delta"]) for b in sim.truth["boundaries"]} \
        if sigma_ln > 0 else None
    return ds, sim if keep_simulation else sim.grains, g


def delete_boundaries(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``labels`` with the grains across a random ``fraction`` of the grain pairs merged."""
    from tracerdiff.simulate import merge_random_boundaries

    return merge_random_boundaries(labels, fraction, seed=seed)


def boundaries_with_truth(result, labels: np.ndarray, g: dict | None) -> list[tuple[object, float]]:
    """(accepted boundary, true D*gb/delta) for each accepted boundary whose grains, looked up 4 px
    either side of it in the true map ``labels``, are a true pair (``g``: truth per pair; None:
    every pair has G_TRUE)."""
    out = []
    h, w = labels.shape
    for b in result.accepted:
        n = np.asarray(b.normal)
        (xa, ya), (xb, yb) = (np.round(np.array([b.x_um, b.y_um]) + s * 4 * n).astype(int) for s in (-1, 1))
        if not (0 <= ya < h and 0 <= yb < h and 0 <= xa < w and 0 <= xb < w):
            continue
        key = (int(min(labels[ya, xa], labels[yb, xb])), int(max(labels[ya, xa], labels[yb, xb])))
        if key[0] == key[1]:
            continue
        true = G_TRUE if g is None else g.get(key)
        if true is not None:
            out.append((b, true))
    return out


def spearman(result, labels, g) -> tuple[float, int]:
    """Spearman of accepted estimates with the truth 4 px either side of each boundary."""
    from scipy.stats import spearmanr

    pairs = boundaries_with_truth(result, labels, g)
    est, tru = [b.dgb_over_delta.value for b, _ in pairs], [t for _, t in pairs]
    return (float(spearmanr(est, tru).correlation) if len(est) > 3 else math.nan), len(est)


def run(condition: str, seed: int, kind: str, ds, grains, g) -> tuple[dict, object]:
    from tracerdiff.errors import GrainMapWarning
    from tracerdiff.inversion import InversionOptions, invert_boundaries
    from tracerdiff.simulate import MicrographImperfections, synthetic_micrograph

    kw = dict(d_bulk=D_BULK, options=InversionOptions(psf_sigma_um=0.6))
    if condition == "micrograph":
        kw["optical"] = synthetic_micrograph(grains, seed=seed, imperfections=MicrographImperfections()).image
    elif condition == "deleted":
        kw["labels"] = delete_boundaries(np.asarray(grains.labels), 0.10, seed)
    elif condition == "true":
        kw["labels"] = np.asarray(grains.labels)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GrainMapWarning)
        res = invert_boundaries(ds, **kw)
    seconds = time.perf_counter() - t0
    ratio = res.population.median.value / G_TRUE
    se = res.population.median_log_stderr
    row = {"condition": condition, "kind": kind, "seed": seed, "median_over_truth": round(ratio, 4),
           "log_stderr": round(se["total"], 4), "log_stderr_parts": {k: None if v is None else round(v, 4)
                                                                       for k, v in se.items()},
           "within_2se": abs(math.log(ratio)) <= 2 * se["total"], "log_sd": round(res.population.log_sd, 3),
           "n_accepted": len(res.accepted), "grain_map": {k: (round(v, 4) if isinstance(v, float) else v)
                                                          for k, v in res.grain_map.items()},
           "warned": any(issubclass(w.category, GrainMapWarning) for w in caught), "seconds": round(seconds, 1)}
    if g is not None:
        row["spearman"], row["n_spearman"] = spearman(res, np.asarray(grains.labels), g)
        row["spearman"] = round(row["spearman"], 3)
    return row, res


_OLD = """
import pickle, sys, time
from tracerdiff.inversion import InversionOptions, invert_boundaries
ds, labels = pickle.load(open(sys.argv[1], "rb"))
t0 = time.perf_counter()
res = invert_boundaries(ds, d_bulk=2.6e-12, labels=labels, options=InversionOptions(psf_sigma_um=0.6))
print(time.perf_counter() - t0, res.population.median.value)
"""


def time_old_vs_new(ds, labels, rev: str) -> dict:
    """Seconds of the inversion on the same labels with this code and with the code at ``rev``."""
    from tracerdiff.inversion import InversionOptions, invert_boundaries

    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        data = Path(tmp) / "case.pkl"
        data.write_bytes(pickle.dumps((ds, labels)))
        env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "src")}
        out = subprocess.run([sys.executable, "-c", _OLD, str(data)], capture_output=True, text=True, env=env,
                             check=True)
        old = float(out.stdout.split()[0])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        invert_boundaries(ds, d_bulk=D_BULK, labels=labels, options=InversionOptions(psf_sigma_um=0.6))
    new = time.perf_counter() - t0
    return {"benchmark": "inversion_time_512x206", "baseline_rev": rev, "old_seconds": round(old, 1),
            "new_seconds": round(new, 1), "ratio_new_over_old": round(new / old, 2),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=200)
    parser.add_argument("--conditions", default="micrograph,deleted,cmap")
    parser.add_argument("--kinds", default="lognormal,uniform")
    parser.add_argument("--baseline-rev", default="d109d1e")
    parser.add_argument("--deleted-kinds", default="lognormal", help="kinds of image run with deleted boundaries")
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    conditions = args.conditions.split(",")
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for kind in args.kinds.split(","):
            ds, grains, g = _image(seed, 0.5 if kind == "lognormal" else 0.0)
            for condition in conditions:
                if condition == "deleted" and kind not in args.deleted_kinds.split(","):
                    continue
                row, res = run(condition, seed, kind, ds, grains, g)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if condition == "micrograph" and kind == "uniform" and seed == args.first_seed and not args.no_timing:
                    print(json.dumps(time_old_vs_new(ds, np.asarray(res.labels), args.baseline_rev)), flush=True)
    for condition in conditions:
        for kind in args.kinds.split(","):
            sel = [r for r in rows if r["condition"] == condition and r["kind"] == kind]
            if not sel:
                continue
            err = [abs(r["median_over_truth"] - 1) for r in sel]
            summary = {"summary": condition, "kind": kind, "n_seeds": len(sel),
                       "median_over_truth": [r["median_over_truth"] for r in sel],
                       "within_10pct": sum(e <= 0.10 for e in err), "within_15pct": sum(e <= 0.15 for e in err),
                       "within_20pct": sum(e <= 0.20 for e in err), "covered_2se": sum(r["within_2se"] for r in sel),
                       "warned": sum(r["warned"] for r in sel)}
            if kind == "lognormal":
                rho = [r["spearman"] for r in sel]
                summary.update(spearman=rho, spearman_mean=round(float(np.nanmean(rho)), 3))
            print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
