"""Fixtures and the constants several test files share (import them: ``from tests.conftest import R``)."""
from pathlib import Path

import pytest
import torch

import tradeoff_lib as tl

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# a validation-loss curve with its minimum at epoch 5, then overfitting (early stopping, exercise 05)
VAL_LOSS = [1.0, 0.6, 0.5, 0.52, 0.49, 0.495, 0.51, 0.53, 0.56, 0.6]


def R(name, f1, p50, p99=None, mx=None, acc=None, tech="t", nb="nb", seed=0, size=1000, vf1=None, vacc=None):
    """A Result by hand; validation scores equal the test ones unless ``vf1``/``vacc`` are given."""
    acc = f1 if acc is None else acc
    return tl.Result(name=name, technique=tech, notebook=nb, val_accuracy=acc if vacc is None else vacc,
                     val_f1=f1 if vf1 is None else vf1, accuracy=acc, f1=f1,
                     f1_low=f1 - 0.01, f1_high=f1 + 0.01, latency_p50_ms=p50,
                     latency_p99_ms=p99 if p99 is not None else p50 * 1.5,
                     latency_max_ms=mx if mx is not None else p50 * 3, size_bytes=size, params=10,
                     nonzero_params=10, flops=None, seed=seed)


RESULTS = [R("a", 0.90, 1.0), R("b", 0.95, 2.0), R("c", 0.93, 3.0), R("d", 0.97, 5.0), R("e", 0.97, 6.0),
           R("f", 0.90, 1.0)]


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
