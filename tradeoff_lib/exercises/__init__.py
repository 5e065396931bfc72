"""Automatic checks for the notebooks' exercises: right or wrong, with a hint.

Each notebook's exercises have checkers in a module of this package named after the
notebook (``nb00.py`` for notebook 00, ...). A checker recomputes the expected answer
from the learner's inputs and returns ``(correct, message)``; ``check_exercise`` prints
the verdict and returns ``True``/``False``, so a check cell reads::

    assert tl.check_exercise("00.1", budget_ms=budget_ms)

In the notebooks an exercise is a code cell tagged ``solution`` followed by a code cell
tagged ``check``; ``python -m tradeoff_lib.student`` makes the student copies, in which
the solution code is replaced by a ``NotImplementedError`` and the checks stay.

Used in: every notebook.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

_CHECKERS: dict[str, Callable[..., tuple[bool, str]]] = {}


def exercise(exercise_id: str) -> Callable:
    """Register a checker under ``exercise_id`` (``"NN.k"``: notebook NN, exercise k)."""
    def register(fn: Callable[..., tuple[bool, str]]) -> Callable[..., tuple[bool, str]]:
        if exercise_id in _CHECKERS:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        _CHECKERS[exercise_id] = fn
        return fn
    return register


def _load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("nb"):
            importlib.import_module(f"{__name__}.{info.name}")


def list_exercises() -> list[str]:
    """All registered exercise ids, sorted."""
    _load_all()
    return sorted(_CHECKERS)


def check_exercise(exercise_id: str, **answer) -> bool:
    """Check a learner's answer; print the verdict (with a hint when wrong) and return it.

    Args:
        exercise_id: e.g. ``"00.1"``.
        **answer: the names the exercise asks for, plus the context the checker needs.
    """
    _load_all()
    if exercise_id not in _CHECKERS:
        raise ValueError(f"exercise_id must be one of {', '.join(sorted(_CHECKERS))}; got {exercise_id!r}")
    try:
        correct, message = _CHECKERS[exercise_id](**answer)
    except TypeError as exc:  # a missing or misspelled answer name
        correct, message = False, f"the check could not read your answer ({exc})"
    print(f"{'✔ correct' if correct else '✘ not yet'} — exercise {exercise_id}: {message}")
    return bool(correct)


def close(value, expected, *, rel: float = 1e-3, abs_: float = 1e-9) -> bool:
    """True when ``value`` is a number within a relative tolerance of ``expected``."""
    try:
        return abs(float(value) - float(expected)) <= max(rel * abs(float(expected)), abs_)
    except (TypeError, ValueError):
        return False
