"""The step analysis of a large map in overlapping tiles, each a task on the parallel engine.

A stitched SIMS mosaic of a whole pellet (10⁷–10⁸ px) is cut into square cores of ``tile_px``;
each core is analysed with a margin (``halo_px``) of the neighbouring pixels, by
:func:`tracerdiff.boundaries.analyse_boundaries`, as one task (:mod:`tracerdiff.parallel`: in
process, on a local cluster, or on an existing dask cluster). A boundary is kept by the tile
whose core holds its centre, so each boundary is reported once, measured with its
neighbourhood complete: the step fit reaches ``depth_px`` (20 px) into each grain and the
regional slope pools within ``regional_radius_px`` (24 px), both well inside the default
128 px halo. The grain labels are stitched: a grain crossing a core edge gets one label, by
matching the labels each tile found in its halo with those of the neighbour's core.

The working memory is bounded by the tile, not the image: the input is sliced one tile at a
time (a dask-backed dataset from a lazy reader is read per tile, when the tile is sent), at most
two tiles per worker are in flight, and a tile returns only its kept boundaries, the C of its
core and the labels the stitching compares. What grows with the image is the result: the
stitched label and C maps and every boundary (benchmarks/bench_scale.py: 4096² px, 217 653
boundaries, 1.8 GB in one process).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tracerdiff.boundaries.analysis import analyse_boundaries, assemble_analysis
from tracerdiff.boundaries.result import BoundaryAnalysis
from tracerdiff.errors import InputError
from tracerdiff.parallel import task_runner


#: Default margin of a tile (pixels): it must hold the step fit's reach into each grain
#: (``depth_px`` 20) and the regional slope's pooling radius (``regional_radius_px`` 24) with room
#: for the grains crossing the core edge to be seen whole by both tiles.
DEFAULT_HALO_PX = 128
#: Smallest tile core (pixels): below it the halo dominates the work.
MIN_TILE_PX = 64


def tile_windows(shape: tuple[int, int], *, tile_px: int, halo_px: int) -> list[tuple[slice, slice, slice, slice]]:
    """(core rows, core cols, window rows, window cols) of every tile, row-major."""
    ny, nx = shape
    out = []
    for r0 in range(0, ny, tile_px):
        for c0 in range(0, nx, tile_px):
            r1, c1 = min(r0 + tile_px, ny), min(c0 + tile_px, nx)
            out.append((slice(r0, r1), slice(c0, c1), slice(max(r0 - halo_px, 0), min(r1 + halo_px, ny)),
                        slice(max(c0 - halo_px, 0), min(c1 + halo_px, nx))))
    return out


def analyse_boundaries_tiled(data, *, d_bulk, source_edge: str, pixel_size_um: float | None = None,
                             tile_px: int = 1024, halo_px: int = DEFAULT_HALO_PX, scheduler=None, workers: int = 1,
                             progress=None, **options) -> BoundaryAnalysis:
    """:func:`~tracerdiff.boundaries.analyse_boundaries` of a large map, tile by tile (see the module).

    Parameters
    ----------
    data : xarray.Dataset
        "6Li"/"7Li" counts or a "C" map (with "C_stderr"), numpy- or dask-backed, with ``y``/``x``
        coordinates in micrometres (the readers' layout).
    d_bulk : Measured, str or float
        Bulk tracer diffusivity (as for ``analyse_boundaries``).
    source_edge : str
        "top", "bottom", "left" or "right": a tile does not see the large-scale trend.
    pixel_size_um : float, optional
        Overrides the dataset's ``pixel_size_um``.
    tile_px, halo_px : int
        Core size and margin of the tiles, pixels.
    scheduler : str or distributed.Client, optional
        An existing dask cluster (see :func:`tracerdiff.parallel.task_runner`).
    workers : int
        Processes of a local cluster when no scheduler is given; results are identical on every engine.
    progress : callable, optional
        ``progress(done, total)`` after each tile.
    **options : dict
        Further options of ``analyse_boundaries`` (``thickness``, ``segmentation``, ``step_fit``,
        ``quality``; not ``optical`` or ``labels``).

    Returns
    -------
    BoundaryAnalysis
        Every boundary once, the summary over the accepted ones, the stitched label map.
    """
    if source_edge not in ("top", "bottom", "left", "right"):
        raise InputError(f"a tiled analysis needs the source edge (top, bottom, left or right), got "
                         f"{source_edge!r}", source="source_edge")
    if isinstance(tile_px, bool) or not (isinstance(tile_px, (int, np.integer)) and tile_px >= MIN_TILE_PX):
        raise InputError(f"must be an integer >= {MIN_TILE_PX}, got {tile_px!r}", source="tile_px")
    if not (isinstance(halo_px, (int, np.integer)) and 0 <= halo_px < tile_px):
        raise InputError(f"must be an integer in [0, tile_px), got {halo_px!r}", source="halo_px")
    for key in ("optical", "labels"):
        if options.get(key) is not None:
            raise InputError("not available in a tiled analysis; use analyse_boundaries", source=key)
    if not hasattr(data, "data_vars") or "y" not in data.dims or "x" not in data.dims:
        raise InputError("a tiled analysis needs an image dataset with y/x coordinates (tracerdiff.io.read)",
                         source="data")
    px = float(pixel_size_um if pixel_size_um is not None else data.attrs.get("pixel_size_um", math.nan))
    if not (math.isfinite(px) and px > 0):
        raise InputError("pixel size is required (e.g. pixel_size_um=1.0)", source="pixel_size")
    shape = (data.sizes["y"], data.sizes["x"])
    tiles = tile_windows(shape, tile_px=int(tile_px), halo_px=int(halo_px))
    ys, xs = np.asarray(data["y"], float), np.asarray(data["x"], float)
    specs = [(data, win_r, win_c, (ys[core_r.start] - px / 2, ys[core_r.stop - 1] + px / 2,
                                   xs[core_c.start] - px / 2, xs[core_c.stop - 1] + px / 2),
              dict(options, d_bulk=d_bulk, source_edge=source_edge, pixel_size_um=px),
              _within_window(core_r, core_c, win_r, win_c, 0), _within_window(core_r, core_c, win_r, win_c, RING_PX))
             for core_r, core_c, win_r, win_c in tiles]
    names = [f"tile rows {r.start}-{r.stop - 1}, columns {c.start}-{c.stop - 1}" for r, c, _, _ in tiles]
    with task_runner(scheduler=scheduler, workers=workers) as runner:
        # A few tiles per worker in flight: enough to keep the workers busy, while the tiles'
        # inputs and results on the cluster stay bounded by the tile size, not the image size.
        parts = runner.map(_tile_task, [_Lazy(s) for s in specs], names=names, progress=progress,
                           max_in_flight=runner.in_flight(2))
    quality = options.get("quality")
    include_flagged = bool(getattr(quality, "include_flagged", False))
    return _stitch(parts, tiles, shape, px, include_flagged, source_edge, origin=(float(ys[0]), float(xs[0])))


class _Lazy:
    """A tile's inputs; the pixels are sliced (and read, for a lazy dataset) only when pickled or run."""

    def __init__(self, spec):
        self.spec = spec

    def __reduce__(self):
        data, win_r, win_c, *rest = self.spec
        return (_Lazy, ((_load(data.isel(y=win_r, x=win_c)), slice(None), slice(None), *rest),))


def _load(data):
    """The pixels of a (possibly dask-backed) window, read here and now.

    Always with dask's synchronous scheduler: while a distributed client is active it would be
    dask's default, and a tile pickled for submission on the client's event loop would then wait
    for that same loop (a deadlock, seen with lazily read TIFFs on a local cluster)."""
    return data.load(scheduler="synchronous")


#: Pixels past a core's edge whose labels are returned for stitching (see :func:`_stitch`).
RING_PX = 8


def _within_window(core_r: slice, core_c: slice, win_r: slice, win_c: slice, ring: int) -> tuple[slice, slice]:
    """The core grown by ``ring`` pixels (clipped to the window), in the window's coordinates."""
    return (slice(max(core_r.start - ring, win_r.start) - win_r.start, min(core_r.stop + ring, win_r.stop) - win_r.start),
            slice(max(core_c.start - ring, win_c.start) - win_c.start, min(core_c.stop + ring, win_c.stop) - win_c.start))


def _tile_task(item: _Lazy):
    """One tile: (boundaries centred in its core, labels of its core and ring, C of its core, largest
    label of the window, message).

    Only what the stitching needs leaves the task: the halo beyond the ring and the C of the
    halo are dropped here, so the caller holds about one core's pixels per tile."""
    data, win_r, win_c, (y0, y1, x0, x1), options, inner, ring = item.spec
    tile = _load(data.isel(y=win_r, x=win_c))
    res = analyse_boundaries(tile, **options)
    kept = tuple(b for b in res.boundaries if y0 <= b.y_um < y1 and x0 <= b.x_um < x1)
    labels = np.asarray(res.labels)
    return (kept, np.array(labels[ring], np.int32), np.array(res.c[inner], np.float32), int(labels.max(initial=0)),
            res.message)


def _stitch(parts, tiles, shape, px, include_flagged, source_edge, *, origin) -> BoundaryAnalysis:
    """One label map and one list of boundaries from the tiles' results."""
    labels = np.zeros(shape, np.int64)
    c = np.full(shape, np.nan, np.float32)
    offsets, offset = [], 1
    rings = []
    for (kept, tl, tc, n_labels, _), (core_r, core_c, win_r, win_c) in zip(parts, tiles):
        offsets.append(offset)
        # tl: labels of the core grown by RING_PX (clipped to the image), tc: C of the core.
        ring_r = slice(max(core_r.start - RING_PX, win_r.start), min(core_r.stop + RING_PX, win_r.stop))
        ring_c = slice(max(core_c.start - RING_PX, win_c.start), min(core_c.stop + RING_PX, win_c.stop))
        rings.append((ring_r, ring_c))
        inner = (slice(core_r.start - ring_r.start, core_r.stop - ring_r.start),
                 slice(core_c.start - ring_c.start, core_c.stop - ring_c.start))
        labels[core_r, core_c] = np.where(tl[inner] > 0, tl[inner] + offset, 0)
        c[core_r, core_c] = tc
        offset += n_labels + 1
    # A grain crossing a core edge: the tile that saw it in its halo names the neighbour's label.
    pairs = []
    for (kept, tl, *_), (core_r, core_c, _, _), (ring_r, ring_c), off in zip(parts, tiles, rings, offsets):
        own = np.where(tl > 0, tl + off, 0)
        theirs = labels[ring_r, ring_c]
        # Only the first RING_PX pixels past the core edge (all the task returns): far into the
        # halo a tile's grains are cut by its own border.
        near = _near_core(ring_r, ring_c, core_r, core_c, RING_PX)
        sel = near & (own > 0) & (theirs > 0)
        if sel.any():
            a, b = own[sel], theirs[sel]
            pair, count = np.unique(np.stack([a, b]), axis=1, return_counts=True)
            size_b = dict(zip(*np.unique(b, return_counts=True)))
            pairs += [(int(p), int(q)) for (p, q), n in zip(pair.T, count) if n > 0.5 * size_b[q]]
    mapping = _union(pairs, offset)
    # Consecutive labels over the grains present (a tile's grains that lie only in its halo are dropped).
    present = np.unique(mapping[labels])
    present = present[present > 0]
    remap = np.zeros(int(mapping.max()) + 1, np.int64)
    remap[present] = np.arange(1, len(present) + 1)
    mapping = remap[mapping]
    labels = mapping[labels]
    boundaries = []
    for (kept, *_), off in zip(parts, offsets):
        for b in kept:
            g = tuple(int(mapping[x + off]) if x > 0 else 0 for x in b.grains)
            boundaries.append(dataclasses.replace(b, grains=g))
    # The tiles' own "none of the N boundaries passed" remarks are about one tile, not the map.
    notes = "; ".join(sorted({m for *_, m in parts if m and not m.startswith("none of the")}))
    whole = dict(labels=labels.astype(np.int32), c=c, pixel_size_um=px, source_edge=source_edge,
                 include_flagged=include_flagged, origin_um=origin)
    return assemble_analysis(boundaries, whole, include_flagged, notes)


def _near_core(ring_r: slice, ring_c: slice, core_r: slice, core_c: slice, width: int) -> np.ndarray:
    """Pixels of the ring outside the core within city-block distance ``width`` of it (what
    ``width`` 4-connected dilations of the core reach)."""
    y = np.arange(ring_r.start, ring_r.stop)[:, None]
    x = np.arange(ring_c.start, ring_c.stop)[None, :]
    dy = np.maximum(np.maximum(core_r.start - y, y - (core_r.stop - 1)), 0)
    dx = np.maximum(np.maximum(core_c.start - x, x - (core_c.stop - 1)), 0)
    d = dy + dx
    return (d > 0) & (d <= width)


def _union(pairs, n: int) -> np.ndarray:
    """label -> stitched label (0 stays 0; consecutive from 1 in order of first label), joining the pairs."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = max(n, 2)
    a, b = (np.array(pairs, dtype=np.int64).T if pairs else (np.zeros(0, np.int64), np.zeros(0, np.int64)))
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    _, first, inverse = np.unique(comp[1:], return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    out = np.zeros(n, np.int64)
    out[1:] = rank[inverse] + 1
    return out
