"""The course's second task: which of four rotations was applied to a digit image.

``make_rotation_task`` turns an ``ArrayDataset`` into a ``MultiTaskDataset`` whose items are
``(image, {"digit": d, "rotation": k})``: every image is rotated by ``k * 90`` degrees, with
``k`` balanced over 0..3 and shuffled by a seed, independently of the digit, so rotation is a
real second task and not a function of the digit label.

Used in: ``notebooks/07_multitask_learning.ipynb``.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.utils.data import Dataset

from .._checks import check_int, check_type
from ..data import ArrayDataset

TASKS = {"digit": 10, "rotation": 4}
"""The course's two tasks and their number of classes."""

__all__ = ["TASKS", "MultiTaskDataset", "make_rotation_task"]


class MultiTaskDataset(Dataset):
    """Images with one label per task: items are ``(x, {task: label})`` (normalized like ``ArrayDataset``)."""

    def __init__(self, images: torch.Tensor, labels: Mapping[str, torch.Tensor], mean, std):
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        check_type("labels", labels, Mapping)
        if not labels:
            raise ValueError("labels must hold at least one task")
        for task, y in labels.items():
            if y.shape != (len(images),):
                raise ValueError(f"labels[{task!r}] must have shape ({len(images)},), got {tuple(y.shape)}")
        self.images, self.labels = images, {t: y.long() for t, y in labels.items()}
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self._normalized = (images - self.mean) / self.std

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self._normalized[i], {t: y[i] for t, y in self.labels.items()}

    def tensors(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """All normalized images and the label tensors of every task."""
        return self._normalized, dict(self.labels)


def make_rotation_task(dataset: ArrayDataset, *, seed: int = 0) -> MultiTaskDataset:
    """Rotate each image by k * 90 degrees (k balanced over 0..3, shuffled with ``seed``); label digit and k.

    The rotation is independent of the digit. Some images are ambiguous by nature: a 6
    turned by 180 degrees looks like a 9, and 0, 1 and 8 look alike upside down, so
    neither task can reach 100 %.

    Returns:
        A ``MultiTaskDataset`` with tasks ``"digit"`` and ``"rotation"``.
    """
    check_type("dataset", dataset, ArrayDataset)
    check_int("seed", seed, min_value=0)
    n = len(dataset)
    generator = torch.Generator().manual_seed(seed)
    k = (torch.arange(n) % 4)[torch.randperm(n, generator=generator)]
    images = dataset.images.clone()
    for quarter in range(1, 4):
        rows = k == quarter
        images[rows] = torch.rot90(images[rows], quarter, dims=(-2, -1))
    return MultiTaskDataset(images, {"digit": dataset.labels, "rotation": k},
                            dataset.mean.flatten().tolist(), dataset.std.flatten().tolist())
