"""A ladder of training recipes that changes one thing per step and keeps a step only if it pays on validation.

A comparison credits a gain to a cause only when it changed one thing. ``climb`` takes a
starting ``Recipe`` and an ordered list of steps (each changes one knob: epochs, peak
learning rate, schedule, augmentation, distillation, early stopping); it trains every
step's recipe, scores it on the **validation** split and keeps the change only when the
validation macro-F1 improves by more than ``min_gain``; otherwise the next step starts
from the last kept recipe. The test set is not touched: the ladder's models are measured
(and their test scores reported) afterwards, once.

Greedy forward selection on a 500-image validation set is itself noisy (a step's
validation gain of half a point is within noise), so the notebook reports every rung,
kept or not, with its validation score.

Used in: ``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

from torch import nn

from ._checks import check_float, check_type
from .data import Splits, eval_loader
from .metrics import accuracy, f1_score
from .recipe import Recipe, train_recipe
from .training import History, predict

__all__ = ["KNOBS", "Rung", "changed_knobs", "climb", "rung_table", "validation_scores"]

KNOBS = {"width": "width", "epochs": "epochs", "lr": "learning rate", "schedule": "schedule",
         "early_stopping": "early stopping", "augmentation": "augmentation", "temperature": "distillation",
         "alpha": "distillation", "batch_size": "batch size"}
"""Recipe field -> the knob it belongs to (distillation's temperature and weight are one knob)."""


@dataclass(frozen=True)
class Rung:
    """One step of a ladder: the recipe tried, the knob it changed, its validation scores, kept or not."""

    name: str
    recipe: Recipe
    knob: str
    val_accuracy: float
    val_f1: float
    kept: bool
    model: nn.Module
    history: History


def changed_knobs(before: Recipe, after: Recipe) -> list[str]:
    """The knobs (see ``KNOBS``) whose fields differ between two recipes, in field order, without repeats."""
    check_type("before", before, Recipe)
    check_type("after", after, Recipe)
    knobs: list[str] = []
    for f in fields(Recipe):
        if getattr(before, f.name) != getattr(after, f.name) and KNOBS[f.name] not in knobs:
            knobs.append(KNOBS[f.name])
    return knobs


def validation_scores(model: nn.Module, splits: Splits) -> tuple[float, float]:
    """``(accuracy, macro-F1)`` of ``model`` on ``splits.val`` (the mode of the model is restored)."""
    check_type("splits", splits, Splits)
    y_true, y_pred = predict(model, eval_loader(splits.val))
    return accuracy(y_true, y_pred), f1_score(y_true, y_pred, num_classes=splits.info.num_classes)


def climb(start: Recipe | Rung, steps: Sequence[tuple[str, dict[str, Any]]], splits: Splits, *,
          teacher: nn.Module | None = None, seed: int = 0, min_gain: float = 0.0, progress: bool = False,
          start_name: str = "start", cache_dir=None) -> list[Rung]:
    """Train ``start``, then each step's one change on top of the last kept recipe; keep what pays on validation.

    Args:
        start: a ``Recipe`` to train first, or a ``Rung`` of an earlier ladder to continue from
            (not trained again).
        steps: ``[(name, {field: value, ...}), ...]``; each must change exactly one knob
            (``ValueError`` otherwise, naming the step and the knobs it changed).
        teacher: the trained teacher for a step that sets ``temperature`` (distillation).
        min_gain: a step is kept when its validation macro-F1 beats the best so far by more than this.
        cache_dir: the report folder; every rung's model is cached there (``train_recipe``), so a rerun
            or another notebook training the same recipe reads it back instead of training again.

    Returns:
        One ``Rung`` per recipe (the start first: a given ``Rung`` as it is, else ``knob="start"``, ``kept=True``).
    """
    check_type("start", start, (Recipe, Rung))
    check_type("steps", steps, (list, tuple))
    check_float("min_gain", min_gain, low=0.0)
    planned, current = [], start.recipe if isinstance(start, Rung) else start
    for step in steps:
        if not (isinstance(step, (tuple, list)) and len(step) == 2 and isinstance(step[1], dict)):
            raise TypeError(f"steps must hold (name, {{field: value}}) pairs, got {step!r}")
        name, changes = step
        knobs = changed_knobs(current, current.replace(**changes))
        if len(knobs) != 1:
            raise ValueError(f"step {name!r} must change exactly one knob, got {len(knobs)}: {knobs or 'nothing'}")
        planned.append((name, changes, knobs[0]))

    def train(recipe: Recipe):
        needs_teacher = recipe.temperature is not None
        return train_recipe(recipe, splits, teacher=teacher if needs_teacher else None, seed=seed, progress=progress,
                            cache_dir=cache_dir)

    if isinstance(start, Rung):
        best = start
    else:
        model, history = train(start)
        best = Rung(start_name, start, "start", *validation_scores(model, splits), True, model, history)
    rungs = [best]
    for name, changes, knob in planned:
        recipe = best.recipe.replace(**changes)
        model, history = train(recipe)
        val_acc, val_f1 = validation_scores(model, splits)
        kept = val_f1 > best.val_f1 + min_gain
        rung = Rung(name, recipe, knob, val_acc, val_f1, kept, model, history)
        rungs.append(rung)
        if kept:
            best = rung
    return rungs


def rung_table(rungs: Sequence[Rung]):
    """A pandas DataFrame of a ladder: each rung's knob, recipe, validation scores, the gain over the
    best kept rung before it (in points of validation F1) and whether it was kept."""
    import pandas as pd

    rows, best = [], None
    for r in rungs:
        check_type("rungs", r, Rung)
        rows.append({"rung": r.name, "knob": r.knob, "recipe": r.recipe.describe(), "val_acc": round(r.val_accuracy, 4),
                     "val_f1": round(r.val_f1, 4),
                     "gain_pts": None if best is None else round(100 * (r.val_f1 - best.val_f1), 2),
                     "kept": r.kept, "epochs_run": len(r.history)})
        if r.kept:
            best = r
    return pd.DataFrame(rows)
