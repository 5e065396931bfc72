"""Datasets, stratified splits and data loaders.

The default dataset, ``"mnist5k"``, is 5,000 real MNIST digits (500 per class)
stored in ``data/mnist5k.npz``; it works offline and needs no download. On request,
torchvision's MNIST, FashionMNIST and CIFAR-10 are downloaded into ``data/``;
offline, that request fails at once with a message that says how to get them.

Images are kept in memory as float tensors in [0, 1]; each dataset normalizes
with the *training* split's per-channel mean and std after any augmentation.

Used in: every notebook.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._checks import check_choice, check_int, check_type

DATASETS = ("mnist5k", "mnist", "fashionmnist", "cifar10")
DEFAULT_SIZES = {"mnist5k": (3500, 500, 1000)}
EVAL_BATCH_SIZE = 50
"""Images per batch when a model is scored (``eval_loader``). Measured on a 2-core VM, one thread:
scoring 1,000 images with ``SmallCNN(64)`` took 0.43 s in batches of 50 and 0.87 s in batches of 500,
whose activations (100 MB per layer) no longer fit in the CPU caches; the logits were bit-identical,
because in eval mode every image is computed on its own. Smaller batches than 50 gained nothing."""
CLASS_NAMES = {
    "mnist5k": tuple(str(i) for i in range(10)),
    "mnist": tuple(str(i) for i in range(10)),
    "fashionmnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
}


class DatasetUnavailableError(RuntimeError):
    """An optional dataset is not on disk and cannot be downloaded now."""


def data_dir() -> Path:
    """The data folder: ``$TRADEOFF_DATA_DIR`` if set, else the repository's ``data/``."""
    env = os.environ.get("TRADEOFF_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


class ArrayDataset(Dataset):
    """In-memory images with labels; ``transform`` runs before normalization.

    Args:
        images: float tensor (N, C, H, W) with values in [0, 1].
        labels: int64 tensor (N,).
        mean, std: per-channel normalization applied after ``transform``.
        transform: optional callable on one (C, H, W) image in [0, 1]
            (for example a ``torchvision.transforms.v2`` pipeline).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float],
                 std: Sequence[float], transform: Callable | None = None):
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        self.images, self.labels, self.transform = images, labels.long(), transform
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map images in [0, 1] to the normalized scale the models see."""
        return (x - self.mean) / self.std

    def __getitem__(self, i: int):
        x = self.images[i]
        if self.transform is not None:
            x = self.transform(x)
        return self.normalize(x), self.labels[i]

    def subset(self, indices: Sequence[int] | torch.Tensor, transform: Callable | None = None) -> "ArrayDataset":
        """A new dataset with the given rows (same normalization)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ArrayDataset(self.images[idx], self.labels[idx], self.mean.flatten().tolist(),
                            self.std.flatten().tolist(), transform)

    def with_transform(self, transform: Callable | None) -> "ArrayDataset":
        """The same data with another training-time transform (data are shared, not copied)."""
        return ArrayDataset(self.images, self.labels, self.mean.flatten().tolist(),
                            self.std.flatten().tolist(), transform)

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All normalized images and labels at once (no transform), for fast evaluation."""
        return self.normalize(self.images), self.labels


@dataclass
class Splits:
    """Train/validation/test datasets drawn from one dataset, plus its description."""

    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset
    info: DatasetInfo

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """The first ``batch_size`` normalized test images, for latency and FLOPs."""
        check_int("batch_size", batch_size, min_value=1, max_value=len(self.test))
        return self.test.tensors()[0][:batch_size].clone()


def _load_mnist5k(root: Path) -> tuple[np.ndarray, np.ndarray]:
    path = root / "mnist5k.npz"
    if not path.exists():
        raise DatasetUnavailableError(
            f"{path} is missing. It ships with the repository; restore it with "
            "'git checkout data/mnist5k.npz' or rebuild it with 'python data/make_mnist5k.py'.")
    with np.load(path) as f:
        return f["images"][:, None, :, :], f["labels"].astype(np.int64)


def _torchvision_class(name: str):
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashionmnist": datasets.FashionMNIST,
            "cifar10": datasets.CIFAR10}[name]


def _download_host(cls) -> str:
    url = cls.mirrors[0] if hasattr(cls, "mirrors") else cls.url
    return urlparse(url).hostname or url


def _online(host: str, timeout_s: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _load_torchvision(name: str, root: Path, download: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """All official train images followed by the test images, and the train count."""
    cls = _torchvision_class(name)
    folder = root / "torchvision"
    how = (f"Get it while online with tl.load_splits({name!r}, download=True) "
           f"(or 'python -m tradeoff_lib.data {name}'); it is saved under {folder} and works "
           "offline afterwards. The offline default is 'mnist5k'.")
    try:
        parts = [cls(str(folder), train=train, download=False) for train in (True, False)]
    except RuntimeError:
        if not download:
            raise DatasetUnavailableError(f"dataset {name!r} is not in {folder}. {how}") from None
        host = _download_host(cls)
        if not _online(host):
            raise DatasetUnavailableError(
                f"cannot download {name!r}: {host} is unreachable (offline?). {how}") from None
        try:
            parts = [cls(str(folder), train=train, download=True) for train in (True, False)]
        except Exception as exc:  # network errors come in many types
            raise DatasetUnavailableError(f"downloading {name!r} failed: {exc}. {how}") from exc
    images, labels = [], []
    for part in parts:
        x = np.asarray(part.data)
        images.append(x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2))
        labels.append(np.asarray(part.targets, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels), len(labels[0])


def _stratified(labels: np.ndarray, sizes: Sequence[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Split indices into consecutive groups of the given sizes with the class mix of the whole.

    Each class's members are shuffled and spread evenly over [0, 1); sorting all
    items by that position gives an order in which every stretch holds each class
    in proportion (to within one image per class).
    """
    keys = np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        keys[rng.permutation(members)] = (np.arange(len(members)) + rng.random()) / len(members)
    order = np.lexsort((rng.random(len(labels)), keys))
    bounds = np.cumsum([0, *sizes])
    return [np.sort(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def load_splits(name: str = "mnist5k", *, sizes: Sequence[int] | None = None, seed: int = 0,
                root: str | Path | None = None, download: bool = False) -> Splits:
    """Load a dataset and split it into stratified, seeded train/val/test sets.

    ``mnist5k`` (default) is split 3,500 / 500 / 1,000. For torchvision datasets the
    test set is drawn from the official test images and train/val from the official
    training images (default: all of them, 5,000 of which become validation).

    Args:
        name: one of ``DATASETS``.
        sizes: ``(n_train, n_val, n_test)``; ``None`` uses the defaults above.
        seed: the same seed gives the same split.
        root: data folder (default ``data_dir()``).
        download: allow downloading a torchvision dataset that is not on disk.

    Returns:
        ``Splits`` with ``train``, ``val``, ``test`` and ``info``.
    """
    check_choice("name", name, DATASETS)
    check_int("seed", seed, min_value=0)
    check_type("download", download, bool)
    root = Path(root) if root is not None else data_dir()
    rng = np.random.default_rng(seed)
    if name == "mnist5k":
        images, labels = _load_mnist5k(root)
        sizes = tuple(sizes) if sizes is not None else DEFAULT_SIZES[name]
        _check_sizes(sizes, len(labels))
        train_idx, val_idx, test_idx = _stratified(labels, sizes, rng)
    else:
        images, labels, n_official_train = _load_torchvision(name, root, download)
        pool, test_pool = np.arange(n_official_train), np.arange(n_official_train, len(labels))
        if sizes is None:
            sizes = (n_official_train - 5000, 5000, len(test_pool))
        sizes = tuple(sizes)
        _check_sizes(sizes, len(labels))
        if sizes[0] + sizes[1] > len(pool) or sizes[2] > len(test_pool):
            raise ValueError(f"sizes {sizes} exceed the {len(pool)} training and {len(test_pool)} test images "
                             f"of {name!r}")
        train_idx, val_idx = (pool[i] for i in _stratified(labels[pool], sizes[:2], rng))
        test_idx = test_pool[_stratified(labels[test_pool], (sizes[2],), rng)[0]]
    x = torch.from_numpy(images).float().div_(255.0)
    y = torch.from_numpy(labels)
    mean = x[train_idx].mean(dim=(0, 2, 3)).tolist()
    std = x[train_idx].std(dim=(0, 2, 3)).tolist()
    make = lambda idx: ArrayDataset(x[idx], y[idx], mean, std)  # noqa: E731
    info = DatasetInfo(name=name, num_classes=len(CLASS_NAMES[name]), in_channels=x.shape[1],
                       image_size=x.shape[-1], class_names=CLASS_NAMES[name],
                       mean=tuple(mean), std=tuple(std))
    return Splits(make(train_idx), make(val_idx), make(test_idx), info)


def _check_sizes(sizes: Sequence[int], total: int) -> None:
    if len(sizes) != 3:
        raise ValueError(f"sizes must be (n_train, n_val, n_test), got {sizes!r}")
    for label, n in zip(("n_train", "n_val", "n_test"), sizes):
        check_int(f"sizes[{label}]", n, min_value=1 if label != "n_val" else 0)
    if sum(sizes) > total:
        raise ValueError(f"sizes {tuple(sizes)} add up to {sum(sizes)}, more than the {total} images available")


def stratified_subset(dataset: ArrayDataset, n: int, *, seed: int = 0) -> ArrayDataset:
    """``n`` rows of ``dataset`` with its class proportions (for training-size sweeps)."""
    check_type("dataset", dataset, ArrayDataset)
    check_int("n", n, min_value=1, max_value=len(dataset))
    check_int("seed", seed, min_value=0)
    (idx,) = _stratified(dataset.labels.numpy(), (n,), np.random.default_rng(seed))
    return dataset.subset(idx, dataset.transform)


def make_loaders(splits: Splits, batch_size: int = 64, *, seed: int = 0,
                 eval_batch_size: int = EVAL_BATCH_SIZE) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train (shuffled with a seeded generator), validation and test loaders."""
    check_type("splits", splits, Splits)
    check_int("batch_size", batch_size, min_value=1)
    check_int("eval_batch_size", eval_batch_size, min_value=1)
    check_int("seed", seed, min_value=0)
    return (train_loader(splits.train, batch_size, seed=seed),
            eval_loader(splits.val, eval_batch_size), eval_loader(splits.test, eval_batch_size))


def eval_loader(dataset: Dataset, batch_size: int = EVAL_BATCH_SIZE) -> DataLoader:
    """The loader every model is scored with: ``dataset`` in order, ``EVAL_BATCH_SIZE`` images per batch."""
    check_type("dataset", dataset, Dataset)
    check_int("batch_size", batch_size, min_value=1)
    return DataLoader(dataset, batch_size=batch_size)


def train_loader(dataset: Dataset, batch_size: int = 64, *, seed: int = 0) -> DataLoader:
    """A shuffled loader whose order depends only on ``seed``."""
    check_int("batch_size", batch_size, min_value=1)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradeoff_lib.data NAME``: download an optional dataset into ``data/``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("name", choices=[d for d in DATASETS if d != "mnist5k"])
    args = parser.parse_args(argv)
    try:
        splits = load_splits(args.name, download=True)
    except DatasetUnavailableError as exc:
        print(exc)
        return 1
    print(f"{args.name}: {len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
