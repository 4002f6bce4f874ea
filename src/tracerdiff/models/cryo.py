"""Is a cryo-SIMS image valid? Compare the diffusion length during imaging with the resolution.

During an image of duration t at the (cryogenic) measurement temperature the
tracer still moves by about L = sqrt(2 D t). The image is trustworthy when
L < resolution (paper: 1e-14 cm^2/s for 5 h gives 0.19 um < 1 um).
"""

from __future__ import annotations

from dataclasses import dataclass

from tracerdiff.models._common import positive, u
from tracerdiff.quantity import Measured
from tracerdiff.results import Result


@dataclass(frozen=True, repr=False)
class CryoValidity(Result):
    """diffusion_length = sqrt(2 D t); ``valid`` when it is below ``resolution``; ratio = L / resolution."""

    diffusion_length: Measured
    resolution: Measured
    valid: bool
    ratio: Measured
    d: Measured
    imaging_time: Measured

    def _headline(self) -> tuple[str, str]:
        return "diffusion_length", str(self.diffusion_length)

    def _plot(self, ax) -> None:
        """Diffusion length during imaging against the resolution (µm): valid when the first is shorter."""
        (length, length_se), (res, _) = self.diffusion_length.to("um"), self.resolution.to("um")
        ax.barh(["diffusion length", "resolution"], [length, res], xerr=[length_se, 0.0],
                color=["C2" if self.valid else "C3", "0.6"])
        ax.set_xscale("log")
        ax.set_xlabel("µm")
        ax.set_title(f"{'valid' if self.valid else 'NOT valid'}: √(2Dt) / resolution = {self.ratio.value:.3g}", fontsize=9)


def cryo_validity(d, imaging_time, resolution) -> CryoValidity:
    """Diffusion length sqrt(2 D t) during imaging, compared with the spatial resolution.

    Parameters
    ----------
    d : Measured, str or float
        Diffusivity at the imaging temperature (e.g. an Arrhenius extrapolation).
    imaging_time : Measured, str or float
        Duration of the acquisition ("time").
    resolution : Measured, str or float
        Lateral resolution or pixel size ("length").
    """
    d = positive(d, "diffusivity", name="d")
    t = positive(imaging_time, "time", name="imaging_time")
    res = positive(resolution, "length", name="resolution")
    length = (2 * u(d) * u(t)) ** 0.5
    dl = Measured.from_ufloat(length, "length")
    ratio = Measured.from_ufloat(length / u(res), "dimensionless")
    return CryoValidity(dl, res, bool(dl.value < res.value), ratio, d, t)


def cryo_validity_from_fit(fit, temperature_k, imaging_time, resolution) -> CryoValidity:
    """:func:`cryo_validity` with D extrapolated from an Arrhenius fit to ``temperature_k`` (K)."""
    return cryo_validity(fit.predict(temperature_k), imaging_time, resolution)
