"""Data + fit + residual panel for profile fits (matplotlib imported lazily)."""

from __future__ import annotations

import numpy as np


def plot_profiles(ax, datasets, *, title: str = ""):
    """Draw profiles and fitted curves on ``ax`` and a residual panel below it.

    Parameters
    ----------
    datasets
        Iterable of dicts with ``x`` (m), ``c``, ``err`` (or None), ``model`` (C at x),
        ``curve`` ((x, C) of the fitted curve on a fine grid) and ``label``.

    Returns
    -------
    (ax, ax_residual)
    """
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    ax_res = make_axes_locatable(ax).append_axes("bottom", size="30%", pad=0.1, sharex=ax)
    for i, d in enumerate(datasets):
        color = f"C{i}"
        x_um = np.asarray(d["x"]) * 1e6
        ax.plot(x_um, d["c"], ".", ms=2, color=color, alpha=0.6, label=f"{d['label']} data")
        cx, cy = d["curve"]
        ax.plot(np.asarray(cx) * 1e6, cy, "-", color=color, lw=1.2, label=f"{d['label']} fit")
        resid = np.asarray(d["c"]) - np.asarray(d["model"])
        if d.get("err") is not None:
            ax_res.plot(x_um, resid / np.asarray(d["err"]), ".", ms=2, color=color)
            ax_res.set_ylabel("resid. / σ")
        else:
            ax_res.plot(x_um, resid, ".", ms=2, color=color)
            ax_res.set_ylabel("residual")
    ax_res.axhline(0.0, color="k", lw=0.6)
    ax.set_ylabel("C (6Li fraction)")
    ax.legend(fontsize="small")
    ax.tick_params(labelbottom=False)
    ax_res.set_xlabel("x (µm)")
    if title:
        ax.set_title(title)
    return ax, ax_res
