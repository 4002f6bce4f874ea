"""Campaigns (`tracerdiff run a.toml b.toml`): one folder per study, a summary, the same bytes on every engine."""

import csv
import json

import pytest
from typer.testing import CliRunner

from tracerdiff.cli import app
from tracerdiff.errors import InputError
from tracerdiff.parallel import TaskError
from tracerdiff.study.campaign import run_campaign, study_folder_names
from tracerdiff.study.synthetic import write_synthetic_study


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    # Two independent synthetic studies (seeds 3 and 4) without SIMS images: fast, every other analysis.
    root = tmp_path_factory.mktemp("campaign")
    return [write_synthetic_study(root / "a", seed=3, image=False),
            write_synthetic_study(root / "b", seed=4, image=False)]


@pytest.fixture(scope="module")
def in_process(studies, tmp_path_factory):
    out = tmp_path_factory.mktemp("camp") / "out"
    seen = []
    summary = run_campaign(studies, out, progress=lambda label, done, total: seen.append((label, done, total)))
    return out, summary, seen


def _tree(folder):
    """Every file of an output folder: JSON parsed, the rest as bytes (the marker file names its writer)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != ".tracerdiff-output":
            rel = path.relative_to(folder).as_posix()
            files[rel] = json.loads(path.read_text()) if path.suffix == ".json" else path.read_bytes()
    return files


def test_one_folder_per_study_and_a_summary(studies, in_process):
    out, summary, seen = in_process
    assert [s["folder"] for s in summary["studies"]] == ["a-study", "b-study"]
    for s in summary["studies"]:
        results = json.loads((out / s["folder"] / "results.json").read_text())
        assert results["headline"] == s["headline"] and s["status"] == "done"
        assert (out / s["folder"] / "report.html").is_file()
    # The two seeds give different data, hence different (but both close to the truth) D*eff.
    heads = [s["headline"]["d_eff_erfc"]["value"]["value"] for s in summary["studies"]]
    assert heads[0] != heads[1]
    assert heads == pytest.approx([2.013e-9, 2.013e-9], rel=0.05)  # 20000 counts per point: ~1-2 %
    rows = list(csv.DictReader((out / "campaign.csv").read_text().splitlines()))
    assert {r["folder"] for r in rows} == {"a-study", "b-study"}
    erfc = [r for r in rows if r["quantity_key"] == "d_eff_erfc"]
    assert [float(r["value"]) for r in erfc] == heads
    assert all(float(r["stderr"]) > 0 and r["unit"] == "cm^2/s" and r["status"] == "done" for r in erfc)
    page = (out / "index.html").read_text()
    assert "a-study/report.html" in page and "b-study/report.html" in page and "Ea of D*eff" in page
    assert seen[0] == ("studies", 0, 2) and seen[-1] == ("studies", 2, 2)


def test_a_study_in_a_campaign_equals_the_study_run_alone(studies, in_process, tmp_path):
    from tracerdiff.study.runner import run_study

    run_study(studies[1], tmp_path / "alone", quiet=True)
    out = in_process[0]
    assert (tmp_path / "alone" / "results.json").read_bytes() == (out / "b-study" / "results.json").read_bytes()


def test_local_cluster_gives_identical_outputs(studies, in_process, tmp_path):
    # A real distributed.LocalCluster with 2 spawned worker processes, passed as a client.
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=50) as cluster, Client(cluster) as client:
        summary = run_campaign(studies, tmp_path / "out", scheduler=client)
    assert summary == in_process[1]
    cluster_tree, serial_tree = _tree(tmp_path / "out"), _tree(in_process[0])
    assert sorted(cluster_tree) == sorted(serial_tree)
    for name in serial_tree:
        if name.endswith((".json", ".csv")):  # PNG bytes carry no run-dependent data either, but JSON/CSV is the claim
            assert cluster_tree[name] == serial_tree[name], name


def test_a_crashed_study_is_named_and_nothing_is_written(studies, in_process, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(studies[1].parent, broken)
    (broken / "scan_ex110h.csv").write_text("not,a\nscan\n")  # valid study file, unreadable data
    out = tmp_path / "out"
    shutil.copytree(in_process[0], out)  # an earlier complete campaign in this folder
    before = _tree(out)
    with pytest.raises(TaskError, match=r"study broken-study .*broken/study.toml.* failed: .*scan_ex110h"):
        run_campaign([studies[0], broken / "study.toml"], out)
    assert _tree(out) == before  # the previous output, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "out"]  # no staging folder left


def test_failed_analysis_marks_the_study_and_the_cli_exits_1(studies, tmp_path, monkeypatch):
    from tracerdiff.study import derived

    def broken(ctx):
        raise ZeroDivisionError("haven broke")

    monkeypatch.setattr(derived, "haven", broken)  # in process: the patch reaches the task
    result = CliRunner().invoke(app, ["run", str(studies[0]), str(studies[1]), "--out", str(tmp_path / "o"),
                                      "--workers", "1", "--quiet"])
    assert result.exit_code == 1
    assert "study a-study: haven" in result.output and "haven broke" in result.output
    summary = json.loads((tmp_path / "o" / "campaign.json").read_text())
    assert [s["status"] for s in summary["studies"]] == ["failed", "failed"]
    # --fail-fast: the first failure stops the campaign, nothing is written, the study is named.
    result = CliRunner().invoke(app, ["run", str(studies[0]), str(studies[1]), "--out", str(tmp_path / "p"),
                                      "--workers", "1", "--quiet", "--fail-fast"])
    assert result.exit_code == 2
    assert "study a-study" in result.output and "haven broke" in result.output
    assert not (tmp_path / "p").exists()


def test_bad_campaign_inputs(studies, tmp_path):
    with pytest.raises(InputError, match="twice"):
        study_folder_names([studies[0], studies[0]])
    assert study_folder_names(["x/a/s.toml", "y/a/s.toml", "z/t.toml"]) == ["a-s-1", "a-s-2", "t"]
    assert study_folder_names(["x/one.toml", "y/one.toml"]) == ["x-one", "y-one"]
    assert study_folder_names(["index.html.toml", "a b/.c?.toml"]) == ["index.html-study", "c_"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[sample\n")
    result = CliRunner().invoke(app, ["run", str(studies[0]), str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "bad.toml" in result.output
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(app, ["run", str(studies[0]), str(studies[1]), "--out", str(tmp_path / "o"),
                                      "--workers", "none"])
    assert result.exit_code == 2 and "--workers" in result.output


def test_a_failed_window_names_study_image_and_window(studies, tmp_path, monkeypatch):
    # An inversion window that crashes inside a study of a campaign: the exit is 1 and the message
    # names the study, the image and the window (the task error text of tracerdiff.parallel).
    import tracerdiff.boundaries as boundaries
    from tracerdiff.parallel import map_tasks

    def crash(i):
        raise FloatingPointError("singular window")

    def failing_analysis(*args, **kwargs):
        map_tasks(crash, [0, 1], names=["inversion window 0", "inversion window 1"])

    with_image = write_synthetic_study(tmp_path / "img", seed=7, image_shape=(64, 128))
    monkeypatch.setattr(boundaries, "analyse_boundaries", failing_analysis)  # in process: reaches the task
    result = CliRunner().invoke(app, ["run", str(studies[0]), str(with_image), "--out", str(tmp_path / "o"),
                                      "--workers", "1", "--quiet"])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "study img-study: boundary_steps[img59h]" in text  # the image named in the study file
    assert "inversion window 0 failed: FloatingPointError: singular window" in text
    summary = json.loads((tmp_path / "o" / "campaign.json").read_text())
    assert [s["status"] for s in summary["studies"]] == ["done", "failed"]
