"""Issue 12 acceptance (fixed seeds): the inversion with imperfect grain maps repairs them and says so.

Images as in tests/test_boundaries_synthetic.py (206 x 256 px, 1 um, 3000 counts/px, 59 h exchange on
a domain 400 um taller), with the issue's PSF sigma of 0.6 um. The many-seed sweep on 512 x 206 px
images is benchmarks/bench_inversion_grainmap.py.
"""

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from tracerdiff.errors import GrainMapWarning
from tracerdiff.inversion import InversionOptions, invert_boundaries
from tracerdiff.simulate import (ExchangeConditions, merge_random_boundaries, MicrographImperfections, SimsOptions,
                                 synthetic_exchange_image, synthetic_micrograph)

D_BULK, G_TRUE = 2.6e-12, 1.5e-8


@pytest.fixture(scope="module")
def lognormal():
    ds, sim = synthetic_exchange_image(shape=(206, 256), domain_rows=606, seed=8,
                                       exchange=ExchangeConditions(d_bulk=D_BULK, dgb_over_delta=G_TRUE,
                                                                   dgb_sigma_ln=0.5),
                                       sims=SimsOptions(counts_per_pixel=3000, psf_sigma_um=0.6))
    g = {tuple(int(v) for v in b["grains"]): float(b["dgb_over_delta"]) for b in sim.truth["boundaries"]}
    return ds, sim.grains, g


def _delete(labels, fraction, seed):
    """Grains across a random ``fraction`` of the true grain pairs merged."""
    return merge_random_boundaries(labels, fraction, seed=seed)


def _log_error(res):
    """(ln(median / truth), reported ln-standard error) of the population median."""
    return math.log(res.population.median.value / G_TRUE), res.population.median_log_stderr["total"]


def _with_truth(res, labels, g):
    """(accepted boundary, its true D*gb/delta) for each accepted boundary whose grains, looked up
    4 px either side of it in the true map, are a true pair."""
    out = []
    h, w = labels.shape
    for b in res.accepted:
        n = np.asarray(b.normal)
        (xa, ya), (xb, yb) = (np.round(np.array([b.x_um, b.y_um]) + s * 4 * n).astype(int) for s in (-1, 1))
        if 0 <= ya < h and 0 <= yb < h and 0 <= xa < w and 0 <= xb < w:
            key = (int(min(labels[ya, xa], labels[yb, xb])), int(max(labels[ya, xa], labels[yb, xb])))
            if key in g:
                out.append((b, g[key]))
    return out


def test_deleted_boundaries_are_repaired_and_the_map_is_called_deficient(lognormal):
    # 10 % of the true boundaries deleted from the label map. Without the repair the population
    # median was 3.6x truth on a 512 x 206 image (seed 100); with it 1.00x. The result must say the
    # map is deficient (quality figure + GrainMapWarning), keep the median within +-20 % and
    # cover the truth with 2 of its standard errors.
    ds, grains, _ = lognormal
    labels = _delete(np.asarray(grains.labels), 0.10, seed=8)
    with pytest.warns(GrainMapWarning, match="grain map deficient"):
        res = invert_boundaries(ds, d_bulk=D_BULK, labels=labels, options=InversionOptions(psf_sigma_um=0.6))
    q = res.grain_map
    assert q["deficient"] and q["cuts_made"] > 0.05 * q["grains_given"] and q["origin"] == "labels"
    assert "grain map deficient" in res.message and res.to_dict()["grain_map"]["deficient"] is True
    err, se = _log_error(res)
    assert abs(err) < math.log(1.2)
    assert abs(err) <= 2 * se
    assert res.population.median_log_stderr["map"] > 0


@pytest.fixture(scope="module")
def from_micrograph(lognormal):
    ds, grains, _ = lognormal
    m = synthetic_micrograph(grains, seed=8, imperfections=MicrographImperfections())
    return invert_boundaries(ds, d_bulk=D_BULK, optical=m.image, options=InversionOptions(psf_sigma_um=0.6))


def test_realistic_micrograph_ranks_boundaries(lognormal, from_micrograph):
    # Grains from a realistic etched-surface micrograph (default MicrographImperfections: groove
    # depth and width per boundary, faint stretches, tone, illumination, noise, pores, scratches,
    # scale 1.1, rotation 2 deg), segmented and registered by the boundaries package. Done-means:
    # Spearman >= 0.7 over accepted boundaries. The map is good: no repair worth a warning
    # (pytest turns a warning into an error).
    ds, grains, g = lognormal
    res = from_micrograph
    assert not res.grain_map["deficient"] and res.grain_map["origin"] == "optical"
    pairs = _with_truth(res, np.asarray(grains.labels), g)
    est = [b.dgb_over_delta.value for b, _ in pairs]
    tru = [t for _, t in pairs]
    assert len(est) >= 80
    assert spearmanr(est, tru).correlation >= 0.7


def test_realistic_micrograph_population_median_is_covered_by_its_error(from_micrograph):
    # Uncertainty Done-means on this image (seed 8, 206 x 256, PSF 0.6 um): the median, 0.835x truth,
    # lies 1.57 of its reported ln-stderr (0.115: statistical 0.086 from the marginal likelihood, model
    # 0.051, micrograph 0.056) from the truth. Before the marginal error (statistical part 0.037) it
    # lay 2.03 stderr off: the common level of a window's conductances is weakly measured, and the
    # independent-boundary error did not see it. With the TRUE grains: 0.825x at 1.89 stderr.
    err, se = _log_error(from_micrograph)
    assert abs(err) <= 2 * se
    assert from_micrograph.population.median_log_stderr["marginal"] > from_micrograph.population.median_log_stderr[
        "independent"]


def test_realistic_micrograph_per_boundary_errors_cover_the_truth(lognormal, from_micrograph):
    # Each accepted boundary's 2-stderr interval (stderr = value x posterior log-sd) should hold its
    # true D*gb/delta about 95 % of the time. On 512 x 206 images (seeds 245-249,
    # benchmarks/diag_boundary_coverage.py) it held 91-95 % with the micrograph's grains and the
    # z-scores ln(est / truth) / log-sd had an sd of 1.02-1.15. Here the median itself is 0.835x
    # truth (below), which shifts the z-scores (mean -0.47); measured: 0.930 covered of 142, z sd
    # 1.01. Bounds: with ~140 boundaries a
    # coverage of 0.93 has a sampling sd of 0.02 and the z sd one of ~0.06; 0.85 and [0.8, 1.35] are
    # more than 3.5 sd away from what the sweep measured.
    _, grains, g = lognormal
    pairs = _with_truth(from_micrograph, np.asarray(grains.labels), g)
    z = np.array([math.log(b.dgb_over_delta.value / t) / (b.dgb_over_delta.stderr / b.dgb_over_delta.value)
                  for b, t in pairs])
    assert z.size >= 80
    assert np.mean(np.abs(z) <= 2) >= 0.85, f"coverage {np.mean(np.abs(z) <= 2):.3f} over {z.size}"
    assert 0.8 <= np.std(z) <= 1.35, f"z sd {np.std(z):.3f}"


@pytest.mark.xfail(strict=True, reason="measured on this image (seed 8, 206 x 256, PSF 0.6 um): population median "
                   "0.835x truth with the realistic micrograph's grains (no grain cut, none unexplained) and 0.825x "
                   "with the TRUE grains: an error of the inversion on this image (within its statistical error, "
                   "0.086 in ln on an image this size), not of the grain map; not within +-10 %. 512 x 206 log-normal "
                   "seeds 215-219: 4 of 5 within +-10 %.")
def test_realistic_micrograph_population_median(from_micrograph):
    err, se = _log_error(from_micrograph)
    assert abs(err) < math.log(1.1)
