"""Checks for the exercises of ``notebooks/09_deployment_runtimes.ipynb``."""
from __future__ import annotations

import math

from torch import nn

from . import exercise


@exercise("09.1")
def slowest_layer(top_layer, profile):
    layers = [name for name in profile["layer"] if name != "(other)"]
    if not layers:
        return False, "the profile has no layers."
    expected = layers[0]  # the table is sorted slowest first
    if top_layer == expected:
        share = float(profile.set_index("layer").loc[expected, "share"])
        return True, f"{expected} takes {share:.0%} of the forward call here."
    if top_layer == "(other)":
        return False, "(other) is not a layer: it is the time outside every module. Take the first real layer."
    return False, ("not yet. Hint: profile is sorted by ms, slowest first; take the first row whose layer is not "
                   "'(other)'.")


@exercise("09.2")
def linear_roofline(intensity, memory_bound, layer, peak_flops, bandwidth, batch=1):
    if not isinstance(layer, nn.Linear):
        return False, "layer must be the nn.Linear of the exercise."
    m, n = layer.out_features, layer.in_features
    flops = 2 * batch * m * n
    moved = 4 * (m * n + (m if layer.bias is not None else 0) + batch * n + batch * m)
    expected = flops / moved
    if not isinstance(intensity, (int, float)) or not math.isfinite(intensity):
        return False, "intensity must be a number (FLOPs per byte)."
    if abs(intensity - expected) > 0.02 * expected:
        if abs(intensity - 2 * expected) <= 0.02 * 2 * expected:
            return False, "one multiply-add is 2 FLOPs, and you counted 4: check the factor 2 once."
        if abs(intensity - expected * 2) > 0.02 and abs(intensity - flops / (moved / 4)) <= 0.02 * flops / (moved / 4):
            return False, "bytes, not elements: each float32 takes 4 bytes."
        return False, (f"not yet. Hint: FLOPs = 2 * batch * {m} * {n}; bytes = 4 * (weights + bias + input + output "
                       "elements).")
    ridge = peak_flops / bandwidth
    if bool(memory_bound) != (expected < ridge):
        return False, (f"the intensity is right ({expected:.2f} FLOPs/byte), but compare it with the ridge point "
                       f"peak / bandwidth = {ridge:.1f} FLOPs/byte.")
    return True, (f"{expected:.2f} FLOPs/byte, {'below' if expected < ridge else 'above'} the ridge point "
                  f"{ridge:.1f}: {'memory' if expected < ridge else 'compute'}-bound at batch {batch}.")


@exercise("09.3")
def runtime_speedup(speedup, stats, baseline="eager fp32", candidate="onnxruntime int8"):
    if baseline not in stats or candidate not in stats:
        return False, f"stats must hold {baseline!r} and {candidate!r}."
    expected = stats[baseline].p50_ms / stats[candidate].p50_ms
    if not isinstance(speedup, (int, float)):
        return False, "speedup must be a number."
    if abs(speedup - expected) <= 1e-6 * expected:
        return True, f"{expected:.2f}x at batch 1 on this machine (p50 over p50)."
    if abs(speedup - 1 / expected) <= 1e-6 / expected:
        return False, "inverted: a speedup is the baseline's time divided by the candidate's."
    return False, "not yet. Hint: stats[baseline].p50_ms / stats[candidate].p50_ms."
