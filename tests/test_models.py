import pytest
import torch

import tradeoff_lib as tl


@pytest.mark.parametrize("width", [1, 4, 16])
def test_cnn_shapes_and_width_knob(width, x1):
    model = tl.make_cnn(width)
    assert model(x1).shape == (1, 10)
    assert model.config["width"] == width and model.config["hidden"] == 4 * width


def test_params_grow_with_width():
    counts = [tl.count_params(tl.make_cnn(w)) for w in tl.CNN_WIDTHS]
    assert counts == sorted(counts) and counts[-1] > 100 * counts[0]


def test_cnn_for_cifar_shape():
    info = tl.DatasetInfo("cifar10", 10, 3, 32, tuple("abcdefghij"), (0.5,) * 3, (0.25,) * 3)
    model = tl.make_cnn(8, info)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    mlp = tl.make_mlp((32,), info)
    assert mlp(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_mlp(x1):
    mlp = tl.make_mlp((64, 32))
    assert mlp(x1).shape == (1, 10)
    assert tl.count_params(mlp) == 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10


@pytest.mark.parametrize("build, kwargs, exc, match", [
    (tl.SmallCNN, {"width": 0}, ValueError, "width must be in"),
    (tl.SmallCNN, {"image_size": 30}, ValueError, "image_size must be divisible by 4"),
    (tl.SmallCNN, {"width": 2.5}, TypeError, "width must be an int"),
    (tl.MLP, {"hidden": ()}, TypeError, "hidden must be a non-empty tuple"),
    (tl.MLP, {"hidden": (8, 0)}, ValueError, r"hidden\[1\] must be in"),
])
def test_bad_arguments(build, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        build(**kwargs)


def test_baseline_is_the_widest_of_the_family():
    assert tl.BASELINE_WIDTH == max(tl.CNN_WIDTHS)
