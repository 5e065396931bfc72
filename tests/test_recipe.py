import pytest

import tradeoff_lib as tl


def test_recipe_ladder_and_description():
    r0 = tl.Recipe(width=4, epochs=2)
    r1 = r0.replace(lr=0.01, schedule="one-cycle", augmentation="light", early_stopping=1, temperature=2.0)
    assert r0.schedule == "constant" and r1.width == 4
    assert r1.describe() == "cnn4 one-cycle lr=0.01 es1 light KD(T=2,a=0.5) 2ep"


def test_train_recipe_uses_schedule_and_early_stopping(small_splits):
    recipe = tl.Recipe(width=4, epochs=3, lr=0.01, schedule="one-cycle")
    model, history = tl.train_recipe(recipe, small_splits, seed=0)
    lrs = history["lr"]
    assert lrs[0] < lrs[1] and lrs[-1] < lrs[1]          # one-cycle: up, then down
    again, history2 = tl.train_recipe(recipe, small_splits, seed=0)
    assert history.last["val_accuracy"] == history2.last["val_accuracy"]  # seeded
    assert not model.training and model.config["width"] == 4


def test_train_recipe_distills_from_a_separate_teacher(small_splits, trained_cnn):
    recipe = tl.Recipe(width=4, epochs=1, temperature=1.0, alpha=0.5, augmentation="light")
    model, history = tl.train_recipe(recipe, small_splits, teacher=trained_cnn, seed=0)
    assert len(history) == 1 and model is not trained_cnn
    with pytest.raises(ValueError, match="teacher and recipe.temperature go together"):
        tl.train_recipe(recipe, small_splits, seed=0)
    with pytest.raises(ValueError, match="teacher and recipe.temperature go together"):
        tl.train_recipe(tl.Recipe(width=4, epochs=1), small_splits, teacher=trained_cnn)


@pytest.mark.parametrize("kwargs, match", [
    ({"schedule": "cyclic"}, "schedule must be one of"), ({"augmentation": "heavy"}, "augmentation must be one of"),
    ({"early_stopping": 0}, "early_stopping must be in"), ({"temperature": 0.0}, "temperature must be in"),
    ({"alpha": 1.5}, "alpha must be in"), ({"width": 0}, "width must be in"),
])
def test_bad_recipe_fields(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tl.Recipe(**kwargs)


def test_bad_recipes():
    with pytest.raises(TypeError, match="recipe must be Recipe"):
        tl.train_recipe({"width": 4}, None)
    with pytest.raises(TypeError, match="splits must be Splits"):
        tl.train_recipe(tl.Recipe(), None)
