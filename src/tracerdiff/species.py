"""Species and isotope names in the vendors' notations, natural abundances from ``periodictable``.

Instruments label the same isotope in many ways: SurfaceLab writes 6Li as ``^6Li+`` and 7Li,
the major isotope, as plain ``Li+``; Cameca writes ``12C``, ``12C14N`` or ``12C 15N``; CSV
headers say ``I6Li`` or ``Li6``. :func:`parse_species` maps all of them to one canonical
isotope name (``"6Li"``, ``"18O"``), checked against the recorded mass when there is one.
Molecules and clusters have no single isotope: they keep their label (spaces removed).

Abundances and masses come from :mod:`periodictable` (IUPAC data), never a typed-in list.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

#: A recorded mass further than this (u) from the label's isotope contradicts the label.
MASS_TOLERANCE_U = 0.5

_SINGLE = re.compile(r"^\^?(?P<a>\d+)\s*(?P<el>[A-Z][a-z]?)$|^(?P<el2>[A-Z][a-z]?)\s*-?\s*(?P<a2>\d+)$")
_BARE = re.compile(r"^(?P<el>[A-Z][a-z]?)$")
_CHARGE = re.compile(r"\s*(?P<q>[+-]+)$")
# one atom group of a formula: optional ^, mass number, element, optional _ and count
_GROUP = re.compile(r"\^?(?P<a>\d*)(?P<el>[A-Z][a-z]?)_?(?P<n>\d*)")
_ATOM = re.compile(r"\^?(?P<a>\d*)(?P<el>[A-Z][a-z]?)(?:_(?P<n>\d+)|(?P<n2>\d+))?")


@dataclass(frozen=True)
class Species:
    """A parsed channel label.

    Attributes
    ----------
    label
        The vendor's text, as given.
    name
        Channel name to use: the canonical isotope (``"18O"``) or the cleaned label.
    isotope
        Canonical isotope (mass number + symbol), or None for molecules and unknown labels.
    charge
        ``"+"``, ``"-"`` (or e.g. ``"2+"``), "" when the label has none.
    """

    label: str
    name: str
    isotope: str | None = None
    charge: str = ""

    def to_dict(self) -> dict:
        return {"label": self.label, "name": self.name, "isotope": self.isotope, "charge": self.charge}


@lru_cache(maxsize=None)
def _element(symbol: str):
    import periodictable

    try:
        el = periodictable.elements.symbol(symbol)
    except ValueError:
        return None
    return el if el.number > 0 else None  # number 0 is the neutron "n"


def _known_isotope(symbol: str, mass_number: int):
    el = _element(symbol)
    if el is None or mass_number not in el.isotopes:
        return None
    return el[mass_number]


def major_isotope(symbol: str) -> str | None:
    """The most abundant isotope of an element (``"Li"`` -> ``"7Li"``), None if it has no stable one."""
    el = _element(symbol)
    if el is None:
        return None
    best = max(el.isotopes, key=lambda a: el[a].abundance, default=None)
    if best is None or not el[best].abundance > 0:
        return None
    return f"{best}{symbol}"


def isotope_mass(isotope: str) -> float:
    """Atomic mass (u) of a canonical isotope such as ``"18O"``."""
    iso = _split_isotope(isotope)
    return float(_known_isotope(*iso).mass)


def _split_isotope(isotope: str) -> tuple[str, int]:
    m = re.fullmatch(r"(\d+)([A-Z][a-z]?)", isotope)
    if not m or _known_isotope(m.group(2), int(m.group(1))) is None:
        raise ValueError(f"{isotope!r} is not a known isotope (write e.g. '18O', '6Li')")
    return m.group(2), int(m.group(1))


def _isotope_for_mass(symbol: str, mass: float) -> str | None:
    el = _element(symbol)
    if el is None:
        return None
    near = [a for a in el.isotopes if abs(el[a].mass - mass) <= MASS_TOLERANCE_U]
    return f"{near[0]}{symbol}" if len(near) == 1 else None


def parse_species(label, mass: float | None = None) -> Species:
    """Parse a vendor's channel label into a :class:`Species`.

    ``^6Li+``, ``6Li+``, ``6Li``, ``Li6``, ``Li-6``, ``I6Li`` -> 6Li; ``Li+`` (an element with a
    charge but no mass number) -> the major isotope 7Li; ``O-`` -> 16O; ``^18O-`` -> 18O.
    A bare symbol without charge (``"C"``, which is also the name of the fraction variable)
    is an isotope only when a recorded ``mass`` says which. When ``mass`` is given and
    contradicts the label's isotope by more than :data:`MASS_TOLERANCE_U`, the isotope of
    that element at that mass is used, else none. Molecules (``12C14N``, ``12C 15N``,
    ``CsI+``) keep their label with spaces removed and have ``isotope`` None.
    """
    text = str(label).strip()
    if mass is not None and not (isinstance(mass, (int, float)) and math.isfinite(mass) and mass > 0):
        mass = None
    body = text
    if body.startswith("I") and len(body) > 1 and body[1].isdigit():  # CSV headers such as I6Li
        body = body[1:]
    m = _CHARGE.search(body)
    charge = ""
    if m and m.start() > 0:  # "C_2+": the digit belongs to the formula, the charge is "+"
        charge = m.group("q")
        body = body[: m.start()]
    body = body.strip()
    isotope = None
    s = _SINGLE.match(body)
    if s:
        symbol = s.group("el") or s.group("el2")
        number = int(s.group("a") or s.group("a2"))
        if _known_isotope(symbol, number) is not None:
            isotope = f"{number}{symbol}"
    elif _BARE.match(body) and (charge or mass is not None) and _element(body) is not None:
        isotope = major_isotope(body) if mass is None else _isotope_for_mass(body, mass)
    if isotope is not None and mass is not None:
        symbol, _ = _split_isotope(isotope)
        if abs(isotope_mass(isotope) - mass) > MASS_TOLERANCE_U:
            isotope = _isotope_for_mass(symbol, mass)
    if isotope is not None:
        return Species(text, isotope, isotope, charge)
    return Species(text, _molecule_name(text), None, charge)


def _molecule_name(text: str) -> str:
    """``"12C 15N"`` -> ``"12C15N"``: spaces between formula groups go; other labels stay as they are."""
    tokens = text.split()
    if len(tokens) > 1 and all(_GROUP.fullmatch(t.rstrip("+-")) for t in tokens):
        return "".join(tokens)
    return text


def canonical_channel(name) -> str:
    """The channel name for a label: canonical isotope when it is one, else the stripped label."""
    return parse_species(name).name


def formula_groups(name: str) -> list[tuple[str, int | None, int]]:
    """``"12C15N"`` -> [("C", 12, 1), ("N", 15, 1)]; ``"12C2"`` -> [("C", 12, 2)]. Charges are ignored.

    Raises
    ------
    ValueError
        The name is not a formula of element groups.
    """
    body = _CHARGE.sub("", name.strip()).replace(" ", "")
    groups, pos = [], 0
    while pos < len(body):
        g = _ATOM.match(body, pos)
        if not g:
            break
        number = int(g.group("a")) if g.group("a") else None
        count, end = g.group("n") or g.group("n2") or "", g.end()
        if number is not None and g.group("n2") and end < len(body) and body[end].isupper():
            # isotopic notation "12C15N": digits before an element are its mass number, not a count
            count, end = "", g.start("n2")
        if _element(g.group("el")) is None:
            raise ValueError(f"{name!r}: unknown element {g.group('el')!r}")
        groups.append((g.group("el"), number, int(count or 1)))
        pos = end
    if pos != len(body) or not groups:
        raise ValueError(f"{name!r} is not a chemical formula")
    return groups


def natural_abundance(species: str) -> float | None:
    """Natural abundance (0-1) of an isotope (``"18O"`` -> 0.00205) or an isotopic molecule.

    A molecule's abundance is the product of its atoms' abundances times the number of ways
    to arrange identical elements (``12C13C`` counts twice). None when any atom has no mass
    number (``CsI``) or the species is unknown.
    """
    try:
        groups = formula_groups(parse_species(species).name)
    except ValueError:
        return None
    per_element: dict[str, list[tuple[int, int]]] = {}
    for symbol, number, count in groups:
        if number is None or _known_isotope(symbol, number) is None:
            return None
        per_element.setdefault(symbol, []).append((number, count))
    total = 1.0
    for symbol, parts in per_element.items():
        n = sum(c for _, c in parts)
        ways = math.factorial(n)
        for number, count in parts:
            ways //= math.factorial(count)
            total *= (_known_isotope(symbol, number).abundance / 100.0) ** count
        total *= ways
    return total


def natural_fraction(tracer: str, other: str) -> float:
    """Natural value of C = I_tracer / (I_tracer + I_other): a_t / (a_t + a_o).

    This is the background C0 of an unexchanged sample (6Li/7Li: 0.0759; 18O/16O: 0.00205,
    not 0.00200, because 17O takes no part in the ratio).

    Raises
    ------
    ValueError
        Either species has no known natural abundance (give the natural fraction explicitly).
    """
    a_t, a_o = natural_abundance(tracer), natural_abundance(other)
    for name, a in ((tracer, a_t), (other, a_o)):
        if a is None:
            raise ValueError(f"no natural abundance known for {name!r}; give the natural fraction explicitly")
    if a_t + a_o <= 0:
        raise ValueError(f"{tracer!r} and {other!r} do not occur naturally; give the natural fraction explicitly")
    return a_t / (a_t + a_o)
