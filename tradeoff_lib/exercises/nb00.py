"""Checks for the exercises of ``notebooks/00_measuring_realtime_and_accuracy.ipynb``."""
from __future__ import annotations

import numpy as np

from ..latency import LatencyStats, frame_budget_ms
from ..metrics import f1_score
from ..tradeoff import select
from . import close, exercise


@exercise("00.1")
def frame_share_budget(budget_ms, fps=90, share=0.4, chosen=None, results=None):
    expected = share * frame_budget_ms(fps)
    if not close(budget_ms, expected):
        return False, (f"budget_ms should be {share:.0%} of one frame at {fps} fps. Hint: one frame lasts "
                       "1000 / fps ms (tl.frame_budget_ms); multiply by the share.")
    if results is not None:
        best = select(results, budget_ms=expected)
        if chosen is not best:
            return False, ("the budget is right, but `chosen` is not the most accurate model within it. "
                           "Hint: tl.select(results, budget_ms=budget_ms).")
    return True, f"{expected:.2f} ms per frame share" + (f"; {chosen.name} is the best fit." if chosen else ".")


@exercise("00.2")
def miss_rate_by_hand(miss_rate, stats, budget_ms):
    if not isinstance(stats, LatencyStats):
        return False, "pass the LatencyStats you measured as stats=..."
    expected = float(np.mean(np.asarray(stats.samples_ms) > budget_ms))
    if not close(miss_rate, expected, abs_=1e-12):
        return False, ("the miss rate is the fraction of samples strictly above the budget. Hint: "
                       "np.mean(np.array(stats.samples_ms) > budget_ms).")
    return True, f"{expected:.2%} of the calls were late."


@exercise("00.3")
def lazy_macro_f1(macro_f1, y_true, y_pred):
    expected = f1_score(y_true, y_pred, average="macro", num_classes=2)
    if close(macro_f1, f1_score(y_true, y_pred, average=None, num_classes=2)[0]):
        return False, "that is the F1 of the majority class only; macro-F1 averages both classes."
    if not close(macro_f1, expected):
        return False, ("macro-F1 is the unweighted mean of the per-class F1 = 2TP / (2TP + FP + FN). "
                       "Hint: compute it for 'not a zero' and for 'zero', then average.")
    return True, f"macro-F1 = {expected:.3f}: half of the classes are never found."
