"""Polycrystal microstructures on a regular grid: neutral grain geometry.

Used alike by the forward simulator (:mod:`tracerdiff.simulate`) and the estimators
(:mod:`tracerdiff.inversion`, :mod:`tracerdiff.boundaries`), so it sits below both.

A :class:`GrainMap` is an integer label image (``(y, x)`` or ``(z, y, x)``,
row 0 = top) plus the pixel size. Grain boundaries are the faces between
neighbouring cells of different grains; each unordered label pair ``(a, b)``
with ``a < b`` is one boundary.

Because a square grid draws an oblique boundary as a staircase, every boundary
face also carries a weight ``w = |n . e|`` (``n`` the true boundary normal,
``e`` the face's axis). Summing ``w * h`` over a boundary's faces gives its true
length (area in 3D), and the simulator (:mod:`tracerdiff.simulate.transport`) scales the
interface conductance by ``w`` so that the staircase conducts like the true
boundary (see the package docstring). For Voronoi/Laguerre grains ``n`` is the
exact bisector normal (``seed_b - seed_a``); for user label images it is the
gradient of a Gaussian-smoothed grain indicator.

Every label, 0 included, is a grain. Segmentations that mark boundary pixels or
background with a label of their own pass it as
``GrainMap.from_labels(..., boundary_label=0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from tracerdiff.errors import InputError
from tracerdiff.resources import available_memory

#: Gaussian width (pixels) used to estimate boundary normals of label images.
NORMAL_SMOOTHING_PX = 2.0

#: Labels are packed in pairs into one int64 key (``a * 2**31 + b``), so they must stay below 2**31.
MAX_LABEL = 2 ** 31 - 1


def is_real_number(value) -> bool:
    """A real scalar (int, float, numpy number; not bool, str, None or an array)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_seed(seed) -> int:
    """A random seed: a non-negative integer (what ``numpy.random.default_rng`` accepts)."""
    if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise InputError(f"must be a non-negative integer, got {seed!r}", source="seed")
    return int(seed)


def check_shape(shape, *, source: str = "shape") -> tuple[int, ...]:
    """``shape`` as a tuple of 2 or 3 positive integers, or an :class:`InputError` naming ``source``."""
    try:
        values = tuple(np.atleast_1d(np.asarray(shape)).tolist())
        ok = all(float(v) == int(v) for v in values)
    except (TypeError, ValueError):
        ok = False
    if not ok or len(values) not in (2, 3) or min(int(v) for v in values) < 1:
        raise InputError(f"shape must be 2 or 3 positive integers, got {shape!r}", source=source)
    return tuple(int(v) for v in values)


def available_memory_bytes() -> int:
    """Bytes this process may allocate (:func:`tracerdiff.resources.available_memory`)."""
    return available_memory()


def check_memory(need_bytes: float, *, what: str, source: str = "shape") -> None:
    """Refuse up front a job whose estimated peak memory exceeds what is available.

    Running out of memory half-way kills the process (or the machine) with no
    message; an estimate that is off by a factor 2 still catches the grids that
    cannot work.
    """
    available = available_memory_bytes()
    if need_bytes > available:
        raise InputError(f"{what} needs about {need_bytes / 1e9:.1f} GB of memory but only "
                         f"{available / 1e9:.1f} GB is available; use a smaller grid or larger cells",
                         source=source)


@dataclass(frozen=True, eq=False)
class BoundaryTable:
    """One row per boundary (grain pair).

    Attributes
    ----------
    pairs
        ``(n, 2)`` int array of grain labels, ``a < b`` in each row.
    n_faces
        Number of grid faces on each boundary.
    length_um
        True boundary length (2D) or area in um^2 (3D): ``sum(w) * h**(ndim-1)``.
    """

    pairs: np.ndarray
    n_faces: np.ndarray
    length_um: np.ndarray

    def __len__(self) -> int:
        return int(self.pairs.shape[0])


@dataclass(frozen=True, eq=False)
class GrainMap:
    """A grain label image on a regular grid.

    Attributes
    ----------
    labels
        Non-negative int array ``(y, x)`` or ``(z, y, x)``; equal labels = same grain.
    pixel_size_um
        Cell edge length in micrometres.
    seeds_um
        ``(max_label + 1, ndim)`` Laguerre/Voronoi seed positions (array-axis order,
        um, pixel centres at ``index * pixel_size_um``) or None for user label images.
    seed_weights_um2
        Laguerre (power-diagram) weights of the seeds, or None.
    info
        JSON-safe description (requested size distribution, random seed, ...).
    """

    labels: np.ndarray
    pixel_size_um: float
    seeds_um: np.ndarray | None = None
    seed_weights_um2: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        labels = np.asarray(self.labels)
        if labels.ndim not in (2, 3):
            raise InputError(f"grain labels must be a 2D or 3D array, got shape {labels.shape}", source="labels")
        if not np.issubdtype(labels.dtype, np.integer):
            raise InputError(f"grain labels must be integers, got dtype {labels.dtype}", source="labels")
        if labels.size == 0 or labels.min() < 0:
            raise InputError("grain labels must be a non-empty array of non-negative integers", source="labels")
        if labels.max() > MAX_LABEL:
            raise InputError(f"largest grain label {labels.max()} exceeds {MAX_LABEL}; renumber the grains "
                             "(skimage.segmentation.relabel_sequential)", source="labels")
        check_memory(8.0 * labels.max(), what=f"a grain table up to label {labels.max()}", source="labels")
        try:
            pixel = float(self.pixel_size_um)
        except (TypeError, ValueError):
            pixel = math.nan
        if not (np.isfinite(pixel) and pixel > 0):
            raise InputError(f"pixel size must be a positive number of micrometres, got {self.pixel_size_um!r}",
                             source="pixel_size_um")
        n_labels = int(labels.max()) + 1
        for name, columns in (("seeds_um", (labels.ndim,)), ("seed_weights_um2", ())):
            value = getattr(self, name)
            # A cropped map keeps the full seed table, so rows >= labels (not ==).
            if value is not None and (np.ndim(value) != 1 + len(columns) or np.shape(value)[1:] != columns
                                      or len(value) < n_labels):
                raise InputError(f"must have one row {'of ' + str(columns[0]) + ' coordinates ' if columns else ''}"
                                 f"per label 0..{n_labels - 1}, got shape {np.shape(value)}", source=name)
        labels = labels.astype(np.int64, copy=True)
        labels.flags.writeable = False  # the face-weight cache below relies on it
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "pixel_size_um", pixel)
        object.__setattr__(self, "_weights", {})

    @classmethod
    def from_labels(cls, labels, *, pixel_size_um: float, normal_smoothing_px: float = NORMAL_SMOOTHING_PX,
                    boundary_label: int | None = None) -> "GrainMap":
        """Wrap a user label image (segmented micrograph, EBSD map).

        Every label value, 0 included, is a grain: the boundaries are the faces
        between cells of different labels. Segmentations that draw boundaries
        (or background) as their own class, often 0, must say so with
        ``boundary_label``; otherwise that class is simulated as one thin,
        connected grain threading through the whole map.

        Parameters
        ----------
        labels : numpy.ndarray
            Non-negative integer array ``(y, x)`` or ``(z, y, x)``; labels need not be consecutive.
        pixel_size_um : float
            Cell edge, micrometres.
        normal_smoothing_px : float
            Gaussian width (pixels) of the smoothed grain indicators whose
            gradients estimate the boundary normals.
        boundary_label : int, optional
            A label that marks boundary pixels rather than a grain: those cells
            are given to the nearest grain (``skimage.segmentation.expand_labels``).
        """
        if not (np.isfinite(normal_smoothing_px) and normal_smoothing_px > 0):
            raise InputError(f"must be a positive number of pixels, got {normal_smoothing_px!r}",
                             source="normal_smoothing_px")
        labels = np.asarray(labels)
        info = {"source": "labels", "normal_smoothing_px": float(normal_smoothing_px)}
        if boundary_label is not None:
            labels = _absorb_boundary_class(labels, int(boundary_label))
            info["boundary_label"] = int(boundary_label)
        return cls(labels, pixel_size_um, info=info)

    # ----------------------------------------------------------------- basics
    @property
    def ndim(self) -> int:
        """2 or 3."""
        return self.labels.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape in cells, ``(y, x)`` or ``(z, y, x)``."""
        return tuple(self.labels.shape)

    @property
    def grain_ids(self) -> np.ndarray:
        """Sorted labels present in the map."""
        return np.unique(self.labels)

    @property
    def n_grains(self) -> int:
        """Number of distinct labels (grains)."""
        return int(self.grain_ids.size)

    def grain_sizes_um(self) -> np.ndarray:
        """Equivalent-circle (2D) or equivalent-sphere (3D) diameter of each grain, um."""
        counts = np.bincount(self.labels.ravel())
        return self._equivalent_diameters(counts[counts > 0])

    # -------------------------------------------------------------- boundaries
    def boundary_faces(self, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces along ``axis`` that separate different grains.

        Returns
        -------
        lo, hi
            Flat cell indices on the low- and high-index side of each face.
        weight
            ``|n . e_axis|`` for each face (1 for an axis-normal boundary).
        """
        lo_lab, hi_lab = _face_labels(self.labels, axis)
        mask = lo_lab != hi_lab
        lo = face_lo_index(self.shape, axis)[mask]
        hi = lo + int(np.prod(self.shape[axis + 1:]))
        return lo, hi, self._face_weights(axis, mask)

    def _face_weights(self, axis: int, mask: np.ndarray) -> np.ndarray:
        if axis not in self._weights:
            self._weights[axis] = self._compute_face_weights(axis, mask)
        return self._weights[axis]

    def _compute_face_weights(self, axis: int, mask: np.ndarray) -> np.ndarray:
        lo_lab, hi_lab = _face_labels(self.labels, axis)
        a, b = lo_lab[mask], hi_lab[mask]
        if a.size == 0:
            return np.ones(0)
        if self.seeds_um is not None:
            normal = self.seeds_um[b] - self.seeds_um[a]
        else:
            normal = self._smoothed_normals(axis)[mask]
        norm = np.linalg.norm(normal, axis=-1)
        safe = norm > 0
        weight = np.ones(a.shape)
        weight[safe] = np.abs(normal[safe, axis]) / norm[safe]
        return weight

    def _smoothed_normals(self, axis: int) -> np.ndarray:
        """Per-face vector ~ (grad S_lo - grad S_hi) from smoothed grain indicators S."""
        sigma = float(self.info.get("normal_smoothing_px", NORMAL_SMOOTHING_PX))
        labels = self.labels
        lo_lab, hi_lab = _face_labels(labels, axis)
        acc = np.zeros(lo_lab.shape + (self.ndim,))
        pad = int(math.ceil(3 * sigma)) + 2
        objects = ndimage.find_objects(labels + 1)
        for g, box in enumerate(objects):
            if box is None:
                continue
            box = tuple(slice(max(s.start - pad, 0), min(s.stop + pad, n)) for s, n in zip(box, labels.shape))
            local = labels[box]
            smooth = ndimage.gaussian_filter((local == g).astype(float), sigma, mode="nearest")
            grads = np.stack([np.gradient(smooth, axis=k) if smooth.shape[k] > 1 else np.zeros_like(smooth)
                              for k in range(self.ndim)], axis=-1)
            lo_local = [slice(None)] * self.ndim
            hi_local = [slice(None)] * self.ndim
            lo_local[axis], hi_local[axis] = slice(None, -1), slice(1, None)
            lo_l, hi_l = local[tuple(lo_local)], local[tuple(hi_local)]
            face_grad = 0.5 * (grads[tuple(lo_local)] + grads[tuple(hi_local)])
            # grad S_g points into g; orient every contribution from the low to the high side.
            sign = np.where(lo_l == g, -1.0, 1.0)
            on_g = (lo_l != hi_l) & ((lo_l == g) | (hi_l == g))
            face_box = list(box)
            face_box[axis] = slice(box[axis].start, box[axis].stop - 1)
            target = acc[tuple(face_box)]
            target[on_g] += sign[on_g][:, None] * face_grad[on_g]
        return acc

    def _boundary_face_keys(self, *, weights: bool):
        """Pair key of every boundary face (all axes), and the faces' weights if asked for."""
        keys, face_weights = [], []
        for axis in range(self.ndim):
            lo_lab, hi_lab = _face_labels(self.labels, axis)
            mask = lo_lab != hi_lab
            keys.append(_pair_key(lo_lab[mask], hi_lab[mask]))
            if weights:
                face_weights.append(self._face_weights(axis, mask))
        return np.concatenate(keys), (np.concatenate(face_weights) if weights else None)

    def boundaries(self) -> BoundaryTable:
        """All boundaries: grain pairs, face counts and true lengths (areas)."""
        key, w = self._boundary_face_keys(weights=True)
        uniq, inverse = np.unique(key, return_inverse=True)
        n_faces = np.bincount(inverse, minlength=uniq.size)
        length = np.bincount(inverse, weights=w, minlength=uniq.size) * self.pixel_size_um ** (self.ndim - 1)
        return BoundaryTable(_unpack_key(uniq), n_faces, length)

    def boundary_pairs(self) -> np.ndarray:
        """``(n, 2)`` array of the grain pairs that share a boundary (``a < b``)."""
        key, _ = self._boundary_face_keys(weights=False)
        return _unpack_key(np.unique(key))

    def interior_grain_sizes_um(self) -> np.ndarray:
        """Equivalent diameters of the grains that do not touch the grid edge (not cut off)."""
        labels = self.labels
        touching = np.unique(np.concatenate([np.take(labels, i, axis=k).ravel()
                                             for k in range(self.ndim) for i in (0, -1)]))
        counts = np.bincount(labels.ravel())
        keep = np.setdiff1d(np.flatnonzero(counts), touching)
        return self._equivalent_diameters(counts[keep])

    def _equivalent_diameters(self, cell_counts: np.ndarray) -> np.ndarray:
        volume = cell_counts.astype(float) * self.pixel_size_um ** self.ndim
        return np.sqrt(4.0 * volume / math.pi) if self.ndim == 2 else np.cbrt(6.0 * volume / math.pi)

    def to_dict(self) -> dict:
        """JSON-safe summary; grain sizes are equivalent-circle (sphere) diameters in um."""
        out = {**self.info, "shape": list(self.shape), "pixel_size_um": self.pixel_size_um,
               "n_grains": self.n_grains}
        for name, sizes in (("measured", self.grain_sizes_um()), ("interior", self.interior_grain_sizes_um())):
            out[f"{name}_mean_grain_um"] = float(sizes.mean()) if sizes.size else None
            out[f"{name}_sd_grain_um"] = float(sizes.std(ddof=1)) if sizes.size > 1 else None
        return out


_KEY_SHIFT = np.int64(1) << 31


def _pair_key(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo.astype(np.int64) * _KEY_SHIFT + hi


def _unpack_key(key: np.ndarray) -> np.ndarray:
    return np.stack([key // _KEY_SHIFT, key % _KEY_SHIFT], axis=-1).astype(np.int64).reshape(-1, 2)


def _face_labels(labels: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    lo = [slice(None)] * labels.ndim
    hi = [slice(None)] * labels.ndim
    lo[axis], hi[axis] = slice(None, -1), slice(1, None)
    return labels[tuple(lo)], labels[tuple(hi)]


def face_lo_index(shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Flat index of the low-side cell of every face along ``axis`` (face-array shape)."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    lo = [slice(None)] * len(shape)
    lo[axis] = slice(None, -1)
    return index[tuple(lo)]


def _absorb_boundary_class(labels: np.ndarray, boundary_label: int) -> np.ndarray:
    """Give the cells of ``boundary_label`` to the nearest grain."""
    from skimage.segmentation import expand_labels

    if labels.ndim not in (2, 3) or not np.issubdtype(labels.dtype, np.integer):
        return labels  # GrainMap reports the problem
    marked = labels == boundary_label
    if marked.all():
        raise InputError(f"every cell has the boundary label {boundary_label}; there are no grains",
                         source="boundary_label")
    if not marked.any():
        return labels
    # expand_labels grows labels > 0 into the zeros: shift grains up by one, boundary cells to 0.
    shifted = np.where(marked, 0, labels.astype(np.int64) + 1)
    grown = expand_labels(shifted, distance=float(max(labels.shape)) * labels.ndim)
    return grown - 1

