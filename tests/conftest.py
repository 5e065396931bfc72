import pytest
import torch

import tradeoff_lib as tl


@pytest.fixture(scope="session")
def splits():
    return tl.load_splits("mnist5k", seed=0)


@pytest.fixture(scope="session")
def small_splits():
    """A small split for fast training tests."""
    return tl.load_splits("mnist5k", sizes=(600, 200, 300), seed=0)


@pytest.fixture(scope="session")
def trained_cnn(small_splits):
    model, history = tl.train_classifier(lambda: tl.make_cnn(8), small_splits, epochs=2, seed=0, progress=False)
    return model


@pytest.fixture
def x1():
    torch.manual_seed(0)
    return torch.randn(1, 1, 28, 28)
