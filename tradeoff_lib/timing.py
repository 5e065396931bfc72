"""Where a notebook's time goes: a package-wide stopwatch per kind of work.

``fit``/``train_seeds`` add to ``"training"``, ``measure_latency`` to ``"latency"``,
``bootstrap_ci`` to ``"bootstrap"``, ``evaluate``/``predict`` to ``"evaluation"``, and
exports/compilations to ``"export"``. Nested sections count once, for the outermost one
(the validation pass inside ``fit`` is training time), so the totals add up to at most the
wall time.

When ``$TRADEOFF_TIMING_FILE`` is set (``python -m tradeoff_lib.report`` sets it per
notebook), the totals are written there as JSON after every section, so the report
knows them even though the notebook ran in another process. Writing costs well under a
millisecond per section.

Used in: ``tradeoff_lib/report.py`` (``run_times.json`` and the report index).
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ._checks import check_type

KINDS = ("training", "evaluation", "latency", "bootstrap", "export")
ENV = "TRADEOFF_TIMING_FILE"

_totals: dict[str, float] = {}
_depth = 0


@contextmanager
def timed(kind: str) -> Iterator[None]:
    """Add the block's wall time to ``kind`` (unless an outer ``timed`` block is already running)."""
    global _depth
    check_type("kind", kind, str)
    if not kind:
        raise ValueError("kind must be a non-empty name, got ''")
    outer = _depth == 0
    _depth += 1
    start = time.perf_counter()
    try:
        yield
    finally:
        _depth -= 1
        if outer:
            _totals[kind] = _totals.get(kind, 0.0) + time.perf_counter() - start
            _dump()


def totals() -> dict[str, float]:
    """Seconds spent per kind since the start (or the last ``reset``)."""
    return dict(_totals)


def reset() -> None:
    """Forget the totals (tests, or a notebook that wants to time one part)."""
    _totals.clear()


def _dump() -> None:
    path = os.environ.get(ENV)
    if path:
        from .io import atomic_write_bytes

        atomic_write_bytes(Path(path), json.dumps(_totals, indent=1).encode())
