"""A synthetic LLTO study with the paper's parameters: the demo's input, generated deterministically.

Truth (SI inside; the paper's units in comments):

* boundaries: (l/δ)D*gb = 0.048 cm²/s · exp(−0.43 eV/kBT) and (l/δ)Dσ,gb = 0.20 cm²/s ·
  exp(−0.43 eV/kBT) (paper, Fig. 5c), so the boundary Haven ratio is 0.24;
  l = 16 ± 11 um, δ = 0.5 nm, n(Li) = 5.0e21 cm⁻³;
* bulk: D_NMR = 2.6e-8 cm²/s at 22 °C (paper) with Ea = 0.30 eV (our assumption: the
  values table gives no bulk Ea); σ_bulk = 1e-3 S/cm at 27 °C (the paper's
  Nernst–Einstein example) with the same Ea;
* D*eff(T) from the exact series model (l + δ)/D*eff = l/D*bulk + δ/D*gb, which is the
  effective diffusivity of the 1D brick-layer medium the line scans are generated in.

History (one sample): exchange 59 h at 22 °C -> SIMS image (+ an optical micrograph of
the etched surface, shifted by a few pixels); exchange to 110 h ->
line scan; closed storage 2 and 6 weeks at 22 °C -> scans; anneals 48 h at
100 °C and 3.8 h at 200 °C -> scans. Line scans are exact solutions of the 1D
problem (erfc while in contact; the closed sample evolves by its exact
cosine series), sampled with Poisson counting noise. Impedance spectra
are (R‖CPE)(R‖CPE) with brick-layer capacitances, with 0.5 % noise.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy import constants
from scipy.fft import dct, idct
from scipy.special import erfc

from tracerdiff.report.atomic import write_bytes_atomic, write_text_atomic

KB_EV = constants.k / constants.e
CM2 = 1e-4

TRUTH = {
    "grain_size_m": 16e-6, "grain_size_sd_m": 11e-6, "gb_thickness_m": 0.5e-9, "li_density_m3": 5.0e27,
    "ea_gb_eV": 0.43, "prefactor_tracer_gb_m2_s": 0.048 * CM2, "prefactor_sigma_gb_m2_s": 0.20 * CM2,
    "ea_bulk_eV": 0.30, "d_bulk_22C_m2_s": 2.6e-8 * CM2, "sigma_bulk_27C_S_m": 1e-3 * 100,
    "c_natural": 0.0759, "c_enriched": 0.95, "sample_length_m": 5e-3, "scan_step_m": 10e-6,
    "counts_per_point": 20000.0, "eps_r": 100.0, "is_thickness_m": 1e-3, "is_area_m2": 0.25e-4,
}

HISTORY = [  # name, kind, temperature (degC), duration (h), measurement
    ("ex59h", "exchange", 22.0, 59.0, "image"),
    ("ex110h", "exchange", 22.0, 51.0, "scan"),
    ("st2w", "storage", 22.0, 14 * 24.0, "scan"),
    ("st6w", "storage", 22.0, 28 * 24.0, "scan"),
    ("an100C", "anneal", 100.0, 48.0, "scan"),
    ("an200C", "anneal", 200.0, 3.8, "scan"),
]


def _arrhenius(prefactor: float, ea_ev: float, t_k: float) -> float:
    return prefactor * math.exp(-ea_ev / (KB_EV * t_k))


def d_bulk(t_k: float) -> float:
    """True D*bulk (= D_NMR here), m²/s."""
    return TRUTH["d_bulk_22C_m2_s"] * math.exp(-TRUTH["ea_bulk_eV"] / KB_EV * (1 / t_k - 1 / 295.15))


def l_over_delta_dgb(t_k: float) -> float:
    """True (l/δ)D*gb, m²/s."""
    return _arrhenius(TRUTH["prefactor_tracer_gb_m2_s"], TRUTH["ea_gb_eV"], t_k)


def dgb_over_delta(t_k: float) -> float:
    """True D*gb/δ, m/s."""
    return l_over_delta_dgb(t_k) / TRUTH["grain_size_m"]


def d_eff(t_k: float) -> float:
    """True D*eff of the 1D brick-layer medium (exact series model), m²/s."""
    length, delta = TRUTH["grain_size_m"], TRUTH["gb_thickness_m"]
    dgb = l_over_delta_dgb(t_k) * delta / length
    return (length + delta) / (length / d_bulk(t_k) + delta / dgb)


def sigma_bulk(t_k: float) -> float:
    return TRUTH["sigma_bulk_27C_S_m"] * math.exp(-TRUTH["ea_bulk_eV"] / KB_EV * (1 / t_k - 1 / 300.15))


def sigma_gb_apparent(t_k: float) -> float:
    """L/(R_gb A) = n q² (l/δ)Dσ,gb / (kB T), S/m."""
    d = _arrhenius(TRUTH["prefactor_sigma_gb_m2_s"], TRUTH["ea_gb_eV"], t_k)
    return TRUTH["li_density_m3"] * constants.e ** 2 * d / (constants.k * t_k)


def truth_table() -> dict:
    """The numbers the demo should recover (display units), for the headline comparison."""
    t22, t_cryo, t_image = 295.15, 163.15, 5 * 3600.0
    g = dgb_over_delta(t22)
    return {"dgb_over_delta": g * 100, "dgb": g * TRUTH["gb_thickness_m"] * 1e4, "d_eff_erfc": d_eff(t22) * 1e4,
            "d_eff_storage": d_eff(t22) * 1e4, "d_eff_series": d_eff(t22) * 1e4, "ea_gb": TRUTH["ea_gb_eV"],
            "prefactor_gb": 0.048, "prefactor_sigma_gb": 0.20, "haven_gb": 0.24,
            "haven_bulk": d_bulk(t22) / (sigma_bulk(t22) * constants.k * t22
                                         / (TRUTH["li_density_m3"] * constants.e ** 2)),
            # D*eff(T) of the series model is not an Arrhenius law (two Ea); these are its exact values.
            "cryo_d": d_eff(t_cryo) * 1e4, "cryo_length": math.sqrt(2 * d_eff(t_cryo) * t_image) * 1e6}


# ----------------------------------------------------------------------------- line scans

def _grid(n_fine: int = 2500) -> tuple[np.ndarray, float]:
    length = TRUTH["sample_length_m"]
    h = length / n_fine
    return (np.arange(n_fine) + 0.5) * h, length


def _close_evolve(c: np.ndarray, length: float, tau: float) -> np.ndarray:
    """Exact closed-sample (no-flux) solution after ∫D dt = tau, by the cosine (DCT-II) series."""
    k = np.pi * np.arange(c.size) / length
    return idct(dct(c, type=2, norm="ortho") * np.exp(-k ** 2 * tau), type=2, norm="ortho")


def _scan_counts(x_fine, c_fine, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    step = TRUTH["scan_step_m"]
    n_per = int(round(step / (x_fine[1] - x_fine[0])))
    c = c_fine.reshape(-1, n_per).mean(axis=1)  # each scan point integrates its 10 um spot
    x = x_fine.reshape(-1, n_per).mean(axis=1)
    n = TRUTH["counts_per_point"]
    i6 = rng.poisson(n * c)
    i7 = rng.poisson(n * (1 - c))
    return x, i6, i7


def line_scans(rng) -> dict[str, tuple]:
    """Scan name -> (x_um, I6, I7) for every 'scan' step of :data:`HISTORY`."""
    x, length = _grid()
    c0, cs = TRUTH["c_natural"], TRUTH["c_enriched"]
    t_ex = 0.0
    c = None
    out = {}
    for name, kind, t_c, hours, what in HISTORY:
        t_k, dur = t_c + 273.15, hours * 3600
        if kind == "exchange":
            t_ex += dur
            c = c0 + (cs - c0) * erfc(x / (2 * math.sqrt(d_eff(t_k) * t_ex)))
        else:
            c = _close_evolve(c, length, d_eff(t_k) * dur)
        if what == "scan":
            xs, i6, i7 = _scan_counts(x, c, rng)
            out[f"scan_{name}"] = (xs * 1e6, i6, i7)
    return out


# ----------------------------------------------------------------------------- reference data

def nmr_points(rng) -> list[tuple[float, float, float]]:
    """(T degC, D cm²/s, stderr cm²/s): 3 % errors, values scattered by them."""
    out = []
    for t_c in (22.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0):
        d = d_bulk(t_c + 273.15) * 1e4
        out.append((t_c, d * (1 + 0.03 * rng.standard_normal()), 0.03 * d))
    return out


def impedance_spectrum(t_k: float, rng) -> np.ndarray:
    """Columns f (Hz), Z' (ohm), Z'' (ohm) of the brick-layer (R‖CPE)(R‖CPE) sample at ``t_k``."""
    from tracerdiff.models.impedance_fit import circuit_impedance

    thick, area = TRUTH["is_thickness_m"], TRUTH["is_area_m2"]
    r_b = thick / (sigma_bulk(t_k) * area)
    r_gb = thick / (sigma_gb_apparent(t_k) * area)
    c_b = constants.epsilon_0 * TRUTH["eps_r"] * area / thick
    c_gb = c_b * TRUTH["grain_size_m"] / TRUTH["gb_thickness_m"]  # δ/l = C_bulk/C_gb
    alpha = 0.9
    q_b, q_gb = (c_b * r_b) ** alpha / r_b, (c_gb * r_gb) ** alpha / r_gb  # C = (RQ)^(1/α)/R
    f = np.logspace(9.5, -1, 106)
    z = circuit_impedance(f, r_b, q_b, alpha, r_gb, q_gb, alpha)
    z = z.real * (1 + 0.005 * rng.standard_normal(f.size)) + 1j * z.imag * (1 + 0.005 * rng.standard_normal(f.size))
    return np.column_stack([f, z.real, z.imag])


IS_TEMPERATURES_C = (-20.0, 0.0, 22.0, 50.0, 80.0)


# ----------------------------------------------------------------------------- the study folder

def _write_csv(path: Path, header: str, rows: np.ndarray, fmt: str) -> None:
    lines = [header] + [",".join(format(v, fmt) if isinstance(v, float) else str(v) for v in row) for row in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _write_image(folder: Path, seed: int, shape: tuple[int, int], counts_per_pixel: float) -> dict:
    """Simulated 59 h exchange image -> two count TIFFs; returns the truth record (or a note)."""
    import io

    import tifffile

    from tracerdiff.simulate import ExchangeConditions, SimsOptions, synthetic_exchange_image

    t_k = 295.15
    ds, sim = synthetic_exchange_image(shape=shape, pixel_size_um=1.0, mean_grain_um=TRUTH["grain_size_m"] * 1e6,
                                       seed=seed,
                                       exchange=ExchangeConditions(d_bulk=d_bulk(t_k),
                                                                   dgb_over_delta=dgb_over_delta(t_k),
                                                                   exchange_time=59 * 3600.0),
                                       sims=SimsOptions(counts_per_pixel=counts_per_pixel))
    for channel, name in (("6Li", "image_59h_6Li.tif"), ("7Li", "image_59h_7Li.tif")):
        buf = io.BytesIO()
        tifffile.imwrite(buf, np.asarray(ds[channel].values, dtype=np.uint32))
        write_bytes_atomic(folder / name, buf.getvalue())
    buf = io.BytesIO()
    tifffile.imwrite(buf, optical_micrograph(sim.grains, seed=seed, shift_px=OPTICAL_SHIFT_PX))
    write_bytes_atomic(folder / "optical_59h.tif", buf.getvalue())
    return {"image_shape": list(shape), "counts_per_pixel": counts_per_pixel, "optical_shift_px": OPTICAL_SHIFT_PX,
            "dgb_over_delta_m_s": dgb_over_delta(t_k), "d_bulk_m2_s": d_bulk(t_k)}


OPTICAL_SHIFT_PX = (3, -2)


def optical_micrograph(grains, *, seed: int, shift_px=(0, 0)) -> np.ndarray:
    """A laser micrograph of the thermally etched surface, the SIMS field's size: dark grooves
    centred on the boundaries (:func:`tracerdiff.simulate.synthetic_micrograph`).

    ``grains`` is a GrainMap or a label image. Grey levels ~180 (grains) and ~70 (grooves) with
    noise of 8, shifted by ``shift_px`` (rows, columns) against the SIMS field of view, as after
    remounting the sample; the strip shifted in is drawn from beyond the field, not wrapped.
    """
    from tracerdiff.simulate import GrainMap, synthetic_micrograph

    if not isinstance(grains, GrainMap):
        grains = GrainMap(np.asarray(grains), 1.0)
    dy, dx = (int(v) for v in shift_px)
    m = max(abs(dy), abs(dx))
    big = synthetic_micrograph(grains, margin_px=m, groove_depth=0.5, noise=8.0 / 225.0, seed=seed).image
    h, w = grains.shape
    # As np.roll(field image, shift): pixel (r, c) shows the field at (r - dy, c - dx).
    img = big[m - dy:m - dy + h, m - dx:m - dx + w]
    return np.clip(225.0 * img, 0, 255).astype(np.uint8)


def write_synthetic_study(folder: str | Path, *, seed: int = 0, image: bool = True,
                          image_shape: tuple[int, int] = (206, 512), counts_per_pixel: float = 30000.0) -> Path:
    """Write the synthetic LLTO study (data files + ``study.toml``) into ``folder``; return the study path.

    Same ``seed`` -> byte-identical files. ``image=False`` leaves out the SIMS image (fast tests).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = {"parameters": TRUTH, "derived": truth_table(), "seed": seed}
    toml = [f'title = "Synthetic LLTO study (paper parameters, seed {seed})"', "",
            "[sample]", 'material = "Li0.29La0.57TiO3 (synthetic)"',
            f'grain_size = "{TRUTH["grain_size_m"] * 1e6:g} um"', f'grain_size_sd = "{TRUTH["grain_size_sd_m"] * 1e6:g} um"',
            f'gb_thickness = "{TRUTH["gb_thickness_m"] * 1e9:g} nm"', f'li_density = "{TRUTH["li_density_m3"] / 1e6:g} cm^-3"',
            f"natural_fraction = {TRUTH['c_natural']}", f"enriched_fraction = {TRUTH['c_enriched']}", "",
            "[imaging]", 'temperature = "-110 degC"', 'time_per_image = "5 h"', 'resolution = "1 um"', ""]
    for name, kind, t_c, hours, _ in HISTORY:
        toml += ["[[steps]]", f'name = "{name}"', f'kind = "{kind}"', f'temperature = "{t_c:g} degC"',
                 f'duration = "{hours:g} h"', ""]
    if image:
        truth["image"] = _write_image(folder, seed, image_shape, counts_per_pixel)
        toml += ["[[measurements.images]]", 'name = "img59h"', 'after = "ex59h"', 'li6 = "image_59h_6Li.tif"',
                 'li7 = "image_59h_7Li.tif"', 'pixel_size = "1 um"', 'optical = "optical_59h.tif"',
                 'edge = "bottom"', ""]
    for scan, (x, i6, i7) in line_scans(rng).items():
        _write_csv(folder / f"{scan}.csv", "x_um,6Li,7Li", np.column_stack([x, i6, i7]).tolist(), ".6g")
        toml += ["[[measurements.line_scans]]", f'name = "{scan}"', f'after = "{scan[len("scan_"):]}"',
                 f'file = "{scan}.csv"', ""]
    pts = ", ".join(f'{{temperature = "{t:g} degC", value = "{d:.6e} cm^2/s", stderr = "{e:.3e} cm^2/s"}}'
                    for t, d, e in nmr_points(rng))
    toml += ["[[reference.series]]", 'name = "nmr"', 'kind = "d_nmr"', f"points = [{pts}]", ""]
    for t_c in IS_TEMPERATURES_C:
        name = f"is_{t_c:+.0f}C".replace("+", "p").replace("-", "m")
        _write_csv(folder / f"{name}.csv", "frequency_Hz,Z_real_ohm,Z_imag_ohm",
                   impedance_spectrum(t_c + 273.15, rng).tolist(), ".8e")
        toml += ["[[reference.impedance]]", f'name = "{name}"', f'temperature = "{t_c:g} degC"',
                 f'file = "{name}.csv"', f'thickness = "{TRUTH["is_thickness_m"] * 1e3:g} mm"',
                 f'area = "{TRUTH["is_area_m2"] * 1e4:g} cm^2"', ""]
    write_text_atomic(folder / "truth.json", json.dumps(truth, indent=2, sort_keys=True) + "\n")
    path = folder / "study.toml"
    write_text_atomic(path, "\n".join(toml))
    return path
