"""Every real instrument file in ../shared/realdata/ read with its expected outcome.

The files (MANIFEST.md there gives origin and licence) sit next to the checkout, never in
the repository. Counts are compared with the vendor library's own sums (``sims`` for Cameca).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tracerdiff import io as tio
from tracerdiff.cli import app
from tracerdiff.errors import FileFormatError

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real instrument files not found at {REALDATA}")
CAMECA = REALDATA / "cameca_nanosims"
PROFILE = REALDATA / "iontof_surfacelab" / "I241209m_A_MAPI_1f-1nA_pos-B4 - NF.txt"
SPECTRUM = REALDATA / "iontof_surfacelab" / "N_HEA19_Bi1_1.txt"
runner = CliRunner()

# file -> (vendor labels, shape, raster um) from MANIFEST.md; channel names in CHANNELS
IMAGES = {"OpenMIMS_doc_040702_06-05mos-03a.im": (["12C", "13C", "12C 14N", "12C 15N"], (512, 512), 41.402),
          "OpenMIMS_doc_051117_05-32dRe-03b.im": (["12C", "13C", "12C 14N", "12C 15N"], (256, 256), 19.991),
          "RTIimage.im": (["12C2", ""], (256, 256), 5.007)}
CHANNELS = {"OpenMIMS_doc_040702_06-05mos-03a.im": ["12C", "13C", "12C14N", "12C15N"],
            "OpenMIMS_doc_051117_05-32dRe-03b.im": ["12C", "13C", "12C14N", "12C15N"],
            "RTIimage.im": ["12C2", "0.000u"]}  # the unlabelled species (mass 0) is named by its mass


def _sims(path):
    from sims.sims import SIMSReader

    with open(path, "rb") as fh:
        r = SIMSReader(fh, filename=str(path))
        r.peek()
        r.read_header()
        r.read_data()
    return r


def test_every_file_of_the_manifest_is_covered():
    listed = set(IMAGES) | {"grain mode cameca.im", "line scan beam control.im", "depth profile.dp",
                            PROFILE.name, SPECTRUM.name}
    assert {p.name for p in REALDATA.glob("*/*") if p.name != "MANIFEST.md"} == listed


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("lazy", [False, True])
def test_cameca_images_match_the_sims_library(name, lazy):
    labels, shape, raster = IMAGES[name]
    path = CAMECA / name
    ds = tio.read(path, lazy=lazy)
    ref = _sims(path)
    assert list(ref.header["label list"]) == labels
    meta = tio.metadata(ds)
    assert list(ds.data_vars) == CHANNELS[name]
    per_channel = [meta["channel_labels"][k] for k in ds.data_vars]  # metadata JSON has sorted keys
    assert [c["label"] for c in per_channel] == labels
    assert [c["mass_u"] for c in per_channel] == [float(m) for m in ref.header["mass list"]]
    assert ds.attrs["pixel_size_um"] == pytest.approx(raster / shape[1], rel=1e-9)
    assert tuple(ds.sizes[d] for d in ("y", "x")) == shape
    for i, var in enumerate(ds.data_vars):
        if lazy:
            assert hasattr(ds[var].data, "dask")  # not loaded until computed
        assert int(ds[var].sum()) == int(ref.data.values[i].sum(dtype=np.int64))
        np.testing.assert_array_equal(np.asarray(ds[var].values), ref.data.values[i].sum(axis=0))


def test_cameca_isotopes_are_mapped_and_molecules_kept_by_label():
    ds = tio.read(CAMECA / "OpenMIMS_doc_051117_05-32dRe-03b.im")
    labels = tio.metadata(ds)["channel_labels"]
    assert {k: v["isotope"] for k, v in labels.items()} == {"12C": "12C", "13C": "13C", "12C14N": None,
                                                           "12C15N": None}


@pytest.mark.parametrize("name,what", [("grain mode cameca.im", "header-only"),
                                       ("line scan beam control.im", "header-only"),
                                       ("depth profile.dp", "depth profile")])
def test_non_images_are_refused_with_one_line(name, what):
    with pytest.raises(FileFormatError, match=what) as info:
        tio.read(CAMECA / name)
    assert "\n" not in str(info.value) and name in str(info.value)
    res = runner.invoke(app, ["inspect", str(CAMECA / name)])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output


def test_surfacelab_depth_profile():
    ds = tio.read(PROFILE)
    assert dict(ds.sizes) == {"t": 165}  # 165 points against sputter time, per MANIFEST.md
    assert ds["t"].values[0] == 0 and np.all(np.diff(ds["t"].values) > 0)
    labels = tio.metadata(ds)["channel_labels"]
    # The column-name line has 106 "Intensity" columns (110 tab-separated fields, 4 of them point number,
    # time, dose and fluence); MANIFEST.md says 107 signals, which the file does not bear out.
    assert len(labels) == 106
    assert labels["16O"] == {"label": "O+", "isotope": "16O", "mass_u": 15.9945}
    assert labels["118Sn"]["label"] == "^118Sn+" and labels["120Sn"]["label"] == "Sn+"  # major isotope of Sn
    assert labels["208Pb"]["label"] == "Pb+" and labels["207Pb"]["label"] == "^207Pb+"
    assert labels["Cs_2I+"]["isotope"] is None  # a cluster keeps its label
    assert labels["SnO+#2"]["label"] == "SnO+"  # a repeated label stays distinct
    ratio = [k for k in labels if "/" in labels[k]["label"]]
    assert all("/" not in k for k in ratio)  # names HDF5 can store; the label keeps the vendor's text
    assert len(ratio) == 5 and any(np.isinf(ds[k].values).any() for k in ratio)  # inf is kept, not refused
    # first data line: 1  0  2.47442e+06  9.89761e+10  1.22647e+06  11.0097 ...
    assert ds["total"].values[0] == pytest.approx(1.22647e6) and ds["Ag_3+"].values[0] == pytest.approx(11.0097)


def test_surfacelab_profile_inspect_json():
    res = runner.invoke(app, ["inspect", str(PROFILE), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["kind"] == "profile" and info["n_points"] == 165
    assert info["axis"] == {"name": "sputter_time", "unit": "s"}
    assert info["channels"]["16O"]["label"] == "O+" and info["channels"]["16O"]["isotope"] == "16O"
    assert info["channels"]["C_60+"]["isotope"] is None


def test_surfacelab_profile_to_depth_and_fraction():
    from tracerdiff.profiles.depth import prepare_profile

    ds = prepare_profile(tio.read(PROFILE), tracer="^13CH_5N_2+", other="CH_5N_2+", crater_depth=1.65e-6)
    assert ds.attrs["profile_axis"] == "depth"
    assert ds["x"].values[-1] == pytest.approx(1.65)  # um: the crater depth at the last point
    assert np.all((ds["C"].values >= 0) & (ds["C"].values <= 1))


def test_spectrum_is_recognised_and_refused():
    with pytest.raises(FileFormatError, match="mass spectrum") as info:
        tio.read(SPECTRUM)
    assert "\n" not in str(info.value) and SPECTRUM.name in str(info.value)
    res = runner.invoke(app, ["inspect", str(SPECTRUM), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["kind"] == "spectrum" and info["columns"] == ["Channel", "m/z", "Intensity"]
    res = runner.invoke(app, ["erfc", str(SPECTRUM), "--time", "1h"])
    assert res.exit_code == 2 and "mass spectrum" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_map_reproduces_the_pooled_13c_fraction_exactly(tmp_path):
    path = CAMECA / "OpenMIMS_doc_040702_06-05mos-03a.im"
    ref = _sims(path)
    labels = list(ref.header["label list"])
    c12 = int(ref.data.values[labels.index("12C")].sum(dtype=np.int64))
    c13 = int(ref.data.values[labels.index("13C")].sum(dtype=np.int64))
    out = tmp_path / "C.tif"
    res = runner.invoke(app, ["map", str(path), "--tracer", "13C", "--other", "12C", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert set(info) == {"tracer", "other", "shape", "pooled_fraction", "natural_fraction", "enrichment"}
    assert info["tracer"] == "13C" and info["other"] == "12C" and info["shape"] == [512, 512]
    assert info["pooled_fraction"]["value"] == c13 / (c12 + c13)  # exactly: the same integer sums
    assert info["natural_fraction"]["value"] == pytest.approx(0.0106, rel=0.01)  # 13C/(12C+13C), CIAAW
    assert info["enrichment"]["value"] == pytest.approx(c13 / (c12 + c13) / info["natural_fraction"]["value"])
    c = tio.read(out)["counts"].values
    err = tio.read(tmp_path / "C_stderr.tif")["counts"].values
    ok = np.isfinite(c)
    assert ok.sum() > 0.9 * c.size and np.all(err[ok] > 0)
    i12, i13 = (ref.data.values[labels.index(k)].sum(axis=0).astype(float) for k in ("12C", "13C"))
    np.testing.assert_allclose(c[ok], (i13 / (i12 + i13))[ok], rtol=1e-6)  # float32 on disk
    import tifffile

    with tifffile.TiffFile(out) as tf:
        desc = json.loads(tf.pages[0].description)
    assert desc["tracer"] == "13C" and desc["tracerdiff_version"]


def test_surfacelab_profile_converts_to_hdf5_and_back(tmp_path):
    res = runner.invoke(app, ["convert", str(PROFILE), str(tmp_path / "p.h5")])
    assert res.exit_code == 0, res.output
    back, ds = tio.read(tmp_path / "p.h5"), tio.read(PROFILE)
    assert dict(back.sizes) == {"t": 165} and list(back.data_vars) == list(ds.data_vars)
    for k in ds.data_vars:
        np.testing.assert_array_equal(back[k].values, ds[k].values)  # inf in ratio columns survives
    assert tio.metadata(back)["channel_labels"]["16O"]["label"] == "O+"
