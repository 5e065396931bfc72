"""Train once per machine: ``train_model`` (seed, build, fit, cache) and the cache behind it.

Every ``train_*`` helper of the package goes through ``train_model``; with a report folder
as ``cache_dir`` the trained weights and history are stored under a key made of everything
that determines them (``cache_key``: the given parts plus torch version, training threads
and memory layout), and any later call with the same key — from any notebook — reads them
back instead of training again. ``course_baseline`` is the shared ``SmallCNN(64)``.

Used in: every notebook but ``06_data_augmentation``, ``07_multitask_learning``.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import layout
from ._checks import check_int, check_module, check_type
from .io import atomic_write_bytes, atomic_write_json
from .threads import get_training_threads
from .training import History, _device_of, fit, seed_everything


def save_checkpoint(model: nn.Module, path: str | Path) -> Path:
    """Save ``model.state_dict()`` atomically."""
    check_module("model", model)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights saved by ``save_checkpoint`` into ``model`` (``weights_only=True``)."""
    check_module("model", model)
    state = torch.load(Path(path), map_location=_device_of(model), weights_only=True)
    model.load_state_dict(state)
    return model


def train_model(build: Callable[[], nn.Module], train_loader: DataLoader, val_loader: DataLoader | None = None, *,
                seed: int = 0, check_model: Callable[[nn.Module], None] | None = None,
                cache_dir: str | Path | None = None, cache_name: str = "model", cache_parts: dict | None = None,
                **fit_kwargs) -> tuple[nn.Module, History]:
    """The one training core behind every ``train_*`` helper: seed, build, (check), ``fit``, (cache).

    ``train_classifier``, ``augmentation.train_augmented``, ``distillation.train_student``,
    ``multitask.train_multitask`` and ``train_recipe`` differ only in the loaders and the
    ``fit`` hooks they pass here (``step_fn``, ``scheduler``, ``callbacks``...), so "same seed"
    means the same initial weights and the same batch order in all of them.

    Args:
        build: ``() -> model``, called right after ``seed_everything(seed)``.
        check_model: called with the new model before training (e.g. a student/teacher check).
        cache_dir, cache_name, cache_parts: with a ``cache_dir`` and the ``cache_parts`` that
            determine the result (data, recipe, seed...; the model's ``repr`` and config are added),
            the weights are trained once and then read back (``cached_training``).
        **fit_kwargs: passed to ``fit`` (``epochs``, ``lr``, ``step_fn``, ``progress``, ``desc``...).

    Returns:
        ``(model, history)`` with the model in eval mode.
    """
    check_type("train_loader", train_loader, DataLoader)
    seed_everything(seed)
    model = check_module("build()", build())
    if check_model is not None:
        check_model(model)
    parts = None if cache_dir is None or cache_parts is None else {
        **cache_parts, "model": repr(model), "config": getattr(model, "config", None)}
    return cached_training(None if parts is None else cache_dir, cache_name, parts or {}, lambda: model,
                           lambda m: fit(m, train_loader, val_loader, **fit_kwargs))


def data_fingerprint(splits) -> list:
    """What identifies a data split in a cache key: name, sizes and a content hash of the training images."""
    return [splits.info.name, len(splits.train), len(splits.val), len(splits.test),
            # a content hash: a float sum depends on the thread count
            hashlib.sha256(splits.train.images.contiguous().numpy().tobytes()).hexdigest()]


def state_fingerprint(model: nn.Module) -> str:
    """A content hash of a model's weights and buffers (for keys of models derived from another one)."""
    check_module("model", model)
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes() if t.dtype != torch.bfloat16 else
                 t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    """A short hash of ``parts`` (JSON; non-JSON values by ``str``) plus torch version, training threads and layout."""
    check_type("parts", parts, dict)
    src = json.dumps({**parts, "torch": torch.__version__, "training_threads": get_training_threads(),
                      "channels_last": layout.CHANNELS_LAST}, sort_keys=True, default=str)
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def cached_training(cache_dir: str | Path | None, name: str, key: dict[str, Any], build: Callable[[], nn.Module],
                    train: Callable[[nn.Module], History]) -> tuple[nn.Module, History]:
    """Train once per machine: load ``name``'s weights for ``key`` from ``cache_dir`` if present, else train and save.

    Args:
        cache_dir: the report folder (weights go to ``checkpoints/``); ``None`` trains without caching.
        name: a label for the files (``<name>-<key hash>.pt`` and ``.json``).
        key: *everything* that determines the trained weights (recipe, data, seed, the weights of a
            source model via ``state_fingerprint``...); torch version, training threads and layout are added.
        build: makes the untrained model (called in both cases: the cached weights are loaded into it).
        train: trains the model in place and returns its ``History``.

    Returns:
        ``(model, history)``, the model in eval mode.
    """
    check_type("name", name, str)
    model = build()
    check_module("build()", model)
    if cache_dir is None:
        history = train(model)
        model.eval()
        return model, history
    folder, digest = Path(cache_dir) / "checkpoints", cache_key(key)
    weights, meta = folder / f"{name}-{digest}.pt", folder / f"{name}-{digest}.json"
    if weights.exists() and meta.exists():
        load_checkpoint(model, weights)
        model.eval()
        return model, History.from_dict(json.loads(meta.read_text()))
    history = train(model)
    check_type("train(model)", history, History)
    model.eval()
    save_checkpoint(model, weights)
    atomic_write_json(meta, history.to_dict(), indent=None)
    return model, history


def train_classifier(build: Callable[[], nn.Module], splits, *, epochs: int = 5, seed: int = 0,
                     lr: float = 1e-3, batch_size: int = 64, cache_dir: str | Path | None = None,
                     progress: bool = True, name: str | None = None, **fit_kwargs):
    """Seed, build, and ``fit`` a classifier on ``splits``; reuse a cached result if present.

    With ``cache_dir``, the trained weights and history are stored under a key made of
    everything that determines the result (model definition, data split, epochs, seed,
    lr, batch size, torch version and training threads), so notebooks that need the same
    model (the baseline, a teacher) train it once per machine. Custom
    ``step_fn``/``callbacks``/``scheduler``/``optimizer``/``evaluate_fn`` turn the cache off,
    because they cannot be hashed reliably (``cached_training`` takes an explicit key for those).

    Returns:
        ``(model, history)`` with the model in eval mode.
    """
    from .data import make_loaders

    check_int("batch_size", batch_size, min_value=1)
    uncacheable = {"step_fn", "callbacks", "scheduler", "optimizer", "evaluate_fn"}
    cacheable = cache_dir is not None and not (uncacheable & set(fit_kwargs))
    train_dl, val_dl, _ = make_loaders(splits, batch_size, seed=seed)
    parts = {"data": data_fingerprint(splits), "epochs": epochs, "seed": seed, "lr": lr, "batch_size": batch_size,
             "fit": {k: repr(v) for k, v in sorted(fit_kwargs.items())}}
    return train_model(build, train_dl, val_dl, seed=seed, cache_dir=cache_dir if cacheable else None,
                       cache_name=name or "model", cache_parts=parts, epochs=epochs, lr=lr, progress=progress,
                       desc=name, **fit_kwargs)


def course_baseline(splits, *, epochs: int = 4, seed: int = 0, cache_dir: str | Path | None = None,
                    progress: bool = True) -> nn.Module:
    """The course baseline ``SmallCNN(BASELINE_WIDTH)``, trained once and then read from the cache.

    Notebooks 01-04, 08 and 10 all start from this model (notebook 00 trains it in its
    width sweep under the same name and settings, so they share one checkpoint).

    Returns:
        The trained model, in eval mode.
    """
    from .models import BASELINE_WIDTH, make_cnn

    model, _ = train_classifier(lambda: make_cnn(BASELINE_WIDTH, splits.info), splits, epochs=epochs, seed=seed,
                                cache_dir=cache_dir, name=f"cnn{BASELINE_WIDTH}", progress=progress)
    return model
