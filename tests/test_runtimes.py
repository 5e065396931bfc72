"""Runtimes behind the model interface: ONNX Runtime fp32/int8, torch.compile, PT2E, and their failures."""
import copy
import os

import pytest
import torch
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib import runtimes as R


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = tl.make_cnn(8).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that folding them is tested
        for bn in (model.features[1], model.features[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def calib():
    g = torch.Generator().manual_seed(0)
    return [(torch.rand(16, 1, 28, 28, generator=g), torch.zeros(16)) for _ in range(3)]


@pytest.fixture(scope="module")
def x():
    return torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))


class NotOnnx(nn.Module):
    """An operator that ONNX (opset 17) does not have: the exporter refuses it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.linalg.eigvals(self.fc(x).reshape(-1, 2, 2)).real.reshape(len(x), -1)


class DataDependent(nn.Module):
    """Data-dependent control flow: torch.export (and so PT2E) cannot capture it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = self.fc(x)
        return y if x.sum() > 0 else -y


def test_onnxruntime_fp32_matches_eager_and_works_with_the_measuring_tools(cnn, x, tmp_path):
    before = {k: v.clone() for k, v in cnn.state_dict().items()}
    ort = R.onnxruntime_model(cnn, x[:1], path=tmp_path / "m.onnx")
    assert isinstance(ort, nn.Module) and (tmp_path / "m.onnx").exists()
    assert R.check_outputs(cnn, ort, x, atol=1e-4) < 1e-4  # dynamic batch axis: batch 5 from a batch-1 export
    assert all(torch.equal(before[k], v) for k, v in cnn.state_dict().items()), "export changed its input"
    record = tl.applied(ort)[-1]
    assert record["runtime"] == "onnxruntime" and record["export_time_s"] > 0 and record["threads"] == 1
    assert tl.size_bytes(ort) == (tmp_path / "m.onnx").stat().st_size
    assert 0.8 < tl.size_bytes(ort) / tl.size_bytes(cnn) < 1.2  # fp32 weights either way
    assert tl.count_params(ort) == tl.count_params(cnn)
    stats = tl.measure_latency(ort, x[:1], repeats=5, warmup=1)
    assert len(stats.samples_ms) == 5
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.arange(5)), batch_size=2)
    y_true, y_pred = tl.predict(ort, loader)
    _, y_ref = tl.predict(cnn, loader)
    assert list(y_pred) == list(y_ref) and len(y_true) == 5
    clone = copy.deepcopy(ort)
    assert tl.applied(clone) == tl.applied(ort)
    torch.testing.assert_close(clone(x), ort(x))
    size = tl.size_bytes(ort)
    R.export_onnx(nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), x[:1], tmp_path / "m.onnx")  # the file is replaced
    assert tl.size_bytes(ort) == size, "the size is that of the graph the session loaded"


def test_onnxruntime_int8_is_smaller_and_close(cnn, calib, x, tmp_path):
    q = R.onnxruntime_int8(cnn, calib, x[:1], num_batches=2, path=tmp_path / "q.onnx")
    record = tl.applied(q)[-1]
    assert record["runtime"] == "onnxruntime int8" and record["calibration_batches"] == 2
    assert tl.size_bytes(cnn) / tl.size_bytes(q) > 2.5  # int8 weights (plus per-channel scales)
    with torch.inference_mode():
        ref, out = cnn(x), q(x)
    assert out.shape == ref.shape
    assert float((out - ref).norm() / ref.norm()) < 0.1
    assert not torch.equal(out, ref)  # really quantized
    with pytest.raises(AssertionError, match="outputs differ"):
        R.check_outputs(cnn, q, x, atol=1e-7)
    with pytest.raises(ValueError, match="no batches"):
        R.onnxruntime_int8(cnn, [], x[:1], path=tmp_path / "e.onnx")


def test_frozen_torchscript_matches_eager(cnn, x):
    frozen = R.freeze_model(cnn, x[:1])
    assert tl.applied(frozen)[-1]["runtime"] == "torchscript frozen"
    assert R.check_outputs(cnn, frozen, x, atol=1e-4) < 1e-4
    assert tl.count_params(frozen) == tl.count_params(cnn) and tl.size_bytes(frozen) > 4 * tl.count_params(cnn) * 0.9
    with pytest.raises(R.RuntimeUnavailableError, match="DataDependent cannot be frozen"):
        R.freeze_model(DataDependent().eval(), torch.ones(2, 4))


def test_check_outputs_catches_wrong_shapes_and_bad_arguments(cnn, x):
    with pytest.raises(AssertionError, match="shapes differ"):
        R.check_outputs(cnn, nn.Sequential(nn.Flatten()), x)
    with pytest.raises(ValueError, match="atol"):
        R.check_outputs(cnn, cnn, x, atol=-1.0)
    with pytest.raises(TypeError, match="candidate must be"):
        R.check_outputs(cnn, "cnn", x)
    assert R.check_outputs(cnn, copy.deepcopy(cnn), x) == 0.0


def test_export_fails_clearly_and_variants_say_why(tmp_path):
    model = NotOnnx().eval()
    with pytest.raises(R.RuntimeUnavailableError, match="NotOnnx cannot be exported"):
        R.export_onnx(model, torch.ones(2, 4), tmp_path / "u.onnx")
    with pytest.raises(R.RuntimeUnavailableError, match="DataDependent cannot be exported.*TracerWarning"):
        R.export_onnx(DataDependent().eval(), torch.ones(2, 4), tmp_path / "d.onnx")  # not one branch silently
    variants = R.runtime_variants(model, torch.ones(2, 4), calibration=[torch.ones(2, 4)],
                                  include=["eager", "onnxruntime", "onnxruntime int8"], out_dir=tmp_path)
    assert isinstance(variants["eager"], nn.Module)
    assert isinstance(variants["onnxruntime"], str) and "cannot be exported" in variants["onnxruntime"]
    assert isinstance(variants["onnxruntime int8"], str)
    no_calib = R.runtime_variants(tl.make_cnn(4).eval(), torch.rand(1, 1, 28, 28),
                                  include=["onnxruntime", "pt2e int8"], out_dir=tmp_path)
    assert isinstance(no_calib["onnxruntime"], nn.Module) and no_calib["pt2e int8"] == "needs calibration data"
    with pytest.raises(ValueError, match="include must contain"):
        R.runtime_variants(model, torch.ones(2, 4), include=["tensorrt"])


def test_bad_arguments(cnn, x, tmp_path):
    with pytest.raises(TypeError, match="model must be Module"):
        R.onnxruntime_model("cnn", x)
    with pytest.raises(TypeError, match="example_input must be"):
        R.export_onnx(cnn, [1, 2], tmp_path / "b.onnx")
    with pytest.raises(ValueError, match="threads must be"):
        R.onnxruntime_model(cnn, x[:1], threads=0)
    with pytest.raises(ValueError, match="num_batches must be"):
        R.onnxruntime_int8(cnn, [x], x[:1], num_batches=0)
    with pytest.raises(ValueError, match="num_batches must be"):
        R.pt2e_int8(cnn, [x], x[:1], num_batches=0)


def test_pt2e_failure_is_a_runtime_unavailable_error():
    model = DataDependent().eval()
    with pytest.raises(R.RuntimeUnavailableError, match="PT2E int8 is unavailable for DataDependent") as info:
        R.pt2e_int8(model, [torch.ones(2, 4)], torch.ones(1, 4))
    assert isinstance(info.value, RuntimeError) and info.value.__cause__ is not None


def test_torch_compile_matches_eager(cnn, x):
    """The one compile-heavy test (inductor compiles a tiny CNN: seconds to ~30 s on a slow CPU)."""
    compiled = R.compile_model(cnn, x[:1])
    record = tl.applied(compiled)[-1]
    assert record["runtime"] == "torch.compile" and record["compile_time_s"] > 0
    assert R.check_outputs(cnn, compiled, x, atol=1e-4) < 1e-4  # batch 5 runs as five batch-1 calls
    assert tl.count_params(compiled) == tl.count_params(cnn)


def test_separate_inductor_cache_per_emulated_capability(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert R.separate_inductor_cache() is None and "TORCHINDUCTOR_CACHE_DIR" not in os.environ
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    folder = R.separate_inductor_cache()
    assert folder.name.endswith("_avx2") and os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))   # the user's own folder is kept
    assert R.separate_inductor_cache() is None and os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path)


def test_temporary_onnx_files_are_deleted_with_the_last_model_that_runs_them(cnn, calib, x):
    import gc

    fp32 = R.onnxruntime_model(cnn, x)
    int8 = R.onnxruntime_int8(cnn, calib, x, num_batches=1)
    folders = [fp32.path.parent, int8.path.parent]
    assert all(f.is_dir() and f.name.startswith("tradeoff-onnx-") for f in folders) and folders[0] != folders[1]
    twin = copy.deepcopy(fp32)  # a copy opens a new session on the same file: the folder must outlive the original
    del fp32, int8
    gc.collect()
    assert folders[0].is_dir() and not folders[1].exists()
    assert torch.allclose(twin(x), cnn(x), atol=1e-4) and copy.deepcopy(twin)(x).shape == (5, 10)
    del twin
    gc.collect()
    assert not folders[0].exists()


@pytest.mark.skipif(os.name != "posix", reason="the sweep of stale folders is POSIX-only")
def test_folders_of_killed_processes_are_swept_before_a_new_one_is_made(cnn, x, tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setattr(R.tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{R.TEMP_PREFIX}{int(gone.stdout)}-abc"      # its process has exited, nothing cleaned it
    mine = tmp_path / f"{R.TEMP_PREFIX}{os.getpid()}-def"            # a live process's folder stays
    other = tmp_path / "tradeoff-onnx-notapid"                      # not ours to judge
    for folder in (stale, mine, other):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"x")
    model = R.onnxruntime_model(cnn, x)
    assert model.path.parent.parent == tmp_path and model.path.parent.name.startswith(f"{R.TEMP_PREFIX}{os.getpid()}-")
    assert not stale.exists() and mine.exists() and other.exists()
    assert R.remove_stale_temp_folders() == []
