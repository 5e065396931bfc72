import time

import numpy as np
import pytest
import torch
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib import latency as lat


def test_stats_from_known_samples():
    samples = tuple(float(v) for v in range(1, 101))  # 1..100 ms
    s = tl.LatencyStats(samples)
    assert s.p50_ms == pytest.approx(np.percentile(samples, 50))
    assert s.p99_ms == pytest.approx(np.percentile(samples, 99))
    assert s.max_ms == 100 and s.min_ms == 1 and s.mean_ms == pytest.approx(50.5)
    assert s.std_ms == pytest.approx(np.std(samples))
    assert s.miss_rate(90) == pytest.approx(0.10)
    assert s.summary()["n"] == 100 and "p99" in str(s)
    assert s.throughput_per_s == pytest.approx(1000 / 50.5)


def test_measure_counts_calls_and_restores_state(x1):
    calls = []

    class Counter(nn.Module):
        def forward(self, x):
            calls.append(torch.is_inference_mode_enabled())
            return x

    model = Counter().train()
    threads_before = torch.get_num_threads()
    stats = tl.measure_latency(model, x1, repeats=7, warmup=3, threads=1)
    assert len(calls) == 10 and all(calls)                 # warm-up + timed, all under inference_mode
    assert len(stats.samples_ms) == 7 and stats.threads == 1 and stats.batch_size == 1
    assert model.training and torch.get_num_threads() == threads_before


def test_measure_sees_a_known_delay():
    stats = tl.measure_latency(lambda x: time.sleep(0.002), torch.zeros(4, 3), repeats=5, warmup=1)
    assert stats.min_ms >= 2.0 and stats.batch_size == 4


def test_cuda_path_synchronizes_every_call(monkeypatch):
    """Without a GPU, pretend the input is on CUDA and count the synchronizations."""
    syncs, order = [], []
    monkeypatch.setattr(lat, "_input_device", lambda x: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: (syncs.append(1), order.append("sync")))
    stats = tl.measure_latency(lambda x: order.append("call"), torch.zeros(1), repeats=4, warmup=2)
    assert stats.device == "cuda"
    assert len(syncs) == 1 + 2 * 4                         # after warm-up, then before and after each call
    assert order[-3:] == ["sync", "call", "sync"]


def test_num_threads_context():
    before = torch.get_num_threads()
    with tl.num_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be in"):
        with tl.num_threads(0):
            pass


def test_throughput_is_batch_size_over_the_mean_call_time():
    rate = tl.throughput(lambda x: time.sleep(0.001), torch.zeros(50, 2), repeats=3, warmup=0)
    assert 5_000 < rate < 50_000  # 50 samples per ~1 ms call (a sleep lasts at least its time)
    # the formula itself, without a clock: the same 2 ms per call carries 5x more samples at batch 50
    at = {b: tl.LatencyStats((1.0, 3.0), batch_size=b).throughput_per_s for b in (10, 50)}
    assert at == {10: 5_000.0, 50: 25_000.0}


def test_deadline_verdicts():
    s = tl.LatencyStats(tuple([1.0] * 995 + [5.0] * 5))
    hard = tl.deadline_verdict(s, 2.0, mode="hard")
    soft = tl.deadline_verdict(s, 2.0, mode="soft", tolerance=0.01)
    strict = tl.deadline_verdict(s, 2.0, mode="soft", tolerance=0.001)
    assert not hard.met and hard.misses == 5 and hard.worst_ms == 5.0
    assert soft.met and soft.miss_rate == pytest.approx(0.005)
    assert not strict.met
    assert tl.deadline_verdict(s, 5.0, mode="hard").met
    assert "MISSED" in str(hard) and "MET" in str(soft)


def test_frame_budget():
    assert tl.frame_budget_ms(30) == pytest.approx(33.333, abs=1e-3)
    with pytest.raises(ValueError, match="fps must be in"):
        tl.frame_budget_ms(0)


def test_bad_input(x1):
    with pytest.raises(TypeError, match="model must be an nn.Module or callable"):
        tl.measure_latency(42, x1)
    with pytest.raises(ValueError, match="repeats must be in"):
        tl.measure_latency(nn.Identity(), x1, repeats=0)
    with pytest.raises(ValueError, match="warmup must be in"):
        tl.measure_latency(nn.Identity(), x1, warmup=-1)
    with pytest.raises(TypeError, match="example_input must be"):
        tl.measure_latency(nn.Identity(), "x")
    s = tl.LatencyStats((1.0, 2.0))
    with pytest.raises(ValueError, match="budget_ms must be in"):
        tl.deadline_verdict(s, -1)
    with pytest.raises(ValueError, match="mode must be one of"):
        tl.deadline_verdict(s, 1, mode="firm")
    with pytest.raises(ValueError, match=r"tolerance must be in \[0, 1\)"):
        tl.deadline_verdict(s, 1, tolerance=1)
    with pytest.raises(TypeError, match="stats must be LatencyStats"):
        tl.deadline_verdict([1.0], 1)
    with pytest.raises(ValueError, match="samples_ms is empty"):
        tl.LatencyStats(())
    with pytest.raises(ValueError, match="q must be in"):
        s.percentile(101)


def test_verdict_record():
    v = tl.deadline_verdict(tl.LatencyStats((1.0, 3.0)), 2.0, mode="soft", tolerance=0.5)
    assert isinstance(v, tl.DeadlineVerdict) and v.met and v.miss_rate == 0.5


def test_compare_latency_interleaves_models(x1):
    order = []
    models = {"a": lambda x: order.append("a"), "b": lambda x: order.append("b")}
    out = tl.compare_latency(models, x1, repeats=10, warmup=1, rounds=2, threads=1)
    assert set(out) == {"a", "b"} and all(len(s.samples_ms) == 10 for s in out.values())
    # round 1: a (1 warm-up + 5), b (1 + 5); round 2: a (2 warm-up + 5), b (2 + 5)
    assert order == ["a"] * 6 + ["b"] * 6 + ["a"] * 7 + ["b"] * 7
    slow = tl.compare_latency({"fast": lambda x: None, "slow": lambda x: time.sleep(0.001)}, x1, repeats=6, rounds=3)
    assert slow["slow"].p50_ms > slow["fast"].p50_ms
    with pytest.raises(ValueError, match="models is empty"):
        tl.compare_latency({}, x1)
    with pytest.raises(ValueError, match="repeats must be in"):
        tl.compare_latency(models, x1, repeats=1, rounds=2)


def test_deadline_latency_is_the_statistic_a_budget_must_cover():
    import numpy as np

    samples = tuple(float(v) for v in np.arange(1, 301))              # 1 .. 300 ms
    stats = tl.LatencyStats(samples)
    assert tl.deadline_latency_ms(stats, "hard") == 300.0
    assert tl.deadline_latency_ms(stats, "soft", 0.01) == 297.0        # 3 of 300 calls (1 %) slower
    assert tl.deadline_latency_ms(stats, "soft", 0.10) == 270.0
    assert tl.deadline_latency_ms(stats, "soft", 0.0) == 300.0
    for tol in (0.0, 0.01, 0.05, 0.2, 0.29, 0.07):
        budget = tl.deadline_latency_ms(stats, "soft", tol)
        assert tl.deadline_verdict(stats, budget, mode="soft", tolerance=tol).met
        assert not tl.deadline_verdict(stats, budget - 0.5, mode="soft", tolerance=tol).met
    with pytest.raises(ValueError, match="tolerance must be in"):
        tl.deadline_latency_ms(stats, "soft", 1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        tl.deadline_latency_ms(stats, "firm")


def test_percentile_ci_matches_scipy_bootstrap():
    import numpy as np
    from scipy import stats as sps

    rng = np.random.default_rng(1)
    samples = rng.lognormal(0.0, 0.4, size=400)
    ci = tl.percentile_ci(tl.LatencyStats(tuple(samples)), 90, n_boot=4000, seed=0)
    ref = sps.bootstrap((samples,), lambda a, axis: np.percentile(a, 90, axis=axis), n_resamples=4000,
                        method="percentile", random_state=0).confidence_interval
    assert ci.low < ci.value < ci.high and ci.value == pytest.approx(np.percentile(samples, 90))
    assert ci.low == pytest.approx(ref.low, rel=0.03) and ci.high == pytest.approx(ref.high, rel=0.03)
    wide = tl.percentile_ci(tl.LatencyStats(tuple(samples[:50])), 90, n_boot=4000)
    assert wide.high - wide.low > ci.high - ci.low, "fewer calls, wider interval"
    with pytest.raises(ValueError, match="n_boot must be in"):
        tl.percentile_ci(tl.LatencyStats((1.0,)), 99, n_boot=1)
def test_default_repeats_fit_the_purpose(x1):
    from tradeoff_lib.latency import REPEATS, default_repeats

    assert default_repeats("decision") == REPEATS["decision"] > default_repeats("explore") == REPEATS["explore"]
    assert len(tl.measure_latency(nn.Identity(), x1, warmup=0, purpose="explore").samples_ms) == REPEATS["explore"]
    stats = tl.compare_latency({"a": nn.Identity()}, x1, warmup=0, purpose="explore")
    assert len(stats["a"].samples_ms) == REPEATS["explore"]
    assert len(tl.measure_latency(nn.Identity(), x1, warmup=0, repeats=7, purpose="explore").samples_ms) == 7
    with pytest.raises(ValueError, match="purpose"):
        tl.measure_latency(nn.Identity(), x1, purpose="plot")
