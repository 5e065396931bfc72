"""Result records, the Pareto front, selection under a budget, and the results ledger.

A ``Result`` is one measured model: validation accuracy and macro-F1 (used to *choose*),
test accuracy and macro-F1 with a bootstrap 95 % CI (only *reported*), batch-1 latency
percentiles, size, FLOPs and parameters. Every notebook appends its results to one
ledger (``ledger.csv`` in the report folder).

Choose on validation, report on test: ``select``, ``fastest_within``, ``budget_sweep``
and (by default) ``pareto_front`` rank models by their validation scores and refuse
test scores. Picking the best of many noisy test scores and then reporting that same
score is biased upwards (the winner's curse); the test set is touched once per
reported model.

Pareto front: a model is on the front if no other model is both at least as fast
and at least as accurate (and strictly better in one of the two). Only models on
the front are worth shipping; which one depends on the latency budget.

Used in: every notebook.
"""
from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

from torch import nn

from ._checks import check_choice, check_float, check_module, check_type
from .data import eval_loader
from .cost import count_flops, count_nonzero_params, count_params, size_bytes
from .io import atomic_write_bytes
from .latency import LatencyStats, measure_latency
from .metrics import accuracy, bootstrap_ci, f1_score
from .training import predict

LEDGER_NAME = "ledger.csv"


@dataclass(frozen=True)
class Result:
    """One measured model. ``val_*`` come from the validation split (for choosing), ``accuracy``,
    ``f1`` and its CI from the test split (for reporting). Latencies are per call at batch 1, in ms."""

    name: str
    technique: str
    notebook: str
    val_accuracy: float
    val_f1: float
    accuracy: float
    f1: float
    f1_low: float
    f1_high: float
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    size_bytes: int
    params: int
    nonzero_params: int
    flops: int | None = None
    seed: int = 0
    dataset: str = "mnist5k"
    threads: int = 1
    notes: str = ""

    def to_row(self) -> dict[str, str]:
        return {f.name: "" if getattr(self, f.name) is None else str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "Result":
        types = {"val_accuracy": float, "val_f1": float, "accuracy": float, "f1": float, "f1_low": float,
                 "f1_high": float, "latency_p50_ms": float,
                 "latency_p99_ms": float, "latency_max_ms": float, "size_bytes": int, "params": int,
                 "nonzero_params": int, "flops": int, "seed": int, "threads": int}
        kwargs = {}
        for f in fields(cls):
            value = row.get(f.name, "")
            kwargs[f.name] = (None if value == "" else types[f.name](value)) if f.name in types else value
        return cls(**kwargs)

    def replace(self, **changes) -> "Result":
        return dataclasses.replace(self, **changes)

    def with_latency(self, stats: LatencyStats) -> "Result":
        """The same result with the latencies of another measurement (e.g. the finalists' re-timing run)."""
        check_type("stats", stats, LatencyStats)
        return self.replace(latency_p50_ms=stats.p50_ms, latency_p99_ms=stats.p99_ms, latency_max_ms=stats.max_ms,
                            threads=stats.threads)


def measure(model: nn.Module, splits, *, name: str, technique: str, notebook: str,
            latency: LatencyStats | None = None, flops_model: nn.Module | None = None,
            repeats: int = 200, warmup: int = 20, threads: int = 1, seed: int = 0,
            n_boot: int = 1000, notes: str = "") -> Result:
    """Score ``model`` on ``splits.val`` and ``splits.test`` and time it at batch 1: a ``Result``.

    The model is not changed. Validation accuracy/F1 are for choosing between models; test
    accuracy and F1 (with a bootstrap 95 % CI) are for reporting the chosen ones.

    Args:
        latency: reuse a measurement instead of timing again.
        flops_model: the float model to count FLOPs on when ``model`` is quantized
            (FLOPs are left empty if counting fails).
        repeats, warmup, threads: passed to ``measure_latency``.
    """
    check_module("model", model)
    for arg in ("name", "technique", "notebook"):
        check_type(arg, locals()[arg], str)
    v_true, v_pred = predict(model, eval_loader(splits.val))
    y_true, y_pred = predict(model, eval_loader(splits.test))
    ci = bootstrap_ci(y_true, y_pred, "f1_macro", n_boot=n_boot, seed=seed,
                      num_classes=splits.info.num_classes)
    x = splits.example_input(1)
    stats = latency or measure_latency(model, x, repeats=repeats, warmup=warmup, threads=threads)
    try:
        flops = count_flops(flops_model or model, x)
    except Exception:  # quantized kernels are invisible to the counter
        flops = None
    return Result(name=name, technique=technique, notebook=notebook, val_accuracy=accuracy(v_true, v_pred),
                  val_f1=f1_score(v_true, v_pred, num_classes=splits.info.num_classes),
                  accuracy=accuracy(y_true, y_pred),
                  f1=ci.value, f1_low=ci.low, f1_high=ci.high, latency_p50_ms=stats.p50_ms,
                  latency_p99_ms=stats.p99_ms, latency_max_ms=stats.max_ms, size_bytes=size_bytes(model),
                  params=count_params(model), nonzero_params=count_nonzero_params(model),
                  flops=flops if flops else None, seed=seed, dataset=splits.info.name,
                  threads=stats.threads, notes=notes)


LATENCY_FIELDS = ("latency_p50_ms", "latency_p99_ms", "latency_max_ms")
SELECTION_FIELDS = ("val_f1", "val_accuracy")
"""The scores a model may be *chosen* by: validation only."""
QUALITY_FIELDS = SELECTION_FIELDS + ("f1", "accuracy")
"""Every score a ``Result`` carries (test scores are for reporting and plotting)."""


def _check_selection_metric(name: str, value: str) -> str:
    if value in ("f1", "accuracy"):
        raise ValueError(f"{name} must be a validation score ({', '.join(map(repr, SELECTION_FIELDS))}), got "
                         f"{value!r}: choosing by a test score and then reporting it is biased upwards")
    return check_choice(name, value, SELECTION_FIELDS)


def pareto_front(results: Iterable[Result], *, x: str = "latency_p50_ms", y: str = "val_f1") -> list[Result]:
    """Results not dominated by any other (lower ``x`` and higher ``y`` are better), sorted by ``x``.

    ``y`` defaults to validation F1 (the front the choice is made on); ``y="f1"`` draws the test front.
    """
    check_choice("x", x, LATENCY_FIELDS + ("size_bytes", "flops", "params"))
    check_choice("y", y, QUALITY_FIELDS)
    front, best_y = [], float("-inf")
    for r in sorted(results, key=lambda r: (getattr(r, x), -getattr(r, y))):
        if getattr(r, y) > best_y:
            front.append(r)
            best_y = getattr(r, y)
    return front


def select(results: Iterable[Result], *, budget_ms: float | None = None, latency: str = "latency_p99_ms",
           min_accuracy: float | None = None, objective: str = "val_f1") -> Result | None:
    """The best result by a validation score within a latency budget and above a validation-accuracy floor.

    Args:
        budget_ms: the latency limit (``None``: no limit).
        latency: which latency must fit the budget: ``latency_p99_ms`` (soft real-time,
            1 % may miss), ``latency_max_ms`` (hard: every measured call), or ``latency_p50_ms``.
        min_accuracy: floor on *validation* accuracy in [0, 1] (``None``: no floor).
        objective: maximize ``"val_f1"`` or ``"val_accuracy"``; ties go to the faster model.
            Test scores are refused (``ValueError``): report them, never choose by them.

    Returns:
        The chosen ``Result``, or ``None`` when nothing meets both constraints.
    """
    check_choice("latency", latency, LATENCY_FIELDS)
    _check_selection_metric("objective", objective)
    if budget_ms is not None:
        check_float("budget_ms", budget_ms, low=0.0, low_inclusive=False)
    if min_accuracy is not None:
        check_float("min_accuracy", min_accuracy, low=0.0, high=1.0)
    feasible = [r for r in results
                if (budget_ms is None or getattr(r, latency) <= budget_ms)
                and (min_accuracy is None or r.val_accuracy >= min_accuracy)]
    return max(feasible, key=lambda r: (getattr(r, objective), -getattr(r, latency)), default=None)


def fastest_within(results: Iterable[Result], reference: Result, *, tolerance: float = 0.01,
                   metric: str = "val_accuracy", latency: str = "latency_p50_ms") -> Result | None:
    """The fastest result whose validation ``metric`` is at most ``tolerance`` below ``reference``'s.

    This is how accuracy-driven tuners pick a model: "lose at most 1 point, then be as fast as possible".
    """
    check_type("reference", reference, Result)
    check_float("tolerance", tolerance, low=0.0, high=1.0)
    _check_selection_metric("metric", metric)
    check_choice("latency", latency, LATENCY_FIELDS)
    floor = getattr(reference, metric) - tolerance
    ok = [r for r in results if getattr(r, metric) >= floor - 1e-12]
    return min(ok, key=lambda r: (getattr(r, latency), -getattr(r, metric)), default=None)


def budget_sweep(results: Iterable[Result], budgets_ms: Sequence[float], *, latency: str = "latency_p99_ms",
                 min_accuracy: float | None = None, objective: str = "val_f1") -> list[tuple[float, Result | None]]:
    """``select`` for every budget in ``budgets_ms``: how the best model changes from tight to loose budgets."""
    results = list(results)
    if len(budgets_ms) == 0:
        raise ValueError("budgets_ms is empty")
    return [(float(b), select(results, budget_ms=b, latency=latency, min_accuracy=min_accuracy, objective=objective))
            for b in budgets_ms]


def step_table(steps: Sequence[Result], *, latency: str = "latency_p50_ms"):
    """What each step of a ladder contributed: latency, validation F1 (what a step is judged by), test F1
    (reported), size, and their changes from the step before.

    ``steps`` are ordered (baseline first); each row reports the step's values, the change
    against the previous step and the cumulative speedup and size ratio against the first.
    """
    import pandas as pd

    steps = list(steps)
    if not steps:
        raise ValueError("steps is empty")
    check_choice("latency", latency, LATENCY_FIELDS)
    first, rows = steps[0], []
    for prev, r in zip([None] + steps[:-1], steps):
        rows.append({"step": r.name, "latency_ms": round(getattr(r, latency), 3),
                     "d_latency_ms": None if prev is None else round(getattr(r, latency) - getattr(prev, latency), 3),
                     "val_f1": round(r.val_f1, 4),
                     "d_val_f1_pts": None if prev is None else round(100 * (r.val_f1 - prev.val_f1), 2),
                     "f1": round(r.f1, 4), "d_f1_pts": None if prev is None else round(100 * (r.f1 - prev.f1), 2),
                     "size_kb": round(r.size_bytes / 1024, 1),
                     "speedup_vs_first": round(getattr(first, latency) / getattr(r, latency), 2),
                     "smaller_vs_first": round(first.size_bytes / r.size_bytes, 1)})
    return pd.DataFrame(rows)


HEADLINE_NAME = "headline.json"


def save_headline(report_dir: str | Path, *, baseline: Result, chosen: Result | None, requirement: dict,
                  fastest: Result | None = None, extra: dict | None = None) -> Path:
    """Write the capstone's answer (requirement, baseline, chosen model, ratios) to ``headline.json``.

    Rows carry the ledger's field names (validation and test scores, latencies); the choice
    is always made on validation scores, recorded as ``"selected_on": "validation"``.
    ``extra`` adds more keys (e.g. a second, default-trained baseline). The report's
    ``index.html`` and the README's headline table are built from this file.
    """
    import json

    check_type("baseline", baseline, Result)
    check_type("requirement", requirement, dict)
    data = {"requirement": requirement, "selected_on": "validation", **(extra or {}), "baseline": baseline.to_row(),
            "chosen": None if chosen is None else {**chosen.to_row(), **ratio(baseline, chosen)},
            "fastest_within_tolerance": None if fastest is None else {**fastest.to_row(), **ratio(baseline, fastest)}}
    return atomic_write_bytes(Path(report_dir) / HEADLINE_NAME, json.dumps(data, indent=2).encode())


class Ledger:
    """A CSV file of ``Result`` rows shared by all notebooks of a report.

    ``append`` replaces rows with the same ``(notebook, name, seed)``, so re-running a
    notebook updates its rows instead of duplicating them. Every write goes to a
    temporary file that is then renamed, so a crash never leaves half a ledger.
    """

    def __init__(self, report_dir: str | Path, filename: str = LEDGER_NAME):
        check_type("report_dir", report_dir, (str, Path))
        self.path = Path(report_dir) / filename

    def read(self) -> list[Result]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [n.name for n in fields(Result) if n.default is dataclasses.MISSING
                       and n.name not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{self.path} lacks the column(s) {', '.join(missing)} (written by an older "
                                 "version of tradeoff_lib?); delete it and rerun the notebooks")
            return [Result.from_row(row) for row in reader]

    def append(self, results: Result | Sequence[Result]) -> list[Result]:
        """Add or replace rows; returns the whole ledger."""
        new = [results] if isinstance(results, Result) else list(results)
        for r in new:
            check_type("results", r, Result)
        key = lambda r: (r.notebook, r.name, r.seed)  # noqa: E731
        replaced = {key(r) for r in new}
        rows = [r for r in self.read() if key(r) not in replaced] + new
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(Result)], lineterminator="\n")
        writer.writeheader()
        writer.writerows(r.to_row() for r in rows)
        atomic_write_bytes(self.path, buffer.getvalue().encode())
        return rows


def results_table(results: Iterable[Result], *, columns: Sequence[str] | None = None):
    """A pandas DataFrame for display: validation scores, test accuracy and F1 with its CI, latency in ms,
    size in KB, MFLOPs."""
    import pandas as pd

    rows = []
    for r in results:
        rows.append({"name": r.name, "technique": r.technique, "val_acc": round(r.val_accuracy, 4),
                     "val_f1": round(r.val_f1, 4), "accuracy": round(r.accuracy, 4),
                     "f1": round(r.f1, 4), "f1_95ci": f"[{r.f1_low:.3f}, {r.f1_high:.3f}]",
                     "p50_ms": round(r.latency_p50_ms, 3), "p99_ms": round(r.latency_p99_ms, 3),
                     "size_kb": round(r.size_bytes / 1024, 1), "params": r.params,
                     "mflops": None if r.flops is None else round(r.flops / 1e6, 2), "notebook": r.notebook})
    frame = pd.DataFrame(rows)
    return frame[list(columns)] if columns is not None else frame


def ratio(baseline: Result, other: Result) -> dict[str, float]:
    """How many times faster (p50) and smaller ``other`` is than ``baseline``, and the accuracy change in points."""
    check_type("baseline", baseline, Result)
    check_type("other", other, Result)
    return {"speedup_p50": baseline.latency_p50_ms / other.latency_p50_ms,
            "size_ratio": baseline.size_bytes / other.size_bytes,
            "accuracy_change_pts": 100 * (other.accuracy - baseline.accuracy),
            "f1_change_pts": 100 * (other.f1 - baseline.f1)}
