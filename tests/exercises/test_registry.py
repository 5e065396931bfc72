import numpy as np
import pytest

import tradeoff_lib as tl
from tests.conftest import RESULTS


def test_registry_and_unknown_id():
    ids = tl.list_exercises()
    assert {"00.1", "00.2", "00.3"} <= set(ids)
    with pytest.raises(ValueError, match="exercise_id must be one of"):
        tl.check_exercise("99.9", x=1)


def test_right_and_wrong_answers(capsys):
    budget = 0.4 * 1000 / 90
    assert tl.check_exercise("00.1", budget_ms=budget, chosen=tl.select(RESULTS, budget_ms=budget), results=RESULTS)
    assert "✔ correct" in capsys.readouterr().out
    assert not tl.check_exercise("00.1", budget_ms=1000 / 90)
    assert "Hint" in capsys.readouterr().out
    assert not tl.check_exercise("00.1", budget_ms=budget, chosen=RESULTS[0], results=RESULTS)
    stats = tl.LatencyStats((1.0, 2.0, 3.0, 4.0))
    assert tl.check_exercise("00.2", miss_rate=0.5, stats=stats, budget_ms=2.0)
    assert not tl.check_exercise("00.2", miss_rate=0.75, stats=stats, budget_ms=2.0)
    y_true, y_pred = np.array([0] * 9 + [1]), np.zeros(10, int)
    assert tl.check_exercise("00.3", macro_f1=(18 / 19) / 2, y_true=y_true, y_pred=y_pred)
    assert not tl.check_exercise("00.3", macro_f1=18 / 19, y_true=y_true, y_pred=y_pred)
    assert "majority class" in capsys.readouterr().out


def test_missing_answer_is_a_wrong_answer_not_a_crash(capsys):
    assert not tl.check_exercise("00.2", miss_rate=0.1)
    assert "could not read your answer" in capsys.readouterr().out
