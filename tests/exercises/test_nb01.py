"""The checkers of notebook 01 accept right answers and reject wrong ones with a hint."""
import torch
from torch import nn

import tradeoff_lib as tl
from tests.conftest import RESULTS


def test_breakeven(capsys):
    fc = nn.Linear(6272, 256, device="meta")
    assert tl.check_exercise("01.1", breakeven=6272 * 256 / 6528, ratio32=32 * 6528 / (6272 * 256), layer=fc)
    capsys.readouterr()
    assert not tl.check_exercise("01.1", breakeven=128, ratio32=0.1, layer=fc)
    assert "Hint: solve r (m + n) < m n" in capsys.readouterr().out
    assert not tl.check_exercise("01.1", breakeven=6272 * 256 / 6528, ratio32=0.5, layer=fc)
    assert "ratio32 should be" in capsys.readouterr().out
    assert not tl.check_exercise("01.1", breakeven=200.0, ratio32=0.5, layer=fc)
    assert "Hint: breakeven = m * n / (m + n)" in capsys.readouterr().out


def test_rank_for_energy(capsys):
    layer = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5])))  # energies 9, 4, 1, 0.25
    assert tl.check_exercise("01.2", r90=2, layer=layer)   # (9 + 4) / 14.25 = 0.91
    assert not tl.check_exercise("01.2", r90=3, layer=layer)
    assert "off by one" in capsys.readouterr().out
    conv = nn.Conv2d(2, 3, 3)
    s2 = torch.linalg.svdvals(conv.weight.detach().reshape(3, -1)) ** 2
    r = int((s2.cumsum(0) / s2.sum() < 0.9).sum()) + 1
    assert tl.check_exercise("01.2", r90=r, layer=conv)


def test_fastest_within(capsys):
    ref = RESULTS[3]  # "d", accuracy 0.97, 5 ms; "e" is as accurate but slower
    right = tl.fastest_within(RESULTS, ref, tolerance=0.01)
    assert tl.check_exercise("01.3", pick=right, results=RESULTS, reference=ref)
    capsys.readouterr()
    assert not tl.check_exercise("01.3", pick=RESULTS[0], results=RESULTS, reference=ref)   # "a": 0.90
    assert "loses more than 1 point" in capsys.readouterr().out
    assert not tl.check_exercise("01.3", pick=RESULTS[4], results=RESULTS, reference=ref)   # "e": slower
    assert "Hint" in capsys.readouterr().out
