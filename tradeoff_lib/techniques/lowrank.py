"""Low-rank factorization: replace a big layer by two thin ones from its truncated SVD.

A ``Linear`` layer computes ``y = W x + b`` with ``W`` of shape ``m x n``. The SVD
``W = U S V^T`` gives the best rank-``r`` approximation (Eckart-Young)::

    W_r = U_r S_r V_r^T,     ||W - W_r||_F = sqrt(s_{r+1}^2 + ... + s_min(m,n)^2)

and ``y ~ B (A x) + b`` with ``A = S_r^{1/2} V_r^T`` (``r x n``) and ``B = U_r S_r^{1/2}``
(``m x r``): two ``nn.Linear`` layers. The multiply-adds per input drop from ``m n`` to
``r (m + n)``, so the factorization only saves compute when ``r < m n / (m + n)``.

A ``Conv2d`` with kernel ``(out, in, k, k)`` is reshaped to ``out x (in k k)`` and
factorized the same way: a ``k x k`` conv with ``r`` filters (``A``) followed by a
``1 x 1`` conv back to ``out`` channels (``B``); the break-even rank is
``out * in k^2 / (out + in k^2)``.

The rank of each layer is chosen either directly (``rank=r``) or by the fraction of
singular-value *energy* kept: the smallest ``r`` with
``sum_{i<=r} s_i^2 >= energy * sum_i s_i^2``.

Used in: ``notebooks/01_compression_lowrank.ipynb``, ``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_float, check_int, check_module, check_type
from ..applied import mark_applied
from ..data import eval_loader
from ..training import History, fit, seed_everything

SUPPORTED = (nn.Linear, nn.Conv2d)


__all__ = ["singular_values", "full_rank", "breakeven_rank", "macs_ratio", "rank_for_energy",
           "factorize_layer", "factorized_weight", "LayerPlan", "lowrank_plan", "factorize", "approximation_error",
           "eckart_young_error", "body_features", "fine_tune_head"]


def _matrix(layer: nn.Module) -> torch.Tensor:
    """The layer's weight as a 2-D matrix ``out x (in * k * k)``."""
    if isinstance(layer, nn.Linear):
        return layer.weight.detach()
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            raise ValueError(f"layer: grouped/depthwise Conv2d (groups={layer.groups}) is not supported; "
                             "only groups=1 can be factorized")
        return layer.weight.detach().reshape(layer.out_channels, -1)
    raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")


def _svd(W: torch.Tensor):
    """Thin SVD in float32; LAPACK is several times faster on the tall orientation, so wide matrices are transposed."""
    W = W.float()
    if W.shape[0] >= W.shape[1]:
        return torch.linalg.svd(W, full_matrices=False)
    U, S, Vh = torch.linalg.svd(W.T, full_matrices=False)
    return Vh.T, S, U.T


def singular_values(layer: nn.Module) -> torch.Tensor:
    """Singular values (descending) of the layer's weight matrix (a conv kernel reshaped to ``out x in k k``)."""
    W = _matrix(layer).float()
    return torch.linalg.svdvals(W if W.shape[0] >= W.shape[1] else W.T)


def full_rank(layer: nn.Module) -> int:
    """``min(m, n)`` of the layer's weight matrix: the largest rank a factorization can have."""
    return min(_matrix(layer).shape)


def breakeven_rank(layer: nn.Module) -> float:
    """``m n / (m + n)``: below this rank the two thin layers need fewer multiply-adds than the dense one."""
    m, n = _matrix(layer).shape
    return m * n / (m + n)


def macs_ratio(layer: nn.Module, rank: int) -> float:
    """Multiply-adds of the rank-``rank`` factorization relative to the dense layer: ``r (m + n) / (m n)``."""
    m, n = _matrix(layer).shape
    check_int("rank", rank, min_value=1)
    return rank * (m + n) / (m * n)


def rank_for_energy(svals: torch.Tensor, energy: float) -> int:
    """The smallest ``r`` with ``sum_{i<=r} s_i^2 >= energy * sum_i s_i^2`` (``energy`` in (0, 1])."""
    check_type("svals", svals, torch.Tensor)
    check_float("energy", energy, low=0.0, high=1.0, low_inclusive=False)
    power = svals.double() ** 2
    kept = torch.cumsum(power, 0) / power.sum()
    r = int(torch.searchsorted(kept, torch.tensor(energy - 1e-12, dtype=kept.dtype))) + 1
    return min(r, len(svals))


def _choose_rank(layer: nn.Module, rank: int | None, energy: float | None, svals=None) -> int:
    if (rank is None) == (energy is None):
        raise ValueError(f"give exactly one of rank or energy, got rank={rank!r}, energy={energy!r}")
    if rank is not None:
        return check_int("rank", rank, min_value=1, max_value=full_rank(layer))
    return rank_for_energy(singular_values(layer) if svals is None else svals, energy)


def factorize_layer(layer: nn.Module, *, rank: int | None = None, energy: float | None = None) -> nn.Sequential:
    """Two thin layers ``B(A x)`` from the rank-``r`` truncated SVD of ``layer`` (a new module; ``layer`` is unchanged).

    ``nn.Linear(n, m)`` -> ``Sequential(Linear(n, r, bias=False), Linear(r, m))``;
    ``nn.Conv2d(in, out, k)`` -> ``Sequential(Conv2d(in, r, k, same stride/padding/dilation, bias=False),
    Conv2d(r, out, 1))``. The singular values are split evenly, ``A = S^{1/2} V^T``, ``B = U S^{1/2}``,
    so both factors have the same scale (better for fine-tuning). At full rank the output is unchanged.

    Args:
        layer: ``nn.Linear`` or ``nn.Conv2d`` with ``groups=1``.
        rank: the rank ``r`` in ``[1, min(m, n)]``; or
        energy: the fraction of singular-value energy to keep, in (0, 1].

    Returns:
        ``nn.Sequential`` of the two factors, on the layer's device and dtype.
    """
    W = _matrix(layer)
    U, S, Vh = _svd(W)
    r = _choose_rank(layer, rank, energy, svals=S)
    root = S[:r].sqrt()
    A = (root[:, None] * Vh[:r]).to(W.dtype)
    B = (U[:, :r] * root).to(W.dtype)
    kw = {"device": W.device, "dtype": W.dtype}
    has_bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        first = nn.Linear(layer.in_features, r, bias=False, **kw)
        second = nn.Linear(r, layer.out_features, bias=has_bias, **kw)
        A_shape, B_shape = A.shape, B.shape
    else:
        first = nn.Conv2d(layer.in_channels, r, layer.kernel_size, stride=layer.stride, padding=layer.padding,
                          dilation=layer.dilation, padding_mode=layer.padding_mode, bias=False, **kw)
        second = nn.Conv2d(r, layer.out_channels, 1, bias=has_bias, **kw)
        A_shape, B_shape = (r, layer.in_channels, *layer.kernel_size), (layer.out_channels, r, 1, 1)
    with torch.no_grad():
        first.weight.copy_(A.reshape(A_shape))
        second.weight.copy_(B.reshape(B_shape))
        if has_bias:
            second.bias.copy_(layer.bias.detach())
    return nn.Sequential(first, second)


def factorized_weight(factors: nn.Sequential) -> torch.Tensor:
    """The ``m x n`` matrix ``B A`` that a pair of factors from ``factorize_layer`` applies."""
    check_type("factors", factors, nn.Sequential)
    if len(factors) != 2 or not all(isinstance(f, SUPPORTED) for f in factors):
        raise ValueError("factors must be the two-layer Sequential returned by factorize_layer")
    A = factors[0].weight.detach().reshape(factors[0].weight.shape[0], -1)
    B = factors[1].weight.detach().reshape(factors[1].weight.shape[0], -1)
    return B @ A


@dataclass(frozen=True)
class LayerPlan:
    """What ``factorize`` does to one layer: its shape, the chosen rank and whether that saves compute."""

    name: str
    kind: str
    shape: tuple[int, int]
    full_rank: int
    breakeven_rank: float
    rank: int
    energy_kept: float
    macs_ratio: float
    factorize: bool


def lowrank_plan(model: nn.Module, *, rank: int | Mapping[str, int] | None = None, energy: float | None = None,
                 layers: Sequence[str] | None = None, only_if_cheaper: bool = True) -> list[LayerPlan]:
    """The rank ``factorize`` would give each layer, without changing anything.

    Args:
        model: any module.
        rank: one rank for every layer (capped at each layer's full rank) or ``{layer_name: rank}``.
        energy: fraction of singular-value energy to keep in each layer, in (0, 1].
        layers: names of the layers to consider (default: every ``Linear``/``Conv2d``, or the keys of a rank dict).
        only_if_cheaper: plan to factorize a layer only when its rank is below the break-even rank.

    Returns:
        One ``LayerPlan`` per considered layer, in model order.
    """
    check_module("model", model)
    if (rank is None) == (energy is None):
        raise ValueError(f"give exactly one of rank or energy, got rank={rank!r}, energy={energy!r}")
    if energy is not None:
        check_float("energy", energy, low=0.0, high=1.0, low_inclusive=False)
    modules = dict(model.named_modules())
    if isinstance(rank, Mapping):
        layers = list(rank) if layers is None else layers
    elif rank is not None:
        check_int("rank", rank, min_value=1)
    if layers is None:
        layers = [name for name, m in modules.items() if isinstance(m, SUPPORTED)]
    plan = []
    for name in layers:
        if name not in modules:
            raise ValueError(f"layers: no module named {name!r} in the model")
        layer = modules[name]
        if not isinstance(layer, SUPPORTED):
            raise TypeError(f"layers: {name!r} is {type(layer).__name__}; "
                            "only nn.Linear and nn.Conv2d can be factorized")
        svals = singular_values(layer)
        if isinstance(rank, Mapping):
            r = check_int(f"rank[{name!r}]", rank[name], min_value=1, max_value=len(svals))
        else:
            r = min(rank, len(svals)) if rank is not None else rank_for_energy(svals, energy)
        power = svals.double() ** 2
        kept = float(power[:r].sum() / power.sum()) if power.sum() > 0 else 1.0
        ratio = macs_ratio(layer, r)
        plan.append(LayerPlan(name=name, kind=type(layer).__name__, shape=tuple(_matrix(layer).shape),
                              full_rank=len(svals), breakeven_rank=breakeven_rank(layer), rank=r,
                              energy_kept=kept, macs_ratio=ratio, factorize=ratio < 1 or not only_if_cheaper))
    return plan


def factorize(model: nn.Module, *, rank: int | Mapping[str, int] | None = None, energy: float | None = None,
              layers: Sequence[str] | None = None, only_if_cheaper: bool = True) -> nn.Module:
    """A copy of ``model`` whose layers are replaced by their truncated-SVD factorization.

    Arguments as in ``lowrank_plan``; each layer whose plan says ``factorize`` becomes the
    ``nn.Sequential`` from ``factorize_layer``. The model keeps its class and forward;
    only the named children change. Example: ``factorize(cnn, rank=32, layers=["classifier.1"])``.
    """
    plan = lowrank_plan(model, rank=rank, energy=energy, layers=layers, only_if_cheaper=only_if_cheaper)
    target = copy.deepcopy(model)
    for p in plan:
        if not p.factorize:
            continue
        parent_name, _, child = p.name.rpartition(".")
        parent = target.get_submodule(parent_name) if parent_name else target
        setattr(parent, child, factorize_layer(getattr(parent, child), rank=p.rank))
    return mark_applied(target, "low-rank", ranks={p.name: p.rank for p in plan if p.factorize})


def approximation_error(layer: nn.Module, rank: int) -> float:
    """``||W - W_r||_F`` of the rank-``rank`` factorization of ``layer`` (measured, not from the formula)."""
    factors = factorize_layer(layer, rank=rank)
    return float(torch.linalg.matrix_norm(_matrix(layer) - factorized_weight(factors)))


def eckart_young_error(layer: nn.Module, rank: int) -> float:
    """The Eckart-Young bound ``sqrt(sum_{i>r} s_i^2)``: the smallest error any rank-``r`` matrix can reach."""
    check_int("rank", rank, min_value=1, max_value=full_rank(layer))
    svals = singular_values(layer).double()
    return math.sqrt(float((svals[rank:] ** 2).sum()))


def body_features(model: nn.Module, splits, *, body: str = "features"):
    """The outputs of the frozen ``model.<body>`` (eval mode) on the training and validation images.

    Returns:
        ``(train, val)`` as ``TensorDataset``s of ``(features, label)``, for ``fine_tune_head(..., features=...)``.
    """
    from torch.utils.data import TensorDataset

    check_module("model", model)
    body_m = getattr(model, body, None)
    if body_m is None:
        raise ValueError(f"body: model has no submodule named {body!r}")
    check_module(f"model.{body}", body_m)
    body_m.eval()

    def cached(dataset):
        with torch.no_grad():
            parts = [(body_m(X), y) for X, y in eval_loader(dataset)]
        return TensorDataset(torch.cat([f for f, _ in parts]), torch.cat([y for _, y in parts]))

    return cached(splits.train), cached(splits.val)


def fine_tune_head(model: nn.Module, splits, *, body: str = "features", head: str = "classifier", epochs: int = 2,
                   lr: float = 1e-3, batch_size: int = 64, seed: int = 0, features=None,
                   progress: bool = False) -> History:
    """Fine-tune only ``model.<head>`` (in place) on the outputs of the frozen ``model.<body>``.

    The body runs once, in eval mode, over the training and validation images (or pass
    ``features=body_features(model, splits)`` to reuse them for several models with the same
    body); the head then trains on these cached features. When only the head was factorized,
    this recovers most of the lost accuracy at a fraction of the cost of full fine-tuning.

    Returns:
        The head's training ``History`` (validation accuracy per epoch).
    """
    from torch.utils.data import DataLoader

    check_module("model", model)
    head_m = getattr(model, head, None)
    if head_m is None:
        raise ValueError(f"head: model has no submodule named {head!r}")
    check_module(f"model.{head}", head_m)
    train, val = features if features is not None else body_features(model, splits, body=body)
    getattr(model, body).eval()
    generator = seed_everything(seed)
    train_dl = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator)
    history = fit(head_m, train_dl, eval_loader(val), epochs=epochs, lr=lr,
                  progress=progress, desc=f"fine-tune {head}")
    model.eval()
    return history
