"""Checks for the exercises of ``notebooks/01_compression_lowrank.ipynb``."""
from __future__ import annotations

from torch import nn

from ..techniques import lowrank
from ..tradeoff import fastest_within
from . import close, exercise


@exercise("01.1")
def breakeven_by_hand(breakeven, ratio32, layer):
    if not isinstance(layer, nn.Linear):
        return False, "pass the nn.Linear layer you worked on as layer=..."
    m, n = layer.out_features, layer.in_features
    if close(breakeven, m * n / m) or close(breakeven, min(m, n) / 2):
        return False, "the break-even rank is not a fraction of one dimension. Hint: solve r (m + n) < m n for r."
    if not close(breakeven, lowrank.breakeven_rank(layer)):
        return False, ("break-even: the dense layer needs m*n multiply-adds, the two factors r*(m + n). "
                       "Hint: breakeven = m * n / (m + n) with m = out_features, n = in_features.")
    if not close(ratio32, lowrank.macs_ratio(layer, 32)):
        return False, "the breakeven is right; ratio32 should be 32 * (m + n) / (m * n): factorized over dense."
    return True, f"below rank {breakeven:.1f} the factorization saves compute; rank 32 needs {ratio32:.1%} of it."


@exercise("01.2")
def rank_for_ninety_percent(r90, layer):
    if not isinstance(layer, (nn.Linear, nn.Conv2d)):
        return False, "pass the layer you worked on as layer=..."
    svals = lowrank.singular_values(layer)
    expected = lowrank.rank_for_energy(svals, 0.9)
    if r90 == expected - 1 or r90 == expected + 1:
        return False, ("off by one. Hint: the energy kept by rank r is the sum of the first r squared singular "
                       "values; r90 is the first r at which that reaches 90 % of the total (ranks count from 1).")
    if r90 == lowrank.rank_for_energy(svals / svals.sum() ** 0.5, 0.9) and r90 != expected:
        return False, "square the singular values: energy is sum(s_i ** 2), not sum(s_i)."
    if r90 != expected:
        return False, ("not yet. Hint: s2 = torch.linalg.svdvals(W.reshape(out_channels, -1)) ** 2, then the first "
                       "index where s2.cumsum(0) / s2.sum() >= 0.9, plus one.")
    return True, f"rank {expected} of {len(svals)} keeps 90 % of the energy."


@exercise("01.3")
def fastest_within_one_point(pick, results, reference):
    expected = fastest_within(results, reference, tolerance=0.01)
    if pick is expected:
        return True, f"{expected.name} is the fastest model within 1 point of {reference.name}."
    if pick is not None and getattr(pick, "accuracy", 1.0) < reference.accuracy - 0.01:
        return False, "that model loses more than 1 point of accuracy; filter by accuracy first."
    return False, ("not the fastest within 1 point. Hint: keep the results with accuracy >= reference.accuracy - 0.01, "
                   "then take the one with the lowest latency_p50_ms (tl.fastest_within does both).")
