"""Measuring a quantized model: what it stores, how far its outputs moved, how fast it runs.

- ``weight_dtypes``: the dtype each layer really stores (``qint8``/``int8`` after int8
  quantization; fake quantization keeps ``float32``).
- ``output_error``: relative error of the logits against the float model,
  ``||f_q(X) - f(X)||_2 / ||f(X)||_2``, and how often the two agree on the class; more
  sensitive than accuracy for judging calibration.
- ``speedup_table``: side-by-side latency (interleaved, ``tl.compare_latency``) at several
  batch sizes, as speedups over a baseline.

Used in: ``notebooks/02_quantization.ipynb``.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_module, check_tensor, check_type
from ..latency import compare_latency


def weight_dtypes(model: nn.Module) -> dict[str, torch.dtype]:
    """The dtype in which each layer stores its weight: ``{layer_name: dtype}``.

    Reads packed int8 weights of ``torch.ao`` quantized layers (``layer.weight()``) and
    the ``qdata`` of torchao's int8 tensors, so a check can assert that int8 is really stored.
    """
    check_module("model", model)
    found = {}
    for name, module in model.named_modules():
        w = getattr(module, "weight", None)
        if callable(w) and not isinstance(w, torch.Tensor):
            w = w()
        if hasattr(w, "qdata"):
            w = w.qdata
        if isinstance(w, torch.Tensor):
            found[name] = w.dtype
    return found


@torch.inference_mode()
def output_error(reference: nn.Module, model: nn.Module, X: torch.Tensor) -> dict[str, float]:
    """How far ``model``'s outputs on ``X`` are from ``reference``'s (neither model is changed).

    Returns ``{"relative_error": ||y - y_ref|| / ||y_ref||, "agreement": fraction of equal argmax}``.
    """
    check_module("reference", reference)
    check_module("model", model)
    check_tensor("X", X)
    modes = reference.training, model.training
    reference.eval(), model.eval()
    try:
        ref, out = reference(X), model(X)
    finally:
        reference.train(modes[0]), model.train(modes[1])
    return {"relative_error": float((out - ref).norm() / ref.norm().clamp(min=1e-12)),
            "agreement": float((out.argmax(1) == ref.argmax(1)).float().mean())}


def speedup_table(models: dict[str, nn.Module], inputs: dict[str, torch.Tensor], *, baseline: str,
                  repeats: dict[str, int] | int = 100, threads: int | None = 1, rounds: int = 2) -> list[dict]:
    """Latency of each model on each input, measured side by side, and its speedup over ``baseline``.

    Returns rows ``{"input", "model", "p50_ms", "p99_ms", "speedup"}`` (speedup = baseline p50 / p50).
    ``repeats`` may differ per input (e.g. fewer calls at batch 64); inputs with fewer than 4
    repeats are timed in one round (each extra round costs warm-up calls).
    """
    check_type("models", models, dict)
    check_type("inputs", inputs, dict)
    if baseline not in models:
        raise ValueError(f"baseline must be one of {', '.join(map(repr, models))}; got {baseline!r}")
    rows = []
    for label, x in inputs.items():
        n = repeats[label] if isinstance(repeats, dict) else repeats
        stats = compare_latency(models, x, repeats=n, warmup=max(1, min(10, n // 5)), threads=threads,
                                rounds=max(1, min(rounds, n // 2)))
        for name, s in stats.items():
            rows.append({"input": label, "model": name, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms,
                         "speedup": stats[baseline].p50_ms / s.p50_ms})
    return rows
