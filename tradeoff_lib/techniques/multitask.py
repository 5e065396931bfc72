"""Multi-task learning: one shared backbone, one small head per task.

Two tasks on the same rotated digit images: **digit** (which of 10 digits) and
**rotation** (which of the four rotations 0/90/180/270 degrees was applied). The
rotation is drawn independently of the digit, so it is a real second task and not a
function of the digit label. One shared network answers both in one forward pass;
two separate networks need two passes. The total loss is a weighted sum:

    fixed weights:          L = sum_t w_t * L_t
    uncertainty weighting:  L = sum_t exp(-s_t) * L_t + s_t / 2,   s_t = log sigma_t^2 learned
                            (Kendall, Gal & Cipolla, 2018, classification form)
    with an L1 penalty:     L + lambda * ||W||_1  on the heads' weights W (the W of W^T h)

The L1 term drives many head weights towards zero: each head then reads only some of
the shared features (``weight_sparsity``, ``features_used``). The data of the two tasks
(``make_rotation_task``) is in ``techniques/rotation_task.py``.

Used in: ``notebooks/07_multitask_learning.ipynb``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from .._checks import check_float, check_int, check_module, check_type
from ..cost import clone_model
from ..data import EVAL_BATCH_SIZE, eval_loader, train_loader
from ..models import SmallCNN
from ..modes import eval_mode
from ..caching import train_model
from ..training import scoring
from .rotation_task import TASKS, MultiTaskDataset

__all__ = ["MultiTaskCNN", "make_multitask_cnn", "SeparateModels",
           "task_losses", "FixedWeighting", "UncertaintyWeighting", "head_weights", "l1_penalty", "weight_sparsity",
           "features_used", "zero_small_head_weights", "multitask_step", "predict_tasks", "task_accuracies",
           "evaluate_tasks", "l1_report", "train_multitask", "task_results"]


class MultiTaskCNN(nn.Module):
    """``SmallCNN``'s layers shared up to the hidden layer, then one linear head per task.

    ``forward`` returns ``{task: logits}``. With a single task it is a plain single-task
    model with the same backbone, which makes the comparison fair.
    """

    def __init__(self, width: int = 8, tasks: Mapping[str, int] = TASKS, in_channels: int = 1,
                 image_size: int = 28, hidden: int | None = None):
        super().__init__()
        check_type("tasks", tasks, Mapping)
        if not tasks:
            raise ValueError("tasks must name at least one task, e.g. {'digit': 10}")
        for task, n in tasks.items():
            check_type("task name", task, str)
            check_int(f"tasks[{task!r}]", n, min_value=2)
        base = SmallCNN(width, num_classes=2, in_channels=in_channels, image_size=image_size, hidden=hidden)
        self.config = dict(base.config, tasks=dict(tasks))
        del self.config["num_classes"]
        self.features = base.features
        self.trunk = base.classifier[:-1]  # flatten - linear(hidden) - ReLU: the shared representation h
        self.heads = nn.ModuleDict({t: nn.Linear(self.config["hidden"], n) for t, n in tasks.items()})

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.heads)

    def forward(self, x):
        h = self.trunk(self.features(x))
        return {task: head(h) for task, head in self.heads.items()}


def make_multitask_cnn(width: int = 8, info=None, tasks: Mapping[str, int] = TASKS, **kwargs) -> MultiTaskCNN:
    """A ``MultiTaskCNN`` shaped for a dataset (``info`` is a ``DatasetInfo``; default MNIST)."""
    if info is not None:
        kwargs.setdefault("in_channels", info.in_channels)
        kwargs.setdefault("image_size", info.image_size)
    return MultiTaskCNN(width, tasks, **kwargs)


class SeparateModels(nn.Module):
    """Several single-task models answering together: ``forward`` merges their ``{task: logits}``."""

    def __init__(self, models: Mapping[str, nn.Module]):
        super().__init__()
        check_type("models", models, Mapping)
        if not models:
            raise ValueError("models is empty")
        for name, model in models.items():
            check_module(f"models[{name!r}]", model)
        self.models = nn.ModuleDict(dict(models))

    def forward(self, x):
        out = {}
        for model in self.models.values():
            out.update(model(x))
        return out


def _check_outputs(outputs, targets) -> None:
    if not isinstance(outputs, Mapping):
        raise TypeError(f"the model must return a dict {{task: logits}}, got {type(outputs).__name__}")
    unknown = [t for t in outputs if t not in targets]
    if unknown:
        raise ValueError(f"unknown task {unknown[0]!r}: the data have labels for {', '.join(map(repr, targets))}")


def task_losses(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cross-entropy of each task the model answers: ``{task: L_t}``."""
    _check_outputs(outputs, targets)
    return {t: F.cross_entropy(logits, targets[t]) for t, logits in outputs.items()}


class FixedWeighting(nn.Module):
    """``L = sum_t w_t * L_t`` with fixed weights (a task missing from ``weights`` gets 1)."""

    def __init__(self, weights: Mapping[str, float] | None = None):
        super().__init__()
        weights = dict(weights or {})
        for t, w in weights.items():
            check_float(f"weights[{t!r}]", w, low=0.0)
        self.weights = weights

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        unknown = set(self.weights) - set(losses)
        if unknown:
            raise ValueError(f"unknown task {sorted(unknown)[0]!r} in weights; the model answers {sorted(losses)}")
        return sum(self.weights.get(t, 1.0) * loss for t, loss in losses.items())


class UncertaintyWeighting(nn.Module):
    """Learned weights (Kendall et al., 2018): ``L = sum_t exp(-s_t) * L_t + s_t / 2``, ``s_t = log sigma_t^2``.

    The optimum of each term is ``exp(-s_t) = 1 / (2 L_t)``: a task with a large
    (noisy, hard) loss gets a small weight; ``s_t / 2`` stops all weights from going to 0.
    Its parameters must be optimized together with the model's (``train_multitask`` does).
    """

    def __init__(self, tasks):
        super().__init__()
        tasks = list(tasks)
        if not tasks:
            raise ValueError("tasks must name at least one task")
        self.log_vars = nn.ParameterDict({t: nn.Parameter(torch.zeros(())) for t in tasks})

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [t for t in losses if t not in self.log_vars]
        if missing:
            raise ValueError(f"unknown task {missing[0]!r}: this weighting knows {', '.join(self.log_vars)}")
        return sum(torch.exp(-self.log_vars[t]) * loss + 0.5 * self.log_vars[t] for t, loss in losses.items())

    def task_weights(self) -> dict[str, float]:
        """The current effective weights ``exp(-s_t)``."""
        return {t: float(torch.exp(-s.detach())) for t, s in self.log_vars.items()}


def head_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight matrices ``W`` of a multi-task model's heads (one per task)."""
    if not isinstance(getattr(model, "heads", None), nn.ModuleDict):
        raise TypeError(f"model must have task heads (a MultiTaskCNN), got {type(model).__name__}")
    return [head.weight for head in model.heads.values()]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """``||W||_1``: the sum of absolute values of the heads' weights (biases are not penalized)."""
    return sum(w.abs().sum() for w in head_weights(model))


def weight_sparsity(model: nn.Module, *, tol: float = 1e-3) -> float:
    """Fraction of head weights with ``|w| <= tol`` (0: dense, 1: all zero)."""
    check_float("tol", tol, low=0.0)
    ws = [w.detach() for w in head_weights(model)]
    return float(sum(int((w.abs() <= tol).sum()) for w in ws) / sum(w.numel() for w in ws))


def features_used(model: nn.Module, *, tol: float = 1e-3) -> dict[str, int]:
    """How many shared features each head reads: columns of its ``W`` with some ``|w| > tol``."""
    check_float("tol", tol, low=0.0)
    return {t: int((head.weight.detach().abs() > tol).any(dim=0).sum()) for t, head in model.heads.items()}


def zero_small_head_weights(model: nn.Module, *, tol: float = 1e-3) -> nn.Module:
    """A copy of ``model`` whose head weights with ``|w| <= tol`` are set to exactly 0 (the original is unchanged)."""
    check_float("tol", tol, low=0.0)
    head_weights(model)
    copy = clone_model(model)
    with torch.no_grad():
        for w in head_weights(copy):
            w[w.abs() <= tol] = 0.0
    return copy


def multitask_step(weighting: nn.Module, *, l1: float = 0.0):
    """A ``step_fn`` for ``tl.fit``: ``(model, X, y) -> (loss, outputs)`` with ``y = {task: labels}``."""
    check_module("weighting", weighting)
    l1 = check_float("l1", l1, low=0.0)

    def step(model, X, y):
        outputs = model(X)
        loss = weighting(task_losses(outputs, y))
        if l1 > 0:
            loss = loss + l1 * l1_penalty(model)
        return loss, outputs

    return step


def predict_tasks(model: nn.Module, dataset: MultiTaskDataset, *, batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """``{task: (y_true, y_pred)}`` as NumPy arrays for every task the model answers (mode restored)."""
    check_module("model", model)
    check_type("dataset", dataset, MultiTaskDataset)
    X, labels = dataset.tensors()
    with scoring(model) as layout:
        outs = [model(layout(X[i:i + batch_size])) for i in range(0, len(X), batch_size)]
    _check_outputs(outs[0], labels)
    return {t: (labels[t].numpy(), torch.cat([o[t] for o in outs]).argmax(1).numpy()) for t in outs[0]}


def task_accuracies(model: nn.Module, dataset: MultiTaskDataset) -> dict[str, float]:
    """Accuracy of each task the model answers: ``{task: accuracy}``."""
    return {t: float((yt == yp).mean()) for t, (yt, yp) in predict_tasks(model, dataset).items()}


def evaluate_tasks(model: nn.Module, loader: DataLoader) -> dict[str, float]:
    """An ``evaluate_fn`` for ``tl.fit``: ``{"<task>_accuracy": ...}`` on a loader over a ``MultiTaskDataset``."""
    return {f"{t}_accuracy": a for t, a in task_accuracies(model, loader.dataset).items()}


def l1_report(model: nn.Module, dataset: MultiTaskDataset, *, tol: float = 1e-3) -> dict[str, float]:
    """What L1 did to the heads: ``||W||_1``, sparsity, features used per task, accuracy per task."""
    report = {"l1_norm": float(l1_penalty(model).detach()), "sparsity": weight_sparsity(model, tol=tol)}
    report.update({f"{t}_features": n for t, n in features_used(model, tol=tol).items()})
    report.update({f"{t}_accuracy": a for t, a in task_accuracies(model, dataset).items()})
    return report


def train_multitask(build: Callable[[], nn.Module], train_set: MultiTaskDataset,
                    val_set: MultiTaskDataset | None = None, *, weighting: nn.Module | None = None, l1: float = 0.0,
                    epochs: int = 4, lr: float = 1e-3, batch_size: int = 64, seed: int = 0, progress: bool = False,
                    desc: str | None = None):
    """Seed, build and train a model on every task it answers; the weighting's parameters are learned too.

    Args:
        build: ``() -> model`` returning ``{task: logits}`` (e.g. ``make_multitask_cnn``).
        weighting: ``FixedWeighting`` (default: all weights 1) or ``UncertaintyWeighting``.
        l1: lambda of the L1 penalty on the heads' weights.

    Returns:
        ``(model, history)``; the history has ``val_<task>_accuracy`` when ``val_set`` is given.
    """
    check_type("train_set", train_set, MultiTaskDataset)
    weighting = FixedWeighting() if weighting is None else check_module("weighting", weighting)
    l1 = check_float("l1", l1, low=0.0)
    check_int("seed", seed, min_value=0)
    val_loader = None if val_set is None else eval_loader(val_set)
    learned = lambda params: [p for p in params if p.requires_grad] + list(weighting.parameters())  # noqa: E731
    return train_model(build, train_loader(train_set, batch_size, seed=seed), val_loader, seed=seed, epochs=epochs,
                       lr=lr, optimizer=lambda params: torch.optim.Adam(learned(params), lr=lr),
                       step_fn=multitask_step(weighting, l1=l1), evaluate_fn=evaluate_tasks, progress=progress,
                       desc=desc)


def task_results(model: nn.Module, val_set: MultiTaskDataset, test_set: MultiTaskDataset, *, name: str,
                 technique: str, notebook: str,
                 latency, example_input: torch.Tensor, dataset: str, seed: int = 0, n_boot: int = 1000,
                 notes: str = "") -> list:
    """One ``tl.Result`` per task (named ``"<name>/<task>"``): that task's validation accuracy and macro-F1
    (for choosing), its test accuracy and macro-F1 with a bootstrap 95 % CI (for reporting), and the *shared*
    cost of answering every task (``latency``, size, parameters, FLOPs).

    Each row's ``dataset`` is ``"<dataset>/<task>"`` (e.g. ``"mnist5k-rotated/digit"``): these scores
    come from another test set and task than the single-task rows of the ledger, so a selection
    that filters on the dataset name never compares them with those.
    """
    from ..cost import count_flops, count_nonzero_params, count_params, size_bytes
    from ..latency import LatencyStats
    from ..metrics import accuracy, bootstrap_ci, f1_score
    from ..tradeoff import Result

    check_type("latency", latency, LatencyStats)
    check_type("dataset", dataset, str)
    val_preds, preds = predict_tasks(model, val_set), predict_tasks(model, test_set)
    cost = dict(latency_p50_ms=latency.p50_ms, latency_p99_ms=latency.p99_ms, latency_max_ms=latency.max_ms,
                size_bytes=size_bytes(model), params=count_params(model), nonzero_params=count_nonzero_params(model),
                flops=count_flops(model, example_input), threads=latency.threads)
    with torch.inference_mode(), eval_mode(model):
        num_classes = {t: logits.shape[1] for t, logits in model(example_input).items()}
    out = []
    for task, (y_true, y_pred) in preds.items():
        ci = bootstrap_ci(y_true, y_pred, "f1_macro", n_boot=n_boot, seed=seed, num_classes=num_classes[task])
        v_true, v_pred = val_preds[task]
        out.append(Result(name=f"{name}/{task}", technique=technique, notebook=notebook,
                          val_accuracy=accuracy(v_true, v_pred),
                          val_f1=f1_score(v_true, v_pred, num_classes=num_classes[task]),
                          accuracy=accuracy(y_true, y_pred), f1=ci.value, f1_low=ci.low, f1_high=ci.high,
                          seed=seed, dataset=f"{dataset}/{task}", notes=notes, **cost))
    return out
