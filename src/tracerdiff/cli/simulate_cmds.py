"""``tracerdiff simulate``: synthetic exchange images with their ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from tracerdiff import __version__
from tracerdiff.cli.common import app, handle_errors, interruptible, print_json, print_table
from tracerdiff.errors import InputError
from tracerdiff.report.atomic import write_file_atomic, write_text_atomic
from tracerdiff.report.transaction import check_output_path, output_folder
from tracerdiff.units import to_si

#: What simulate writes (an older simulate folder holding only these may be replaced).
SIMULATE_OUTPUTS = ("6Li.tif", "7Li.tif", "c_true.tif", "image.h5", "truth.json")


#: API parameter -> the flag a CLI user typed, so that errors name what the user can change.
_FLAGS = {"shape": "--shape", "pixel_size_um": "--pixel-size", "mean_grain_um": "--grain-size",
          "sd_grain_um": "--grain-size-sd", "d_bulk": "--d-bulk", "dgb_over_delta": "--dgb-over-delta",
          "dgb_sigma_ln": "--dgb-sigma-ln", "duration_s": "--exchange-time", "counts_per_pixel": "--counts",
          "psf_sigma_um": "--psf-sigma", "yield_variation": "--yield-variation", "n_steps": "--n-steps",
          "domain_rows": "--domain-rows", "seed": "--seed"}


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise InputError(f"cannot read {text!r} as ROWSxCOLS (e.g. 206x512)", source="--shape") from None
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise InputError(f"shape {text!r} must be 2 or 3 positive integers, e.g. 206x512", source="--shape")
    return shape


@app.command("simulate")
@handle_errors
def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="Output directory (created if missing; replaced as a whole when done)."),
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

    The folder is written as a whole: files go to a staging folder beside it, which
    replaces it only when every file is written (an interrupt keeps the previous output).
    """
    import numpy as np
    import tifffile

    from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image

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
    check_output_path(out)
    # The lock is taken before simulating, so a second simulate into the same folder fails at once.
    with interruptible(out), output_folder(out, known=SIMULATE_OUTPUTS, owner="tracerdiff simulate") as folder:
        try:
            ds, result = synthetic_exchange_image(shape=grid, pixel_size_um=pixel_um, mean_grain_um=mean_um,
                                                  sd_grain_um=sd_um, n_steps=n_steps, seed=seed,
                                                  domain_rows=domain_rows, progress=progress,
                                                  exchange=ExchangeConditions(d_bulk=d, dgb_over_delta=g,
                                                                              dgb_sigma_ln=dgb_sigma_ln,
                                                                              exchange_time=t),
                                                  sims=SimsOptions(counts_per_pixel=counts, psf_sigma_um=psf_um,
                                                                   yield_variation=yield_variation))
        except InputError as exc:
            if exc.source not in _FLAGS:
                raise
            raise InputError(exc.message, source=_FLAGS[exc.source]) from None
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
            write_file_atomic(folder / f"{channel}.tif", lambda tmp, c=channel: tifffile.imwrite(
                tmp, ds[c].values.astype(np.uint32), resolution=resolution, resolutionunit="CENTIMETER",
                metadata={"axes": "YX" if ds[c].ndim == 2 else "ZYX", "channel": c, "pixel_size_um": pixel_um}))
            files[channel] = str(out / f"{channel}.tif")
        write_file_atomic(folder / "c_true.tif", lambda tmp: tifffile.imwrite(
            tmp, result.c.astype(np.float32), resolution=resolution, resolutionunit="CENTIMETER",
            metadata={"axes": "YX" if result.c.ndim == 2 else "ZYX", "channel": "C", "pixel_size_um": pixel_um}))
        files["c_true"] = str(out / "c_true.tif")
        write_file_atomic(folder / "image.h5", lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        files["image"] = str(out / "image.h5")
        write_text_atomic(folder / "truth.json", json.dumps(truth, indent=1, sort_keys=True) + "\n")
        files["truth"] = str(out / "truth.json")
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
