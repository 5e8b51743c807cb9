"""Atomic writes: the file appears whole or not at all, and the temp file keeps the suffix."""

import pytest

from autoprune._io import atomic_path, write_text_atomic


def test_the_temp_path_sits_beside_the_target_and_keeps_its_suffix(tmp_path):
    target = tmp_path / "model.pt2"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".pt2" and tmp != target
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt2"]


def test_an_error_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "pareto.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.json"]
