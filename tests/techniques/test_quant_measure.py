"""Measuring quantized models: stored dtypes, output error, side-by-side speedups."""
import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib.techniques import quant_measure as M
from tradeoff_lib.techniques import quantization as Q


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return tl.make_cnn(8).eval()


def test_weight_dtypes_of_float_and_int8_models(cnn):
    assert M.weight_dtypes(cnn) == {"features.0": torch.float32, "features.1": torch.float32,
                                    "features.4": torch.float32, "features.5": torch.float32,
                                    "classifier.1": torch.float32, "classifier.3": torch.float32}
    q = Q.quantize_dynamic_int8(cnn, backend="torchao")
    assert M.weight_dtypes(q)["classifier.1"] == torch.int8  # read from torchao's qdata
    with pytest.raises(TypeError, match="model must be Module"):
        M.weight_dtypes(None)


def test_output_error(cnn):
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    same = M.output_error(cnn, tl.clone_model(cnn), x)
    assert same == {"relative_error": 0.0, "agreement": 1.0}
    other = tl.clone_model(cnn)
    with torch.no_grad():
        other.classifier[3].bias.add_(100.0 * torch.arange(10.0))
    cnn.train()
    moved = M.output_error(cnn, other, x)
    assert cnn.training, "the train/eval flag is restored"
    cnn.eval()
    assert moved["relative_error"] > 1.0 and moved["agreement"] < 1.0
    with torch.no_grad():
        ref = cnn(x)
    y = ref.argmax(1)
    again = M.output_error(ref, other, x, y=y)  # precomputed reference outputs, plus accuracy
    assert again["relative_error"] == moved["relative_error"] and again["accuracy"] == again["agreement"]
    with pytest.raises(TypeError, match="X must be Tensor"):
        M.output_error(cnn, other, [1, 2])
    with pytest.raises(ValueError, match="shape"):
        M.output_error(ref[:3], other, x)


def test_compare_batches_and_speedup_rows(cnn):
    latency = M.compare_batches({"fp32": cnn, "copy": tl.clone_model(cnn)},
                                {"batch 1": torch.zeros(1, 1, 28, 28), "batch 4": torch.zeros(4, 1, 28, 28)},
                                repeats={"batch 1": 6, "batch 4": 2})
    assert list(latency) == ["batch 1", "batch 4"]
    assert len(latency["batch 1"]["copy"].samples_ms) == 6 and latency["batch 4"]["fp32"].batch_size == 4
    rows = M.speedup_rows(latency, baseline="fp32")
    assert [(r["input"], r["model"]) for r in rows] == [("batch 1", "fp32"), ("batch 1", "copy"),
                                                         ("batch 4", "fp32"), ("batch 4", "copy")]
    assert rows[0]["speedup"] == 1.0 and all(r["p50_ms"] > 0 and r["speedup"] > 0 for r in rows)
    assert rows[1]["speedup"] == latency["batch 1"]["fp32"].p50_ms / latency["batch 1"]["copy"].p50_ms
    with pytest.raises(ValueError, match="baseline must be one of"):
        M.speedup_rows(latency, baseline="int8")
    with pytest.raises(ValueError, match="repeats"):
        M.compare_batches({"a": cnn}, {"b1": torch.zeros(1, 1, 28, 28)}, repeats=0)
