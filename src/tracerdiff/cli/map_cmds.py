"""CLI: ``tracerdiff map FILE [FILE2] --tracer T --other O`` -- the isotope-fraction map of any pair."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from tracerdiff.cli.common import app, console, handle_errors, print_json
from tracerdiff.errors import InputError
from tracerdiff.units import to_si

TRACER_OPT = typer.Option("6Li", "--tracer", help="Tracer species in any notation, e.g. 18O, ^18O-, 6Li.")
OTHER_OPT = typer.Option("7Li", "--other", help="The other isotope, e.g. 16O, O-, 7Li.")


def stderr_path(out: Path) -> Path:
    """Where the counting-error map goes: ``C.tif`` -> ``C_stderr.tif``."""
    return out.with_name(f"{out.stem}_stderr{out.suffix}")


def map_summary(ds, *, tracer: str, other: str, natural_fraction: float | None = None) -> dict:
    """The ``--json`` payload: tracer, other, shape, pooled fraction, natural fraction, enrichment."""
    from tracerdiff.isotope import channel_in, default_natural_fraction, pooled_fraction
    from tracerdiff.quantity import Measured

    t, o = channel_in(ds, tracer), channel_in(ds, other)
    pooled, _ = pooled_fraction(ds, tracer=t, other=o)
    c0 = default_natural_fraction(t, o) if natural_fraction is None else natural_fraction
    natural = Measured(c0, 0.0, "dimensionless")
    enrichment = Measured(pooled.value / c0, pooled.stderr / c0, "dimensionless")
    return {"tracer": t, "other": o, "shape": [int(n) for n in ds[t].shape], "pooled_fraction": pooled,
            "natural_fraction": natural, "enrichment": enrichment}


def write_map_tiffs(out: Path, frac, *, provenance: dict) -> tuple[Path, Path]:
    """C and its counting error as float32 TIFFs (NaN where no counts), atomically, provenance in the description."""
    import io

    import tifffile

    from tracerdiff.report.atomic import write_bytes_atomic

    paths = (out, stderr_path(out))
    px_cm = float(frac.attrs["pixel_size_um"]) * 1e-4
    for path, var in zip(paths, ("C", "C_stderr")):
        buf = io.BytesIO()
        tifffile.imwrite(buf, np.asarray(frac[var].values, dtype=np.float32), photometric="minisblack",
                         resolution=(1.0 / px_cm, 1.0 / px_cm), resolutionunit="CENTIMETER",
                         description=json.dumps({**provenance, "quantity": var}, sort_keys=True))
        write_bytes_atomic(path, buf.getvalue())
    return paths


@app.command("map")
@handle_errors
def map_cmd(
    file: Path = typer.Argument(..., help="A vendor file holding both channels, or the tracer's count image."),
    file2: Optional[Path] = typer.Argument(None, help="The other isotope's count image (when FILE holds one)."),
    tracer: str = TRACER_OPT,
    other: str = OTHER_OPT,
    pixel_size: Optional[str] = typer.Option(None, "--pixel-size", help="Pixel size for files that do not "
                                             "record one, e.g. '1um'."),
    natural_fraction: Optional[float] = typer.Option(None, "--natural-fraction", help="C0 of unexchanged "
                                                     "material (default: from natural abundances)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write C to this TIFF and its counting error "
                                       "to <name>_stderr.tif."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
):
    """Isotope-fraction map C = I_tracer / (I_tracer + I_other) with its counting-error map."""
    from tracerdiff import __version__
    from tracerdiff.io import read_tracer_pair
    from tracerdiff.isotope import fraction_image

    px = None
    if pixel_size is not None:
        px = to_si(pixel_size, "length", name="--pixel-size", default_unit="um") * 1e6
        if not px > 0:
            raise InputError(f"must be positive, got {pixel_size!r}", source="--pixel-size")
    if natural_fraction is not None and not 0 < natural_fraction < 1:
        raise InputError(f"must lie in (0, 1), got {natural_fraction!r}", source="--natural-fraction")
    if out is not None and out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"the map is written as TIFF; name it .tif, got {str(out)!r}", source="--out")
    ds = read_tracer_pair(file, file2, tracer=tracer, other=other, pixel_size_um=px)
    info = map_summary(ds, tracer=tracer, other=other, natural_fraction=natural_fraction)
    if ds[info["tracer"]].ndim < 2:
        raise InputError("holds a profile, not an image; use 'tracerdiff erfc' for profiles", source=file)
    if out is not None:
        frac = fraction_image(ds, tracer=info["tracer"], other=info["other"])
        prov = {"tracerdiff_version": __version__, "command": "map", "tracer": info["tracer"],
                "other": info["other"], "inputs": [str(p) for p in (file, file2) if p is not None],
                "input_sha256": ds.attrs.get("sha256", ""), "pixel_size_um": float(frac.attrs["pixel_size_um"])}
        written = write_map_tiffs(out, frac, provenance=prov)
        info_out = [str(p) for p in written]
    if as_json:
        print_json(info)
        return
    p, c0, e = info["pooled_fraction"], info["natural_fraction"], info["enrichment"]
    console.print(f"{info['tracer']}/({info['tracer']}+{info['other']}) over {info['shape']}: "
                  f"{p.value:.6g} ± {p.stderr:.2g}  (natural {c0.value:.4g}, enrichment {e.value:.4g} ± "
                  f"{e.stderr:.2g})", markup=False)
    if out is not None:
        console.print(f"wrote {info_out[0]} and {info_out[1]}", markup=False)
