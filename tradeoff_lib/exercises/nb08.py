"""Checks for the exercises of ``notebooks/08_knowledge_distillation.ipynb``."""
from __future__ import annotations

import torch

from ..techniques.distillation import distillation_loss
from ..tradeoff import select
from . import close, exercise


@exercise("08.1")
def loss_by_hand(loss, student_logits, teacher_logits, y, temperature, alpha):
    expected = float(distillation_loss(student_logits, teacher_logits, y, temperature=temperature, alpha=alpha))
    try:
        value = float(loss)
    except (TypeError, ValueError):
        return False, "loss should be a number (a float or a 0-d tensor)."
    no_t2 = float(distillation_loss(student_logits, teacher_logits, y, temperature=temperature, alpha=alpha)
                  - alpha * (temperature ** 2 - 1) * _kl(student_logits, teacher_logits, temperature))
    if not close(value, expected, rel=1e-4) and close(value, no_t2, rel=1e-4):
        return False, "almost: the soft term is multiplied by T^2, so its gradients keep their size for every T."
    if not close(value, expected, rel=1e-4):
        return False, ("compute p_t = softmax(z_t/T) and p_s = softmax(z_s/T), KL = sum p_t * log(p_t/p_s) "
                       "averaged over the batch, CE = -log softmax(z_s)[y] averaged, then "
                       "alpha * T^2 * KL + (1 - alpha) * CE.")
    return True, f"loss = {expected:.4f}, the same as kd.distillation_loss."


def _kl(z_s, z_t, T):
    p_t = torch.softmax(z_t / T, 1)
    return float((p_t * (torch.log_softmax(z_t / T, 1) - torch.log_softmax(z_s / T, 1))).sum(1).mean())


@exercise("08.2")
def ship_within_budget(chosen, speedup, results, teacher, budget_ms):
    best = select(results, budget_ms=budget_ms, latency="latency_p99_ms")
    if chosen is not best:
        return False, ("pick the most accurate model whose p99 latency fits the budget. Hint: "
                       "tl.select(results, budget_ms=LATENCY_BUDGET_MS) (it compares p99 by default).")
    if best is None:
        ok = speedup is None
        return ok, "nothing fits the budget, so there is no speedup to report." if ok else "set speedup = None."
    expected = teacher.latency_p50_ms / best.latency_p50_ms
    if not close(speedup, expected, rel=1e-6):
        return False, "speedup is the teacher's p50 latency divided by the chosen model's (tl.ratio(teacher, chosen))."
    return True, f"{best.name} fits the budget and is {expected:.1f}x faster than the teacher at the median."
