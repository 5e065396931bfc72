"""The benchmark script in its quick mode: the report is complete and its verdicts follow the numbers."""
import json

import pytest

from tradeoff_lib import bench


def test_quick_benchmark_writes_a_consistent_report(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    names = [r["technique"] for r in report["rows"]]
    assert set(bench.TARGETS) <= set(names)
    for row in report["rows"]:
        assert row["speedup_b1"] > 0 and (row["size_ratio"] is None or row["size_ratio"] > 0)
        for t in row["targets"]:
            op, _, threshold = t["target"].partition(" ")
            assert t["met"] == bench._met(t["value"], op, eval(threshold))
    by_name = {r["technique"]: r for r in report["rows"]}
    assert by_name["int8 static (ResNet-18)"]["size_ratio"] > 3.5          # int8 weights: ~4x smaller
    assert by_name["channels -50% + fine-tune (CNN)"]["size_ratio"] > 2.5  # half the channels: ~4x fewer weights
    assert abs(by_name["unstructured -50% (CNN)"]["size_ratio"] - 1) < 0.05  # zeros are still stored
    for model in ("CNN", "ResNet-18"):  # other runtimes, timed in the same interleaved run
        assert by_name[f"onnxruntime fp32 ({model})"]["export_time_s"] > 0
        assert by_name[f"torchscript frozen ({model})"]["size_ratio"] > 0.9
        assert by_name[f"onnxruntime int8 ({model})"]["size_ratio"] > 2.5
        path = by_name[f"int8 auto / onnxruntime int8 ({model})"]
        assert path["method"] in ("fx_static", "onnxruntime_int8")
        assert path["auto_over_ort_int8"] == pytest.approx(path["p50_ms"] / path["baseline_p50_ms"])
    assert by_name["int8 auto without torch.ao (ResNet-18)"]["method"] == "onnxruntime_int8"
    assert not any(name.startswith("torch.compile") for name in names)  # --quick skips the compile cost
    assert "targets" in capsys.readouterr().out


def test_met_rules():
    assert bench._met(2.0, ">=", 2.0) and not bench._met(1.0, ">", 1.0)
    assert bench._met(1.1, "<=", 1.1) and not bench._met(1.2, "<=", 1.1)
    assert bench._met(1.0, "between", (0.8, 1.25)) and not bench._met(1.3, "between", (0.8, 1.25))


def test_bad_threads():
    with pytest.raises(SystemExit):
        bench.main(["--threads", "0"])
