"""tracerdiff: tracer diffusion coefficients from isotope-exchange SIMS.

Turns 6Li/7Li (or any isotope pair) SIMS images and line scans into bulk,
grain-boundary and effective tracer diffusion coefficients, following
Hasegawa et al., J. Mater. Chem. A 12 (2024) 731.

Units
-----
Inside the package every number is in **SI base units**: metres, seconds,
kelvin, joules, siemens per metre, per cubic metre. Diffusivities are m^2/s,
boundary conductances D*gb/delta are m/s, gradients 1/m, activation energies J.
Conversion happens only at the edges: :mod:`tracerdiff.units` parses user
strings such as ``"2.6e-8 cm^2/s"`` or ``"1um"``, and every result object
(:class:`tracerdiff.quantity.Measured`) converts to the field's customary
display units (cm^2/s, cm/s, um, eV, S/cm) in ``to_dict()``.
"""

__version__ = "0.1.0"

from tracerdiff.errors import TracerdiffError, InputError  # noqa: E402
from tracerdiff.quantity import Measured  # noqa: E402

__all__ = ["__version__", "TracerdiffError", "InputError", "Measured"]
