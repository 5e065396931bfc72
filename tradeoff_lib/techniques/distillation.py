"""Knowledge distillation: a small student learns from a trained teacher's softened outputs.

The student minimizes a blend of two losses (Hinton, Vinyals & Dean, 2015):

    L = alpha * T^2 * KL( softmax(z_t / T) || softmax(z_s / T) ) + (1 - alpha) * CE(y, z_s)

``z_t`` are the teacher's logits, ``z_s`` the student's, ``T > 0`` the temperature
(``T > 1`` spreads probability onto the wrong classes, which carries the teacher's
"dark knowledge": which digits look alike), ``alpha`` in [0, 1] the share of the soft
loss. The ``T^2`` factor keeps the soft loss's gradients on the same scale for every ``T``.

The teacher is a *separate, already trained* model; the student never wraps it. Because
the teacher is frozen and the training images are not augmented here, its logits are
computed once (``teacher_logits``) and reused by every student run instead of running
the teacher on every batch.

Used in: ``notebooks/08_knowledge_distillation.ipynb``.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from .._checks import check_float, check_int, check_module, check_tensor, check_type
from ..data import EVAL_BATCH_SIZE, ArrayDataset, train_loader
from ..modes import eval_mode
from ..caching import train_model

__all__ = ["soft_targets", "distillation_loss", "teacher_logits", "WithTeacherLogits", "distillation_step",
           "check_student_teacher", "train_student"]


def _check_temperature_alpha(temperature, alpha) -> tuple[float, float]:
    temperature = check_float("temperature", temperature, low=0.0, low_inclusive=False)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0)
    return temperature, alpha


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Probabilities softened by a temperature: ``softmax(logits / T)`` over the last dimension."""
    check_tensor("logits", logits, ndim=2)
    temperature = check_float("temperature", temperature, low=0.0, low_inclusive=False)
    return F.softmax(logits / temperature, dim=-1)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor, *,
                      temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """``alpha * T^2 * KL(softmax(z_t/T) || softmax(z_s/T)) + (1 - alpha) * CE(y, z_s)``, batch mean.

    Args:
        student_logits: ``z_s``, shape (N, C); gradients flow into it.
        teacher_logits: ``z_t``, shape (N, C); treated as constants (detached).
        y: true class indices, shape (N,); -1 marks an unlabelled image, which gets only the
            soft term (the cross-entropy is averaged over the labelled rows of the batch).
        temperature: ``T > 0``.
        alpha: weight of the soft (teacher) term in [0, 1]; 0 is plain cross-entropy.

    Returns:
        A scalar tensor.
    """
    temperature, alpha = _check_temperature_alpha(temperature, alpha)
    check_tensor("student_logits", student_logits, ndim=2)
    check_tensor("teacher_logits", teacher_logits, ndim=2)
    check_tensor("y", y, ndim=1)
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits must have the student's shape {tuple(student_logits.shape)}, "
                         f"got {tuple(teacher_logits.shape)} (same batch and number of classes)")
    if y.shape[0] != student_logits.shape[0]:
        raise ValueError(f"y must have {student_logits.shape[0]} labels (one per row of the logits), got {y.shape[0]}")
    labelled = y >= 0
    if bool(labelled.all()):
        hard = F.cross_entropy(student_logits, y)
    elif bool(labelled.any()):
        hard = F.cross_entropy(student_logits[labelled], y[labelled])
    else:
        hard = student_logits.sum() * 0.0
    if alpha == 0.0:
        return hard
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    soft = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)  # KL(p_t || p_s)
    return alpha * temperature ** 2 * soft + (1.0 - alpha) * hard


@torch.inference_mode()
def teacher_logits(teacher: nn.Module, dataset: ArrayDataset, *, num_classes: int | None = None,
                   min_accuracy: float = 0.5, batch_size: int = EVAL_BATCH_SIZE) -> torch.Tensor:
    """The teacher's logits for every image of ``dataset`` (no transform), computed once.

    Refuses a teacher whose outputs have the wrong shape or whose accuracy on
    ``dataset`` is below ``min_accuracy`` (an untrained teacher would teach noise).
    The teacher's train/eval mode is restored afterwards.

    Returns:
        A float tensor (len(dataset), C).
    """
    check_module("teacher", teacher)
    check_type("dataset", dataset, ArrayDataset)
    check_float("min_accuracy", min_accuracy, low=0.0, high=1.0)
    check_int("batch_size", batch_size, min_value=1)
    X, y = dataset.tensors()
    with eval_mode(teacher):
        logits = torch.cat([teacher(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    expected_classes = num_classes if num_classes is not None else int(y.max()) + 1
    if logits.ndim != 2 or logits.shape[1] != expected_classes:
        raise ValueError(f"teacher must output logits of shape (N, {expected_classes}), got "
                         f"{tuple(logits.shape[1:])} per batch: is it a model for this dataset?")
    acc = float((logits.argmax(1) == y).float().mean())
    if acc < min_accuracy:
        raise ValueError(f"teacher looks untrained: accuracy {acc:.3f} on the training set, below "
                         f"min_accuracy {min_accuracy:g}. Train it first (it must be a separate, trained model).")
    return logits.clone()


class WithTeacherLogits(Dataset):
    """A dataset that yields ``(x, (y, z_t))``: each image with its label and the teacher's cached logits."""

    def __init__(self, dataset: ArrayDataset, logits: torch.Tensor):
        check_type("dataset", dataset, ArrayDataset)
        check_tensor("logits", logits, ndim=2)
        if len(logits) != len(dataset):
            raise ValueError(f"logits must have one row per image ({len(dataset)}), got {len(logits)}")
        self.dataset, self.logits = dataset, logits

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        x, y = self.dataset[i]
        return x, (y, self.logits[i])


def distillation_step(*, temperature: float, alpha: float, teacher: nn.Module | None = None) -> Callable:
    """A ``step_fn`` for ``tl.fit``: ``(model, X, y) -> (loss, None)`` with the distillation loss.

    ``y`` is ``(labels, teacher_logits)`` from ``WithTeacherLogits``; or, with ``teacher``
    given, plain labels and the teacher runs on each batch, in eval mode and without
    gradients (needed when the images are augmented on the fly, so cached logits would not match).
    """
    temperature, alpha = _check_temperature_alpha(temperature, alpha)
    if teacher is not None:
        check_module("teacher", teacher)

    def step(model, X, y):
        if teacher is None:
            if not isinstance(y, (tuple, list)) or len(y) != 2:
                raise TypeError("without a teacher, batches must carry (labels, teacher_logits); "
                                "wrap the dataset in WithTeacherLogits")
            labels, z_t = y
        else:
            with torch.no_grad():
                teacher.eval()
                labels, z_t = y, teacher(X)
        return distillation_loss(model(X), z_t, labels, temperature=temperature, alpha=alpha), None

    return step


def check_student_teacher(student: nn.Module, teacher: nn.Module, example_input: torch.Tensor) -> None:
    """Raise if the teacher is the student, wraps it (or is wrapped by it), or outputs another shape."""
    check_module("student", student)
    check_module("teacher", teacher)
    if student is teacher or any(m is student for m in teacher.modules()) or any(
            m is teacher for m in student.modules()):
        raise ValueError("teacher must be a separate trained model: it is (or contains, or is contained in) "
                         "the student, so the student would learn from itself")
    with torch.inference_mode(), eval_mode(student, teacher):
        s_shape, t_shape = tuple(student(example_input).shape), tuple(teacher(example_input).shape)
    if s_shape != t_shape:
        raise ValueError(f"teacher outputs shape {t_shape} but the student outputs {s_shape}: "
                         "both must predict the same classes")


def train_student(build: Callable[[], nn.Module], splits, *, logits: torch.Tensor | None = None,
                  temperature: float = 4.0, alpha: float = 0.9, epochs: int = 4, lr: float = 1e-3,
                  batch_size: int = 64, seed: int = 0, progress: bool = False):
    """Seed, build and train a student: distilled from cached teacher ``logits``, or alone when ``logits`` is None.

    Both cases start from the same initial weights and see the same batches for a given
    ``seed``, so "distilled minus alone" is a paired comparison.

    Returns:
        ``(model, history)`` with the model in eval mode.
    """
    _check_temperature_alpha(temperature, alpha)
    check_int("seed", seed, min_value=0)
    data = splits.train if logits is None else WithTeacherLogits(splits.train, logits)
    step = None if logits is None else distillation_step(temperature=temperature, alpha=alpha)
    return train_model(build, train_loader(data, batch_size, seed=seed), None, seed=seed, epochs=epochs, lr=lr,
                       step_fn=step, progress=progress,
                       desc="student" if logits is None else f"student T={temperature:g} a={alpha:g}")
