import tradeoff_lib as tl
from tests.conftest import RESULTS, R


def test_hard_budget_choice():
    # p99 = 1.5 * p50, max = 3 * p50: for a 3.0 ms budget, soft picks b (p99 3.0), hard picks a (max 3.0)
    hard = tl.select(RESULTS, budget_ms=3.0, latency="latency_max_ms")
    soft = tl.select(RESULTS, budget_ms=3.0, latency="latency_p99_ms")
    assert hard.name == "a" and soft.name == "b"
    assert tl.check_exercise("10.1", chosen=hard, results=RESULTS, budget_ms=3.0)
    assert not tl.check_exercise("10.1", chosen=soft, results=RESULTS, budget_ms=3.0)
    assert tl.check_exercise("10.1", chosen=None, results=RESULTS, budget_ms=0.1)


def test_ratios_by_hand(capsys):
    base, small = R("base", 0.97, 4.0, size=8000), R("small", 0.96, 1.0, size=1000)
    assert tl.check_exercise("10.2", speedup=4.0, size_ratio=8.0, baseline=base, chosen=small)
    assert not tl.check_exercise("10.2", speedup=0.25, size_ratio=8.0, baseline=base, chosen=small)
    assert not tl.check_exercise("10.2", speedup=4.0, size_ratio=0.125, baseline=base, chosen=small)
    assert not tl.check_exercise("10.2", speedup=4.0, size_ratio=8.0, baseline="base", chosen=small)
    assert "size ratio" in capsys.readouterr().out
