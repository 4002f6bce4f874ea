"""The population median's error terms against the recorded benchmark rows (issue 12, uncertainty).

tests/data/inversion_grainmap_rows.jsonl holds one row per inversion printed by
benchmarks/bench_inversion_grainmap.py (synthetic_exchange_image 206 x 512 px, 1 um, 3000 counts/px,
PSF 0.6 um, D*gb/delta median 1.5e-6 cm/s, uniform or log-normal sigma_ln 0.5; grain maps: true,
true with 10 % of the boundaries deleted, realistic micrograph, C map). Each row keeps the
statistical error parts and the grain-map quality figure, so the shipped constants of
tracerdiff.inversion.quality can be checked against the truth here without re-running the
inversions (about 30-90 s each). Done-means: |ln(median / truth)| <= 2 x reported stderr on at
least 9 of 10 seeds per condition.

The shipped constants were fitted to these rows (validation seeds included; the out-of-sample
figure, each seed judged with constants fitted to the others, is in quality.py and
docs/validation.rst), so the coverage test below is a regression check of the constants against
the measurement, not an independent validation.
"""

import json
import math
from pathlib import Path

import pytest

from tracerdiff.inversion.quality import (CALIBRATION_SEEDS, MODEL_LOG_ERROR, VALIDATION_SEEDS, map_log_error,
                                         median_log_stderr)

ROWS = Path(__file__).parent / "data" / "inversion_grainmap_rows.jsonl"
ORIGIN = {"true": "labels", "deleted": "labels", "micrograph": "optical", "cmap": "cmap"}


def _rows():
    return [json.loads(line) for line in ROWS.read_text().splitlines() if line.strip()]


def _covered(row) -> bool:
    """Whether the shipped constants' 2 stderr cover the truth on this recorded inversion."""
    parts = row["log_stderr_parts"]
    q = {"median_log_stderr_map": map_log_error(ORIGIN[row["condition"]], row["grain_map"]["deficiency"])}
    marginal = parts.get("marginal")  # rows of seeds >= 215 (code with the marginal error) carry it
    total = median_log_stderr(parts["independent"], parts["windows"] if parts["windows"] is not None else math.inf,
                              q, marginal=marginal if marginal is not None else math.nan)["total"]
    return abs(math.log(row["median_over_truth"])) <= 2 * total


def test_recorded_rows_are_the_documented_seeds():
    seeds = {r["seed"] for r in _rows()}
    assert set(VALIDATION_SEEDS) <= seeds and set(CALIBRATION_SEEDS) <= seeds
    assert not set(CALIBRATION_SEEDS) & set(VALIDATION_SEEDS)
    # Every validation seed has every condition: 10 seeds x (micrograph, C map, deleted) x 2 kinds.
    val = [r for r in _rows() if r["seed"] in VALIDATION_SEEDS]
    assert len(val) == 60 and len({(r["seed"], r["condition"], r["kind"]) for r in val}) == 60


def test_model_term_covers_the_true_grains():
    # With the true grains only the model term and the statistics remain.
    rows = [r for r in _rows() if r["condition"] == "true"]
    assert rows and all(_covered(r) for r in rows)
    assert MODEL_LOG_ERROR > 0


CONDITIONS = [("micrograph", "lognormal"), ("micrograph", "uniform"), ("cmap", "lognormal"), ("cmap", "uniform"),
              ("deleted", "lognormal"), ("deleted", "uniform")]


@pytest.mark.parametrize("condition, kind", CONDITIONS)
def test_two_stderr_cover_the_truth_on_nine_of_ten_validation_seeds(condition, kind):
    rows = [r for r in _rows() if r["condition"] == condition and r["kind"] == kind and r["seed"] in VALIDATION_SEEDS]
    assert len(rows) == 10
    covered = sum(_covered(r) for r in rows)
    assert covered >= math.ceil(0.9 * len(rows))


FRESH_SEEDS = range(215, 225)


def test_fresh_seeds_with_the_marginal_error_are_covered():
    # Rows of seeds 215-224, never used in any fit, run with the code that adds the marginal-likelihood
    # error (issue 12, uniform-bias study; conditions true, micrograph and C map). The constants were
    # not re-fitted: the model term now stands for the log-sd floor's bias on uniform images. Done-means:
    # 2 stderr cover the truth on at least 9 of 10 seeds; here pooled over the conditions run.
    rows = [r for r in _rows() if r["seed"] in FRESH_SEEDS]
    assert len(rows) >= 30 and all(r["log_stderr_parts"].get("marginal") is not None for r in rows)
    covered = sum(_covered(r) for r in rows)
    assert covered >= math.ceil(0.9 * len(rows))
    # The marginal error is what the statistics of these images are: 0.04-0.06 in ln on 512 x 206 px.
    assert all(0.03 < r["log_stderr_parts"]["marginal"] < 0.08 for r in rows)


#: Seeds 225-234: run after the registration refinement, the marginal error and the converged passes
#: were merged (commit 3801c0b), every condition and kind, never used in any fit or choice.
MERGED_SEEDS = range(225, 235)


@pytest.mark.parametrize("condition", ["true", "micrograph", "cmap", "deleted"])
@pytest.mark.parametrize("kind", ["uniform", "lognormal"])
def test_two_stderr_cover_the_truth_on_nine_of_ten_fresh_seeds_per_condition(condition, kind):
    # The issue's uncertainty criterion as stated: per condition, at least 9 of 10 seeds. The rows'
    # own reported error and the shipped constants applied here must agree, so the check is of the
    # code as shipped, not of a re-derivation.
    rows = [r for r in _rows() if r["seed"] in MERGED_SEEDS and r["condition"] == condition and r["kind"] == kind]
    assert sorted(r["seed"] for r in rows) == list(MERGED_SEEDS)
    assert all(_covered(r) == r["within_2se"] for r in rows)
    assert sum(_covered(r) for r in rows) >= 9


#: Seeds 235-244: run on the code with the steep-grain threshold at 3 sd and the robust window-cluster
#: error (commit 35f9196; the memory changes merged after it leave every value bit-identical, tested
#: in test_inversion_scale.py), every condition and kind, never used in any fit or choice.
FINAL_SEEDS = range(235, 245)

#: The issue's accuracy bands for the population median / truth, per grain map.
ACCURACY_BAND = {"true": 0.10, "micrograph": 0.10, "cmap": 0.15, "deleted": 0.20}


def _final(condition, kind):
    rows = [r for r in _rows() if r["seed"] in FINAL_SEEDS and r["condition"] == condition and r["kind"] == kind]
    assert sorted(r["seed"] for r in rows) == list(FINAL_SEEDS)
    return rows


@pytest.mark.parametrize("condition", ["true", "micrograph", "cmap", "deleted"])
@pytest.mark.parametrize("kind", ["uniform", "lognormal"])
def test_final_seeds_are_covered_and_within_the_band(condition, kind):
    # Coverage: 2 stderr on at least 9 of 10 seeds (the shipped constants reproduce each row's
    # verdict). Accuracy as the issue states it, "as a mean over >= 10 seeds": the mean of
    # median / truth within the band; and at least 9 of the 10 seeds within it one by one (the
    # image itself pins its median to ~+-4.5 % (1 sd) with the true grains, so a seed outside
    # +-10 % is expected about once in 30 images even with a perfect map: 2.2 sd, 2.8 %).
    rows = _final(condition, kind)
    assert all(_covered(r) == r["within_2se"] for r in rows)
    assert sum(_covered(r) for r in rows) >= 9
    ratios = [r["median_over_truth"] for r in rows]
    band = ACCURACY_BAND[condition]
    assert abs(sum(ratios) / len(ratios) - 1.0) <= band
    assert sum(abs(x - 1.0) <= band for x in ratios) >= 9


def test_final_seeds_deleted_maps_warned_and_micrograph_ranks_boundaries():
    # Every map with 10 % of its boundaries deleted is called deficient; with the realistic
    # micrograph, Spearman over accepted boundaries (log-normal images) averages >= 0.7.
    assert all(r["warned"] for kind in ("uniform", "lognormal") for r in _final("deleted", kind))
    spearman = [r["spearman"] for r in _final("micrograph", "lognormal")]
    assert sum(spearman) / len(spearman) >= 0.7


def test_window_cluster_error_is_robust_on_the_final_seeds():
    # With the robust weights the window-cluster term stays of the size of the other statistical
    # terms (seed 240's C map gave 1.11 in ln unweighted; here every row is below 0.1).
    rows = [r for r in _rows() if r["seed"] in FINAL_SEEDS]
    assert len(rows) == 80
    assert max(r["log_stderr_parts"]["windows"] for r in rows) < 0.1
