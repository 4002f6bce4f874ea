"""The suite-wide input check (tests/conftest.py) detects a changed, removed or added file."""

from conftest import INPUT_DIRS, changed_files, hash_tree


def test_hash_check_detects_every_kind_of_change(tmp_path):
    (tmp_path / "a.csv").write_text("x_um,C\n1,0.5\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.tif").write_bytes(b"II*\x00")
    before = hash_tree([tmp_path, tmp_path / "missing"])
    assert len(before) == 2 and changed_files(before, hash_tree([tmp_path])) == []
    (tmp_path / "a.csv").write_text("x_um,C\n1,0.6\n")  # one byte differs
    (tmp_path / "sub" / "b.tif").unlink()
    (tmp_path / "c.txt").write_text("new")
    problems = changed_files(before, hash_tree([tmp_path]))
    assert [p.split(":")[0] for p in problems] == ["changed", "removed", "added"]


def test_the_checked_folders_hold_the_test_data():
    assert INPUT_DIRS[0].is_dir() and hash_tree(INPUT_DIRS[:1])  # tests/data is checked, not an empty set
