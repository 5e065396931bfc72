"""Pruning: remove the least important weights (unstructured) or whole channels (structured).

**Unstructured magnitude pruning** sets the fraction ``amount`` of weights with the
smallest ``|w|`` to zero, per layer (``scope="layer"``) or ranked across all layers at
once (``scope="global"``). It solves the sparse approximation problem

    min_{W'} ||W - W'||_F^2   s.t.  ||W'||_0 <= k

exactly (keep the ``k`` largest-magnitude entries), which equals the layer's output
error ``E||W x - W' x||^2`` when the inputs are white (``E[x x^T] = I``). The weights
stay in dense tensors, so dense kernels still multiply every zero: size on disk and
latency do not shrink, only the count of non-zeros does. ``torch.nn.utils.prune`` does
the masking (``weight = weight_orig * weight_mask``); ``make_permanent`` bakes it in.

**Structured channel pruning** removes whole output channels (conv filters, linear
units) and the matching inputs of every layer that consumes them, so the tensors get
smaller and the model really gets faster. Which layers are coupled (residual
additions, BatchNorm, flatten into a linear layer) is found by tracing the graph with
Torch-Pruning's ``DependencyGraph``; channels are ranked by the L2 norm of their group.

Used in: ``notebooks/03_pruning.ipynb``, ``notebooks/09_deployment_runtimes.ipynb``,
``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .._checks import check_choice, check_float, check_int, check_module, check_tensor, check_type
from ..applied import mark_applied

PRUNABLE = (nn.Linear, nn.Conv2d)
SCOPES = ("layer", "global")
IMPORTANCES = ("l2", "l1", "random")


__all__ = ["SCOPES", "IMPORTANCES", "prunable_layers", "magnitude_mask", "prune_magnitude",
           "make_permanent", "layer_sparsity", "sparsity", "sensitivity_scan", "channel_counts", "prune_channels",
           "iterative_prune_channels"]


def _check_amount(amount) -> float:
    return check_float("amount", amount, low=0.0, high=1.0, high_inclusive=False)


def prunable_layers(model: nn.Module, layers: Sequence[str] | None = None) -> dict[str, nn.Module]:
    """``{name: module}`` of the ``Linear``/``Conv2d`` layers to prune (all of them, or the named ones).

    Raises ``ValueError`` for an unknown name and ``TypeError`` for a layer of another type.
    """
    check_module("model", model)
    modules = dict(model.named_modules())
    if layers is None:
        return {name: m for name, m in modules.items() if isinstance(m, PRUNABLE)}
    check_type("layers", layers, (list, tuple))
    chosen = {}
    for name in layers:
        if name not in modules:
            raise ValueError(f"layers: no module named {name!r} in the model")
        if not isinstance(modules[name], PRUNABLE):
            raise TypeError(f"layers: {name!r} is {type(modules[name]).__name__}; "
                            "only nn.Linear and nn.Conv2d weights can be pruned")
        chosen[name] = modules[name]
    return chosen


def magnitude_mask(weight: torch.Tensor, amount: float) -> torch.Tensor:
    """The keep-mask of magnitude pruning, by hand: 0 for the ``round(amount * n)`` smallest ``|w|``, 1 elsewhere.

    The same mask as ``torch.nn.utils.prune.l1_unstructured`` (tested against it).
    """
    check_tensor("weight", weight)
    n_prune = round(_check_amount(amount) * weight.numel())
    mask = torch.ones_like(weight)
    if n_prune:
        smallest = torch.topk(weight.detach().abs().flatten(), n_prune, largest=False).indices
        mask.view(-1)[smallest] = 0
    return mask


def prune_magnitude(model: nn.Module, amount: float, *, scope: str = "global", layers: Sequence[str] | None = None,
                    permanent: bool = False) -> nn.Module:
    """Unstructured L1-magnitude pruning of the weights, on a copy (``tl.applied`` on it says what was done).

    Args:
        amount: fraction of weights to zero, in [0, 1): per layer (``scope="layer"``) or of all
            chosen weights together, ranked globally (``scope="global"``; layers then end up with
            different sparsities).
        layers: names of ``Linear``/``Conv2d`` layers (default: all of them). Biases are kept.
        permanent: remove the masks afterwards (``prune.remove``) so ``weight`` is a plain tensor
            with zeros; otherwise the ``torch.nn.utils.prune`` re-parametrization stays, which keeps
            pruned weights at zero during fine-tuning.

    Returns:
        The pruned model.
    """
    amount = _check_amount(amount)
    check_choice("scope", scope, SCOPES)
    target = copy.deepcopy(model)
    chosen = prunable_layers(target, layers)
    if scope == "global":
        prune.global_unstructured([(m, "weight") for m in chosen.values()],
                                  pruning_method=prune.L1Unstructured, amount=amount)
    else:
        for m in chosen.values():
            prune.l1_unstructured(m, "weight", amount=amount)
    mark_applied(target, "unstructured pruning", amount=amount, scope=scope, permanent=permanent)
    return make_permanent(target) if permanent else target


def make_permanent(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its pruning masks baked into the weights (``prune.remove`` on every pruned tensor)."""
    check_module("model", model)
    masked = [(module, h._tensor_name) for module in model.modules() for h in module._forward_pre_hooks.values()
              if isinstance(h, prune.BasePruningMethod)]
    computed = [getattr(module, name) for module, name in masked]
    try:  # a masked weight computed by a forward pass is not a graph leaf, and deepcopy refuses those
        for (module, name), value in zip(masked, computed):
            setattr(module, name, value.detach())
        out = copy.deepcopy(model)
    finally:
        for (module, name), value in zip(masked, computed):
            setattr(module, name, value)
    for module in out.modules():
        for name in [h._tensor_name for h in module._forward_pre_hooks.values()
                     if isinstance(h, prune.BasePruningMethod)]:
            prune.remove(module, name)
    return out


def layer_sparsity(model: nn.Module, layers: Sequence[str] | None = None) -> dict[str, float]:
    """Fraction of exactly-zero weights in each ``Linear``/``Conv2d`` layer (masks included)."""
    return {name: int((m.weight == 0).sum()) / m.weight.numel() for name, m in prunable_layers(model, layers).items()}


def sparsity(model: nn.Module, layers: Sequence[str] | None = None) -> float:
    """Fraction of exactly-zero weights over all ``Linear``/``Conv2d`` layers (or the named ones)."""
    chosen = prunable_layers(model, layers).values()
    zeros = sum(int((m.weight == 0).sum()) for m in chosen)
    return zeros / max(1, sum(m.weight.numel() for m in chosen))


def sensitivity_scan(model: nn.Module, evaluate: Callable[[nn.Module], float], amounts: Iterable[float], *,
                     layers: Sequence[str] | None = None, workers: int = 1) -> dict[str, list[float]]:
    """Score after pruning one layer at a time: ``{layer: [evaluate(pruned copy) for amount in amounts]}``.

    Layers whose score collapses at low sparsity are *sensitive* and should be pruned less;
    the model itself is not changed. ``workers > 1`` scores the copies in that many
    single-threaded processes (``tradeoff_lib.parallel``): the same numbers, sooner.
    """
    from ..parallel import map_in_processes

    check_type("evaluate", evaluate, Callable)
    amounts = [_check_amount(a) for a in amounts]
    names = list(prunable_layers(model, layers))
    jobs = [(name, a) for name in names for a in amounts]
    def score(job):
        name, amount = job
        return float(evaluate(prune_magnitude(model, amount, scope="layer", layers=[name])))

    scores = map_in_processes(score, jobs, workers, kind="evaluation")
    return {name: scores[i * len(amounts):(i + 1) * len(amounts)] for i, name in enumerate(names)}


def channel_counts(model: nn.Module) -> dict[str, int]:
    """Output channels of every ``Conv2d`` and output units of every ``Linear``: what structured pruning shrinks."""
    check_module("model", model)
    return {name: m.out_channels if isinstance(m, nn.Conv2d) else m.out_features
            for name, m in model.named_modules() if isinstance(m, PRUNABLE)}


def _channel_pruner(model: nn.Module, amount: float, example_input: torch.Tensor, *,
                    ignored_layers: Sequence[str] | None, importance: str, global_pruning: bool, steps: int):
    import torch_pruning as tp

    check_module("model", model)
    check_tensor("example_input", example_input)
    check_choice("importance", importance, IMPORTANCES)
    check_int("steps", steps, min_value=1)
    check_type("global_pruning", global_pruning, bool)
    if ignored_layers is None:  # the output layer: its channels are the model's outputs
        ignored_layers = list(prunable_layers(model))[-1:]
    ignored = list(prunable_layers(model, list(ignored_layers)).values())
    scorer = (tp.importance.RandomImportance() if importance == "random"
              else tp.importance.GroupMagnitudeImportance(p=1 if importance == "l1" else 2))
    was_training = model.training
    model.eval()
    pruner = tp.pruner.BasePruner(model, example_input, importance=scorer, pruning_ratio=amount,
                                  ignored_layers=ignored, global_pruning=global_pruning, iterative_steps=steps)
    return pruner, was_training


def prune_channels(model: nn.Module, amount: float = 0.5, *, example_input: torch.Tensor,
                   ignored_layers: Sequence[str] | None = None, importance: str = "l2",
                   global_pruning: bool = False) -> nn.Module:
    """Structured pruning: physically remove ``amount`` of the channels of every prunable group (a copy by default).

    Torch-Pruning traces ``model(example_input)`` to find coupled layers, ranks the channels of
    each group by their weight norm and removes the lowest ``amount`` fraction (each group keeps
    ``int(channels * (1 - amount))``), shrinking convs, BatchNorms and the linear layers that read them.

    Args:
        amount: fraction of channels to remove, in [0, 1).
        example_input: a batch the model accepts (only its shape matters).
        ignored_layers: names of ``Linear``/``Conv2d`` layers whose outputs must stay (default: the last
            one, the output layer, so the number of classes is kept).
        importance: ``"l2"`` or ``"l1"`` weight norm, or ``"random"`` (a baseline to compare against).
        global_pruning: rank channels of all groups together instead of removing ``amount`` in each.

    Returns:
        The smaller model (same class, smaller layers), in the train/eval mode it had.
    """
    amount = _check_amount(amount)
    target = copy.deepcopy(model)
    pruner, was_training = _channel_pruner(target, amount, example_input, ignored_layers=ignored_layers,
                                           importance=importance, global_pruning=global_pruning, steps=1)
    pruner.step()
    return mark_applied(target.train(was_training), "channel pruning", amount=amount, importance=importance)


def iterative_prune_channels(model: nn.Module, amount: float, *, example_input: torch.Tensor, steps: int = 3,
                             fine_tune: Callable[[nn.Module, int], object] | None = None,
                             ignored_layers: Sequence[str] | None = None, importance: str = "l2") -> nn.Module:
    """Prune channels in ``steps`` equal steps up to ``amount``, calling ``fine_tune(model, step)`` after each.

    Small steps with recovery in between let the remaining weights adapt before more is
    removed, which usually keeps more accuracy than one big cut with the same final size.
    """
    amount = _check_amount(amount)
    if fine_tune is not None:
        check_type("fine_tune", fine_tune, Callable)
    target = copy.deepcopy(model)
    pruner, was_training = _channel_pruner(target, amount, example_input, ignored_layers=ignored_layers,
                                           importance=importance, global_pruning=False, steps=steps)
    for step in range(steps):
        target.eval()
        pruner.step()
        if fine_tune is not None:
            fine_tune(target, step)
    return mark_applied(target.train(was_training), "channel pruning", amount=amount, importance=importance,
                        steps=steps, fine_tuned=fine_tune is not None)
