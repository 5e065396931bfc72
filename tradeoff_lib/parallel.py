"""Run independent, seeded runs (training, or scoring copies of a model) in worker processes: ``map_in_processes``.

Small models train single-threaded fastest, so on a machine with ``k`` cores ``k``
independent runs (seeds, presets, learning rates) can go side by side. Workers are
forked (Linux), so ``fn`` and ``items`` need not be picklable (lambdas and models are
fine); only the results travel back, pickled. Each run must seed itself: then the
results equal those of a plain loop, in the same order, which the tests check.

Used in: every notebook but ``01_compression_lowrank``, ``02_quantization``,
``08_knowledge_distillation``, ``09_deployment_runtimes``, ``10_capstone_balancing``.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import torch

from ._checks import check_int
from .timing import timed

_WORK: list = []   # (fn, items) that forked workers read by index


def _call(i: int):
    fn, items = _WORK[0]
    torch.set_num_threads(1)
    return fn(items[i])


def can_fork() -> bool:
    """True where worker processes can be forked (Linux); elsewhere ``map_in_processes`` runs a plain loop."""
    return "fork" in multiprocessing.get_all_start_methods()


def map_in_processes(fn: Callable, items: Sequence, workers: int = 1, *, kind: str = "training") -> list:
    """``[fn(item) for item in items]``, in up to ``workers`` single-threaded forked processes.

    ``workers=1`` (or one item, or no fork) is the plain loop in this process. The call's
    wall time counts as ``kind`` in ``tradeoff_lib.timing`` (the workers' own stopwatches
    die with them).
    """
    global _WORK
    check_int("workers", workers, min_value=1)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    items = list(items)
    with timed(kind):
        if workers == 1 or len(items) < 2 or not can_fork():
            return [fn(item) for item in items]
        _WORK = [(fn, items)]
        try:
            with ProcessPoolExecutor(min(workers, len(items)), mp_context=multiprocessing.get_context("fork")) as pool:
                return list(pool.map(_call, range(len(items))))
        finally:
            _WORK = []
