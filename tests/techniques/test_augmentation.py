import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib.techniques import augmentation as A


@pytest.fixture
def digit(small_splits):
    return small_splits.train.images[0]


@pytest.mark.parametrize("preset", A.SAMPLE_PRESETS)
def test_sample_presets_keep_shape_and_range(preset, digit):
    torch.manual_seed(0)
    t = A.make_transform(preset)
    out = t(digit) if t is not None else digit
    assert out.shape == digit.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
    if preset == "none":
        assert t is None
    else:
        assert not torch.equal(out, digit) or not torch.equal(t(digit), digit)


def test_light_keeps_the_geometry_harmful_does_not():
    """A blob in the top-left quadrant stays there under light changes; flips and 180° rotations move it."""
    img = torch.zeros(1, 28, 28)
    img[:, 4:10, 4:10] = 1.0

    def share_top_left(preset):
        t = A.make_transform(preset)
        outs = torch.stack([t(img) for _ in range(100)])
        com = lambda x: (x.sum(1).argmax(), x.sum(0).argmax())  # noqa: E731
        return sum(int(r < 14 and c < 14) for r, c in (com(o[0]) for o in outs)) / len(outs)

    torch.manual_seed(0)
    assert share_top_left("light") == 1.0 and share_top_left("strong") >= 0.9
    assert share_top_left("harmful") < 0.6


def test_preset_lists():
    assert A.PRESETS == A.SAMPLE_PRESETS + A.BATCH_PRESETS
    assert {"none", "light", "strong", "harmful", "mixup", "cutmix"} == set(A.PRESETS)


def test_batch_presets_make_soft_labels():
    torch.manual_seed(0)
    X, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
    for preset in A.BATCH_PRESETS:
        Xm, ym = A.make_batch_transform(preset, 10)(X, y)
        assert Xm.shape == X.shape and ym.shape == (8, 10)
        torch.testing.assert_close(ym.sum(1), torch.ones(8))
    assert A.make_batch_transform("light", 10) is None
    assert A.make_transform("mixup") is None


def test_mixup_pair_by_hand_matches_torchvision_mixup():
    torch.manual_seed(0)
    X, y = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    mix = A.make_batch_transform("mixup", 10, alpha=1.0)
    torch.manual_seed(1)
    Xm, ym = mix(X, y)
    lam = float(ym[0, 1])                       # v2.MixUp pairs each image with the batch rolled by one
    x_hand, y_hand = A.mixup_pair(X[0], 1, X[-1], 4, lam, 10)
    torch.testing.assert_close(Xm[0], x_hand)
    torch.testing.assert_close(ym[0], y_hand)
    _, y_soft = A.mixup_pair(X[0], 3, X[1], 7, 0.25, 10)
    assert y_soft[3] == pytest.approx(0.25) and y_soft[7] == pytest.approx(0.75)


def test_augmented_loader(small_splits):
    loader = A.augmented_loader(small_splits.train, "light", batch_size=32, seed=0)
    X, y = next(iter(loader))
    assert X.shape == (32, 1, 28, 28) and y.shape == (32,)
    X, y = next(iter(A.augmented_loader(small_splits.train, "cutmix", batch_size=32, seed=0, num_classes=10)))
    assert y.shape == (32, 10)
    # same seed, same batches
    torch.manual_seed(0)
    a = next(iter(A.augmented_loader(small_splits.train, "light", seed=3)))[0]
    torch.manual_seed(0)
    b = next(iter(A.augmented_loader(small_splits.train, "light", seed=3)))[0]
    torch.testing.assert_close(a, b)


def test_loader_time(small_splits):
    t_none = A.loader_time_s(small_splits.train, "none")
    t_light = A.loader_time_s(small_splits.train, "light")
    assert t_none > 0 and t_light > 0      # no wall-clock comparison: the machine may be busy
    with pytest.raises(ValueError, match="preset"):
        A.loader_time_s(small_splits.train, "blur")


def test_train_augmented_with_steps_and_soft_labels(small_splits):
    model, h = A.train_augmented(lambda: tl.make_cnn(4), small_splits, preset="mixup", train_size=200, steps=8,
                                 seed=0, batch_size=64)
    assert len(h) == 2 and not model.training          # 200 images = 4 batches; 8 steps = 2 epochs
    assert 0.0 <= h.last["val_accuracy"] <= 1.0 and h.last["train_loss"] > 0
    _, h2 = A.train_augmented(lambda: tl.make_cnn(4), small_splits, preset="none", epochs=1, seed=0, validate=False)
    assert len(h2) == 1 and "val_accuracy" not in h2.last


def test_with_train_transform_leaves_val_and_test_alone(small_splits):
    s = A.with_train_transform(small_splits, "light")
    assert s.train.transform is not None and s.val is small_splits.val and s.test is small_splits.test
    assert small_splits.train.transform is None


def test_plot_augmentations(small_splits, tmp_path):
    fig = A.plot_augmentations(small_splits.train, ("none", "harmful", "mixup"), n_images=4, path=tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0 and len(fig.axes) == 12


@pytest.mark.parametrize("call, exc, match", [
    (lambda s: A.make_transform("sharpen"), ValueError, "preset must be one of 'none', 'light'"),
    (lambda s: A.make_batch_transform("mixup", 1), ValueError, "num_classes"),
    (lambda s: A.make_batch_transform("mixup", 10, alpha=0.0), ValueError, "alpha"),
    (lambda s: A.augmented_loader(s.train, "zoom"), ValueError, "preset"),
    (lambda s: A.augmented_loader(torch.zeros(3), "none"), TypeError, "dataset must be ArrayDataset"),
    (lambda s: A.train_augmented(lambda: tl.make_cnn(4), s, epochs=1, steps=5), ValueError, "exactly one"),
    (lambda s: A.train_augmented(lambda: tl.make_cnn(4), s), ValueError, "exactly one"),
    (lambda s: A.train_augmented(lambda: tl.make_cnn(4), s, steps=0), ValueError, "steps"),
    (lambda s: A.train_augmented(lambda: tl.make_cnn(4), s, epochs=1, train_size=10_000), ValueError, "n must be"),
    (lambda s: A.with_train_transform(s, "mixup"), ValueError, "preset"),
    (lambda s: A.mixup_pair(torch.zeros(1), 0, torch.zeros(1), 1, 1.5, 10), ValueError, "lam"),
    (lambda s: A.MixingCollate(3), TypeError, "batch_transform must be callable"),
    (lambda s: A.plot_augmentations(s.train, ("blur",)), ValueError, "preset"),
])
def test_bad_arguments(small_splits, call, exc, match):
    with pytest.raises(exc, match=match):
        call(small_splits)
