"""Diagnostic: do the inversion's per-boundary standard errors cover each boundary's truth?

Image: ``bench_inversion_grainmap``'s (``synthetic_exchange_image(shape=(206, 512),
domain_rows=606, seed=S)``, 1 um pixels, 3000 counts/px, PSF 0.6 um, D*gb/delta median 1.5e-8 m/s,
log-normal log-sd 0.5 or uniform), inverted with the true grains or the realistic micrograph.
Each accepted boundary's truth is looked up 4 px either side of it in the true grain map (as for
the Spearman figure there). Per inversion: the share of accepted boundaries with
``|ln(estimate / truth)| <= 2 * stderr / estimate``, the mean and sd of that z-score, and the
same share split by how far the posterior is pulled to the population (its log-sd against the
population's: "data-dominated" below half of it, else "prior-dominated").

Run: ``.venv/bin/python benchmarks/diag_boundary_coverage.py --seeds 245-249 [--kinds lognormal,uniform]
[--conditions true,micrograph]``; one JSON line per inversion, then one summary line.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from bench_inversion_grainmap import _image, boundaries_with_truth, run  # benchmarks/ is on sys.path when run as a script


def boundary_z(result, labels: np.ndarray, truth: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """Per accepted boundary with a known truth: (z = ln(est / truth) / log-sd, log-sd)."""
    pairs = boundaries_with_truth(result, labels, truth)
    sd = np.array([b.dgb_over_delta.stderr / b.dgb_over_delta.value for b, _ in pairs])
    z = np.array([math.log(b.dgb_over_delta.value / t) for b, t in pairs]) / sd if pairs else np.zeros(0)
    return z, sd


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = (int(v) for v in text.split("-"))
        return list(range(a, b + 1))
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="245-249")
    parser.add_argument("--kinds", default="lognormal,uniform")
    parser.add_argument("--conditions", default="true,micrograph")
    args = parser.parse_args()
    rows = []
    for seed in _seeds(args.seeds):
        for kind in args.kinds.split(","):
            ds, grains, truth = _image(seed, 0.5 if kind == "lognormal" else 0.0)
            labels = np.asarray(grains.labels)
            for condition in args.conditions.split(","):
                row, res = run(condition, seed, kind, ds, grains, truth)
                z, sd = boundary_z(res, labels, truth)
                pop_sd = res.population.log_sd if kind == "lognormal" else max(res.population.log_sd, 1e-9)
                data = sd < 0.5 * pop_sd
                out = {"condition": condition, "kind": kind, "seed": seed, "n": int(z.size),
                       "covered_2se": round(float(np.mean(np.abs(z) <= 2)), 3),
                       "z_mean": round(float(np.mean(z)), 3), "z_sd": round(float(np.std(z)), 3),
                       "n_data_dominated": int(data.sum()),
                       "covered_data_dominated": round(float(np.mean(np.abs(z[data]) <= 2)), 3) if data.any() else None,
                       "covered_prior_dominated": round(float(np.mean(np.abs(z[~data]) <= 2)), 3)
                       if (~data).any() else None,
                       "median_over_truth": row["median_over_truth"], "population_log_sd": round(res.population.log_sd, 3)}
                rows.append(out)
                print(json.dumps(out), flush=True)
    for condition in args.conditions.split(","):
        for kind in args.kinds.split(","):
            sel = [r for r in rows if r["condition"] == condition and r["kind"] == kind]
            if sel:
                print(json.dumps({"summary": f"{condition}/{kind}", "seeds": [r["seed"] for r in sel],
                                  "covered_2se": [r["covered_2se"] for r in sel],
                                  "covered_mean": round(float(np.mean([r["covered_2se"] for r in sel])), 3),
                                  "z_sd": [r["z_sd"] for r in sel]}))


if __name__ == "__main__":
    main()
