import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as lrs

import tradeoff_lib as tl
from tradeoff_lib.techniques import schedules as S


def torch_curve(make, steps, lr=1.0):
    """Learning rates of a torch scheduler built directly (the oracle)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched, out = make(opt), []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0, 3.0])
def test_polynomial_matches_torch_polynomiallr_and_the_formula(power):
    T, lr = 12, 0.3
    ours = S.lr_curve(S.polynomial_decay(T, power), T + 1, lr=lr)
    oracle = torch_curve(lambda o: lrs.PolynomialLR(o, total_iters=T, power=power), T + 1, lr=lr)
    np.testing.assert_allclose(ours, oracle, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours, [lr * (1 - t / T) ** power for t in range(T + 1)], rtol=1e-12)
    assert ours[-1] == 0.0


def test_polynomial_hand_computed_value():
    # alpha_t = 0.1 * (1 - 3/4)^2 = 0.1 * 0.0625 = 0.00625
    assert S.polynomial_factor(3, 4, 2.0) == pytest.approx(0.0625)
    assert S.lr_curve(S.polynomial_decay(4, 2.0), 4, lr=0.1)[3] == pytest.approx(0.00625)
    assert S.polynomial_factor(0, 4, 0.5) == 1.0 and S.polynomial_factor(4, 4, 0.5) == 0.0


def test_polynomial_refuses_to_decay_past_the_last_step():
    with pytest.raises(ValueError, match=r"t must be in \[0, 4\].*past its last step"):
        S.polynomial_factor(5, 4, 1.0)
    with pytest.raises(ValueError, match="past its last step"):
        S.lr_curve(S.polynomial_decay(4), 6)  # the 5th scheduler step asks for t = 5
    S.lr_curve(S.polynomial_decay(4), 5)       # steps t = 0..4 are fine


@pytest.mark.parametrize("power", [0.0, -1.0])
def test_polynomial_power_must_be_positive(power):
    with pytest.raises(ValueError, match=r"power must be in \(0, inf\]"):
        S.polynomial_decay(10, power)
    with pytest.raises(ValueError, match="power"):
        S.polynomial_factor(1, 10, power)


def test_step_and_exponential_match_torch_and_formulas():
    lr = 0.5
    np.testing.assert_allclose(S.lr_curve(S.step_decay(3, 0.1), 10, lr), [lr * 0.1 ** (t // 3) for t in range(10)])
    np.testing.assert_allclose(S.lr_curve(S.step_decay(3, 0.1), 10, lr),
                               torch_curve(lambda o: lrs.StepLR(o, 3, 0.1), 10, lr))
    np.testing.assert_allclose(S.lr_curve(S.exponential_decay(0.9), 10, lr), [lr * 0.9 ** t for t in range(10)])


def test_cosine_formula_and_min_factor():
    T, lr = 10, 2.0
    curve = S.lr_curve(S.cosine_decay(T, min_factor=0.1), T + 1, lr)
    lo = 0.1 * lr
    np.testing.assert_allclose(curve, [lo + (lr - lo) * (1 + math.cos(math.pi * t / T)) / 2 for t in range(T + 1)],
                               rtol=1e-9)


def test_warmup_cosine_hand_computed():
    curve = S.lr_curve(S.warmup_cosine(10, 4, start_factor=0.1), 11)
    # warm-up: 0.1 + 0.9 * t / 4 for t < 4, then cosine over 6 steps from 1 to 0
    expected = [0.1 + 0.9 * t / 4 for t in range(4)] + [(1 + math.cos(math.pi * k / 6)) / 2 for k in range(7)]
    np.testing.assert_allclose(curve, expected, atol=1e-9)
    assert curve.argmax() == 4


def test_one_cycle_uses_the_optimizer_lr_as_peak_and_matches_torch():
    T = 20
    ours = S.lr_curve(S.one_cycle(T), T, lr=0.4)
    oracle = torch_curve(lambda o: lrs.OneCycleLR(o, max_lr=0.4, total_steps=T, pct_start=0.3), T, 0.4)
    np.testing.assert_allclose(ours, oracle)
    assert ours.max() == pytest.approx(0.4) and ours[0] == pytest.approx(0.4 / 25)
    with pytest.raises(ValueError, match="total steps"):
        S.lr_curve(S.one_cycle(T), T + 2)


def test_standard_schedules_all_peak_at_alpha0_and_decay():
    T = 30
    scheds = S.standard_schedules(T)
    assert list(scheds) == ["constant", "step", "exponential", "cosine", "warmup+cosine", "one-cycle", "polynomial"]
    for name, sched in scheds.items():
        curve = S.lr_curve(sched, T, lr=1.0)
        assert curve.max() == pytest.approx(1.0), name
        if name != "constant":
            assert curve[-1] < 0.2, name
    assert S.lr_curve(scheds["exponential"], T + 1)[-1] == pytest.approx(0.01)
    assert S.lr_curve(scheds["step"], T)[-1] == pytest.approx(0.01)


def test_schedule_factory_works_in_fit(small_splits):
    tl.seed_everything(0)
    model = tl.make_cnn(4)
    train_dl, val_dl, _ = tl.make_loaders(small_splits, 100, seed=0)
    steps = 2 * len(train_dl)
    history = tl.fit(model, train_dl, val_dl, epochs=2, lr=0.01, scheduler=S.cosine_decay(steps),
                     scheduler_interval="step", progress=False)
    assert history["lr"][0] == pytest.approx(0.01)
    assert history["lr"][1] == pytest.approx(0.01 * (1 + math.cos(math.pi * len(train_dl) / steps)) / 2)
    # stepping a polynomial schedule per step for more epochs than planned fails clearly
    with pytest.raises(ValueError, match="past its last step"):
        tl.fit(tl.make_cnn(4), train_dl, epochs=2, scheduler=S.polynomial_decay(len(train_dl)),
               scheduler_interval="step", progress=False)


def test_schedule_wraps_any_factory():
    halve = S.Schedule("halve", lambda opt: lrs.LambdaLR(opt, lambda t: 0.5 ** t))
    assert isinstance(S.cosine_decay(5), S.Schedule) and repr(halve) == "Schedule(halve)"
    np.testing.assert_allclose(S.lr_curve(halve, 4), [1, 0.5, 0.25, 0.125])


def test_schedule_checks_its_optimizer_and_has_a_name():
    with pytest.raises(TypeError, match="optimizer must be Optimizer"):
        S.cosine_decay(5)("not an optimizer")
    assert "cosine" in repr(S.cosine_decay(5))


@pytest.mark.parametrize("call, match", [
    (lambda: S.step_decay(0), "step_size"),
    (lambda: S.step_decay(3, gamma=1.5), "gamma"),
    (lambda: S.exponential_decay(0.0), "gamma"),
    (lambda: S.cosine_decay(0), "total_steps"),
    (lambda: S.cosine_decay(10, min_factor=2.0), "min_factor"),
    (lambda: S.warmup_cosine(10, 10), "warmup_steps"),
    (lambda: S.warmup_cosine(10, 2, start_factor=0.0), "start_factor"),
    (lambda: S.one_cycle(10, max_lr=-1.0), "max_lr"),
    (lambda: S.one_cycle(10, pct_start=1.0), "pct_start"),
    (lambda: S.polynomial_decay(0), "total_steps"),
    (lambda: S.standard_schedules(2), "total_steps"),
    (lambda: S.lr_curve(S.constant(), 0), "steps"),
    (lambda: S.plot_schedules({}, 10), "empty"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_type_errors():
    with pytest.raises(TypeError, match="step_size must be an int"):
        S.step_decay(2.5)
    with pytest.raises(TypeError, match="schedule must be a callable"):
        S.lr_curve(3, 10)


def test_epochs_to_reach():
    h = tl.History([{"epoch": 1, "val_accuracy": 0.8}, {"epoch": 2, "val_accuracy": 0.95},
                    {"epoch": 3, "val_accuracy": 0.97}])
    assert S.epochs_to_reach(h, 0.95) == 2
    assert S.epochs_to_reach(h, 0.5) == 1
    assert S.epochs_to_reach(h, 0.99) is None
    with pytest.raises(KeyError, match="no log entry"):
        S.epochs_to_reach(h, 0.9, key="test_accuracy")
    with pytest.raises(TypeError, match="target"):
        S.epochs_to_reach(h, "high")


def test_plot_schedules(tmp_path):
    fig = S.plot_schedules(S.standard_schedules(20), 20, steps_per_epoch=5, path=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    assert len(fig.axes[0].lines) == 7
    assert fig.axes[0].get_xlabel() == "epoch"


def test_one_cycle_cycles_adams_beta1_unless_told_not_to():
    T = 40
    cycled = S.beta1_curve(S.one_cycle(T), T)
    assert np.isclose(cycled[0], 0.95) and np.isclose(cycled.min(), 0.85) and cycled[-1] > 0.94
    assert np.argmin(cycled) == np.argmax(S.lr_curve(S.one_cycle(T), T))   # lowest beta1 at the peak rate
    assert np.allclose(S.beta1_curve(S.one_cycle(T, cycle_momentum=False), T), 0.9)
    assert np.allclose(S.beta1_curve(S.standard_schedules(T, cycle_momentum=False)["one-cycle"], T), 0.9)
    assert np.allclose(S.beta1_curve(S.cosine_decay(T), T), 0.9)
    with pytest.raises(TypeError, match="cycle_momentum"):
        S.one_cycle(T, cycle_momentum=1)
    with pytest.raises(TypeError, match="schedule"):
        S.beta1_curve(3, T)
