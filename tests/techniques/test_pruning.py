"""Pruning: sparsity reached, smallest weights removed, channels physically removed, clear errors."""
import itertools

import pytest
import torch
import torch.nn.utils.prune as tprune
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib.techniques import pruning


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    return tl.make_cnn(8).eval()


def _weights(model):
    return {n: m.weight.detach().clone() for n, m in pruning.prunable_layers(model).items()}


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.75, 0.9])
def test_layerwise_sparsity_is_the_amount_and_smallest_go(cnn, amount):
    before = _weights(cnn)
    pruned = pruning.prune_magnitude(cnn, amount, scope="layer")
    for name, s in pruning.layer_sparsity(pruned).items():
        n = before[name].numel()
        assert s == round(amount * n) / n
        w, kept = before[name].abs(), pruned.get_submodule(name).weight != 0
        if 0 < s < 1:
            assert w[~kept].max() <= w[kept].min()      # the pruned-away weights are the smallest
    assert _weights(cnn).keys() == before.keys() and all(torch.equal(_weights(cnn)[k], before[k]) for k in before)


@pytest.mark.parametrize("amount", [0.5, 0.95])
def test_global_sparsity_is_the_amount_and_smallest_go(cnn, amount):
    before = torch.cat([w.abs().flatten() for w in _weights(cnn).values()])
    pruned = pruning.prune_magnitude(cnn, amount)
    assert pruning.sparsity(pruned) == round(amount * before.numel()) / before.numel()
    after = torch.cat([m.weight.detach().flatten() for m in pruning.prunable_layers(pruned).values()])
    assert before[after == 0].max() <= before[after != 0].min()
    per_layer = pruning.layer_sparsity(pruned)
    assert max(per_layer.values()) - min(per_layer.values()) > 0.05   # global ranking: uneven per layer
    assert tl.count_nonzero_params(pruned) == tl.count_nonzero_params(cnn) - round(amount * before.numel())


def test_named_layers_only_and_biases_kept(cnn):
    pruned = pruning.prune_magnitude(cnn, 0.5, scope="layer", layers=["classifier.1"])
    s = pruning.layer_sparsity(pruned)
    assert s["classifier.1"] == 0.5 and s["features.0"] == 0.0
    assert torch.count_nonzero(pruned.classifier[1].bias) == cnn.classifier[1].bias.numel()
    assert pruning.sparsity(pruned, ["classifier.1"]) == 0.5


def test_hand_mask_equals_torch_prune():
    torch.manual_seed(1)
    layer = nn.Linear(20, 10)
    for amount in (0.1, 0.37, 0.8):
        mask = pruning.magnitude_mask(layer.weight, amount)
        ref = tprune.L1Unstructured(amount).compute_mask(layer.weight.detach(), torch.ones_like(layer.weight))
        assert torch.equal(mask, ref)
        lib = tprune.l1_unstructured(nn.Linear(20, 10), "weight", amount=amount)
        assert int(lib.weight_mask.sum()) == int(mask.sum())


def test_magnitude_mask_solves_the_l0_problem_by_brute_force():
    torch.manual_seed(2)
    W = torch.randn(3, 3)
    k = 4  # keep 4 of 9 weights: amount = 5/9
    mask = pruning.magnitude_mask(W, 5 / 9)
    assert int(mask.sum()) == k
    best = min(float(torch.linalg.matrix_norm(W - W * torch.tensor(m, dtype=W.dtype).view(3, 3)))
               for m in itertools.product([0, 1], repeat=9) if sum(m) == k)
    assert float(torch.linalg.matrix_norm(W - W * mask)) == pytest.approx(best)


def test_make_permanent_removes_masks_and_keeps_zeros(cnn):
    pruned = pruning.prune_magnitude(cnn, 0.6)
    assert hasattr(pruned.features[0], "weight_orig")
    x = torch.randn(2, 1, 28, 28)
    out = pruned(x)
    baked = pruning.make_permanent(pruned)
    assert hasattr(pruned.features[0], "weight_orig"), "the input keeps its masks"
    assert not hasattr(baked.features[0], "weight_orig") and not hasattr(baked.features[0], "weight_mask")
    assert pruning.sparsity(baked) == pytest.approx(0.6, abs=1e-4)
    torch.testing.assert_close(baked(x), out)
    assert set(baked.state_dict()) == set(cnn.state_dict())
    perm = pruning.prune_magnitude(cnn, 0.6, permanent=True)
    assert set(perm.state_dict()) == set(cnn.state_dict())
    assert pruning.sparsity(cnn) == 0.0, "the input is never changed"
    assert tl.applied(perm) == [{"technique": "unstructured pruning", "amount": 0.6, "scope": "global",
                                 "permanent": True}]


def test_sensitivity_scan_prunes_one_layer_at_a_time(cnn):
    calls = []
    scan = pruning.sensitivity_scan(cnn, lambda m: calls.append(pruning.layer_sparsity(m)) or pruning.sparsity(m),
                                    [0.5, 0.9], layers=["features.4", "classifier.1"])
    assert list(scan) == ["features.4", "classifier.1"] and all(len(v) == 2 for v in scan.values())
    assert calls[1]["features.4"] == round(0.9 * 16 * 8 * 9) / (16 * 8 * 9) and calls[1]["classifier.1"] == 0.0
    assert calls[2]["classifier.1"] == 0.5 and calls[2]["features.4"] == 0.0
    assert scan["classifier.1"][1] > scan["features.4"][1]  # the bigger layer holds more of the weights
    assert pruning.sparsity(cnn) == 0.0
    in_workers = pruning.sensitivity_scan(cnn, pruning.sparsity, [0.5, 0.9], layers=["features.4", "classifier.1"],
                                          workers=2)
    assert in_workers == scan   # the same scores, in the same order, from worker processes


@pytest.mark.parametrize("amount", [0.25, 0.5, 0.7])
def test_structured_pruning_removes_the_fraction_of_channels(cnn, amount):
    x = torch.randn(1, 1, 28, 28)
    before = pruning.channel_counts(cnn)
    small = pruning.prune_channels(cnn, amount, example_input=x)
    after = pruning.channel_counts(small)
    assert pruning.channel_counts(cnn) == before                    # the original is untouched
    for name, n in before.items():
        assert after[name] == (n if name == "classifier.3" else int(n * (1 - amount)))
    assert small.features[1].num_features == after["features.0"]    # BatchNorm follows its conv
    assert small.classifier[1].in_features == after["features.4"] * 7 * 7   # flatten -> linear follows
    assert small(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert tl.count_params(small) < tl.count_params(cnn) and tl.count_flops(small, x) < tl.count_flops(cnn, x)
    assert not small.training


def test_structured_pruning_keeps_the_strongest_channels(cnn):
    small = pruning.prune_channels(cnn, 0.5, example_input=torch.randn(1, 1, 28, 28), importance="l2",
                                   ignored_layers=["features.4", "classifier.1", "classifier.3"])
    assert pruning.channel_counts(small)["features.0"] == 4 and pruning.channel_counts(small)["features.4"] == 16
    # a zero-norm filter is the first to go
    with torch.no_grad():
        cnn.features[0].weight[3].zero_()
        cnn.features[1].weight[3].zero_()
        cnn.features[1].bias[3].zero_()
    small = pruning.prune_channels(cnn, 0.125, example_input=torch.randn(1, 1, 28, 28),
                                   ignored_layers=["features.4", "classifier.1", "classifier.3"])
    kept = small.features[0].weight.detach()
    assert kept.shape[0] == 7 and all(kept[i].abs().sum() > 0 for i in range(7))


def test_structured_pruning_on_resnet18_graph():
    from torchvision.models import resnet18
    torch.manual_seed(0)
    model = resnet18(num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    small = pruning.prune_channels(model, 0.5, example_input=x)
    assert small(x).shape == (1, 10)
    assert small.conv1.out_channels == 32 and small.layer4[1].conv2.out_channels == 256
    assert small.fc.out_features == 10 and small.fc.in_features == 256   # residual groups pruned together
    assert tl.count_params(small) < 0.3 * tl.count_params(model)


def test_iterative_pruning_calls_fine_tune_between_steps(cnn):
    seen = []
    small = pruning.iterative_prune_channels(cnn, 0.5, example_input=torch.randn(1, 1, 28, 28), steps=2,
                                             fine_tune=lambda m, step: seen.append((step, pruning.channel_counts(m))))
    assert [s for s, _ in seen] == [0, 1]
    assert seen[0][1]["features.4"] == 12 and seen[1][1]["features.4"] == 8
    assert pruning.channel_counts(small) == seen[1][1] and small(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_bad_input_gives_clear_errors(cnn):
    x = torch.randn(1, 1, 28, 28)
    for amount in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
            pruning.prune_magnitude(cnn, amount)
        with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
            pruning.prune_channels(cnn, amount, example_input=x)
    with pytest.raises(TypeError, match="amount must be a number"):
        pruning.prune_magnitude(cnn, "half")
    with pytest.raises(TypeError, match="'features.1' is BatchNorm2d"):
        pruning.prune_magnitude(cnn, 0.5, layers=["features.1"])
    with pytest.raises(TypeError, match="'features.2' is ReLU"):
        pruning.prune_channels(cnn, 0.5, example_input=x, ignored_layers=["features.2"])
    with pytest.raises(ValueError, match="no module named 'conv9'"):
        pruning.sensitivity_scan(cnn, lambda m: 0.0, [0.5], layers=["conv9"])
    with pytest.raises(ValueError, match="scope must be one of"):
        pruning.prune_magnitude(cnn, 0.5, scope="model")
    with pytest.raises(ValueError, match="importance must be one of"):
        pruning.prune_channels(cnn, 0.5, example_input=x, importance="taylor")
    with pytest.raises(TypeError, match="example_input must be Tensor"):
        pruning.prune_channels(cnn, 0.5, example_input=[1, 2])
    with pytest.raises(ValueError, match=r"steps must be in \[1, inf\]"):
        pruning.iterative_prune_channels(cnn, 0.5, example_input=x, steps=0)
    with pytest.raises(TypeError, match="model must be Module"):
        pruning.channel_counts("cnn")


def test_every_scope_and_importance_is_accepted_and_others_are_named(cnn):
    x = torch.randn(1, 1, 28, 28)
    for scope in pruning.SCOPES:
        assert pruning.sparsity(pruning.prune_magnitude(cnn, 0.5, scope=scope)) == pytest.approx(0.5, abs=0.01)
    counts = {imp: pruning.channel_counts(pruning.prune_channels(cnn, 0.5, example_input=x, importance=imp))
              for imp in pruning.IMPORTANCES}
    assert len({tuple(c.items()) for c in counts.values()}) == 1, "the importance picks which channels, not how many"
    with pytest.raises(ValueError, match="scope must be one of 'layer', 'global'; got 'model'"):
        pruning.prune_magnitude(cnn, 0.5, scope="model")
    with pytest.raises(ValueError, match="importance must be one of"):
        pruning.prune_channels(cnn, 0.5, example_input=x, importance="taylor")


def test_channel_pruning_records_what_it_did(cnn):
    x = torch.randn(1, 1, 28, 28)
    small = pruning.prune_channels(cnn, 0.5, example_input=x)
    steps = pruning.iterative_prune_channels(small, 0.25, example_input=x, steps=2)
    assert tl.applied(small) == [{"technique": "channel pruning", "amount": 0.5, "importance": "l2"}]
    assert tl.applied(steps)[-1] == {"technique": "channel pruning", "amount": 0.25, "importance": "l2", "steps": 2,
                                     "fine_tuned": False}
    assert len(tl.applied(steps)) == 2 and tl.applied(cnn) == [], "a ladder keeps the earlier entries"
