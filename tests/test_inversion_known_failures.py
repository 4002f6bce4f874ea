"""Known failures of the whole-image inversion, pinned so that a fix shows (issue 12).

A plain synthetic image, 512 x 512 px on a sample only 512 um tall (top edge closed; the
diffusion length of the 59 h exchange, ~740 um, exceeds it), 20 time steps, grains segmented
from the C map: on seed 3 the population median comes out at 0.029x the truth (4.4e-10 against
1.5e-8 m/s) with a reported relative error of 0.25, no warning and a grain-map deficiency of
0.016 (not deficient). With the true grains the same image gives 0.93x (error 0.068); seeds 1
and 2 give 0.85x and 1.03x from the C map. The same image with the steep-grain flag at 4 sd
(the code before it moved to 3 sd) gave 0.00055x on seed 1. So on this kind of image the C-map
path can land on a low-conductance solution that its misfit checks do not see; the cause is not
found. ``-m slow``: one inversion, ~40 CPU s.
"""

import math
import warnings

import pytest

from tracerdiff.inversion import InversionOptions, invert_boundaries
from tracerdiff.simulate import synthetic_exchange_image


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 12: C-map inversion on a closed 512 um sample lands 34x low, "
                                       "confidently (seed 3); cause not found")
def test_cmap_inversion_on_a_closed_square_sample_is_within_its_error():
    ds, sim = synthetic_exchange_image(shape=(512, 512), seed=3, n_steps=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the point is the number, warned or not
        res = invert_boundaries(ds, d_bulk=2.6e-12, pixel_size_um=1.0, workers=1,
                                options=InversionOptions(psf_sigma_um=0.5))
    truth = 1.5e-8  # m/s: the simulator's default median D*gb/delta (every boundary: uniform)
    median = res.population.median
    # What the issue asks: |ln(median / truth)| within 2 reported (relative) standard errors.
    assert abs(math.log(median.value / truth)) <= 2 * median.stderr / median.value
