"""Argument checks shared by the package: clear errors that name the argument.

Every public function validates its inputs with these helpers so that a learner
who passes ``amount=1.5`` reads ``amount must be in [0, 1), got 1.5`` instead of
a traceback from deep inside PyTorch.
"""
from __future__ import annotations

import numbers
from typing import Any, Iterable

import torch
from torch import nn


def check_type(name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Raise ``TypeError`` unless ``value`` is an instance of ``types``."""
    if not isinstance(value, types):
        allowed = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__}: {value!r}")
    return value


def check_int(name: str, value: Any, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Check an integer (not a bool) within ``[min_value, max_value]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    value = int(value)
    if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
        lo = "-inf" if min_value is None else min_value
        hi = "inf" if max_value is None else max_value
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check a real number within an interval whose ends may be open or closed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r}")
    value = float(value)
    bad = value != value  # NaN
    if low is not None:
        bad |= value < low if low_inclusive else value <= low
    if high is not None:
        bad |= value > high if high_inclusive else value >= high
    if bad:
        left = ("[" if low_inclusive else "(") + ("-inf" if low is None else f"{low:g}")
        right = ("inf" if high is None else f"{high:g}") + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be in {left}, {right}, got {value:g}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_module(name: str, value: Any) -> nn.Module:
    """Check that ``value`` is a ``torch.nn.Module``."""
    return check_type(name, value, nn.Module)


def check_tensor(name: str, value: Any, *, ndim: int | None = None) -> torch.Tensor:
    """Check a tensor, optionally of a given number of dimensions."""
    check_type(name, value, torch.Tensor)
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    return value
