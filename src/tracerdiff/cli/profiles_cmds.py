"""CLI for line-scan profiles: ``erfc`` (eqn 4 fit) and ``evolve`` (closed-system time evolution)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tracerdiff.cli.common import app, handle_errors, print_json, print_table
from tracerdiff.errors import InputError
from tracerdiff.units import to_si

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object instead of a table.")
PLOT_OPT = typer.Option(None, "--plot", help="Also write a figure (data, fit, residuals) to this PNG/PDF/SVG.")
TRACER_OPT = typer.Option(None, "--tracer", help="Tracer channel in any notation (e.g. 18O, ^18O-); default 6Li.")
OTHER_OPT = typer.Option(None, "--other", help="The other isotope's channel (e.g. 16O, O-); default 7Li.")
RATE_OPT = typer.Option(None, "--sputter-rate", help="Sputter rate for a profile against sputter time, "
                        "e.g. '0.2 nm/s'.")
CRATER_OPT = typer.Option(None, "--crater-depth", help="Crater depth at the last point of a profile against "
                          "sputter time, e.g. '1.5 um' (rate = depth / last time).")


def _prepared(path: Path, tracer, other, sputter_rate, crater_depth):
    """Read a profile and make it what the fits take: a depth/position profile of C (or 6Li/7Li)."""
    from tracerdiff.profiles import read_profile
    from tracerdiff.profiles.depth import prepare_profile

    rate = None if sputter_rate is None else to_si(sputter_rate, "conductance", name="--sputter-rate")
    depth = None if crater_depth is None else to_si(crater_depth, "length", name="--crater-depth")
    return prepare_profile(read_profile(path), tracer=tracer, other=other, sputter_rate=rate, crater_depth=depth)


def _length(text: Optional[str], flag: str) -> Optional[float]:
    return None if text is None else to_si(text, "length", name=flag)


def _duration(text: str, flag: str) -> float:
    """A positive time in s; checked here so the message names the flag."""
    seconds = to_si(text, "time", name=flag)
    if not seconds > 0:
        raise InputError(f"must be positive, got {text!r}", source=flag)
    return seconds


def _check_plot_path(path: Optional[Path]) -> None:
    """Refuse an unusable --plot target before fitting, not after (and not with a traceback)."""
    if path is None:
        return
    from matplotlib.figure import Figure

    if path.is_dir():
        raise InputError(f"{str(path)!r} is a folder; give a file such as fit.png", source="--plot")
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lstrip(".").lower() not in formats:
        raise InputError(f"unknown figure format {path.suffix!r}; use one of "
                         f"{', '.join('.' + f for f in sorted(formats))}", source="--plot")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"folder {str(parent)!r} does not exist", source="--plot")


def _save_plot(result, path: Path) -> None:
    """Draw ``result.plot`` on a fresh Figure and write it with the package's one atomic writer."""
    from matplotlib.figure import Figure

    from tracerdiff.report.atomic import write_file_atomic

    fig = Figure(figsize=(7, 5))
    result.plot(fig.add_subplot())
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    write_file_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, bbox_inches="tight"), suffix=path.suffix)


@app.command("erfc")
@handle_errors
def erfc_cmd(
    profile: Path = typer.Argument(..., help="Line scan CSV (x_um + I6Li, I7Li or C) or a vendor export."),
    time: str = typer.Option(..., "--time", help="Contact time with the solution, e.g. '110h'."),
    fix_x0: Optional[str] = typer.Option(None, "--fix-x0", help="Hold the meniscus position, e.g. '0um'."),
    fix_c_s: Optional[float] = typer.Option(None, "--fix-cs", help="Hold Cs (the solution's fraction)."),
    fix_c_0: Optional[float] = typer.Option(None, "--fix-c0", help="Hold C0 (the natural fraction)."),
    x_min: Optional[str] = typer.Option(None, "--x-min", help="Fit only points at or beyond this position."),
    x_max: Optional[str] = typer.Option(None, "--x-max", help="Fit only points up to this position."),
    surface_exchange: bool = typer.Option(False, "--surface-exchange",
                                          help="Fit the surface-exchange-limited solution (k* and D* together)."),
    sample_end: Optional[str] = typer.Option(None, "--sample-end",
                                             help="Closed far end of a short sample: fit the finite-sample "
                                                  "solution instead of the semi-infinite erfc."),
    tracer: Optional[str] = TRACER_OPT,
    other: Optional[str] = OTHER_OPT,
    sputter_rate: Optional[str] = RATE_OPT,
    crater_depth: Optional[str] = CRATER_OPT,
    plot: Optional[Path] = PLOT_OPT,
    as_json: bool = JSON_OPT,
):
    """D*eff from an exchange profile: (C - C0)/(Cs - C0) = erfc((x - x0)/(2 sqrt(D t))) (eqn 4)."""
    from tracerdiff.profiles import fit_erfc

    t = _duration(time, "--time")
    _check_plot_path(plot)
    ds = _prepared(profile, tracer, other, sputter_rate, crater_depth)
    x_range = None
    if x_min is not None or x_max is not None:
        x_range = (_length(x_min, "--x-min") if x_min else -float("inf"),
                   _length(x_max, "--x-max") if x_max else float("inf"))
    r = fit_erfc(ds, t, fix_x0=_length(fix_x0, "--fix-x0"), fix_c_s=fix_c_s, fix_c_0=fix_c_0,
                 x_range=x_range, surface_exchange=surface_exchange,
                 sample_end=_length(sample_end, "--sample-end"))
    if plot is not None:
        _save_plot(r, plot)
    if as_json:
        print_json(r.to_dict())
        return
    rows = [("D*eff", r.d_eff), ("Cs", r.c_s), ("C0", r.c_0), ("x0", r.x0)]
    rows += [("k*", r.k_star)] if r.k_star is not None else []
    rows += [("chi2_red", r.chi2_red), ("points", r.n_points)]
    if r.d_eff_ci95 is not None:
        rows.append(("D*eff 95% CI", _interval_text(r.d_eff_ci95)))
    print_table(f"{r.model} fit: {profile}", rows)


def _interval_text(ci) -> str:
    from tracerdiff.units import display_unit, from_si

    lo, hi = (from_si(v, "diffusivity") for v in ci)
    return f"[{lo:.4g}, {hi:.4g}] {display_unit('diffusivity')}"


def _parse_then(text: str) -> tuple[float, Path]:
    when, sep, path = text.partition(":")
    if not sep or not path:
        raise InputError(f"expected TIME:FILE (e.g. '2w:later.csv'), got {text!r}", source="--then")
    try:
        return _duration(when, "--then"), Path(path)
    except InputError as exc:
        raise InputError(f"{exc} (in {text!r})") from None


@app.command("evolve")
@handle_errors
def evolve_cmd(
    initial: Path = typer.Argument(..., help="Profile at the start of the closed period."),
    then: List[str] = typer.Option(..., "--then", help="TIME:FILE, a later profile and its time since the "
                                                       "initial one (e.g. '2w:week2.csv'); repeat, in order."),
    exchange_time: Optional[str] = typer.Option(None, "--exchange-time",
                                                help="Contact time of the initial profile with the solution "
                                                     "(e.g. '110h'); its erfc fit is then the initial state."),
    initial_model: str = typer.Option("auto", "--initial", help="'erfc' (fitted curve), 'data' (measured "
                                                                "points) or 'auto' (erfc with --exchange-time)."),
    sample_start: Optional[str] = typer.Option(None, "--sample-start",
                                               help="Sample end near the solution (no-flux); default: first scan point."),
    sample_end: Optional[str] = typer.Option(None, "--sample-end",
                                             help="Far end of the sample (no-flux); default: last scan point."),
    sample_length: Optional[str] = typer.Option(None, "--sample-length",
                                                help="Sample length from --sample-start (instead of --sample-end)."),
    fix_x0: Optional[str] = typer.Option(None, "--fix-x0", help="Meniscus position for the initial erfc fit."),
    finite_exchange: bool = typer.Option(False, "--finite-exchange",
                                         help="Initial fit with the sample's far end closed during the "
                                              "exchange too (finite-sample solution)."),
    tracer: Optional[str] = TRACER_OPT,
    other: Optional[str] = OTHER_OPT,
    sputter_rate: Optional[str] = RATE_OPT,
    crater_depth: Optional[str] = CRATER_OPT,
    plot: Optional[Path] = PLOT_OPT,
    as_json: bool = JSON_OPT,
):
    """D*eff from closed storage/annealing: exact no-flux evolution of the initial profile fitted to later ones."""
    from tracerdiff.profiles import fit_closed_evolution, profile_data

    later = [_parse_then(t) for t in then]
    times = [t for t, _ in later]
    if any(t1 <= t0 for t0, t1 in zip(times, times[1:])):
        raise InputError("give the later profiles in order of strictly increasing time since the initial one; "
                         f"got {', '.join(then)}", source="--then")
    if initial_model not in ("erfc", "data", "auto"):
        raise InputError(f"must be 'erfc', 'data' or 'auto', got {initial_model!r}", source="--initial")
    if initial_model == "erfc" and exchange_time is None:
        raise InputError("'erfc' (start from the fitted exchange profile) needs --exchange-time", source="--initial")
    _check_plot_path(plot)
    t_ex = None if exchange_time is None else _duration(exchange_time, "--exchange-time")
    from tracerdiff.io import metadata

    ds0 = _prepared(initial, tracer, other, sputter_rate, crater_depth)
    # --crater-depth belongs to the initial profile; later ones are sputtered at the same rate
    scale = metadata(ds0).get("depth_scale")
    rate = None if scale is None else f"{scale['sputter_rate_m_s']!r} m/s"
    later_ds = [(t, _prepared(p, tracer, other, rate, None)) for t, p in later]
    extent = None
    if sample_start or sample_end or sample_length:
        if sample_end and sample_length:
            raise InputError("give --sample-end or --sample-length, not both", source="--sample-length")
        datas = [profile_data(ds0)] + [profile_data(d) for _, d in later_ds]
        a = _length(sample_start, "--sample-start") if sample_start else min(d.x[0] for d in datas)
        if sample_length:
            span = to_si(sample_length, "length", name="--sample-length")
            if not span > 0:
                raise InputError(f"must be positive, got {sample_length!r}", source="--sample-length")
            b = a + span
        else:
            b = _length(sample_end, "--sample-end") if sample_end else max(d.x[-1] for d in datas)
        if not b > a:
            raise InputError(f"the sample end ({b * 1e6:g} um) must lie beyond its start ({a * 1e6:g} um)",
                             source="--sample-end")
        extent = (a, b)
    r = fit_closed_evolution(ds0, later_ds, exchange_time=t_ex, initial_model=initial_model,
                             sample_extent=extent, fix_x0=_length(fix_x0, "--fix-x0"),
                             finite_exchange=finite_exchange)
    if plot is not None:
        _save_plot(r, plot)
    if as_json:
        print_json(r.to_dict())
        return
    rows = [(f"D*eff ({k})", v) for k, v in r.d.items()]
    if r.initial_fit is not None:
        rows.append(("D*eff (exchange, erfc)", r.initial_fit.d_eff))
    rows += [(f"D*eff ({k}) 95% CI", _interval_text(ci)) for k, ci in r.d_ci95.items() if ci is not None]
    rows += [("chi2_red", r.chi2_red), ("points", r.n_points), ("initial", r.initial_model),
             ("slowest mode left", r.slowest_mode_remaining)]
    print_table(f"closed evolution: {initial}", rows)
