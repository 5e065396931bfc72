import math

import tradeoff_lib as tl
from tradeoff_lib.techniques import multitask as mt


def test_07_1_uncertainty_loss(capsys):
    losses, s = {"digit": 0.8, "rotation": 0.2}, {"digit": 0.5, "rotation": -1.0}
    right = math.exp(-0.5) * 0.8 + 0.25 + math.exp(1.0) * 0.2 - 0.5
    assert tl.check_exercise("07.1", total=right, task_loss=losses, log_var=s)
    assert not tl.check_exercise("07.1", total=right - 0.25 + 0.5, task_loss=losses, log_var=s)
    assert "s_t / 2" in capsys.readouterr().out
    assert not tl.check_exercise("07.1", total=math.exp(-0.5) * 0.8 + math.exp(1.0) * 0.2, task_loss=losses, log_var=s)
    assert "regularizer" in capsys.readouterr().out
    assert not tl.check_exercise("07.1", total=math.exp(0.5) * 0.8 + 0.25 + math.exp(-1.0) * 0.2 - 0.5,
                                 task_loss=losses, log_var=s)
    assert "minus sign" in capsys.readouterr().out


def test_07_2_parameters_saved(capsys):
    shared = mt.make_multitask_cnn(4)
    separate = mt.SeparateModels({"d": mt.make_multitask_cnn(4, tasks={"digit": 10}),
                                  "r": mt.make_multitask_cnn(4, tasks={"rotation": 4})})
    ratio = tl.count_params(shared) / tl.count_params(separate)
    assert tl.check_exercise("07.2", saved=1 - ratio, shared=shared, separate=separate)
    assert 0.4 < 1 - ratio < 0.5
    assert not tl.check_exercise("07.2", saved=ratio, shared=shared, separate=separate)
    assert "keeps" in capsys.readouterr().out
    assert not tl.check_exercise("07.2", saved=0.5, shared=shared, separate=separate)
