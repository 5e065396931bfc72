import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib import ladder


def test_changed_knobs_groups_distillation_fields():
    r = tl.Recipe(width=4, epochs=2)
    assert ladder.changed_knobs(r, r) == []
    assert ladder.changed_knobs(r, r.replace(lr=0.01)) == ["learning rate"]
    assert ladder.changed_knobs(r, r.replace(temperature=2.0, alpha=0.7)) == ["distillation"]
    assert ladder.changed_knobs(r, r.replace(lr=0.01, schedule="one-cycle")) == ["learning rate", "schedule"]
    with pytest.raises(TypeError, match="after must be Recipe"):
        ladder.changed_knobs(r, {"lr": 0.01})


def test_validation_scores_match_evaluate(small_splits, trained_cnn):
    acc, f1 = ladder.validation_scores(trained_cnn, small_splits)
    y_true, y_pred = tl.predict(trained_cnn, torch.utils.data.DataLoader(small_splits.val, batch_size=64))
    assert acc == pytest.approx(tl.evaluate(trained_cnn, torch.utils.data.DataLoader(small_splits.val))["accuracy"])
    assert f1 == pytest.approx(tl.f1_score(y_true, y_pred))


def test_climb_keeps_only_steps_that_pay_on_validation(small_splits, tmp_path):
    start = tl.Recipe(width=4, epochs=1, lr=1e-3)
    # a useful step (10x learning rate for a 1-epoch run) and a harmful one (the "harmful" augmentation preset)
    rungs = ladder.climb(start, [("higher lr", {"lr": 1e-2}), ("harmful aug", {"augmentation": "harmful"})],
                         small_splits, seed=0)
    assert [r.knob for r in rungs] == ["start", "learning rate", "augmentation"]
    start_f1, lr_rung, aug_rung = rungs[0].val_f1, rungs[1], rungs[2]
    assert lr_rung.kept == (lr_rung.val_f1 > start_f1)
    best_before_aug = max(start_f1, lr_rung.val_f1)
    assert aug_rung.kept == (aug_rung.val_f1 > best_before_aug)
    base_of_aug = lr_rung.recipe if lr_rung.kept else start
    assert aug_rung.recipe == base_of_aug.replace(augmentation="harmful"), "each step builds on the last kept recipe"
    assert all(not r.model.training for r in rungs)
    table = ladder.rung_table(rungs)
    assert list(table["knob"]) == ["start", "learning rate", "augmentation"] and list(table["kept"])[0]
    assert table["gain_pts"][1] == pytest.approx(round(100 * (lr_rung.val_f1 - start_f1), 2))
    assert table["gain_pts"][2] == pytest.approx(round(100 * (aug_rung.val_f1 - best_before_aug), 2))
    with pytest.raises(TypeError, match="rungs must be Rung"):
        ladder.rung_table(["x"])
    more = ladder.climb(rungs[1], [("early stopping", {"early_stopping": 1})], small_splits, seed=0)
    again = ladder.climb(start, [("higher lr", {"lr": 1e-2})], small_splits, seed=0, cache_dir=tmp_path)
    assert len(list((tmp_path / "checkpoints").glob("recipe-*.pt"))) == 2, "every rung is cached"
    cached = ladder.climb(start, [("higher lr", {"lr": 1e-2})], small_splits, seed=0, cache_dir=tmp_path)
    assert [r.val_f1 for r in cached] == [r.val_f1 for r in again] == [r.val_f1 for r in rungs[:2]]
    assert more[0] is rungs[1], "a Rung given as the start is not trained again"
    assert more[1].recipe == rungs[1].recipe.replace(early_stopping=1)


def test_climb_rejects_steps_that_change_two_knobs_or_nothing(small_splits):
    start = tl.Recipe(width=4, epochs=1)
    with pytest.raises(ValueError, match="step 'both' must change exactly one knob, got 2"):
        ladder.climb(start, [("both", {"lr": 0.01, "schedule": "one-cycle"})], small_splits)
    with pytest.raises(ValueError, match="step 'none' must change exactly one knob, got 0"):
        ladder.climb(start, [("none", {"lr": start.lr})], small_splits)
    with pytest.raises(TypeError, match="steps must hold"):
        ladder.climb(start, [{"lr": 0.01}], small_splits)
    with pytest.raises(ValueError, match="min_gain must be in"):
        ladder.climb(start, [], small_splits, min_gain=-1.0)
