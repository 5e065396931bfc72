"""Where the time goes: per-layer profiles and a roofline.

- ``profile_layers(model, x)``: ``torch.profiler`` time of every leaf module (conv, linear,
  pooling, their int8 versions...) per forward call, with each layer's share of the call.
  Forward hooks label each leaf module's work, so it works for eager models and for
  ``torch.fx`` graphs (e.g. FX int8); a runtime that hides its layers (ONNX Runtime,
  ``torch.compile``) shows up as one opaque ``(other)`` row.
- A roofline: a kernel cannot run faster than the machine's peak arithmetic rate, nor
  faster than memory can feed it. With ``I`` = FLOPs per byte moved (arithmetic
  intensity), the attainable rate is ``min(peak, I * bandwidth)``.
  ``peak_gemm_flops`` measures the peak with a large fp32 matrix multiply,
  ``memory_bandwidth`` with a large copy; ``traffic_bytes`` estimates the bytes one
  forward pass moves (weights once + every leaf module's input and output);
  ``roofline_table`` says how far each variant is from its bound, ``plot_roofline`` draws it.

Used in: ``notebooks/09_deployment_runtimes.ipynb``.
"""
from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from ._checks import check_float, check_int, check_module, check_tensor
from .latency import num_threads

OTHER = "(other)"
"""The row for time outside any leaf module (functional ops, Python glue, an opaque runtime)."""


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if name and not list(m.children())]


def profile_layers(model: nn.Module, x: torch.Tensor, *, repeats: int = 20, warmup: int = 3,
                   threads: int = 1) -> pd.DataFrame:
    """Per-layer CPU time of ``model(x)``: one row per leaf module, slowest first, plus ``(other)``.

    Columns: ``layer`` (module name), ``type`` (module class), ``ms`` (mean time per forward
    call, self plus children ops), ``share`` (of the mean forward call). The model runs in
    eval mode under ``inference_mode`` with ``threads`` intra-op threads; it is not changed.
    """
    check_module("model", model)
    check_tensor("x", x)
    check_int("repeats", repeats, min_value=1)
    check_int("warmup", warmup, min_value=0)
    leaves = _leaves(model)
    open_ranges: dict[str, object] = {}

    def enter(name):
        def hook(module, args):
            open_ranges[name] = torch.profiler.record_function(f"layer::{name}").__enter__()
        return hook

    def leave(name):
        def hook(module, args, output):
            rf = open_ranges.pop(name, None)
            if rf is not None:
                rf.__exit__(None, None, None)
        return hook

    handles = [h for name, m in leaves for h in (m.register_forward_pre_hook(enter(name)),
                                                  m.register_forward_hook(leave(name)))]
    was_training = model.training
    model.eval()
    try:
        with num_threads(threads), torch.inference_mode():
            for _ in range(warmup):
                model(x)
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                for _ in range(repeats):
                    with torch.profiler.record_function("forward"):
                        model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    totals = {e.key: e.cpu_time_total / 1000 / repeats for e in prof.key_averages()}  # us -> ms per call
    forward = totals.get("forward", float("nan"))
    types = dict((name, type(m).__name__) for name, m in leaves)
    rows = [{"layer": name, "type": types[name], "ms": totals.get(f"layer::{name}", 0.0)} for name, _ in leaves]
    rows.append({"layer": OTHER, "type": "", "ms": max(forward - sum(r["ms"] for r in rows), 0.0)})
    table = pd.DataFrame(rows).sort_values("ms", ascending=False, ignore_index=True)
    table["share"] = table["ms"] / forward
    return table


def _best_seconds(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_gemm_flops(*, n: int = 512, repeats: int = 20, threads: int = 1) -> float:
    """Achieved fp32 FLOP/s of an ``n x n`` matrix multiply (``2 n^3`` FLOPs), best of ``repeats``.

    The best call estimates the peak: on a shared machine most calls are slowed by others, and a
    short call (``n = 512``: a few ms) is more likely to run undisturbed than a long one.
    """
    check_int("n", n, min_value=1)
    check_int("repeats", repeats, min_value=1)
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    with num_threads(threads), torch.inference_mode():
        seconds = _best_seconds(lambda: torch.mm(a, b, out=out), repeats)
    return 2 * n**3 / seconds


def memory_bandwidth(*, megabytes: int = 128, repeats: int = 10, threads: int = 1) -> float:
    """Achieved bytes/s of copying a ``megabytes`` fp32 tensor (read + write: 2x its size), best of ``repeats``.

    Choose ``megabytes`` well above the last-level cache, or the copy measures the cache.
    """
    check_int("megabytes", megabytes, min_value=1)
    check_int("repeats", repeats, min_value=1)
    src = torch.ones(megabytes * 2**20 // 4)
    dst = torch.empty_like(src)
    with num_threads(threads), torch.inference_mode():
        seconds = _best_seconds(lambda: dst.copy_(src), repeats)
    return 2 * src.numel() * 4 / seconds


def traffic_bytes(model: nn.Module, x: torch.Tensor, *, weight_bytes: int | None = None,
                  activation_bytes: int = 4) -> int:
    """Estimated bytes one forward pass moves: weights once plus each leaf module's input and output.

    ``weight_bytes`` overrides the weights' size (e.g. ``tl.size_bytes`` of an int8 copy of
    ``model``); ``activation_bytes`` is bytes per activation element (4 for fp32, 1 for int8).
    An estimate, not a bound: each tensor is counted once, as if it crossed main memory. A
    runtime that fuses layers keeps intermediate feature maps in registers or cache and moves
    less (its point can land above the roof); a model that re-reads tensors moves more.
    """
    check_module("model", model)
    check_tensor("x", x)
    check_int("activation_bytes", activation_bytes, min_value=1)
    elements = [0]

    def hook(module, args, output):
        tensors = [a for a in args if isinstance(a, torch.Tensor)] + [output] * isinstance(output, torch.Tensor)
        elements[0] += sum(t.numel() for t in tensors)

    handles = [m.register_forward_hook(hook) for _, m in _leaves(model)]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if weight_bytes is None:
        weight_bytes = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    check_int("weight_bytes", weight_bytes, min_value=0)
    return int(weight_bytes + elements[0] * activation_bytes)


def roofline_bound(intensity: float, peak_flops: float, bandwidth: float) -> float:
    """Attainable FLOP/s at arithmetic ``intensity`` (FLOPs/byte): ``min(peak, intensity * bandwidth)``."""
    check_float("intensity", intensity, low=0.0, low_inclusive=False)
    check_float("peak_flops", peak_flops, low=0.0, low_inclusive=False)
    check_float("bandwidth", bandwidth, low=0.0, low_inclusive=False)
    return min(peak_flops, intensity * bandwidth)


def roofline_table(variants: Mapping[str, tuple[float, float, float]], peak_flops: float,
                   bandwidth: float) -> pd.DataFrame:
    """One row per ``name: (flops, bytes_moved, seconds_per_call)``: intensity, achieved and bound GFLOP/s.

    ``of_bound`` = achieved / bound (1.0 = on the roofline); ``limit`` says which roof
    applies (``"memory"`` left of the ridge point ``peak / bandwidth``, else ``"compute"``).
    """
    rows = []
    for name, (flops, moved, seconds) in variants.items():
        for arg, value in (("flops", flops), ("bytes_moved", moved), ("seconds", seconds)):
            check_float(f"{name} {arg}", value, low=0.0, low_inclusive=False)
        intensity = flops / moved
        bound = roofline_bound(intensity, peak_flops, bandwidth)
        rows.append({"variant": name, "gflop": flops / 1e9, "mbytes": moved / 1e6, "intensity": intensity,
                     "achieved_gflops": flops / seconds / 1e9, "bound_gflops": bound / 1e9,
                     "of_bound": flops / seconds / bound,
                     "limit": "memory" if intensity < peak_flops / bandwidth else "compute"})
    return pd.DataFrame(rows)


def plot_roofline(table: pd.DataFrame, peak_flops: float, bandwidth: float, *, ax=None, title: str = "Roofline"):
    """Log-log roofline (memory slope and compute roof) with each variant of ``roofline_table`` as a point."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5))
    lo = min(0.1, float(table["intensity"].min()) / 2) if len(table) else 0.1
    hi = max(10 * peak_flops / bandwidth, float(table["intensity"].max()) * 2) if len(table) else 100
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.loglog(xs, np.minimum(peak_flops, xs * bandwidth) / 1e9, color="black", lw=1.5,
              label=f"roof: {peak_flops / 1e9:.0f} GFLOP/s, {bandwidth / 1e9:.1f} GB/s")
    markers = "osD^vP*Xh<>"
    for k, (_, row) in enumerate(table.iterrows()):  # a legend, not annotations: close points stay readable
        ax.scatter(row["intensity"], row["achieved_gflops"], s=45, zorder=3, marker=markers[k % len(markers)],
                   label=f"{row['variant']} ({row['of_bound']:.0%} of roof)")
    ax.set_xlabel("arithmetic intensity (FLOPs / byte moved)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    return ax
