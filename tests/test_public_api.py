"""Small entry points: no public function or method takes more than 10 parameters.

The walk covers every public callable a user can reach: the ``__all__`` of ``tracerdiff`` and
of each of its subpackages and modules, every public function defined in a public module, and
the public methods (and hand-written ``__init__``) of the public classes. Options beyond ten go
into option dataclasses (e.g. :class:`tracerdiff.boundaries.StepFitOptions`). The generated
``__init__`` of a dataclass is not a function a user calls with a long list: it is the record
itself (results, options), and is left out. The CLI (``tracerdiff.cli``) is left out too: a
typer command's parameters are its command-line flags.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import tracerdiff

MAX_PARAMETERS = 10


def _public_modules():
    names = ["tracerdiff"]
    for info in pkgutil.walk_packages(tracerdiff.__path__, "tracerdiff."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "cli":
            continue
        names.append(info.name)
    return [importlib.import_module(n) for n in names]


def _callables():
    """(qualified name, function) of every public callable, each function once."""
    found = {}
    for mod in _public_modules():
        exported = set(getattr(mod, "__all__", ()))
        own = {k for k, v in vars(mod).items()
               if not k.startswith("_") and getattr(v, "__module__", None) == mod.__name__}
        for name in sorted(exported | own):
            obj = getattr(mod, name, None)
            if inspect.isclass(obj):
                members = [(k, v) for k, v in vars(obj).items()
                           if (not k.startswith("_") or k == "__init__") and
                           (inspect.isfunction(v) or isinstance(v, (classmethod, staticmethod)))]
                for k, v in members:
                    func = v.__func__ if isinstance(v, (classmethod, staticmethod)) else v
                    if k == "__init__" and dataclasses.is_dataclass(obj) and func.__qualname__.endswith(
                            f"{obj.__name__}.__init__") and func.__code__.co_filename == "<string>":
                        continue  # the generated __init__ of a record
                    found.setdefault(id(func), (f"{obj.__module__}.{obj.__qualname__}.{k}", func))
            elif inspect.isfunction(obj) and obj.__module__.startswith("tracerdiff"):
                found.setdefault(id(obj), (f"{obj.__module__}.{obj.__qualname__}", obj))
    return sorted(found.values())


def _n_parameters(func) -> int:
    """Named parameters a caller can pass (self/cls, *args and **kwargs not counted)."""
    params = inspect.signature(func).parameters.values()
    return sum(1 for p in params if p.name not in ("self", "cls")
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


CALLABLES = _callables()


def test_the_walk_sees_the_entry_points():
    # Guards the walk itself: if it stopped finding functions the limit below would pass vacuously.
    names = {name for name, _ in CALLABLES}
    for expected in ("tracerdiff.boundaries.analysis.analyse_boundaries",
                     "tracerdiff.boundaries.analysis.analyse_lines",
                     "tracerdiff.inversion.analysis.invert_boundaries", "tracerdiff.simulate.sims.synthetic_sims",
                     "tracerdiff.simulate.sims.synthetic_exchange_image", "tracerdiff.profiles.erfc.fit_erfc",
                     "tracerdiff.quantity.Measured.parse"):
        assert expected in names
    assert len(CALLABLES) > 150


def test_the_count_ignores_self_and_varargs():
    def f(a, b, *args, c=1, **kwargs):
        return a

    class K:
        def m(self, a, *, b=2):
            return a

    assert _n_parameters(f) == 3
    assert _n_parameters(K.m) == 2


@pytest.mark.parametrize("name, func", CALLABLES, ids=[n for n, _ in CALLABLES])
def test_at_most_ten_parameters(name, func):
    n = _n_parameters(func)
    assert n <= MAX_PARAMETERS, f"{name} takes {n} parameters; group options into an option dataclass"


def _parameter_headers(doc: str) -> list[str]:
    """The entry lines (``name : type``) of a numpydoc Parameters section."""
    lines = inspect.cleandoc(doc or "").splitlines()
    try:
        i = next(k for k in range(len(lines) - 1) if lines[k].strip() == "Parameters"
                 and set(lines[k + 1].strip()) == {"-"})
    except StopIteration:
        return []
    out = []
    for line in lines[i + 2:]:
        if line.strip() and not line.startswith(" "):
            if len(line.strip()) > 2 and set(line.strip()) == {"-"}:
                out.pop()  # the next section's title
                break
            out.append(line)
    return out


def test_the_parameter_parser_reads_numpydoc():
    doc = """Summary.

    Parameters
    ----------
    a : int
        First.
    b
        Second.

    Returns
    -------
    float
    """
    assert _parameter_headers(doc) == ["a : int", "b"]


TYPED = CALLABLES


def test_the_type_check_sees_the_parameters():
    # Guards against a parser that finds nothing (the check below would then pass vacuously).
    assert sum(len(_parameter_headers(f.__doc__)) for _, f in TYPED) > 200


@pytest.mark.parametrize("name, func", TYPED, ids=[n for n, _ in TYPED])
def test_parameters_have_numpydoc_types(name, func):
    untyped = [h for h in _parameter_headers(func.__doc__) if " : " not in h]
    assert not untyped, f"{name}: Parameters entries without a type: {untyped}"
