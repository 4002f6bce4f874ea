"""Synthetic etched-surface micrographs: the grain map as a laser/optical microscope shows it.

After SIMS the sample is thermally etched and imaged (Hasegawa et al. 2024, step 4 of
shared/METHOD.md): grain boundaries appear as dark grooves on a bright surface. This module
draws such an image from a :class:`~tracerdiff.simulate.GrainMap` so that boundary finding
from micrographs can be tested against known grains.

A real micrograph covers more than the SIMS field of view, so the image extends ``margin_px``
beyond the map on every side. For Laguerre/Voronoi maps the grains there are the seeds' own
cells (exact); for plain label images the edge labels are extended outwards.

Units: pixels of the grain map (the micrograph has the SIMS pixel size); intensities are
arbitrary, bright surface ~0.8, groove depth ``groove_depth``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.errors import InputError
from tracerdiff.simulate.grains import GrainMap, check_seed, is_real_number
from tracerdiff.simulate.voronoi import power_owner


@dataclass(frozen=True)
class SyntheticMicrograph:
    """A synthetic micrograph and where the grain map's field sits in it.

    Attributes
    ----------
    image
        Grey image (rows, cols), grooves dark.
    field_offset_px
        (row, col) of the field's pixel (0, 0) in ``image``.
    labels
        Grain labels of every micrograph pixel (the truth behind the grooves).
    """

    image: np.ndarray
    field_offset_px: tuple[int, int]
    labels: np.ndarray


def _extended_labels(grains: GrainMap, margin: int) -> np.ndarray:
    """Labels on the field grown by ``margin`` pixels on every side."""
    if grains.seeds_um is None or grains.seed_weights_um2 is None:
        return np.pad(np.asarray(grains.labels), margin, mode="edge")
    rows, cols = grains.shape
    yy, xx = np.mgrid[-margin:rows + margin, -margin:cols + margin]
    points = np.column_stack([yy.ravel(), xx.ravel()]) * grains.pixel_size_um
    owner = power_owner(points, np.asarray(grains.seeds_um, float), np.asarray(grains.seed_weights_um2, float))
    return owner.reshape(yy.shape).astype(np.int64)


def synthetic_micrograph(grains: GrainMap, *, margin_px: int = 16, groove_width_px: float = 0.7,
                         groove_depth: float = 0.5, noise: float = 0.03, seed: int = 0) -> SyntheticMicrograph:
    """Etched-surface image of a 2D grain map: a dark groove centred on every boundary.

    Parameters
    ----------
    grains
        2D grain map (its pixel size is the micrograph's).
    margin_px
        Extra pixels on each side (real micrographs cover more than the SIMS field).
    groove_width_px
        Gaussian sigma of the groove profile, pixels.
    groove_depth, noise
        Groove darkening and white-noise sd, in units of the bright surface level 0.8.
    seed
        Random seed of the noise.
    """
    if grains.ndim != 2:
        raise InputError(f"micrographs are 2D; the grain map has shape {grains.shape}", source="grains")
    if not (isinstance(margin_px, (int, np.integer)) and margin_px >= 0):
        raise InputError(f"must be an integer >= 0, got {margin_px!r}", source="margin_px")
    for name, value in (("groove_width_px", groove_width_px), ("groove_depth", groove_depth), ("noise", noise)):
        if not (is_real_number(value) and value >= 0):
            raise InputError(f"must be a number >= 0, got {value!r}", source=name)
    seed = check_seed(seed)
    labels = _extended_labels(grains, int(margin_px))
    # Both pixels of a 4-neighbour pair across a boundary are darkened: the groove is centred on
    # the boundary line (between the pixels), as on a real etched surface.
    groove = np.zeros(labels.shape)
    for axis in (0, 1):
        cut = np.diff(labels, axis=axis) != 0
        lo = [slice(None)] * 2
        hi = [slice(None)] * 2
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        groove[tuple(lo)] += cut
        groove[tuple(hi)] += cut
    groove = np.minimum(groove, 1.0)
    if groove_width_px > 0:
        groove = ndi.gaussian_filter(groove, groove_width_px)
    image = 0.8 - groove_depth * groove
    image = image + noise * np.random.default_rng(seed).standard_normal(labels.shape)
    return SyntheticMicrograph(image=image, field_offset_px=(int(margin_px), int(margin_px)), labels=labels)
