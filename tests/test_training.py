import numpy as np
import pytest
import torch

import tradeoff_lib as tl


def test_fit_learns_and_logs(small_splits):
    tl.seed_everything(0)
    model = tl.make_cnn(8)
    train_dl, val_dl, test_dl = tl.make_loaders(small_splits, 64, seed=0)
    before = tl.evaluate(model, test_dl)["accuracy"]
    history = tl.fit(model, train_dl, val_dl, epochs=3, progress=False)
    after = tl.evaluate(model, test_dl)["accuracy"]
    assert len(history) == 3 and after > max(0.7, before + 0.3)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert set(history.last) >= {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                                 "epoch_time_s"}
    assert history.train_time_s >= sum(history["epoch_time_s"]) * 0.99
    assert not model.training
    with pytest.raises(KeyError, match="no log entry 'bogus'"):
        history["bogus"]


def test_same_seed_same_result(small_splits):
    runs = [tl.train_classifier(lambda: tl.make_cnn(4), small_splits, epochs=1, seed=s, progress=False)[1].last
            for s in (1, 1, 2)]
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    assert runs[0]["train_loss"] != runs[2]["train_loss"]


def test_scheduler_callbacks_and_custom_step(small_splits):
    train_dl, val_dl, _ = tl.make_loaders(small_splits, 100, seed=0)

    class StopAfterTwo:
        def __init__(self):
            self.events = []

        def on_train_begin(self, model):
            self.events.append("begin")

        def on_epoch_end(self, epoch, logs, model):
            self.events.append(epoch)
            return epoch >= 2

        def on_train_end(self, model, history):
            self.events.append("end")

    calls = []

    def step(model, X, y):
        calls.append(len(X))
        return tl.classification_step(model, X, y)

    cb = StopAfterTwo()
    history = tl.fit(tl.make_cnn(4), train_dl, val_dl, epochs=5, lr=0.1, optimizer="sgd", step_fn=step,
                     scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
                     callbacks=[cb], progress=False)
    assert cb.events == ["begin", 1, 2, "end"] and history.stopped_early and len(history) == 2
    assert history["lr"] == [0.1, 0.05]
    assert sum(calls) == 2 * len(small_splits.train)


def test_soft_labels_give_the_soft_cross_entropy(small_splits):
    X, y = small_splits.train.tensors()
    torch.manual_seed(0)
    model = tl.make_cnn(4).eval()
    one_hot = torch.nn.functional.one_hot(y[:64], 10).float()
    hard_loss, logits = tl.classification_step(model, X[:64], y[:64])
    assert logits.shape == (64, 10)
    assert torch.isclose(tl.classification_step(model, X[:64], one_hot)[0], hard_loss)  # one-hot = class indices
    mixed = 0.3 * one_hot + 0.7 * one_hot.roll(1, dims=0)                                # MixUp-style targets
    by_hand = -(mixed * torch.log_softmax(logits, 1)).sum(1).mean()
    assert torch.isclose(tl.classification_step(model, X[:64], mixed)[0], by_hand, atol=1e-6)


def test_predict_and_evaluate_restore_mode(trained_cnn, small_splits):
    _, _, test_dl = tl.make_loaders(small_splits)
    trained_cnn.train()
    y_true, y_pred = tl.predict(trained_cnn, test_dl)
    assert trained_cnn.training
    trained_cnn.eval()
    assert y_true.shape == y_pred.shape == (300,)
    assert np.isclose(tl.evaluate(trained_cnn, test_dl)["accuracy"], np.mean(y_true == y_pred))


def test_checkpoint_round_trip_and_cache(tmp_path, small_splits, trained_cnn):
    path = tl.save_checkpoint(trained_cnn, tmp_path / "m.pt")
    clone = tl.load_checkpoint(tl.make_cnn(8), path)
    for a, b in zip(trained_cnn.state_dict().values(), clone.state_dict().values()):
        assert torch.equal(a, b)
    m1, h1 = tl.train_classifier(lambda: tl.make_cnn(4), small_splits, epochs=1, cache_dir=tmp_path, progress=False)
    m2, h2 = tl.train_classifier(lambda: tl.make_cnn(4), small_splits, epochs=1, cache_dir=tmp_path, progress=False)
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 1
    assert h1.to_dict() == h2.to_dict()
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))


def test_cache_key_does_not_depend_on_the_thread_count(tmp_path, small_splits):
    """A float sum of the images differs in the last bits between 1 and 2 threads; the key must not."""
    for threads in (1, 2):
        with tl.num_threads(threads):
            tl.train_classifier(lambda: tl.make_cnn(4), small_splits, epochs=1, cache_dir=tmp_path, progress=False)
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 1


def test_bad_arguments(small_splits):
    train_dl, _, _ = tl.make_loaders(small_splits)
    model = tl.make_cnn(4)
    with pytest.raises(ValueError, match="epochs must be in"):
        tl.fit(model, train_dl, epochs=0)
    with pytest.raises(ValueError, match=r"lr must be in \(0, inf\]"):
        tl.fit(model, train_dl, lr=0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        tl.fit(model, train_dl, optimizer="rmsprop")
    with pytest.raises(ValueError, match="scheduler_interval must be one of"):
        tl.fit(model, train_dl, scheduler_interval="batch")
    with pytest.raises(TypeError, match="model must be Module"):
        tl.fit("model", train_dl)
    with pytest.raises(ValueError, match="seed must be in"):
        tl.seed_everything(-1)
    with pytest.raises(TypeError, match="deterministic must be bool"):
        tl.seed_everything(0, deterministic=1)
    with pytest.raises(TypeError, match=r"build\(\) must be Module"):
        tl.train_classifier(lambda: None, small_splits, epochs=1)


def test_seed_everything_deterministic_switch():
    before = torch.are_deterministic_algorithms_enabled()
    try:
        tl.seed_everything(0)
        assert torch.are_deterministic_algorithms_enabled() == before
        tl.seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)


def test_fit_accepts_targets_that_are_not_class_labels(small_splits):
    """A custom step may receive tuple targets (multi-task); fit then skips train accuracy."""
    from torch.utils.data import DataLoader, TensorDataset

    X, y = small_splits.train.tensors()
    loader = DataLoader(TensorDataset(X[:64], y[:64], y[:64]), batch_size=32)
    batches = [(X_, (a, b)) for X_, a, b in loader]

    def step(model, X_, targets):
        logits = model(X_)
        return torch.nn.functional.cross_entropy(logits, targets[0]), logits

    history = tl.fit(tl.make_cnn(4), batches, epochs=1, step_fn=step, progress=False)
    assert np.isnan(history.last["train_accuracy"]) and history.last["train_loss"] > 0


def test_train_model_is_the_shared_core(small_splits):
    loader = tl.train_loader(small_splits.train, 64, seed=3)
    checked = []
    m1, h1 = tl.train_model(lambda: tl.make_cnn(4), loader, seed=3, check_model=checked.append, epochs=1,
                            progress=False)
    assert checked == [m1] and not m1.training and len(h1) == 1
    again, _ = tl.train_model(lambda: tl.make_cnn(4), tl.train_loader(small_splits.train, 64, seed=3), seed=3,
                              epochs=1, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), again.state_dict().values()))
    with pytest.raises(TypeError, match="train_loader must be DataLoader"):
        tl.train_model(lambda: tl.make_cnn(4), small_splits.train, seed=0)
    with pytest.raises(TypeError, match=r"build\(\) must be Module"):
        tl.train_model(lambda: "not a model", loader, seed=0)


def test_course_baseline_is_the_cached_cnn64(tmp_path, small_splits):
    base = tl.course_baseline(small_splits, epochs=1, seed=0, cache_dir=tmp_path, progress=False)
    assert isinstance(base, tl.SmallCNN) and base.config["width"] == tl.BASELINE_WIDTH and not base.training
    same, _ = tl.train_classifier(lambda: tl.make_cnn(tl.BASELINE_WIDTH, small_splits.info), small_splits, epochs=1,
                                  seed=0, cache_dir=tmp_path, name=f"cnn{tl.BASELINE_WIDTH}", progress=False)
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 1, "one checkpoint shared with train_classifier"
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), same.state_dict().values()))


def test_eval_mode_restores_every_flag_even_after_an_error():
    a, b = torch.nn.Dropout(), torch.nn.Dropout()
    a.train(), b.eval()
    with tl.eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
    with pytest.raises(RuntimeError, match="inside"), tl.eval_mode(a):
        assert not a.training
        raise RuntimeError("inside")
    assert a.training
    with pytest.raises(TypeError, match=r"models\[1\] must be Module"), tl.eval_mode(a, "b"):
        pass


def test_scoring_runs_the_model_in_eval_and_inference_mode_and_restores_it():
    from tradeoff_lib import threads, timing
    from tradeoff_lib.training import scoring

    model = tl.make_cnn(4).train()
    timing.reset()
    with scoring(model) as layout:
        assert not model.training and torch.is_inference_mode_enabled()
        assert torch.get_num_threads() == threads.get_training_threads()
        assert layout(torch.zeros(2, 1, 28, 28)).is_contiguous(memory_format=torch.channels_last)
    assert model.training and "evaluation" in timing.totals()
    assert all(p.is_contiguous() for p in model.parameters())
    with pytest.raises(TypeError, match="model"):
        with scoring("not a model"):
            pass
    timing.reset()
