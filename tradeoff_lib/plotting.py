"""Plots: the accuracy-latency trade-off with its Pareto front, latency histograms, training curves.

Every function draws on a Matplotlib ``Axes`` (a new figure if none is given),
returns the ``Figure``, and with ``path`` also saves a PNG (atomically).

Used in: every notebook.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ._checks import check_choice, check_float, check_type
from .io import atomic_write_bytes
from .latency import LatencyStats
from .tradeoff import LATENCY_FIELDS, QUALITY_FIELDS, Result, pareto_front


def _axes(ax, figsize=(6.4, 4.2)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG atomically (``io.atomic_write_bytes``)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


def _log_x(ax) -> None:
    """A log x-axis labelled with plain numbers (0.2, 0.3, 0.5, 1, 2 ...) instead of powers of ten."""
    from matplotlib import ticker

    ax.set_xscale("log")
    low, high = ax.get_xlim()
    nice = [m * 10.0 ** e for e in range(-4, 5) for m in (1, 2, 3, 5)]
    ticks = [t for t in nice if low <= t <= high]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


_LABELS = {"latency_p50_ms": "batch-1 latency p50 (ms)", "latency_p99_ms": "batch-1 latency p99 (ms)",
           "latency_max_ms": "batch-1 latency max (ms)", "f1": "test macro F1 (95% CI)", "accuracy": "test accuracy",
           "val_f1": "validation macro F1", "val_accuracy": "validation accuracy"}


def plot_tradeoff(results: Iterable[Result], *, budget_ms: float | None = None, x: str = "latency_p50_ms",
                  y: str = "f1", ax=None, title: str | None = None, annotate: bool = True, logx: bool = False,
                  path: str | Path | None = None):
    """Scatter of quality vs. latency, one colour per technique, the Pareto front and the budget.

    F1 error bars are the bootstrap 95 % intervals; the dashed line joins the Pareto
    front; the red line is the latency budget (models left of it are fast enough).
    """
    results = list(results)
    if not results:
        raise ValueError("results is empty: nothing to plot")
    check_choice("x", x, LATENCY_FIELDS)
    check_choice("y", y, QUALITY_FIELDS)
    fig, ax = _axes(ax)
    techniques = list(dict.fromkeys(r.technique for r in results))
    colours = dict(zip(techniques, [f"C{i % 10}" for i in range(len(techniques))]))
    for tech in techniques:
        rs = [r for r in results if r.technique == tech]
        xs, ys = np.array([getattr(r, x) for r in rs]), np.array([getattr(r, y) for r in rs])
        if y == "f1":
            err = np.array([[r.f1 - r.f1_low for r in rs], [r.f1_high - r.f1 for r in rs]])
            ax.errorbar(xs, ys, yerr=err, fmt="o", color=colours[tech], label=tech, capsize=3, alpha=0.85)
        else:
            ax.plot(xs, ys, "o", color=colours[tech], label=tech)
        if annotate:
            for r, xi, yi in zip(rs, xs, ys):
                ax.annotate(r.name, (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
    front = pareto_front(results, x=x, y=y)
    ax.plot([getattr(r, x) for r in front], [getattr(r, y) for r in front], "--", color="0.4",
            label="Pareto front", zorder=0)
    if budget_ms is not None:
        check_float("budget_ms", budget_ms, low=0.0, low_inclusive=False)
        ax.axvline(budget_ms, color="red", lw=1.2, label=f"budget {budget_ms:.3g} ms")
    if logx:
        _log_x(ax)
    ax.set_xlabel(_LABELS[x])
    ax.set_ylabel(_LABELS[y])
    ax.set_title(title or "Accuracy vs. real-time: higher and further left is better")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_latency_histogram(stats: LatencyStats | Mapping[str, LatencyStats], *, budget_ms: float | None = None,
                           ax=None, bins: int = 60, title: str | None = None, path: str | Path | None = None):
    """Histogram of per-call latencies with p50/p99 marks and the deadline.

    ``stats`` may be one ``LatencyStats`` or a ``{label: LatencyStats}`` mapping to overlay.
    """
    series = {"latency": stats} if isinstance(stats, LatencyStats) else dict(stats)
    if not series:
        raise ValueError("stats is empty: nothing to plot")
    for label, s in series.items():
        check_type(f"stats[{label!r}]", s, LatencyStats)
    fig, ax = _axes(ax)
    all_samples = np.concatenate([s.samples_ms for s in series.values()])
    edges = np.linspace(all_samples.min(), np.percentile(all_samples, 99.5), bins)
    for i, (label, s) in enumerate(series.items()):
        ax.hist(np.clip(s.samples_ms, None, edges[-1]), bins=edges, alpha=0.55, color=f"C{i}",
                label=f"{label}: p50 {s.p50_ms:.3f}, p99 {s.p99_ms:.3f} ms")
        ax.axvline(s.p99_ms, color=f"C{i}", ls=":", lw=1)
    if budget_ms is not None:
        check_float("budget_ms", budget_ms, low=0.0, low_inclusive=False)
        ax.axvline(budget_ms, color="red", lw=1.2, label=f"deadline {budget_ms:g} ms")
    ax.set_xlabel("latency per call (ms; the last bin holds the slowest 0.5%)")
    ax.set_ylabel("calls")
    ax.set_title(title or "Latency distribution (dotted: p99)")
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_history(histories: Mapping[str, object], *, keys: Sequence[str] = ("train_loss", "val_accuracy"),
                 path: str | Path | None = None):
    """Training curves: one panel per log entry, one line per run (``{label: History}``)."""
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("histories is empty: nothing to plot")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), layout="constrained", squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (label, h) in enumerate(histories.items()):
            values = h[key]
            ax.plot(range(1, len(values) + 1), values, marker=".", color=f"C{i % 10}", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_budget_sweep(sweep: Sequence[tuple[float, Result | None]], *, ax=None, budget_ms: float | None = None,
                      path: str | Path | None = None):
    """The chosen model's F1 as the latency budget loosens (from ``tradeoff.budget_sweep``), labelled by name."""
    sweep = list(sweep)
    if not sweep:
        raise ValueError("sweep is empty: nothing to plot")
    fig, ax = _axes(ax)
    xs = [b for b, r in sweep if r is not None]
    ys = [r.f1 for _, r in sweep if r is not None]
    ax.step(xs, ys, where="post", color="C0")
    ax.plot(xs, ys, "o", color="C0")
    last = None
    for b, r in sweep:
        if r is not None and r.name != last:
            ax.annotate(r.name, (b, r.f1), textcoords="offset points", xytext=(3, 5), fontsize=7, rotation=20)
            last = r.name
    none = [b for b, r in sweep if r is None]
    if none:
        ax.plot(none, [min(ys, default=0)] * len(none), "x", color="red", label="nothing fits")
        ax.legend(fontsize=8, loc="lower right")
    if budget_ms is not None:
        ax.axvline(check_float("budget_ms", budget_ms, low=0.0, low_inclusive=False), color="red", lw=1)
    _log_x(ax)
    ax.set_xlabel("latency budget (ms, log scale)")
    ax.set_ylabel("macro F1 of the chosen model")
    ax.set_title("Which model to ship as the budget loosens")
    ax.grid(alpha=0.3)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_steps(steps: Sequence[Result], *, latency: str = "latency_p50_ms", path: str | Path | None = None):
    """Two bar charts along a ladder of steps: latency and macro-F1 of each step (a waterfall view)."""
    import matplotlib.pyplot as plt

    steps = list(steps)
    if not steps:
        raise ValueError("steps is empty: nothing to plot")
    check_choice("latency", latency, LATENCY_FIELDS)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    names = [r.name for r in steps]
    a1.barh(names, [getattr(r, latency) for r in steps], color="C1")
    a1.set_xlabel(_LABELS[latency])
    a1.invert_yaxis()
    err = np.array([[r.f1 - r.f1_low for r in steps], [r.f1_high - r.f1 for r in steps]])
    a2.barh(names, [r.f1 for r in steps], xerr=err, color="C0", capsize=3)
    a2.set_xlim(max(0.0, min(r.f1_low for r in steps) - 0.02), 1.0)
    a2.set_xlabel(_LABELS["f1"])
    a2.invert_yaxis()
    a2.set_yticklabels([])
    fig.suptitle("What each step contributed (top: where we start)")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_lines(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, hline: float | None = None,
               hline_label: str = "baseline", xlabel: str = "", ylabel: str = "", title: str = "",
               logx: bool = False, xticks: Sequence[float] | None = None, marker: str = "o", ax=None,
               errors: Mapping[str, Sequence[float]] | None = None, path: str | Path | None = None):
    """Curves ``{label: (xs, ys)}`` with markers, an optional reference line, labels; the notebooks' sweep plots.

    ``errors`` (``{label: yerr}``, e.g. the spread over seeds) draws error bars on those curves.
    """
    if not series:
        raise ValueError("series is empty: nothing to plot")
    errors = dict(errors or {})
    unknown = sorted(set(errors) - set(series))
    if unknown:
        raise ValueError(f"errors names series that are not plotted: {unknown}")
    fig, ax = _axes(ax, figsize=(6.4, 3.6))
    for label, (xs, ys) in series.items():
        if len(xs) != len(ys):
            raise ValueError(f"series {label!r} has {len(xs)} x values and {len(ys)} y values")
        if label in errors:
            ax.errorbar(list(xs), list(ys), yerr=list(errors[label]), marker=marker or None, ls="-", capsize=3,
                        label=label)
        else:
            ax.plot(list(xs), list(ys), marker=marker or None, ls="-", label=label)
    if hline is not None:
        ax.axhline(hline, color="0.4", ls=":", label=hline_label)
    if logx:
        ax.set_xscale("log")
    if xticks is not None:
        ax.set_xticks(list(xticks), [f"{t:g}" for t in xticks])
        ax.minorticks_off()
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_image_grid(images, titles: Sequence[str], *, path: str | Path | None = None):
    """One row of grayscale images (``(N, 1, H, W)`` or ``(N, H, W)``) with a title each."""
    import matplotlib.pyplot as plt

    if len(images) != len(titles) or len(titles) == 0:
        raise ValueError(f"need one title per image and at least one image, got {len(images)} images "
                         f"and {len(titles)} titles")
    fig, axes = plt.subplots(1, len(titles), figsize=(1.15 * len(titles), 1.6), layout="constrained", squeeze=False)
    for ax, image, title in zip(axes[0], images, titles):
        ax.imshow(image[0] if image.ndim == 3 else image, cmap="gray_r")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_tradeoff_panels(panels: Mapping[str, Iterable[Result]], *, path: str | Path | None = None,
                         **tradeoff_kwargs):
    """``plot_tradeoff`` side by side, one panel per ``{title: results}`` (e.g. one per task)."""
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("panels is empty: nothing to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), layout="constrained", squeeze=False)
    for ax, (title, results) in zip(axes[0], panels.items()):
        plot_tradeoff(list(results), ax=ax, title=title, **tradeoff_kwargs)
    if path is not None:
        save_figure(fig, path)
    return fig
