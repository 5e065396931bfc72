"""Training threads (one place, overridable) and the package-wide stopwatch."""
import json
import time

import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib import timing


def test_training_threads_set_and_restored(small_splits):
    before = torch.get_num_threads()
    previous = tl.set_training_threads(1)
    try:
        seen = []

        class Probe:
            def on_epoch_end(self, epoch, logs, model):
                seen.append(torch.get_num_threads())

        tl.train_classifier(lambda: tl.make_cnn(4), small_splits, epochs=1, progress=False, callbacks=[Probe()])
        assert seen == [1] and torch.get_num_threads() == before
        with tl.training_threads(2) as n:
            assert n == 2 and torch.get_num_threads() == 2
        assert torch.get_num_threads() == before
        assert tl.get_training_threads() == 1
    finally:
        tl.set_training_threads(previous)


def test_training_threads_bad_input():
    with pytest.raises(ValueError, match="threads"):
        tl.set_training_threads(0)
    with pytest.raises(TypeError, match="threads"):
        with tl.training_threads("2"):
            pass


def test_timed_totals_nesting_and_dump(tmp_path, monkeypatch):
    timing.reset()
    path = tmp_path / "t.json"
    monkeypatch.setenv(timing.ENV, str(path))
    with timing.timed("training"):
        time.sleep(0.05)
        with timing.timed("evaluation"):  # nested: counts for the outer section only
            time.sleep(0.05)
    with timing.timed("latency"):
        time.sleep(0.02)
    t = timing.totals()
    assert 0.1 <= t["training"] < 1.0 and "evaluation" not in t and 0.02 <= t["latency"] < 0.5
    assert json.loads(path.read_text()) == pytest.approx(t)
    timing.reset()
    assert timing.totals() == {}
    with pytest.raises(ValueError, match="kind"):
        with timing.timed(""):
            pass


def test_package_functions_feed_the_timers(small_splits, x1):
    timing.reset()
    model, _ = tl.train_classifier(lambda: tl.make_cnn(4), small_splits, epochs=1, progress=False)
    tl.measure_latency(model, x1, repeats=5, warmup=1)
    tl.bootstrap_ci([0, 1, 1, 0], [0, 1, 0, 0], n_boot=100)
    tl.evaluate(model, torch.utils.data.DataLoader(small_splits.test, batch_size=100))
    t = timing.totals()
    assert {"training", "latency", "bootstrap", "evaluation"} <= set(t) and all(v > 0 for v in t.values())
    timing.reset()


def test_training_threads_from_the_environment(monkeypatch):
    from tradeoff_lib import threads

    monkeypatch.setenv("TRADEOFF_TRAINING_THREADS", "2")
    assert threads._from_env() == 2
    monkeypatch.setenv("TRADEOFF_TRAINING_THREADS", "two")
    with pytest.raises(ValueError, match="TRADEOFF_TRAINING_THREADS"):
        threads._from_env()
    monkeypatch.delenv("TRADEOFF_TRAINING_THREADS")
    assert threads._from_env() == 1
