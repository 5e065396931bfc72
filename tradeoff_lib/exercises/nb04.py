"""Checks for the exercises of ``notebooks/04_learning_rate_decay.ipynb``."""
from __future__ import annotations

import numpy as np

from ..techniques.schedules import lr_curve, polynomial_factor
from . import close, exercise


@exercise("04.1")
def polynomial_by_hand(lr_t, lr0, t, total_steps, power):
    expected = lr0 * polynomial_factor(t, total_steps, power)
    if close(lr_t, lr0 * polynomial_factor(t, total_steps, 1.0)) and power != 1.0:
        return False, f"that is linear decay; raise (1 - t/T) to the power β = {power}."
    if close(lr_t, lr0 * (t / total_steps) ** power):
        return False, "the factor is (1 - t/T)^β, not (t/T)^β: the rate starts at α₀ and falls to 0."
    if not close(lr_t, expected):
        return False, "Hint: α_t = α₀ · (1 − t/T)^β with t the step, T the total steps and β the power."
    return True, f"α_{t} = {expected:.3g}: {100 * polynomial_factor(t, total_steps, power):.1f} % of α₀."


@exercise("04.2")
def step_schedule_by_hand(my_schedule, steps=12, step_size=3, gamma=0.5):
    expected = gamma ** (np.arange(steps) // step_size)
    try:
        got = lr_curve(my_schedule, steps, lr=1.0)
    except Exception as exc:  # the learner's factory failed
        return False, (f"my_schedule(optimizer) failed: {exc}. Hint: lambda opt: "
                       "torch.optim.lr_scheduler.LambdaLR(opt, lambda t: ...)")
    if not np.allclose(got, expected):
        return False, (f"the learning rates {np.round(got[:7], 3).tolist()}... should be "
                       f"{np.round(expected[:7], 3).tolist()}...: multiply by {gamma} every {step_size} steps. "
                       "Hint: the factor is gamma ** (t // step_size).")
    return True, "your LambdaLR reproduces StepLR: every schedule is a factor α_t / α₀ of the step t."
