"""A training recipe that combines the training-side techniques for one small model.

``Recipe`` names every choice (width, epochs, peak learning rate, schedule, early
stopping, augmentation, distillation) in one frozen dataclass, so that a ladder of
recipes, each adding one technique to the previous one, is a list of
``dataclasses.replace`` calls, and ``train_recipe`` turns any of them into a model:

- schedule: ``"constant"``, ``"one-cycle"`` or ``"warmup-cosine"`` (stepped per batch);
- early stopping: patience on validation accuracy, best weights restored;
- augmentation: a per-sample preset of ``techniques/augmentation.py`` (``"light"``...);
- distillation: loss ``alpha * T^2 * KL + (1 - alpha) * CE`` against a live, separately
  trained teacher (live, because augmented images need fresh teacher outputs).

Used in: ``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import nn

from ._checks import check_choice, check_float, check_int, check_type
from .caching import data_fingerprint, state_fingerprint, train_model
from .data import Splits, eval_loader, train_loader
from .models import make_cnn
from .training import History

SCHEDULES = ("constant", "one-cycle", "warmup-cosine")


@dataclass(frozen=True)
class Recipe:
    """How to train one ``SmallCNN``; ``replace(**changes)`` derives the next step of a ladder."""

    width: int = 8
    epochs: int = 4
    lr: float = 1e-3
    schedule: str = "constant"
    early_stopping: int | None = None
    augmentation: str = "none"
    temperature: float | None = None
    alpha: float = 0.5
    batch_size: int = 64

    def __post_init__(self):
        from .techniques.augmentation import PRESETS

        check_int("width", self.width, min_value=1)
        check_int("epochs", self.epochs, min_value=1)
        check_float("lr", self.lr, low=0.0, low_inclusive=False)
        check_choice("schedule", self.schedule, SCHEDULES)
        if self.early_stopping is not None:
            check_int("early_stopping", self.early_stopping, min_value=1)
        check_choice("augmentation", self.augmentation, PRESETS)
        if self.temperature is not None:
            check_float("temperature", self.temperature, low=0.0, low_inclusive=False)
        check_float("alpha", self.alpha, low=0.0, high=1.0)
        check_int("batch_size", self.batch_size, min_value=1)

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """A short label, e.g. ``cnn8 one-cycle lr=0.01 es2 light KD(T=1,a=0.5) 8ep``."""
        parts = [f"cnn{self.width}", self.schedule, f"lr={self.lr:g}"]
        if self.early_stopping:
            parts.append(f"es{self.early_stopping}")
        if self.augmentation != "none":
            parts.append(self.augmentation)
        if self.temperature is not None:
            parts.append(f"KD(T={self.temperature:g},a={self.alpha:g})")
        return " ".join(parts + [f"{self.epochs}ep"])


def _scheduler(recipe: Recipe, steps_per_epoch: int):
    from .techniques import schedules

    total = recipe.epochs * steps_per_epoch
    if recipe.schedule == "one-cycle":
        return schedules.one_cycle(total)
    if recipe.schedule == "warmup-cosine":
        return schedules.warmup_cosine(total, max(1, steps_per_epoch // 2))
    return None


def train_recipe(recipe: Recipe, splits: Splits, *, teacher: nn.Module | None = None, seed: int = 0,
                 progress: bool = False, cache_dir=None, name: str | None = None) -> tuple[nn.Module, History]:
    """Seed, build ``SmallCNN(recipe.width)`` and train it as ``recipe`` says.

    Args:
        teacher: a separately trained model; required when ``recipe.temperature`` is set.
        seed: seeds the initial weights, the batch order and the augmentation.
        cache_dir: the report folder: the trained model is stored there under a key of everything
            that determines it (the recipe, the data, the seed, the teacher's weights, torch version and
            training threads) and reused by any later call with the same key — from any notebook.
        name: file label in the cache (default ``"recipe"``).

    Returns:
        ``(model, history)``; the model is in eval mode (best validation epoch with early stopping).
    """
    from .techniques import augmentation, distillation, early_stopping

    check_type("recipe", recipe, Recipe)
    check_type("splits", splits, Splits)
    if (recipe.temperature is None) != (teacher is None):
        raise ValueError("teacher and recipe.temperature go together: distillation needs both, "
                         f"got temperature={recipe.temperature!r} and teacher={type(teacher).__name__}")
    check_int("seed", seed, min_value=0)
    step, check = None, None
    if teacher is not None:
        check = lambda model: distillation.check_student_teacher(model, teacher, splits.example_input(2))  # noqa: E731
        step = distillation.distillation_step(temperature=recipe.temperature, alpha=recipe.alpha, teacher=teacher)
    data = splits.train.with_transform(augmentation.make_transform(recipe.augmentation))
    loader = train_loader(data, recipe.batch_size, seed=seed)
    callbacks = [] if recipe.early_stopping is None else [
        early_stopping.EarlyStopping(monitor="val_accuracy", mode="max", patience=recipe.early_stopping)]
    parts = {"recipe": dataclasses.asdict(recipe), "data": data_fingerprint(splits), "seed": seed,
             "teacher": None if teacher is None else [repr(teacher), state_fingerprint(teacher)]}
    return train_model(lambda: make_cnn(recipe.width, splits.info), loader, eval_loader(splits.val),
                       seed=seed, check_model=check, cache_dir=cache_dir, cache_name=name or "recipe",
                       cache_parts=parts, epochs=recipe.epochs, lr=recipe.lr,
                       scheduler=_scheduler(recipe, len(loader)), scheduler_interval="step", step_fn=step,
                       callbacks=callbacks, progress=progress, desc=recipe.describe())
