"""Learning-rate schedules: step, exponential, cosine, warm-up + cosine, one-cycle and polynomial decay.

Every function here returns a *factory*, a ``Schedule`` that turns an optimizer into an
``LRScheduler``, so it plugs straight into training::

    tl.fit(model, train_dl, val_dl, lr=3e-3, scheduler=schedules.cosine_decay(total_steps),
           scheduler_interval="step")

``t`` counts scheduler steps (batches with ``scheduler_interval="step"``, epochs with
``"epoch"``), ``T`` is the last step and ``α₀`` the optimizer's learning rate:

- step:            ``α_t = α₀ · γ^⌊t/s⌋``                                 (``StepLR``)
- exponential:     ``α_t = α₀ · γ^t``                                      (``ExponentialLR``)
- cosine:          ``α_t = α_min + (α₀ − α_min) · (1 + cos(π t / T)) / 2``  (``CosineAnnealingLR``)
- warm-up + cosine: linear from ``f₀ α₀`` to ``α₀`` over ``W`` steps, then cosine over ``T − W``
  (``LinearLR`` then ``CosineAnnealingLR``, joined by ``SequentialLR``)
- one-cycle:       up from ``α₀/d`` to ``α₀`` in the first ``p·T`` steps, then down to ``α₀/(d·d_f)``
  (``OneCycleLR``)
- polynomial:      ``α_t = α₀ · (1 − t/T)^β`` for ``0 ≤ t ≤ T``  — written here with ``LambdaLR`` to show
  the formula, checked against torch's ``PolynomialLR``; unlike torch's, it refuses to decay past
  ``T`` (a schedule that ran out means the step count was wrong).

All wrap ``torch.optim.lr_scheduler``; arguments are checked with clear errors.

Used in: ``notebooks/04_learning_rate_decay.ipynb``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch.optim import lr_scheduler as lrs

from .._checks import check_float, check_int, check_type

__all__ = ["Schedule", "constant", "step_decay", "exponential_decay", "cosine_decay", "warmup_cosine",
           "one_cycle", "polynomial_decay", "polynomial_factor", "standard_schedules", "lr_curve", "beta1_curve",
           "epochs_to_reach", "plot_schedules"]


@dataclass(frozen=True)
class Schedule:
    """A named factory ``optimizer -> LRScheduler`` (pass it as ``fit(..., scheduler=...)``)."""

    name: str
    build: Callable[[torch.optim.Optimizer], lrs.LRScheduler]

    def __call__(self, optimizer: torch.optim.Optimizer) -> lrs.LRScheduler:
        check_type("optimizer", optimizer, torch.optim.Optimizer)
        return self.build(optimizer)

    def __repr__(self) -> str:
        return f"Schedule({self.name})"


def _base_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"]))


def constant() -> Schedule:
    """No decay: ``α_t = α₀`` (the reference every schedule is compared with)."""
    return Schedule("constant", lambda opt: lrs.LambdaLR(opt, lambda t: 1.0))


def step_decay(step_size: int, gamma: float = 0.1) -> Schedule:
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps: ``α_t = α₀ γ^⌊t/s⌋``."""
    check_int("step_size", step_size, min_value=1)
    check_float("gamma", gamma, low=0.0, high=1.0, low_inclusive=False)
    return Schedule(f"step(s={step_size}, γ={gamma:g})", lambda opt: lrs.StepLR(opt, step_size, gamma))


def exponential_decay(gamma: float) -> Schedule:
    """Multiply the learning rate by ``gamma`` every step: ``α_t = α₀ γ^t``."""
    check_float("gamma", gamma, low=0.0, high=1.0, low_inclusive=False)
    return Schedule(f"exponential(γ={gamma:.4g})", lambda opt: lrs.ExponentialLR(opt, gamma))


def cosine_decay(total_steps: int, min_factor: float = 0.0) -> Schedule:
    """Half a cosine from ``α₀`` down to ``min_factor · α₀`` at step ``total_steps``."""
    check_int("total_steps", total_steps, min_value=1)
    check_float("min_factor", min_factor, low=0.0, high=1.0)
    return Schedule(f"cosine(T={total_steps})", lambda opt: lrs.CosineAnnealingLR(
        opt, T_max=total_steps, eta_min=min_factor * _base_lr(opt)))


def warmup_cosine(total_steps: int, warmup_steps: int, start_factor: float = 0.1,
                  min_factor: float = 0.0) -> Schedule:
    """Linear warm-up from ``start_factor · α₀`` to ``α₀`` over ``warmup_steps``, then cosine decay.

    The cosine part lasts ``total_steps − warmup_steps`` steps and ends at ``min_factor · α₀``.
    """
    check_int("total_steps", total_steps, min_value=2)
    check_int("warmup_steps", warmup_steps, min_value=1, max_value=total_steps - 1)
    check_float("start_factor", start_factor, low=0.0, high=1.0, low_inclusive=False)
    check_float("min_factor", min_factor, low=0.0, high=1.0)

    def build(opt):
        warm = lrs.LinearLR(opt, start_factor=start_factor, end_factor=1.0, total_iters=warmup_steps)
        cos = lrs.CosineAnnealingLR(opt, T_max=total_steps - warmup_steps, eta_min=min_factor * _base_lr(opt))
        return lrs.SequentialLR(opt, [warm, cos], milestones=[warmup_steps])

    return Schedule(f"warmup{warmup_steps}+cosine(T={total_steps})", build)


def one_cycle(total_steps: int, max_lr: float | None = None, pct_start: float = 0.3,
              div_factor: float = 25.0, final_div_factor: float = 1e4, cycle_momentum: bool = True) -> Schedule:
    """Smith's one-cycle policy (``OneCycleLR``): warm up to ``max_lr``, then anneal far below the start.

    ``max_lr=None`` takes the optimizer's learning rate as the peak. Note that ``OneCycleLR``
    *overwrites* the optimizer's learning rate: it starts at ``max_lr / div_factor``.
    It must be stepped once per batch or epoch, exactly ``total_steps`` times.

    ``cycle_momentum=True`` (torch's default) also cycles the momentum, inversely to the rate:
    with Adam that is ``β1``, moved from 0.95 down to 0.85 at the peak rate and back to 0.95
    (see ``beta1_curve``). ``False`` leaves ``β1`` alone, so the schedule changes only the rate.
    """
    check_type("cycle_momentum", cycle_momentum, bool)
    check_int("total_steps", total_steps, min_value=2)
    if max_lr is not None:
        check_float("max_lr", max_lr, low=0.0, low_inclusive=False)
    check_float("pct_start", pct_start, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_float("div_factor", div_factor, low=1.0)
    check_float("final_div_factor", final_div_factor, low=1.0)
    return Schedule(f"one-cycle(T={total_steps})", lambda opt: lrs.OneCycleLR(
        opt, max_lr=max_lr if max_lr is not None else _base_lr(opt), total_steps=total_steps,
        pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor,
        cycle_momentum=cycle_momentum))


def polynomial_factor(t: int, total_steps: int, power: float = 1.0) -> float:
    """The polynomial decay factor ``(1 − t/T)^β`` for step ``0 ≤ t ≤ T``; ``α_t = α₀ · factor``.

    Raises:
        ValueError: for ``t`` past the last step ``T`` (decaying past the end is a bug in
            the step count: torch's ``PolynomialLR`` would silently hold the final value).
    """
    check_int("total_steps", total_steps, min_value=1)
    check_float("power", power, low=0.0, low_inclusive=False)
    check_int("t", t, min_value=0)
    if t > total_steps:
        raise ValueError(f"t must be in [0, {total_steps}] (the schedule's total_steps), got {t}: the schedule "
                         "was stepped past its last step; set total_steps = epochs x steps per epoch "
                         "(scheduler_interval='step') or = epochs ('epoch')")
    return (1.0 - t / total_steps) ** power


def polynomial_decay(total_steps: int, power: float = 1.0) -> Schedule:
    """Polynomial decay ``α_t = α₀ · (1 − t/T)^β`` (``β = power > 0``), reaching 0 at ``t = T``.

    Hand-written with ``LambdaLR`` (equal to torch's ``PolynomialLR`` for ``t ≤ T``), but
    stepping past ``T`` raises a ``ValueError`` instead of silently staying at 0.
    """
    check_int("total_steps", total_steps, min_value=1)
    check_float("power", power, low=0.0, low_inclusive=False)
    return Schedule(f"polynomial(T={total_steps}, β={power:g})",
                    lambda opt: lrs.LambdaLR(opt, lambda t: polynomial_factor(t, total_steps, power)))


def standard_schedules(total_steps: int, *, warmup_steps: int | None = None,
                       final_factor: float = 0.01, power: float = 1.0,
                       cycle_momentum: bool = True) -> dict[str, Schedule]:
    """The notebook's set of schedules for one run of ``total_steps`` steps, all peaking at ``α₀``.

    Step decay multiplies by ``γ = √final_factor`` at 1/3 and 2/3 of the run (two drops reach
    ``final_factor · α₀``); exponential decay also ends at ``final_factor · α₀``; cosine, warm-up +
    cosine, one-cycle and polynomial decay (``β = power``) end near 0; the warm-up lasts
    ``warmup_steps`` (default 5 % of the run). ``cycle_momentum`` is passed to ``one_cycle``.
    """
    check_int("total_steps", total_steps, min_value=3)
    check_float("final_factor", final_factor, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    warmup_steps = max(1, total_steps // 20) if warmup_steps is None else warmup_steps
    return {
        "constant": constant(),
        "step": step_decay(math.ceil(total_steps / 3), gamma=final_factor ** 0.5),
        "exponential": exponential_decay(final_factor ** (1.0 / total_steps)),
        "cosine": cosine_decay(total_steps),
        "warmup+cosine": warmup_cosine(total_steps, warmup_steps),
        "one-cycle": one_cycle(total_steps, cycle_momentum=cycle_momentum),
        "polynomial": polynomial_decay(total_steps, power),
    }


def lr_curve(schedule: Callable, steps: int, lr: float = 1.0) -> np.ndarray:
    """The learning rate used at each of ``steps`` optimizer steps (``t = 0 … steps − 1``).

    Runs the schedule on a dummy one-parameter optimizer; no model is trained.
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be a callable optimizer -> LRScheduler, got {type(schedule).__name__}")
    check_int("steps", steps, min_value=1)
    check_float("lr", lr, low=0.0, low_inclusive=False)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = schedule(opt)
    out = np.empty(steps)
    for t in range(steps):
        out[t] = opt.param_groups[0]["lr"]
        if t < steps - 1:
            opt.step()
            sched.step()
    return out


def beta1_curve(schedule: Callable, steps: int, beta1: float = 0.9) -> np.ndarray:
    """Adam's ``β1`` at each of ``steps`` optimizer steps under ``schedule`` (constant unless it cycles momentum)."""
    if not callable(schedule):
        raise TypeError(f"schedule must be a callable optimizer -> LRScheduler, got {type(schedule).__name__}")
    check_int("steps", steps, min_value=1)
    check_float("beta1", beta1, low=0.0, high=1.0, high_inclusive=False)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3, betas=(beta1, 0.999))
    sched = schedule(opt)
    out = np.empty(steps)
    for t in range(steps):
        out[t] = opt.param_groups[0]["betas"][0]
        if t < steps - 1:
            opt.step()
            sched.step()
    return out


def epochs_to_reach(history, target: float, key: str = "val_accuracy") -> int | None:
    """The first epoch (1-based) whose ``history[key]`` is at least ``target``; ``None`` if never."""
    check_float("target", target)
    values = history[key]
    return next((i + 1 for i, v in enumerate(values) if v >= target), None)


def plot_schedules(schedules: Mapping[str, Callable], total_steps: int, *, steps_per_epoch: int = 1,
                   lr: float = 1.0, ax=None, title: str | None = None, path: str | Path | None = None):
    """Plot the learning rate of each schedule over a run (x in epochs when ``steps_per_epoch`` is given)."""
    from ..plotting import _axes, save_figure

    if not schedules:
        raise ValueError("schedules is empty: nothing to plot")
    check_int("steps_per_epoch", steps_per_epoch, min_value=1)
    fig, ax = _axes(ax)
    x = np.arange(total_steps) / steps_per_epoch
    for i, (name, schedule) in enumerate(schedules.items()):
        ax.plot(x, lr_curve(schedule, total_steps, lr), label=name, color=f"C{i % 10}", lw=1.6)
    ax.set_xlabel("epoch" if steps_per_epoch > 1 else "step")
    ax.set_ylabel("learning rate" if lr != 1.0 else "learning rate / α₀")
    ax.set_title(title or "Learning-rate schedules over one training run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig
