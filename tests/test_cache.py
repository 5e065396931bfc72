"""The content-keyed training cache: recipes and any derived model are trained once per key."""
import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib import caching


def test_train_recipe_cache_reuses_and_keys_on_everything(small_splits, tmp_path):
    r = tl.Recipe(width=4, epochs=1)
    m1, h1 = tl.train_recipe(r, small_splits, seed=0, cache_dir=tmp_path)
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert len(files) == 2
    m2, h2 = tl.train_recipe(r, small_splits, seed=0, cache_dir=tmp_path)   # from the cache
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == files
    assert caching.state_fingerprint(m1) == caching.state_fingerprint(m2) and h1.epochs == h2.epochs
    fresh, _ = tl.train_recipe(r, small_splits, seed=0)   # no cache: same result, trained again
    assert caching.state_fingerprint(fresh) == caching.state_fingerprint(m1)
    tl.train_recipe(r, small_splits, seed=1, cache_dir=tmp_path)
    tl.train_recipe(r.replace(lr=3e-3), small_splits, seed=0, cache_dir=tmp_path)
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 3


def test_cached_training_keys_derived_models(small_splits, tmp_path):
    calls = []

    def train(model):
        calls.append(1)
        return tl.fit(model, tl.train_loader(small_splits.train, 64), epochs=1, progress=False)

    src = tl.make_cnn(4)
    key = {"source": caching.state_fingerprint(src), "step": "fine-tune 1 epoch"}
    a, _ = caching.cached_training(tmp_path, "ft", key, lambda: tl.clone_model(src), train)
    b, _ = caching.cached_training(tmp_path, "ft", key, lambda: tl.clone_model(src), train)
    assert len(calls) == 1 and caching.state_fingerprint(a) == caching.state_fingerprint(b)
    with torch.no_grad():
        src.classifier[3].bias.add_(1.0)   # another source model: another key
    key2 = {**key, "source": caching.state_fingerprint(src)}
    caching.cached_training(tmp_path, "ft", key2, lambda: tl.clone_model(src), train)
    assert len(calls) == 2


def test_cache_key_and_bad_input():
    assert caching.cache_key({"a": 1}) == caching.cache_key({"a": 1}) != caching.cache_key({"a": 2})
    with pytest.raises(TypeError, match="parts"):
        caching.cache_key([1])
    with pytest.raises(TypeError, match="model"):
        caching.state_fingerprint("x")
    with pytest.raises(TypeError, match="name"):
        caching.cached_training(None, 3, {}, lambda: tl.make_cnn(4), lambda m: tl.History())
