"""Checks for the exercises of ``notebooks/06_data_augmentation.ipynb``."""
from __future__ import annotations

import torch

from ..techniques.augmentation import mixup_pair
from . import exercise


@exercise("06.1")
def mixup_by_hand(x_mix, y_mix, x1, y1, x2, y2, lam, num_classes=10):
    x_exp, y_exp = mixup_pair(x1, y1, x2, y2, lam, num_classes)
    y_mix = torch.as_tensor(y_mix, dtype=torch.float32)
    if tuple(y_mix.shape) != (num_classes,):
        return False, (f"y_mix should be a soft label with {num_classes} entries (one-hot vectors mixed), "
                       f"got {tuple(y_mix.shape)}.")
    if torch.allclose(torch.as_tensor(x_mix), (1 - lam) * x1 + lam * x2):
        return False, "the weights are swapped: λ goes with the first image and its label."
    if not torch.allclose(torch.as_tensor(x_mix, dtype=torch.float32), x_exp):
        return False, "Hint: x̃ = λ x₁ + (1 − λ) x₂."
    if not torch.allclose(y_mix, y_exp):
        return False, "the image is right; the label is mixed the same way: ỹ = λ onehot(y₁) + (1 − λ) onehot(y₂)."
    return True, f"a {lam:g}/{1 - lam:g} blend of a {int(y1)} and a {int(y2)}; the loss wants both probabilities."


def _blob_share_top_left(transform, n=100, seed=0) -> tuple[float, float]:
    """How often a blob in the top-left quadrant stays there, and how often the output differs from the input."""
    img = torch.zeros(1, 28, 28)
    img[:, 4:10, 4:10] = 1.0
    torch.manual_seed(seed)
    outs = [transform(img) for _ in range(n)]
    stays = sum(int(o[0].sum(1).argmax() < 14 and o[0].sum(0).argmax() < 14) for o in outs) / n
    changed = sum(int(not torch.equal(o, img)) for o in outs) / n
    return stays, changed


@exercise("06.2")
def label_safe_transform(my_transform):
    if not callable(my_transform):
        return False, "my_transform should be a callable, e.g. a torchvision.transforms.v2.Compose([...])."
    try:
        out = my_transform(torch.rand(1, 28, 28))
    except Exception as exc:
        return False, f"my_transform failed on a (1, 28, 28) image: {exc}"
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 28, 28):
        return False, "my_transform must return one image tensor of the same shape (1, 28, 28)."
    stays, changed = _blob_share_top_left(my_transform)
    if changed < 0.5:
        return False, "it leaves most images unchanged: an augmentation should vary (almost) every image."
    if stays < 0.95:
        return False, (f"a shape in the top-left corner ended elsewhere in {1 - stays:.0%} of the outputs: "
                       "flips and large rotations change what a digit means. Keep rotations small (≤ 20°).")
    return True, f"label-safe: the shape stayed in place in {stays:.0%} of {100} outputs, and {changed:.0%} changed."
