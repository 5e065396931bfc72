import numpy as np
import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib import data


def test_default_split_sizes_are_stratified_and_disjoint(splits):
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3500, 500, 1000)
    for part, n in ((splits.train, 350), (splits.val, 50), (splits.test, 100)):
        assert (np.bincount(part.labels.numpy(), minlength=10) == n).all()
    keys = [x.numpy().tobytes() for part in (splits.train, splits.val, splits.test) for x in part.images]
    assert len(set(keys)) == 5000  # every image lands in exactly one split


def test_split_is_seeded(splits):
    again = tl.load_splits(seed=0)
    other = tl.load_splits(seed=1)
    assert torch.equal(splits.train.images, again.train.images)
    assert not torch.equal(splits.train.images, other.train.images)


def test_normalization_uses_training_statistics(splits):
    X, y = splits.train.tensors()
    assert abs(float(X.mean())) < 1e-4 and abs(float(X.std()) - 1) < 1e-3
    x0, y0 = splits.train[0]
    assert x0.shape == (1, 28, 28) and y0.dtype == torch.int64
    assert 0.0 <= float(splits.train.images.min()) and float(splits.train.images.max()) <= 1.0
    assert splits.info.num_classes == 10 and splits.info.in_channels == 1 and splits.info.image_size == 28


def test_transform_runs_before_normalization(splits):
    flipped = splits.train.with_transform(lambda img: 1.0 - img)
    x, _ = flipped[0]
    expected = splits.train.normalize(1.0 - splits.train.images[0])
    assert torch.allclose(x, expected)


def test_custom_sizes_and_errors():
    s = tl.load_splits(sizes=(100, 0, 50), seed=3)
    assert (len(s.train), len(s.val), len(s.test)) == (100, 0, 50)
    with pytest.raises(ValueError, match="more than the 5000 images"):
        tl.load_splits(sizes=(4000, 1000, 1000))
    with pytest.raises(ValueError, match="sizes must be"):
        tl.load_splits(sizes=(10, 10))
    with pytest.raises(ValueError, match="name must be one of"):
        tl.load_splits("imagenet")
    with pytest.raises(ValueError, match="seed must be in"):
        tl.load_splits(seed=-1)


def test_stratified_subset(splits):
    sub = tl.stratified_subset(splits.train, 500, seed=0)
    assert len(sub) == 500 and (np.bincount(sub.labels.numpy()) == 50).all()
    with pytest.raises(ValueError, match="n must be in"):
        tl.stratified_subset(splits.train, 0)
    with pytest.raises(TypeError, match="dataset must be ArrayDataset"):
        tl.stratified_subset([1, 2, 3], 2)


def test_loaders_are_seeded(splits):
    a = next(iter(tl.make_loaders(splits, 32, seed=5)[0]))[1]
    b = next(iter(tl.make_loaders(splits, 32, seed=5)[0]))[1]
    c = next(iter(tl.make_loaders(splits, 32, seed=6)[0]))[1]
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="batch_size must be in"):
        tl.make_loaders(splits, 0)
    with pytest.raises(ValueError, match="eval_batch_size must be in"):
        tl.make_loaders(splits, 32, eval_batch_size=0)


def test_eval_loader_keeps_order_and_batch_size(splits):
    loader = tl.eval_loader(splits.val)
    batches = list(loader)
    assert [len(y) for _, y in batches] == [data.EVAL_BATCH_SIZE] * (len(splits.val) // data.EVAL_BATCH_SIZE)
    assert torch.equal(torch.cat([y for _, y in batches]), splits.val.labels)
    assert len(next(iter(tl.eval_loader(splits.val, 7)))[1]) == 7
    with pytest.raises(ValueError, match="batch_size must be in"):
        tl.eval_loader(splits.val, 0)
    with pytest.raises(TypeError, match="dataset must be Dataset"):
        tl.eval_loader([1, 2, 3])


def test_scores_do_not_depend_on_the_eval_batch_size(splits):
    """The measured reason EVAL_BATCH_SIZE may be small: in eval mode each image is computed on its own."""
    torch.manual_seed(0)
    model = tl.make_cnn(16).eval()
    with torch.no_grad():  # give batch norm non-trivial running statistics
        for bn in (model.features[1], model.features[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    small = tl.predict(model, tl.eval_loader(splits.test))
    large = tl.predict(model, tl.eval_loader(splits.test, 500))
    assert (small[0] == large[0]).all() and (small[1] == large[1]).all()
    a, b = tl.evaluate(model, tl.eval_loader(splits.test)), tl.evaluate(model, tl.eval_loader(splits.test, 500))
    assert a["accuracy"] == b["accuracy"] and a["loss"] == pytest.approx(b["loss"], rel=1e-6)


def test_optional_dataset_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    with pytest.raises(tl.DatasetUnavailableError, match="download=True"):
        tl.load_splits("fashionmnist", root=tmp_path)
    monkeypatch.setattr(data, "_online", lambda host, timeout_s=3.0: False)
    with pytest.raises(tl.DatasetUnavailableError, match="unreachable"):
        tl.load_splits("cifar10", root=tmp_path, download=True)
    assert not (tmp_path / "torchvision" / "cifar-10-batches-py").exists()


def test_missing_default_file_says_how_to_restore(tmp_path):
    with pytest.raises(tl.DatasetUnavailableError, match="git checkout data/mnist5k.npz"):
        tl.load_splits(root=tmp_path)


def test_torchvision_path_with_local_files(tmp_path, monkeypatch):
    """The torchvision branch splits official train/test images (files faked on disk)."""
    class Fake:
        mirrors = ["https://example.invalid/"]

        def __init__(self, root, train, download):
            n = 300 if train else 100
            rng = np.random.default_rng(0 if train else 1)
            self.data = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            self.targets = np.arange(n) % 10

    monkeypatch.setattr(data, "_torchvision_class", lambda name: Fake)
    s = tl.load_splits("mnist", root=tmp_path, sizes=(200, 50, 40))
    assert (len(s.train), len(s.val), len(s.test)) == (200, 50, 40)
    assert (np.bincount(s.test.labels.numpy()) == 4).all()
    with pytest.raises(ValueError, match="exceed"):
        tl.load_splits("mnist", root=tmp_path, sizes=(290, 50, 40))


def test_data_cli_reports_unavailable(monkeypatch, capsys):
    monkeypatch.setattr(data, "_online", lambda host, timeout_s=3.0: False)
    monkeypatch.setattr(data, "data_dir", lambda: __import__("pathlib").Path("/nonexistent-tradeoff"))
    assert data.main(["fashionmnist"]) == 1
    assert "unreachable" in capsys.readouterr().out


def test_public_names(splits):
    assert isinstance(splits, tl.Splits) and tl.DATASETS[0] == "mnist5k"
    assert splits.example_input(4).shape == (4, 1, 28, 28)
    loader = tl.train_loader(splits.val, 50, seed=1)
    assert len(loader) == 10
    with pytest.raises(ValueError, match="batch_size must be in"):
        splits.example_input(0)


def test_array_dataset_applies_the_transform_before_normalizing():
    images, labels = torch.full((3, 1, 2, 2), 0.5), torch.tensor([0, 1, 2])
    ds = tl.ArrayDataset(images, labels, mean=[0.5], std=[0.25], transform=lambda x: x * 2)
    x, y = ds[1]
    assert len(ds) == 3 and int(y) == 1 and torch.allclose(x, torch.full((1, 2, 2), (1.0 - 0.5) / 0.25))
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\), got \(3, 2, 2\)"):
        tl.ArrayDataset(images[:, 0], labels, mean=[0.5], std=[0.25])
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\), got \(2,\)"):
        tl.ArrayDataset(images, labels[:2], mean=[0.5], std=[0.25])
