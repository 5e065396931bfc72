"""When does distillation help? A paired, tuned comparison of one student trained alone and distilled.

``compare_arms`` runs one *regime* (which images carry labels, which teacher) as a fair
experiment:

1. **Same budget.** Both arms take the same number of optimizer steps (``epochs`` passes
   over the *whole* training set, ``batch_size`` images a step), with the same initial
   weights for a given seed. The student alone sees only the labelled images (more passes
   over fewer images); the distilled student sees every training image, with the teacher's
   soft targets on all of them and the hard label where there is one.
2. **Same tuning, on validation.** The learning rate of *each* arm is chosen from the same
   grid by mean validation accuracy over ``tune_seeds``; the distilled arm's ``T`` and
   ``alpha`` are chosen the same way first (at the baseline's tuned rate).
3. **Paired test, once.** Both arms, with their chosen settings, are trained on ``seeds``
   (disjoint from ``tune_seeds``) and scored on the test set; the mean paired gain and a
   sign-flip permutation p-value (``metrics.paired_permutation_test``) say whether the
   gain exceeds the seed noise.

Training here uses in-memory mini-batches (``TensorBatches``), so a small student trains
in about a second; ``write_distillation_json`` stores every regime's numbers atomically.

Used in: notebooks/08_knowledge_distillation.ipynb
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from .._checks import check_float, check_int, check_module, check_tensor, check_type
from ..data import eval_loader
from ..metrics import paired_summary
from ..parallel import map_in_processes
from ..io import atomic_write_bytes
from ..training import evaluate, fit, seed_everything
from .distillation import distillation_step

__all__ = ["TensorBatches", "compare_arms", "distillation_helps", "labelled_mask", "regimes_table",
           "run_accuracies", "train_arm", "write_distillation_json"]


class TensorBatches:
    """Seeded, shuffled mini-batches ``(X, y)`` (or ``(X, (y, z_t))`` with ``logits``) from tensors in memory.

    An "epoch" is ``steps_per_epoch`` batches (default: one pass); when the permutation
    runs out a new one is drawn, so a small set can be given as many steps as a large one.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None = None, *,
                 batch_size: int = 64, steps_per_epoch: int | None = None, seed: int = 0):
        check_tensor("X", X)
        check_tensor("y", y, ndim=1)
        if len(y) != len(X) or len(X) == 0:
            raise ValueError(f"X and y must have the same, non-zero length, got {len(X)} and {len(y)}")
        if logits is not None and (check_tensor("logits", logits, ndim=2).shape[0] != len(X)):
            raise ValueError(f"logits must have one row per image ({len(X)}), got {logits.shape[0]}")
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        default = math.ceil(len(X) / self.batch_size)
        self.steps = default if steps_per_epoch is None else check_int("steps_per_epoch", steps_per_epoch, min_value=1)
        self.X, self.y, self.logits = X, y, logits
        self._gen = torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
        self._order, self._pos = torch.empty(0, dtype=torch.long), 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            if self._pos >= len(self._order):
                self._order, self._pos = torch.randperm(len(self.X), generator=self._gen), 0
            idx = self._order[self._pos:self._pos + self.batch_size]
            self._pos += self.batch_size
            yield self.X[idx], self.y[idx] if self.logits is None else (self.y[idx], self.logits[idx])


def labelled_mask(labels: torch.Tensor, n_labelled: int, *, seed: int = 0) -> torch.Tensor:
    """A boolean mask that keeps ``n_labelled`` images, the same number per class (stratified, seeded)."""
    from ..data import _stratified

    check_tensor("labels", labels, ndim=1)
    check_int("n_labelled", n_labelled, min_value=1, max_value=len(labels))
    (idx,) = _stratified(labels.numpy(), (n_labelled,), np.random.default_rng(check_int("seed", seed, min_value=0)))
    mask = torch.zeros(len(labels), dtype=torch.bool)
    mask[torch.as_tensor(idx, dtype=torch.long)] = True
    return mask


def _accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    return evaluate(model, eval_loader(TensorDataset(X, y)))["accuracy"]


def train_arm(build: Callable[[], nn.Module], X: torch.Tensor, y: torch.Tensor, *, mask: torch.Tensor | None = None,
              logits: torch.Tensor | None = None, temperature: float = 4.0, alpha: float = 0.9, epochs: int = 4,
              lr: float = 1e-3, batch_size: int = 64, seed: int = 0) -> nn.Module:
    """Train one arm for ``epochs * ceil(len(X) / batch_size)`` steps and return the model (eval mode).

    Alone (``logits`` None): cross-entropy on the labelled rows ``X[mask]`` only. Distilled:
    every row, soft targets from ``logits``, hard labels where ``mask`` is True (-1 elsewhere).
    """
    check_tensor("X", X)
    check_tensor("y", y, ndim=1)
    mask = torch.ones(len(y), dtype=torch.bool) if mask is None else check_tensor("mask", mask, ndim=1)
    if mask.dtype != torch.bool or len(mask) != len(y) or not bool(mask.any()):
        raise ValueError(f"mask must be a boolean tensor of length {len(y)} with at least one True")
    check_int("epochs", epochs, min_value=1)
    steps = math.ceil(len(X) / check_int("batch_size", batch_size, min_value=1))
    seed_everything(seed)
    model = check_module("build()", build())
    if logits is None:
        batches = TensorBatches(X[mask], y[mask], batch_size=batch_size, steps_per_epoch=steps, seed=seed)
        step = None
    else:
        batches = TensorBatches(X, torch.where(mask, y, -1), logits, batch_size=batch_size, seed=seed)
        step = distillation_step(temperature=temperature, alpha=alpha)
    fit(model, batches, None, epochs=epochs, lr=lr, step_fn=step, progress=False)
    return model.eval()


def run_accuracies(jobs: list, workers: int = 1) -> list[float]:
    """Train and score independent runs ``(build, X, y, X_eval, y_eval, train_arm kwargs)``; accuracies in order.

    With ``workers > 1`` the runs go to that many single-threaded worker processes
    (``tradeoff_lib.parallel``); each run is seeded and deterministic, so the numbers are
    the same as with ``workers=1``, only sooner (2 cores: about twice as fast).
    """
    return map_in_processes(lambda job: _accuracy(train_arm(*job[:3], **job[5]), job[3], job[4]), jobs, workers)


def distillation_helps(alone_val: Sequence[float], distilled_val: Sequence[float], *, level: float = 0.05) -> bool:
    """True when the distilled arm beats the arm alone on *validation* scores (paired by seed): gain > 0 and p < level.

    For a pipeline (the capstone) that must decide whether to keep a distillation step:
    pass the validation accuracies of both recipes over the same seeds (at least 6 pairs
    can reach p < 0.05). Never decide on test scores.
    """
    check_float("level", level, low=0.0, high=1.0, low_inclusive=False)
    s = paired_summary(alone_val, distilled_val)
    return s["gain"] > 0 and s["p_value"] < level


def compare_arms(build: Callable[[], nn.Module], splits, logits: torch.Tensor, *, mask: torch.Tensor | None = None,
                 temperatures: Sequence[float] = (2.0, 4.0), alphas: Sequence[float] = (0.5, 0.9),
                 lrs: Sequence[float] = (1e-3, 3e-3), tune_seeds: Sequence[int] = (100, 101),
                 seeds: Sequence[int] = (0, 1, 2, 3, 4, 5), epochs: int = 4, batch_size: int = 64,
                 workers: int = 1) -> dict:
    """One regime, tuned on validation and tested once over paired seeds (see the module docstring).

    ``workers`` trains independent runs in that many processes (``run_accuracies``) and does not
    change the numbers; every run trains on the package's training thread count (``tradeoff_lib.threads``).

    Returns:
        A JSON-ready dict: ``n_labelled``, ``n_train``, the chosen ``temperature``, ``alpha``,
        ``lr_alone``, ``lr_distilled``, the ``tuning`` rows (arm, lr, T, alpha, mean
        validation accuracy), ``seeds``, per-seed test accuracies ``alone`` and ``distilled``,
        and the ``paired_summary`` (gain in points, spread, wins, p-value).
    """
    check_tensor("logits", logits, ndim=2)
    for name, values in (("temperatures", temperatures), ("alphas", alphas), ("lrs", lrs),
                         ("tune_seeds", tune_seeds), ("seeds", seeds)):
        if not values:
            raise ValueError(f"{name} must hold at least one value, got {values!r}")
    if set(tune_seeds) & set(seeds):
        raise ValueError(f"tune_seeds {list(tune_seeds)} and seeds {list(seeds)} must not overlap "
                         "(tune on some seeds, test on fresh ones)")
    X, y = splits.train.tensors()
    Xv, yv = splits.val.tensors()
    Xt, yt = splits.test.tensors()
    common = {"mask": mask, "epochs": epochs, "batch_size": batch_size}
    tuning = []

    def tune(arm, settings):   # settings: (lr, T, alpha); returns the mean validation accuracy of each
        kws = [dict(common, lr=lr, **({} if arm == "alone" else {"logits": logits, "temperature": t, "alpha": a}))
               for lr, t, a in settings]
        accs = run_accuracies([(build, X, y, Xv, yv, dict(kw, seed=s)) for kw in kws for s in tune_seeds], workers)
        means = [float(np.mean(accs[i * len(tune_seeds):(i + 1) * len(tune_seeds)])) for i in range(len(kws))]
        tuning.extend({"arm": arm, "lr": lr, "temperature": t, "alpha": a, "val_accuracy": v}
                      for (lr, t, a), v in zip(settings, means))
        return means

    alone_val = tune("alone", [(lr, None, None) for lr in lrs])
    lr_alone = lrs[int(np.argmax(alone_val))]
    grid = [(lr_alone, t, a) for t in temperatures for a in alphas]
    grid_val = tune("distilled", grid)
    _, t, a = grid[int(np.argmax(grid_val))]
    others = [(lr, t, a) for lr in lrs if lr != lr_alone]
    by_lr = dict(zip([lr_alone] + [o[0] for o in others], [max(grid_val)] + tune("distilled", others)))
    lr_dist = max(lrs, key=lambda lr: by_lr[lr])
    runs = [(build, X, y, Xt, yt, dict(common, lr=lr_alone, seed=s)) for s in seeds]
    runs += [(build, X, y, Xt, yt, dict(common, lr=lr_dist, seed=s, logits=logits, temperature=t, alpha=a))
             for s in seeds]
    accs = run_accuracies(runs, workers)
    alone, dist = accs[:len(seeds)], accs[len(seeds):]
    return {"n_train": len(y), "n_labelled": int(len(y) if mask is None else mask.sum()), "temperature": t,
            "alpha": a, "lr_alone": lr_alone, "lr_distilled": lr_dist, "epochs": epochs, "tuning": tuning,
            "seeds": list(seeds), "alone": alone, "distilled": dist, **paired_summary(alone, dist)}


def regimes_table(regimes: dict):
    """One row per regime: mean test accuracy alone and distilled, paired gain ± spread, wins, p, T, alpha, lrs."""
    import pandas as pd

    check_type("regimes", regimes, dict)
    return pd.DataFrame([{"regime": name, "labelled": r["n_labelled"], "alone": np.mean(r["alone"]),
                          "distilled": np.mean(r["distilled"]), "gain_pts": r["gain"],
                          "gain_std_pts": r["gain_std"], "wins": f"{r['wins']}/{len(r['seeds'])}",
                          "p_value": r["p_value"], "T": r["temperature"], "alpha": r["alpha"],
                          "lr_alone": r["lr_alone"], "lr_distilled": r["lr_distilled"]}
                         for name, r in regimes.items()])


_REQUIRED = ("seeds", "alone", "distilled", "gain", "p_value", "temperature", "alpha", "lr_alone", "lr_distilled")


def write_distillation_json(path: str | Path, regimes: dict) -> Path:
    """Write ``{"regimes": {name: compare_arms(...) result}}`` to ``path`` atomically; checks each entry first."""
    check_type("regimes", regimes, dict)
    for name, r in regimes.items():
        check_type(f"regimes[{name!r}]", r, dict)
        missing = [k for k in _REQUIRED if k not in r]
        if missing:
            raise ValueError(f"regimes[{name!r}] lacks {missing}: pass compare_arms results")
        if not (len(r["seeds"]) == len(r["alone"]) == len(r["distilled"])):
            raise ValueError(f"regimes[{name!r}] must have one alone and one distilled accuracy per seed")
    return atomic_write_bytes(path, json.dumps({"regimes": regimes}, indent=2).encode())
