import torch

import tradeoff_lib as tl
from tests.conftest import RESULTS
from tradeoff_lib.techniques import distillation as kd

ZS = torch.tensor([[1.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
ZT = torch.tensor([[2.0, 1.0, -3.0], [0.0, 3.0, 1.0]])
Y = torch.tensor([0, 1])


def test_08_1_loss_by_hand(capsys):
    right = kd.distillation_loss(ZS, ZT, Y, temperature=3.0, alpha=0.7)
    ctx = dict(student_logits=ZS, teacher_logits=ZT, y=Y, temperature=3.0, alpha=0.7)
    assert tl.check_exercise("08.1", loss=right, **ctx)
    assert tl.check_exercise("08.1", loss=float(right), **ctx)
    pt = torch.softmax(ZT / 3, 1)
    kl = float((pt * (pt / torch.softmax(ZS / 3, 1)).log()).sum(1).mean())
    no_t2 = float(right) - 0.7 * 8 * kl
    assert not tl.check_exercise("08.1", loss=no_t2, **ctx)
    assert "T^2" in capsys.readouterr().out
    assert not tl.check_exercise("08.1", loss=float(right) + 0.1, **ctx)
    assert "softmax" in capsys.readouterr().out
    assert not tl.check_exercise("08.1", loss="big", **ctx)


def test_08_2_ship_within_budget(capsys):
    teacher = max(RESULTS, key=lambda r: r.latency_p50_ms)
    budget = sorted(r.latency_p99_ms for r in RESULTS)[1] + 1e-9
    chosen = tl.select(RESULTS, budget_ms=budget)
    speedup = teacher.latency_p50_ms / chosen.latency_p50_ms
    ctx = dict(results=RESULTS, teacher=teacher, budget_ms=budget)
    assert tl.check_exercise("08.2", chosen=chosen, speedup=speedup, **ctx)
    wrong = next(r for r in RESULTS if r is not chosen)
    assert not tl.check_exercise("08.2", chosen=wrong, speedup=speedup, **ctx)
    assert not tl.check_exercise("08.2", chosen=chosen, speedup=1 / speedup, **ctx)
    tiny = min(r.latency_p99_ms for r in RESULTS) / 2
    assert tl.check_exercise("08.2", chosen=None, speedup=None, results=RESULTS, teacher=teacher, budget_ms=tiny)
