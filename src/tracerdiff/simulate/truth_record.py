"""What a simulation ran, as JSON (``truth.json``): the known truth every estimator is tested on.

Units as in :mod:`tracerdiff.simulate.history` (SI; lengths in um where named ``_um``).
"""

from __future__ import annotations

import numpy as np

from tracerdiff import __version__
from tracerdiff.grains import GrainMap


def _json_coefficient(value):
    if np.ndim(value) == 0:
        return float(value)
    return np.asarray(value, float).tolist()


def truth_record(grains: GrainMap, plans: list[dict], pairs: np.ndarray, c_initial, scheme: str, n_steps: int) -> dict:
    """The JSON record of what was simulated: grains, every boundary's coefficients and each step's plan."""
    table = grains.boundaries()
    steps = []
    for p in plans:
        entry = {"kind": p["kind"], "duration_s": p["duration_s"], "n_steps": p["n_steps"],
                 "temperature_K": p["temperature_K"], "d_bulk": _json_coefficient(p["d_bulk"]),
                 "dgb_over_delta": [_finite(g) for g in p["g_pairs"]]}
        if np.any(p["p_pairs"] > 0):
            entry["p_gb"] = [float(v) for v in p["p_pairs"]]
        if p["laws"]:
            entry["arrhenius"] = p["laws"]
        if p["kind"] == "exchange":
            entry.update(source_edge=p["edge_name"], c_source=p["c_source"])
            if p["source"] is not None:  # a wetted region: enough to tell two regions apart
                entry["source_cells"] = int(p["source"].sum())
        steps.append(entry)
    first = plans[0]
    g = first["g_pairs"]
    pv = first["p_pairs"]
    return {
        "simulator": f"tracerdiff.simulate {__version__}",
        "units": {"d_bulk": "m^2/s", "dgb_over_delta": "m/s (null: no resistance)", "p_gb": "m^3/s", "duration_s": "s", "length_um": "um",
                  "temperature_K": "K"},
        "grains": grains.to_dict(),
        "pixel_size_um": grains.pixel_size_um,
        "seed": grains.info.get("seed"),
        "scheme": scheme,
        "c_initial": float(c_initial) if np.ndim(c_initial) == 0 else "array",
        "d_bulk": _json_coefficient(first["d_bulk"]),
        "dgb_over_delta": _finite(g[0]) if g.size and np.all(g == g[0]) else (_finite(np.median(g)) if g.size else None),
        "p_gb": None if not np.any(pv > 0) else (float(pv[0]) if np.all(pv == pv[0]) else float(np.median(pv))),
        "boundaries": [{"grains": [int(a), int(b)], "dgb_over_delta": _finite(gv), "p_gb": float(p_),
                        "length_um": float(length)}
                       for (a, b), gv, p_, length in zip(pairs, g, pv, table.length_um)],
        "steps": steps,
    }


def _finite(value) -> float | None:
    """JSON-safe: an infinite conductance (no resistance across the boundary) is recorded as None."""
    return float(value) if np.isfinite(value) else None
