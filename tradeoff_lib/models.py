"""Small model families with a width knob: the course CNN and an MLP.

``SmallCNN(width=w)`` is two conv blocks (conv3x3 - BN - ReLU - maxpool; ``w`` then
``2w`` channels) followed by a classifier (``flatten - linear(4w) - ReLU - linear``).
Parameters and FLOPs grow roughly with ``w**2``, so one knob moves a model along
the speed/accuracy trade-off. The layers are plain ``nn.Sequential`` children,
which keeps the model easy to fuse, quantize, prune and trace.

Used in: every notebook but ``01_compression_lowrank``, ``07_multitask_learning``,
``09_deployment_runtimes``, ``10_capstone_balancing``.
"""
from __future__ import annotations

from torch import nn

from ._checks import check_int

CNN_WIDTHS = (4, 8, 16, 32, 64)
"""The width family measured in notebook 00."""

BASELINE_WIDTH = 64
"""The course's baseline model is ``SmallCNN(width=64)``: the accurate, slow starting point
that compression, quantization and pruning speed up and that distillation uses as teacher."""


class SmallCNN(nn.Module):
    """Two conv blocks and a two-layer classifier; ``width`` sets every layer's size.

    Args:
        width: channels of the first conv block (the second has ``2 * width``).
        num_classes: output logits.
        in_channels: 1 for MNIST-like data, 3 for CIFAR-10.
        image_size: input height = width in pixels (divisible by 4).
        hidden: units of the hidden linear layer (default ``4 * width``).
    """

    def __init__(self, width: int = 16, num_classes: int = 10, in_channels: int = 1,
                 image_size: int = 28, hidden: int | None = None):
        super().__init__()
        check_int("width", width, min_value=1)
        check_int("num_classes", num_classes, min_value=2)
        check_int("in_channels", in_channels, min_value=1)
        check_int("image_size", image_size, min_value=4)
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        hidden = check_int("hidden", hidden if hidden is not None else 4 * width, min_value=1)
        self.config = dict(width=width, num_classes=num_classes, in_channels=in_channels,
                           image_size=image_size, hidden=hidden)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * (image_size // 4) ** 2, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """A multilayer perceptron on flattened images: ``Linear - ReLU`` per hidden layer.

    Args:
        hidden: sizes of the hidden layers, e.g. ``(256, 128)``.
        num_classes: output logits.
        in_features: flattened input size (784 for 28x28 grey images).
    """

    def __init__(self, hidden: tuple[int, ...] = (256, 128), num_classes: int = 10, in_features: int = 784):
        super().__init__()
        if not isinstance(hidden, (tuple, list)) or not hidden:
            raise TypeError(f"hidden must be a non-empty tuple of layer sizes, got {hidden!r}")
        for k, h in enumerate(hidden):
            check_int(f"hidden[{k}]", h, min_value=1)
        check_int("num_classes", num_classes, min_value=2)
        check_int("in_features", in_features, min_value=1)
        self.config = dict(hidden=tuple(hidden), num_classes=num_classes, in_features=in_features)
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in zip((in_features, *hidden), hidden):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(hidden[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def make_cnn(width: int = 16, info=None, **kwargs) -> SmallCNN:
    """A ``SmallCNN`` shaped for a dataset (``info`` is a ``DatasetInfo``; default MNIST)."""
    if info is not None:
        kwargs.setdefault("num_classes", info.num_classes)
        kwargs.setdefault("in_channels", info.in_channels)
        kwargs.setdefault("image_size", info.image_size)
    return SmallCNN(width=width, **kwargs)


def make_mlp(hidden: tuple[int, ...] = (256, 128), info=None, **kwargs) -> MLP:
    """An ``MLP`` shaped for a dataset (``info`` is a ``DatasetInfo``; default MNIST)."""
    if info is not None:
        kwargs.setdefault("num_classes", info.num_classes)
        kwargs.setdefault("in_features", info.in_channels * info.image_size ** 2)
    return MLP(hidden=hidden, **kwargs)
