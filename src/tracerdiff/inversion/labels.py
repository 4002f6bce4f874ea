"""Label-map helpers of the inversion: pixels next to boundaries and the |n.e| weights of boundary faces."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.grains import GrainMap


def near_boundary(labels: np.ndarray, margin: int) -> np.ndarray:
    """Pixels within ``margin`` 4-neighbour steps of a label change."""
    if margin == 0:
        return np.zeros(labels.shape, bool)
    from skimage.segmentation import find_boundaries

    on = find_boundaries(labels, connectivity=1, mode="thick")  # both pixels of every label change
    return ndi.binary_dilation(on, iterations=margin - 1) if margin > 1 else on


def face_weight_maps(labels: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray]:
    """|n.e| of the faces between rows and between columns (1 off boundaries), from smoothed normals."""
    grains = GrainMap.from_labels(labels, pixel_size_um=px)
    maps = []
    for axis in (0, 1):
        lo_lab = labels[:-1] if axis == 0 else labels[:, :-1]
        hi_lab = labels[1:] if axis == 0 else labels[:, 1:]
        w = np.ones(lo_lab.shape)
        w[lo_lab != hi_lab] = grains.boundary_faces(axis)[2]
        maps.append(w)
    return maps[0], maps[1]
