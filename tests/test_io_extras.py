"""Vendor readers are optional extras: a missing one is named, not a bare ImportError."""

import sys

import numpy as np
import pytest

from tracerdiff.errors import MissingDependencyError, TracerdiffError
from tracerdiff.io import api, synth

IMG = np.arange(12, dtype=np.uint32).reshape(1, 3, 4) + 5


@pytest.fixture
def vendor_files(tmp_path):
    # Written while the vendor packages are importable (the ITA writer uses pySPM's block format).
    return {
        "iontof": synth.write_ita(tmp_path / "m.ita", {"^6Li+": IMG, "^7Li+": IMG + 1},
                                  {"^6Li+": 6.015, "^7Li+": 7.016}, fov_um=4.0),
        "bif6": synth.write_bif6(tmp_path / "e.bif6", [(1, 6.015, 5.9, 6.1, IMG[0]),
                                                       (2, 7.016, 6.9, 7.1, IMG[0] + 1)]),
        "cameca": synth.write_cameca_im(tmp_path / "n.im", {"6Li": IMG[0], "7Li": IMG[0] + 1}, [6.015, 7.016],
                                        raster_um=4.0),
    }


@pytest.mark.parametrize("extra, modules", [("iontof", ["pySPM"]), ("bif6", ["pybif6"]),
                                            ("cameca", ["sims", "sims.sims"])])
def test_missing_extra_is_named(vendor_files, monkeypatch, extra, modules):
    path = vendor_files[extra]
    for name in modules:  # None in sys.modules makes the import fail as if not installed
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError) as err:
        api.read(path, pixel_size_um=1.0)
    msg = str(err.value)
    assert f"tracerdiff[{extra}]" in msg and str(path) in msg
    assert isinstance(err.value, TracerdiffError) and isinstance(err.value, ImportError)


def test_vendor_files_read_with_extras_installed(vendor_files):
    for path in vendor_files.values():
        ds = api.read(path, pixel_size_um=1.0)
        assert {"6Li", "7Li"} <= set(ds.data_vars), path
