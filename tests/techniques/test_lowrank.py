"""Low-rank factorization: oracle tests against torch.linalg.svd and the dense layers."""
import math

import pytest
import torch
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib.techniques import lowrank


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return nn.Linear(12, 7)


@pytest.fixture
def conv():
    torch.manual_seed(0)
    return nn.Conv2d(3, 8, 3, stride=2, padding=1)


def test_full_rank_linear_reproduces_output(linear):
    x = torch.randn(5, 12)
    factors = lowrank.factorize_layer(linear, rank=7)
    assert [type(f) for f in factors] == [nn.Linear, nn.Linear]
    assert factors[0].weight.shape == (7, 12) and factors[1].weight.shape == (7, 7)
    assert factors[0].bias is None
    torch.testing.assert_close(factors(x), linear(x), atol=1e-5, rtol=1e-5)


def test_full_rank_conv_reproduces_output(conv):
    x = torch.randn(2, 3, 9, 9)
    factors = lowrank.factorize_layer(conv, rank=lowrank.full_rank(conv))
    assert factors[0].kernel_size == (3, 3) and factors[0].stride == (2, 2) and factors[1].kernel_size == (1, 1)
    assert factors[0].out_channels == 8 == factors[1].in_channels
    torch.testing.assert_close(factors(x), conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rank", [1, 3, 5])
def test_error_equals_eckart_young_bound(linear, conv, rank):
    for layer in (linear, conv):
        W = layer.weight.detach().reshape(layer.weight.shape[0], -1)
        S = torch.linalg.svd(W.double(), full_matrices=False).S
        bound = math.sqrt(float((S[rank:] ** 2).sum()))
        factors = lowrank.factorize_layer(layer, rank=rank)
        error = float(torch.linalg.matrix_norm(W - lowrank.factorized_weight(factors)))
        assert error == pytest.approx(bound, rel=1e-4)
        assert lowrank.approximation_error(layer, rank) == pytest.approx(bound, rel=1e-4)
        assert lowrank.eckart_young_error(layer, rank) == pytest.approx(bound, rel=1e-5)
        torch.manual_seed(rank)  # any other rank-r matrix is worse
        other = torch.randn(W.shape[0], rank) @ torch.randn(rank, W.shape[1]) * 0.1
        assert float(torch.linalg.matrix_norm(W - other)) > bound


def test_conv_factor_output_matches_reshaped_approximation(conv):
    x = torch.randn(1, 3, 8, 8)
    factors = lowrank.factorize_layer(conv, rank=2)
    approx = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    with torch.no_grad():
        approx.weight.copy_(lowrank.factorized_weight(factors).reshape(conv.weight.shape))
        approx.bias.copy_(conv.bias)
    torch.testing.assert_close(factors(x), approx(x), atol=1e-5, rtol=1e-5)


def test_singular_values_and_energy_rank():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])  # energies 9, 4, 1 of 14
    assert lowrank.rank_for_energy(s, 9 / 14) == 1
    assert lowrank.rank_for_energy(s, 0.65) == 2
    assert lowrank.rank_for_energy(s, 13 / 14) == 2
    assert lowrank.rank_for_energy(s, 1.0) == 3
    layer = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(s))
    torch.testing.assert_close(lowrank.singular_values(layer), s)
    assert lowrank.factorize_layer(layer, energy=0.65)[0].out_features == 2


def test_breakeven_and_macs(linear):
    assert lowrank.breakeven_rank(linear) == pytest.approx(7 * 12 / 19)
    assert lowrank.macs_ratio(linear, 2) == pytest.approx(2 * 19 / 84)
    big = nn.Linear(6272, 256, device="meta")  # the course CNN's big layer: shapes only
    assert lowrank.breakeven_rank(big) == pytest.approx(6272 * 256 / 6528)
    assert lowrank.macs_ratio(big, 245) < 1 < lowrank.macs_ratio(big, 246)  # break-even 245.96
    layer, x = nn.Linear(300, 40), torch.randn(1, 300)
    for r in (4, 30):
        f = lowrank.factorize_layer(layer, rank=r)
        assert tl.count_macs(f, x) == r * (300 + 40)
        assert tl.count_macs(f, x) / tl.count_macs(layer, x) == pytest.approx(lowrank.macs_ratio(layer, r))


def test_factorize_model_copy_plan_and_only_if_cheaper():
    torch.manual_seed(0)
    model = tl.make_cnn(8)
    x = torch.randn(2, 1, 28, 28)
    before = model(x)
    plan = lowrank.lowrank_plan(model, rank=8)
    assert all(isinstance(p, lowrank.LayerPlan) for p in plan)
    by_name = {p.name: p for p in plan}
    assert list(by_name) == ["features.0", "features.4", "classifier.1", "classifier.3"]
    assert by_name["features.0"].rank == 8 and not by_name["features.0"].factorize  # 8 x 9: break-even 4.2
    assert by_name["features.4"].factorize and by_name["classifier.1"].factorize   # 16 x 72, 32 x 784
    assert by_name["classifier.3"].rank == 8 and not by_name["classifier.3"].factorize  # 10 x 32: break-even 7.6
    assert [p.factorize for p in lowrank.lowrank_plan(model, rank=4)] == [True] * 4  # 4 < 4.2 and 4 < 7.6
    small = lowrank.factorize(model, rank=8)
    torch.testing.assert_close(model(x), before)         # the original is untouched
    assert isinstance(small.classifier[1], nn.Sequential) and isinstance(model.classifier[1], nn.Linear)
    assert isinstance(small.classifier[3], nn.Linear)
    assert small(x).shape == (2, 10)
    assert tl.count_params(small) < tl.count_params(model)
    assert tl.count_flops(small, x[:1]) < tl.count_flops(model, x[:1])
    forced = lowrank.factorize(model, rank={"classifier.3": 8}, only_if_cheaper=False)
    assert isinstance(forced.classifier[3], nn.Sequential) and isinstance(forced.classifier[1], nn.Linear)
    full = lowrank.factorize(model, energy=1.0, only_if_cheaper=False)
    torch.testing.assert_close(full(x), before, atol=1e-4, rtol=1e-4)
    low = lowrank.factorize(model, rank=4, layers=["classifier.1"])
    assert low is not model and isinstance(model.classifier[1], nn.Linear), "the input is never changed"
    assert tl.applied(low) == [{"technique": "low-rank", "ranks": {"classifier.1": 4}}] and tl.applied(model) == []


def test_energy_plan_keeps_at_least_that_energy():
    torch.manual_seed(0)
    model = tl.make_cnn(8)
    for p in lowrank.lowrank_plan(model, energy=0.8):
        assert p.energy_kept >= 0.8 - 1e-9 and 1 <= p.rank <= p.full_rank


def test_bad_input_gives_clear_errors(linear):
    with pytest.raises(ValueError, match=r"rank must be in \[1, 7\], got 0"):
        lowrank.factorize_layer(linear, rank=0)
    with pytest.raises(ValueError, match="rank must be in"):
        lowrank.factorize_layer(linear, rank=8)
    with pytest.raises(ValueError, match=r"energy must be in \(0, 1\], got 1.5"):
        lowrank.factorize_layer(linear, energy=1.5)
    with pytest.raises(ValueError, match="energy must be in"):
        lowrank.factorize_layer(linear, energy=0.0)
    with pytest.raises(ValueError, match="exactly one of rank or energy"):
        lowrank.factorize_layer(linear)
    with pytest.raises(ValueError, match="exactly one of rank or energy"):
        lowrank.factorize(nn.Sequential(linear), rank=2, energy=0.5)
    with pytest.raises(TypeError, match="nn.Linear or nn.Conv2d, got BatchNorm2d"):
        lowrank.factorize_layer(nn.BatchNorm2d(3), rank=1)
    with pytest.raises(ValueError, match="groups=4"):
        lowrank.factorize_layer(nn.Conv2d(4, 4, 3, groups=4), rank=1)
    model = tl.make_cnn(4)
    with pytest.raises(TypeError, match="'features.1' is BatchNorm2d"):
        lowrank.factorize(model, rank=2, layers=["features.1"])
    with pytest.raises(ValueError, match="no module named 'fc'"):
        lowrank.factorize(model, rank=2, layers=["fc"])
    with pytest.raises(ValueError, match="rank must be in"):
        lowrank.factorize(model, rank=-1)
    with pytest.raises(TypeError, match="rank must be an int"):
        lowrank.factorize_layer(linear, rank=2.5)
    with pytest.raises(ValueError, match="factors must be"):
        lowrank.factorized_weight(nn.Sequential(linear))


def test_fine_tune_head_trains_only_the_head(small_splits):
    torch.manual_seed(0)
    model = lowrank.factorize(tl.make_cnn(4), rank=2, layers=["classifier.1"])
    body = {k: v.clone() for k, v in model.features.state_dict().items()}
    head = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    history = lowrank.fine_tune_head(model, small_splits, epochs=2, lr=1e-2, seed=0)
    assert len(history["val_accuracy"]) == 2 and history["val_accuracy"][-1] > 0.2  # chance is 0.1
    assert all(torch.equal(v, model.features.state_dict()[k]) for k, v in body.items())  # BN stats too
    assert any(not torch.equal(v, model.classifier.state_dict()[k]) for k, v in head.items())
    assert not model.training
    feats = lowrank.body_features(model, small_splits)
    assert feats[0].tensors[0].shape == (len(small_splits.train), 8, 7, 7) and len(feats[1]) == len(small_splits.val)
    again = lowrank.fine_tune_head(model, None, epochs=1, features=feats)
    assert len(again["val_accuracy"]) == 1
    with pytest.raises(ValueError, match="body: model has no submodule named 'trunk'"):
        lowrank.body_features(model, small_splits, body="trunk")
    with pytest.raises(ValueError, match="head: model has no submodule named 'fc'"):
        lowrank.fine_tune_head(model, small_splits, head="fc")
