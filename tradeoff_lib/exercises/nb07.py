"""Checks for the exercises of ``notebooks/07_multitask_learning.ipynb``."""
from __future__ import annotations

import math

from ..cost import count_params
from . import close, exercise


@exercise("07.1")
def uncertainty_loss_by_hand(total, task_loss, log_var):
    expected = sum(math.exp(-log_var[t]) * task_loss[t] + 0.5 * log_var[t] for t in task_loss)
    without_reg = sum(math.exp(-log_var[t]) * task_loss[t] for t in task_loss)
    if close(total, without_reg, rel=1e-6):
        return False, "almost: add the regularizer s_t / 2 for each task, or every weight would shrink to zero."
    if close(total, sum(math.exp(log_var[t]) * task_loss[t] + 0.5 * log_var[t] for t in task_loss), rel=1e-6):
        return False, "the weight is exp(-s_t) = 1 / sigma_t^2, with a minus sign."
    if not close(total, expected, rel=1e-6):
        return False, "sum over tasks of exp(-s_t) * L_t + s_t / 2."
    return True, f"total = {expected:.4f}; the task with the larger s_t (more uncertain) counts less."


@exercise("07.2")
def parameters_saved(saved, shared, separate):
    expected = 1 - count_params(shared) / count_params(separate)
    if close(saved, count_params(shared) / count_params(separate), rel=1e-6):
        return False, "that is the fraction the shared model *keeps*; saved = 1 - shared / separate."
    if not close(saved, expected, rel=1e-6):
        return False, "count with tl.count_params: saved = 1 - params(shared) / params(separate)."
    return True, (f"{expected:.1%} saved: the backbone is stored once instead of twice, but both heads are "
                  "needed either way, so the saving is a bit under one half.")
