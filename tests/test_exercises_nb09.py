"""The checkers of notebook 09 accept right answers and reject wrong ones with a hint."""
import pandas as pd
from torch import nn

import tradeoff_lib as tl


def test_slowest_layer(capsys):
    profile = pd.DataFrame({"layer": ["(other)", "fc", "conv"], "type": ["", "Linear", "Conv2d"],
                            "ms": [3.0, 2.0, 1.0], "share": [0.5, 0.33, 0.17]})
    assert tl.check_exercise("09.1", top_layer="fc", profile=profile)
    capsys.readouterr()
    assert not tl.check_exercise("09.1", top_layer="(other)", profile=profile)
    assert "not a layer" in capsys.readouterr().out
    assert not tl.check_exercise("09.1", top_layer="conv", profile=profile)
    assert "Hint" in capsys.readouterr().out


def test_linear_roofline(capsys):
    layer = nn.Linear(100, 10)
    right = 2 * 1000 / (4 * (1000 + 10 + 100 + 10))
    ctx = dict(layer=layer, peak_flops=100e9, bandwidth=10e9)
    assert tl.check_exercise("09.2", intensity=right, memory_bound=True, **ctx)
    capsys.readouterr()
    assert not tl.check_exercise("09.2", intensity=right, memory_bound=False, **ctx)
    assert "ridge point" in capsys.readouterr().out
    assert not tl.check_exercise("09.2", intensity=2 * right, memory_bound=True, **ctx)
    assert "2 FLOPs" in capsys.readouterr().out
    assert not tl.check_exercise("09.2", intensity=4 * right, memory_bound=True, **ctx)
    assert "4 bytes" in capsys.readouterr().out
    assert not tl.check_exercise("09.2", intensity=right, memory_bound=True, layer="fc", peak_flops=1, bandwidth=1)
    assert tl.check_exercise("09.2", intensity=right * 100 / 100, memory_bound=False, layer=layer,
                             peak_flops=1e9, bandwidth=10e9)  # a tiny peak: the ridge moves below the layer


def test_runtime_speedup(capsys):
    stats = {"eager fp32": tl.LatencyStats((2.0, 2.0, 2.0)), "onnxruntime int8": tl.LatencyStats((0.5, 0.5, 0.5))}
    assert tl.check_exercise("09.3", speedup=4.0, stats=stats)
    capsys.readouterr()
    assert not tl.check_exercise("09.3", speedup=0.25, stats=stats)
    assert "inverted" in capsys.readouterr().out
    assert not tl.check_exercise("09.3", speedup=3.0, stats=stats)
    assert not tl.check_exercise("09.3", speedup=4.0, stats={})
