"""Benchmark: micrograph segmentation and registration against each imperfection's strength.

Generator: ``tracerdiff.simulate.voronoi_grains((206, 512), pixel_size_um=1, mean_grain_um=16,
seed=100 + seed)`` drawn by ``synthetic_micrograph(..., imperfections=MicrographImperfections(...))``
(margin 16 px). Each row changes ONE setting of the realistic defaults (``MicrographImperfections()``:
groove depth 0.3-0.8, width 1-3 px, 4 % faint stretches at 0.4 of the depth, tone sd 0.08,
illumination 25 %, noise 0.04, 2 pores / 10^4 px, 3 scratches, scale 1.1, rotation 2 deg).

Measured on the field's footprint in the micrograph (true grains with at least half their area
inside): boundary F1 at 2 px tolerance (``boundaries.grain_metrics.boundary_f1``) and the
fractions of true grains merged / split (``merged_split_fractions``). Every seed is printed.
Baseline (same run): the earlier threshold segmentation (``method="threshold"``) at the
realistic defaults, and both methods on the idealised micrograph.

``--registration`` also registers each default micrograph onto a simulated 59 h exchange image
(512 x 206 px, 1 um, 3000 counts/px, PSF 0.6 um, seeds ``--exchange-seeds``, default 8) over
scale 0.8-1.2 x rotation -5..5 deg, printing the largest (worst field corner) and the RMS
position error over the field (SIMS pixels), the reported corner standard error and the time
(wall and CPU, segmentation included). Baseline (same run, same segmentation): the correlation
search alone (``register_similarity``, the registration before the C-map fit), its errors and
CPU time. ``--registration-only`` skips the segmentation sweep.

Run: ``.venv/bin/python benchmarks/bench_segmentation.py [--seeds 0 1 2] [--quick] [--registration]
[--registration-only] [--exchange-seeds 8 9 10]``; prints one JSON line per (setting, seed).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

SWEEPS = {
    "groove_depth": [(0.5, 0.8), (0.3, 0.8), (0.2, 0.8), (0.15, 0.5)],
    "groove_width_px": [(1.0, 1.5), (1.0, 3.0), (2.0, 4.0)],
    "faint_fraction": [0.0, 0.04, 0.08, 0.15],
    "faint_level": [0.0, 0.15, 0.4, 0.7],
    "tone_sd": [0.0, 0.08, 0.15, 0.25],
    "illumination": [0.0, 0.25, 0.5],
    "noise": [0.0, 0.04, 0.08, 0.12],
    "pores_per_10k_px": [0.0, 2.0, 8.0],
    "scratch_count": [0, 3, 8],
    "scale": [0.8, 1.0, 1.1, 1.25],
    "rotation_deg": [0.0, 2.0, 5.0],
}
QUICK = {k: v[:1] + v[-1:] for k, v in SWEEPS.items()}


def footprint(m, shape) -> np.ndarray:
    """Micrograph pixels inside the SIMS field."""
    yy, xx = np.mgrid[0:m.image.shape[0], 0:m.image.shape[1]]
    f = m.transform.field_coords(np.stack([yy, xx], axis=-1))
    return (f[..., 0] >= -0.5) & (f[..., 0] < shape[0] - 0.5) & (f[..., 1] >= -0.5) & (f[..., 1] < shape[1] - 0.5)


def score(labels, m, shape) -> dict:
    from tracerdiff.boundaries.grain_metrics import boundary_f1, merged_split_fractions

    fp = footprint(m, shape)
    b = boundary_f1(labels, m.labels, tolerance_px=2, mask=fp)
    g = merged_split_fractions(labels, m.labels, mask=fp)
    return {"f1": round(b.f1, 4), "precision": round(b.precision, 4), "recall": round(b.recall, 4),
            "merged": round(g.merged_fraction, 4), "split": round(g.split_fraction, 4), "n_true": g.n_true}


def segmentation_rows(seeds, sweeps):
    from tracerdiff.boundaries.optical import labels_from_optical
    from tracerdiff.simulate import MicrographImperfections, synthetic_micrograph, voronoi_grains

    for seed in seeds:
        grains = voronoi_grains((206, 512), pixel_size_um=1.0, mean_grain_um=16.0, seed=100 + seed)
        cases = [("baseline", "ideal", None, "threshold"), ("baseline", "ideal", None, "robust"),
                 ("baseline", "defaults", "defaults", "threshold")]
        cases += [(name, value, {name: value}, "robust") for name, values in sweeps.items() for value in values]
        for name, value, change, method in cases:
            if change is None:
                imp = MicrographImperfections.ideal()
            elif change == "defaults":
                imp = MicrographImperfections()
            else:
                imp = MicrographImperfections(**change)
            m = synthetic_micrograph(grains, seed=seed, imperfections=imp)
            t = time.perf_counter()
            labels = labels_from_optical(m.image, method=method)
            dt = time.perf_counter() - t
            row = {"setting": name, "value": value, "method": method, "seed": seed, **score(labels, m, grains.shape),
                   "seconds": round(dt, 3)}
            print(json.dumps(row), flush=True)


def registration_rows(seeds, exchange_seeds):
    from tracerdiff.boundaries.optical import optical_grain_map
    from tracerdiff.boundaries.registration import boundary_map, field_reference, register_similarity
    from tracerdiff.simulate import MicrographImperfections, SimsOptions, synthetic_exchange_image, synthetic_micrograph

    yy, xx = np.mgrid[0:206, 0:512]
    field = np.stack([yy, xx], axis=-1)

    def errors(reg, truth, scale):
        d = reg.micrograph_coords(field) - truth.micrograph_coords(field)
        e = np.hypot(d[..., 0], d[..., 1]) / scale  # SIMS pixels
        return round(float(e.max()), 3), round(float(np.sqrt(np.mean(e ** 2))), 3)

    for ex in exchange_seeds:
        ds, sim = synthetic_exchange_image(shape=(206, 512), seed=ex,
                                           sims=SimsOptions(counts_per_pixel=3000, psf_sigma_um=0.6))
        i6, i7 = np.asarray(ds["6Li"], float), np.asarray(ds["7Li"], float)
        c = i6 / (i6 + i7)
        err = np.sqrt(c * (1 - c) / (i6 + i7))
        valid = np.ones(c.shape, bool)
        for seed in seeds:
            for scale in (0.8, 1.0, 1.2):
                for rot in (-5.0, 0.0, 5.0):
                    m = synthetic_micrograph(sim.grains, seed=seed,
                                             imperfections=MicrographImperfections(scale=scale, rotation_deg=rot))
                    t0, c0 = time.perf_counter(), time.process_time()
                    gm = optical_grain_map(m.image, c, err, valid)
                    dt, dc = time.perf_counter() - t0, time.process_time() - c0
                    # Baseline (same run, same segmentation): the correlation search alone.
                    c1 = time.process_time()
                    base = register_similarity(boundary_map(gm.micrograph_labels), field_reference(c, err, valid))
                    dc_base = time.process_time() - c1
                    reg = gm.registration
                    worst, rms = errors(reg, m.transform, scale)
                    worst0, rms0 = errors(base, m.transform, scale)
                    print(json.dumps({"registration": True, "exchange_seed": ex, "micrograph_seed": seed, "scale": scale,
                                      "rotation_deg": rot, "found_scale": round(reg.scale, 5),
                                      "found_rotation_deg": round(reg.rotation_deg, 3),
                                      "max_error_px": worst, "rms_error_px": rms,
                                      "corner_stderr_px": None if reg.corner_stderr_px is None
                                      else round(reg.corner_stderr_px, 3),
                                      "search_only_max_error_px": worst0, "search_only_rms_error_px": rms0,
                                      "seconds_segment_and_register": round(dt, 2),
                                      "cpu_s_segment_and_register": round(dc, 2),
                                      "cpu_s_search_only": round(dc_base, 2)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true", help="only the weakest and strongest setting of each")
    parser.add_argument("--registration", action="store_true")
    parser.add_argument("--registration-only", action="store_true", help="skip the segmentation sweep")
    parser.add_argument("--exchange-seeds", type=int, nargs="+", default=[8],
                        help="seeds of the exchange images the micrographs are registered to")
    args = parser.parse_args()
    if not args.registration_only:
        segmentation_rows(args.seeds, QUICK if args.quick else SWEEPS)
    if args.registration or args.registration_only:
        registration_rows(args.seeds, args.exchange_seeds)


if __name__ == "__main__":
    main()
