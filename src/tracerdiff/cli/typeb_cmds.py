"""CLI for fast grain boundaries: ``leclaire`` (Whipple-Le Claire type-B analysis of a depth profile)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import typer

from tracerdiff.cli.common import app, err_console, handle_errors, print_json, print_table
from tracerdiff.cli.profiles_cmds import JSON_OPT, PLOT_OPT, _check_plot_path, _duration, _save_plot
from tracerdiff.errors import InputError
from tracerdiff.units import to_si

#: The keys of ``leclaire --json`` (issue 17's schema).
JSON_KEYS = ("p", "sd_gb", "beta", "alpha", "regime", "tail")


@app.command("leclaire")
@handle_errors
def leclaire_cmd(
    profile: Path = typer.Argument(..., help="Depth profile CSV: x_um (depth) with C or I6Li,I7Li, or C̄(y) "
                                             "averaged over an image."),
    time: str = typer.Option(..., "--time", help="Anneal (diffusion) time, e.g. '10h'."),
    d_bulk: Optional[str] = typer.Option(None, "--d-bulk", help="Bulk diffusivity, e.g. '1e-12 cm^2/s' "
                                                                "(default: fitted from the near-surface part)."),
    source: str = typer.Option("constant", "--source", help="constant (1.322) or instantaneous (1.308) source."),
    segregation: float = typer.Option(1.0, "--segregation", help="Segregation factor s (sd_gb = p / s)."),
    thickness: str = typer.Option("0.5 nm", "--thickness", help="Boundary width delta (for alpha and beta)."),
    grain_size: Optional[str] = typer.Option(None, "--grain-size", help="Mean grain size (for the regime check)."),
    background: float = typer.Option(0.0, "--background", help="C of the natural level, subtracted first."),
    tail_min: Optional[str] = typer.Option(None, "--tail-min", help="Use this tail start instead of detecting it."),
    tail_max: Optional[str] = typer.Option(None, "--tail-max", help="Use this tail end instead of detecting it."),
    plot: Optional[Path] = PLOT_OPT,
    as_json: bool = JSON_OPT,
):
    """s delta D_gb from the tail of a type-B profile: ln C̄ linear in y^(6/5) (Whipple-Le Claire)."""
    from tracerdiff.profiles import read_profile
    from tracerdiff.profiles.leclaire import TypeBOptions, fit_leclaire
    from tracerdiff.quantity import Measured

    t = _duration(time, "--time")
    if source not in ("constant", "instantaneous"):
        raise InputError(f"must be constant or instantaneous, got {source!r}", source="--source")
    if not segregation > 0:
        raise InputError(f"must be positive, got {segregation!r}", source="--segregation")
    if (tail_min is None) != (tail_max is None):
        raise InputError("give both --tail-min and --tail-max, or neither", source="--tail-min")
    delta = to_si(thickness, "length", name="--thickness")
    grain = None if grain_size is None else to_si(grain_size, "length", name="--grain-size")
    for flag, value in (("--thickness", delta), ("--grain-size", grain)):
        if value is not None and not value > 0:
            raise InputError("must be positive", source=flag)
    tail = None
    if tail_min is not None:
        tail = (to_si(tail_min, "length", name="--tail-min"), to_si(tail_max, "length", name="--tail-max"))
    d = None
    if d_bulk is not None:
        d = Measured(to_si(d_bulk, "diffusivity", name="--d-bulk"), 0.0, "diffusivity")
        if not d.value > 0:
            raise InputError("must be positive", source="--d-bulk")
    _check_plot_path(plot)
    opts = TypeBOptions(source=source, segregation=segregation, thickness=delta, grain_size=grain,
                        background=background, tail=tail)
    ds = read_profile(profile)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = fit_leclaire(ds, t, d_bulk=d, options=opts)
    for w in caught:  # remarks go to stderr so that stdout stays one JSON object
        err_console.print(f"warning: {w.message}", markup=False, highlight=False, soft_wrap=True)
    if plot is not None:
        _save_plot(r, plot)
    if as_json:
        full = r.to_dict()
        print_json({k: full[k] for k in JSON_KEYS})
        return
    rows = [("P = s delta D_gb", r.p), ("delta D_gb", r.sd_gb), ("P (Le Claire 1.322/1.308)", r.p_leclaire),
            ("D_bulk" + (" (fitted)" if r.d_bulk_fitted else ""), r.d_bulk), ("beta", r.beta),
            ("alpha", r.alpha), ("regime", r.regime.regime),
            ("tail", f"{r.tail[0] * 1e6:.4g} - {r.tail[1] * 1e6:.4g} um ({r.n_tail} points)")]
    print_table(f"type-B (Le Claire) analysis: {profile}", rows)
