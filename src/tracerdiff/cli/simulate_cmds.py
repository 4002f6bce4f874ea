"""``tracerdiff simulate``: synthetic exchange images with their ground truth."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Optional

import typer

from tracerdiff import __version__
from tracerdiff.cli.common import app, handle_errors, print_json, print_table
from tracerdiff.errors import InputError
from tracerdiff.units import to_si


# The process umask can only be read by setting it; read once at import, restored at once.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


#: API parameter -> the flag a CLI user typed, so that errors name what the user can change.
_FLAGS = {"shape": "--shape", "pixel_size_um": "--pixel-size", "mean_grain_um": "--grain-size",
          "sd_grain_um": "--grain-size-sd", "d_bulk": "--d-bulk", "dgb_over_delta": "--dgb-over-delta",
          "dgb_sigma_ln": "--dgb-sigma-ln", "duration_s": "--exchange-time", "counts_per_pixel": "--counts",
          "psf_sigma_um": "--psf-sigma", "yield_variation": "--yield-variation", "n_steps": "--n-steps",
          "domain_rows": "--domain-rows", "seed": "--seed"}


def _check_out(out: Path) -> None:
    """Refuse, before any work, an ``--out`` that is a file or cannot be created or written."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a directory", source="--out")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot create {out}: {existing} is not a directory", source="--out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write in {existing} (permission denied)", source="--out")


def _make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. a read-only or virtual file system that os.access cannot foresee
        raise InputError(f"cannot create {out}: {exc.strerror or exc}", source="--out") from None


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise InputError(f"cannot read {text!r} as ROWSxCOLS (e.g. 206x512)", source="--shape") from None
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise InputError(f"shape {text!r} must be 2 or 3 positive integers, e.g. 206x512", source="--shape")
    return shape


def _atomic_write(path: Path, write) -> None:
    """Write via a temporary file in the same directory, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@app.command("simulate")
@handle_errors
def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="Output directory (created if missing)."),
    shape: str = typer.Option("206x512", "--shape", help="Grid rows x columns (or z x rows x columns)."),
    pixel_size: str = typer.Option("1um", "--pixel-size", help="Cell / pixel size, e.g. '1um'."),
    grain_size: str = typer.Option("16 um", "--grain-size", help="Mean grain diameter."),
    grain_size_sd: str = typer.Option("0 um", "--grain-size-sd", help="Grain-size standard deviation."),
    d_bulk: str = typer.Option("2.6e-8 cm^2/s", "--d-bulk", help="Bulk tracer diffusivity D*bulk."),
    dgb_over_delta: str = typer.Option("1.5e-6 cm/s", "--dgb-over-delta", help="Boundary conductance D*gb/delta."),
    dgb_sigma_ln: float = typer.Option(0.0, "--dgb-sigma-ln", help="Log-normal spread (log-sd, 0..10) of D*gb/delta per boundary."),
    exchange_time: str = typer.Option("59h", "--exchange-time", help="Time in contact with the solution."),
    counts: float = typer.Option(3000.0, "--counts", help="Mean total counts per pixel (at most 1e8)."),
    psf_sigma: str = typer.Option("0.5um", "--psf-sigma", help="Gaussian beam sigma."),
    yield_variation: float = typer.Option(0.1, "--yield-variation", help="Relative sd of the ion yield, in [0, 1)."),
    n_steps: int = typer.Option(50, "--n-steps", help="Implicit time steps."),
    domain_rows: Optional[int] = typer.Option(
        None, "--domain-rows",
        help="Rows of the simulated sample; the image keeps the rows at the source. Default: three times the "
             "image height, i.e. a sample much taller than the field of view as in the paper (a closed box of "
             "the image's own height saturates within hours). Give the image's rows for a closed box."),
    seed: int = typer.Option(0, "--seed", help="Random seed, >= 0 (grains, boundaries, noise)."),
    progress: bool = typer.Option(False, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Simulate an exchange and write 6Li/7Li count images (TIFF, HDF5) plus truth.json.

    Every file is replaced atomically and truth.json is written last, so a folder
    whose truth.json is older than its images holds an interrupted run.
    """
    import numpy as np
    import tifffile

    from tracerdiff.simulate import synthetic_exchange_image

    grid = _parse_shape(shape)
    pixel_um = to_si(pixel_size, "length", name="--pixel-size") * 1e6
    mean_um = to_si(grain_size, "length", name="--grain-size") * 1e6
    sd_um = to_si(grain_size_sd, "length", name="--grain-size-sd") * 1e6
    psf_um = to_si(psf_sigma, "length", name="--psf-sigma") * 1e6
    d = to_si(d_bulk, "diffusivity", name="--d-bulk")
    g = to_si(dgb_over_delta, "conductance", name="--dgb-over-delta")
    t = to_si(exchange_time, "time", name="--exchange-time")
    for name, value, text in (("--d-bulk", d, d_bulk), ("--dgb-over-delta", g, dgb_over_delta),
                              ("--exchange-time", t, exchange_time)):
        if value <= 0:
            raise InputError(f"must be positive, got {text!r}", source=name)
    if n_steps < 1:  # also checked by the simulator; named here as the user typed it
        raise InputError(f"must be a positive integer, got {n_steps}", source="--n-steps")
    if domain_rows is None:
        domain_rows = 3 * grid[-2]
    _check_out(out)
    try:
        ds, result = synthetic_exchange_image(
            shape=grid, pixel_size_um=pixel_um, mean_grain_um=mean_um, sd_grain_um=sd_um, d_bulk=d,
            dgb_over_delta=g, dgb_sigma_ln=dgb_sigma_ln, exchange_time_s=t, counts_per_pixel=counts,
            psf_sigma_um=psf_um, yield_variation=yield_variation, n_steps=n_steps, seed=seed,
            domain_rows=domain_rows, progress=progress)
    except InputError as exc:
        if exc.source not in _FLAGS:
            raise
        raise InputError(str(exc)[len(exc.source) + 2:], source=_FLAGS[exc.source]) from None
    _make_out(out)
    truth = json.loads(ds.attrs["metadata_json"])["truth"]
    # Provenance: the command as typed (units included) and the package version that ran it.
    truth["tracerdiff_version"] = __version__
    truth["command"] = {"shape": shape, "pixel_size": pixel_size, "grain_size": grain_size,
                        "grain_size_sd": grain_size_sd, "d_bulk": d_bulk, "dgb_over_delta": dgb_over_delta,
                        "dgb_sigma_ln": dgb_sigma_ln, "exchange_time": exchange_time, "counts": counts,
                        "psf_sigma": psf_sigma, "yield_variation": yield_variation, "n_steps": n_steps,
                        "domain_rows": domain_rows, "seed": seed}
    files = {}
    resolution = (1e4 / pixel_um, 1e4 / pixel_um)  # pixels per cm
    for channel in ("6Li", "7Li"):
        path = out / f"{channel}.tif"
        _atomic_write(path, lambda tmp, c=channel: tifffile.imwrite(
            tmp, ds[c].values.astype(np.uint32), resolution=resolution, resolutionunit="CENTIMETER",
            metadata={"axes": "YX" if ds[c].ndim == 2 else "ZYX", "channel": c, "pixel_size_um": pixel_um}))
        files[channel] = str(path)
    path = out / "c_true.tif"
    _atomic_write(path, lambda tmp: tifffile.imwrite(
        tmp, result.c.astype(np.float32), resolution=resolution, resolutionunit="CENTIMETER",
        metadata={"axes": "YX" if result.c.ndim == 2 else "ZYX", "channel": "C", "pixel_size_um": pixel_um}))
    files["c_true"] = str(path)
    path = out / "image.h5"
    _atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    files["image"] = str(path)
    path = out / "truth.json"
    _atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n"))
    files["truth"] = str(path)
    summary = {"files": files, "shape": list(grid), "n_grains": result.grains.n_grains,
               "n_boundaries": len(truth["boundaries"]), "mean_c": float(result.c.mean()),
               "d_bulk_m2_s": d, "dgb_over_delta_m_s": g, "exchange_time_s": t, "domain_rows": domain_rows,
               "seed": seed}
    if as_json:
        print_json(summary)
    else:
        print_table("tracerdiff simulate", [("grains", result.grains.n_grains),
                                           ("boundaries", len(truth["boundaries"])),
                                           ("mean C", float(result.c.mean())), ("written to", str(out))])
