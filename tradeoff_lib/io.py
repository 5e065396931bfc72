"""Atomic file writes: a file is either the old version or the new one, never half-written.

Ledger, headline, checkpoints, plots and the benchmark's JSON all go through these two
functions, so that an interrupted run (Ctrl-C, a killed kernel) leaves no torn file.

Used in: the ledger, the headline, checkpoints, the report and the benchmark; no notebook calls it
directly.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_json"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename (never half-written)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (UTF-8, keys in insertion order) atomically."""
    return atomic_write_bytes(path, json.dumps(obj, indent=indent, default=str).encode())
