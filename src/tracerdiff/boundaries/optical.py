"""Grain boundaries from an etched-surface micrograph registered to the SIMS field of view.

After SIMS the surface is thermally etched and imaged (laser or optical microscope): every
boundary is a dark groove, whether or not it shows a step in C. That makes the micrograph the
complete grain map the whole-image inversion needs, once it is placed on the SIMS grid.

Two paths:

* :func:`optical_grain_map` (used by the boundary analysis, the inversion and the study runner):
  the micrograph is segmented on its own grid by :func:`.optical_segment.segment_micrograph`
  (flattening, multi-scale ridges with hysteresis, scratch and pore rejection, gap closing,
  watershed, merge), then registered with a similarity transform (scale, rotation, shift;
  :mod:`.registration`, refined by a fit of the C map, :mod:`.registration_refine`) and its
  labels are sampled on the SIMS grid.
* :func:`register_optical` / :func:`labels_on_field`: the earlier integer-translation
  registration of a micrograph at the SIMS pixel size, kept for callers that need it.

The micrograph may be larger than the SIMS field (as real ones are). Pixels of the field the
micrograph does not cover get no grain (label 0) rather than an invented one.

Units: pixels of the SIMS image; shifts are (dy, dx) in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.boundaries.optical_segment import OpticalSegmentation, segment_micrograph
from tracerdiff.boundaries.registration import (OpticalRegistration, RegistrationOptions, boundary_map,
                                                field_reference, labels_on_field_similarity, register_similarity)
from tracerdiff.boundaries.registration_refine import refine_on_c_map
from tracerdiff.boundaries.segmentation import edge_strength, fill_invalid
from tracerdiff.errors import InputError
from tracerdiff.results import Result


def _grey(optical) -> tuple[np.ndarray, np.ndarray]:
    """(grey image with non-finite pixels set to its median, mask of the finite pixels)."""
    img = np.asarray(optical, dtype=float)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    if img.ndim != 2:
        raise InputError(f"the optical image must be 2D (grey) or RGB, got shape {np.shape(optical)}",
                         source="optical")
    finite = np.isfinite(img)
    if not finite.any():
        raise InputError("the optical image has no finite pixel", source="optical")
    if not finite.all():  # no data there (e.g. outside a stitched field): neutral grey, no grooves
        img = np.where(finite, img, np.median(img[finite]))
    if not np.ptp(img) > 0:
        # Checked here: registering a flat image would return a meaningless shift.
        raise InputError("the optical image is uniform: no grain boundaries to find", source="optical")
    return img, finite


def _ridges(img: np.ndarray, *, dark_boundaries: bool) -> np.ndarray:
    from skimage import filters

    img = (img - img.min()) / np.ptp(img)
    return filters.sato(img, sigmas=(1.0, 2.0), black_ridges=dark_boundaries)


def register_optical(optical: np.ndarray, c: np.ndarray, sigma_c: np.ndarray, valid: np.ndarray, *,
                     dark_boundaries: bool = True) -> tuple[np.ndarray, tuple[float, float]]:
    """Translate the micrograph onto the SIMS field of view (integer shift, cross-correlation).

    Returns
    -------
    shifted, (dy, dx)
        The micrograph on the SIMS grid (shape of ``c``; NaN where it does not cover the
        field), and the shift applied to it in pixels (minus the field's offset in a larger
        micrograph).
    """
    img, finite = _grey(optical)
    shift = _locate(_ridges(img, dark_boundaries=dark_boundaries), finite, c, sigma_c, valid)
    return _on_field(np.where(finite, img, np.nan), shift, c.shape, fill=np.nan), shift


def _locate(ridges: np.ndarray, finite: np.ndarray, c, sigma_c, valid) -> tuple[float, float]:
    """The registration shift (dy, dx) of a micrograph's ridge response onto the SIMS field."""
    h, w = c.shape
    size = ridges.shape
    big = (max(size[0], h), max(size[1], w))
    covered = np.zeros(big, bool)
    covered[:size[0], :size[1]] = finite
    padded = np.zeros(big)
    padded[:size[0], :size[1]] = ridges
    strength = edge_strength(fill_invalid(c, valid), fill_invalid(sigma_c, valid))
    reference = np.zeros(big)
    reference[:h, :w] = np.where(valid, strength - strength[valid].mean(), 0.0)
    moving = np.where(covered, padded - padded[covered].mean(), 0.0)
    # Cross-correlation over all integer shifts k (moving shifted by k onto the reference).
    xc = np.fft.irfft2(np.fft.rfft2(reference) * np.conj(np.fft.rfft2(moving)), s=big)
    # Periodic or featureless directions give near-ties; among them take the placement that
    # leaves the least of the field uncovered, then the smallest displacement.
    ky, kx = np.nonzero(xc >= xc.max() - 0.02 * (xc.max() - np.median(xc)))
    # The field's offset in the micrograph is -k, taken in [-h/2, big - h/2) (the FFT is circular).
    oy = np.mod(-ky + h // 2, big[0]) - h // 2
    ox = np.mod(-kx + w // 2, big[1]) - w // 2
    lost = (np.clip(-oy, 0, None) + np.clip(oy + h - size[0], 0, None)) * w + \
        (np.clip(-ox, 0, None) + np.clip(ox + w - size[1], 0, None)) * h
    best = np.lexsort((np.hypot(oy, ox), lost))[0]
    shift = -np.array([oy[best], ox[best]], float) + 0.0  # + 0.0: no "-0.0" in reports
    return (float(shift[0]), float(shift[1]))


def labels_from_optical(optical: np.ndarray, *, dark_boundaries: bool = True, min_grain_px: int = 3,
                        neck_px: int = 3, smoothing_px: float = 0.7, ridges: np.ndarray | None = None,
                        method: str = "robust", options: OpticalSegmentation | None = None) -> np.ndarray:
    """Grain labels from an etched-surface micrograph where boundaries are thin grooves.

    ``method="robust"`` (default): :func:`.optical_segment.segment_micrograph` with ``options``,
    made for real micrographs (uneven grooves, faint stretches, tone, illumination, pores,
    scratches); on the realistic synthetic micrographs of 512 x 206 px it reaches a boundary F1
    of 0.995 with 1-2 % of the grains merged (``benchmarks/bench_segmentation.py``).
    ``method="threshold"``: the earlier method below (its options ``min_grain_px``, ``neck_px``,
    ``smoothing_px`` and ``ridges`` apply to it only), made for narrow even grooves.

    A ridge filter (Sato) enhances the grooves; every groove-free area (below the ridges' Otsu
    threshold) seeds one grain, and a watershed of the image intensity draws the boundaries
    along the grooves' darkest pixels. Compared with seeds from eroded interiors this keeps the
    small grains (a grain the map misses hides its boundaries' steps and biases the inversion),
    and compared with distance-transform peaks it does not split elongated grains (a spurious
    boundary drags the inversion's estimates down when the population is narrow: median 0.64x
    on a uniform 512 x 206 image). A groove with a gap would join its two grains' areas, so the
    areas are first opened with a disk of radius ``neck_px``, which cuts such channels, and
    areas too small to survive the opening are kept whole as seeds of small grains. On
    simulated micrographs with 5 % / 10 % of the groove length erased in 3 px holes this
    misses 1 / 3 of 739 boundaries (29 / 79 without the opening). NaN pixels (not covered)
    get label 0.

    Parameters
    ----------
    min_grain_px : int
        Groove-free areas smaller than this are not grains (dust, pits).
    neck_px : int
        Radius (pixels) of the opening that separates grains joined through a gap in a groove.
    smoothing_px : float
        Gaussian sigma applied to the intensity before the watershed, against noise in the
        groove's darkest pixel. On simulated micrographs 0.7 px placed 95 % of the boundary
        pairs exactly with noise 0.03 of the surface level (96 % unsmoothed), 89 % with noise
        0.1 (83 %), and 79 % / 67 % with 2.4 px wide grooves at noise 0.06 / 0.1 (69 % / 57 %).
    ridges : numpy.ndarray, optional
        The micrograph's ridge response if already computed (registration needs it too).
    """
    from skimage import filters, measure, morphology, segmentation

    if method not in ("robust", "threshold"):
        raise InputError(f"must be 'robust' or 'threshold', got {method!r}", source="method")
    img, covered = _grey(optical)
    if method == "robust":
        return segment_micrograph(img, covered, dark_boundaries=dark_boundaries, options=options)
    if ridges is None:
        ridges = _ridges(img, dark_boundaries=dark_boundaries)
    # Uncovered (NaN) pixels are grey fill, not grain: they must not join grains across them.
    interior = (ridges < filters.threshold_otsu(ridges)) & covered
    interior = morphology.remove_small_objects(interior, max_size=min_grain_px)
    if neck_px > 0:
        opened = ndi.binary_opening(interior, morphology.disk(neck_px))
        areas = measure.label(interior, connectivity=1)
        small = np.setdiff1d(np.unique(areas[interior]), np.unique(areas[opened]))
        interior = opened | np.isin(areas, small)
    seeds = measure.label(interior, connectivity=1)
    if seeds.max() == 0:
        raise InputError("no grains found in the optical image", source="optical")
    # Flooding the (lightly smoothed) intensity, not the ridge filter, puts the line at the groove's
    # darkest pixels: 95 % of the boundary pairs exactly right on synthetic micrographs, against
    # 90 % for the ridge response, which the filter's 1-2 px scales blur at corners and junctions.
    surface = ndi.gaussian_filter(img, smoothing_px) if smoothing_px > 0 else img
    labels = segmentation.watershed(-surface if dark_boundaries else surface, seeds)
    labels = np.where(covered, labels, 0)
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels.astype(np.int32)


@dataclass(frozen=True, repr=False)
class OpticalGrainMap(Result):
    """A micrograph's grains on the SIMS field.

    Attributes
    ----------
    labels
        Grain labels on the SIMS grid (0 where the micrograph does not reach).
    registration
        The field-to-micrograph similarity transform found.
    uncovered
        Field pixels without micrograph.
    micrograph_labels
        The segmentation on the micrograph's own grid.
    """

    labels: np.ndarray
    registration: OpticalRegistration
    uncovered: np.ndarray
    micrograph_labels: np.ndarray

    def _headline(self) -> tuple[str, str]:
        return "grains", str(int(len(np.unique(self.labels[self.labels > 0]))))

    def _summary(self) -> list[tuple[str, str]]:
        return [self._headline(), ("field", "×".join(map(str, self.labels.shape)) + " px"),
                ("uncovered", f"{100 * float(np.mean(self.uncovered)):.1f} %"),
                ("registration", f"scale {self.registration.scale:.4f}, rotation {self.registration.rotation_deg:+.2f} deg, "
                                 f"correlation {self.registration.correlation:.3f}")]

    def _rows(self):
        """One row per grain on the field: label and area (px)."""
        labels, counts = np.unique(self.labels[self.labels > 0], return_counts=True)
        return [{"label": int(k), "area_px": int(n)} for k, n in zip(labels, counts)], {"area_px": "px"}

    def _plot(self, ax) -> None:
        """The grain labels on the SIMS field (uncovered pixels blank)."""
        ax.imshow(np.ma.masked_where(self.uncovered | (self.labels == 0), self.labels % 20), cmap="tab20",
                  interpolation="nearest")
        ax.set_title(f"{self._headline()[1]} grains; registration correlation {self.registration.correlation:.3f}",
                     fontsize=9)
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")

    def to_dict(self) -> dict:
        return {"registration": self.registration.to_dict(), "grains": int(len(np.unique(self.labels[self.labels > 0]))),
                "uncovered_fraction": float(np.mean(self.uncovered))}


def optical_grain_map(optical, c: np.ndarray, sigma_c: np.ndarray, valid: np.ndarray, *, dark_boundaries: bool = True,
                      registration: RegistrationOptions | None = None,
                      segmentation: OpticalSegmentation | None = None) -> OpticalGrainMap:
    """Segment a micrograph on its own grid, register it onto the SIMS field (scale, rotation,
    shift) and sample its labels on the field.

    Parameters
    ----------
    optical : numpy.ndarray
        Grey (or RGB) micrograph; NaN where it has no data.
    c, sigma_c, valid : numpy.ndarray
        The SIMS side: C map, its counting error and the pixels with counts.
    registration : RegistrationOptions, optional
        Search ranges (default: scale 1 +- 25 %, rotation +- 6 deg). Give ``scale`` when the
        two pixel sizes are known (micrograph pixels per SIMS pixel).
    segmentation : OpticalSegmentation, optional
        Options of :func:`.optical_segment.segment_micrograph`.
    """
    img, finite = _grey(optical)
    labels = segment_micrograph(img, finite, dark_boundaries=dark_boundaries, options=segmentation)
    if len(np.unique(labels[labels > 0])) < 2:
        raise InputError("no grain boundaries found in the optical image (long straight dark lines crossed "
                         "by grooves are taken for polishing scratches, not boundaries)", source="optical")
    opts = registration or RegistrationOptions()
    reg = register_similarity(boundary_map(labels), field_reference(c, sigma_c, valid), options=opts)
    if opts.refine:
        # The search kept the given scale without rotation when they correlated as well (Occam);
        # then only the shift is refined.
        plain = reg.scale == opts.scale and reg.rotation_deg == 0.0
        reg = refine_on_c_map(labels, c, sigma_c, valid, reg, free_scale=not plain and opts.scale_range > 0,
                              free_rotation=not plain and opts.max_rotation_deg > 0)
    on_field = labels_on_field_similarity(labels, reg, c.shape)
    covered = labels_on_field_similarity(finite.astype(np.int32), reg, c.shape) > 0
    return OpticalGrainMap(labels=np.where(covered, on_field, 0).astype(np.int32), registration=reg,
                           uncovered=~covered, micrograph_labels=labels)


def optical_labels_on_field(optical, c: np.ndarray, sigma_c: np.ndarray, valid: np.ndarray, *,
                            dark_boundaries: bool = True):
    """Grain labels of a micrograph registered onto the SIMS field (:func:`optical_grain_map`).

    Returns
    -------
    labels, (dy, dx), uncovered
        Labels of the field's shape (0 where the micrograph does not reach), minus the field
        origin's position in the micrograph (the shift when scale is 1 and rotation 0), and
        the mask of field pixels without micrograph.
    """
    gm = optical_grain_map(optical, c, sigma_c, valid, dark_boundaries=dark_boundaries)
    return gm.labels, gm.registration.shift_px, gm.uncovered


def labels_on_field(labels: np.ndarray, shift: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
    """Micrograph grain labels moved by the registration ``shift`` and cut to the SIMS ``shape``
    (0 where the micrograph does not reach).

    Segmenting the whole micrograph first and cutting afterwards keeps the grains at the field's
    edges whole (the ridge filter sees beyond the edge).
    """
    return _on_field(np.asarray(labels), shift, shape, fill=0).astype(np.int32)


def _on_field(image: np.ndarray, shift: tuple[float, float], shape: tuple[int, int], *, fill) -> np.ndarray:
    """``image`` moved by the integer ``shift`` and cut to ``shape``; ``fill`` where it does not reach."""
    dy, dx = (int(round(v)) for v in shift)
    out = np.full(shape, fill, dtype=np.result_type(image.dtype, np.asarray(fill).dtype))
    # Field pixel (r, c) shows image pixel (r - dy, c - dx).
    r0, r1 = max(0, dy), min(shape[0], image.shape[0] + dy)
    c0, c1 = max(0, dx), min(shape[1], image.shape[1] + dx)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = image[r0 - dy:r1 - dy, c0 - dx:c1 - dx]
    return out
