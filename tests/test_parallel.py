"""map_in_processes: the same results, in order, as a plain loop; bad input refused."""
import pytest
import torch

from tradeoff_lib.parallel import can_fork, map_in_processes


def _seeded_draw(seed):
    torch.manual_seed(seed)
    return float(torch.randn(()))


def test_same_results_in_order_as_a_loop():
    items = [3, 1, 4, 1, 5]
    loop = [_seeded_draw(s) for s in items]
    assert map_in_processes(_seeded_draw, items, workers=1) == loop
    assert map_in_processes(lambda s: _seeded_draw(s), items, workers=2) == loop   # a lambda is fine (fork)
    assert map_in_processes(_seeded_draw, [], workers=2) == []
    assert isinstance(can_fork(), bool)


def test_bad_input():
    with pytest.raises(ValueError, match="workers"):
        map_in_processes(_seeded_draw, [1], workers=0)
    with pytest.raises(TypeError, match="fn"):
        map_in_processes(3, [1], workers=1)


def test_the_call_counts_as_its_kind_in_the_time_breakdown():
    import time

    from tradeoff_lib import timing

    timing.reset()
    map_in_processes(lambda s: time.sleep(0.05), [1, 2], workers=2, kind="evaluation")
    assert timing.totals()["evaluation"] >= 0.05
    assert "training" not in timing.totals()
    timing.reset()
