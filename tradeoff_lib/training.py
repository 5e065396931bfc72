"""Training and evaluation: ``fit`` returns a ``History``; seeding makes runs repeatable.

``fit`` is a plain loop (forward, loss, backward, step) with three hooks that the
technique notebooks use: ``step_fn`` replaces the loss computation (distillation,
multi-task), ``scheduler`` adjusts the learning rate, and ``callbacks`` can stop
training early (see ``techniques/early_stopping.py``). Training once per machine (the
cache) and the ``train_*`` helpers are in ``tradeoff_lib/caching.py``.

Used in: every notebook but ``01_compression_lowrank``, ``07_multitask_learning``,
``09_deployment_runtimes``.
"""
from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ._checks import check_choice, check_float, check_int, check_module, check_type
from .layout import channels_last
from .modes import eval_mode
from .threads import training_threads
from .timing import timed

OPTIMIZERS = ("adam", "adamw", "sgd")


def seed_everything(seed: int, *, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and PyTorch so that a run repeats exactly on the same machine.

    On the CPU, with the same thread count, that is enough: the kernels these notebooks
    use are deterministic. ``deterministic=True`` also calls
    ``torch.use_deterministic_algorithms(True, warn_only=True)``, which GPU runs need;
    it stays off by default because it is global and makes some CPU kernels (the int8
    max-pool, for one) warn on every call. Returns a ``torch.Generator`` seeded the same way.
    """
    check_int("seed", seed, min_value=0)
    check_type("deterministic", deterministic, bool)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


@dataclass
class History:
    """Per-epoch logs of a ``fit`` call.

    ``epochs[i]`` is a dict with ``epoch``, ``train_loss``, ``train_accuracy``,
    ``lr``, ``epoch_time_s`` and, with a validation loader, ``val_loss`` and
    ``val_accuracy`` (plus whatever a custom ``evaluate_fn`` returns).
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    train_time_s: float = 0.0
    stopped_early: bool = False

    def __getitem__(self, key: str) -> list[float]:
        """All epochs' values of one log entry, e.g. ``history["val_accuracy"]``."""
        if not self.epochs or key not in self.epochs[0]:
            known = sorted(self.epochs[0]) if self.epochs else []
            raise KeyError(f"no log entry {key!r}; known: {known}")
        return [e[key] for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def last(self) -> dict[str, float]:
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "train_time_s": self.train_time_s, "stopped_early": self.stopped_early}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(list(d["epochs"]), float(d["train_time_s"]), bool(d["stopped_early"]))


def classification_step(model: nn.Module, X: torch.Tensor, y: torch.Tensor):
    """Default training step: cross-entropy on the logits. Returns ``(loss, logits)``.

    ``y`` may be class indices (N,) or class probabilities (N, C), as MixUp makes.
    """
    logits = model(X)
    return F.cross_entropy(logits, y), logits


def _make_optimizer(optimizer, model: nn.Module, lr: float, weight_decay: float):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(model.parameters())
    check_choice("optimizer", optimizer, OPTIMIZERS)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    cls = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=weight_decay)


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _batch_accuracy(outputs, y) -> tuple[int, int]:
    """Correct predictions and count for plain classification batches; (0, 0) for anything else."""
    if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2 or not isinstance(y, torch.Tensor):
        return 0, 0
    if y.shape[0] != outputs.shape[0] or y.ndim not in (1, 2):
        return 0, 0
    target = y.argmax(1) if y.ndim == 2 else y
    return int((outputs.argmax(1) == target).sum()), len(target)


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader | None = None, *,
        epochs: int = 5, lr: float = 1e-3, optimizer: str | torch.optim.Optimizer | Callable = "adam",
        weight_decay: float = 0.0, scheduler: Any = None, scheduler_interval: str = "epoch",
        step_fn: Callable | None = None, evaluate_fn: Callable | None = None,
        callbacks: Iterable[Any] = (), progress: bool = True, desc: str | None = None) -> History:
    """Train ``model`` in place for up to ``epochs`` epochs; return its ``History``.

    Args:
        model: the network (trained in place, returned to eval mode at the end).
        train_loader: batches ``(X, y)``.
        val_loader: optional; evaluated after every epoch with ``evaluate_fn``.
        epochs: number of passes over ``train_loader``.
        lr: learning rate of the optimizer built here.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.9), an optimizer
            instance, or a callable ``params -> optimizer``.
        weight_decay: L2 penalty of the built optimizer.
        scheduler: ``None``, an ``LRScheduler``, or a callable ``optimizer -> LRScheduler``.
        scheduler_interval: ``"epoch"`` or ``"step"`` (after every batch).
        step_fn: ``(model, X, y) -> (loss, outputs)``; default ``classification_step``.
        evaluate_fn: ``(model, loader) -> dict`` of metrics; default ``evaluate``.
        callbacks: objects with optional ``on_train_begin(model)``,
            ``on_epoch_end(epoch, logs, model) -> bool`` (True stops training) and
            ``on_train_end(model, history)``.
        progress: show a tqdm progress bar over epochs.
        desc: label of the progress bar.

    Runs with the package's training thread count (``tradeoff_lib.threads``), channels-last
    for a convolutional model (``tradeoff_lib.layout``; the model's layout is restored), and
    adds its wall time to the ``"training"`` total of ``tradeoff_lib.timing``.
    """
    with training_threads(), timed("training"), channels_last(model) as layout:
        return _fit(layout, model, train_loader, val_loader, epochs=epochs, lr=lr, optimizer=optimizer,
                    weight_decay=weight_decay, scheduler=scheduler, scheduler_interval=scheduler_interval,
                    step_fn=step_fn, evaluate_fn=evaluate_fn, callbacks=callbacks, progress=progress, desc=desc)


def _fit(layout, model, train_loader, val_loader, *, epochs, lr, optimizer, weight_decay, scheduler, scheduler_interval,
         step_fn, evaluate_fn, callbacks, progress, desc) -> History:
    check_module("model", model)
    check_type("train_loader", train_loader, Iterable)
    check_int("epochs", epochs, min_value=1)
    check_float("lr", lr, low=0.0, low_inclusive=False)
    check_float("weight_decay", weight_decay, low=0.0)
    check_choice("scheduler_interval", scheduler_interval, ("epoch", "step"))
    check_type("progress", progress, bool)
    step_fn = step_fn or classification_step
    evaluate_fn = evaluate_fn or evaluate
    callbacks = list(callbacks)
    opt = _make_optimizer(optimizer, model, lr, weight_decay)
    sched = scheduler(opt) if callable(scheduler) and not hasattr(scheduler, "step") else scheduler
    device = _device_of(model)
    history = History()
    for cb in callbacks:
        getattr(cb, "on_train_begin", lambda m: None)(model)
    from tqdm.auto import tqdm

    bar = tqdm(range(1, epochs + 1), desc=desc or type(model).__name__, disable=not progress, leave=False)
    start = time.perf_counter()
    for epoch in bar:
        model.train()
        t0, loss_sum, n_seen, correct, counted = time.perf_counter(), 0.0, 0, 0, 0
        lr_now = opt.param_groups[0]["lr"]
        for X, y in train_loader:
            X, y = layout(X.to(device)), y.to(device) if isinstance(y, torch.Tensor) else y
            loss, outputs = step_fn(model, X, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None and scheduler_interval == "step":
                sched.step()
            loss_sum += float(loss.detach()) * len(X)
            n_seen += len(X)
            c, k = _batch_accuracy(outputs.detach() if isinstance(outputs, torch.Tensor) else outputs, y)
            correct, counted = correct + c, counted + k
        if sched is not None and scheduler_interval == "epoch":
            sched.step()
        logs = {"epoch": epoch, "train_loss": loss_sum / max(n_seen, 1),
                "train_accuracy": correct / counted if counted else float("nan"),
                "lr": lr_now, "epoch_time_s": time.perf_counter() - t0}
        if val_loader is not None:
            logs.update({f"val_{k}": v for k, v in evaluate_fn(model, val_loader).items()})
        history.epochs.append(logs)
        bar.set_postfix({k: round(v, 4) for k, v in logs.items() if k in ("train_loss", "val_accuracy")},
                        refresh=False)
        stop = [bool(getattr(cb, "on_epoch_end", lambda *a: False)(epoch, logs, model)) for cb in callbacks]
        if any(stop):
            history.stopped_early = epoch < epochs
            break
    history.train_time_s = time.perf_counter() - start
    for cb in callbacks:
        getattr(cb, "on_train_end", lambda m, h: None)(model, history)
    model.eval()
    return history


@contextmanager
def scoring(model: nn.Module) -> Iterator[Callable[[torch.Tensor], torch.Tensor]]:
    """How the package runs a model to score it; yields the function that converts an input batch.

    Inside: the training thread count (``tradeoff_lib.threads``), the ``"evaluation"``
    stopwatch (``tradeoff_lib.timing``), eval mode with the train/eval flag restored afterwards
    (measuring never mutates), channels-last for a CNN (``tradeoff_lib.layout``) and inference
    mode. ``predict``, ``evaluate`` and ``multitask.predict_tasks`` use it.
    """
    check_module("model", model)
    with training_threads(), timed("evaluation"), eval_mode(model), channels_last(model) as layout, \
            torch.inference_mode():
        yield layout


def predict(model: nn.Module, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predicted classes over a loader: ``(y_true, y_pred)`` as NumPy arrays (see ``scoring``)."""
    ys, preds = [], []
    with scoring(model) as layout:
        device = _device_of(model)
        for X, y in loader:
            ys.append(y.cpu())
            preds.append(model(layout(X.to(device))).argmax(1).cpu())
    return torch.cat(ys).numpy(), torch.cat(preds).numpy()


def evaluate(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``loader``: ``{"loss", "accuracy"}`` (see ``scoring``)."""
    loss_sum, correct, n = 0.0, 0, 0
    with scoring(model) as layout:
        device = _device_of(model)
        for X, y in loader:
            X, y = layout(X.to(device)), y.to(device)
            logits = model(X)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
    if n == 0:
        raise ValueError("loader is empty")
    return {"loss": loss_sum / n, "accuracy": correct / n}
