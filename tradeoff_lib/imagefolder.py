"""A learner's own images: an ImageFolder (one sub-folder per class) as seeded train/val/test ``Splits``.

``root/<class>/<image>``: split seeded and stratified 70/15/15 into train/val/test.
``root/train/<class>/...``, ``root/val/...``, ``root/test/...``: the given split is kept.
Images are resized to the model's input size, scaled to [0, 1] and normalized with the
training split's per-channel mean and std, like the course's own datasets, and held in memory.

Used in: ``notebooks/balance/balance_model.ipynb`` (``python -m tradeoff_lib.balance MODEL --data DIR``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ._checks import check_float, check_int, check_type
from .data import ArrayDataset, DatasetInfo, Splits, _stratified

SPLIT_NAMES = ("train", "val", "test")


def _folder(root: Path):
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(root))
    except (FileNotFoundError, RuntimeError) as exc:
        raise ValueError(f"--data: no images found in {str(root)!r} (expected one sub-folder of images per class; "
                         f"{' '.join(str(exc).split())[:120]})") from None


def image_shape(root: str | Path) -> tuple[int, int, int]:
    """``(C, H, W)`` of the first image of an ImageFolder (C = 1 for grey-scale images, else 3)."""
    root = Path(root)
    has_splits = all((root / s).is_dir() for s in SPLIT_NAMES)
    folder = _folder(root / "train" if has_splits else root)
    image = folder.loader(folder.samples[0][0])
    return (1 if image.mode in ("L", "1", "I", "I;16", "F") else 3, image.height, image.width)


def _load(folder, indices: Sequence[int], shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    c, h, w = shape
    images = torch.empty(len(indices), c, h, w)
    labels = torch.empty(len(indices), dtype=torch.long)
    for k, i in enumerate(indices):
        path, label = folder.samples[i]
        image = Image.open(path).convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 255.0
        images[k] = torch.from_numpy(array[None] if c == 1 else array.transpose(2, 0, 1))
        labels[k] = label
    return images, labels


def load_image_folder(root: str | Path, shape: Sequence[int], *, seed: int = 0,
                      fractions: tuple[float, float] = (0.15, 0.15), max_images: int | None = None) -> Splits:
    """Load an ImageFolder as ``Splits`` with images of ``shape`` ``(C, H, W)``.

    Args:
        root: the folder (with or without ``train/``, ``val/``, ``test/`` sub-folders).
        shape: channels (1 or 3), height and width the model expects; images are resized to it.
        seed: seed of the stratified split (when the folder has no split of its own).
        fractions: ``(val, test)`` shares of the images when splitting.
        max_images: use at most this many images per split (a stratified subset; None: all).

    Raises ``ValueError`` naming the folder when it holds no images or too few to split.
    """
    check_type("root", root, (str, Path))
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"--data: {str(root)!r} is not a folder")
    c, h, w = (check_int("shape", int(d), min_value=1) for d in shape)
    if c not in (1, 3):
        raise ValueError(f"--data: images can be read with 1 or 3 channels, the model wants {c}")
    for f in fractions:
        check_float("fractions", f, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    rng = np.random.default_rng(check_int("seed", seed, min_value=0))
    if all((root / s).is_dir() for s in SPLIT_NAMES):
        folders = [_folder(root / s) for s in SPLIT_NAMES]
        classes = folders[0].classes
        for name, f in zip(SPLIT_NAMES[1:], folders[1:]):
            if f.classes != classes:
                raise ValueError(f"--data: {name}/ has classes {f.classes}, train/ has {classes}")
        parts = [(f, np.arange(len(f.samples))) for f in folders]
    else:
        folder = _folder(root)
        classes, labels = folder.classes, np.array(folder.targets)
        n = len(labels)
        n_val, n_test = (max(len(classes), round(f * n)) for f in fractions)
        if n - n_val - n_test < len(classes):
            raise ValueError(f"--data: {n} images in {str(root)!r} are too few to split into train/val/test")
        idx = _stratified(labels, (n - n_val - n_test, n_val, n_test), rng)
        parts = [(folder, i) for i in idx]
    if len(classes) < 2:
        raise ValueError(f"--data: {str(root)!r} has {len(classes)} class folder; a classifier needs at least 2")
    if max_images is not None:
        check_int("max_images", max_images, min_value=1)
        parts = [(f, i if len(i) <= max_images else
                  i[_stratified(np.array(f.targets)[i], (max_images,), rng)[0]]) for f, i in parts]
    loaded = [_load(f, i, (c, h, w)) for f, i in parts]
    train_x = loaded[0][0]
    mean, std = train_x.mean(dim=(0, 2, 3)).tolist(), train_x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
    info = DatasetInfo(name=f"folder:{root.name}", num_classes=len(classes), in_channels=c, image_size=h,
                       class_names=tuple(classes), mean=tuple(mean), std=tuple(std))
    return Splits(*(ArrayDataset(x, y, mean, std) for x, y in loaded), info)
