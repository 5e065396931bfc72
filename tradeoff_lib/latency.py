"""Latency measurement done right, and real-time deadline verdicts.

``measure_latency`` times single calls with ``time.perf_counter_ns``:

1. warm-up calls first (the first calls pay for memory allocation, lazy
   initialization and caches), then ``repeats`` timed calls;
2. ``torch.inference_mode()`` (no autograd bookkeeping) and eval mode;
3. a fixed number of intra-op threads (``threads``), restored afterwards;
4. ``torch.cuda.synchronize()`` before the clock starts and before it stops when
   the input lives on a GPU, because CUDA calls return before the work is done;
5. Python's garbage collector paused while timing, so that a collection does not
   land inside one sample.

The result keeps every sample (in call order), so percentiles, the tail and the
miss rate against a deadline all come from the same measurement.

Hard real-time: *every* call must finish within the budget. A measurement can only
falsify that (one miss is enough); it never proves it, because the worst case may
simply not have happened yet. Soft real-time: a small fraction of misses is
acceptable; ``deadline_verdict(..., mode="soft", tolerance=0.01)`` allows 1 %.

Used in: every notebook but ``02_quantization``.
"""
from __future__ import annotations

import contextlib
import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ._checks import check_choice, check_float, check_int, check_type
from .modes import eval_mode
from .timing import timed

MODES = ("hard", "soft")

REPEATS = {"decision": 300, "explore": 60}
"""Default timed calls per purpose. ``"decision"``: the percentiles decide something (a budget
verdict, a choice among finalists), so the p99 must rest on a few samples above it (300 calls: 3
above the p99) and should come with a bootstrap interval. ``"explore"``: a plot or a rough
comparison where only the median matters; 60 calls give a steady p50 in a fifth of the time."""


def default_repeats(purpose: str = "decision") -> int:
    """The number of timed calls that fits ``purpose`` (``"decision"`` or ``"explore"``), see ``REPEATS``."""
    check_choice("purpose", purpose, tuple(REPEATS))
    return REPEATS[purpose]


@contextmanager
def num_threads(threads: int | None) -> Iterator[int]:
    """Use ``threads`` intra-op threads inside the block (``None``: leave as is)."""
    before = torch.get_num_threads()
    if threads is not None:
        check_int("threads", threads, min_value=1)
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency samples (ms, in call order) and their summary statistics."""

    samples_ms: tuple[float, ...]
    batch_size: int = 1
    threads: int = 1
    device: str = "cpu"
    warmup: int = 0

    def __post_init__(self):
        if len(self.samples_ms) == 0:
            raise ValueError("samples_ms is empty")

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile in ms (``q`` in [0, 100])."""
        check_float("q", q, low=0.0, high=100.0)
        return float(np.percentile(self.samples_ms, q))

    @property
    def p50_ms(self) -> float:
        return self.percentile(50)

    @property
    def p90_ms(self) -> float:
        return self.percentile(90)

    @property
    def p99_ms(self) -> float:
        return self.percentile(99)

    @property
    def max_ms(self) -> float:
        return float(np.max(self.samples_ms))

    @property
    def min_ms(self) -> float:
        return float(np.min(self.samples_ms))

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.samples_ms))

    @property
    def std_ms(self) -> float:
        return float(np.std(self.samples_ms))

    @property
    def throughput_per_s(self) -> float:
        """Samples per second implied by the mean call time and the batch size."""
        return self.batch_size * 1000.0 / self.mean_ms

    def miss_rate(self, budget_ms: float) -> float:
        """Fraction of calls slower than ``budget_ms``."""
        check_float("budget_ms", budget_ms, low=0.0, low_inclusive=False)
        return float(np.mean(np.asarray(self.samples_ms) > budget_ms))

    def summary(self) -> dict[str, float]:
        """p50/p90/p99/max/mean/std in ms, with the number of samples."""
        return {"n": len(self.samples_ms), "p50_ms": self.p50_ms, "p90_ms": self.p90_ms,
                "p99_ms": self.p99_ms, "max_ms": self.max_ms, "mean_ms": self.mean_ms, "std_ms": self.std_ms}

    def __str__(self) -> str:
        return (f"p50 {self.p50_ms:.3f} ms | p90 {self.p90_ms:.3f} | p99 {self.p99_ms:.3f} | "
                f"max {self.max_ms:.3f} (n={len(self.samples_ms)}, batch {self.batch_size}, "
                f"{self.threads} thread{'s' * (self.threads != 1)}, {self.device})")


def _input_device(example_input) -> torch.device:
    first = example_input[0] if isinstance(example_input, (tuple, list)) else example_input
    return first.device


def _batch_size(example_input) -> int:
    first = example_input[0] if isinstance(example_input, (tuple, list)) else example_input
    return int(first.shape[0]) if first.ndim else 1


def measure_latency(model: nn.Module | Callable, example_input, *, repeats: int | None = None, warmup: int = 20,
                    threads: int | None = None, purpose: str = "decision") -> LatencyStats:
    """Time ``repeats`` calls of ``model(example_input)`` after ``warmup`` untimed calls.

    Args:
        model: an ``nn.Module`` (its train/eval flag is restored afterwards) or any callable.
        example_input: a tensor (its first dimension is the batch size) or a tuple of tensors.
        repeats: timed calls (>= 1); more calls give steadier tail percentiles.
            ``None``: ``default_repeats(purpose)``.
        warmup: untimed calls before timing (>= 0).
        threads: intra-op threads for the measurement (``None``: the current setting).
        purpose: ``"decision"`` (percentiles decide something) or ``"explore"`` (fewer calls), see ``REPEATS``.

    Returns:
        ``LatencyStats`` with every sample in ms. The time spent counts as ``"latency"`` in
        ``tradeoff_lib.timing``.
    """
    repeats = default_repeats(purpose) if repeats is None else repeats
    with timed("latency"):
        return _measure_latency(model, example_input, repeats=repeats, warmup=warmup, threads=threads)


def _measure_latency(model, example_input, *, repeats: int, warmup: int, threads: int | None) -> LatencyStats:
    if not callable(model):
        raise TypeError(f"model must be an nn.Module or callable, got {type(model).__name__}")
    check_type("example_input", example_input, (torch.Tensor, tuple, list))
    check_int("repeats", repeats, min_value=1)
    check_int("warmup", warmup, min_value=0)
    device = _input_device(example_input)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    args = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    mode = eval_mode(model) if isinstance(model, nn.Module) else contextlib.nullcontext()
    samples = np.empty(repeats, dtype=np.float64)
    gc_was_enabled = gc.isenabled()
    with num_threads(threads) as n_threads, torch.inference_mode(), mode:
        try:
            for _ in range(warmup):
                model(*args)
            sync()
            gc.disable()
            for i in range(repeats):
                sync()
                start = time.perf_counter_ns()
                model(*args)
                sync()
                samples[i] = (time.perf_counter_ns() - start) / 1e6
        finally:
            if gc_was_enabled:
                gc.enable()
    return LatencyStats(tuple(samples.tolist()), batch_size=_batch_size(example_input),
                        threads=n_threads, device=str(device), warmup=warmup)


def compare_latency(models: dict[str, nn.Module | Callable], example_input, *, repeats: int | None = None,
                    warmup: int = 20, threads: int | None = None, rounds: int = 4,
                    purpose: str = "decision") -> dict[str, LatencyStats]:
    """Measure several models side by side, interleaved, so that machine noise hits all alike.

    The ``repeats`` timed calls of each model are split into ``rounds`` blocks, and the
    blocks of the models alternate (A B C A B C ...). A slow spell on a shared machine
    then lands on every model instead of on whichever happened to run at that moment,
    which keeps latency *ratios* honest.

    ``repeats=None`` takes ``default_repeats(purpose)``.

    Returns:
        ``{name: LatencyStats}`` with ``repeats`` samples each (in measurement order).
    """
    repeats = default_repeats(purpose) if repeats is None else repeats
    check_type("models", models, dict)
    if not models:
        raise ValueError("models is empty: nothing to measure")
    check_int("rounds", rounds, min_value=1)
    check_int("repeats", repeats, min_value=rounds)
    per_round = [repeats // rounds + (k < repeats % rounds) for k in range(rounds)]
    samples: dict[str, list[float]] = {name: [] for name in models}
    meta: dict[str, LatencyStats] = {}
    for k, n in enumerate(per_round):
        for name, model in models.items():
            stats = measure_latency(model, example_input, repeats=n, warmup=warmup if k == 0 else 2,
                                    threads=threads)
            samples[name].extend(stats.samples_ms)
            meta[name] = stats
    return {name: LatencyStats(tuple(samples[name]), batch_size=meta[name].batch_size, threads=meta[name].threads,
                               device=meta[name].device, warmup=warmup) for name in models}


def throughput(model: nn.Module | Callable, example_batch, *, repeats: int = 20, warmup: int = 3,
               threads: int | None = None) -> float:
    """Samples per second at the batch size of ``example_batch`` (mean over ``repeats`` calls).

    Throughput and latency answer different questions: batching raises throughput
    but every sample then waits for the whole batch.
    """
    return measure_latency(model, example_batch, repeats=repeats, warmup=warmup, threads=threads).throughput_per_s


@dataclass(frozen=True)
class DeadlineVerdict:
    """Whether measured latencies meet a deadline, hard or soft."""

    mode: str
    budget_ms: float
    tolerance: float
    n: int
    misses: int
    worst_ms: float
    p99_ms: float
    met: bool

    @property
    def miss_rate(self) -> float:
        return self.misses / self.n

    def __str__(self) -> str:
        verdict = "MET" if self.met else "MISSED"
        rule = "every call" if self.mode == "hard" else f"miss rate <= {self.tolerance:.2%}"
        return (f"{self.mode} deadline {self.budget_ms:g} ms ({rule}): {verdict} - "
                f"{self.misses}/{self.n} calls over budget ({self.miss_rate:.2%}), worst {self.worst_ms:.3f} ms")


def deadline_verdict(stats: LatencyStats, budget_ms: float, *, mode: str = "soft",
                     tolerance: float = 0.01) -> DeadlineVerdict:
    """Judge ``stats`` against a latency budget.

    ``mode="hard"``: met only if every measured call is within ``budget_ms``
    (``tolerance`` is ignored). ``mode="soft"``: met if the fraction of calls over
    budget is at most ``tolerance`` (in [0, 1)).
    """
    check_type("stats", stats, LatencyStats)
    check_float("budget_ms", budget_ms, low=0.0, low_inclusive=False)
    check_choice("mode", mode, MODES)
    check_float("tolerance", tolerance, low=0.0, high=1.0, high_inclusive=False)
    samples = np.asarray(stats.samples_ms)
    misses = int(np.sum(samples > budget_ms))
    met = misses == 0 if mode == "hard" else misses / len(samples) <= tolerance
    return DeadlineVerdict(mode=mode, budget_ms=float(budget_ms), tolerance=0.0 if mode == "hard" else tolerance,
                           n=len(samples), misses=misses, worst_ms=float(samples.max()),
                           p99_ms=stats.p99_ms, met=bool(met))


def deadline_latency_ms(stats: LatencyStats, mode: str = "soft", tolerance: float = 0.01) -> float:
    """The latency a deadline of this kind must cover: the statistic a budget is compared with.

    ``mode="hard"``: the slowest measured call. ``mode="soft"``: the ``(1 - tolerance)``
    quantile (about p99 at ``tolerance=0.01``), taken as the observed sample that leaves
    exactly ``floor(tolerance * n)`` calls slower. It is the smallest budget that
    ``deadline_verdict`` accepts: any budget at or above it is met, any below it is missed.
    """
    check_type("stats", stats, LatencyStats)
    check_choice("mode", mode, MODES)
    check_float("tolerance", tolerance, low=0.0, high=1.0, high_inclusive=False)
    if mode == "hard":
        return stats.max_ms
    ordered = np.sort(np.asarray(stats.samples_ms))
    allowed_misses = int(np.floor(tolerance * len(ordered) + 1e-9))
    return float(ordered[len(ordered) - 1 - allowed_misses])


def percentile_ci(stats: LatencyStats, q: float = 99.0, *, n_boot: int = 2000, confidence: float = 0.95,
                  seed: int = 0):
    """A bootstrap confidence interval for the ``q``-th latency percentile (percentile method).

    A tail percentile from a few hundred calls rests on a handful of samples (p99 of 300
    calls: the 3 slowest), so its interval is wide; it narrows only with more calls.

    Returns:
        ``metrics.ConfidenceInterval`` (value = the percentile of all samples).
    """
    from .metrics import ConfidenceInterval

    check_type("stats", stats, LatencyStats)
    check_float("q", q, low=0.0, high=100.0)
    check_int("n_boot", n_boot, min_value=10)
    check_float("confidence", confidence, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    samples = np.asarray(stats.samples_ms)
    rng = np.random.default_rng(seed)
    boot = np.percentile(samples[rng.integers(0, len(samples), size=(n_boot, len(samples)))], q, axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return ConfidenceInterval(value=stats.percentile(q), low=float(low), high=float(high), confidence=confidence)


def frame_budget_ms(fps: float) -> float:
    """The time per frame at ``fps`` frames per second: ``1000 / fps`` ms (30 fps -> 33.3 ms)."""
    return 1000.0 / check_float("fps", fps, low=0.0, low_inclusive=False)
