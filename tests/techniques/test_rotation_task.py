"""The rotation task: balanced, seeded, really rotated, independent of the digit; bad input refused."""
import numpy as np
import pytest
import torch

from tradeoff_lib.techniques import rotation_task


def test_rotation_task_is_balanced_seeded_and_really_rotated(small_splits):
    ds = rotation_task.make_rotation_task(small_splits.train, seed=0)
    k = ds.labels["rotation"]
    assert ds.tasks == ("digit", "rotation") and len(ds) == len(small_splits.train)
    assert torch.equal(torch.bincount(k, minlength=4), torch.full((4,), len(ds) // 4))
    assert torch.equal(ds.labels["digit"], small_splits.train.labels)
    assert torch.equal(k, rotation_task.make_rotation_task(small_splits.train, seed=0).labels["rotation"])
    assert not torch.equal(k, rotation_task.make_rotation_task(small_splits.train, seed=1).labels["rotation"])
    for i in range(8):  # each image is the original turned by k quarter turns
        expected = torch.rot90(small_splits.train.images[i], int(k[i]), dims=(-2, -1))
        assert torch.equal(ds.images[i], expected)
    # the rotation does not depend on the digit: every digit appears with every rotation
    assert np.all(np.histogram2d(ds.labels["digit"], k, bins=(10, 4))[0] > 0)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and set(y) == {"digit", "rotation"}
    assert torch.allclose(x, small_splits.train.normalize(ds.images[0]))
    assert small_splits.train.images.shape == ds.images.shape and not torch.equal(small_splits.train.images, ds.images)


def test_dataset_validation(small_splits):
    with pytest.raises(TypeError, match="dataset must be ArrayDataset"):
        rotation_task.make_rotation_task(small_splits.train.images)
    with pytest.raises(ValueError, match="seed must be in"):
        rotation_task.make_rotation_task(small_splits.train, seed=-1)
    images = torch.zeros(5, 1, 28, 28)
    with pytest.raises(ValueError, match=r"labels\['digit'\] must have shape \(5,\)"):
        rotation_task.MultiTaskDataset(images, {"digit": torch.zeros(4)}, [0.0], [1.0])
    with pytest.raises(ValueError, match="at least one task"):
        rotation_task.MultiTaskDataset(images, {}, [0.0], [1.0])
    with pytest.raises(ValueError, match="images must have shape"):
        rotation_task.MultiTaskDataset(torch.zeros(5, 28, 28), {"digit": torch.zeros(5)}, [0.0], [1.0])
