"""Large maps from the command line and the study file: ``boundaries --tile``, ``options.tile``, lazy
TIFF reads, the compact per-boundary profiles and the bounded submission of tiles."""

import json
import threading

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from tracerdiff.boundaries.summary import binned_profile
from tracerdiff.boundaries.tiled import DEFAULT_HALO_PX, MIN_TILE_PX, analyse_boundaries_tiled
from tracerdiff.cli import app
from tracerdiff.errors import InputError
from tracerdiff.io import read, read_count_pair
from tracerdiff.parallel import task_runner
from tracerdiff.units import parse_pixels

ARGS = ["--pixel-size", "1um", "--d-bulk", "2.6e-8 cm^2/s", "--thickness", "0.5 nm", "--json"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from tracerdiff.simulate import synthetic_exchange_image

    ds, _ = synthetic_exchange_image(shape=(256, 320), seed=2, n_steps=20)
    folder = tmp_path_factory.mktemp("pair")
    paths = [str(folder / f"{c}.tif") for c in ("6Li", "7Li")]
    for c, p in zip(("6Li", "7Li"), paths):
        tifffile.imwrite(p, np.asarray(ds[c].values, dtype=np.uint32))
    return paths


def _run(args):
    res = CliRunner().invoke(app, ["boundaries", *args])
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def whole_and_tiled(pair):
    code, out = _run([*pair, *ARGS, "--source-edge", "bottom"])
    assert code == 0, out
    code_t, out_t = _run([*pair, *ARGS, "--source-edge", "bottom", "--tile", "128px", "--halo", "96", "--workers", "1"])
    assert code_t == 0, out_t
    return json.loads(out), json.loads(out_t)


def test_cli_tile_matches_the_whole_image(whole_and_tiled):
    whole, tiled = whole_and_tiled
    key = lambda b: (round(b["x_um"], 2), round(b["y_um"], 2))  # noqa: E731
    w = {key(b): b for b in whole["boundaries"]}
    t = {key(b): b for b in tiled["boundaries"]}
    assert len(t) == len(tiled["boundaries"]) == tiled["n_boundaries"]  # every boundary once
    # A tile segments its own noise, so a few segments move (tests/test_tiled.py: >90 % in common on
    # this image with the library; 98 % on 512^2, seed 1).
    assert len(set(w) & set(t)) > 0.9 * len(w)
    # The medians agree within one standard error of the median (the same bound as the library test;
    # 512^2, seed 1: 0.9 %), and the same number of boundaries is found within 5 %.
    mw, mt = whole["summary"]["dgb_over_delta"]["median"], tiled["summary"]["dgb_over_delta"]["median"]
    assert abs(mt["value"] - mw["value"]) < mw["stderr"]
    assert abs(tiled["n_boundaries"] - whole["n_boundaries"]) < 0.05 * whole["n_boundaries"]


def test_cli_tile_is_the_library_analysis_of_the_lazy_read(pair, whole_and_tiled):
    # The CLI reads the TIFFs lazily and gives the library's tiled result, to the byte.
    ds = read_count_pair(*pair, pixel_size_um=1.0, lazy=True)
    assert hasattr(ds["6Li"].data, "dask")
    lib = analyse_boundaries_tiled(ds, d_bulk="2.6e-8 cm^2/s", thickness="0.5 nm", source_edge="bottom",
                                   tile_px=128, halo_px=96)
    from tracerdiff.jsonio import jsonable

    assert json.loads(json.dumps(jsonable(lib.to_dict()))) == whole_and_tiled[1]


def test_cli_tile_reads_compressed_tiffs_tile_by_tile_to_the_same_result(pair, whole_and_tiled, tmp_path):
    # Real instrument and stitching software often writes deflate-compressed, tiled TIFFs: they are
    # decoded per tile (tracerdiff.io.tiffsegments), and the analysis is the same to the byte.
    packed = []
    for p in pair:
        out = tmp_path / p.rsplit("/", 1)[-1]
        tifffile.imwrite(out, tifffile.imread(p), compression="zlib", tile=(64, 64))
        packed.append(str(out))
    assert hasattr(read(packed[0], pixel_size_um=1.0, lazy=True)["counts"].data, "dask")
    code, out = _run([*packed, *ARGS, "--source-edge", "bottom", "--tile", "128px", "--halo", "96", "--workers", "1"])
    assert code == 0, out
    assert json.loads(out) == whole_and_tiled[1]


@pytest.mark.parametrize("extra, flag, text", [
    (["--tile", "abc"], "--tile", "whole number of pixels"),
    (["--tile", "1.5"], "--tile", "whole number of pixels"),
    (["--tile", "32px"], "--tile", f">= {MIN_TILE_PX}"),
    (["--tile", "128", "--halo", "128px"], "--halo", "smaller than --tile"),
    (["--tile", "128", "--halo", "-3"], "--halo", "whole number of pixels"),
    (["--halo", "64px"], "--halo", "applies to --tile only"),
    (["--tile", "128", "--method", "inversion"], "--tile", "drop --method inversion"),
    (["--tile", "128", "--line", "1,1,1,20"], "--tile", "drop --line"),
    (["--tile", "100"], "--halo", "the default 128px"),
])
def test_bad_tile_options_name_the_option(pair, extra, flag, text):
    code, out = _run([*pair, *ARGS, "--source-edge", "bottom", *extra])
    assert code == 2 and flag in out and text in out and "Traceback" not in out


def test_tile_needs_the_source_edge(pair):
    code, out = _run([*pair, *ARGS, "--tile", "256"])
    assert code == 2 and "--source-edge" in out and "Traceback" not in out


def test_halo_default_in_the_help_is_the_library_default():
    res = CliRunner().invoke(app, ["boundaries", "--help"], env={"COLUMNS": "300"})
    assert f"default {DEFAULT_HALO_PX}px" in res.output


def test_parse_pixels():
    assert parse_pixels("1024px", name="x") == parse_pixels(" 1024 PX ", name="x") == parse_pixels(1024, name="x") == 1024
    for bad in ("1024um", "-1", "1e3", True, 10.5):
        with pytest.raises(InputError, match="whole number") as info:
            parse_pixels(bad, name="--tile")
        assert info.value.source == "--tile"


def test_schema_minimum_tile_is_the_library_minimum():
    from tracerdiff.study import fields

    assert fields.MIN_TILE_PX == MIN_TILE_PX


# ----------------------------------------------------------------------------- study file

def _study_with(tmp_path, options: str):
    from tracerdiff.study.synthetic import write_synthetic_study

    src = write_synthetic_study(tmp_path / "s", seed=2)
    src.write_text(src.read_text() + "\n[options]\n" + options + "\n")
    return src


def test_study_with_tile_runs_and_matches_the_whole_image(tmp_path):
    from tracerdiff.study.runner import run_study

    src = _study_with(tmp_path, 'boundary_source = "image"\ntile = "256px"\ntile_halo = "96px"')
    tiled = run_study(src, tmp_path / "tiled", quiet=True)["analyses"]["boundary_steps"]["images"]["img59h"]
    src.write_text(src.read_text().replace('tile = "256px"\ntile_halo = "96px"', ""))
    whole = run_study(src, tmp_path / "whole", quiet=True)["analyses"]["boundary_steps"]["images"]["img59h"]
    assert tiled["status"] == whole["status"] == "done"
    assert tiled["tile_px"] == 256 and "tile_px" not in whole
    mt = tiled["analysis"]["summary"]["dgb_over_delta"]["median"]
    mw = whole["analysis"]["summary"]["dgb_over_delta"]["median"]
    # 206 x 512 px in 2 tiles: the medians agree within one standard error (as for the CLI). With
    # 128 px tiles (8 tiles, most boundaries near a tile edge of this thin image) they differed by
    # 4.2 %, 1.01 standard errors: small tiles on a small image move more segments.
    assert abs(mt["value"] - mw["value"]) < mw["stderr"]


@pytest.mark.parametrize("options, key, text", [
    ('boundary_source = "image"\ntile = "12px"', "options.tile", ">= 64"),
    ('boundary_source = "image"\ntile = "big"', "options.tile", "whole number of pixels"),
    ('boundary_source = "image"\ntile_halo = "64px"', "tile_halo", "only with options.tile"),
    ('boundary_source = "image"\ntile = "128px"\ntile_halo = "200px"', "tile_halo", "smaller than tile"),
    ('boundary_source = "image"\ntile = "128px"\nboundary_method = "inversion"', "tile", "step method"),
    ('tile = "128px"', "measurements.images[0].optical", "boundary_source"),
])
def test_bad_study_tile_options_name_the_key(tmp_path, options, key, text):
    from tracerdiff.study.load import load_study

    with pytest.raises(InputError) as info:
        load_study(_study_with(tmp_path, options))
    assert key in str(info.value) and text in str(info.value)


def test_study_tile_needs_every_images_edge(tmp_path):
    from tracerdiff.study.load import load_study

    src = _study_with(tmp_path, 'boundary_source = "image"\ntile = "128px"')
    src.write_text(src.read_text().replace('edge = "bottom"', 'edge = "auto"'))
    with pytest.raises(InputError, match=r"measurements.images\[0\].edge"):
        load_study(src)


# ----------------------------------------------------------------------------- lazy reads

def test_lazy_2d_tiff_reads_blocks_and_matches_the_eager_read(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 60000, (1100, 1300)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "le.tif", a)
    tifffile.imwrite(tmp_path / "be.tif", a, byteorder=">")
    tifffile.imwrite(tmp_path / "zip.tif", a, compression="zlib")
    for name in ("le.tif", "be.tif"):
        lazy = read(tmp_path / name, pixel_size_um=1.0, lazy=True)
        data = lazy["counts"].data
        assert hasattr(data, "dask") and data.chunks == ((1024, 76), (1024, 276))
        # Native byte order, the eager read's values, and a window reads only its blocks.
        assert lazy["counts"].dtype == np.dtype("uint16")
        assert np.array_equal(lazy["counts"].values, read(tmp_path / name, pixel_size_um=1.0)["counts"].values)
        assert np.array_equal(lazy.isel(y=slice(1000, 1050), x=slice(5, 9))["counts"].values, a[1000:1050, 5:9])
    # Compressed data cannot be sliced on disk: read whole, still correct.
    assert np.array_equal(np.asarray(read(tmp_path / "zip.tif", pixel_size_um=1.0, lazy=True)["counts"]), a)


# ----------------------------------------------------------------------------- compact profiles

def test_compact_profile_draws_the_same_points_as_the_samples():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from tracerdiff.boundaries import BoundaryStep
    from tracerdiff.quantity import Measured

    rng = np.random.default_rng(7)
    # Axis-aligned boundaries put samples at half-integer s (bin edges): included on purpose.
    s = np.concatenate([rng.uniform(-20, 20, 400), np.repeat(np.arange(-19.5, 20.0, 1.0), 3)])
    s = s[np.abs(s) > 0.1]
    c, se = 0.5 + 0.01 * s + rng.normal(0, 0.02, s.size), rng.uniform(0.01, 0.05, s.size)
    m = Measured(1.0, 0.1, "dimensionless")
    common = dict(grains=(1, 2), x_um=0.0, y_um=0.0, length_um=5.0, orientation_deg=0.0, flux_angle_deg=0.0,
                  dgb_over_delta=Measured(1e-8, 1e-9, "conductance"), dgb=Measured(1e-16, 1e-17, "diffusivity"),
                  delta_c=m, gradient=Measured(1e4, 1e3, "gradient"), accepted=True, reason="",
                  coef_down=(0.5, 0.01), coef_up=(0.55, 0.01))
    raw = BoundaryStep(**common, profile_s=s, profile_c=c, profile_se=se)
    compact = BoundaryStep(**common, **dict(zip(("profile_s", "profile_c", "profile_se"), binned_profile(s, c, se))),
                           profile_binned=True)
    drawn = []
    for step in (raw, compact):
        ax = Figure().add_subplot()
        step.plot(ax)
        drawn.append([np.asarray(line.get_xydata()) for line in ax.lines])
    assert len(drawn[0]) == len(drawn[1]) >= 3  # the points and the two side fits
    for a, b in zip(*drawn):
        # The same points; the fitted curves span the samples (raw) or the bin means (compact),
        # which differ by under one pixel at the outer end.
        if a.shape == b.shape and len(a) != 50:
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(drawn[0][0], drawn[1][0])


def test_boundaries_keep_one_profile_value_per_pixel_bin():
    from tracerdiff.boundaries import analyse_boundaries
    from tracerdiff.simulate import synthetic_exchange_image

    ds, _ = synthetic_exchange_image(shape=(128, 160), seed=4, n_steps=20)
    res = analyse_boundaries(ds, d_bulk=2.6e-12, source_edge="bottom")
    sizes = [b.profile_s.size for b in res.boundaries]
    # depth_px 20 on each side: at most 2 x 20 (+1 for the bins at +-1 that take s in (0, 1.5)) values.
    assert max(sizes) <= 42 and np.mean(sizes) > 5
    for b in res.boundaries:
        # Bin means: one per bin, in order of s, none at the boundary itself.
        assert b.profile_binned and np.all(np.diff(b.profile_s) > 0) and not np.any(b.profile_s == 0)


# ----------------------------------------------------------------------------- bounded submission

_PICKLED: list = []
_LOCK = threading.Lock()


class _Counted:
    """An item that records in the caller's process when it is pickled (sent to the cluster)."""

    def __init__(self, i):
        self.i = i

    def __reduce__(self):
        with _LOCK:
            _PICKLED.append(self.i)
        return (int, (self.i,))


def _square(i):
    return i * i


def test_bounded_submission_on_a_local_cluster():
    done = []

    def progress(d, total):
        with _LOCK:
            done.append((d, len(set(_PICKLED))))

    with task_runner(workers=2) as runner:
        out = runner.map(_square, [_Counted(i) for i in range(12)], progress=progress, max_in_flight=2)
    assert out == [i * i for i in range(12)]
    # When the d-th result arrives, at most d - 1 + 2 items have been sent (pickled) to the cluster.
    assert done and all(sent <= d - 1 + 2 for d, sent in done)
    with pytest.raises(ValueError, match="max_in_flight"):
        with task_runner(workers=2) as runner:
            runner.map(_square, [1, 2], max_in_flight=0)


# ----------------------------------------------------------------------------- images as tasks

def _two_image_study(tmp_path):
    from tracerdiff.study.synthetic import write_synthetic_study

    src = write_synthetic_study(tmp_path / "s2", seed=2)
    text = src.read_text()
    block = text[text.index("[[measurements.images]]"):text.index('edge = "bottom"') + len('edge = "bottom"')]
    # A second image of the same field (its own name): two image analyses, each a task.
    src.write_text(text.replace(block, block + "\n\n" + block.replace('name = "img59h"', 'name = "img59h_b"')))
    return src


def test_images_of_a_study_as_tasks_give_identical_outputs_on_a_local_cluster(tmp_path):
    from distributed import Client, LocalCluster

    from tracerdiff.study.runner import run_study

    src = _two_image_study(tmp_path)
    serial = run_study(src, tmp_path / "serial", quiet=True)
    images = serial["analyses"]["boundary_steps"]["images"]
    assert sorted(images) == ["img59h", "img59h_b"] and all(e["status"] == "done" for e in images.values())
    # A real distributed.LocalCluster with 2 spawned worker processes: each image is a task there.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=50) as cluster, Client(cluster) as client:
        run_study(src, tmp_path / "cluster", quiet=True, scheduler=client)
        ran = sum(1 for key in client.run_on_scheduler(_task_keys) if key.startswith("tracerdiff-"))
    assert ran >= 2  # the two image analyses ran on the cluster
    for name in ("results.json", "boundaries_img59h.csv", "boundaries_img59h_b.csv"):
        found = sorted((tmp_path / "serial").rglob(name))
        assert found, name
        for path in found:
            twin = tmp_path / "cluster" / path.relative_to(tmp_path / "serial")
            assert twin.read_bytes() == path.read_bytes(), name


def _task_keys(dask_scheduler=None):
    """Keys of every task the scheduler has seen (its transition log)."""
    return sorted({str(entry[0]) for entry in dask_scheduler.transition_log})


def test_lazy_tiles_on_a_local_cluster_match_in_process(pair):
    # Lazily read TIFFs, several tiles, 2 worker processes: the tiles are read (synchronously) as
    # they are submitted, and the result is the in-process one bit for bit.
    ds = read_count_pair(*pair, pixel_size_um=1.0, lazy=True)
    opts = dict(d_bulk=2.6e-12, source_edge="bottom", tile_px=128, halo_px=64)
    serial = analyse_boundaries_tiled(ds, **opts)
    cluster = analyse_boundaries_tiled(ds, workers=2, **opts)
    assert serial.to_dict() == cluster.to_dict() and len(serial.boundaries) > 100
    assert np.array_equal(serial.labels, cluster.labels) and np.array_equal(serial.c, cluster.c, equal_nan=True)
