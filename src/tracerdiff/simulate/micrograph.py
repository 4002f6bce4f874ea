"""Synthetic etched-surface micrographs: the grain map as a laser/optical microscope shows it.

After SIMS the sample is thermally etched and imaged (Hasegawa et al. 2024, step 4 of
shared/METHOD.md): grain boundaries appear as dark grooves on a bright surface. This module
draws such an image from a :class:`~tracerdiff.simulate.GrainMap` so that boundary finding
from micrographs can be tested against known grains.

A real micrograph covers more than the SIMS field of view, so the image extends ``margin_px``
beyond the map on every side. For Laguerre/Voronoi maps the grains there are the seeds' own
cells (exact); for plain label images the edge labels are extended outwards (nearest pixel).

Two drawings:

* ``imperfections=None`` (default): the idealised micrograph -- narrow, continuous, evenly dark
  grooves on an even surface at the SIMS pixel size (``groove_width_px``, ``groove_depth``,
  ``noise``), as before.
* ``imperfections=MicrographImperfections()``: what real micrographs show -- per-boundary groove
  depth and width, faint stretches of groove, grain-to-grain tone, uneven illumination, noise,
  pores, polishing scratches, and another pixel size and a small rotation against the SIMS field.
  :meth:`MicrographImperfections.ideal` switches all of them off.

The truth travels with the image: the true labels on the micrograph's grid and the transform
from SIMS-field pixels to micrograph pixels (:class:`MicrographTransform`).

Units: pixels (SIMS-field pixels for the field, micrograph pixels for the image); intensities
are arbitrary, bright surface ~0.8.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.errors import InputError
from tracerdiff.simulate import micrograph_render as render
from tracerdiff.grains import GrainMap, check_seed, is_real_number
from tracerdiff.simulate.voronoi import power_owner

SURFACE_LEVEL = 0.8


@dataclass(frozen=True)
class MicrographTransform:
    """Where SIMS-field pixels land in the micrograph: ``m = scale * R(theta) @ f + offset_px``.

    ``f`` and ``m`` are (row, col) pixel coordinates of the field and of the micrograph,
    ``R(theta) = [[cos, -sin], [sin, cos]]`` acting on (row, col), ``theta = rotation_deg``.
    ``scale`` is micrograph pixels per SIMS pixel (SIMS pixel size / micrograph pixel size).
    """

    scale: float = 1.0
    rotation_deg: float = 0.0
    offset_px: tuple[float, float] = (0.0, 0.0)

    def matrix(self) -> np.ndarray:
        t = np.deg2rad(self.rotation_deg)
        return self.scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])

    def micrograph_coords(self, field_coords) -> np.ndarray:
        """Micrograph (row, col) of field (row, col) points, shape (..., 2)."""
        f = np.asarray(field_coords, dtype=float)
        return f @ self.matrix().T + np.asarray(self.offset_px, float)

    def field_coords(self, micrograph_coords) -> np.ndarray:
        """Field (row, col) of micrograph (row, col) points, shape (..., 2)."""
        m = np.asarray(micrograph_coords, dtype=float) - np.asarray(self.offset_px, float)
        return m @ np.linalg.inv(self.matrix()).T

    def to_dict(self) -> dict:
        return {"scale": self.scale, "rotation_deg": self.rotation_deg,
                "offset_px": {"row": self.offset_px[0], "col": self.offset_px[1]}}


@dataclass(frozen=True)
class MicrographImperfections:
    """What makes a real etched-surface micrograph harder than the idealised one.

    The defaults are realistic (issue 12: thermally etched LLTO seen by a laser microscope);
    :meth:`ideal` switches every imperfection off. Depths and levels are fractions of the
    bright surface level; lengths are micrograph pixels.

    Attributes
    ----------
    groove_depth
        Range of the per-boundary groove depth (each boundary draws its own, uniformly).
    groove_width_px
        Range of the per-boundary groove full width at half maximum.
    faint_fraction, faint_level, faint_length_px
        Fraction of the groove length in faint stretches, the depth kept there (0 = gap), and the
        stretches' typical length.
    tone_sd
        Grain-to-grain brightness sd (orientation contrast), relative.
    illumination
        Peak-to-peak relative variation of the illumination across the image.
    noise
        Grey-level white-noise sd.
    pores_per_10k_px, pore_radius_px, pore_depth
        Pores (dark blobs): mean number per 10^4 pixels, radius range, darkening.
    scratch_count, scratch_depth, scratch_width_px
        Polishing scratches (straight dark lines across the image): number, darkening, FWHM.
    scale, rotation_deg
        Micrograph pixels per SIMS pixel and rotation of the micrograph against the field
        (see :class:`MicrographTransform`).
    """

    groove_depth: tuple[float, float] = (0.3, 0.8)
    groove_width_px: tuple[float, float] = (1.0, 3.0)
    faint_fraction: float = 0.04
    faint_level: float = 0.4
    faint_length_px: float = 6.0
    tone_sd: float = 0.08
    illumination: float = 0.25
    noise: float = 0.04
    pores_per_10k_px: float = 2.0
    pore_radius_px: tuple[float, float] = (1.0, 2.5)
    pore_depth: float = 0.6
    scratch_count: int = 3
    scratch_depth: float = 0.3
    scratch_width_px: float = 1.2
    scale: float = 1.1
    rotation_deg: float = 2.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            negative_ok = f.name == "rotation_deg"
            if not all(is_real_number(v) and np.isfinite(v) and (v >= 0 or negative_ok) for v in values):
                raise InputError(f"must be finite numbers >= 0, got {value!r}", source=f.name)
            if isinstance(value, tuple) and not (len(value) == 2 and value[0] <= value[1]):
                raise InputError(f"must be a (low, high) range, got {value!r}", source=f.name)
        if not (self.groove_width_px[0] > 0 and self.scale > 0 and self.faint_length_px > 0):
            raise InputError("groove widths, faint_length_px and scale must be positive", source="imperfections")
        if self.groove_depth[1] >= 1 or self.faint_level > 1 or self.faint_fraction > 1:
            raise InputError("groove_depth must stay below 1 and faint_level, faint_fraction at most 1",
                             source="imperfections")
        if not isinstance(self.scratch_count, (int, np.integer)):
            raise InputError(f"must be an integer, got {self.scratch_count!r}", source="scratch_count")

    @classmethod
    def ideal(cls, **changes) -> MicrographImperfections:
        """Every imperfection off: even 0.55-deep grooves of 1.6 px FWHM, SIMS pixel size, no
        rotation. Keyword arguments switch single imperfections back on."""
        base = cls(groove_depth=(0.55, 0.55), groove_width_px=(1.6, 1.6), faint_fraction=0.0, tone_sd=0.0,
                   illumination=0.0, noise=0.0, pores_per_10k_px=0.0, scratch_count=0, scale=1.0,
                   rotation_deg=0.0)
        return replace(base, **changes)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SyntheticMicrograph:
    """A synthetic micrograph and where the grain map's field sits in it.

    Attributes
    ----------
    image
        Grey image (rows, cols), grooves dark.
    field_offset_px
        (row, col) of the field's pixel (0, 0) in ``image`` (rounded to whole pixels).
    labels
        Grain labels of every micrograph pixel (the truth behind the grooves).
    transform
        Exact field-to-micrograph transform (the truth registration should find).
    imperfections
        The settings drawn (None: the idealised drawing).
    pores, scratches, faint
        Masks of the micrograph pixels darkened by pores (> 10 % of their depth), by scratches
        (> 10 %), and of the groove pixels in faint stretches (all False when switched off).
    """

    image: np.ndarray
    field_offset_px: tuple[int, int]
    labels: np.ndarray
    transform: MicrographTransform = field(default_factory=MicrographTransform)
    imperfections: MicrographImperfections | None = None
    pores: np.ndarray | None = None
    scratches: np.ndarray | None = None
    faint: np.ndarray | None = None


def _extended_labels(grains: GrainMap, margin: int) -> np.ndarray:
    """Labels on the field grown by ``margin`` pixels on every side."""
    if grains.seeds_um is None or grains.seed_weights_um2 is None:
        return np.pad(np.asarray(grains.labels), margin, mode="edge")
    rows, cols = grains.shape
    yy, xx = np.mgrid[-margin:rows + margin, -margin:cols + margin]
    points = np.column_stack([yy.ravel(), xx.ravel()]) * grains.pixel_size_um
    owner = power_owner(points, np.asarray(grains.seeds_um, float), np.asarray(grains.seed_weights_um2, float))
    return owner.reshape(yy.shape).astype(np.int64)


def _placement(shape: tuple[int, int], scale: float, rotation_deg: float,
               margin: int) -> tuple[MicrographTransform, tuple[int, int]]:
    """The transform putting the field ``margin`` micrograph pixels inside a micrograph that just
    holds it, and that micrograph's shape."""
    h, w = shape
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float)
    m = MicrographTransform(scale=float(scale), rotation_deg=float(rotation_deg)).micrograph_coords(corners)
    lo, hi = m.min(axis=0), m.max(axis=0)
    offset = margin - lo
    size = np.ceil(hi - lo - 1e-9).astype(int) + 1 + 2 * margin
    return (MicrographTransform(float(scale), float(rotation_deg), (float(offset[0]), float(offset[1]))),
            (int(size[0]), int(size[1])))


def _labels_on_micrograph(grains: GrainMap, transform: MicrographTransform, shape: tuple[int, int]) -> np.ndarray:
    """True grain label at every micrograph pixel centre (Laguerre cells exactly; label images
    by their nearest pixel, edge labels extended outwards)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    f = transform.field_coords(np.column_stack([yy.ravel(), xx.ravel()]))
    if grains.seeds_um is not None and grains.seed_weights_um2 is not None:
        owner = power_owner(f * grains.pixel_size_um, np.asarray(grains.seeds_um, float),
                            np.asarray(grains.seed_weights_um2, float))
        return owner.reshape(shape).astype(np.int64)
    lab = np.asarray(grains.labels)
    r = np.clip(np.rint(f[:, 0]), 0, lab.shape[0] - 1).astype(int)
    c = np.clip(np.rint(f[:, 1]), 0, lab.shape[1] - 1).astype(int)
    return lab[r, c].reshape(shape).astype(np.int64)


def _realistic(grains: GrainMap, imp: MicrographImperfections, margin: int, seed: int) -> SyntheticMicrograph:
    transform, shape = _placement(grains.shape, imp.scale, imp.rotation_deg, margin)
    labels = _labels_on_micrograph(grains, transform, shape)
    # One generator per imperfection: switching one on or off does not redraw the others.
    rngs = [np.random.default_rng([seed, k]) for k in range(6)]
    groove, faint = render.groove_darkening(labels, depth=imp.groove_depth, width_px=imp.groove_width_px,
                                            faint_fraction=imp.faint_fraction, faint_level=imp.faint_level,
                                            faint_length_px=imp.faint_length_px, rng=rngs[0])
    pores = render.pores(shape, per_10k_px=imp.pores_per_10k_px, radius_px=imp.pore_radius_px,
                         depth=imp.pore_depth, rng=rngs[1])
    scratch, _ = render.scratches(shape, count=imp.scratch_count, depth=imp.scratch_depth,
                                  width_px=imp.scratch_width_px, rng=rngs[2])
    # Dark features combine like absorbers; tone and illumination scale the whole surface.
    reflect = (1 - groove) * (1 - pores) * (1 - scratch)
    surface = SURFACE_LEVEL * render.grain_tone(labels, imp.tone_sd, rngs[3]) * \
        render.illumination(shape, imp.illumination, rngs[4])
    image = surface * reflect + SURFACE_LEVEL * imp.noise * rngs[5].standard_normal(shape)
    off = tuple(int(round(v)) for v in transform.offset_px)
    return SyntheticMicrograph(image=image, field_offset_px=off, labels=labels, transform=transform,
                               imperfections=imp, pores=pores > 0.1 * max(imp.pore_depth, 1e-12),
                               scratches=scratch > 0.1 * max(imp.scratch_depth, 1e-12), faint=faint)


def synthetic_micrograph(grains: GrainMap, *, margin_px: int = 16, groove_width_px: float = 0.7,
                         groove_depth: float = 0.5, noise: float = 0.03, seed: int = 0,
                         imperfections: MicrographImperfections | None = None) -> SyntheticMicrograph:
    """Etched-surface image of a 2D grain map: a dark groove centred on every boundary.

    Parameters
    ----------
    grains : GrainMap
        2D grain map.
    margin_px : int
        Extra pixels on each side (real micrographs cover more than the SIMS field).
    groove_width_px : float
        Idealised drawing only: Gaussian sigma of the groove profile, pixels.
    groove_depth, noise : float
        Idealised drawing only: groove darkening and white-noise sd (surface level 0.8).
    seed : int
        Random seed of the noise (and of every imperfection).
    imperfections : MicrographImperfections, optional
        None: the idealised drawing at the grain map's pixel size. Otherwise the realistic
        drawing with these settings (``MicrographImperfections()`` for realistic defaults).
    """
    if grains.ndim != 2:
        raise InputError(f"micrographs are 2D; the grain map has shape {grains.shape}", source="grains")
    if not (isinstance(margin_px, (int, np.integer)) and margin_px >= 0):
        raise InputError(f"must be an integer >= 0, got {margin_px!r}", source="margin_px")
    for name, value in (("groove_width_px", groove_width_px), ("groove_depth", groove_depth), ("noise", noise)):
        if not (is_real_number(value) and value >= 0):
            raise InputError(f"must be a number >= 0, got {value!r}", source=name)
    seed = check_seed(seed)
    if imperfections is not None:
        if not isinstance(imperfections, MicrographImperfections):
            raise InputError(f"must be a MicrographImperfections, got {type(imperfections).__name__}",
                             source="imperfections")
        return _realistic(grains, imperfections, int(margin_px), seed)
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
    image = SURFACE_LEVEL - groove_depth * groove
    image = image + noise * np.random.default_rng(seed).standard_normal(labels.shape)
    m = float(margin_px)
    return SyntheticMicrograph(image=image, field_offset_px=(int(margin_px), int(margin_px)), labels=labels,
                               transform=MicrographTransform(offset_px=(m, m)))
