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


def row(name, p50, *, meets=True, exact=False):
    return {"name": name, "status": "measured", "p50_ms": p50, "meets_deadline": meets, "exact": exact}


def test_exercise_10_3():
    rows = [row("fp32 eager", 2.0, meets=False, exact=True), row("onnxruntime", 0.9, exact=True), row("int8", 0.5)]
    summary = {"model": "torchvision:mobilenet_v3_small", "candidates": rows,
               "requirement": {"accuracy_tolerance": 0.01}}
    assert tl.check_exercise("10.3", chosen="onnxruntime", summary=summary)
    assert not tl.check_exercise("10.3", chosen="int8", summary=summary)               # lossy without data
    assert not tl.check_exercise("10.3", chosen="fp32 eager", summary=summary)         # misses the deadline
    course = {**summary, "model": "tradeoff_lib.models:make_cnn"}
    assert not tl.check_exercise("10.3", chosen="onnxruntime", summary=course)
    assert tl.check_exercise("10.3", chosen={"name": "onnxruntime"}, rows=rows)


# --- the command -------------------------------------------------------------------------------------------------
