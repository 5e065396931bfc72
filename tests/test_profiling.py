"""Per-layer profiles and the roofline helpers, on tiny inputs (hand-checked where possible)."""
import matplotlib
import pytest
import torch
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib import profiling as P

matplotlib.use("Agg")


class Slow(nn.Module):
    """A big matmul next to a trivial layer: the profile must find the big one."""

    def __init__(self):
        super().__init__()
        self.big = nn.Linear(512, 512)
        self.small = nn.ReLU()

    def forward(self, x):
        for _ in range(20):
            x = self.big(x)
        return self.small(x)


def test_profile_layers_finds_the_slow_layer_and_shares_add_up():
    model = Slow().train()
    table = P.profile_layers(model, torch.randn(64, 512), repeats=3, warmup=1)
    assert model.training, "the train/eval flag is restored"
    assert list(table.columns) == ["layer", "type", "ms", "share"]
    assert set(table["layer"]) == {"big", "small", P.OTHER}
    assert table.iloc[0]["layer"] == "big" and table.iloc[0]["type"] == "Linear"
    assert table["share"].sum() == pytest.approx(1.0, abs=0.05)
    assert table.set_index("layer").loc["big", "ms"] > 10 * table.set_index("layer").loc["small", "ms"]
    assert not any(h for m in model.modules() for h in m._forward_hooks.values()), "hooks removed"


def test_profile_layers_of_a_course_cnn_and_bad_input():
    table = P.profile_layers(tl.make_cnn(4), torch.randn(1, 1, 28, 28), repeats=2, warmup=0)
    assert {"features.0", "classifier.1"} <= set(table["layer"])
    with pytest.raises(ValueError, match="repeats"):
        P.profile_layers(tl.make_cnn(4), torch.randn(1, 1, 28, 28), repeats=0)
    with pytest.raises(TypeError, match="x must be"):
        P.profile_layers(tl.make_cnn(4), [1.0])


def test_peak_and_bandwidth_are_positive_rates():
    flops = P.peak_gemm_flops(n=64, repeats=2)
    bandwidth = P.memory_bandwidth(megabytes=4, repeats=2)
    assert 1e6 < flops < 1e14 and 1e6 < bandwidth < 1e13
    with pytest.raises(ValueError, match="n must be"):
        P.peak_gemm_flops(n=0)
    with pytest.raises(ValueError, match="megabytes must be"):
        P.memory_bandwidth(megabytes=0)


def test_traffic_bytes_by_hand():
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU())
    x = torch.randn(2, 10)
    weights = (10 * 5 + 5) * 4
    activations = (2 * 10 + 2 * 5) + (2 * 5 + 2 * 5)  # linear in+out, relu in+out
    assert P.traffic_bytes(model, x) == weights + 4 * activations
    assert P.traffic_bytes(model, x, weight_bytes=100, activation_bytes=1) == 100 + activations
    with pytest.raises(ValueError, match="activation_bytes"):
        P.traffic_bytes(model, x, activation_bytes=0)


def test_roofline_bound_and_table_by_hand():
    peak, bw = 100e9, 10e9  # ridge point at 10 FLOPs/byte
    assert P.roofline_bound(1.0, peak, bw) == 10e9 and P.roofline_bound(50.0, peak, bw) == peak
    table = P.roofline_table({"mem": (1e9, 1e9, 0.2), "cpu": (100e9, 1e9, 2.0)}, peak, bw).set_index("variant")
    assert table.loc["mem", "intensity"] == 1.0 and table.loc["mem", "limit"] == "memory"
    assert table.loc["mem", "achieved_gflops"] == pytest.approx(5.0)
    assert table.loc["mem", "of_bound"] == pytest.approx(0.5)          # 5 of 10 GFLOP/s
    assert table.loc["cpu", "limit"] == "compute" and table.loc["cpu", "of_bound"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="intensity"):
        P.roofline_bound(0.0, peak, bw)
    with pytest.raises(ValueError, match="mem seconds"):
        P.roofline_table({"mem": (1e9, 1e9, 0.0)}, peak, bw)
    ax = P.plot_roofline(table.reset_index(), peak, bw)
    assert len(ax.collections) == 2 and ax.get_xscale() == "log"
