"""Accuracy, precision, recall, F1 and bootstrap confidence intervals.

For class ``c`` with true positives ``TP``, false positives ``FP`` and false
negatives ``FN`` (read off the confusion matrix ``C``, rows = true, columns = predicted):

    precision_c = TP / (TP + FP)      recall_c = TP / (TP + FN)
    F1_c = 2 · precision_c · recall_c / (precision_c + recall_c) = 2TP / (2TP + FP + FN)

``average="macro"`` is the unweighted mean over classes, ``"weighted"`` weights by
each class's support (TP + FN), ``"micro"`` pools the counts of all classes (for
single-label multi-class data micro precision = recall = F1 = accuracy), and
``None`` returns the per-class values. A 0/0 gives ``zero_division`` (default 0),
as in scikit-learn, whose results these functions reproduce (see the tests).

All metrics are computed from confusion matrices, which may carry leading batch
dimensions; that is what makes the bootstrap fast.

Used in: ``notebooks/00_measuring_realtime_and_accuracy.ipynb`` and every later notebook.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ._checks import check_choice, check_float, check_int

AVERAGES = ("macro", "micro", "weighted", None)
METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_micro", "f1_weighted")


def _labels(name: str, y) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels, got shape {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)) and y.min() >= 0):
            raise ValueError(f"{name} must hold non-negative integer class labels")
    return y.astype(np.int64)


def _pair(y_true, y_pred, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    t, p = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if len(t) != len(p):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(t)} and {len(p)}")
    if len(t) == 0:
        raise ValueError("y_true is empty")
    seen = int(max(t.max(), p.max())) + 1
    if num_classes is None:
        return t, p, seen
    check_int("num_classes", num_classes, min_value=1)
    if seen > num_classes:
        raise ValueError(f"labels go up to {seen - 1}, which does not fit num_classes={num_classes}")
    return t, p, num_classes


def _present(t: np.ndarray, p: np.ndarray, k: int, num_classes: int | None) -> np.ndarray:
    """Which classes count in macro averages: all ``num_classes``, else those seen (as sklearn)."""
    if num_classes is not None:
        return np.ones(k, dtype=bool)
    mask = np.zeros(k, dtype=bool)
    mask[t] = True
    mask[p] = True
    return mask


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true class ``i`` predicted as ``j``."""
    t, p, k = _pair(y_true, y_pred, num_classes)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def _from_confusion(cm: np.ndarray, metric: str, average: str | None, mask: np.ndarray,
                    zero_division: float) -> np.ndarray:
    """A metric from confusion matrices of shape (..., K, K)."""
    if metric == "accuracy":
        return np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)[..., mask]
    fp = cm.sum(axis=-2)[..., mask] - tp
    fn = cm.sum(axis=-1)[..., mask] - tp
    if average == "micro":
        tp, fp, fn = tp.sum(-1), fp.sum(-1), fn.sum(-1)
    num = {"precision": tp, "recall": tp, "f1": 2 * tp}[metric]
    den = {"precision": tp + fp, "recall": tp + fn, "f1": 2 * tp + fp + fn}[metric]
    values = _divide(num, den, zero_division)
    if average in (None, "micro"):
        return values
    if average == "macro":
        return values.mean(-1)
    support = tp + fn
    total = support.sum(-1, keepdims=True)
    return _divide((values * support).sum(-1, keepdims=True), total, zero_division)[..., 0]


def _metric(metric: str, y_true, y_pred, average, num_classes, zero_division):
    check_choice("average", average, AVERAGES)
    check_float("zero_division", zero_division, low=0.0, high=1.0)
    t, p, k = _pair(y_true, y_pred, num_classes)
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    out = _from_confusion(cm, metric, average, _present(t, p, k, num_classes), zero_division)
    return out if average is None else float(out)


def accuracy(y_true, y_pred) -> float:
    """Fraction of correct predictions: ``trace(C) / sum(C)``."""
    t, p, _ = _pair(y_true, y_pred, None)
    return float(np.mean(t == p))


def precision(y_true, y_pred, *, average: str | None = "macro", num_classes: int | None = None,
              zero_division: float = 0.0):
    """Precision ``TP / (TP + FP)``, averaged as ``average`` says (``None``: per class)."""
    return _metric("precision", y_true, y_pred, average, num_classes, zero_division)


def recall(y_true, y_pred, *, average: str | None = "macro", num_classes: int | None = None,
           zero_division: float = 0.0):
    """Recall ``TP / (TP + FN)``, averaged as ``average`` says (``None``: per class)."""
    return _metric("recall", y_true, y_pred, average, num_classes, zero_division)


def f1_score(y_true, y_pred, *, average: str | None = "macro", num_classes: int | None = None,
             zero_division: float = 0.0):
    """F1 ``2TP / (2TP + FP + FN)``, the harmonic mean of precision and recall."""
    return _metric("f1", y_true, y_pred, average, num_classes, zero_division)


def classification_summary(y_true, y_pred, num_classes: int | None = None) -> dict[str, float]:
    """Accuracy and macro/micro/weighted precision, recall and F1 in one dict."""
    out = {"accuracy": accuracy(y_true, y_pred)}
    for name in METRICS[1:]:
        metric, average = name.split("_")
        out[name] = _metric(metric, y_true, y_pred, average, num_classes, 0.0)
    return out


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a bootstrap interval ``[low, high]``."""

    value: float
    low: float
    high: float
    confidence: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def bootstrap_ci(y_true, y_pred, metric: str | Callable = "f1_macro", *, n_boot: int = 1000,
                 confidence: float = 0.95, seed: int = 0, num_classes: int | None = None) -> ConfidenceInterval:
    """Percentile bootstrap confidence interval of a metric on a test set.

    Resamples the test set with replacement ``n_boot`` times, computes the metric on
    each resample, and reports the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles. It shows how much a score could move on another test set of this size.

    Args:
        metric: one of ``METRICS`` (fast, vectorized) or a callable ``(y_true, y_pred) -> float``.
        n_boot: number of resamples (>= 100).
        confidence: interval coverage in (0, 1).
        seed: seed of the resampling.

    The time spent counts as ``"bootstrap"`` in ``tradeoff_lib.timing``.
    """
    from .timing import timed

    with timed("bootstrap"):
        return _bootstrap_ci(y_true, y_pred, metric, n_boot=n_boot, confidence=confidence, seed=seed,
                             num_classes=num_classes)


def _bootstrap_ci(y_true, y_pred, metric, *, n_boot, confidence, seed, num_classes) -> ConfidenceInterval:
    check_int("n_boot", n_boot, min_value=100)
    check_float("confidence", confidence, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_int("seed", seed, min_value=0)
    t, p, k = _pair(y_true, y_pred, num_classes)
    rng = np.random.default_rng(seed)
    if callable(metric):
        value = float(metric(t, p))
        stats = np.array([metric(t[i], p[i]) for i in (rng.integers(0, len(t), len(t)) for _ in range(n_boot))])
    else:
        check_choice("metric", metric, METRICS)
        name, _, average = metric.partition("_")
        mask = _present(t, p, k, num_classes)
        cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
        value = float(_from_confusion(cm, name, average or None, mask, 0.0))
        stats = []
        for start in range(0, n_boot, 250):  # chunks bound the memory use
            b = min(250, n_boot - start)
            idx = rng.integers(0, len(t), size=(b, len(t)))
            flat = (np.arange(b)[:, None] * k * k + t[idx] * k + p[idx]).ravel()
            cms = np.bincount(flat, minlength=b * k * k).reshape(b, k, k)
            stats.append(_from_confusion(cms, name, average or None, mask, 0.0))
        stats = np.concatenate(stats)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return ConfidenceInterval(value, float(low), float(high), confidence)
