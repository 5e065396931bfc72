"""``eval_mode(model)``: run code with a model in eval mode and give back its train/eval flag afterwards.

Measuring must never change the thing measured: every helper that runs a model for
a number (accuracy, FLOPs, latency, teacher logits) does it inside ``eval_mode``, and
the model leaves in the mode it came in, even when the code inside raises.

Used in: ``notebooks/07_multitask_learning.ipynb``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from ._checks import check_module

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put ``models`` in eval mode for the ``with`` block; restore each one's flag in a ``finally``."""
    if not models:
        raise TypeError("eval_mode needs at least one model")
    for i, model in enumerate(models):
        check_module(f"models[{i}]", model)
    modes = [model.training for model in models]
    try:
        for model in models:
            model.eval()
        yield
    finally:
        for model, mode in zip(models, modes):
            model.train(mode)
