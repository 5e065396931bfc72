"""Real int8 back ends: detection, fallback when the deprecated API is missing, int8 storage, warnings."""
import warnings

import pytest
import torch
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib.techniques import quant_measure as M
from tradeoff_lib.techniques import quantization as Q


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return tl.make_cnn(16).eval()


@pytest.fixture(scope="module")
def calib():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 1, 28, 28, generator=g), torch.zeros(16)) for _ in range(3)]


def _hide(monkeypatch, *loaders):
    def missing():
        raise ImportError("removed in this torch")
    for name in loaders:
        monkeypatch.setattr(Q, name, missing)


def test_available_methods_lists_every_method():
    found = Q.available_methods()
    assert list(found) == list(Q.METHODS) and found["fake_int8"] is True
    assert Q.quantized_engine() in Q.ENGINES + (None,)


def test_static_int8_stores_int8_and_keeps_outputs(cnn, calib):
    before = {k: v.clone() for k, v in cnn.state_dict().items()}
    q = Q.quantize_static(cnn, calib, num_batches=2)
    dtypes = M.weight_dtypes(q)
    assert set(dtypes) == {"features.0", "features.4", "classifier.1", "classifier.3"}
    assert set(dtypes.values()) == {torch.qint8}
    assert tl.size_bytes(cnn) / tl.size_bytes(q) > 3.5
    x = calib[0][0]
    with torch.inference_mode():
        ref, out = cnn(x), q(x)
    assert float((out - ref).norm() / ref.norm()) < 0.1
    assert all(torch.equal(before[k], v) for k, v in cnn.state_dict().items()), "quantize_static changed its input"


def test_calibrate_counts_batches_and_rejects_empty_loader(cnn):
    model = tl.clone_model(cnn)
    assert Q.calibrate(model, [torch.zeros(4, 1, 28, 28)] * 5, num_batches=2) == 8
    assert Q.calibrate(model, [(torch.zeros(3, 1, 28, 28), None)], num_batches=9) == 3
    with pytest.raises(ValueError, match="no batches"):
        Q.calibrate(model, [])
    with pytest.raises(ValueError, match="no batches"):
        Q.quantize_static(cnn, [])
    q = Q.quantize_static(cnn, (torch.randn(4, 1, 28, 28) for _ in range(1)), num_batches=1)  # a generator
    assert M.weight_dtypes(q)["features.0"] == torch.qint8
    with pytest.raises(ValueError, match="num_batches must be in"):
        Q.calibrate(model, [torch.zeros(1, 1, 28, 28)], num_batches=0)


def test_auto_measures_the_static_paths_and_uses_dynamic_without_calibration(cnn, calib):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Q.Int8MethodWarning)
        q = Q.quantize_int8(cnn, calib, num_batches=1, measure_repeats=3)
    record = tl.applied(q)[-1]
    assert record["technique"] == "int8" and not isinstance(q, tuple)
    assert set(record["timings_ms"]) == {"fx_static", "onnxruntime_int8"}  # both built and timed side by side
    assert record["method"] == min(record["timings_ms"], key=record["timings_ms"].get)  # the faster one is kept
    with pytest.warns(Q.Int8MethodWarning, match="used eager_dynamic"):
        q = Q.quantize_int8(cnn)
    assert tl.applied(q)[-1]["method"] == "eager_dynamic"
    assert M.weight_dtypes(q)["classifier.1"] == torch.qint8 and M.weight_dtypes(q)["features.0"] == torch.float32


def test_explicit_methods_record_what_they_did(cnn, calib):
    q = Q.quantize_int8(cnn, calib, method="fx_static", num_batches=1)
    assert tl.applied(q)[-1]["method"] == "fx_static" and M.weight_dtypes(q)["features.0"] == torch.qint8
    q = Q.quantize_int8(cnn, (b for b in calib), method="onnxruntime_int8", num_batches=2)  # a generator
    assert tl.applied(q)[-1]["method"] == "onnxruntime_int8" and tl.size_bytes(cnn) / tl.size_bytes(q) > 2.5
    x = calib[0][0]
    with torch.inference_mode():
        ref, out = cnn(x), q(x)
    assert float((out - ref).norm() / ref.norm()) < 0.1
    assert tl.applied(Q.quantize_static(cnn, calib, num_batches=1))[-1]["method"] == "fx_static"


def test_fallback_when_the_deprecated_api_is_missing(cnn, calib, monkeypatch):
    _hide(monkeypatch, "_load_fx", "_load_eager_dynamic")
    found = Q.available_methods()
    assert found["fx_static"] is False and found["eager_dynamic"] is False
    assert found["onnxruntime_int8"] and found["torchao_dynamic"] and found["fake_int8"]
    with pytest.warns(Q.Int8MethodWarning, match="used onnxruntime_int8: the first choice is missing"):
        q = Q.quantize_int8(cnn, calib)  # real static int8 without torch.ao: ONNX Runtime
    assert tl.applied(q)[-1]["method"] == "onnxruntime_int8" and tl.applied(q)[-1]["timings_ms"] == {}
    q = Q.quantize_dynamic_int8(cnn)
    assert tl.applied(q)[-1]["method"] == "torchao_dynamic"
    with pytest.raises(ImportError):
        Q.quantize_int8(cnn, calib, method="fx_static")
    with pytest.raises(ImportError):
        Q.quantize_dynamic_int8(cnn, backend="eager")
    calls = []

    def build(method, model, *args):
        calls.append(method)
        if method != "fake_int8":
            raise RuntimeError("not here")
        return tl.clone_model(model)

    monkeypatch.setattr(Q, "_build", build)
    _hide(monkeypatch, "_load_onnxruntime")
    with pytest.warns(RuntimeWarning, match="failed on this model"), pytest.raises(IndexError):
        Q.quantize_int8(cnn, calib)  # the stand-in fake_int8 records nothing
    assert calls == ["pt2e_int8", "torchao_dynamic", "fake_int8"]  # the fallback order without torch.ao and ORT
    monkeypatch.undo()
    _hide(monkeypatch, "_load_fx", "_load_eager_dynamic", "_load_onnxruntime", "_load_pt2e", "_load_torchao")
    with pytest.warns(Q.Int8MethodWarning, match="fake int8: float storage and float speed"):
        q = Q.quantize_int8(cnn, calib)
    assert tl.applied(q)[-1]["method"] == "fake_int8" and isinstance(q, type(cnn))
    torch.testing.assert_close(q(calib[0][0]), cnn(calib[0][0]), atol=0.1, rtol=0.1)


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else -self.fc(x)


def test_without_torch_ao_hides_the_deprecated_methods_inside_the_block_only():
    with Q.without_torch_ao():
        found = Q.available_methods()
        assert not found["fx_static"] and not found["eager_dynamic"] and found["onnxruntime_int8"]
    assert Q.available_methods()["fx_static"] is (Q.quantized_engine() is not None)
    with pytest.raises(KeyError), Q.without_torch_ao():
        raise KeyError("passes through")
    assert Q.available_methods()["eager_dynamic"]


def test_auto_warns_and_moves_on_when_a_method_fails():
    model = Untraceable().eval()
    with pytest.warns(RuntimeWarning, match="fx_static failed"):
        q = Q.quantize_int8(model, [torch.ones(2, 4)])
    assert tl.applied(q)[-1]["method"] == "eager_dynamic"  # ONNX export refuses the data-dependent branch too
    assert tl.applied(q)[-1]["skipped"] == ["fx_static", "onnxruntime_int8"]
    with pytest.raises(Exception):
        Q.quantize_int8(model, [torch.ones(2, 4)], method="fx_static")


def test_bad_arguments(cnn, calib):
    with pytest.raises(ValueError, match="method must be one of"):
        Q.quantize_int8(cnn, calib, method="int4")
    with pytest.raises(ValueError, match="needs a calibration_loader"):
        Q.quantize_int8(cnn, method="fx_static")
    with pytest.raises(ValueError, match="'onnxruntime_int8' needs a calibration_loader"):
        Q.quantize_int8(cnn, method="onnxruntime_int8")
    with pytest.raises(ValueError, match="measure_repeats must be"):
        Q.quantize_int8(cnn, calib, measure_repeats=0)
    with pytest.raises(ValueError, match="engine must be one of"):
        Q.quantize_static(cnn, calib, engine="tpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        Q.quantize_dynamic_int8(cnn, backend="fast")
    with pytest.raises(TypeError, match="model must be Module"):
        Q.quantize_int8("cnn", calib)


def test_quiet_deprecations_records_known_notices_and_passes_others_on():
    with pytest.warns(UserWarning, match="something real") as record:
        with Q.quiet_deprecations():
            warnings.warn("torch.ao.quantization is deprecated and will be removed in 2.10.", DeprecationWarning)
            warnings.warn("something real", UserWarning)
    assert len(record) == 1
    assert any("torch.ao.quantization is deprecated" in n for n in Q.notices_seen())
    with pytest.warns(UserWarning, match="a clue"), pytest.raises(RuntimeError, match="boom"):
        with Q.quiet_deprecations():
            warnings.warn("a clue", UserWarning)
            raise RuntimeError("boom")
