import torch

import tradeoff_lib as tl


def test_04_1_polynomial_by_hand(capsys):
    ctx = dict(lr0=0.01, t=30, total_steps=120, power=2.0)
    assert tl.check_exercise("04.1", lr_t=0.01 * (1 - 30 / 120) ** 2, **ctx)
    assert not tl.check_exercise("04.1", lr_t=0.01 * (1 - 30 / 120), **ctx)
    assert "linear decay" in capsys.readouterr().out
    assert not tl.check_exercise("04.1", lr_t=0.01 * (30 / 120) ** 2, **ctx)
    assert not tl.check_exercise("04.1", lr_t=0.5, **ctx)
    assert "Hint" in capsys.readouterr().out


def test_04_2_step_schedule_by_hand(capsys):
    good = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 ** (t // 3))  # noqa: E731
    assert tl.check_exercise("04.2", my_schedule=good)
    assert tl.check_exercise("04.2", my_schedule=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 3, 0.5))
    off_by_one = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 ** ((t + 1) // 3))  # noqa: E731
    assert not tl.check_exercise("04.2", my_schedule=off_by_one)
    assert "gamma ** (t // step_size)" in capsys.readouterr().out
    assert not tl.check_exercise("04.2", my_schedule=lambda opt: 1 / 0)
    assert "failed" in capsys.readouterr().out
