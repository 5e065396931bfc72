
import pytest
import torch

import tradeoff_lib as tl


def R(name, f1, p50, p99=None, mx=None, acc=None, tech="t", nb="nb", seed=0, size=1000, vf1=None, vacc=None):
    """A Result by hand; validation scores equal the test ones unless ``vf1``/``vacc`` are given."""
    acc = f1 if acc is None else acc
    return tl.Result(name=name, technique=tech, notebook=nb, val_accuracy=acc if vacc is None else vacc,
                     val_f1=f1 if vf1 is None else vf1, accuracy=acc, f1=f1,
                     f1_low=f1 - 0.01, f1_high=f1 + 0.01, latency_p50_ms=p50,
                     latency_p99_ms=p99 if p99 is not None else p50 * 1.5,
                     latency_max_ms=mx if mx is not None else p50 * 3, size_bytes=size, params=10,
                     nonzero_params=10, flops=None, seed=seed)


RESULTS = [R("a", 0.90, 1.0), R("b", 0.95, 2.0), R("c", 0.93, 3.0), R("d", 0.97, 5.0), R("e", 0.97, 6.0),
           R("f", 0.90, 1.0)]


def test_pareto_front_by_hand():
    front = tl.pareto_front(RESULTS)
    assert [r.name for r in front] == ["a", "b", "d"]  # c is beaten by b, e by d, f ties a
    assert [r.name for r in tl.pareto_front(RESULTS, y="accuracy")] == ["a", "b", "d"]


def test_select_under_budget_and_floor():
    assert tl.select(RESULTS, budget_ms=3.0, latency="latency_p50_ms").name == "b"
    assert tl.select(RESULTS, budget_ms=3.0).name == "b"              # p99 = 1.5 * p50: b=3.0 fits
    assert tl.select(RESULTS, budget_ms=6.0, latency="latency_max_ms").name == "b"
    assert tl.select(RESULTS).name == "d"                            # tie d/e goes to the faster
    assert tl.select(RESULTS, budget_ms=0.5) is None
    assert tl.select(RESULTS, budget_ms=1.6, min_accuracy=0.95) is None


def test_fastest_within_tolerance():
    ref = RESULTS[3]
    assert tl.fastest_within(RESULTS, ref, tolerance=0.02).name == "b"
    assert tl.fastest_within(RESULTS, ref, tolerance=0.0).name == "d"
    assert tl.fastest_within(RESULTS, ref, tolerance=0.1).name in ("a", "f")


def test_ratio():
    r = tl.ratio(R("big", 0.97, 4.0, size=8000, acc=0.97), R("small", 0.96, 1.0, size=1000, acc=0.965))
    assert r["speedup_p50"] == 4 and r["size_ratio"] == 8
    assert r["accuracy_change_pts"] == pytest.approx(-0.5)


def test_ledger_round_trip_replace_and_atomic(tmp_path):
    ledger = tl.Ledger(tmp_path)
    assert ledger.read() == []
    ledger.append(RESULTS[:2])
    ledger.append(R("a", 0.99, 1.0))                                  # same key: replaced, not duplicated
    ledger.append(R("a", 0.80, 1.0, nb="other"))                      # another notebook: kept
    rows = ledger.read()
    assert [(r.notebook, r.name, r.f1) for r in rows] == [("nb", "b", 0.95), ("nb", "a", 0.99), ("other", "a", 0.80)]
    assert rows[0] == RESULTS[1]                                       # exact round trip, None included
    assert not list(tmp_path.glob(".*tmp"))                            # no temporary files left


def test_ledger_survives_a_failed_write(tmp_path, monkeypatch):
    ledger = tl.Ledger(tmp_path)
    ledger.append(RESULTS[:1])
    before = ledger.path.read_bytes()
    import tradeoff_lib.training as training

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(training.os, "replace", boom)
    with pytest.raises(OSError):
        ledger.append(RESULTS[1:])
    assert ledger.path.read_bytes() == before and not list(tmp_path.glob(".ledger*"))


def test_measure_builds_a_result(trained_cnn, small_splits):
    r = tl.measure(trained_cnn, small_splits, name="cnn8", technique="width", notebook="test", repeats=20)
    assert 0.5 < r.accuracy <= 1 and r.f1_low <= r.f1 <= r.f1_high
    val = tl.evaluate(trained_cnn, torch.utils.data.DataLoader(small_splits.val, batch_size=100))
    assert r.val_accuracy == pytest.approx(val["accuracy"]) and 0 < r.val_f1 <= 1
    assert 0 < r.latency_p50_ms <= r.latency_p99_ms <= r.latency_max_ms
    assert r.params == tl.count_params(trained_cnn) and r.flops == tl.count_flops(trained_cnn, small_splits.example_input())
    assert r.size_bytes == tl.size_bytes(trained_cnn) and r.threads == 1
    table = tl.results_table([r])
    assert list(table["name"]) == ["cnn8"] and "f1_95ci" in table


def test_bad_input():
    with pytest.raises(ValueError, match="x must be one of"):
        tl.pareto_front(RESULTS, x="speed")
    with pytest.raises(ValueError, match="budget_ms must be in"):
        tl.select(RESULTS, budget_ms=0)
    with pytest.raises(ValueError, match="min_accuracy must be in"):
        tl.select(RESULTS, min_accuracy=97)
    with pytest.raises(ValueError, match="latency must be one of"):
        tl.select(RESULTS, latency="p99")
    with pytest.raises(ValueError, match="tolerance must be in"):
        tl.fastest_within(RESULTS, RESULTS[0], tolerance=-0.1)
    with pytest.raises(TypeError, match="results must be Result"):
        tl.Ledger("/tmp").append([{"name": "x"}])
    with pytest.raises(TypeError, match="name must be str"):
        tl.measure(tl.make_cnn(4), None, name=1, technique="t", notebook="n")


def test_budget_sweep_by_hand():
    sweep = tl.budget_sweep(RESULTS, [1.0, 2.0, 3.0, 10.0], latency="latency_p50_ms")
    assert [(b, r and r.name) for b, r in sweep] == [(1.0, "a"), (2.0, "b"), (3.0, "b"), (10.0, "d")]
    assert tl.budget_sweep(RESULTS, [0.5])[0][1] is None
    with pytest.raises(ValueError, match="budgets_ms is empty"):
        tl.budget_sweep(RESULTS, [])


def test_step_table_by_hand():
    steps = [R("base", 0.96, 4.0, size=8000), R("small", 0.94, 1.0, size=1000), R("tuned", 0.97, 1.0, size=1000)]
    table = tl.step_table(steps)
    assert list(table["step"]) == ["base", "small", "tuned"]
    assert list(table["d_f1_pts"].fillna(0)) == [0, -2.0, 3.0]
    assert list(table["speedup_vs_first"]) == [1.0, 4.0, 4.0] and list(table["smaller_vs_first"]) == [1.0, 8.0, 8.0]
    with pytest.raises(ValueError, match="steps is empty"):
        tl.step_table([])
    val_steps = [R("base", 0.96, 4.0, vf1=0.95), R("small", 0.94, 1.0, vf1=0.96)]
    assert list(tl.step_table(val_steps)["d_val_f1_pts"].fillna(0)) == [0, 1.0]


def test_with_latency_takes_another_measurement():
    stats = tl.LatencyStats((1.0, 2.0, 3.0, 10.0), threads=2)
    r = RESULTS[0].with_latency(stats)
    assert (r.latency_p50_ms, r.latency_max_ms, r.threads) == (2.5, 10.0, 2)
    assert r.latency_p99_ms == pytest.approx(stats.p99_ms) and r.val_f1 == RESULTS[0].val_f1
    with pytest.raises(TypeError, match="stats must be LatencyStats"):
        RESULTS[0].with_latency(3.0)


# Validation and test rankings disagree: "t" has the best test scores, "v" the best validation scores.
DISAGREE = [R("v", 0.90, 1.0, vf1=0.97, vacc=0.97), R("t", 0.99, 1.0, vf1=0.93, vacc=0.93),
            R("slow", 0.995, 9.0, vf1=0.99, vacc=0.99)]


def test_selection_uses_validation_scores_not_test_scores():
    assert tl.select(DISAGREE, budget_ms=3.0).name == "v"
    assert tl.select(DISAGREE, budget_ms=3.0, objective="val_accuracy").name == "v"
    assert tl.select(DISAGREE, budget_ms=3.0, min_accuracy=0.95).name == "v"   # the floor is on validation too
    assert tl.select(DISAGREE, budget_ms=3.0, min_accuracy=0.98) is None       # "t" passes only on test
    assert [r.name for r in tl.pareto_front(DISAGREE)] == ["v", "slow"]
    assert [r.name for r in tl.pareto_front(DISAGREE, y="f1")] == ["t", "slow"]  # the test front, for display
    assert tl.fastest_within(DISAGREE, DISAGREE[2], tolerance=0.025).name == "v"
    assert [r.name for _, r in tl.budget_sweep(DISAGREE, [2.0, 20.0], latency="latency_p50_ms")] == ["v", "slow"]


def test_selection_refuses_test_scores():
    for call in (lambda: tl.select(DISAGREE, objective="f1"), lambda: tl.select(DISAGREE, objective="accuracy"),
                 lambda: tl.fastest_within(DISAGREE, DISAGREE[0], metric="accuracy"),
                 lambda: tl.budget_sweep(DISAGREE, [1.0], objective="f1")):
        with pytest.raises(ValueError, match="must be a validation score.*biased upwards"):
            call()


def test_old_ledger_without_validation_columns_names_the_file(tmp_path):
    ledger = tl.Ledger(tmp_path)
    ledger.append(RESULTS[:1])
    lines = ledger.path.read_text().splitlines()
    header = lines[0].split(",")
    drop = [header.index("val_accuracy"), header.index("val_f1")]
    ledger.path.write_text("\n".join(",".join(c for k, c in enumerate(line.split(",")) if k not in drop)
                                     for line in lines) + "\n")
    with pytest.raises(ValueError, match=r"ledger\.csv lacks the column\(s\) val_accuracy, val_f1"):
        ledger.read()


def test_save_headline_records_validation_selection(tmp_path):
    import json

    path = tl.save_headline(tmp_path, baseline=DISAGREE[2], chosen=DISAGREE[0], fastest=None,
                            requirement={"budget_ms": 3.0}, extra={"default_baseline": None})
    data = json.loads(path.read_text())
    assert data["selected_on"] == "validation" and data["default_baseline"] is None
    assert data["chosen"]["name"] == "v" and float(data["chosen"]["val_f1"]) == 0.97
    assert data["chosen"]["speedup_p50"] == pytest.approx(9.0)
