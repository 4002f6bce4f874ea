"""CLI: ``tracerdiff boundaries FILE [FILE2] [--tracer T --other O]`` -- D*gb/delta at every boundary."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from tracerdiff import __version__
from tracerdiff.cli.common import app, console, err_console, handle_errors, print_json, print_table
from tracerdiff.errors import InputError
from tracerdiff.quantity import Measured
from tracerdiff.units import to_si


def _pixel_size_um(text: str) -> float:
    value = to_si(text, "length", name="--pixel-size", default_unit="um") * 1e6
    if not value > 0:
        raise InputError(f"pixel size must be positive, got {text!r}", source="--pixel-size")
    return value


# analyse_boundaries names its keyword arguments in errors; on the command line, name the flag.
_FLAG_OF_KEY = {"line": "--line", "source_edge": "--source-edge", "d_bulk": "--d-bulk",
                "thickness": "--thickness", "optical": "--optical", "width": "--width",
                "tile_px": "--tile", "halo_px": "--halo"}


def _positive(text: str, dimension: str, flag: str) -> Measured:
    value = Measured.parse(text, dimension, name=flag)
    if not value.value > 0:
        raise InputError(f"must be positive, got {text!r}", source=flag)
    return value


def _read_optical(path: Path, pixel_size_um: float) -> np.ndarray:
    """The micrograph as grey, by the one reader and colour rule of :mod:`tracerdiff.io.micrograph`."""
    from tracerdiff.io import read_micrograph

    return read_micrograph(path, pixel_size_um=pixel_size_um)


def _workers(text: str):
    """``--workers``: 'auto' or a positive integer."""
    from tracerdiff.cli.cluster import parse_workers

    return parse_workers(text, auto=None)


def _tracer_image(first: Path, second: Optional[Path], tracer: str, other: str, px: float, *, lazy: bool = False):
    """Counts of 6Li/7Li as they are; any other pair as its C map (same values and counting errors).

    ``lazy``: two 6Li/7Li files stay on disk (uncompressed TIFF, .npy) until a tile needs them."""
    from tracerdiff.io import read_count_pair, read_tracer_pair
    from tracerdiff.isotope import fraction_image
    from tracerdiff.species import canonical_channel

    t, o = canonical_channel(tracer), canonical_channel(other)
    if (t, o) == ("6Li", "7Li") and second is not None:
        return read_count_pair(first, second, pixel_size_um=px, lazy=lazy)
    ds = read_tracer_pair(first, second, tracer=t, other=o, pixel_size_um=px)
    return ds if (t, o) == ("6Li", "7Li") else fraction_image(ds, tracer=t, other=o)


def _tile_options(tile, halo, *, method: str, line: bool, optical, edge: str):
    """(tile_px, halo_px) from ``--tile``/``--halo`` (None, None without ``--tile``), checked before any read."""
    if tile is None:
        if halo is not None:
            raise InputError("applies to --tile only", source="--halo")
        return None, None
    from tracerdiff.boundaries.tiled import DEFAULT_HALO_PX, MIN_TILE_PX
    from tracerdiff.units import parse_pixels

    for flag, used in (("--method inversion", method == "inversion"), ("--line", line),
                       ("--optical", optical is not None)):
        if used:
            raise InputError(f"--tile is for the automatic step analysis; drop {flag} or --tile", source="--tile")
    tile_px = parse_pixels(tile, name="--tile", minimum=MIN_TILE_PX)
    halo_px = DEFAULT_HALO_PX if halo is None else parse_pixels(halo, name="--halo")
    if halo_px >= tile_px:
        given = repr(halo) if halo is not None else f"the default {DEFAULT_HALO_PX}px"
        raise InputError(f"must be smaller than --tile ({tile_px} px), got {given}", source="--halo")
    if edge == "auto":
        raise InputError("--tile needs the source edge (top, bottom, left or right): a tile does not see the "
                         "map's large-scale trend", source="--source-edge")
    return tile_px, halo_px


def _tiled(ds, d, delta, edge: str, tile_px: int, halo_px: int, workers, scheduler, include_flagged: bool, *,
           show_progress: bool):
    """The step analysis in tiles (tasks on the engine), with a progress bar unless printing JSON."""
    import math as _math

    from tracerdiff.boundaries import QualityOptions
    from tracerdiff.boundaries.tiled import analyse_boundaries_tiled
    from tracerdiff.cli.cluster import machine_cores, stage_bars

    n_tiles = _math.ceil(ds.sizes["y"] / tile_px) * _math.ceil(ds.sizes["x"] / tile_px)
    if workers == "auto":  # a cluster only pays when there is more than one tile
        workers = min(machine_cores(), n_tiles) if n_tiles > 1 else 1
    with stage_bars(show_progress, transient=True) as report:
        progress = None if report is None else (lambda done, total: report("tiles", done, total))
        return analyse_boundaries_tiled(ds, d_bulk=d, thickness=delta, source_edge=edge, tile_px=tile_px,
                                        halo_px=halo_px, workers=workers, scheduler=scheduler or None,
                                        progress=progress, quality=QualityOptions(include_flagged=include_flagged))


@app.command("boundaries")
@handle_errors
def boundaries_cmd(
    li6: Path = typer.Argument(..., help="Tracer (6Li) count image (TIFF, text matrix, ...; row 0 = top), or a "
                               "vendor file holding both channels."),
    li7: Optional[Path] = typer.Argument(None, help="The other isotope's (7Li) count image of the same field."),
    tracer: str = typer.Option("6Li", "--tracer", help="Tracer species in any notation, e.g. 18O."),
    other: str = typer.Option("7Li", "--other", help="The other isotope, e.g. 16O."),
    pixel_size: str = typer.Option(..., "--pixel-size", help="Pixel size, e.g. '1um' (bare numbers: um)."),
    d_bulk: str = typer.Option(..., "--d-bulk", help="Bulk tracer diffusivity, e.g. '2.6e-8 cm^2/s'."),
    thickness: Optional[str] = typer.Option(None, "--thickness", help="Boundary thickness, e.g. '0.5 nm'."),
    source_edge: str = typer.Option("auto", "--source-edge", help="auto, top, bottom, left or right."),
    optical: Optional[Path] = typer.Option(None, "--optical", help="Etched-surface micrograph (TIFF, PNG, "
                                           "JPEG, ...) covering the SIMS field, at a pixel size within "
                                           "+-25 % of the SIMS one and rotated by up to 6 deg; boundaries "
                                           "are taken from it after registration (scale, rotation, shift)."),
    line: Optional[List[str]] = typer.Option(None, "--line", help="x0,y0,x1,y1[,width] in um across one "
                                             "boundary (repeatable); replaces automatic detection."),
    width: Optional[str] = typer.Option(None, "--width", help="Default averaging width of --line, e.g. "
                                        "'5um' (default 5 pixels)."),
    include_flagged: bool = typer.Option(False, "--include-flagged", help="Summarise flagged boundaries too."),
    method: str = typer.Option("steps", "--method", help="steps: the paper's step fit at each boundary (fast); "
                               "inversion: a grain-network model fitted to the whole image with a log-normal "
                               "population prior (slower, much better per-boundary values)."),
    psf: str = typer.Option("0um", "--psf", help="Gaussian beam sigma for --method inversion, e.g. '0.5um'."),
    tile: Optional[str] = typer.Option(None, "--tile", help="Analyse a large map in square tiles of this many "
                                       "pixels, e.g. '1024px' (steps method; needs --source-edge): memory is "
                                       "bounded by the tile, not the image. Tiles are tasks on --workers."),
    halo: Optional[str] = typer.Option(None, "--halo", help="Margin analysed around each --tile, pixels "
                                       "(default 128px: well beyond the step fit's 20 px and the regional "
                                       "slope's 24 px reach); a boundary is reported by the tile holding its centre."),
    workers: str = typer.Option("auto", "--workers", help="Worker processes for --method inversion and --tile: "
                                "'auto' (the CPUs, in process for small images) or a number (1: in process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing dask cluster "
                                            "for --method inversion or --tile, e.g. tcp://host:8786."),
    figure: Optional[Path] = typer.Option(None, "--figure", help="Write the map + example fits as PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
):
    """D*gb/delta from the C step at every grain boundary (eqn 3), or along given lines."""
    from tracerdiff.boundaries import QualityOptions, analyse_boundaries, analyse_lines

    px = _pixel_size_um(pixel_size)
    d = _positive(d_bulk, "diffusivity", "--d-bulk")
    delta = _positive(thickness, "length", "--thickness") if thickness is not None else None
    w = to_si(width, "length", name="--width", default_unit="um") * 1e6 if width is not None else None
    if w is not None and not w > 0:
        raise InputError(f"must be positive, got {width!r}", source="--width")
    if w is not None and not line:
        raise InputError("applies to --line only (automatic segments are averaged over their length)",
                         source="--width")
    # Checked before the (seconds-long) analysis rather than failing at the end.
    if figure is not None and figure.is_dir():
        raise InputError(f"{str(figure)!r} is a directory; give a file name such as map.png", source="--figure")
    if figure is not None and figure.suffix.lower() != ".png":
        raise InputError(f"the figure is written as PNG; give a .png file name, got {str(figure)!r}",
                         source="--figure")
    method = method.strip().lower()
    if method not in ("steps", "inversion"):
        raise InputError(f"must be steps or inversion, got {method!r}", source="--method")
    if method == "inversion" and line:
        raise InputError("--line is the step method's manual path; drop --method inversion or the lines",
                         source="--line")
    psf_um = to_si(psf, "length", name="--psf", default_unit="um") * 1e6
    if not psf_um >= 0:
        raise InputError(f"must be >= 0, got {psf!r}", source="--psf")
    n_workers = _workers(workers)  # checked before any file is read
    edge = source_edge.strip().lower()
    tile_px, halo_px = _tile_options(tile, halo, method=method, line=bool(line), optical=optical, edge=edge)
    if li7 is not None and li6.resolve() == li7.resolve():  # gave C = 0.5 everywhere, exit 0 and an empty result
        raise InputError(f"the tracer and the other isotope's images are the same file ({li6}); give two "
                         "different count images, or one vendor file holding both channels", source=li7)
    ds = _tracer_image(li6, li7, tracer, other, px, lazy=tile_px is not None)
    opt = _read_optical(optical, px) if optical is not None else None
    import warnings

    from tracerdiff.errors import GrainMapWarning, ModelFitWarning, SourceEdgeWarning
    from tracerdiff.models.harrison import RegimeWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            # The analyses' remarks, said once on stderr so that --json output stays one document.
            for category in (GrainMapWarning, ModelFitWarning, SourceEdgeWarning, RegimeWarning):
                warnings.simplefilter("always", category)
            if method == "inversion":
                from tracerdiff.inversion import InversionOptions, invert_boundaries

                result = invert_boundaries(ds, d_bulk=d, thickness=delta, source_edge=edge, optical=opt,
                                           workers=n_workers, scheduler=scheduler or None,
                                           options=InversionOptions(psf_sigma_um=psf_um,
                                                                    include_flagged=include_flagged))
            elif tile_px is not None:
                result = _tiled(ds, d, delta, edge, tile_px, halo_px, n_workers, scheduler, include_flagged,
                                show_progress=not as_json)
            elif line:
                result = analyse_lines(ds, line, d_bulk=d, thickness=delta, source_edge=edge, width=w,
                                       quality=QualityOptions(include_flagged=include_flagged))
            else:
                result = analyse_boundaries(ds, d_bulk=d, thickness=delta, source_edge=edge, optical=opt,
                                            quality=QualityOptions(include_flagged=include_flagged))
        for caught_warning in caught:
            err_console.print(f"warning: {caught_warning.message}", markup=False, highlight=False)
    except InputError as exc:
        if exc.source not in _FLAG_OF_KEY:
            raise
        raise type(exc)(exc.message, source=_FLAG_OF_KEY[exc.source]) from None
    if figure is not None:
        from tracerdiff.report.atomic import write_png_atomic

        fig = result.plot().figure
        # Provenance on the figure itself: which files (by hash) and which D*bulk made it.
        hashes = " | ".join(h[:12] for h in str(ds.attrs.get("sha256", "")).split(" | ") if h)
        fig.suptitle(f"tracerdiff {__version__} boundaries: {li6.name}{' + ' + li7.name if li7 else ''} "
                     f"(sha256 {hashes}), "
                     f"D*bulk {d.to_dict()['value']:.3g} {d.to_dict()['unit']}, {px:g} µm/px", fontsize=7)
        write_png_atomic(figure, fig)
    if as_json:
        print_json(result.to_dict())
        return
    s = result.summary
    rows = [("boundaries analysed", str(len(result.boundaries))), ("accepted", str(len(result.accepted))),
            ("source edge", result.source_edge)]
    rows += [(f"flagged: {reason}", str(n)) for reason, n in result.flag_counts.items()]
    if result.population is not None:
        pm = result.population.median
        if math.isfinite(pm.value):
            rows.append(("population median D*gb/delta", f"{pm}, log-sd {result.population.log_sd:.2f}"))
    if result.grain_map is not None:
        q = result.grain_map
        origin = {"labels": "given labels", "optical": "micrograph", "cmap": "C map"}.get(q["origin"], q["origin"])
        rows.append((f"grain map ({origin})", f"{q['cuts_made']} of {q['grains_given']} grains cut, {q['steep_grains']} too steep, "
                                  f"{q['misfit_grains']} unexplained "
                                  f"(deficiency {100 * q['deficiency']:.1f} %" + (", DEFICIENT)" if q["deficient"] else ")")))
    if result.optical_shift_px is not None:
        rows.append(("optical shift (dy, dx) px", "{:.1f}, {:.1f}".format(*result.optical_shift_px)))
    if s.n:
        rows += [("D*gb/delta median", s.median), ("D*gb/delta mean", s.mean),
                 ("D*gb/delta geometric mean", s.geometric_mean)]
    print_table("grain boundaries", rows)
    if result.message:
        console.print(result.message, markup=False, highlight=False)
