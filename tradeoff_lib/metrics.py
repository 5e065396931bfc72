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

Used in: ``notebooks/00_measuring_realtime_and_accuracy.ipynb``.
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


def paired_permutation_test(a, b, *, max_exact: int = 20, n_resamples: int = 100_000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p-value for the mean of the paired differences ``b - a``.

    Under the null hypothesis "the two arms are exchangeable within each pair" (same seed,
    two methods), every difference is equally likely to carry either sign. The p-value is
    the share of the ``2^n`` sign patterns whose mean difference is at least as far from 0
    as the observed one (exact up to ``max_exact`` pairs; above that ``n_resamples``
    random patterns plus the observed one). With ``n`` pairs the smallest attainable
    value is ``2 / 2^n``: 5 pairs can never give p < 0.05 (2/32 = 0.0625), 6 pairs can.

    Args:
        a: per-pair scores of the first arm (e.g. the student alone, one per seed).
        b: the second arm's scores, in the same order.

    Returns:
        The p-value in (0, 1]; 1.0 when every difference is 0.
    """
    check_int("max_exact", max_exact, min_value=1, max_value=24)
    check_int("n_resamples", n_resamples, min_value=100)
    check_int("seed", seed, min_value=0)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D with one value per pair, got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"a and b need at least 2 pairs, got {len(a)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must hold finite numbers")
    d = b - a
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # ties count as "at least as extreme"
    n = len(d)
    if n <= max_exact:
        signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
        return float((np.abs(signs @ d / n) >= observed - tol).mean())
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_resamples, n))
    return float(((np.abs(signs @ d / n) >= observed - tol).sum() + 1) / (n_resamples + 1))


def paired_summary(a, b, *, scale: float = 100.0) -> dict:
    """Paired comparison of two arms over seeds: ``b - a`` per pair, times ``scale`` (100: accuracy points).

    Returns ``gain`` (mean difference), ``gain_std`` (its standard deviation over pairs),
    ``wins`` (pairs where b > a), ``n``, ``p_value`` (``paired_permutation_test``) and
    ``within_noise``: False only when every pair agrees in sign and the mean is more than
    two standard errors from 0 (``|mean| > 2 * std / sqrt(n)``); with 6+ pairs the exact
    test can also reach p < 0.05, with 3 pairs it cannot (its smallest p is 0.25).
    """
    check_float("scale", scale, low=0.0, low_inclusive=False)
    p = paired_permutation_test(a, b)
    d = scale * (np.asarray(b, dtype=float) - np.asarray(a, dtype=float))
    std = float(d.std(ddof=1))
    consistent = bool((d > 0).all() or (d < 0).all()) and abs(d.mean()) > 2 * std / np.sqrt(len(d))
    return {"gain": float(d.mean()), "gain_std": std, "wins": int((d > 0).sum()), "n": len(d), "p_value": p,
            "within_noise": not consistent}
