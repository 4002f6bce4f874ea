"""Boundary analysis on hand-built images whose step and gradient are known exactly.

C is built as a linear bulk field plus a step ΔC at every boundary; the true conductance is
then G = D_bulk * g_n / ΔC with g_n the gradient NORMAL to the boundaries.
"""

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from tracerdiff.boundaries import analyse_boundaries, analyse_lines, fit_step
from tracerdiff.io.image import make_image

D_BULK = 2.6e-12  # m^2/s (2.6e-8 cm^2/s, the paper's NMR value)


def staircase_image(*, shape=(120, 200), theta_deg=0.0, spacing=16.0, grad_y=2e-4, conductance=1.5e-8,
                    c_top=0.2, psf=1.0, counts=None, seed=0):
    """Parallel boundaries at ``theta_deg`` from the x axis, flux along +y (source at the bottom).

    The bulk gradient is along y (macroscopic flux direction), so its component normal to
    the boundaries is grad_y*cos(theta) and the step is D_bulk * g_n / G (flux continuity).
    Returns (dataset, true G in m/s, true normal gradient per pixel, true step).
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    th = math.radians(theta_deg)
    s = -xx * math.sin(th) + yy * math.cos(th)  # along the boundary normal, towards the bottom
    g_n = grad_y * math.cos(th)
    step = D_BULK * g_n * 1e6 / conductance  # gradient per pixel -> per metre with 1 um pixels
    c = c_top + grad_y * yy + step * np.floor((s - s.min()) / spacing)
    c = ndi.gaussian_filter(c, psf, mode="nearest")
    if counts is None:
        i6 = c * 1e9
        i7 = (1 - c) * 1e9
    else:
        rng = np.random.default_rng(seed)
        i6 = rng.binomial(counts, c).astype(float)
        i7 = counts - i6
    return make_image({"6Li": i6, "7Li": i7}, 1.0), conductance, g_n, step


class TestFitStep:
    def test_recovers_exact_linear_profile(self):
        # Noise-free two-sided linear data: every fit variant must return the exact step and slope.
        s = np.r_[np.arange(-12, -2), np.arange(3, 13)].astype(float)
        c = 0.4 + 1e-3 * s + np.where(s > 0, 0.02, 0.0)
        sigma = np.full_like(s, 1e-3)
        for degree in (1, 2):
            for shared in (True, False):
                fit = fit_step(s, c, sigma, degree=degree, shared_gradient=shared)
                assert fit.reason == ""
                assert fit.step == pytest.approx(0.02, abs=1e-9)
                assert fit.gradient == pytest.approx(1e-3, abs=1e-9)

    def test_quadratic_extrapolates_curvature_to_boundary(self):
        # Curved profiles on both sides: only the quadratic model recovers the value at s=0.
        s = np.r_[np.arange(-15, -2), np.arange(3, 16)].astype(float)
        c = 0.3 + 2e-3 * s + 5e-5 * s ** 2 + np.where(s > 0, 0.03, 0.0)
        fit = fit_step(s, c, np.full_like(s, 1e-4), degree=2, shared_gradient=False)
        assert fit.step == pytest.approx(0.03, abs=1e-9)
        assert fit.gradient == pytest.approx(2e-3, abs=1e-9)

    def test_short_side_is_flagged(self):
        s = np.array([-3.0, -4.0, 3.0, 4.0, 5.0, 6.0, 7.0])
        fit = fit_step(s, 0.1 + 0.01 * s, np.full_like(s, 1e-3), degree=2)
        assert fit.reason == "grain too short to fit"


class TestPaperLinePath:
    @pytest.mark.parametrize("gradient_per_cm, step, expect_cm_s", [(1.1, 0.02, 1.43e-6), (0.65, 0.009, 1.88e-6)])
    def test_paper_numbers_from_a_drawn_line(self, gradient_per_cm, step, expect_cm_s):
        # A profile with the paper's gradient and step (Fig. 3e: 1.1 /cm, 0.02; Fig. 3d: 0.65 /cm, 0.009),
        # a horizontal boundary between rows 49 and 50, source at the bottom. Noise-free, so the only
        # error is the printed rounding of the paper's result (1.43e-6 is 2.6e-8*1.1/0.02 to 3 digits).
        g_px = gradient_per_cm * 1e-4  # per um
        y = np.arange(100.0)[:, None] * np.ones((1, 60))
        c = 0.4 + g_px * (y - 49.5) + np.where(y >= 50, step, 0.0)
        ds = make_image({"6Li": c * 1e9, "7Li": (1 - c) * 1e9}, 1.0)
        res = analyse_lines(ds, ["30,20,30,80,5"], d_bulk="2.6e-8 cm^2/s", thickness="0.5 nm")
        (b,) = res.boundaries
        assert b.accepted, b.reason
        assert b.y_um == pytest.approx(49.5, abs=0.6)
        assert b.gradient.to()[0] == pytest.approx(gradient_per_cm, rel=1e-3)
        assert b.delta_c.value == pytest.approx(step, rel=1e-3)
        assert b.dgb_over_delta.to()[0] == pytest.approx(expect_cm_s, rel=0.005)
        assert b.dgb.to()[0] == pytest.approx(expect_cm_s * 5e-8, rel=0.005)
        assert res.summary.median.to()[0] == pytest.approx(expect_cm_s, rel=0.005)

    def test_line_direction_does_not_matter(self):
        # Drawing the line top->bottom or bottom->top must give the same result (oriented towards the source).
        y = np.arange(80.0)[:, None] * np.ones((1, 40))
        c = 0.3 + 1.1e-4 * y + np.where(y >= 40, 0.02, 0.0)
        ds = make_image({"6Li": c * 1e9, "7Li": (1 - c) * 1e9}, 1.0)
        a = analyse_lines(ds, ["20,10,20,70"], d_bulk=D_BULK).boundaries[0]
        b = analyse_lines(ds, ["20,70,20,10"], d_bulk=D_BULK).boundaries[0]
        assert a.dgb_over_delta.value == pytest.approx(b.dgb_over_delta.value, rel=1e-6)


class TestObliqueBoundaries:
    @pytest.mark.parametrize("theta", [0.0, 30.0, -40.0])
    def test_normal_gradient_gives_unbiased_conductance(self, theta):
        # Flux along y, boundaries at theta: the step follows the NORMAL gradient g_y cos(theta). Using dC/dy
        # would overestimate G by 1/cos(theta) (15 % at 30 deg, 31 % at 40 deg). 1e6 counts per pixel make
        # the per-boundary scatter ~5 %, so the median of ~20-40 boundaries is good to ~2 %; 5 % allowed.
        ds, truth, g_n, step = staircase_image(theta_deg=theta, counts=10 ** 6, seed=3)
        res = analyse_boundaries(ds, d_bulk=D_BULK, source_edge="bottom")
        assert len(res.accepted) >= 10
        assert res.summary.median.value == pytest.approx(truth, rel=0.05)
        naive = truth / math.cos(math.radians(theta))
        if theta:
            assert abs(res.summary.median.value - truth) < 0.4 * abs(naive - truth)
        steps = [b.delta_c.value for b in res.accepted]
        assert np.median(steps) == pytest.approx(step, rel=0.03)

    def test_auto_source_edge_is_bottom(self):
        ds, *_ = staircase_image(theta_deg=20, counts=3000, seed=1)
        assert analyse_boundaries(ds, d_bulk=D_BULK).source_edge == "bottom"

    def test_source_on_the_left(self):
        # The same field rotated: tracer from the left edge; the analysis must orient itself.
        ds, truth, *_ = staircase_image(theta_deg=10, counts=10 ** 6, seed=2)
        rot = make_image({k: np.ascontiguousarray(np.rot90(ds[k].values, k=-1)) for k in ("6Li", "7Li")}, 1.0)
        res = analyse_boundaries(rot, d_bulk=D_BULK)
        assert res.source_edge == "left"
        assert res.summary.median.value == pytest.approx(truth, rel=0.05)
