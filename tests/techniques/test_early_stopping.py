import pytest
import torch

import tradeoff_lib as tl
from tests.conftest import VAL_LOSS
from tradeoff_lib.techniques.early_stopping import (
    EarlyStopping,
    EvaluateOn,
    GeneralizationLoss,
    Replay,
    ThresholdStopping,
    compare_rules,
    plot_overfitting,
    replay,
)


def history(values, key="val_loss"):
    return tl.History([{"epoch": i + 1, key: v} for i, v in enumerate(values)])


def test_early_stopping_patience_counts_epochs_without_improvement():
    r = replay(EarlyStopping(patience=3), history(VAL_LOSS))
    # epoch 5 is the best; 6, 7, 8 do not improve -> stop after epoch 8, keep epoch 5
    assert (r.stop_epoch, r.kept_epoch, r.fired, r.epochs_run) == (8, 5, True, 10)
    assert replay(EarlyStopping(patience=1, restore_best_weights=False), history(VAL_LOSS)).stop_epoch == 4
    assert replay(EarlyStopping(patience=1, restore_best_weights=False), history(VAL_LOSS)).kept_epoch == 4
    never = replay(EarlyStopping(patience=20), history(VAL_LOSS))
    assert not never.fired and never.stop_epoch == 10 and never.kept_epoch == 5


def test_min_delta_and_max_mode():
    # with min_delta 0.02, epoch 5 (0.49 vs best 0.5) is no improvement -> stop after 3 more: epoch 6
    rule = EarlyStopping(patience=3, min_delta=0.02)
    assert replay(rule, history(VAL_LOSS)).stop_epoch == 6 and rule.best_epoch == 3
    acc = [0.5, 0.7, 0.8, 0.79, 0.81, 0.8, 0.8]
    rule = EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    r = replay(rule, history(acc, "val_accuracy"))
    assert (r.stop_epoch, r.kept_epoch, rule.best) == (7, 5, 0.81)


def test_generalization_loss_by_hand():
    rule = GeneralizationLoss(alpha=5.0)
    r = replay(rule, history(VAL_LOSS))
    # GL(t) = 100 (E/E_opt - 1) with E_opt = 0.49: epoch 7: 4.1 %, epoch 8: 8.2 % > 5 -> stop at 8
    assert r.stop_epoch == 8 and r.kept_epoch == 5
    assert rule.gl == pytest.approx(100 * (0.53 / 0.49 - 1))
    assert GeneralizationLoss.generalization_loss(0.6, 0.5) == pytest.approx(20.0)
    assert replay(GeneralizationLoss(alpha=1.0), history(VAL_LOSS)).stop_epoch == 4  # 0.52/0.5 -> 4 %
    with pytest.raises(ValueError, match="must be > 0"):
        GeneralizationLoss.generalization_loss(0.1, 0.0)


def test_threshold_rule():
    # the literal rule "stop when the validation loss exceeds 0.55" fires at once: epoch 1 is 1.0
    assert replay(ThresholdStopping(0.55), history(VAL_LOSS)).stop_epoch == 1
    assert replay(ThresholdStopping(0.55, min_epochs=3), history(VAL_LOSS)).stop_epoch == 9
    assert replay(ThresholdStopping(0.5, mode="below"), history(VAL_LOSS)).stop_epoch == 5
    r = replay(ThresholdStopping(5.0), history(VAL_LOSS))
    assert not r.fired and r.kept_epoch == 10


def test_rules_reset_between_runs():
    rule = EarlyStopping(patience=2)
    first = replay(rule, history(VAL_LOSS))
    assert replay(rule, history(VAL_LOSS)) == first
    assert isinstance(first, Replay) and "patience=2" in first.rule


@pytest.mark.parametrize("make, match", [
    (lambda: EarlyStopping(patience=-1), r"patience must be in \[1, inf\], got -1"),
    (lambda: EarlyStopping(patience=0), "patience"),
    (lambda: EarlyStopping(mode="up"), "mode must be one of 'min', 'max'"),
    (lambda: EarlyStopping(min_delta=-0.1), "min_delta"),
    (lambda: GeneralizationLoss(alpha=0), "alpha"),
    (lambda: ThresholdStopping(0.5, mode="over"), "mode"),
    (lambda: ThresholdStopping(0.5, min_epochs=0), "min_epochs"),
    (lambda: replay(EarlyStopping(), tl.History()), "history is empty"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_type_errors_and_missing_monitor():
    with pytest.raises(TypeError, match="patience must be an int"):
        EarlyStopping(patience=2.5)
    with pytest.raises(TypeError, match="restore_best_weights must be bool"):
        EarlyStopping(restore_best_weights="yes")
    with pytest.raises(TypeError, match="rule must be a stopping callback"):
        replay(object(), history(VAL_LOSS))
    with pytest.raises(KeyError, match="monitor 'val_loss' is not in the epoch logs"):
        EarlyStopping().on_epoch_end(1, {"train_loss": 1.0}, None)


def test_in_fit_stops_early_and_restores_the_best_weights(small_splits):
    train_dl, val_dl, test_dl = tl.make_loaders(small_splits, 100, seed=0)
    tl.seed_everything(0)
    model = tl.make_cnn(4)
    # monitor the training loss with mode "max": every later epoch is "worse", so it stops after 1 + patience
    rule = EarlyStopping(monitor="train_loss", mode="max", patience=2)
    record = EvaluateOn(test_dl, prefix="test")
    history = tl.fit(model, train_dl, val_dl, epochs=6, lr=0.01, callbacks=[record, rule], progress=False)
    assert len(history) == 3 and history.stopped_early and rule.stopped_epoch == 3 and rule.best_epoch == 1
    assert "test_accuracy" in history.last
    # the model now has the weights of epoch 1: its test accuracy is the one logged at epoch 1
    assert tl.evaluate(model, test_dl)["accuracy"] == pytest.approx(history["test_accuracy"][0])
    assert tl.evaluate(model, test_dl)["accuracy"] != pytest.approx(history["test_accuracy"][-1])


def test_restore_can_be_switched_off(small_splits):
    train_dl, val_dl, _ = tl.make_loaders(small_splits, 100, seed=0)
    tl.seed_everything(0)
    model = tl.make_cnn(4)
    rule = EarlyStopping(monitor="train_loss", mode="max", patience=1, restore_best_weights=False)
    tl.fit(model, train_dl, val_dl, epochs=4, lr=0.01, callbacks=[rule], progress=False)
    last = {k: v.clone() for k, v in model.state_dict().items()}
    rule.on_train_end(model, None)
    assert all(torch.equal(last[k], v) for k, v in model.state_dict().items())
    assert rule.best_state is None


def test_compare_rules_table():
    runs = [tl.History([{"epoch": i + 1, "val_loss": v, "test_accuracy": 0.5 + i / 100}
                        for i, v in enumerate(VAL_LOSS)])]
    df = compare_rules({"patience 3": EarlyStopping(patience=3), "GL 5": GeneralizationLoss(5.0)}, runs * 2)
    assert len(df) == 4 and set(df["rule"]) == {"patience 3", "GL 5"}
    row = df.iloc[0]
    assert (row.stop_epoch, row.kept_epoch, row.epochs_saved) == (8, 5, 2)
    assert row.test_accuracy_kept == pytest.approx(0.54) and row.test_accuracy_last == pytest.approx(0.59)
    with pytest.raises(ValueError, match="non-empty"):
        compare_rules({}, runs)
    with pytest.raises(KeyError, match="no log entry 'test_f1'"):
        compare_rules({"p": EarlyStopping()}, runs, metric="test_f1")


def test_plot_overfitting(tmp_path):
    h = tl.History([{"epoch": i + 1, "val_loss": v, "train_loss": v / (i + 1), "train_accuracy": 0.9,
                     "val_accuracy": 0.8 + i / 100} for i, v in enumerate(VAL_LOSS)])
    fig = plot_overfitting(h, stops={"patience 3": 8}, path=tmp_path / "o.png")
    assert (tmp_path / "o.png").stat().st_size > 0
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 3 and len(fig.axes[1].lines) == 3
    with pytest.raises(ValueError, match="empty"):
        plot_overfitting(tl.History())
