"""Acceptance-QA regressions: bad input to the simulator and to `tracerdiff simulate`.

Every case below once gave a traceback, a message naming an internal parameter instead
of the flag, or a silently wrong result.
"""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

import tracerdiff.grains as grains_module
import tracerdiff.simulate.history as history
from tracerdiff import __version__
from tracerdiff import io as tio
from tracerdiff.cli import app
from tracerdiff.errors import InputError
from tracerdiff.simulate import (ClosedStep, ExchangeConditions, ExchangeStep, GrainMap, layered_tensors, SimsOptions,
                                 simulate_history, synthetic_exchange_image, synthetic_sims, voronoi_grains)

RUNNER = CliRunner()
THREE = GrainMap.from_labels(np.repeat([[0, 0, 1, 1, 2, 2]], 4, axis=0), pixel_size_um=1.0)
GOOD = dict(d_bulk=1e-12, dgb_over_delta=1e-8)


@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if the operator is assembled or grains generated (i.e. work started)."""
    def boom(*args, **kwargs):
        raise AssertionError("work started before validation finished")
    monkeypatch.setattr(history, "assemble", boom)
    monkeypatch.setattr("tracerdiff.simulate.voronoi._pack_disks", boom)


def _simulate(tmp_path, *args):
    return RUNNER.invoke(app, ["simulate", "--out", str(tmp_path / "out"), "--shape", "20x24",
                               "--grain-size", "6um", "--n-steps", "4", *args])


# ------------------------------------------------------------------ Python API
@pytest.mark.parametrize("call, message", [
    (lambda: GrainMap.from_labels(np.zeros((4, 4), int), pixel_size_um="1um"), "pixel_size_um: pixel size"),
    (lambda: GrainMap.from_labels(np.zeros((4, 4), int), pixel_size_um=None), "pixel_size_um: pixel size"),
    (lambda: GrainMap.from_labels(np.array([[0, 2 ** 40]] * 3), pixel_size_um=1.0), "relabel_sequential"),
    (lambda: GrainMap.from_labels(np.zeros((4, 4), int), pixel_size_um=1.0, normal_smoothing_px=-1),
     "normal_smoothing_px"),
    (lambda: GrainMap.from_labels(np.zeros((4, 4), int), pixel_size_um=1.0, boundary_label=0), "no grains"),
    (lambda: voronoi_grains("10x10", pixel_size_um=1.0, mean_grain_um=4.0), "shape must be"),
    (lambda: voronoi_grains((10.5, 10), pixel_size_um=1.0, mean_grain_um=4.0), "shape must be"),
    (lambda: synthetic_exchange_image(shape="10x10"), "shape must be"),
    (lambda: synthetic_exchange_image(shape=(10,)), "shape must be"),
    (lambda: SimsOptions(yield_variation=1.0), "yield_variation"),
    (lambda: SimsOptions(counts_per_pixel=1e30), "counts_per_pixel"),
    (lambda: synthetic_sims(np.zeros((4, 4)), pixel_size_um="1"), "pixel_size_um"),
    (lambda: layered_tensors(THREE, d_fast=float("nan"), d_slow=1.0), "positive"),
])
def test_bad_api_input_is_an_input_error(call, message):
    with pytest.raises(InputError, match=message):
        call()


@pytest.mark.parametrize("bad_step, message", [
    (ClosedStep("1h", **GOOD), "duration must be a positive"),
    (ClosedStep(1.0, d_bulk="1e-12", dgb_over_delta=1e-8), "D\\*bulk must be a positive"),
    (ClosedStep(1.0, d_bulk=None, dgb_over_delta=1e-8), "D\\*bulk must be a positive"),
    (ExchangeStep(1.0, c_source="1", **GOOD), "c_source must be finite"),
    (ClosedStep(1.0, d_bulk=1e-12, dgb_over_delta={"a": 1e-8}), "keys must be grain-label pairs"),
    # (1, 0) and (0, 1) are the same boundary: which value should win is ambiguous.
    (ClosedStep(1.0, d_bulk=1e-12, dgb_over_delta={(1, 0): 1e-8, (0, 1): 2e-8, (1, 2): 1e-8}), "given twice"),
    # Grains 0 and 2 are not neighbours.
    (ClosedStep(1.0, d_bulk=1e-12, dgb_over_delta={(0, 1): 1e-8, (1, 2): 1e-8, (0, 2): 1e-8}),
     "boundary \\(0, 2\\) does not exist"),
    (ClosedStep(1.0, d_bulk=1e-12, dgb_over_delta=lambda a, b: 1 / 0), "failed for boundary \\(0, 1\\)"),
])
def test_bad_step_values_fail_before_work(no_work, bad_step, message):
    with pytest.raises(InputError, match=message):
        simulate_history(THREE, [ExchangeStep(1.0, **GOOD), bad_step])


def test_a_single_step_need_not_be_wrapped_in_a_list():
    one = simulate_history(THREE, ClosedStep(1.0, **GOOD), c_initial=0.5)
    assert np.allclose(one.c, 0.5)  # uniform field under no flux: unchanged
    with pytest.raises(InputError, match="sequence of ExchangeStep"):
        simulate_history(THREE, 42)


def test_exchange_image_checks_everything_before_grains_are_made(no_work):
    # The options are checked when made, the image's own parameters before any grain is made.
    for kwargs, name in ((dict(counts_per_pixel=-5), "counts_per_pixel"),
                         (dict(yield_variation=1.5), "yield_variation"), (dict(psf_sigma_um=-1), "psf_sigma_um")):
        with pytest.raises(InputError, match=name):
            synthetic_exchange_image(shape=(20, 20), sims=SimsOptions(**kwargs))
    with pytest.raises(InputError, match="dgb_sigma_ln"):
        synthetic_exchange_image(shape=(20, 20), exchange=ExchangeConditions(dgb_sigma_ln=-1))
    for kwargs, name in ((dict(n_steps=0), "n_steps"), (dict(domain_rows=10), "domain_rows"),
                         (dict(sims=SimsOptions(psf_sigma_um=50)), "psf_sigma_um")):
        with pytest.raises(InputError, match=name):
            synthetic_exchange_image(shape=(20, 20), **kwargs)


def test_memory_is_estimated_and_refused_up_front(no_work, monkeypatch):
    # Pretend 1 GB is free: a 2000^2 image over a 3x taller domain (12 M cells, ~24 GB) is refused.
    monkeypatch.setattr(grains_module, "available_memory_bytes", lambda: 1e9)
    with pytest.raises(InputError, match="needs about 24.3 GB of memory but only 1.0 GB"):
        synthetic_exchange_image(shape=(2000, 2000), domain_rows=6000)
    with pytest.raises(InputError, match="GB of memory"):
        voronoi_grains((20000, 20000), pixel_size_um=1.0, mean_grain_um=500.0)
    with pytest.raises(InputError, match="GB of memory"):
        simulate_history(GrainMap(np.zeros((1000, 1000), int), 1.0), [ClosedStep(1.0, **GOOD)])


def test_label_zero_is_a_grain_unless_named_as_boundary_class():
    # Two grains (1, 2) separated by a drawn boundary line of label 0 in column 3.
    labels = np.array([[1, 1, 1, 0, 2, 2, 2]] * 4)
    as_grain = GrainMap.from_labels(labels, pixel_size_um=1.0)
    assert as_grain.n_grains == 3 and as_grain.boundary_pairs().tolist() == [[0, 1], [0, 2]]
    absorbed = GrainMap.from_labels(labels, pixel_size_um=1.0, boundary_label=0)
    assert absorbed.n_grains == 2 and absorbed.boundary_pairs().tolist() == [[1, 2]]
    assert absorbed.info["boundary_label"] == 0
    assert (absorbed.labels[:, :3] == 1).all() and (absorbed.labels[:, 4:] == 2).all()


def test_single_grain_label_image_has_no_boundaries_and_is_plain_diffusion():
    one = GrainMap.from_labels(np.zeros((6, 5), int), pixel_size_um=1.0)
    assert one.n_grains == 1 and len(one.boundaries()) == 0
    result = simulate_history(one, [ClosedStep(10.0, d_bulk=1e-12, dgb_over_delta={})], c_initial=0.25)
    assert result.truth["boundaries"] == [] and np.allclose(result.c, 0.25)


# ------------------------------------------------------------------ CLI
@pytest.mark.parametrize("args, flag", [
    (["--counts", "-5"], "--counts"),
    (["--counts", "1e9"], "--counts"),  # would overflow the uint32 TIFFs
    (["--psf-sigma", "-1um"], "--psf-sigma"),
    (["--yield-variation", "1"], "--yield-variation"),
    (["--n-steps", "0"], "--n-steps"),
    (["--grain-size", "0.5um"], "--grain-size"),
    (["--grain-size-sd", "-1um"], "--grain-size-sd"),
    (["--dgb-sigma-ln", "-1"], "--dgb-sigma-ln"),
    (["--domain-rows", "5"], "--domain-rows"),
    (["--shape", "0x5"], "--shape"),
    (["--shape", "abc"], "--shape"),
    (["--shape", "10x10x10x10"], "--shape"),
    (["--seed", "-1"], "--seed"),  # was a numpy traceback
    (["--dgb-sigma-ln", "50"], "--dgb-sigma-ln"),
    # A pixel size slip (1e-9 um): the 0.5 um beam became a 5e8-pixel kernel (MemoryError); now the
    # pixel size itself is outside its plausible range (issue 14), which names the flag that is wrong.
    (["--pixel-size", "1e-9um"], "--pixel-size"),
])
def test_cli_errors_name_the_flag_and_leave_nothing_behind(tmp_path, args, flag):
    res = _simulate(tmp_path, *args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"error: {flag}:") and res.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()  # refused before anything was created


def test_cli_refuses_a_huge_shape_with_a_memory_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr(grains_module, "available_memory_bytes", lambda: 8e9)
    res = _simulate(tmp_path, "--shape", "100000x100000", "--grain-size", "500um")
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --shape:") and "GB of memory but only 8.0 GB" in res.stderr


def test_cli_out_that_cannot_be_a_folder(tmp_path):
    (tmp_path / "afile").write_text("x")
    # Checked by tracerdiff.report.transaction (the output folder of run, demo and simulate).
    for out, message in ((tmp_path / "afile", "the output folder exists as a file"),
                         (tmp_path / "afile" / "sub", "afile is a file")):
        res = RUNNER.invoke(app, ["simulate", "--out", str(out), "--shape", "20x24"])
        assert res.exit_code == 2 and res.stderr.startswith(f"error: {out}:") and message in res.stderr


def test_cli_out_without_write_permission_is_refused_before_work(tmp_path, monkeypatch):
    # Root ignores permission bits, so the check itself is exercised through os.access.
    import tracerdiff.report.transaction as transaction

    monkeypatch.setattr(transaction.os, "access", lambda path, mode: False)
    out = tmp_path / "new" / "out"
    res = RUNNER.invoke(app, ["simulate", "--out", str(out), "--shape", "20x24"])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {out}: cannot write in {tmp_path}")
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_cli_out_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = RUNNER.invoke(app, ["simulate", "--out", str(locked / "out"), "--shape", "20x24"])
    finally:
        locked.chmod(0o700)
    assert res.exit_code == 2 and "error: --out: cannot write in" in res.stderr


def test_cli_outputs_round_trip_with_full_provenance(tmp_path):
    res = _simulate(tmp_path, "--seed", "4", "--dgb-sigma-ln", "0.5", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    out = tmp_path / "out"
    truth = json.loads((out / "truth.json").read_text())
    assert truth["tracerdiff_version"] == __version__
    assert truth["command"]["shape"] == "20x24" and truth["command"]["seed"] == 4
    assert truth["command"]["domain_rows"] == 60  # the default, three image heights, recorded
    assert truth["seed"] == 4 and truth["sims"]["seed"] == 4
    assert len(truth["boundaries"]) == summary["n_boundaries"] > 0
    assert all(b["dgb_over_delta"] > 0 and b["length_um"] > 0 for b in truth["boundaries"])
    # Log-normal spread: the per-boundary values differ.
    assert len({b["dgb_over_delta"] for b in truth["boundaries"]}) > 1
    image = tio.read(out / "image.h5")
    six = tio.read(out / "6Li.tif")
    assert np.array_equal(np.asarray(six[list(six.data_vars)[0]].values), image["6Li"].values)
    assert json.loads(image.attrs["metadata_json"])["truth"]["seed"] == 4
    for name in ("7Li.tif", "c_true.tif"):  # c_true.tif had no pixel size
        res = RUNNER.invoke(app, ["inspect", str(out / name), "--json"])
        assert res.exit_code == 0 and json.loads(res.stdout)["pixel_size_um"] == pytest.approx(1.0)
    assert summary["domain_rows"] == 60 and summary["seed"] == 4


def test_arrhenius_laws_are_checked_and_recorded_in_the_truth():
    from tracerdiff.simulate import Arrhenius

    for args, name in (((-1e-6, 1e-19), "prefactor"), ((1e-6, "0.5 eV"), "activation_energy_J"),
                       ((float("nan"), 1e-19), "prefactor")):
        with pytest.raises(InputError, match=name):
            Arrhenius(*args)
    with pytest.raises(InputError, match="overflows"):
        Arrhenius(1.0, -1e-15).at(300.0)
    with pytest.raises(InputError, match="temperature"):
        Arrhenius(1.0, 1e-19).at("300 K")
    law = Arrhenius(1e-6, 8e-20)
    result = simulate_history(THREE, [ExchangeStep(1.0, d_bulk=law, dgb_over_delta=1e-8, temperature_K=400.0),
                                      ClosedStep(1.0, **GOOD)])
    first, second = result.truth["steps"]
    assert first["arrhenius"] == {"d_bulk": {"prefactor_si": 1e-6, "activation_energy_J": 8e-20}}
    assert first["d_bulk"] == pytest.approx(law.at(400.0)) and "arrhenius" not in second


def test_result_to_dict_is_a_copy():
    result = simulate_history(THREE, [ClosedStep(1.0, **GOOD)])
    result.to_dict()["steps"].clear()
    assert len(result.truth["steps"]) == 1


def test_wetted_region_is_recorded_and_result_plots():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    mask = np.zeros(THREE.shape, bool)
    mask[-1, :3] = True
    result = simulate_history(THREE, [ExchangeStep(100.0, source_edge=mask, **GOOD)])
    assert result.truth["steps"][0]["source_edge"] == "mask" and result.truth["steps"][0]["source_cells"] == 3
    ax = Figure().add_subplot()
    assert result.plot(ax) is ax and len(ax.images) == 1
    assert ax.images[0].get_array().shape == THREE.shape


@pytest.mark.parametrize("call, message", [
    (lambda: GrainMap(THREE.labels, 1.0, seeds_um=np.zeros((2, 2))), "seeds_um: must have one row"),
    (lambda: simulate_history(THREE, [ClosedStep(1.0, **GOOD)], c_initial="a"), "c_initial"),
    # Without an Arrhenius law the temperature was stored unchecked ('hot' in the truth).
    (lambda: simulate_history(THREE, [ClosedStep(1.0, temperature_K="hot", **GOOD)]), "temperature must be"),
    # A bare list was silently matched to boundary_pairs() order.
    (lambda: simulate_history(THREE, [ClosedStep(1.0, d_bulk=1e-12, dgb_over_delta=[1e-8, 1e-8])]),
     "mapping or a callable"),
])
def test_more_bad_api_input(call, message):
    with pytest.raises(InputError, match=message):
        call()
