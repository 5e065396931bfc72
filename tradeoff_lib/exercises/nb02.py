"""Checks for the exercises of ``notebooks/02_quantization.ipynb``."""
from __future__ import annotations

import torch
from torch import nn

from ..techniques.fakequant import compute_qparams, packed_size_bytes, quant_range
from . import close, exercise


@exercise("02.1")
def scale_and_zero_point(scale, zero_point, w, bits=4):
    """Asymmetric per-tensor grid of ``w`` at ``bits`` bits."""
    if not isinstance(w, torch.Tensor):
        return False, "pass the weight tensor you quantized as w=..."
    qp = compute_qparams(w, bits, symmetric=False)
    lo, hi = float(w.min().clamp(max=0)), float(w.max().clamp(min=0))
    if close(scale, (hi - lo) / ((2 ^ bits) - 1)):
        return False, (f"that scale uses 2^{bits} = {2 ^ bits}: in Python ^ is XOR. "
                       f"Hint: {bits} bits give 2**{bits} = {2 ** bits} levels.")
    if not close(scale, qp.scale.item(), rel=1e-4):
        qmin, qmax = quant_range(bits, symmetric=False)
        return False, (f"the scale maps [min(w, 0), max(w, 0)] onto the {qmax - qmin + 1} levels "
                       f"{qmin}..{qmax}. Hint: s = (hi - lo) / (q_max - q_min).")
    if not close(zero_point, int(qp.zero_point), abs_=0.5):
        return False, "the scale is right. Hint: z = q_min - round(lo / s), the integer that stands for 0.0."
    return True, f"s = {qp.scale.item():.5f}, z = {int(qp.zero_point)}: 0.0 is stored exactly as q = z."


@exercise("02.2")
def packed_bytes_by_hand(packed_bytes, layer, bits=4):
    """Bytes of ``layer`` with weights packed at ``bits`` bits, one float32 scale per output channel, float32 bias."""
    if not isinstance(layer, (nn.Linear, nn.Conv2d)):
        return False, "pass the layer as layer=... (for example model.classifier[1])"
    expected = packed_size_bytes(layer, bits)
    n, channels = layer.weight.numel(), layer.weight.shape[0]
    bias = 0 if layer.bias is None else layer.bias.numel() * 4
    if close(packed_bytes, n * bits + channels * 4 + bias, rel=1e-9):
        return False, "bits, not bytes: divide the number of weight bits by 8."
    if close(packed_bytes, n * bits / 8, rel=1e-9):
        return False, "the integers alone cannot be decoded: add one float32 scale (4 bytes) per output channel."
    if close(packed_bytes, n * bits / 8 + channels * 4, rel=1e-9) or close(packed_bytes, n * bits / 8 + bias,
                                                                            rel=1e-9):
        return False, ("almost: count both the float32 scales (one per output channel) and the bias, which "
                       "stays in float32 (4 bytes per value).")
    if not close(packed_bytes, expected, rel=1e-9):
        return False, "Hint: weights * bits / 8 + 4 bytes per scale (one per output channel) + 4 bytes per bias value."
    return True, f"{expected:,} bytes instead of {(n + bias // 4) * 4:,} in float32."


@exercise("02.3")
def smallest_safe_bits(bits, sweep, baseline_accuracy, tolerance_pts=0.5):
    """Smallest per-channel bit width whose accuracy is at most ``tolerance_pts`` below the float model."""
    rows = sweep.to_dict("records") if hasattr(sweep, "to_dict") else list(sweep)
    drops = {r["bits"]: 100 * (baseline_accuracy - r["accuracy"]) for r in rows if r["per_channel"]}
    ok = [b for b, d in drops.items() if d <= tolerance_pts + 1e-9]
    # a drop of exactly the tolerance may come out as 0.5000000000000004 in floats: either reading is right
    strict = [b for b, d in drops.items() if d <= tolerance_pts - 1e-9]
    if ok and bits != min(ok) and strict and bits == min(strict):
        return True, (f"{bits} bits per weight keep accuracy within {tolerance_pts} pt here ({min(ok)} bits "
                      "drop exactly the tolerance: on the boundary, either reading counts).")
    if not ok:
        return bits is None, "no bit width is within the tolerance here; the answer is None."
    expected = min(ok)
    if bits == max(ok) and expected != bits:
        return False, "that one is safe but not the smallest: look for the fewest bits that still pass."
    if bits != expected:
        return False, ("compare each per-channel row's accuracy with the float model's: the drop in points "
                       f"is 100 * (baseline - accuracy) and must be <= {tolerance_pts}.")
    return True, f"{expected} bits per weight keep accuracy within {tolerance_pts} pt here."
