"""Multi-seed training in one pass equals sequential training seed by seed (up to float rounding)."""
import numpy as np
import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib.techniques import schedules


def _max_diff(a, b):
    return max((x - y).abs().max().item() for x, y in zip(a.state_dict().values(), b.state_dict().values())
               if x.is_floating_point())


def _mean_diff(a, b):
    pairs = zip(a.state_dict().values(), b.state_dict().values())
    return float(np.mean([(x - y).abs().mean().item() for x, y in pairs if x.is_floating_point()]))


# SGD is linear in the gradient, so rounding differences (grouped vs. plain convolutions) stay at
# float level. Adam divides by sqrt(v): an element whose gradient is ~0 moves by about +-lr whatever
# its sign, so a few such elements may differ by a few lr after many steps while the model is the same.
# With Adam the tolerance is therefore stated in units of the learning rate (3e-3) rather than float eps.
@pytest.mark.parametrize("optimizer,max_tol,mean_tol,scheduled", [("sgd", 1e-3, 1e-4, False),
                                                                  ("adam", 0.05, 2e-3, False),
                                                                  ("adam", 0.05, 2e-3, True)])
def test_train_seeds_equals_sequential_training(small_splits, optimizer, max_tol, mean_tol, scheduled):
    build = lambda: tl.make_cnn(8, small_splits.info)  # noqa: E731
    steps = 2 * len(tl.train_loader(small_splits.train, 64))
    kw = dict(scheduler=schedules.warmup_cosine(steps, 3), scheduler_interval="step") if scheduled else {}
    stacked = tl.train_seeds(build, small_splits, [0, 3, 5], epochs=2, lr=3e-3, optimizer=optimizer, **kw)
    for (model, hist), seed in zip(stacked, [0, 3, 5]):
        ref, ref_hist = tl.train_classifier(build, small_splits, epochs=2, seed=seed, lr=3e-3, progress=False,
                                            optimizer=optimizer, **kw)
        assert isinstance(model, tl.SmallCNN) and not model.training
        assert _max_diff(model, ref) < max_tol and _mean_diff(model, ref) < mean_tol, \
            "same initial weights, same batches, same steps"
        for key in ("train_loss", "val_loss", "lr"):
            assert np.allclose(hist[key], ref_hist[key], atol=10 * mean_tol), key
        # an image on the decision boundary may flip: at most 2 of the validation images
        assert np.allclose(hist["val_accuracy"], ref_hist["val_accuracy"],
                           atol=(2.5 if optimizer == "sgd" else 6.5) / len(small_splits.val))
        x = small_splits.example_input(50)
        assert (model(x).argmax(1) == ref(x).argmax(1)).float().mean() >= 0.98


def test_seeds_differ_and_a_different_seed_is_detected(small_splits):
    build = lambda: tl.make_cnn(4, small_splits.info)  # noqa: E731
    (m0, _), (m1, _) = tl.train_seeds(build, small_splits, [0, 1], epochs=1)
    ref1, _ = tl.train_classifier(build, small_splits, epochs=1, seed=1, progress=False)
    assert _mean_diff(m1, ref1) < 2e-3 < 5 * 2e-3 < _mean_diff(m0, ref1)


def test_stack_unstack_roundtrip_and_forward():
    torch.manual_seed(0)
    models = [tl.make_cnn(4).eval() for _ in range(3)]
    stack = tl.StackedCNN(models).eval()
    x = torch.randn(5, 1, 28, 28)
    out = stack(x)
    assert out.shape == (5, 3, 10)
    for k, m in enumerate(models):
        assert torch.allclose(out[:, k], m(x), atol=1e-5)
    for a, b in zip(stack.unstack(), models):
        assert _max_diff(a, b) == 0.0
    per_model = torch.randn(5, 3, 1, 28, 28)
    assert torch.allclose(stack(per_model)[:, 1], models[1](per_model[:, 1]), atol=1e-5)


def test_bad_input(small_splits):
    with pytest.raises(ValueError, match="seeds must be distinct"):
        tl.train_seeds(lambda: tl.make_cnn(4), small_splits, [1, 1])
    with pytest.raises(ValueError, match="seeds must be a non-empty"):
        tl.train_seeds(lambda: tl.make_cnn(4), small_splits, [])
    with pytest.raises(ValueError, match="seeds\\[1\\]"):
        tl.train_seeds(lambda: tl.make_cnn(4), small_splits, [0, -1])
    with pytest.raises(ValueError, match="only models of one shape"):
        tl.StackedCNN([tl.make_cnn(4), tl.make_cnn(8)])
    with pytest.raises(TypeError, match="models\\[0\\]"):
        tl.StackedCNN([tl.make_mlp()])
    with pytest.raises(ValueError, match="non-empty"):
        tl.StackedCNN([])


def test_paired_differences_against_hand_computation():
    from tradeoff_lib.multiseed import paired_differences

    scores = {"ref": [0.90, 0.92, 0.94], "up": [0.93, 0.95, 0.97], "noisy": [0.95, 0.90, 0.95],
              "down": [0.8, 0.83, 0.83]}
    t = paired_differences(scores, "ref")
    assert t.loc["up", "diff_mean"] == pytest.approx(0.03) and t.loc["up", "diff_std"] == pytest.approx(0, abs=1e-12)
    assert t.loc["up", "verdict"] == "better" and t.loc["down", "verdict"] == "worse"
    d = np.array([0.05, -0.02, 0.01])   # noisy - ref: mean 0.0133, se = std/sqrt(3) = 0.0203
    assert t.loc["noisy", "diff_std"] == pytest.approx(d.std(ddof=1)) and t.loc["noisy", "verdict"] == "within noise"
    assert t.loc["ref", "verdict"] == "reference" and t.loc["ref", "std"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="reference"):
        paired_differences(scores, "nope")
    with pytest.raises(ValueError, match="same number"):
        paired_differences({"a": [1.0, 2.0], "b": [1.0]}, "a")
