"""Checks for the exercises of ``notebooks/10_capstone_balancing.ipynb``."""
from __future__ import annotations

from ..candidates import choose
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


COURSE_MODELS = ("tradeoff_lib.models:",)


@exercise("10.3")  # balance a model the course did not train (tradeoff_lib.candidates / balance)
def own_model_choice(chosen, summary=None, rows=None, accuracy_tolerance=None):
    if (summary is None) == (rows is None):
        return False, "pass either summary=... (summary.json loaded with json) or rows=... (candidate_rows)"
    if summary is not None:
        if not isinstance(summary, dict) or "candidates" not in summary:
            return False, "summary must be the dict in summary.json (json.loads of the file)"
        if str(summary.get("model", "")).startswith(COURSE_MODELS):
            return False, "apply the method to a model the course did not train (e.g. torchvision:mobilenet_v3_small)"
        rows = summary["candidates"]
        if accuracy_tolerance is None:
            accuracy_tolerance = summary["requirement"]["accuracy_tolerance"]
    rows = list(rows)
    if not rows or not all(isinstance(r, dict) and "status" in r for r in rows):
        return False, "rows must be the list of dicts from candidates.candidate_rows (or summary['candidates'])"
    expected, why = choose(rows, accuracy_tolerance=0.01 if accuracy_tolerance is None else accuracy_tolerance)
    name = chosen.get("name") if isinstance(chosen, dict) else chosen
    want = None if expected is None else expected["name"]
    if name == want:
        return True, f"ship {want}: {why}." if want else f"nothing to ship: {why}."
    by_name = {r["name"]: r for r in rows}
    picked = by_name.get(name)
    if name is not None and picked is None:
        return False, f"{name!r} is not one of the candidates: {', '.join(by_name)}"
    if picked is not None and picked.get("status") != "measured":
        return False, f"{name!r} could not be built on this model ({picked.get('reason')}); it cannot be shipped."
    if picked is not None and not picked["meets_deadline"]:
        return False, f"{name!r} misses the deadline: the requirement comes first, accuracy second."
    if picked is not None and "val_accuracy" not in picked and not picked.get("exact"):
        return False, (f"{name!r} changes what the model computes and there is no validation data to show it is "
                       "still accurate: without data only exact (fp32) runtimes can be shipped.")
    return False, "not the candidate the rule picks. Hint: candidates.choose(rows, accuracy_tolerance=...)."
