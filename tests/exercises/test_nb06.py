import torch
from torchvision.transforms import v2

import tradeoff_lib as tl


def test_06_1_mixup(capsys):
    torch.manual_seed(0)
    x1, x2 = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    ctx = dict(x1=x1, y1=3, x2=x2, y2=8, lam=0.3)
    y = torch.zeros(10)
    y[3], y[8] = 0.3, 0.7
    assert tl.check_exercise("06.1", x_mix=0.3 * x1 + 0.7 * x2, y_mix=y, **ctx)
    assert not tl.check_exercise("06.1", x_mix=0.7 * x1 + 0.3 * x2, y_mix=y, **ctx)
    assert "swapped" in capsys.readouterr().out
    assert not tl.check_exercise("06.1", x_mix=0.3 * x1 + 0.7 * x2, y_mix=torch.eye(10)[3], **ctx)
    assert not tl.check_exercise("06.1", x_mix=0.3 * x1 + 0.7 * x2, y_mix=torch.tensor(3), **ctx)


def test_06_2_label_safe_transform(capsys):
    assert tl.check_exercise("06.2", my_transform=v2.RandomAffine(degrees=15, translate=(0.08, 0.08), shear=10))
    assert not tl.check_exercise("06.2", my_transform=v2.RandomVerticalFlip(p=0.5))
    assert "flips and large rotations" in capsys.readouterr().out
    assert not tl.check_exercise("06.2", my_transform=lambda x: x)
    assert "unchanged" in capsys.readouterr().out
    assert not tl.check_exercise("06.2", my_transform=lambda x: x[0])
    assert not tl.check_exercise("06.2", my_transform="light")
