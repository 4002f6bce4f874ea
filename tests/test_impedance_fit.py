"""Equivalent-circuit fit (R‖CPE)(R‖CPE) and the brick-layer conversion."""

import numpy as np
import pytest

from tracerdiff.errors import InputError
from tracerdiff.io import read_impedance_spectrum
from tracerdiff.models.impedance_fit import MIN_SPECTRUM_POINTS, circuit_impedance, fit_impedance

# A bulk arc (R 400 ohm, C ~ 22 pF) and a boundary arc (R 1400 ohm, C ~ 0.7 uF): the synthetic
# LLTO sample at 22 degC (1 mm thick, 0.25 cm^2, eps_r 100, l/delta = 32000).
L, A = 1e-3, 0.25e-4
TRUE = dict(r1=400.0, c1=2.2e-11, a1=0.9, r2=1400.0, c2=7.1e-7, a2=0.85)


def _q(r, c, a):
    return (c * r) ** a / r  # inverse of C = (R Q)^(1/alpha) / R


def _spectrum(noise=0.0, seed=0):
    f = np.logspace(9.5, -1, 106)
    z = circuit_impedance(f, TRUE["r1"], _q(TRUE["r1"], TRUE["c1"], TRUE["a1"]), TRUE["a1"],
                          TRUE["r2"], _q(TRUE["r2"], TRUE["c2"], TRUE["a2"]), TRUE["a2"])
    rng = np.random.default_rng(seed)
    z = z.real * (1 + noise * rng.standard_normal(f.size)) + 1j * z.imag * (1 + noise * rng.standard_normal(f.size))
    return f, z


def test_exact_spectrum_recovers_circuit_and_brick_layer_values():
    f, z = _spectrum()
    fit = fit_impedance(f, z, thickness=L, area=A)
    # Noise-free data: only the optimiser's tolerance limits agreement.
    assert fit.r_bulk.value == pytest.approx(TRUE["r1"], rel=1e-5)
    assert fit.r_gb.value == pytest.approx(TRUE["r2"], rel=1e-5)
    assert fit.c_bulk.value == pytest.approx(TRUE["c1"], rel=1e-4)
    assert fit.c_gb.value == pytest.approx(TRUE["c2"], rel=1e-4)
    assert fit.sigma_bulk.value == pytest.approx(L / (TRUE["r1"] * A), rel=1e-5)
    assert fit.sigma_gb_apparent.value == pytest.approx(L / (TRUE["r2"] * A), rel=1e-5)
    # delta/l = C_bulk/C_gb, and sigma_gb,specific = sigma_gb,apparent * delta/l.
    assert fit.delta_over_l.value == pytest.approx(TRUE["c1"] / TRUE["c2"], rel=1e-4)
    assert fit.sigma_gb_specific.value == pytest.approx(L / (TRUE["r2"] * A) * TRUE["c1"] / TRUE["c2"], rel=1e-4)
    assert fit.relative_rms_residual < 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_spectrum_recovers_resistances_within_their_errors(seed):
    f, z = _spectrum(noise=0.005, seed=seed)
    fit = fit_impedance(f, z, thickness=L, area=A)
    for (value, err), true in ((fit.r_bulk.to("ohm"), TRUE["r1"]), (fit.r_gb.to("ohm"), TRUE["r2"])):
        # 0.5 % noise on 106 points pins each R to ~0.1 %: allow 1 % and 4 stderr (a wrong
        # circuit or arc assignment would be off by tens of %).
        assert value == pytest.approx(true, rel=0.01)
        assert abs(value - true) < 4 * err
    # Z' and Z'' each get 0.5 % relative noise, so |dZ|/|Z| has rms 0.5 %: the fit leaves only noise.
    assert fit.relative_rms_residual == pytest.approx(0.005, rel=0.3)


def test_bulk_is_the_high_frequency_arc_even_if_larger():
    # R_bulk > R_gb: arcs are told apart by time constant, not by size.
    f = np.logspace(9, -2, 100)
    z = circuit_impedance(f, 5000.0, _q(5000.0, 1e-11, 0.95), 0.95, 800.0, _q(800.0, 1e-6, 0.9), 0.9)
    fit = fit_impedance(f, z, thickness=L, area=A)
    assert fit.r_bulk.value == pytest.approx(5000.0, rel=1e-4)
    assert fit.r_gb.value == pytest.approx(800.0, rel=1e-4)


def test_read_impedance_spectrum_header_comments_and_sign(tmp_path):
    f, z = _spectrum()
    p = tmp_path / "s.csv"
    rows = "\n".join(f"{a:.10e},{b.real:.10e},{-b.imag:.10e}" for a, b in zip(f, z))  # file stores -Z''
    p.write_text("# instrument export\nfrequency_Hz,Z_real_ohm,minus_Z_imag_ohm\n" + rows + "\n")
    f2, z2 = read_impedance_spectrum(p)
    np.testing.assert_allclose(f2, f, rtol=1e-9)
    np.testing.assert_allclose(z2, z, rtol=1e-9)  # capacitive arcs come back with negative imaginary part


def test_bad_input():
    with pytest.raises(InputError):
        fit_impedance([1, 2, 3], [1, 2, 3], thickness=L, area=A)
    f, z = _spectrum()
    with pytest.raises(InputError):
        fit_impedance(f, z, thickness=-1.0, area=A)


def test_one_arc_spectrum_is_a_fit_error_not_a_boundary_value():
    # Was: R_gb = 6e-7 ohm and a 'specific boundary conductivity' with a 10 % error from a spectrum
    # that has no boundary arc at all.
    from tracerdiff.errors import FitError

    f = np.logspace(8, -1, 60)
    z = circuit_impedance(f, 400.0, _q(400.0, 1e-10, 0.9), 0.9, 1e-12, 1e-12, 0.9)  # second arc absent
    with pytest.raises(FitError, match="only one arc is resolved"):
        fit_impedance(f, z, thickness=L, area=A)


def test_pure_resistor_is_a_fit_error_not_an_overflow():
    from tracerdiff.errors import FitError

    f = np.logspace(8, -1, 60)
    with pytest.raises(FitError, match="two arcs"):  # was a bare OverflowError from math.exp
        fit_impedance(f, np.full(f.size, 400.0 + 0j), thickness=L, area=A)


def test_read_impedance_spectrum_refuses_too_few_rows(tmp_path):
    from tracerdiff.errors import FileFormatError

    p = tmp_path / "short.csv"
    p.write_text("frequency_Hz,Z_real_ohm,Z_imag_ohm\n" + "".join(f"{10.0 ** k},{100 + k},-{k + 1}\n"
                                                                  for k in range(5)))
    with pytest.raises(FileFormatError, match=r"short\.csv: need >= 12 rows"):
        read_impedance_spectrum(p, min_points=MIN_SPECTRUM_POINTS)
