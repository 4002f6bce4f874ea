"""``tracerdiff simulate``: synthetic exchange images with their ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from tracerdiff import __version__
from tracerdiff.cli.cluster import cluster_notice, machine_cores, parse_workers, stage_bars
from tracerdiff.cli.common import app, handle_errors, interruptible, print_json, print_table
from tracerdiff.errors import InputError
from tracerdiff.parallel import engine, stage, task_runner
from tracerdiff.report.atomic import write_bytes_atomic, write_csv_atomic
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
    dgb_over_delta: str = typer.Option("1.5e-6 cm/s", "--dgb-over-delta", help="Boundary conductance D*gb/delta (a comma list: an ensemble over the values)."),
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
    seeds: Optional[str] = typer.Option(
        None, "--seeds", help="An ensemble: several seeds, e.g. '0-9' or '0,3,7'; one sub-folder per member "
                              "(seed-<s>) plus ensemble.csv. A comma list in --dgb-over-delta also makes an "
                              "ensemble (every value with every seed)."),
    workers: str = typer.Option("auto", "--workers", help="Worker processes of a local dask cluster for an "
                                                          "ensemble ('auto': one per member, up to the cores)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing dask cluster "
                                                                      "(tcp://host:8786) to run the members on."),
    progress: bool = typer.Option(False, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Simulate an exchange and write 6Li/7Li count images (TIFF, HDF5) plus truth.json.

    The folder is written as a whole: files go to a staging folder beside it, which
    replaces it only when every file is written (an interrupt keeps the previous output).
    With --seeds (or several --dgb-over-delta values) every member is a task on the parallel
    engine; the files are identical whichever engine runs them.
    """
    grid = _parse_shape(shape)
    pixel_um = to_si(pixel_size, "length", name="--pixel-size") * 1e6
    common = {"shape": grid, "pixel_size_um": pixel_um,
              "mean_grain_um": to_si(grain_size, "length", name="--grain-size") * 1e6,
              "sd_grain_um": to_si(grain_size_sd, "length", name="--grain-size-sd") * 1e6,
              "psf_sigma_um": to_si(psf_sigma, "length", name="--psf-sigma") * 1e6,
              "d_bulk": to_si(d_bulk, "diffusivity", name="--d-bulk"),
              "exchange_time_s": to_si(exchange_time, "time", name="--exchange-time"),
              "dgb_sigma_ln": dgb_sigma_ln, "counts_per_pixel": counts, "yield_variation": yield_variation,
              "n_steps": n_steps}
    g_texts = [t.strip() for t in dgb_over_delta.split(",")]
    g_values = [to_si(t, "conductance", name="--dgb-over-delta") for t in g_texts]
    for name, value, text in [("--d-bulk", common["d_bulk"], d_bulk),
                              ("--exchange-time", common["exchange_time_s"], exchange_time),
                              *(("--dgb-over-delta", g, t) for g, t in zip(g_values, g_texts))]:
        if value <= 0:
            raise InputError(f"must be positive, got {text!r}", source=name)
    if n_steps < 1:  # also checked by the simulator; named here as the user typed it
        raise InputError(f"must be a positive integer, got {n_steps}", source="--n-steps")
    common["domain_rows"] = 3 * grid[-2] if domain_rows is None else domain_rows
    seed_list = [seed] if seeds is None else parse_seeds(seeds)
    ensemble = seeds is not None or len(g_values) > 1
    command = {"shape": shape, "pixel_size": pixel_size, "grain_size": grain_size, "grain_size_sd": grain_size_sd,
               "d_bulk": d_bulk, "dgb_sigma_ln": dgb_sigma_ln, "exchange_time": exchange_time, "counts": counts,
               "psf_sigma": psf_sigma, "yield_variation": yield_variation, "n_steps": n_steps,
               "domain_rows": common["domain_rows"]}
    members = []
    for i, (g, g_text) in enumerate(zip(g_values, g_texts)):
        for s in seed_list:
            name = f"seed-{s}" if len(g_values) == 1 else f"g{i}-seed-{s}"
            members.append((name, dict(common, dgb_over_delta=g, seed=s),
                            dict(command, dgb_over_delta=g_text, seed=s)))
    n_workers = parse_workers(workers, auto=min(len(members), machine_cores()))
    check_output_path(out)
    show = progress and not as_json
    # The lock is taken before simulating, so a second simulate into the same folder fails at once.
    with interruptible(out), output_folder(out, known=SIMULATE_OUTPUTS, owner="tracerdiff simulate") as folder, \
            stage_bars(show, transient=True) as report:
        if not ensemble:
            files, summary = simulate_member((members[0][1], members[0][2]), progress=report)
            _write_member(folder, files)
        else:
            with engine(scheduler=scheduler, workers=n_workers, on_start=cluster_notice(as_json)), \
                    task_runner() as runner:
                tick = stage(report, "members", len(members))
                done = runner.map(simulate_member, [(m[1], m[2]) for m in members],
                                  names=[f"member {m[0]}" for m in members], progress=lambda d, t: tick())
            rows = []
            for (name, params, _), (files, member) in zip(members, done):
                _write_member(folder / name, files)
                rows.append([name, params["seed"], params["dgb_over_delta"], member["n_grains"],
                             member["n_boundaries"], member["mean_c"]])
            write_csv_atomic(folder / "ensemble.csv", ["member", "seed", "dgb_over_delta_m_s", "n_grains",
                                                       "n_boundaries", "mean_c"], rows)
    if ensemble:
        summary = {"members": [dict(zip(("member", "seed", "dgb_over_delta_m_s", "n_grains", "n_boundaries",
                                          "mean_c"), r)) for r in rows], "ensemble": str(out / "ensemble.csv")}
        if as_json:
            print_json(summary)
        else:
            print_table("tracerdiff simulate (ensemble)", [("members", len(rows)), ("written to", str(out))])
        return
    summary["files"] = {k: str(out / v) for k, v in summary["files"].items()}
    if as_json:
        print_json(summary)
    else:
        print_table("tracerdiff simulate", [("grains", summary["n_grains"]), ("boundaries", summary["n_boundaries"]),
                                           ("mean C", summary["mean_c"]), ("written to", str(out))])


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: '0-9', '0,3,7' or a mix ('0-2,5'); distinct integers >= 0, at most 10000."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            lo, _, hi = part.partition("-")
            a, b = int(lo), int(hi) if hi else int(lo)
            if a < 0 or b < a:
                raise ValueError
            out += range(a, b + 1)
    except ValueError:
        raise InputError(f"cannot read {text!r} as seeds: give e.g. 0-9 or 0,3,7 (integers >= 0)",
                         source="--seeds") from None
    if len(set(out)) != len(out) or len(out) > 10000:
        raise InputError(f"{text!r}: seeds must be distinct and at most 10000", source="--seeds")
    return out


def simulate_member(spec: tuple[dict, dict], *, progress=None) -> tuple[dict[str, bytes], dict]:
    """One simulation (a task): its output files ``{name: bytes}`` and a summary.

    ``spec`` is (the simulator's parameters in SI / micrometres, the command as typed for the
    provenance). The files are written into a temporary folder on the worker and returned, so
    the caller alone writes the output folder.
    """
    import tempfile

    import numpy as np
    import tifffile

    from tracerdiff.io.hdf import write as write_hdf5
    from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image

    params, command = spec
    rest = dict(params)
    try:
        exchange = ExchangeConditions(d_bulk=rest.pop("d_bulk"), dgb_over_delta=rest.pop("dgb_over_delta"),
                                      dgb_sigma_ln=rest.pop("dgb_sigma_ln"), exchange_time=rest.pop("exchange_time_s"))
        sims = SimsOptions(counts_per_pixel=rest.pop("counts_per_pixel"), psf_sigma_um=rest.pop("psf_sigma_um"),
                           yield_variation=rest.pop("yield_variation"))
        ds, result = synthetic_exchange_image(**rest, progress=progress, exchange=exchange, sims=sims)
    except InputError as exc:
        if exc.source not in _FLAGS:
            raise
        raise InputError(exc.message, source=_FLAGS[exc.source]) from None
    truth = json.loads(ds.attrs["metadata_json"])["truth"]
    # Provenance: the command as typed (units included) and the package version that ran it.
    truth["tracerdiff_version"] = __version__
    truth["command"] = command
    pixel_um = params["pixel_size_um"]
    resolution = (1e4 / pixel_um, 1e4 / pixel_um)  # pixels per cm
    files = {}
    with tempfile.TemporaryDirectory(prefix="tracerdiff-simulate-") as tmp:
        tmp = Path(tmp)
        for channel in ("6Li", "7Li"):
            tifffile.imwrite(tmp / f"{channel}.tif", ds[channel].values.astype(np.uint32), resolution=resolution,
                             resolutionunit="CENTIMETER", metadata={"axes": "YX" if ds[channel].ndim == 2 else "ZYX",
                                                                   "channel": channel, "pixel_size_um": pixel_um})
        tifffile.imwrite(tmp / "c_true.tif", result.c.astype(np.float32), resolution=resolution,
                         resolutionunit="CENTIMETER",
                         metadata={"axes": "YX" if result.c.ndim == 2 else "ZYX", "channel": "C",
                                   "pixel_size_um": pixel_um})
        # The package's HDF5 writer: its bytes do not depend on the process (a dask worker or not).
        write_hdf5(ds, tmp / "image.h5")
        for name in ("6Li.tif", "7Li.tif", "c_true.tif", "image.h5"):
            files[name] = (tmp / name).read_bytes()
    files["truth.json"] = (json.dumps(truth, indent=1, sort_keys=True) + "\n").encode()
    summary = {"files": {"6Li": "6Li.tif", "7Li": "7Li.tif", "c_true": "c_true.tif", "image": "image.h5",
                         "truth": "truth.json"},
               "shape": list(params["shape"]), "n_grains": result.grains.n_grains,
               "n_boundaries": len(truth["boundaries"]), "mean_c": float(result.c.mean()),
               "d_bulk_m2_s": params["d_bulk"], "dgb_over_delta_m_s": params["dgb_over_delta"],
               "exchange_time_s": params["exchange_time_s"], "domain_rows": params["domain_rows"],
               "seed": params["seed"]}
    return files, summary


def _write_member(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        write_bytes_atomic(folder / name, data)
