"""What a model costs to store and to run: parameters, size, FLOPs.

- ``count_params``: every element of every parameter.
- ``count_nonzero_params``: the elements that are not exactly zero (what
  unstructured pruning reduces, while the dense storage stays the same).
- ``size_bytes``: bytes of ``torch.save(model.state_dict())``, i.e. what a
  checkpoint occupies on disk; int8 tensors count one byte per element. A runtime
  wrapper with a ``serialized_size_bytes()`` method (an ONNX file) reports that.
- ``count_flops``: floating-point operations of one forward pass, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-accumulate = 2 FLOPs,
  so MACs = FLOPs / 2). It counts matrix multiplies and convolutions, which
  dominate the cost of these models.

Used in: ``notebooks/00_measuring_realtime_and_accuracy.ipynb`` and every later notebook.
"""
from __future__ import annotations

import copy
import io

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._checks import check_module, check_tensor


def _packed(model: nn.Module):
    """Weights that ``torch.ao`` quantized linear layers keep packed as ``(weight, bias)`` (not parameters)."""
    return [v for value in model.state_dict().values() if isinstance(value, tuple)
            for v in value if isinstance(v, torch.Tensor)]


def _source(model: nn.Module) -> nn.Module:
    """The model whose weights ``model`` runs: itself, or for a runtime wrapper (``tradeoff_lib.runtimes``)
    without parameters of its own, the eager model returned by its ``parameter_source()`` method."""
    source = getattr(model, "parameter_source", None)
    found = source() if callable(source) else None
    return found if isinstance(found, nn.Module) else model


def _tensors(model: nn.Module):
    """Parameters plus packed quantized weights; a fully quantized model (no parameters): its stored tensors."""
    model = _source(model)
    params = [p.detach() for p in model.parameters()]
    if params:
        return params + _packed(model)  # a partly quantized model: float parameters + packed int8 layers
    return [v for v in model.state_dict().values() if isinstance(v, torch.Tensor)] + _packed(model)


def count_params(model: nn.Module) -> int:
    """Number of parameter elements (for a quantized model: of its stored weights)."""
    check_module("model", model)
    return sum(t.numel() for t in _tensors(model))


def _nonzero(t: torch.Tensor) -> int:
    if hasattr(t, "qdata") and hasattr(t, "dequantize"):  # torchao's quantized tensor subclasses
        t = t.dequantize()
    if t.is_quantized:
        t = t.int_repr().to(torch.int32) - (t.q_zero_point() if t.qscheme() in
                                            (torch.per_tensor_affine, torch.per_tensor_symmetric) else 0)
    return int(torch.count_nonzero(t))


def count_nonzero_params(model: nn.Module) -> int:
    """Number of parameter elements that are not exactly zero.

    With ``torch.nn.utils.prune`` masks in place, ``weight`` is the masked tensor,
    so pruned elements count as zero.
    """
    check_module("model", model)
    model = _source(model)
    params = dict(model.named_parameters())
    total = 0
    for name, p in params.items():
        module_name, _, attr = name.rpartition(".")
        if attr.endswith("_orig"):  # pruned: count the masked tensor instead
            module = model.get_submodule(module_name) if module_name else model
            p = getattr(module, attr[: -len("_orig")])
        total += _nonzero(p.detach())
    if not params:
        return sum(_nonzero(t) for t in _tensors(model))
    return total + sum(_nonzero(t) for t in _packed(model))


def size_bytes(model: nn.Module) -> int:
    """Serialized size of ``model.state_dict()`` in bytes (the checkpoint on disk).

    A model that defines ``serialized_size_bytes()`` (e.g. an ONNX Runtime session from
    ``tradeoff_lib.runtimes``) reports that instead: the size of the file it runs.
    """
    check_module("model", model)
    own = getattr(model, "serialized_size_bytes", None)
    if callable(own):
        return int(own())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def count_flops(model: nn.Module, example_input: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``example_input`` (MACs = FLOPs / 2).

    The model is not changed: it runs in eval mode under ``inference_mode`` and its
    train/eval flag is restored. Quantized modules are invisible to the counter,
    so count the float model they came from.
    """
    check_module("model", model)
    check_tensor("example_input", example_input)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.inference_mode():
            model(example_input)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, example_input: torch.Tensor) -> int:
    """Multiply-accumulate operations of one forward pass (FLOPs / 2)."""
    return count_flops(model, example_input) // 2


def clone_model(model: nn.Module) -> nn.Module:
    """A deep copy, so that a technique applied to it leaves the original as it was."""
    check_module("model", model)
    return copy.deepcopy(model)
