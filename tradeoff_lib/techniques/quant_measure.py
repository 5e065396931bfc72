"""Measuring a quantized model: what it stores, how far its outputs moved, how fast it runs.

- ``weight_dtypes``: the dtype each layer really stores (``qint8``/``int8`` after int8
  quantization; fake quantization keeps ``float32``).
- ``output_error``: relative error of the logits against the float model,
  ``||f_q(X) - f(X)||_2 / ||f(X)||_2``, and how often the two agree on the class; more
  sensitive than accuracy for judging calibration.
- ``compare_batches`` / ``speedup_rows``: side-by-side latency (interleaved,
  ``tl.compare_latency``) at several batch sizes, and the speedups over a baseline.

Used in: ``notebooks/02_quantization.ipynb``.
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import check_int, check_module, check_tensor, check_type
from ..latency import LatencyStats, compare_latency
from ..modes import eval_mode

__all__ = ["weight_dtypes", "output_error", "compare_batches", "speedup_rows"]


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
def output_error(reference: nn.Module | torch.Tensor, model: nn.Module, X: torch.Tensor,
                 y: torch.Tensor | None = None) -> dict[str, float]:
    """How far ``model``'s outputs on ``X`` are from the reference outputs (no model is changed).

    Args:
        reference: the float model, or its outputs on ``X`` (computed once, reused across calls).
        model: the model to judge (e.g. a quantized copy).
        X: inputs, one batch.
        y: optional labels; adds ``"accuracy"`` of ``model``.

    Returns:
        ``{"relative_error": ||y_q - y_ref|| / ||y_ref||, "agreement": fraction of equal argmax[, "accuracy"]}``.
    """
    check_module("model", model)
    check_tensor("X", X)
    check_type("reference", reference, (nn.Module, torch.Tensor))
    ref = _outputs(reference, X) if isinstance(reference, nn.Module) else reference
    out = _outputs(model, X)
    if out.shape != ref.shape:
        raise ValueError(f"reference outputs have shape {tuple(ref.shape)}, model outputs {tuple(out.shape)}")
    result = {"relative_error": float((out - ref).norm() / ref.norm().clamp(min=1e-12)),
              "agreement": float((out.argmax(1) == ref.argmax(1)).float().mean())}
    if y is not None:
        result["accuracy"] = float((out.argmax(1) == check_tensor("y", y)).float().mean())
    return result


def _outputs(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    with eval_mode(model):
        return model(X)


def compare_batches(models: dict[str, nn.Module], inputs: dict[str, torch.Tensor], *,
                    repeats: dict[str, int] | int = 100, threads: int | None = 1,
                    rounds: int = 2) -> dict[str, dict[str, LatencyStats]]:
    """Latency of every model on every input, side by side: ``{input_label: {model_name: LatencyStats}}``.

    Each input is one ``tl.compare_latency`` run (models interleaved). ``repeats`` may
    differ per input (e.g. fewer calls at batch 64); an input with fewer than 4 repeats is
    timed in one round, because every extra round costs warm-up calls.
    """
    check_type("models", models, dict)
    check_type("inputs", inputs, dict)
    out = {}
    for label, x in inputs.items():
        n = repeats[label] if isinstance(repeats, dict) else repeats
        check_int(f"repeats[{label!r}]", n, min_value=1)
        out[label] = compare_latency(models, x, repeats=n, warmup=max(1, min(10, n // 5)), threads=threads,
                                     rounds=max(1, min(rounds, n // 2)))
    return out


def speedup_rows(latency: dict[str, dict[str, LatencyStats]], *, baseline: str) -> list[dict]:
    """Rows ``{"input", "model", "p50_ms", "p99_ms", "speedup"}`` with speedup = baseline p50 / model p50."""
    check_type("latency", latency, dict)
    rows = []
    for label, stats in latency.items():
        if baseline not in stats:
            raise ValueError(f"baseline must be one of {', '.join(map(repr, stats))}; got {baseline!r}")
        for name, s in stats.items():
            rows.append({"input": label, "model": name, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms,
                         "speedup": stats[baseline].p50_ms / s.p50_ms})
    return rows
