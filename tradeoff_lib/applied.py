"""What was done to a model: the one documented way to read it back from a technique's result.

Every inference-side technique of the package (quantization, pruning, low-rank
factorization, runtimes) takes a model and returns a **new** model; it never mutates
its input and never returns a tuple. What it did (for example which int8 method was
used) is recorded on the returned model and read with ``applied(model)``::

    q = quantization.quantize_int8(model, calibration)
    tl.applied(q)[-1]      # {"technique": "int8", "method": "fx_static", ...}

The record is a tuple of dicts kept in the attribute ``tradeoff_applied``; a technique
applied to a result of another technique keeps the earlier entries (a ladder's history).

Used in: ``notebooks/02_quantization.ipynb``, ``notebooks/09_deployment_runtimes.ipynb``,
``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ._checks import check_module, check_type

ATTRIBUTE = "tradeoff_applied"


def mark_applied(model: nn.Module, technique: str, **details: Any) -> nn.Module:
    """Record on ``model`` (a technique's *new* model) that ``technique`` was applied with ``details``.

    Earlier entries (already on ``model``, e.g. copied from the input by ``deepcopy``) are kept.
    Returns ``model`` so that a technique can end with ``return mark_applied(out, ...)``.
    """
    check_module("model", model)
    check_type("technique", technique, str)
    entry = {"technique": technique, **details}
    model.__dict__[ATTRIBUTE] = tuple(getattr(model, ATTRIBUTE, ())) + (entry,)
    return model


def applied(model: nn.Module) -> list[dict[str, Any]]:
    """Everything recorded by ``mark_applied`` on ``model``, oldest first (``[]`` for a plain model)."""
    check_module("model", model)
    return [dict(entry) for entry in getattr(model, ATTRIBUTE, ())]
