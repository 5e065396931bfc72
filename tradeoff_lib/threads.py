"""How many threads training and evaluation use: one place, overridable.

The course's models are tiny. With PyTorch's default (one thread per core), two such
trainings side by side — two notebooks, or a notebook beside a browser — fight for the
cores, and each runs far slower than on one thread. Measured on a 2-core AMD EPYC, one
channels-last epoch of ``SmallCNN(64)``: alone, 5.2 s on 1 thread and 2.9 s on 2; two runs
side by side, 4.7–4.9 s each on 1 thread but 11.4–11.9 s each on 2 (``SmallCNN(8)``: 0.38 s
vs. 1.3 s). So training runs on ``TRAINING_THREADS`` threads (default 1), and the notebooks
use the other cores with worker processes for independent runs (``tradeoff_lib.parallel``),
which share a busy machine gracefully. The thread count changes the order of float sums, so
it is part of every cache key. ``fit``, ``evaluate``, ``predict`` and ``train_seeds`` use it, unless

- ``$TRADEOFF_TRAINING_THREADS`` is set (read at import), or
- a notebook calls ``tl.set_training_threads(TRAIN_THREADS)`` (its parameter), or
- a call passes ``threads=`` explicitly.

Latency measurement is separate: ``measure_latency(..., threads=THREADS)`` keeps its own,
explicit thread count, because the thread count is part of what a latency means.

Used in: ``notebooks/04_learning_rate_decay.ipynb``, ``notebooks/05_early_stopping.ipynb``.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch

from ._checks import check_int

_ENV = "TRADEOFF_TRAINING_THREADS"


def _from_env() -> int:
    value = os.environ.get(_ENV, "1")
    try:
        return check_int(_ENV, int(value), min_value=1)
    except ValueError:
        raise ValueError(f"${_ENV} must be a positive integer, got {value!r}") from None


TRAINING_THREADS = _from_env()
"""Intra-op threads for training and evaluation (1: cannot oversubscribe the machine; see above)."""


def set_training_threads(threads: int) -> int:
    """Set the package-wide training/evaluation thread count; returns the previous value."""
    global TRAINING_THREADS
    check_int("threads", threads, min_value=1)
    previous, TRAINING_THREADS = TRAINING_THREADS, threads
    return previous


def get_training_threads() -> int:
    """The current package-wide training/evaluation thread count."""
    return TRAINING_THREADS


@contextmanager
def training_threads(threads: int | None = None) -> Iterator[int]:
    """Run the block with ``threads`` (default ``TRAINING_THREADS``) intra-op threads, restored afterwards."""
    n = TRAINING_THREADS if threads is None else check_int("threads", threads, min_value=1)
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
