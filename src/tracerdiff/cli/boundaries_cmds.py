"""CLI: ``tracerdiff boundaries LI6 LI7`` -- D*gb/delta at every boundary of a tracer image."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from tracerdiff.cli.common import app, console, handle_errors, print_json, print_table
from tracerdiff.errors import InputError
from tracerdiff.quantity import Measured
from tracerdiff.units import to_si


def _pixel_size_um(text: str) -> float:
    value = to_si(text, "length", name="--pixel-size", default_unit="um") * 1e6
    if not value > 0:
        raise InputError(f"pixel size must be positive, got {text!r}", source="--pixel-size")
    return value


def _read_optical(path: Path, pixel_size_um: float) -> np.ndarray:
    from tracerdiff.io import read

    ds = read(path, pixel_size_um=pixel_size_um)
    colour = [c for c in ("R", "G", "B") if c in ds.data_vars]
    if colour:
        # An RGB(A) micrograph comes back as channels R/G/B(/A): grey = mean of the colour
        # channels (alpha is not brightness).
        return np.mean([np.asarray(ds[c].values, dtype=float) for c in colour], axis=0)
    arr = np.asarray(next(iter(ds.data_vars.values())).values, dtype=float)
    if arr.ndim == 3:  # frames: average to grey
        arr = arr.mean(axis=0)
    return arr


@app.command("boundaries")
@handle_errors
def boundaries_cmd(
    li6: Path = typer.Argument(..., help="6Li count image (TIFF, text matrix, ...; row 0 = top)."),
    li7: Path = typer.Argument(..., help="7Li count image of the same field."),
    pixel_size: str = typer.Option(..., "--pixel-size", help="Pixel size, e.g. '1um' (bare numbers: um)."),
    d_bulk: str = typer.Option(..., "--d-bulk", help="Bulk tracer diffusivity, e.g. '2.6e-8 cm^2/s'."),
    thickness: Optional[str] = typer.Option(None, "--thickness", help="Boundary thickness, e.g. '0.5 nm'."),
    source_edge: str = typer.Option("auto", "--source-edge", help="auto, top, bottom, left or right."),
    optical: Optional[Path] = typer.Option(None, "--optical", help="Etched-surface micrograph at the SIMS "
                                           "pixel size; boundaries are taken from it after registration."),
    line: Optional[List[str]] = typer.Option(None, "--line", help="x0,y0,x1,y1[,width] in um across one "
                                             "boundary (repeatable); replaces automatic detection."),
    width: Optional[str] = typer.Option(None, "--width", help="Default averaging width of --line, e.g. '5um'."),
    include_flagged: bool = typer.Option(False, "--include-flagged", help="Summarise flagged boundaries too."),
    figure: Optional[Path] = typer.Option(None, "--figure", help="Write the map + example fits as PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
):
    """D*gb/delta from the C step at every grain boundary (eqn 3), or along given lines."""
    from tracerdiff.boundaries import analyse_boundaries
    from tracerdiff.io import read_count_pair

    px = _pixel_size_um(pixel_size)
    d = Measured.parse(d_bulk, "diffusivity", name="--d-bulk")
    delta = Measured.parse(thickness, "length", name="--thickness") if thickness is not None else None
    w = to_si(width, "length", name="--width", default_unit="um") * 1e6 if width is not None else None
    ds = read_count_pair(li6, li7, pixel_size_um=px)
    opt = _read_optical(optical, px) if optical is not None else None
    result = analyse_boundaries(ds, d_bulk=d, thickness=delta, source_edge=source_edge, optical=opt,
                                lines=line or None, width=w, include_flagged=include_flagged)
    if figure is not None:
        from tracerdiff.report.atomic import write_png_atomic

        write_png_atomic(figure, result.plot())
    if as_json:
        print_json(result.to_dict())
        return
    s = result.summary
    rows = [("boundaries analysed", str(len(result.boundaries))), ("accepted", str(len(result.accepted))),
            ("source edge", result.source_edge)]
    if result.optical_shift_px is not None:
        rows.append(("optical shift (dy, dx) px", "{:.1f}, {:.1f}".format(*result.optical_shift_px)))
    if s.n:
        rows += [("D*gb/delta median", s.median), ("D*gb/delta mean", s.mean),
                 ("D*gb/delta geometric mean", s.geometric_mean)]
    print_table("grain boundaries", rows)
    if result.message:
        console.print(result.message, markup=False, highlight=False)
