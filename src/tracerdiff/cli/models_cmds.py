"""CLI for the analytic models: gb-step, series, nernst-einstein, arrhenius, haven."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from tracerdiff.cli.common import app, err_console, handle_errors, print_json, print_table
from tracerdiff.errors import InputError
from tracerdiff.quantity import Measured
from tracerdiff.units import _NUMBER_UNIT

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object instead of a table.")


def measured(text: str, stderr: str | None, dimension: str, *, flag: str, positive: bool = False) -> Measured:
    """Parse ``--x VALUE [--x-stderr SD]``; a bare-number SD takes the value's unit.

    ``positive=True`` refuses values <= 0 here, so the message names the flag
    rather than the model's parameter.
    """
    match = _NUMBER_UNIT.match(str(text))
    unit = match.group(2) if match and match.group(2) else None
    default = unit.replace("^", "**") if unit else None
    value = Measured.parse(text, dimension, name=flag, default_unit=None)
    if positive and not value.value > 0:
        what = "positive (above absolute zero)" if dimension == "temperature" else "positive"
        raise InputError(f"must be {what}, got {text!r}", source=flag)
    if stderr is None:
        return value
    sd = Measured.parse(stderr, dimension, name=f"{flag}-stderr", default_unit=default)
    return Measured(value.value, sd.value, dimension)


def _present(payload: dict) -> dict:
    """Drop keys whose value is None (e.g. D*gb without --thickness): absent, not null."""
    return {k: (_present(v) if isinstance(v, dict) else v) for k, v in payload.items() if v is not None}


def _output(title: str, rows: list[tuple[str, object]], payload: dict, as_json: bool) -> None:
    if as_json:
        print_json(payload)
    else:
        print_table(title, rows)


@app.command("gb-step")
@handle_errors
def gb_step_cmd(
    d_bulk: str = typer.Option(..., "--d-bulk", help="Bulk tracer diffusivity, e.g. '2.6e-8 cm^2/s'."),
    d_bulk_stderr: Optional[str] = typer.Option(None, "--d-bulk-stderr", help="Its standard error."),
    gradient: str = typer.Option(..., "--gradient", help="dC/dy in the bulk next to the boundary, e.g. '1.1 1/cm'."),
    gradient_stderr: Optional[str] = typer.Option(None, "--gradient-stderr"),
    step: str = typer.Option(..., "--step", help="Jump of C across the boundary (same sign as the gradient)."),
    step_stderr: Optional[str] = typer.Option(None, "--step-stderr"),
    thickness: Optional[str] = typer.Option(None, "--thickness", help="Boundary thickness, e.g. '0.5 nm'."),
    thickness_stderr: Optional[str] = typer.Option(None, "--thickness-stderr"),
    as_json: bool = JSON_OPT,
):
    """D*gb/delta = D*bulk (dC/dy) / dC_gb from the step at one boundary (eqn 3)."""
    from tracerdiff.models import dgb_over_delta_from_step
    dc = measured(step, step_stderr, "dimensionless", flag="--step")
    if not 0 < abs(dc.value) <= 1:
        # C is a fraction in [0, 1], so a jump in it cannot exceed 1 (or be 0: unbounded D*gb/delta)
        raise InputError(f"the step in C must satisfy 0 < |step| <= 1, got {step!r}", source="--step")
    r = dgb_over_delta_from_step(
        measured(d_bulk, d_bulk_stderr, "diffusivity", flag="--d-bulk", positive=True),
        measured(gradient, gradient_stderr, "gradient", flag="--gradient"), dc,
        thickness=None if thickness is None else measured(thickness, thickness_stderr, "length",
                                                          flag="--thickness", positive=True))
    rows = [("D*gb/delta", r.dgb_over_delta)] + ([("D*gb", r.dgb)] if r.dgb is not None else [])
    _output("grain-boundary step", rows, _present({"dgb_over_delta": r.dgb_over_delta, "dgb": r.dgb,
                                                   "inputs": {"d_bulk": r.d_bulk, "gradient": r.gradient,
                                                              "step": r.step, "thickness": r.thickness}}),
            as_json)


@app.command("series")
@handle_errors
def series_cmd(
    d_bulk: str = typer.Option(..., "--d-bulk", help="Bulk tracer diffusivity, e.g. '2.8e-8 cm^2/s'."),
    d_bulk_stderr: Optional[str] = typer.Option(None, "--d-bulk-stderr"),
    dgb_over_delta: str = typer.Option(..., "--dgb-over-delta", help="Boundary conductance, e.g. '1.5e-6 cm/s'."),
    dgb_over_delta_stderr: Optional[str] = typer.Option(None, "--dgb-over-delta-stderr"),
    grain_size: str = typer.Option(..., "--grain-size", help="Grain size l, e.g. '16 um'."),
    grain_size_sd: Optional[str] = typer.Option(None, "--grain-size-sd", help="Spread of l, e.g. '11 um'."),
    monte_carlo: bool = typer.Option(False, "--monte-carlo",
                                     help="Propagate by log-normal Monte Carlo instead of first order."),
    samples: int = typer.Option(200_000, "--samples", help="Monte Carlo samples."),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed."),
    as_json: bool = JSON_OPT,
):
    """D*eff = 1/(1/D*bulk + 1/(l D*gb/delta)) (series model, eqn 6)."""
    from tracerdiff.models import series_effective_diffusivity
    from tracerdiff.models.series import MAX_SAMPLES, MIN_SAMPLES
    if monte_carlo and not MIN_SAMPLES <= samples <= MAX_SAMPLES:
        raise InputError(f"must be between {MIN_SAMPLES} and {MAX_SAMPLES:g}, got {samples}", source="--samples")
    if seed < 0:
        raise InputError(f"must be a non-negative integer, got {seed}", source="--seed")
    r = series_effective_diffusivity(
        measured(d_bulk, d_bulk_stderr, "diffusivity", flag="--d-bulk", positive=True),
        measured(dgb_over_delta, dgb_over_delta_stderr, "conductance", flag="--dgb-over-delta", positive=True),
        measured(grain_size, grain_size_sd, "length", flag="--grain-size", positive=True),
        method="montecarlo" if monte_carlo else "linear", n_samples=samples, seed=seed)
    rows = [("D*eff", r.d_eff)]
    if r.distribution is not None:
        d = r.distribution
        rows += [("MC mean", d.mean), ("MC median", d.median), ("MC 16 %", d.p16), ("MC 84 %", d.p84)]
    _output(f"series model ({r.method})", rows, _present({"d_eff": r.d_eff, "method": r.method,
                                                          "distribution": r.distribution,
                                                          "inputs": {"d_bulk": r.d_bulk,
                                                                     "dgb_over_delta": r.dgb_over_delta,
                                                                     "grain_size": r.grain_size}}), as_json)


@app.command("nernst-einstein")
@handle_errors
def nernst_einstein_cmd(
    sigma: Optional[str] = typer.Option(None, "--sigma", help="Conductivity, e.g. '1e-3 S/cm' (gives D_sigma)."),
    sigma_stderr: Optional[str] = typer.Option(None, "--sigma-stderr"),
    d_sigma: Optional[str] = typer.Option(None, "--d-sigma", help="D_sigma, e.g. '3.2e-8 cm^2/s' (gives sigma)."),
    d_sigma_stderr: Optional[str] = typer.Option(None, "--d-sigma-stderr"),
    temperature: str = typer.Option(..., "--temperature", help="Temperature, e.g. '27 degC' or '300 K'."),
    carrier_density: str = typer.Option(..., "--carrier-density", help="Mobile-ion density, e.g. '5e21 cm^-3'."),
    as_json: bool = JSON_OPT,
):
    """D_sigma = sigma kB T / (n e^2), or the inverse with --d-sigma."""
    from tracerdiff.models import conductivity_from_d_sigma, d_sigma_from_conductivity
    if (sigma is None) == (d_sigma is None):
        raise InputError("give exactly one of --sigma and --d-sigma", source="nernst-einstein")
    t = measured(temperature, None, "temperature", flag="--temperature", positive=True)
    n = measured(carrier_density, None, "number_density", flag="--carrier-density", positive=True)
    if sigma is not None:
        key, out = "d_sigma", d_sigma_from_conductivity(measured(sigma, sigma_stderr, "conductivity",
                                                                 flag="--sigma", positive=True), t, n)
    else:
        key, out = "sigma", conductivity_from_d_sigma(measured(d_sigma, d_sigma_stderr, "diffusivity",
                                                               flag="--d-sigma", positive=True), t, n)
    _output("Nernst-Einstein", [(key, out)], {key: out, "temperature": t, "carrier_density": n}, as_json)


def _fit_file(path: Path, *, name: str):
    from tracerdiff.io import read_series_table as read_series_csv
    from tracerdiff.models import fit_arrhenius
    data = _plausible_rows(read_series_csv(path, required=("temperature", "D"), optional=("D_stderr",)), path,
                           {"temperature": "temperature", "D": "diffusivity"})
    return fit_arrhenius(data["temperature"], data["D"], data.get("D_stderr"), name=name)


def _plausible_rows(data: dict, path, kinds: dict) -> dict:
    """Refuse a series CSV whose values leave the plausible ranges (a 1e-300 D gave H_R = 0 silently)."""
    from tracerdiff.units import PLAUSIBLE, check_plausible, display_unit, from_si

    for key, kind in kinds.items():
        dim = PLAUSIBLE[kind][3]
        for i, v in enumerate(np.asarray(data.get(key, []), dtype=float)):
            try:
                check_plausible(float(v), kind, text=f"{from_si(v, dim):g} {display_unit(dim)}", name="")
            except InputError as exc:
                raise InputError(f"column {key}, data row {i + 2}: {exc}", source=path) from None
    return data


def _warn_if_no_stderr(fit) -> None:
    """Say why Ea/D0 have no standard error (JSON null, table nan) instead of leaving it silent."""
    if fit.stderr_source.startswith("unknown"):
        err_console.print(f"warning: {fit.name}: {fit.n_points} points and no D_stderr column leave no degrees "
                          "of freedom, so Ea and D0 have no standard error; add D_stderr or more temperatures",
                          markup=False, highlight=False, soft_wrap=True)


def _fit_rows(fit, prefix: str = "") -> list[tuple[str, object]]:
    return [(f"{prefix}Ea", fit.activation_energy), (f"{prefix}D0", fit.prefactor),
            (f"{prefix}points", str(fit.n_points)), (f"{prefix}reduced chi2", fit.reduced_chi2)]


@app.command("arrhenius")
@handle_errors
def arrhenius_cmd(
    file: Path = typer.Argument(..., help="CSV with temperature_C|K, D_cm2_s|D_m2_s [, D_stderr_...]."),
    at: Optional[str] = typer.Option(None, "--at", help="Also predict D at this temperature, e.g. '-110 degC'."),
    as_json: bool = JSON_OPT,
):
    """Weighted Arrhenius fit ln D = ln D0 - Ea/(kB T): Ea (eV), D0, covariance."""
    fit = _fit_file(file, name=str(file))
    _warn_if_no_stderr(fit)
    payload = fit.to_dict()
    rows = _fit_rows(fit)
    if at is not None:
        t = Measured.parse(at, "temperature", name="--at")
        if not t.value > 0:
            raise InputError(f"{at!r} is not above absolute zero", source="--at")
        pred = fit.predict(t.value)
        payload["prediction"] = {"temperature": t, "d": pred}
        rows.append((f"D at {t.value:.2f} K", pred))
    _output(f"Arrhenius fit of {file.name} ({fit.stderr_source})", rows, payload, as_json)


@app.command("haven")
@handle_errors
def haven_cmd(
    tracer: Path = typer.Option(..., "--tracer", help="CSV of D* (temperature_C|K, D_cm2_s [, D_stderr_cm2_s])."),
    conductivity: Path = typer.Option(..., "--conductivity",
                                      help="CSV of sigma (temperature_C|K, sigma_S_cm [, sigma_stderr_S_cm])."),
    carrier_density: str = typer.Option(..., "--carrier-density", help="Mobile-ion density, e.g. '5e21 cm^-3'."),
    as_json: bool = JSON_OPT,
):
    """Haven ratio D*/D_sigma: from prefactors at a shared Ea, and pointwise at common temperatures."""
    from tracerdiff.io import read_series_table as read_series_csv
    from tracerdiff.models import d_sigma_from_conductivity, fit_arrhenius, haven_ratio, haven_ratio_from_prefactors
    n = measured(carrier_density, None, "number_density", flag="--carrier-density", positive=True)
    tr = _plausible_rows(read_series_csv(tracer, required=("temperature", "D"), optional=("D_stderr",)), tracer,
                         {"temperature": "temperature", "D": "diffusivity"})
    cd = _plausible_rows(read_series_csv(conductivity, required=("temperature", "sigma"), optional=("sigma_stderr",)),
                         conductivity, {"temperature": "temperature", "sigma": "conductivity"})
    for key, path in (("temperature", conductivity), ("sigma", conductivity)):
        bad = np.flatnonzero(~(cd[key] > 0))
        if bad.size:  # checked here so the message names the file, not the model's parameter
            what = "above absolute zero" if key == "temperature" else "positive"
            raise InputError(f"{key} must be {what} in every row; data row {bad[0] + 2} is not", source=path)
    sig_sd = cd.get("sigma_stderr", np.zeros_like(cd["sigma"]))
    d_sigma = [d_sigma_from_conductivity(Measured(s, e, "conductivity"), Measured(t, 0.0, "temperature"), n)
               for t, s, e in zip(cd["temperature"], cd["sigma"], sig_sd)]
    tracer_fit = fit_arrhenius(tr["temperature"], tr["D"], tr.get("D_stderr"), name=f"{tracer}")
    sigma_fit = fit_arrhenius(cd["temperature"], [d.value for d in d_sigma],
                              [d.stderr for d in d_sigma] if "sigma_stderr" in cd else None,
                              name=f"{conductivity}")
    h = haven_ratio_from_prefactors(tracer_fit, sigma_fit, shared_activation_energy=True)
    pointwise = []
    for i, t in enumerate(tr["temperature"]):
        j = np.flatnonzero(np.isclose(cd["temperature"], t, rtol=0, atol=1e-6))
        if j.size:
            d_t = Measured(tr["D"][i], tr["D_stderr"][i] if "D_stderr" in tr else 0.0, "diffusivity")
            pointwise.append({"temperature": Measured(float(t), 0.0, "temperature"), "d_tracer": d_t,
                              "d_sigma": d_sigma[j[0]], "haven_ratio": haven_ratio(d_t, d_sigma[j[0]])})
    if not pointwise:
        err_console.print(f"warning: no temperature appears in both {tracer} and {conductivity} (to 1e-6 K), so "
                          "there are no pointwise Haven ratios", markup=False, highlight=False, soft_wrap=True)
    payload = {"haven_ratio": h.haven_ratio, "method": h.method, "activation_energy": h.activation_energy,
               "tracer_prefactor": h.tracer_prefactor, "sigma_prefactor": h.sigma_prefactor,
               "pointwise": pointwise, "tracer_fit": tracer_fit, "sigma_fit": sigma_fit}
    rows = [("H_R (shared Ea)", h.haven_ratio), ("shared Ea", h.activation_energy),
            ("D0 tracer", h.tracer_prefactor), ("D0 sigma", h.sigma_prefactor)]
    rows += [(f"H_R at {p['temperature'].value:.2f} K", p["haven_ratio"]) for p in pointwise]
    _output("Haven ratio", rows, payload, as_json)
