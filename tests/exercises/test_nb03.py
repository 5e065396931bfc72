"""The checkers of notebook 03 accept right answers and reject wrong ones with a hint."""
import torch

import tradeoff_lib as tl
from tradeoff_lib.techniques import pruning


def test_magnitude_mask(capsys):
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3)
    right = pruning.magnitude_mask(w, 0.8)
    assert tl.check_exercise("03.1", mask=right, weight=w, amount=0.8)
    capsys.readouterr()
    assert not tl.check_exercise("03.1", mask=pruning.magnitude_mask(w, 0.5), weight=w, amount=0.8)
    assert "prune exactly" in capsys.readouterr().out
    assert not tl.check_exercise("03.1", mask=1 - right, weight=w, amount=0.8)
    assert "inverted" in capsys.readouterr().out
    signed = torch.ones_like(w).flatten()
    signed[w.flatten().argsort()[:round(0.8 * w.numel())]] = 0         # smallest value, not magnitude
    assert not tl.check_exercise("03.1", mask=signed.view_as(w), weight=w, amount=0.8)
    assert "Hint: rank weight.abs()" in capsys.readouterr().out
    assert not tl.check_exercise("03.1", mask=right[0], weight=w, amount=0.8)


def test_robust_layers(capsys):
    scan = {"a": [0.97, 0.96, 0.95], "b": [0.97, 0.97, 0.90], "c": [0.9, 0.8, 0.7]}
    amounts = [0.5, 0.9, 0.99]
    assert tl.check_exercise("03.2", robust=["a", "b"], scan=scan, amounts=amounts, baseline=0.97)
    capsys.readouterr()
    assert not tl.check_exercise("03.2", robust=[], scan=scan, amounts=amounts, baseline=0.97)
    assert "last column" in capsys.readouterr().out
    assert not tl.check_exercise("03.2", robust=["a"], scan=scan, amounts=amounts, baseline=0.97)
    assert "Hint" in capsys.readouterr().out
    assert not tl.check_exercise("03.2", robust=["c"], scan=scan, amounts=amounts, baseline=0.97)
    assert "Hint" in capsys.readouterr().out


def test_parameter_count(capsys):
    right = (9 * 4 + 8) + (4 * 8 * 9 + 16) + (8 * 49 * 16 + 16) + (16 * 10 + 10)   # width 8, half the channels
    assert tl.check_exercise("03.3", n_params=right, width=8, amount=0.5)
    capsys.readouterr()
    assert not tl.check_exercise("03.3", n_params=right - 2 * (4 + 8), width=8, amount=0.5)
    assert "BatchNorm" in capsys.readouterr().out
    assert not tl.check_exercise("03.3", n_params=right + 1, width=8, amount=0.5)
    assert "Hint" in capsys.readouterr().out
