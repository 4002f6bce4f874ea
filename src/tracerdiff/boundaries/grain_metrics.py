"""How well a found grain map matches the true one: boundary F1 and merged/split grains.

* Boundary precision/recall with a distance tolerance (the Berkeley segmentation benchmark's
  measure, Martin et al. 2004, with a Euclidean tolerance instead of a bipartite matching):
  precision is the fraction of found boundary pixels within ``tolerance_px`` of a true boundary
  pixel, recall the fraction of true boundary pixels within ``tolerance_px`` of a found one.
* Merged and split grains by majority overlap: a true grain is *merged* when the found region
  covering most of it also covers most of another true grain; it is *split* when two or more
  found regions lie mostly inside it.
* Per boundary (true grain pair): the share of its pixel faces with a found boundary within the
  tolerance (:func:`pair_recall`), to tell which boundaries a map misses and what they are like.

Boundary pixels are both pixels of every 4-neighbour pair with different labels (the line lies
between them), in both maps alike. Label 0 means "no grain" and is ignored: no boundary is
counted next to it and it matches nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.errors import InputError


@dataclass(frozen=True)
class BoundaryScore:
    """Boundary precision, recall and F1 (harmonic mean) at a pixel tolerance."""

    precision: float
    recall: float
    f1: float
    tolerance_px: float
    n_found_px: int
    n_true_px: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GrainMatch:
    """Fractions of the true grains merged with a neighbour or split into several found regions."""

    merged_fraction: float
    split_fraction: float
    n_true: int
    n_merged: int
    n_split: int

    def to_dict(self) -> dict:
        return asdict(self)


def _check(found, truth, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    found, truth = np.asarray(found), np.asarray(truth)
    if found.shape != truth.shape or found.ndim != 2:
        raise InputError(f"label maps must be 2D of one shape, got {found.shape} and {truth.shape}", source="labels")
    if not (np.issubdtype(found.dtype, np.integer) and np.issubdtype(truth.dtype, np.integer)):
        raise InputError("label maps must be integer images", source="labels")
    mask = np.ones(found.shape, bool) if mask is None else np.asarray(mask, bool)
    if mask.shape != found.shape:
        raise InputError(f"mask shape {mask.shape} differs from the labels' {found.shape}", source="mask")
    return found, truth, mask


def boundary_pixels(labels: np.ndarray) -> np.ndarray:
    """Both pixels of every 4-neighbour pair of different, non-zero labels."""
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, bool)
    for axis in (0, 1):
        a = np.moveaxis(lab, axis, 0)
        o = np.moveaxis(out, axis, 0)
        cut = (a[:-1] != a[1:]) & (a[:-1] != 0) & (a[1:] != 0)
        o[:-1] |= cut
        o[1:] |= cut
    return out


def boundary_f1(found: np.ndarray, truth: np.ndarray, *, tolerance_px: float = 2.0,
                mask: np.ndarray | None = None) -> BoundaryScore:
    """Boundary precision/recall/F1 of ``found`` against ``truth`` within ``tolerance_px``.

    Only boundary pixels inside ``mask`` (default: all) are counted; distances are measured to
    boundary pixels anywhere. An empty side gives precision or recall 1 (nothing to be wrong
    about) and F1 0 when the other side is not empty.
    """
    found, truth, mask = _check(found, truth, mask)
    if not (np.isfinite(tolerance_px) and tolerance_px >= 0):
        raise InputError(f"must be >= 0, got {tolerance_px!r}", source="tolerance_px")
    bf, bt = boundary_pixels(found), boundary_pixels(truth)
    # Distance from every pixel to the nearest boundary pixel of the other map.
    to_true = ndi.distance_transform_edt(~bt) if bt.any() else np.full(bt.shape, np.inf)
    to_found = ndi.distance_transform_edt(~bf) if bf.any() else np.full(bf.shape, np.inf)
    nf, nt = int((bf & mask).sum()), int((bt & mask).sum())
    precision = float(np.mean(to_true[bf & mask] <= tolerance_px)) if nf else 1.0
    recall = float(np.mean(to_found[bt & mask] <= tolerance_px)) if nt else 1.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    if (nf == 0) != (nt == 0):
        f1 = 0.0
    return BoundaryScore(precision, recall, float(f1), float(tolerance_px), nf, nt)


def _overlap(found, truth, mask):
    """Sparse overlap table: (true label, found label, pixel count) over masked non-zero pixels."""
    keep = mask & (found != 0) & (truth != 0)
    t, f = truth[keep].astype(np.int64), found[keep].astype(np.int64)
    pairs, counts = np.unique(np.column_stack([t, f]), axis=0, return_counts=True)
    return pairs[:, 0], pairs[:, 1], counts


def _majority(keys: np.ndarray, values: np.ndarray, counts: np.ndarray) -> dict:
    """For every key, the value with the largest count (ties: the smallest value)."""
    order = np.lexsort((values, -counts, keys))
    k, v = keys[order], values[order]
    first = np.r_[True, k[1:] != k[:-1]]
    return dict(zip(k[first].tolist(), v[first].tolist()))


def merged_split_fractions(found: np.ndarray, truth: np.ndarray, *, mask: np.ndarray | None = None,
                           min_inside: float = 0.5) -> GrainMatch:
    """Fractions of the true grains (inside ``mask``) merged with another or split.

    A true grain g is merged when its majority found region p is also the majority found region
    of another true grain. It is split when at least two found regions have g as their
    majority true grain. Only true grains with at least ``min_inside`` of their pixels inside
    ``mask`` are counted (a grain cut by the mask's edge to a sliver has no meaningful majority).
    """
    found, truth, mask = _check(found, truth, mask)
    t, f, n = _overlap(found, truth, mask)
    if t.size == 0:
        raise InputError("no pixel has a grain in both maps", source="labels")
    major_found = _majority(t, f, n)        # true grain -> found region covering most of it
    major_true = _majority(f, t, n)         # found region -> true grain it lies mostly in
    per_found = np.bincount(np.fromiter(major_found.values(), np.int64))
    per_true = np.bincount(np.fromiter(major_true.values(), np.int64))
    tl = np.asarray(truth, np.int64)
    area = np.bincount(tl[tl > 0].ravel())
    inside = np.bincount(tl[(tl > 0) & mask].ravel(), minlength=area.size)
    counted = [g for g in major_found if inside[g] >= min_inside * area[g]]
    if not counted:
        raise InputError("no true grain lies mostly inside the mask", source="mask")
    merged = sum(per_found[major_found[g]] >= 2 for g in counted)
    split = sum(g < per_true.size and per_true[g] >= 2 for g in counted)
    total = len(counted)
    return GrainMatch(merged / total, split / total, total, int(merged), int(split))


@dataclass(frozen=True)
class PairRecall:
    """Recall of every true boundary (grain pair) by a found map.

    ``pairs`` (K x 2, low label first), ``faces`` (4-neighbour pixel faces of each), ``recall``
    (share of those faces with both pixels within ``tolerance_px`` of a found boundary pixel),
    ``horizontal`` (share of faces between rows: a boundary running along the columns) and
    ``missed`` (recall below ``min_recall``).
    """

    pairs: np.ndarray
    faces: np.ndarray
    recall: np.ndarray
    horizontal: np.ndarray
    missed: np.ndarray
    tolerance_px: float

    @property
    def length_recall(self) -> float:
        """Face-weighted recall over every pair (the boundary length found)."""
        total = float(self.faces.sum())
        return float(np.sum(self.recall * self.faces) / total) if total else 1.0

    def missed_pairs(self) -> list[tuple[int, int]]:
        return [tuple(int(v) for v in p) for p in self.pairs[self.missed]]

    def to_dict(self) -> dict:
        return {"n_pairs": int(self.pairs.shape[0]), "n_missed": int(self.missed.sum()),
                "length_recall": self.length_recall, "tolerance_px": self.tolerance_px}


def pair_recall(found: np.ndarray, truth: np.ndarray, *, tolerance_px: float = 1.0, min_faces: int = 3,
                min_recall: float = 0.5) -> PairRecall:
    """Which true boundaries ``found`` recovers, pair by pair (see :class:`PairRecall`).

    A face counts as found when both of its pixels lie within ``tolerance_px`` of a boundary pixel
    of ``found`` (the line between them is then within the tolerance). Pairs with fewer than
    ``min_faces`` faces (grains touching at a corner) and pairs with label 0 are left out.
    """
    found, truth, _ = _check(found, truth, None)
    if not (np.isfinite(tolerance_px) and tolerance_px >= 0):
        raise InputError(f"must be >= 0, got {tolerance_px!r}", source="tolerance_px")
    bf = boundary_pixels(found)
    near = (ndi.distance_transform_edt(~bf) <= tolerance_px) if bf.any() else np.zeros(bf.shape, bool)
    keys, hits, rows = [], [], []
    n = int(truth.max()) + 1
    for axis in (0, 1):
        t = np.moveaxis(truth, axis, 0).astype(np.int64)
        m = np.moveaxis(near, axis, 0)
        cut = (t[:-1] != t[1:]) & (t[:-1] != 0) & (t[1:] != 0)
        a, b = t[:-1][cut], t[1:][cut]
        keys.append(np.minimum(a, b) * n + np.maximum(a, b))
        hits.append(m[:-1][cut] & m[1:][cut])
        rows.append(np.full(a.size, axis == 0))
    keys, hits, rows = np.concatenate(keys), np.concatenate(hits), np.concatenate(rows)
    uniq, inv = np.unique(keys, return_inverse=True)
    faces = np.bincount(inv, minlength=uniq.size)
    recall = np.bincount(inv, hits, minlength=uniq.size) / np.maximum(faces, 1)
    horizontal = np.bincount(inv, rows, minlength=uniq.size) / np.maximum(faces, 1)
    keep = faces >= min_faces
    pairs = np.column_stack([uniq // n, uniq % n])[keep]
    return PairRecall(pairs, faces[keep], recall[keep], horizontal[keep], recall[keep] < min_recall,
                      float(tolerance_px))
