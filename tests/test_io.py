"""Atomic writes: the file is the old version or the new one, never half-written."""
import json

import pytest

from tradeoff_lib.io import atomic_write_bytes, atomic_write_json


def test_atomic_write_replaces_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    assert atomic_write_bytes(path, b"old") == path and path.read_bytes() == b"old"
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and [p.name for p in path.parent.iterdir()] == ["a.txt"]
    atomic_write_json(tmp_path / "b.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "b.json").read_text()) == {"x": [1, 2]}


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_bytes(path, b"old")
    with pytest.raises(TypeError, match="data must be bytes, got str"):
        atomic_write_bytes(path, "text")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, None)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
