"""Exact type-B solutions: Whipple's averaged C̄ and Suzuoka's thin-film counterpart.

The library reduces the lateral integral of Whipple's C2 to one quadrature (ierfc); the
helper below integrates Whipple's original double integral numerically instead, so the
two are independent evaluations of the same formula.
"""

import math

import numpy as np
import pytest
from scipy import integrate, special

from tracerdiff.errors import InputError
from tracerdiff.profiles.whipple import (leclaire_constant, suzuoka_excess, whipple_excess, whipple_mean)


def whipple_c2(xi, eta, beta, delta_ratio):
    """Whipple's C2(xi, eta) as printed (Kaur, Mishin & Lojkowski eq. 3.30), by quadrature over sigma."""
    def f(s):
        a = 0.5 if math.isinf(delta_ratio) else 0.5 * math.sqrt((delta_ratio - 1) / (delta_ratio - s))
        return s ** -1.5 * math.exp(-eta * eta / (4 * s)) * math.erfc(a * (xi + (s - 1) / beta))
    top = min(delta_ratio, 1 + 80 * beta)
    marks = [1 + beta, 1 + 10 * beta, eta * eta / 6]
    pts = [m for m in marks if 1 < m < top]
    val, _ = integrate.quad(f, 1, top, points=pts or None, epsabs=0, epsrel=1e-11, limit=400)
    return eta / (2 * math.sqrt(math.pi)) * val


def excess_by_double_integral(eta, beta, delta_ratio=math.inf):
    """int_0^inf C2 dxi by nested quadrature (the test helper of issue 17)."""
    val, _ = integrate.quad(lambda xi: whipple_c2(xi, eta, beta, delta_ratio), 0, 12 + 2 * math.sqrt(eta),
                            epsabs=0, epsrel=1e-9, limit=200)
    return val


@pytest.mark.parametrize("beta,delta_ratio", [(10, math.inf), (100, math.inf), (1000, math.inf), (10, 1e3),
                                              (100, 1e5)])
def test_single_integral_matches_whipples_double_integral(beta, delta_ratio):
    # Relative 1e-6 (issue 17): both quadratures are asked for 1e-9 or better.
    for w in (0.5, 2.0, 4.0):
        eta = w * math.sqrt(beta)
        lib = whipple_excess(eta, beta, delta_ratio=delta_ratio)[0]
        ref = excess_by_double_integral(eta, beta, delta_ratio)
        assert lib == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("beta", [100, 1000, 10000])
def test_leclaire_constant_from_the_exact_solution(beta):
    # Le Claire's 1.322 from 2 beta (-d ln C̄/d eta^(6/5))^(5/3), the least-squares slope over his
    # fitting range 2 <= eta beta^(-1/2) <= 4, for beta >= 100 (1.314-1.316 measured).
    k = leclaire_constant(2 * math.sqrt(beta), 4 * math.sqrt(beta), beta)
    assert k == pytest.approx(1.32, abs=0.01)


def test_leclaire_constant_drifts_outside_its_range():
    # The relation is not exact: at beta = 10 or deeper in the tail the constant is lower,
    # which is why the analysis inverts the exact slope (Chung-Wuensch's point).
    assert leclaire_constant(2 * math.sqrt(10), 4 * math.sqrt(10), 10) < 1.30
    assert leclaire_constant(5 * math.sqrt(1000), 8 * math.sqrt(1000), 1000) < 1.29


def test_suzuoka_is_minus_the_depth_derivative_of_whipple():
    beta, h = 100.0, 1e-4
    for eta in (5.0, 20.0, 40.0):
        deriv = -(whipple_excess(eta + h, beta)[0] - whipple_excess(eta - h, beta)[0]) / (2 * h)
        assert suzuoka_excess(eta, beta)[0] == pytest.approx(deriv, rel=1e-6)  # central difference O(h^2)


def test_small_beta_gives_bulk_erfc():
    eta = np.linspace(0.5, 8, 16)
    c = whipple_mean(eta, 1e-3, period=20.0)
    np.testing.assert_allclose(c, special.erfc(eta / 2), rtol=0, atol=2e-4)  # excess ~ beta: 1e-4 here
    assert np.all(c >= special.erfc(eta / 2))  # fast boundaries only add tracer


def test_bad_parameters_are_refused():
    with pytest.raises(InputError, match="beta"):
        whipple_excess(1.0, -1.0)
    with pytest.raises(InputError, match="Delta"):
        whipple_excess(1.0, 10.0, delta_ratio=0.5)
    with pytest.raises(InputError, match="period"):
        whipple_mean(1.0, 10.0, period=0.0)
