"""Early stopping: callbacks for ``tl.fit`` that end training when the validation curve turns.

PyTorch has no ``EarlyStopping`` class (the source article's ``torch...EarlyStopping`` does not
exist); these are small callbacks with the hooks ``fit`` calls: ``on_train_begin(model)``,
``on_epoch_end(epoch, logs, model) -> stop`` and ``on_train_end(model, history)``.

Three rules, from the naive to the usual one (``E(t)`` is the monitored validation value at
epoch ``t``, lower is better; ``E_opt(t) = min_{t' ≤ t} E(t')``):

- ``ThresholdStopping``: stop when ``E(t) > ε`` (or, with ``mode="below"``, when ``E(t) < ε``).
  Simple, but ``ε`` is an absolute number that depends on the loss scale of each problem.
- ``GeneralizationLoss`` (Prechelt 1998, criterion GL_α): ``GL(t) = 100 · (E(t) / E_opt(t) − 1)``,
  stop when ``GL(t) > α`` — relative to the best value so far.
- ``EarlyStopping``: stop after ``patience`` epochs in a row without an improvement larger than
  ``min_delta``; optionally restore the weights of the best epoch.

``replay(rule, history)`` runs a rule over a recorded ``History`` without training, so several
rules can be compared on the same run; ``EvaluateOn`` logs extra metrics (e.g. on the test set,
for teaching only) every epoch.

Used in: ``notebooks/05_early_stopping.ipynb``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from torch import nn

from .._checks import check_choice, check_float, check_int, check_type

__all__ = ["EarlyStopping", "GeneralizationLoss", "ThresholdStopping", "EvaluateOn", "Replay", "replay",
           "compare_rules", "plot_overfitting"]


def _read(logs: dict[str, float], monitor: str) -> float:
    if monitor not in logs:
        raise KeyError(f"monitor {monitor!r} is not in the epoch logs; available: {sorted(logs)} "
                       "(val_* entries need a val_loader in fit)")
    return float(logs[monitor])


class _BestTracker:
    """Keeps the best monitored value, its epoch and (optionally) a copy of its weights."""

    def __init__(self, monitor: str, mode: str, min_delta: float, restore_best_weights: bool):
        self.monitor = check_type("monitor", monitor, str)
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.min_delta = check_float("min_delta", min_delta, low=0.0)
        self.restore_best_weights = check_type("restore_best_weights", restore_best_weights, bool)
        self.on_train_begin(None)

    def on_train_begin(self, model: nn.Module | None) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.stopped_epoch, self.last_epoch = 0, 0, 0
        self.best_state: dict[str, Any] | None = None

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def _update(self, epoch: int, value: float, model: nn.Module | None) -> bool:
        self.last_epoch = epoch
        if not self.improved(value):
            return False
        self.best, self.best_epoch = value, epoch
        if self.restore_best_weights and model is not None:
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    def on_train_end(self, model: nn.Module | None, history=None) -> None:
        """Load the best epoch's weights back into ``model`` (if asked and they are not the last)."""
        if (self.restore_best_weights and model is not None and self.best_state is not None
                and self.best_epoch != self.last_epoch):
            model.load_state_dict(self.best_state)


class EarlyStopping(_BestTracker):
    """Stop training after ``patience`` epochs in a row without improvement of ``monitor``.

    An epoch improves when ``E(t) < E_best − min_delta`` (mode ``"min"``) or
    ``E(t) > E_best + min_delta`` (mode ``"max"``). With ``restore_best_weights`` the model
    ends with the weights of the best epoch, not the last one.

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        mode: ``"min"`` (lower is better, losses) or ``"max"`` (accuracies).
        patience: epochs without improvement tolerated (>= 1); the ``patience``-th stops training.
        min_delta: smallest change that counts as an improvement (>= 0).
        restore_best_weights: load the best epoch's weights at the end of training.

    After training: ``best``, ``best_epoch``, ``stopped_epoch`` (0 if it never fired) and ``wait``.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", patience: int = 5,
                 min_delta: float = 0.0, restore_best_weights: bool = True):
        self.patience = check_int("patience", patience, min_value=1)
        super().__init__(monitor, mode, min_delta, restore_best_weights)

    def on_train_begin(self, model: nn.Module | None) -> None:
        super().on_train_begin(model)
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: nn.Module | None = None) -> bool:
        if self._update(epoch, _read(logs, self.monitor), model):
            self.wait = 0
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, patience={self.patience}, "
                f"min_delta={self.min_delta:g}, restore_best_weights={self.restore_best_weights})")


class GeneralizationLoss(_BestTracker):
    """Prechelt's GL_α: stop when ``GL(t) = 100 · (E(t) / E_opt(t) − 1)`` exceeds ``alpha`` (in %).

    ``E`` is a validation error or loss (lower is better, positive). Prechelt (1998),
    "Early stopping — but when?", *Neural Networks: Tricks of the Trade*.

    Args:
        alpha: allowed relative rise over the best value so far, in percent (> 0).
        monitor: a lower-is-better key of the epoch logs, default ``"val_loss"``.
        restore_best_weights: load the weights of the epoch with ``E_opt`` at the end.
    """

    def __init__(self, alpha: float = 5.0, monitor: str = "val_loss", restore_best_weights: bool = True):
        self.alpha = check_float("alpha", alpha, low=0.0, low_inclusive=False)
        super().__init__(monitor, "min", 0.0, restore_best_weights)

    def on_train_begin(self, model: nn.Module | None) -> None:
        super().on_train_begin(model)
        self.gl = 0.0

    @staticmethod
    def generalization_loss(value: float, best: float) -> float:
        """``100 · (E / E_opt − 1)``, in percent."""
        if not best > 0:
            raise ValueError(f"the best monitored value must be > 0 for GL, got {best:g}; "
                             "monitor a loss or an error rate")
        return 100.0 * (value / best - 1.0)

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: nn.Module | None = None) -> bool:
        value = _read(logs, self.monitor)
        self._update(epoch, value, model)
        self.gl = self.generalization_loss(value, self.best)
        if self.gl > self.alpha:
            self.stopped_epoch = epoch
            return True
        return False

    def __repr__(self) -> str:
        return f"GeneralizationLoss(alpha={self.alpha:g}, monitor={self.monitor!r})"


class ThresholdStopping:
    """Stop as soon as ``monitor`` crosses a fixed threshold ``ε`` (the naive rule).

    ``mode="above"``: stop when ``E(t) > ε`` ("stop when the validation loss exceeds ε");
    ``mode="below"``: stop when ``E(t) < ε`` (a "good enough" target). Epochs before
    ``min_epochs`` are not checked. It keeps the last weights (nothing to restore).
    """

    def __init__(self, threshold: float, monitor: str = "val_loss", mode: str = "above", min_epochs: int = 1):
        self.threshold = check_float("threshold", threshold)
        self.monitor = check_type("monitor", monitor, str)
        self.mode = check_choice("mode", mode, ("above", "below"))
        self.min_epochs = check_int("min_epochs", min_epochs, min_value=1)
        self.stopped_epoch = 0

    def on_train_begin(self, model: nn.Module | None) -> None:
        self.stopped_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: nn.Module | None = None) -> bool:
        value = _read(logs, self.monitor)
        crossed = value > self.threshold if self.mode == "above" else value < self.threshold
        if epoch >= self.min_epochs and crossed:
            self.stopped_epoch = epoch
            return True
        return False

    def __repr__(self) -> str:
        return f"ThresholdStopping(threshold={self.threshold:g}, monitor={self.monitor!r}, mode={self.mode!r})"


class EvaluateOn:
    """A callback that adds ``{prefix}_{metric}`` of another loader to every epoch's logs.

    For teaching: logging the *test* accuracy per epoch shows what each stopping rule would
    have delivered. Never let a stopping rule monitor the test set — that is tuning on it.
    """

    def __init__(self, loader, prefix: str = "test", evaluate_fn=None):
        from ..training import evaluate

        self.loader, self.prefix = loader, check_type("prefix", prefix, str)
        self.evaluate_fn = evaluate_fn or evaluate

    def on_epoch_end(self, epoch: int, logs: dict[str, float], model: nn.Module) -> bool:
        logs.update({f"{self.prefix}_{k}": v for k, v in self.evaluate_fn(model, self.loader).items()})
        return False


@dataclass(frozen=True)
class Replay:
    """What a stopping rule does on a recorded run: the epoch it stops and the epoch whose weights it keeps."""

    rule: str
    stop_epoch: int
    kept_epoch: int
    epochs_run: int
    fired: bool


def replay(rule, history) -> Replay:
    """Run a stopping rule over a recorded ``History`` (no training) and report where it stops.

    The epochs after a stop are exactly those a real run would not train (same seed, same data
    order), so ``kept_epoch``'s logged metrics are what early stopping would have delivered.
    """
    if not hasattr(rule, "on_epoch_end"):
        raise TypeError(f"rule must be a stopping callback with on_epoch_end, got {type(rule).__name__}")
    if not len(history):
        raise ValueError("history is empty: nothing to replay")
    getattr(rule, "on_train_begin", lambda m: None)(None)
    stop, fired = len(history), False
    for logs in history.epochs:
        if rule.on_epoch_end(int(logs["epoch"]), dict(logs), None):
            stop, fired = int(logs["epoch"]), True
            break
    kept = rule.best_epoch if getattr(rule, "restore_best_weights", False) and rule.best_epoch else stop
    return Replay(repr(rule), stop, kept, len(history), fired)


def compare_rules(rules: Mapping[str, Any], histories: Sequence, metric: str = "test_accuracy"):
    """Replay every rule on every recorded run: a pandas DataFrame with one row per (rule, run).

    Columns: ``rule``, ``run``, ``stop_epoch``, ``kept_epoch``, ``epochs_saved`` (of the recorded
    run's length), ``{metric}_kept`` (the metric at the kept epoch) and ``{metric}_last`` (at the
    end of the full run, i.e. without early stopping).
    """
    import pandas as pd

    if not rules or not histories:
        raise ValueError("rules and histories must both be non-empty")
    rows = []
    for name, rule in rules.items():
        for run, history in enumerate(histories):
            r = replay(rule, history)
            values = history[metric]
            rows.append({"rule": name, "run": run, "stop_epoch": r.stop_epoch, "kept_epoch": r.kept_epoch,
                         "epochs_saved": r.epochs_run - r.stop_epoch, f"{metric}_kept": values[r.kept_epoch - 1],
                         f"{metric}_last": values[-1]})
    return pd.DataFrame(rows)


def plot_overfitting(history, *, stops: Mapping[str, int] | None = None, path=None):
    """Two panels for one run: losses (log scale) and accuracies per epoch, with stopping epochs marked.

    Args:
        history: a ``History`` with ``train_loss``, ``val_loss``, ``train_accuracy``, ``val_accuracy``
            (and ``test_accuracy`` if logged with ``EvaluateOn``).
        stops: ``{label: epoch}`` drawn as vertical lines (e.g. where each rule stops).
        path: save the figure as PNG there.
    """
    import matplotlib.pyplot as plt

    from ..plotting import save_figure

    if not len(history):
        raise ValueError("history is empty: nothing to plot")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    epochs = [e["epoch"] for e in history.epochs]
    for ax, keys in ((ax_loss, ("train_loss", "val_loss")),
                     (ax_acc, ("train_accuracy", "val_accuracy", "test_accuracy"))):
        for key in keys:
            if key in history.epochs[0]:
                ax.plot(epochs, history[key], marker=".", label=key.replace("_", " "))
        for i, (label, epoch) in enumerate((stops or {}).items()):
            ax.axvline(epoch, color=f"C{i + 3}", ls="--", lw=1, label=f"{label}: epoch {epoch}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("cross-entropy (log scale)")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(max(0.0, min(history["val_accuracy"][len(epochs) // 4:]) - 0.05), 1.005)
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8, loc="lower right")
    if path is not None:
        save_figure(fig, path)
    return fig
