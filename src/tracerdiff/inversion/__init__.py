"""Whole-image inversion: every boundary's D*gb/delta fitted to every pixel with a network model.

The step analysis (:mod:`tracerdiff.boundaries`) reads each boundary from the pixels next to
it; here a quasi-steady grain-network model of the image is fitted instead, window by window,
with a log-normal population prior estimated from the image (empirical Bayes). It comes after
:mod:`tracerdiff.simulate` in the data's path because it borrows the simulator's boundary
normals (|n.e| face weights).
"""

from tracerdiff.inversion.analysis import REASON_NO_DATA, REASON_UNDETERMINED, invert_boundaries
from tracerdiff.inversion.network import WindowModel
from tracerdiff.inversion.options import InversionOptions
from tracerdiff.inversion.windows import WindowFit, estimate_population, fit_window

__all__ = ["invert_boundaries", "InversionOptions", "WindowModel", "WindowFit", "fit_window", "estimate_population",
           "REASON_UNDETERMINED", "REASON_NO_DATA"]
