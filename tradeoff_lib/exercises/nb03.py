"""Checks for the exercises of ``notebooks/03_pruning.ipynb``."""
from __future__ import annotations

import torch

from ..cost import count_params
from ..models import make_cnn
from ..techniques import pruning
from . import exercise


@exercise("03.1")
def magnitude_mask_by_hand(mask, weight, amount=0.8):
    if not isinstance(mask, torch.Tensor) or mask.shape != weight.shape:
        return False, f"mask must be a tensor with the weight's shape {tuple(weight.shape)}."
    if not torch.all((mask == 0) | (mask == 1)):
        return False, "mask must hold only 0 (prune) and 1 (keep)."
    expected = pruning.magnitude_mask(weight, amount)
    n_prune = int((expected == 0).sum())
    if int((mask == 0).sum()) != n_prune:
        if int((mask == 1).sum()) == n_prune:
            return False, "mask is inverted: 1 must mark the weights that are *kept*."
        return False, (f"prune exactly round(amount * numel) = {n_prune} weights; "
                       f"your mask prunes {int((mask == 0).sum())}.")
    if not torch.equal(mask.to(expected.dtype), expected):
        return False, ("the right number, but not the smallest by magnitude. Hint: rank weight.abs(), not weight; "
                       "zero the k smallest (argsort()[:k] or topk(k, largest=False)).")
    return True, f"{n_prune} of {weight.numel()} weights pruned: the smallest |w|."


@exercise("03.2")
def robust_layers(robust, scan, amounts, baseline, amount=0.9, tolerance=0.01):
    if amount not in list(amounts):
        return False, f"the scan has no column for sparsity {amount}; amounts were {list(amounts)}."
    col = list(amounts).index(amount)
    expected = [name for name, accs in scan.items() if accs[col] >= baseline - tolerance]
    if sorted(robust) == sorted(expected):
        return True, f"robust at {amount:.0%}: {expected}."
    wrong_col = [name for name, accs in scan.items() if accs[-1] >= baseline - tolerance]
    if sorted(robust) == sorted(wrong_col) and col != len(amounts) - 1:
        return False, "that is the last column of the scan; use the column of 0.9 (amounts.index(0.9))."
    return False, ("not yet. Hint: for each layer take scan[name][amounts.index(0.9)] and keep the names where it "
                   "is >= baseline - 0.01.")


@exercise("03.3")
def pruned_parameter_count(n_params, width=64, amount=0.5):
    x = torch.zeros(1, 1, 28, 28)
    dense = make_cnn(width)
    expected = count_params(pruning.prune_channels(dense, amount, example_input=x))
    if n_params == expected:
        return True, f"{expected:,d} parameters, {count_params(dense) / expected:.1f}x fewer than the dense model."
    c1, c2 = int(width * (1 - amount)), int(2 * width * (1 - amount))
    if n_params == expected - 2 * (c1 + c2):
        return False, "almost: each BatchNorm also has a weight and a bias per remaining channel."
    return False, (f"not yet. Hint: the layers keep {c1}, {c2} and {int(4 * width * (1 - amount))} channels; the "
                   "linear layer reads c2 * 7 * 7 features; count weights + biases of each layer, and 2 per "
                   "BatchNorm channel.")
