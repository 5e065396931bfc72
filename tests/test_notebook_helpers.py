import pytest

import tradeoff_lib as tl


def test_report_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_REPORT_DIR", str(tmp_path / "env"))
    assert tl.report_dir(None) == (tmp_path / "env").resolve()
    assert tl.report_dir(tmp_path / "given") == (tmp_path / "given").resolve()
    assert (tmp_path / "given").is_dir()
    monkeypatch.delenv("TRADEOFF_REPORT_DIR")
    assert tl.report_dir(None).name == "interactive"


def test_check_parameters():
    ok = tl.check_parameters(SEED=1, DATASET="mnist5k", LATENCY_BUDGET_MS=2.5, REALTIME_MODE="hard", OTHER=[1])
    assert ok["OTHER"] == [1]
    with pytest.raises(ValueError, match="bad notebook parameter: LATENCY_BUDGET_MS must be in"):
        tl.check_parameters(LATENCY_BUDGET_MS=-2)
    with pytest.raises(ValueError, match="bad notebook parameter: DATASET must be one of"):
        tl.check_parameters(DATASET="imagenet")
    with pytest.raises(TypeError, match="bad notebook parameter: SEED must be an int"):
        tl.check_parameters(SEED="0")
    with pytest.raises(ValueError, match="ACCURACY_TOLERANCE must be in"):
        tl.check_parameters(ACCURACY_TOLERANCE=1.0)
    with pytest.raises(ValueError, match="REALTIME_MODE"):
        tl.check_parameters(REALTIME_MODE="firm")


def test_show_source_and_environment():
    code = tl.show_source(tl.accuracy)
    assert "def accuracy" in getattr(code, "data", code)
    with pytest.raises(TypeError, match="obj must be a function"):
        tl.show_source(3)
    env = tl.environment_info()
    assert {"torch", "threads", "cpu", "python"} <= set(env)
