"""Helpers that work on *any* classifier: load it, find its output layer, prune and factorize it, profile it.

The course's notebooks know their own ``SmallCNN`` (``layers=["classifier.1"]``). A
learner's model is different, so nothing here uses a layer name: the output layer is
the last ``Linear``/``Conv2d`` that *runs* in a forward pass (found with hooks), the
"large" Linear layers are those holding a real share of the parameters, and every
technique that cannot apply says why in one line.

- ``load_model("torchvision:resnet18")``, ``load_model("my.module:factory")``, ``load_model("m.pt2")``;
- ``check_input_shape(model, (3, 224, 224))``: the model must accept it and return ``(batch, classes)``;
- ``output_layer(model, x)``, ``large_linear_layers(model)``;
- ``prune_channels_auto`` / ``factorize_large_linear``: pruning and low-rank that keep the output layer;
- ``int8_auto``: real int8 or a clear refusal (never fake int8 in silence);

Used in: ``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

import importlib
import types
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from ._checks import check_float, check_int, check_module, check_tensor, check_type
from .applied import applied, mark_applied

LAYERS = (nn.Linear, nn.Conv2d)


def load_model(spec: str, *, weights: str | Path | None = None) -> nn.Module:
    """The model named by ``spec`` in eval mode: ``torchvision:<name>``, ``module.path:factory`` or a ``.pt2`` file.

    torchvision models get random weights unless ``weights`` names a state dict file
    (loaded with ``weights_only=True`` and ``strict=True``). Raises ``ValueError`` or
    ``TypeError`` with a one-line message for an unknown name or a bad factory/file.
    """
    check_type("MODEL", spec, str)
    if spec.startswith("torchvision:"):
        import torchvision

        name = spec.split(":", 1)[1]
        known = torchvision.models.list_models(module=torchvision.models)
        if name not in known:
            close = [k for k in known if name.lower()[:4] in k][:5]
            raise ValueError(f"MODEL: torchvision has no classification model {name!r}"
                             + (f" (did you mean {', '.join(close)}?)" if close else ""))
        model = torchvision.models.get_model(name, weights=None)
    elif spec.endswith(".pt2"):
        if not Path(spec).is_file():
            raise ValueError(f"MODEL: no such file {spec!r}")
        try:
            model = torch.export.load(spec).module()
        except Exception as exc:
            raise ValueError(f"MODEL: {spec!r} is not a file saved by torch.export.save ({_line(exc)})") from None
        # an exported program keeps the mode it was exported in; its train()/eval() raise, so make them no-ops
        model.train = types.MethodType(lambda self, mode=True: self, model)
        model.eval = types.MethodType(lambda self: self, model)
    elif ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"MODEL: cannot import {spec!r} ({_line(exc)})") from None
        if not callable(factory):
            raise TypeError(f"MODEL: {spec!r} is {type(factory).__name__}, not a callable that returns an nn.Module")
        model = factory()
        if not isinstance(model, nn.Module):
            raise TypeError(f"MODEL: {spec}() returned {type(model).__name__}, not an nn.Module")
    else:
        raise ValueError(f"MODEL must be torchvision:<name>, module.path:factory or a .pt2 file; got {spec!r}")
    if weights is not None:
        load_weights(model, weights)
    return model.eval()


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a state dict file into ``model`` (``weights_only=True``, strict); ``ValueError`` if it does not match."""
    check_module("model", model)
    if not Path(path).is_file():
        raise ValueError(f"--weights: no such file {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"--weights: {str(path)!r} is not a state dict file ({_line(exc)})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"--weights: {str(path)!r} holds a {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"--weights: {str(path)!r} does not match the model ({_line(exc, 200)})") from None
    return model


def _line(exc: BaseException, limit: int = 160) -> str:
    """An exception as one short line: ``Type: message``."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:limit]


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"3,224,224"`` -> ``(3, 224, 224)``: positive integers, the batch dimension left out."""
    check_type("--input-shape", text, str)
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"--input-shape must look like C,H,W (e.g. 3,224,224), got {text!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"--input-shape must be positive integers like C,H,W, got {text!r}")
    return shape


def check_input_shape(model: nn.Module, shape: Sequence[int]) -> int:
    """Run ``model`` on one random input of ``shape``; returns the number of classes.

    Raises ``ValueError`` when the model rejects the shape or does not return ``(batch, classes)`` logits.
    """
    check_module("model", model)
    x = torch.randn(1, *shape)
    try:
        with torch.inference_mode():
            out = model.eval()(x)
    except Exception as exc:
        raise ValueError(f"input shape {tuple(shape)} is rejected by the model ({_line(exc)})") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return (batch, classes) logits for input shape {tuple(shape)}, got {got}")
    return int(out.shape[1])


def executed_layers(model: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Names of the ``Linear``/``Conv2d`` layers in the order a forward pass on ``example_input`` runs them."""
    check_module("model", model)
    check_tensor("example_input", example_input)
    order: list[str] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=name: order.append(n))
             for name, m in model.named_modules() if isinstance(m, LAYERS)]
    try:
        with torch.inference_mode():
            model.eval()(example_input)
    finally:
        for h in hooks:
            h.remove()
    return list(dict.fromkeys(order))


def output_layer(model: nn.Module, example_input: torch.Tensor) -> str | None:
    """The name of the last ``Linear``/``Conv2d`` that runs (the classifier), or None if there is none."""
    order = executed_layers(model, example_input)
    return order[-1] if order else None


def large_linear_layers(model: nn.Module, *, min_share: float = 0.02, min_features: int = 64) -> list[str]:
    """``Linear`` layers holding at least ``min_share`` of the parameters, both sides >= ``min_features``.

    These are the layers where a low-rank factorization can save compute and memory.
    """
    check_module("model", model)
    check_float("min_share", min_share, low=0.0, high=1.0)
    check_int("min_features", min_features, min_value=1)
    total = sum(p.numel() for p in model.parameters()) or 1
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)
            and m.weight.numel() >= min_share * total and min(m.in_features, m.out_features) >= min_features]


def prune_channels_auto(model: nn.Module, amount: float, example_input: torch.Tensor, **kwargs) -> nn.Module:
    """Structured channel pruning of a copy that never touches the output layer (found by ``output_layer``).

    Other keyword arguments go to ``techniques.pruning.prune_channels``.
    """
    from .techniques import pruning

    keep = output_layer(model, example_input)
    if keep is None:
        raise ValueError("model has no Linear/Conv2d layer that runs: nothing to prune")
    out = pruning.prune_channels(model, amount, example_input=example_input, ignored_layers=[keep], **kwargs)
    if not any(e.get("technique") == "prune_channels" for e in applied(out)[len(applied(model)):]):
        mark_applied(out, "prune_channels", amount=amount, kept_output_layer=keep)
    return out


def factorize_large_linear(model: nn.Module, *, rank_fraction: float | None = 0.25, energy: float | None = None,
                           layers: Iterable[str] | None = None) -> nn.Module:
    """Low-rank factorization (a copy) of the large ``Linear`` layers.

    Each layer keeps ``rank_fraction`` of its full rank, or (with ``energy``, ``rank_fraction=None``)
    the smallest rank keeping that fraction of its singular-value energy. Only layers where the
    factorization needs fewer multiply-adds are changed; ``ValueError`` when there is none
    (the technique does not apply to this model).
    """
    from .techniques import lowrank

    if (rank_fraction is None) == (energy is None):
        raise ValueError(f"give exactly one of rank_fraction or energy, got {rank_fraction!r} and {energy!r}")
    names = list(large_linear_layers(model) if layers is None else layers)
    if not names:
        raise ValueError("no large Linear layer (>= 2 % of the parameters) to factorize")
    if rank_fraction is not None:
        check_float("rank_fraction", rank_fraction, low=0.0, high=1.0, low_inclusive=False)
        modules = dict(model.named_modules())
        ranks = {n: max(1, int(rank_fraction * lowrank.full_rank(modules[n]))) for n in names}
        plan = lowrank.lowrank_plan(model, rank=ranks, layers=names)
    else:
        plan = lowrank.lowrank_plan(model, energy=energy, layers=names)
    plan = [p for p in plan if p.factorize]
    if not plan:
        raise ValueError(f"a factorization saves no compute in {', '.join(names)} at this rank")
    ranks = {p.name: p.rank for p in plan}
    out = lowrank.factorize(model, rank=ranks, layers=list(ranks))
    return mark_applied(out, "lowrank", rank_fraction=rank_fraction, energy=energy, ranks=ranks)


def int8_auto(model: nn.Module, calibration, example_input: torch.Tensor, *, method: str = "auto") -> nn.Module:
    """Real int8 (static FX, else dynamic) of a copy; ``RuntimeError`` saying why if only fake int8 would work.

    A result that is not smaller than 90 % of the float model (no layer was quantized) is refused too.
    ``method`` goes to ``quantization.quantize_int8``; works with both forms of its result
    (a model, or ``(model, method)``).
    """
    from .techniques import quantization

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = quantization.quantize_int8(model, calibration, method=method, example_input=example_input)
    if isinstance(out, tuple):
        out, method = out
        if not any(e.get("technique") == "int8" for e in applied(out)):
            mark_applied(out, "int8", method=method)
    method = applied(out)[-1].get("method")
    why = "; ".join(" ".join(str(w.message).split())[:160] for w in caught if issubclass(w.category, RuntimeWarning))
    if method == "fake_int8":
        raise RuntimeError(f"no real int8 kernel applies (only fake int8 with float speed){': ' + why if why else ''}")
    from .cost import size_bytes

    if size_bytes(out) > 0.9 * size_bytes(model):  # e.g. dynamic int8 of a model without nn.Linear modules
        raise RuntimeError(f"int8 method {method} left this model's weights in float (no layer it can quantize)")
    return out
