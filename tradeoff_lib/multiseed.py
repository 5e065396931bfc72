"""Train several seeds of the course CNN at once: N models held in one grouped network.

The course's models are tiny; trained one at a time they leave the CPU idle between
small kernels. ``StackedCNN`` holds N ``SmallCNN`` of the same shape side by side:

- the convolutions become *grouped* convolutions (group k sees only model k's channels);
- batch normalization, ReLU and max-pooling act per channel, so N models' channels in one
  layer are N independent layers (running statistics included);
- the linear layers become one batched matrix product with an ``(N, out, in)`` weight.

Each model sees **its own** mini-batch (input ``(B, N, C, H, W)``), so model k gets exactly
the batch order of seed k. The loss is the sum of the N models' losses; its gradient with
respect to model k's weights is model k's own gradient, and Adam/SGD act element-wise, so
one step of the stack equals one step of each model on its own — up to floating-point
rounding (grouped and plain convolutions add in a different order). ``train_seeds`` checks
nothing about that; ``tests/test_multiseed.py`` compares it with sequential training.

When it pays (measured on a 2-core AMD EPYC VM, one thread, 3 seeds x 2 epochs, median of 3 runs,
stacked time / one-by-one time with channels-last ``fit``): ``SmallCNN(8)`` 0.82 (0.90 with AVX2
only), ``SmallCNN(16)`` 1.02 (1.28), ``SmallCNN(32)`` 1.34 (1.29). Grouped convolutions are slower
per FLOP than plain ones on the CPU, so stacking only wins where per-call overhead dominates: the
narrowest models. Notebook 04 stacks its width-8 seeds; wider models train one per worker process.

Used in: ``notebooks/04_learning_rate_decay.ipynb`` (05 trains its seeds one by one on purpose, see there).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ._checks import check_int, check_type
from .data import EVAL_BATCH_SIZE, eval_loader
from .models import SmallCNN
from .threads import training_threads
from .timing import timed
from .training import History, _make_optimizer, seed_everything


class StackedCNN(nn.Module):
    """N ``SmallCNN`` of one configuration in one module; ``forward`` maps (B, N, C, H, W) to (B, N, classes)."""

    def __init__(self, models: Sequence[SmallCNN], *, channels_last: bool = True):
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("models must be a non-empty sequence of SmallCNN, got an empty one")
        for k, m in enumerate(models):
            check_type(f"models[{k}]", m, SmallCNN)
            if m.config != models[0].config:
                raise ValueError(f"models[{k}] has config {m.config}, models[0] {models[0].config}: "
                                 "only models of one shape can be stacked")
        self.n, self.config = len(models), dict(models[0].config)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        n, c = self.n, self.config
        w = c["width"]
        self.conv1 = nn.Conv2d(n * c["in_channels"], n * w, 3, padding=1, bias=False, groups=n)
        self.bn1 = nn.BatchNorm2d(n * w)
        self.conv2 = nn.Conv2d(n * w, n * 2 * w, 3, padding=1, bias=False, groups=n)
        self.bn2 = nn.BatchNorm2d(n * 2 * w)
        flat = 2 * w * (c["image_size"] // 4) ** 2
        self.fc1_w = nn.Parameter(torch.empty(n, c["hidden"], flat))
        self.fc1_b = nn.Parameter(torch.empty(n, c["hidden"]))
        self.fc2_w = nn.Parameter(torch.empty(n, c["num_classes"], c["hidden"]))
        self.fc2_b = nn.Parameter(torch.empty(n, c["num_classes"]))
        with torch.no_grad():
            for k, m in enumerate(models):
                self._copy(k, m, to_stack=True)

    def _pairs(self, k: int, m: SmallCNN):
        """(stacked tensor slice, model tensor) for every parameter and buffer of model k."""
        w, f, cl = self.config["width"], m.features, m.classifier
        s1, s2 = slice(k * w, (k + 1) * w), slice(k * 2 * w, (k + 1) * 2 * w)
        pairs = [(self.conv1.weight[s1], f[0].weight), (self.conv2.weight[s2], f[4].weight),
                 (self.fc1_w[k], cl[1].weight), (self.fc1_b[k], cl[1].bias),
                 (self.fc2_w[k], cl[3].weight), (self.fc2_b[k], cl[3].bias)]
        for bn, s, bn_m in ((self.bn1, s1, f[1]), (self.bn2, s2, f[5])):
            pairs += [(getattr(bn, a)[s], getattr(bn_m, a)) for a in ("weight", "bias", "running_mean", "running_var")]
        return pairs + [(self.bn1.num_batches_tracked, f[1].num_batches_tracked),
                        (self.bn2.num_batches_tracked, f[5].num_batches_tracked)]

    def _copy(self, k: int, m: SmallCNN, *, to_stack: bool):
        for stacked, single in self._pairs(k, m):
            (stacked.copy_(single) if to_stack else single.copy_(stacked))

    def unstack(self) -> list[SmallCNN]:
        """The N models as independent ``SmallCNN`` (new modules, eval mode)."""
        out = []
        with torch.no_grad():
            for k in range(self.n):
                m = SmallCNN(**self.config)
                self._copy(k, m, to_stack=False)
                out.append(m.eval())
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # one batch for every model
            x = x.unsqueeze(1).expand(-1, self.n, -1, -1, -1)
        b = x.shape[0]
        x = x.reshape(b, -1, *x.shape[-2:]).contiguous(memory_format=self.memory_format)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = x.reshape(b, self.n, -1)
        x = F.relu(torch.einsum("bnf,nhf->bnh", x, self.fc1_w) + self.fc1_b)
        return torch.einsum("bnh,nch->bnc", x, self.fc2_w) + self.fc2_b


@torch.inference_mode()
def _evaluate_stack(stack: StackedCNN, loader: DataLoader) -> list[dict[str, float]]:
    stack.eval()
    loss, correct, n = torch.zeros(stack.n, dtype=torch.float64), torch.zeros(stack.n, dtype=torch.long), 0
    for X, y in loader:
        logits = stack(X)  # (B, N, classes)
        loss += F.cross_entropy(logits.transpose(1, 2), y.unsqueeze(1).expand(-1, stack.n), reduction="none").sum(0)
        correct += (logits.argmax(2) == y.unsqueeze(1)).sum(0)
        n += len(y)
    if n == 0:
        raise ValueError("loader is empty")
    return [{"loss": float(loss[k]) / n, "accuracy": int(correct[k]) / n} for k in range(stack.n)]


def train_seeds(build: Callable[[], SmallCNN], splits, seeds: Sequence[int], *, epochs: int = 5, lr: float = 1e-3,
                batch_size: int = 64, optimizer: str = "adam", weight_decay: float = 0.0, scheduler: Any = None,
                scheduler_interval: str = "epoch", eval_loaders: dict[str, DataLoader] | None = None,
                eval_batch_size: int = EVAL_BATCH_SIZE, threads: int | None = None) -> list[tuple[SmallCNN, History]]:
    """Train one model per seed in one pass, as ``train_classifier(build, splits, seed=s, ...)`` would.

    Model k starts from the weights ``build()`` makes after ``seed_everything(seeds[k])`` and
    sees the batch order of ``train_loader(splits.train, batch_size, seed=seeds[k])``.

    Args:
        build: makes one ``SmallCNN`` (all of one shape).
        seeds: distinct non-negative seeds, one model each.
        scheduler: a factory ``optimizer -> LRScheduler`` (one learning rate for all models).
        eval_loaders: extra loaders scored after every epoch, logged as ``{name}_loss``/``{name}_accuracy``
            (like ``EvaluateOn``); the validation split is always scored (``val_*``).
        threads: intra-op threads while training (default: the package's training threads).

    Returns:
        ``[(model, history)]`` in the order of ``seeds``; models in eval mode. ``history.train_time_s``
        and ``epoch_time_s`` are the *joint* wall time of all seeds.
    """
    from .data import train_loader

    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must be a non-empty list of seeds, got an empty one")
    for k, s in enumerate(seeds):
        check_int(f"seeds[{k}]", s, min_value=0)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    check_int("epochs", epochs, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    eval_loaders = dict(eval_loaders or {})
    models = []
    for s in seeds:
        seed_everything(s)
        models.append(build())
    stack = StackedCNN(models)
    loaders = [train_loader(splits.train, batch_size, seed=s) for s in seeds]
    loaders_eval = {"val": eval_loader(splits.val, eval_batch_size), **eval_loaders}
    opt = _make_optimizer(optimizer, stack, lr, weight_decay)
    sched = scheduler(opt) if callable(scheduler) and not hasattr(scheduler, "step") else scheduler
    histories = [History() for _ in seeds]
    with training_threads(threads), timed("training"):
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            stack.train()
            t0, lr_now = time.perf_counter(), opt.param_groups[0]["lr"]
            loss_sum, correct, n_seen = torch.zeros(len(seeds), dtype=torch.float64), torch.zeros(len(seeds)), 0
            for batches in zip(*loaders):
                X = torch.stack([b[0] for b in batches], 1)
                y = torch.stack([b[1] for b in batches], 1)
                logits = stack(X)
                losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0)
                opt.zero_grad(set_to_none=True)
                losses.sum().backward()
                opt.step()
                if sched is not None and scheduler_interval == "step":
                    sched.step()
                loss_sum += losses.detach().double() * len(X)
                correct += (logits.detach().argmax(2) == y).sum(0)
                n_seen += len(X)
            if sched is not None and scheduler_interval == "epoch":
                sched.step()
            scores = {name: _evaluate_stack(stack, dl) for name, dl in loaders_eval.items()}
            dt = time.perf_counter() - t0
            for k, h in enumerate(histories):
                logs = {"epoch": epoch, "train_loss": float(loss_sum[k]) / n_seen,
                        "train_accuracy": float(correct[k]) / n_seen, "lr": lr_now, "epoch_time_s": dt}
                for name, per_model in scores.items():
                    logs.update({f"{name}_{m}": v for m, v in per_model[k].items()})
                h.epochs.append(logs)
        total = time.perf_counter() - start
    for h in histories:
        h.train_time_s = total
    return list(zip(stack.unstack(), histories))


def paired_differences(scores: dict[str, Sequence[float]], reference: str):
    """Compare every arm with ``reference`` seed by seed: mean, spread and the paired difference.

    The verdict uses the course's one rule for "within noise" (``metrics.paired_summary``): a
    difference counts only when every seed agrees in sign and the mean is more than two standard
    errors from 0; ``p_value`` is the exact paired permutation test.

    Args:
        scores: ``{arm: [score of seed 0, seed 1, ...]}``, the same seeds in the same order for every arm.
        reference: the arm the others are compared with.

    Returns:
        a DataFrame indexed by arm with ``mean``, ``std`` (over seeds), ``diff_mean``/``diff_std`` (of the
        per-seed differences arm - reference), ``p_value`` and ``verdict``: ``"better"``, ``"worse"`` or
        ``"within noise"``.
    """
    import numpy as np
    import pandas as pd

    from .metrics import paired_summary

    check_type("scores", scores, dict)
    if reference not in scores:
        raise ValueError(f"reference must be one of the arms {list(scores)}, got {reference!r}")
    arrays = {arm: np.asarray(v, dtype=float) for arm, v in scores.items()}
    n = len(arrays[reference])
    if n < 2 or any(a.shape != (n,) for a in arrays.values()):
        raise ValueError(f"scores must hold the same number (>= 2) of seeds for every arm, got "
                         f"{ {arm: len(a) for arm, a in arrays.items()} }")
    rows = {}
    for arm, a in arrays.items():
        s = paired_summary(arrays[reference], a, scale=1.0)
        verdict = "reference" if arm == reference else (
            "within noise" if s["within_noise"] else ("better" if s["gain"] > 0 else "worse"))
        rows[arm] = {"mean": a.mean(), "std": a.std(ddof=1), "diff_mean": s["gain"], "diff_std": s["gain_std"],
                     "p_value": s["p_value"], "verdict": verdict}
    return pd.DataFrame.from_dict(rows, orient="index")
