"""Checks for the exercises of ``notebooks/10_capstone_balancing.ipynb``."""
from __future__ import annotations

from ..tradeoff import Result, ratio, select
from . import close, exercise


@exercise("10.1")
def hard_budget_choice(chosen, results, budget_ms, min_accuracy=None):
    expected = select(results, budget_ms=budget_ms, latency="latency_max_ms", min_accuracy=min_accuracy)
    soft = select(results, budget_ms=budget_ms, latency="latency_p99_ms", min_accuracy=min_accuracy)
    if chosen is expected:
        name = "nothing fits" if expected is None else expected.name
        return True, f"under a hard {budget_ms:g} ms deadline: {name}."
    if chosen is soft and soft is not expected:
        return False, ("that is the soft-deadline choice (p99). A hard deadline must hold for every call: "
                       "compare the budget with latency_max_ms.")
    return False, ("not the most accurate model whose *maximum* measured latency fits. Hint: "
                   "tl.select(results, budget_ms=..., latency='latency_max_ms', min_accuracy=...).")


@exercise("10.2")
def ratios_by_hand(speedup, size_ratio, baseline, chosen):
    if not (isinstance(baseline, Result) and isinstance(chosen, Result)):
        return False, "pass the baseline and the chosen Result as baseline=..., chosen=..."
    expected = ratio(baseline, chosen)
    if not close(speedup, expected["speedup_p50"], rel=1e-6):
        return False, "speedup = baseline p50 latency / chosen p50 latency (bigger means faster)."
    if not close(size_ratio, expected["size_ratio"], rel=1e-6):
        return False, "size ratio = baseline size_bytes / chosen size_bytes."
    return True, f"{speedup:.1f}x faster and {size_ratio:.0f}x smaller than the baseline."
