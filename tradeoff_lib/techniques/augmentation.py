"""Data augmentation presets built on ``torchvision.transforms.v2``, per sample and per batch.

Per-sample presets run on one image in [0, 1] before normalization
(``splits.train.with_transform(make_transform("light"))``):

- ``"none"``: no augmentation;
- ``"light"``: small geometric changes that keep the label — rotation ±10°, shift ±10 %, scale 0.9–1.1;
- ``"strong"``: ``"light"`` plus an elastic distortion (half of the images) and random erasing;
- ``"harmful"``: horizontal flips and rotations up to ±180° — they turn a 6 into a 9 and a 2 into
  a mirrored "S": the label no longer matches the image. Augmentation must respect the label.

Batch presets mix pairs of images of a batch and their labels, ``x̃ = λ xᵢ + (1 − λ) xⱼ``,
``ỹ = λ yᵢ + (1 − λ) yⱼ`` with ``λ ~ Beta(a, a)`` (MixUp), or paste a box of ``xⱼ`` into ``xᵢ`` and
set ``λ`` to the area kept (CutMix). They produce soft labels of shape (N, C), which ``fit``'s
default step accepts:

- ``"mixup"`` (``v2.MixUp``), ``"cutmix"`` (``v2.CutMix``).

The model and hence the inference latency do not change; the extra work happens while training.

Used in: ``notebooks/06_data_augmentation.ipynb``.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader, default_collate
from torchvision.transforms import v2

from .._checks import check_choice, check_float, check_int, check_type
from ..data import eval_loader

SAMPLE_PRESETS = ("none", "light", "strong", "harmful")
BATCH_PRESETS = ("mixup", "cutmix")
PRESETS = SAMPLE_PRESETS + BATCH_PRESETS

__all__ = ["PRESETS", "SAMPLE_PRESETS", "BATCH_PRESETS", "make_transform", "make_batch_transform",
           "MixingCollate", "augmented_loader", "loader_time_s", "train_augmented", "mixup_pair", "plot_augmentations",
           "with_train_transform"]


def make_transform(preset: str) -> Callable | None:
    """The per-sample ``v2`` pipeline of a preset (``None`` for ``"none"`` and the batch presets).

    The pipeline takes and returns one image tensor (C, H, W) in [0, 1]; the empty background
    (0) fills the pixels that move in.
    """
    check_choice("preset", preset, PRESETS)
    light = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    if preset == "light":
        return light
    if preset == "strong":
        return v2.Compose([light, v2.RandomApply([v2.ElasticTransform(alpha=30.0, sigma=4.0)], p=0.5),
                           v2.RandomErasing(p=0.5, scale=(0.02, 0.1), value=0.0)])
    if preset == "harmful":
        return v2.Compose([v2.RandomHorizontalFlip(p=0.5), v2.RandomRotation(degrees=180)])
    return None


def make_batch_transform(preset: str, num_classes: int, alpha: float = 1.0) -> Callable | None:
    """``v2.MixUp`` or ``v2.CutMix`` for a batch preset (``None`` for per-sample presets).

    Args:
        preset: one of ``PRESETS``.
        num_classes: classes of the one-hot labels (>= 2).
        alpha: the Beta(a, a) parameter of the mixing weight λ (> 0).
    """
    check_choice("preset", preset, PRESETS)
    check_int("num_classes", num_classes, min_value=2)
    check_float("alpha", alpha, low=0.0, low_inclusive=False)
    if preset == "mixup":
        return v2.MixUp(alpha=alpha, num_classes=num_classes)
    if preset == "cutmix":
        return v2.CutMix(alpha=alpha, num_classes=num_classes)
    return None


class MixingCollate:
    """A ``collate_fn`` that stacks a batch and then applies a batch transform (MixUp/CutMix)."""

    def __init__(self, batch_transform: Callable):
        if not callable(batch_transform):
            raise TypeError(f"batch_transform must be callable, got {type(batch_transform).__name__}")
        self.batch_transform = batch_transform

    def __call__(self, batch):
        X, y = default_collate(batch)
        return self.batch_transform(X, y)


def augmented_loader(dataset, preset: str = "none", *, batch_size: int = 64, seed: int = 0,
                     num_classes: int | None = None, alpha: float = 1.0) -> DataLoader:
    """A shuffled training loader over ``dataset`` with a preset's augmentation.

    Per-sample presets replace the dataset's transform (``dataset.with_transform``); batch
    presets add a ``MixingCollate`` (``num_classes`` defaults to the largest label + 1).
    """
    from ..data import ArrayDataset

    check_type("dataset", dataset, ArrayDataset)
    check_choice("preset", preset, PRESETS)
    check_int("batch_size", batch_size, min_value=1)
    check_int("seed", seed, min_value=0)
    if num_classes is None:
        num_classes = int(dataset.labels.max()) + 1
    ds = dataset.with_transform(make_transform(preset))
    mixer = make_batch_transform(preset, num_classes, alpha)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed),
                      collate_fn=MixingCollate(mixer) if mixer is not None else None)


def train_augmented(build: Callable, splits, *, preset: str = "none", train_size: int | None = None,
                    epochs: int | None = None, steps: int | None = None, seed: int = 0, lr: float = 1e-3,
                    batch_size: int = 64, validate: bool = True, progress: bool = False, name: str | None = None,
                    **fit_kwargs):
    """Seed, build and train a model on (a stratified subset of) the training split with a preset.

    Give either ``epochs`` or ``steps``: with ``steps``, the number of epochs is
    ``⌈steps / batches per epoch⌉``, so small training sets get as many updates as big ones.

    ``validate=False`` skips the per-epoch validation (faster for many short epochs).

    Returns:
        ``(model, history)``; the model is in eval mode.
    """
    from ..data import stratified_subset
    from ..caching import train_model

    if (epochs is None) == (steps is None):
        raise ValueError(f"give exactly one of epochs and steps, got epochs={epochs!r}, steps={steps!r}")
    check_choice("preset", preset, PRESETS)
    train = splits.train if train_size is None else stratified_subset(splits.train, train_size, seed=seed)
    if steps is not None:
        check_int("steps", steps, min_value=1)
        epochs = math.ceil(steps / math.ceil(len(train) / batch_size))
    check_int("epochs", epochs, min_value=1)
    check_type("validate", validate, bool)
    loader = augmented_loader(train, preset, batch_size=batch_size, seed=seed, num_classes=splits.info.num_classes)
    val = eval_loader(splits.val) if validate else None
    return train_model(build, loader, val, seed=seed, epochs=epochs, lr=lr, progress=progress,
                       desc=name or f"{preset} n={len(train)}", **fit_kwargs)


def loader_time_s(dataset, preset: str = "none", *, batch_size: int = 64, seed: int = 0,
                  num_classes: int | None = None) -> float:
    """Wall time (s) of one pass over ``augmented_loader(dataset, preset)`` with no model: the data cost of an epoch."""
    import time

    loader = augmented_loader(dataset, preset, batch_size=batch_size, seed=seed, num_classes=num_classes)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def mixup_pair(x1: torch.Tensor, y1: int, x2: torch.Tensor, y2: int, lam: float, num_classes: int):
    """MixUp of two examples by hand: ``(λ x₁ + (1 − λ) x₂, λ onehot(y₁) + (1 − λ) onehot(y₂))``."""
    check_float("lam", lam, low=0.0, high=1.0)
    check_int("num_classes", num_classes, min_value=2)
    eye = torch.eye(num_classes)
    return lam * x1 + (1 - lam) * x2, lam * eye[int(y1)] + (1 - lam) * eye[int(y2)]


def plot_augmentations(dataset, presets=("none", "light", "strong", "harmful"), *, n_images: int = 6,
                       seed: int = 0, path: str | Path | None = None):
    """A grid of augmented training images: one row per preset, one column per image.

    Batch presets (MixUp, CutMix) mix each image with the next one, with a fresh λ per cell;
    their soft labels give the title of each cell (the two largest label weights).
    """
    import matplotlib.pyplot as plt

    from ..plotting import save_figure

    check_int("n_images", n_images, min_value=2)
    for p in presets:
        check_choice("preset", p, PRESETS)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=gen)[:n_images]
    images, labels = dataset.images[idx], dataset.labels[idx]
    fig, axes = plt.subplots(len(presets), n_images, figsize=(1.3 * n_images, 1.45 * len(presets)),
                             layout="constrained", squeeze=False)
    torch.manual_seed(seed)
    num_classes = int(dataset.labels.max()) + 1
    for row, preset in zip(axes, presets):
        t, mix = make_transform(preset), make_batch_transform(preset, num_classes)
        X = torch.stack([t(x) if t else x for x in images])
        Y = torch.nn.functional.one_hot(labels, num_classes).float()
        if mix is not None:  # one pair per cell: v2.MixUp/CutMix draw one λ per call
            pairs = [mix(X[[i, (i + 1) % n_images]], labels[[i, (i + 1) % n_images]]) for i in range(n_images)]
            X, Y = torch.stack([p[0][0] for p in pairs]), torch.stack([p[1][0] for p in pairs])
        for ax, x, y in zip(row, X, Y):
            ax.imshow(x[0].clamp(0, 1).numpy(), cmap="gray_r", vmin=0, vmax=1)
            top = torch.topk(y, 2)
            ax.set_title(" ".join(f"{int(c)}:{w:.2f}" for w, c in zip(*top) if w > 0.005) if mix is not None
                         else str(int(y.argmax())), fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
        row[0].set_ylabel(preset, fontsize=9)
    if path is not None:
        save_figure(fig, path)
    return fig


def with_train_transform(splits, preset: str):
    """A copy of ``splits`` whose training set uses a per-sample preset (validation/test unchanged)."""
    check_choice("preset", preset, SAMPLE_PRESETS)
    return dataclasses.replace(splits, train=splits.train.with_transform(make_transform(preset)))
