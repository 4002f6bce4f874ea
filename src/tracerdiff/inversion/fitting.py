"""The window-by-window fit of a whole image, with the grain map repaired where the model cannot explain it.

Units as in :mod:`tracerdiff.inversion.network`. Arrays are turned so that the source edge is
row 0 while fitting (``to_canonical``) and back for the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from tracerdiff.inversion.labels import face_weight_maps, near_boundary
from tracerdiff.inversion.network import WindowModel
from tracerdiff.inversion.repair import grain_chi2, inherit_starts as _inherit, repair_map, steep_grains
from tracerdiff.inversion.window_layout import (KEEP_MODELS_BYTES, MODEL_BYTES_PER_CELL, WindowData, WindowImage,
                                               from_canonical, owned_rows, owner_windows, ownership, to_canonical,
                                               window_model)
from tracerdiff.inversion.windows import (fit_window, initial_log_conductance, misfit_boundaries, population_estimate,
                                         unconverged,
                                         window_grid)
from tracerdiff.parallel import single_thread_blas, task_runner

#: Passes over the windows stop once the population's ln median moved by less than this (1 %, a
#: fifth of its statistical error on a 512 x 206 image at 3000 counts/px). Each window's fit is made
#: under the previous pass's population, so the median of an unconverged pass still leans to the
#: start: the first pass (prior log-sd 1) put it 10-25 % high on uniform images, and two passes
#: left 0.2-2 % of that (seeds 100 and 204, true grains).
PASS_TOL = 0.01
#: Windows fitted per batch of a pass (see ``refit`` in :func:`_fit_image`): enough to keep a
#: cluster's workers busy (the last tasks of a batch wait for the slowest), few enough that a
#: batch's fits are small next to the image's.
REFIT_BATCH = 256


@dataclass(frozen=True)
class ImageFit:
    """Every window's fit with the final grain map, the population and the repair's record."""

    fits: list
    owned: list
    windows: list  # (y0, x0) of every window, canonical orientation
    mu: float
    sigma: float
    labels: np.ndarray  # final grain map, input orientation
    model_images: list  # per window: its fitted field (before PSF) as a WindowImage, input orientation
    repair: dict  # record of the grain-map repair (see fit_image)


class _Image:
    """The canonical image, its windows and the current grain map (mutable while fitting)."""

    def __init__(self, c, err, valid, labels, *, px, d_bulk, psf_px, window_px, stride_px, margin_px, workers,
                 hidden=(), keep_models=None):
        self.c, self.err, self.valid = c, err, valid
        self.hidden = np.asarray(hidden, dtype=np.int64)  # grains left out of the data term (still conducting)
        self.px, self.d_bulk, self.psf_px, self.margin, self.workers = px, d_bulk, psf_px, margin_px, workers
        ny, nx = c.shape
        self.size = (min(window_px, ny), min(window_px, nx))
        self.windows = [(y0, x0) for y0 in window_grid(ny, self.size[0], stride_px)
                        for x0 in window_grid(nx, self.size[1], stride_px)]
        if keep_models is None:
            keep_models = len(self.windows) * self.size[0] * self.size[1] * MODEL_BYTES_PER_CELL <= KEEP_MODELS_BYTES
        self.keep_models = keep_models
        # Each pixel's residual is read from the window whose centre is nearest (away from window edges).
        self.owner = owner_windows((ny, nx), self.size, stride_px)
        self.labels = None
        # Per window: its WindowModel (kept) or its WindowData (the model is built in the task).
        self.models: list = [None] * len(self.windows)
        self.pairs: list = [None] * len(self.windows)
        self.set_labels(labels)

    def _slice(self, w):
        y0, x0 = self.windows[w]
        return slice(y0, y0 + self.size[0]), slice(x0, x0 + self.size[1])

    def set_labels(self, labels) -> list[int]:
        """Use ``labels``; rebuild the windows whose labels changed and return their indices.

        A window whose labels did not change keeps the data it was built from (fit mask, face
        weights): with WindowData those are views of the earlier whole-image arrays, which
        stay alive while a window uses them.
        """
        old = self.labels
        self.labels = labels
        self.fit_px = self.valid & ~near_boundary(labels, self.margin)
        if self.hidden.size:
            self.fit_px &= ~np.isin(labels, self.hidden)
        changed = [w for w in range(len(self.windows))
                   if old is None or not np.array_equal(old[self._slice(w)], labels[self._slice(w)])]
        if changed:
            w_rows, w_cols = face_weight_maps(labels, self.px)
            for w in changed:
                sy, sx = self._slice(w)
                rows = w_rows[sy.start:sy.stop - 1, sx]
                cols = w_cols[sy, sx.start:sx.stop - 1]
                data = WindowData(self.c[sy, sx], self.err[sy, sx], self.fit_px[sy, sx], labels[sy, sx],
                                  (rows, cols), h=self.px * 1e-6, d_bulk=self.d_bulk, psf_px=self.psf_px,
                                  at_source=self.windows[w][0] == 0)
                self.models[w] = data.model() if self.keep_models else data
                self.pairs[w] = self.models[w].pairs
        self.owned = ownership(self.pairs, self.windows, labels, self.size)
        return changed

    def model(self, w) -> WindowModel:
        """Window ``w``'s model (built anew when models are not kept)."""
        return window_model(self.models[w])

    def residual(self, fits) -> np.ndarray:
        """(model - data) / stderr at the fitted pixels (NaN elsewhere), each pixel from its nearest window."""
        z = np.full(self.c.shape, np.nan)
        for w, fit in enumerate(fits):
            sl = self._slice(w)
            model = np.asarray(fit.c_model, dtype=float)  # kept in float32; blurred in float64 as fitted
            if self.psf_px > 0:
                model = ndi.gaussian_filter(model, self.psf_px, mode="nearest")
            take = (self.owner[sl] == w) & self.fit_px[sl]
            z[sl][take] = ((model - self.c[sl]) / self.err[sl])[take]
        return z


def fit_image(c, err, valid, labels, *, scheduler=None, **options) -> ImageFit | None:
    """:func:`_fit_image` with BLAS on one thread: the solves are small, and threads on a shared
    machine only spin (one 40 x 40 window fit took 8 s instead of 0.15 s).

    Window fits run on one :func:`tracerdiff.parallel.task_runner` for the whole image: in
    process when ``workers`` is 1, else on a local cluster of ``workers`` processes, or on the
    dask cluster ``scheduler`` (address or client). The results are the same on every engine.
    """
    with single_thread_blas(), task_runner(scheduler=scheduler, workers=options["workers"]) as runner:
        return _fit_image(c, err, valid, labels, runner=runner, **options)


def _fit_image(c, err, valid, labels, *, source_edge, px, d_bulk, psf_px, window_px, stride_px, population_sigma,
               min_sigma, n_passes, workers, misfit_sigmas, margin_px, repair_rounds, runner, edge=None) -> ImageFit | None:
    """Fit every window (``n_passes`` passes, population re-estimated after each); None with one grain.

    Grain-map repair (``repair_rounds`` > 0): before the first pass, grains that hide a step in C
    are cut along the edge evidence ``edge`` (default: the noise-normalised gradient of C) and
    grains with a ramp too steep for their bulk leave the data term; after it, grains the model
    does not explain (chi^2 above n by ``misfit_sigmas`` sd) are offered cuts from the model's
    residual (:mod:`tracerdiff.inversion.repair`). ``repair`` records what was done.
    """
    from tracerdiff.boundaries.segmentation import edge_strength

    cc, ee, vv, lab = (np.ascontiguousarray(to_canonical(a, source_edge)) for a in (c, err, valid, labels))
    lab = lab.astype(np.int64)
    if np.unique(lab).size < 2:
        return None
    if edge is None:
        edge = edge_strength(cc, ee, smoothing_px=1.0)
    else:
        edge = np.ascontiguousarray(to_canonical(edge, source_edge))
    record = {"proposed": 0, "accepted": 0}
    if repair_rounds > 0:
        # Cuts the data show by themselves (no model needed) are made before the first pass.
        fixed = repair_map(cc, ee, vv, lab, edge=edge, margin=margin_px, rounds=repair_rounds)
        record.update(proposed=fixed.proposed, accepted=fixed.accepted, grains_before=_n_grains(lab))
        lab = fixed.labels
    # Grains that still hide a gradual step (a ramp too steep for their bulk) are left out of the
    # data term, so that they do not set the flux of their windows (see repair.steep_grains).
    steep = steep_grains(cc, ee, lab, vv & ~near_boundary(lab, margin_px)) if repair_rounds > 0 else np.zeros(0, int)
    record["steep_grains"] = int(steep.size)
    # On a cluster every task is pickled anyway: its window's data are smaller to ship than its model.
    img = _Image(cc, ee, vv, lab, px=px, d_bulk=d_bulk, psf_px=psf_px, window_px=window_px, stride_px=stride_px,
                 margin_px=margin_px, workers=workers, hidden=steep,
                 keep_models=None if getattr(runner, "client", None) is None else False)
    # The windows with the most boundaries (a stable sort, as initial_log_conductance's own).
    first = sorted(range(len(img.windows)), key=lambda w: len(img.pairs[w]), reverse=True)[:6]
    mu = initial_log_conductance([img.model(w) for w in first], d_bulk=d_bulk, h=px * 1e-6, n_windows=6)
    sigma = population_sigma if population_sigma is not None else 1.0
    theta: dict = {}
    fits: list = [None] * len(img.windows)

    def refit(indices, max_iter, *, step_rows):
        # In batches, each batch's fits replacing the previous pass's at once: two passes' fits
        # never coexist (at 4096^2 px: 4096 windows of ~0.4 MB, 1.6 GB). Every fit starts from
        # the previous pass's theta (updated below, after the whole pass), as in one batch.
        # The step Jacobian is read only by the result, at the rows of the boundaries a window
        # reports: ``step_rows`` "owned" keeps those (the grain map is final), "none" none (a later
        # pass refits every window), "all" the whole matrix (the map may still change which
        # boundaries the window reports, and the window may not be refitted).
        starts = [np.array([theta.get((int(a), int(b)), mu) for a, b in img.pairs[w]]) for w in indices]
        for b0 in range(0, len(indices), REFIT_BATCH):
            batch = indices[b0:b0 + REFIT_BATCH]
            jobs = [dict(mu=mu, sigma=sigma, theta0=t0, max_iter=max_iter) for t0 in starts[b0:b0 + REFIT_BATCH]]
            for w, fit in zip(batch, _map_windows([img.models[w] for w in batch], jobs, runner, windows=batch)):
                if step_rows != "all":
                    rows = owned_rows(fit.step_jacobian, img.owned[w] if step_rows == "owned" else [])
                    fit = dataclasses.replace(fit, step_jacobian=rows)
                fits[w] = fit
        for w in indices:
            fit = fits[w]
            theta.update({(int(fit.pairs[i, 0]), int(fit.pairs[i, 1])): float(fit.theta[i]) for i in img.owned[w]})

    def population():
        # Boundaries next to a grain the model does not explain, and windows whose fit stopped far
        # from its data's optimum (the trust region of windows.information_vector), do not set it.
        clean = [own[~misfit_boundaries(fit, n_sigma=misfit_sigmas)[own]] if not unconverged(fit, sigma)
                 else own[:0] for fit, own in zip(fits, img.owned)]
        if sum(o.size for o in clean) == 0:
            clean = img.owned
        new_mu, new_sigma, settled = population_estimate(fits, clean, mu=mu, sigma=sigma, fixed_sigma=population_sigma,
                                                         min_sigma=min_sigma, robust=True)
        record["population_settled"] = settled  # the last estimate's (the reported one)
        return new_mu, new_sigma

    everything = list(range(len(img.windows)))
    # The grain map is final after the repair that follows this pass; with later passes they
    # refit every window under it.
    refit(everything, 4, step_rows="none" if n_passes > 1 else "all")
    mu, sigma = population()
    z = img.residual(fits)
    chi = grain_chi2(z, img.labels, img.fit_px)
    record.update(mu_initial=mu, initial=_quality(chi, n_sigma=misfit_sigmas))
    changed = []
    misfit = [int(g) for g in chi.misfit(n_sigma=misfit_sigmas) if g > 0]
    if repair_rounds > 0 and misfit:
        # Grains the model does not explain: cut from the model's residual where it shows two lobes.
        old = img.labels  # repair_map cuts a copy: the map in use stays as it is
        fixed = repair_map(cc, ee, vv, img.labels, edge=edge, margin=margin_px, rounds=repair_rounds, z=z,
                           candidates=misfit)
        record.update(proposed=record["proposed"] + fixed.proposed, accepted=record["accepted"] + fixed.accepted)
        if fixed.accepted:
            _inherit_all(theta, old, fixed.labels)
            changed = img.set_labels(fixed.labels)
        del old, fixed
    # Whole-image maps not needed by the passes (at 4096^2 px 134 MB each) are let go.
    del edge, z, chi
    passes = 1
    for _ in range(n_passes - 1):
        previous = mu
        refit(everything, 2, step_rows="owned")
        mu, sigma = population()
        changed, passes = [], passes + 1
        if abs(mu - previous) < PASS_TOL:  # the fits were made at (nearly) this population
            break
    if changed:  # one pass only: the windows of the cut grains still need their refit
        refit(changed, 2, step_rows="owned")
        mu, sigma = population()
    z = img.residual(fits)
    record["final"] = _quality(grain_chi2(z, img.labels, img.fit_px), n_sigma=misfit_sigmas)
    record.update(mu_final=mu, passes=passes)
    model_images = [WindowImage(fit.c_model, origin, c.shape, source_edge) for fit, origin in zip(fits, img.windows)]
    return ImageFit(fits, img.owned, img.windows, mu, sigma, from_canonical(img.labels, source_edge), model_images,
                    record)


def _inherit_all(theta: dict, old: np.ndarray, new: np.ndarray) -> None:
    """Start values for the boundaries of every cut grain (:func:`repair.inherit_starts`), grain by
    grain in increasing label order, each in its bounding box in ``old`` plus one pixel (its new
    boundaries lie there): whole-image masks per cut grain cost grains x image."""
    boxes = ndi.find_objects(old)
    for parent in np.unique(old[new != old]):
        sy, sx = boxes[int(parent) - 1]
        box = (slice(max(sy.start - 1, 0), sy.stop + 1), slice(max(sx.start - 1, 0), sx.stop + 1))
        _inherit(theta, old[box], new[box], parent)


def _n_grains(labels) -> int:
    return int(np.count_nonzero(np.unique(labels)))


def _quality(chi, *, n_sigma) -> dict:
    """Misfit grains (count, share of the fitted pixels) and the chi^2 they leave unexplained."""
    present = np.flatnonzero(chi.n > 0)
    present = present[present > 0]
    bad = chi.misfit(n_sigma=n_sigma)
    bad = bad[bad > 0]
    n_px = float(chi.n[present].sum())
    return {"n_grains": int(present.size), "n_misfit": int(bad.size),
            "misfit_fraction": bad.size / present.size if present.size else 0.0,
            "misfit_area_fraction": float(chi.n[bad].sum()) / n_px if n_px else 0.0,
            "excess_chi2_per_pixel": chi.excess(present) / n_px if n_px else 0.0}


def _fit_one(args):
    window, job = args
    return fit_window(window_model(window), **job)


def _map_windows(models, jobs, runner, *, windows):
    """Fit every window with ``runner`` (:mod:`tracerdiff.parallel`: in process or on a cluster);
    ``windows``: their indices in the image (they name the tasks)."""
    names = [f"inversion window {w}" for w in windows]
    # A whole batch is submitted at once. Bounding the windows in flight (4 per worker thread, as the
    # tiles' 2) raised the largest process's peak at 1024^2 px with 2 workers from 0.82 to 1.10 GB
    # (bench_scale.py, same run conditions) while the cluster's logs kept 1000 entries; with 100
    # (parallel.LOW_LEVEL_LOG_LENGTH) it changed nothing (stub profile, 2048^2: 1.09 -> 1.13 GB).
    return runner.map(_fit_one, list(zip(models, jobs)), names=names)
