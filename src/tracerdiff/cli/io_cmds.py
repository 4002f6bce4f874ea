"""CLI for input files: ``tracerdiff inspect FILE`` and ``tracerdiff convert FILE OUT.h5``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from tracerdiff.cli.common import app, console, err_console, handle_errors, interruptible, print_json
from tracerdiff.errors import InputError

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object instead of a table.")
PIXEL_OPT = typer.Option(None, "--pixel-size-um", help="Pixel size (um) for files that do not record one.")
CHANNELS_OPT = typer.Option(None, "--channels", help="Comma-separated channels to keep, e.g. 6Li,7Li.")
STACK_OPT = typer.Option(False, "--stack", help="Keep scans/planes as a depth stack instead of summing them.")


#: Output suffixes of ``convert`` (what :func:`tracerdiff.io.write` produces: NetCDF4/HDF5).
OUTPUT_SUFFIXES = (".h5", ".hdf5", ".nc")


def _channels(text: str | None):
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise InputError(f"no channel names in {text!r}; give e.g. '6Li,7Li'", source="--channels")
    return names


def _pixel_size(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"must be a positive number of micrometres, got {value!r}", source="--pixel-size-um")
    return value


def _read_for_inspection(path: Path, pixel_size_um, channels, stack):
    from tracerdiff.io import read

    try:
        return read(path, pixel_size_um=pixel_size_um, channels=channels, lazy=True, stack=stack), True
    except InputError as exc:
        if pixel_size_um is None and "does not record a pixel size" in str(exc):
            return read(path, pixel_size_um=1.0, channels=channels, lazy=True, stack=stack), False
        raise


def summarise(path: Path, *, pixel_size_um: float | None = None, channels=None, stack: bool = False) -> dict:
    """What a file holds: format, shape, pixel size, channels with dtype/masses/counts range.

    What the file does not record (pixel size, masses) is left out rather than set to None,
    and listed under ``"unknown"``.
    """
    from tracerdiff.io import metadata, sha256_file, sniff
    from tracerdiff.io.image import data_kind
    from tracerdiff.species import parse_species

    if sniff(path) == "text_spectrum":  # recognised, though no analysis takes it
        from tracerdiff.io.surfacelab import spectrum_summary

        return {"file": str(path), "format": "text_spectrum", "sha256": sha256_file(path), **spectrum_summary(path)}
    ds, known = _read_for_inspection(path, pixel_size_um, channels, stack)
    meta = metadata(ds)
    masses = _masses(meta)
    kind = data_kind(ds)
    labels = meta.get("channel_labels", {})
    known = known and kind == "image"
    out = {"file": str(path), "format": ds.attrs.get("format"), "kind": kind, "sha256": ds.attrs.get("sha256"),
           "dims": {k: int(v) for k, v in ds.sizes.items()},
           "pixel_size_um": float(ds.attrs["pixel_size_um"]) if known else None,
           "field_of_view_um": ([float(ds.attrs["pixel_size_um"]) * ds.sizes.get("x", 0),
                                 float(ds.attrs["pixel_size_um"]) * ds.sizes.get("y", 0)] if known and "y" in ds.sizes
                                else None),
           "channels": {}}
    for name, var in ds.data_vars.items():
        lo, hi, total, bad = (float(np.asarray(v)) for v in _reduce(var.data))
        # min/max/sum over finite pixels; non-finite ones are counted, so no NaN reaches the output
        vendor = labels.get(name, {})
        label = vendor.get("label", name)
        isotope = vendor["isotope"] if "isotope" in vendor else parse_species(label).isotope
        out["channels"][name] = {"label": label, "isotope": isotope,
                                 "dtype": str(var.dtype), "shape": list(var.shape),
                                 "mass_u": vendor.get("mass_u", masses.get(name)),
                                 "min": lo if bad < var.size else None, "max": hi if bad < var.size else None,
                                 "sum": total, "non_finite": int(bad)}
    if kind == "profile":
        from tracerdiff.profiles.depth import describe

        out["n_points"] = int(next(iter(ds.sizes.values())))
        out["axis"] = describe(ds)
        out.pop("pixel_size_um")
        out.pop("field_of_view_um")
    unknown = [k for k, v in out.items() if v is None]
    unknown += [f"channels.{n}.{k}" for n, c in out["channels"].items() for k, v in c.items()
                if v is None and k != "isotope"]
    out = {k: v for k, v in out.items() if v is not None}
    # "isotope": null is an answer (a molecule or an unknown species), not a missing value
    out["channels"] = {n: {k: v for k, v in c.items() if v is not None or k == "isotope"}
                       for n, c in out["channels"].items()}
    if unknown:
        out["unknown"] = unknown
    if ds.attrs.get("reader_warnings"):
        out["reader_warnings"] = ds.attrs["reader_warnings"]
    for key in ("scans", "primary_shots_per_pixel", "fov_um", "raster_um", "polarity"):
        if key in meta:
            out[key] = meta[key]
    return out


def _reduce(values):
    """(min, max, sum) over finite values and the number of non-finite ones (dask: one pass)."""
    lazy = hasattr(values, "dask")
    if values.dtype.kind not in "fc":  # integer counts are always finite
        stats = (values.min(), values.max(), values.sum(dtype=np.float64), 0)
    else:
        if lazy:
            import dask.array as lib
        else:
            lib = np
        finite = lib.isfinite(values)
        stats = (lib.where(finite, values, np.inf).min(), lib.where(finite, values, -np.inf).max(),
                 lib.where(finite, values, 0).sum(dtype=np.float64), (~finite).sum())
    if lazy:
        import dask

        return dask.compute(*stats)
    return stats


def _masses(meta: dict) -> dict:
    if "peaks" in meta:  # IONTOF ITA
        return {k: v.get("cmass") for k, v in meta["peaks"].items()}
    if "intervals" in meta:  # BIF6
        return {v["name"]: v.get("mz_center") for v in meta["intervals"]}
    if "labels" in meta and "masses" in meta:  # Cameca
        return dict(zip(meta["labels"], meta["masses"]))
    header = meta.get("header", {})
    if "mass" in header:
        return {header.get("channel", ""): header["mass"]}
    return {}


@app.command("inspect")
@handle_errors
def inspect_cmd(file: Path = typer.Argument(..., help="Raw or converted data file."),
                pixel_size_um: Optional[float] = PIXEL_OPT, channels: Optional[str] = CHANNELS_OPT,
                stack: bool = STACK_OPT, as_json: bool = JSON_OPT):
    """Print what a file holds: format, channels, masses, shape, pixel size, counts range."""
    info = summarise(file, pixel_size_um=_pixel_size(pixel_size_um), channels=_channels(channels), stack=stack)
    if as_json:
        print_json(info)
        return
    from rich.table import Table

    px = info.get("pixel_size_um")
    console.print(f"{info['file']}  [{info['format']}]  dims {info['dims']}  pixel size "
                  f"{'unknown (pass --pixel-size-um)' if px is None else f'{px:.4g} um'}", markup=False)
    table = Table(title="channels")
    for col in ("channel", "mass (u)", "dtype", "shape", "min", "max", "sum"):
        table.add_column(col)
    for name, c in info["channels"].items():
        lo, hi = ("-" if v is None else f"{v:.6g}" for v in (c.get("min"), c.get("max")))
        table.add_row(name, "" if c.get("mass_u") is None else f"{c['mass_u']:.3f}", c["dtype"], str(c["shape"]),
                      lo, hi, f"{c['sum']:.6g}")
    console.print(table)
    for name, c in info["channels"].items():
        if c["non_finite"]:
            err_console.print(f"warning: channel {name} has {c['non_finite']} NaN/infinite pixel(s), left out of "
                          "min/max/sum", markup=False)


@app.command("convert")
@handle_errors
def convert_cmd(file: Path = typer.Argument(..., help="Raw data file (read-only)."),
                out: Path = typer.Argument(..., help="Output HDF5/NetCDF4 file (.h5/.nc)."),
                pixel_size_um: Optional[float] = PIXEL_OPT, channels: Optional[str] = CHANNELS_OPT,
                stack: bool = STACK_OPT, as_json: bool = JSON_OPT):
    """Convert any supported file to tracerdiff HDF5 (atomic write, provenance kept)."""
    from tracerdiff.io import read, write
    from tracerdiff.report.transaction import check_output_path, output_file

    check_output_path(out, option="OUT", kind="file")
    if out.resolve() == file.resolve():
        raise InputError("output would overwrite the input file", source=out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"the output is HDF5/NetCDF4: name it with one of {', '.join(OUTPUT_SUFFIXES)}",
                         source=out)
    try:
        ds = read(file, pixel_size_um=_pixel_size(pixel_size_um), channels=_channels(channels), lazy=True,
                  stack=stack)
    except InputError as exc:
        if pixel_size_um is None and "does not record a pixel size" in str(exc):
            raise InputError("the file does not record a pixel size: pass --pixel-size-um", source=file) from None
        raise
    # Locked (a second convert to the same file fails at once); written atomically, so an interrupt
    # or a full disk keeps the previous file.
    with interruptible(out), output_file(out, inputs=[file]):
        write(ds, out)
    info = {"input": str(file), "output": str(out), "format": ds.attrs.get("format"),
            "sha256": ds.attrs.get("sha256"), "channels": list(ds.data_vars),
            "dims": {k: int(v) for k, v in ds.sizes.items()}}
    if as_json:
        print_json(info)
    else:
        console.print(f"wrote {out} ({', '.join(info['channels'])}; dims {info['dims']})", markup=False)
