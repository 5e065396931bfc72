"""Checkers of notebook 02's exercises: right answers pass, typical mistakes get a hint."""
import pandas as pd
import torch
from torch import nn

import tradeoff_lib as tl


def test_02_1_scale_and_zero_point(capsys):
    w = torch.tensor([-0.5, 0.1, 1.0])
    s = 1.5 / 15
    assert tl.check_exercise("02.1", scale=s, zero_point=5, w=w, bits=4)
    assert not tl.check_exercise("02.1", scale=1.5 / 5, zero_point=5, w=w, bits=4)  # 2^4 == 6
    assert "XOR" in capsys.readouterr().out
    assert not tl.check_exercise("02.1", scale=1.5 / 16, zero_point=5, w=w, bits=4)
    assert not tl.check_exercise("02.1", scale=s, zero_point=-5, w=w, bits=4)
    assert "round(lo / s)" in capsys.readouterr().out
    assert not tl.check_exercise("02.1", scale=s, zero_point=5, w=[1.0])


def test_02_2_packed_bytes(capsys):
    layer = nn.Linear(8, 3)  # 24 weights, 3 scales, 3 biases
    assert tl.check_exercise("02.2", packed_bytes=24 * 4 / 8 + 3 * 4 + 3 * 4, layer=layer, bits=4)
    assert not tl.check_exercise("02.2", packed_bytes=12, layer=layer, bits=4)
    assert "scale" in capsys.readouterr().out
    assert not tl.check_exercise("02.2", packed_bytes=24 * 4 + 24, layer=layer, bits=4)
    assert "bits, not bytes" in capsys.readouterr().out
    assert not tl.check_exercise("02.2", packed_bytes=12 + 12, layer=layer, bits=4)
    assert "bias" in capsys.readouterr().out
    assert not tl.check_exercise("02.2", packed_bytes=1000, layer=layer, bits=4)


def test_02_3_smallest_safe_bits(capsys):
    sweep = pd.DataFrame({"bits": [8, 4, 3, 2, 8, 2], "per_channel": [True, True, True, True, False, False],
                          "accuracy": [0.968, 0.967, 0.962, 0.69, 0.968, 0.97]})
    assert tl.check_exercise("02.3", bits=4, sweep=sweep, baseline_accuracy=0.968)
    assert not tl.check_exercise("02.3", bits=8, sweep=sweep, baseline_accuracy=0.968)
    edge = [{"bits": 8, "per_channel": True, "accuracy": 0.967}, {"bits": 4, "per_channel": True, "accuracy": 0.967},
            {"bits": 3, "per_channel": True, "accuracy": 0.962}, {"bits": 2, "per_channel": True, "accuracy": 0.6}]
    assert 100 * (0.967 - 0.962) > 0.5                                  # 0.5000000000000004: the float edge case
    assert tl.check_exercise("02.3", bits=3, sweep=edge, baseline_accuracy=0.967)
    assert tl.check_exercise("02.3", bits=4, sweep=edge, baseline_accuracy=0.967)
    assert not tl.check_exercise("02.3", bits=8, sweep=edge, baseline_accuracy=0.967)
    assert "not the smallest" in capsys.readouterr().out
    assert not tl.check_exercise("02.3", bits=2, sweep=sweep, baseline_accuracy=0.968)  # per-tensor row ignored
    assert tl.check_exercise("02.3", bits=3, sweep=sweep, baseline_accuracy=0.966)
    assert tl.check_exercise("02.3", bits=None, sweep=sweep, baseline_accuracy=0.99)
