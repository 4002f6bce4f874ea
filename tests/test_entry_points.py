"""The boundary analyses' entry points: option objects and the one shared preparation step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tracerdiff.boundaries import (QualityOptions, SegmentationOptions, StepFitOptions, analyse_boundaries,
                                   analyse_lines)
from tracerdiff.boundaries.prepare import prepare_image
from tracerdiff.errors import FitError, InputError
from tracerdiff.inversion import InversionOptions, invert_boundaries

D_BULK = "2.6e-8 cm^2/s"


def _flat():
    """A uniform C map: no large-scale trend, so no source edge can be found."""
    rng = np.random.default_rng(0)
    return 0.3 + 0.001 * rng.standard_normal((40, 40))


ENTRY_POINTS = {
    "analyse_boundaries": lambda data, **kw: analyse_boundaries(data, **kw),
    "analyse_lines": lambda data, **kw: analyse_lines(data, ["10,5,10,35"], **kw),
    "invert_boundaries": lambda data, **kw: invert_boundaries(data, **kw),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_refuses_a_bad_source_edge_the_same_way(entry):
    with pytest.raises(InputError) as err:
        ENTRY_POINTS[entry](_flat(), d_bulk=D_BULK, pixel_size_um=1.0, source_edge="sideways")
    assert err.value.source == "source_edge"
    assert err.value.message == "source edge must be auto, top, bottom, left or right, got 'sideways'"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_reports_a_missing_source_edge_the_same_way(entry):
    res = ENTRY_POINTS[entry](_flat(), d_bulk=D_BULK, pixel_size_um=1.0)
    prep = prepare_image(_flat(), d_bulk=D_BULK, pixel_size_um=1.0)
    assert prep.early is not None and prep.source_edge == "unknown"
    assert res.boundaries == () and res.source_edge == "unknown"
    assert res.message == prep.early.message and res.message.endswith("; no boundary analysed")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_checks_d_bulk_the_same_way(entry):
    with pytest.raises(InputError) as err:
        ENTRY_POINTS[entry](_flat(), d_bulk="-1 cm^2/s", pixel_size_um=1.0)
    assert err.value.source == "d_bulk"


@pytest.mark.parametrize("make, field", [
    (lambda: SegmentationOptions(max_segment_px=0), "max_segment_px"),
    (lambda: SegmentationOptions(smoothing_px=float("nan")), "smoothing_px"),
    (lambda: StepFitOptions(gradient="steepest"), "gradient"),
    (lambda: StepFitOptions(degree=4), "degree"),
    (lambda: StepFitOptions(degree=True), "degree"),
    (lambda: StepFitOptions(exclude_px=-1), "exclude_px"),
    (lambda: StepFitOptions(tile_px=0), "tile_px"),
    (lambda: QualityOptions(max_flux_angle_deg=95), "max_flux_angle_deg"),
    (lambda: QualityOptions(include_flagged="yes"), "include_flagged"),
    (lambda: InversionOptions(window_px=4), "window_px"),
    (lambda: InversionOptions(stride_px=200), "stride_px"),
    (lambda: InversionOptions(repair_rounds=-1), "repair_rounds"),
    (lambda: InversionOptions(min_population_log_sd=4.0), "min_population_log_sd"),
])
def test_bad_options_are_refused_when_made_naming_the_field(make, field):
    with pytest.raises(InputError) as err:
        make()
    assert err.value.source == field


def test_options_are_frozen_and_keep_the_former_defaults():
    opts = StepFitOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.gradient = "local"  # type: ignore[misc]
    # The defaults of the former keyword arguments (analyse_boundaries / invert_boundaries).
    assert (opts.exclude_px, opts.depth_px, opts.degree, opts.gradient, opts.tile_px) == (3.0, 20.0, "auto",
                                                                                          "combined", 8.0)
    assert SegmentationOptions() == SegmentationOptions(smoothing_px=2.0, merge_z=0.0, h_minimum=0.05,
                                                        max_segment_px=40.0)
    assert QualityOptions().min_cos == pytest.approx(np.cos(np.radians(70.0)), rel=1e-15)
    inv = InversionOptions()
    assert (inv.window_px, inv.stride_px, inv.max_log_sd, inv.n_passes, inv.repair_rounds) == (96, 64, 0.35, 3, 3)


def test_analyse_lines_needs_a_line():
    with pytest.raises(InputError) as err:
        analyse_lines(_flat(), [], d_bulk=D_BULK, pixel_size_um=1.0)
    assert err.value.source == "line"


def test_errors_keep_message_and_source_apart():
    err = InputError("must be positive", source="--d-bulk")
    assert (err.message, err.source, str(err)) == ("must be positive", "--d-bulk", "--d-bulk: must be positive")
    fit = FitError("did not converge", source="scan.csv")
    assert (fit.message, fit.source, str(fit)) == ("did not converge", "scan.csv", "scan.csv: did not converge")
    assert str(FitError("no source")) == "no source" and FitError("no source").source is None
