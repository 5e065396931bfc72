"""Run a trained model in other runtimes behind the same callable interface.

Every function takes an eager PyTorch model and returns a **new** ``nn.Module`` whose
``forward(x) -> Tensor`` runs the model elsewhere, so ``tl.measure_latency``,
``tl.compare_latency``, ``tl.measure`` and ``tl.predict`` work unchanged:

- ``freeze_model``: a traced, frozen TorchScript graph (BatchNorm folded into the convs).
- ``compile_model``: ``torch.compile`` (inductor); the first call compiles (timed).
- ``onnxruntime_model``: export to ONNX (``torch.onnx.export(..., dynamo=False)``, with a
  dynamic batch axis) and run an ONNX Runtime ``InferenceSession`` with its threads set
  explicitly, all graph optimizations on, sequential execution.
- ``onnxruntime_int8``: ONNX Runtime static int8 (QDQ format, per-channel int8 weights,
  uint8 activations) calibrated on real training images.
- ``pt2e_int8``: PT2E int8 (torchao ``X86InductorQuantizer``) + ``torch.compile``, where
  it works; otherwise ``RuntimeUnavailableError`` says why.
- ``runtime_variants``: every runtime that applies to a model, or a one-line reason.

What was done (runtime, compile/export seconds, ONNX path) is recorded with
``mark_applied`` and read with ``tl.applied(model)``. ``check_outputs`` compares a
runtime's outputs with eager PyTorch.

Used in: ``notebooks/09_deployment_runtimes.ipynb``, ``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._checks import check_float, check_int, check_module, check_tensor
from .applied import ATTRIBUTE, mark_applied
from .cost import clone_model
from .modes import eval_mode
from .timing import timed

RUNTIMES = ("eager", "torchscript frozen", "torch.compile", "onnxruntime", "onnxruntime int8", "pt2e int8")
"""Names accepted by ``runtime_variants(include=...)``."""


class RuntimeUnavailableError(RuntimeError):
    """A runtime cannot run this model here; the message says why."""


class CompiledModel(nn.Module):
    """``torch.compile`` of a copy of a model; ``inner`` keeps the eager copy (its parameters count).

    The graph is compiled for batch 1 (the real-time case): a bigger batch runs as batch-1 calls,
    so evaluating on the test set reuses the compiled graph instead of recompiling (or, for a
    PT2E graph that is specialized to batch 1, failing).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.inner = model
        separate_inductor_cache()
        self._compiled = torch.compile(model, backend="inductor", dynamic=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) == 1:
            return self._compiled(x)
        return torch.cat([self._compiled(sample) for sample in x.split(1)])

    def train(self, mode: bool = True) -> CompiledModel:
        """Only this wrapper's flag: the compiled graph stays in eval mode (an exported graph refuses ``.eval()``)."""
        self.training = mode
        return self


class OrtModel(nn.Module):
    """An ONNX Runtime session behind ``forward(x: Tensor) -> Tensor`` (CPU, float32 in and out).

    ``serialized_size_bytes()`` is the size of the ``.onnx`` file (what ``tl.size_bytes``
    reports); ``parameter_source()`` is the eager model it came from (for parameter counts).
    """

    def __init__(self, path: str | Path, *, threads: int = 1, source: nn.Module | None = None,
                 folder: tempfile.TemporaryDirectory | None = None):
        super().__init__()
        import onnxruntime as ort

        check_int("threads", threads, min_value=1)
        self.path = Path(path)
        self.threads = threads
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self._size = self.path.stat().st_size  # read now: the file may be replaced later, the session is not
        self.__dict__["_source"] = source  # not a submodule: its weights are not in this model's state_dict
        self.__dict__["_folder"] = folder  # a temporary folder holding the file: deleted when no model refers to it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])

    def serialized_size_bytes(self) -> int:
        """Bytes of the ``.onnx`` file this session runs (as loaded)."""
        return self._size

    def parameter_source(self) -> nn.Module | None:
        """The eager model that was exported (None if unknown)."""
        return self._source

    def __deepcopy__(self, memo):  # a session cannot be copied; a new one reads the same (immutable) file
        new = OrtModel(self.path, threads=self.threads, source=self._source, folder=self._folder)
        if ATTRIBUTE in self.__dict__:
            new.__dict__[ATTRIBUTE] = self.__dict__[ATTRIBUTE]
        return new.train(self.training)


class FrozenModel(nn.Module):
    """A traced, frozen TorchScript graph (weights folded in as constants, conv+BN folded)."""

    def __init__(self, scripted, source: nn.Module, saveable=None):
        super().__init__()
        self.__dict__["_scripted"] = scripted  # not a submodule: its constants are not parameters
        self.__dict__["_saveable"] = scripted if saveable is None else saveable
        self.__dict__["_source"] = source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._scripted(x)

    def serialized_size_bytes(self) -> int:
        """Bytes of the saved frozen TorchScript file (before ``optimize_for_inference``, whose
        pre-packed oneDNN weights are not serialized)."""
        import io

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in favour of torch.export
            torch.jit.save(self._saveable, buffer)
        return buffer.getbuffer().nbytes

    def parameter_source(self) -> nn.Module:
        """The eager model that was traced."""
        return self._source


def freeze_model(model: nn.Module, example_input: torch.Tensor) -> nn.Module:
    """``torch.jit.trace`` + ``torch.jit.freeze`` + ``optimize_for_inference`` of a copy of ``model``.

    Freezing inlines the weights as constants and folds BatchNorm into the convolutions. The
    time of tracing and freezing is ``tl.applied(out)[-1]["export_time_s"]``. A model whose
    trace may be wrong (the tracer warns) raises ``RuntimeUnavailableError``.
    """
    check_module("model", model)
    x = _check_input(example_input)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notices
            warnings.simplefilter("error", torch.jit.TracerWarning)
            traced = torch.jit.trace(clone_model(model).eval(), (x,))
            frozen = torch.jit.freeze(traced)
            optimized = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
    except Exception as exc:
        raise RuntimeUnavailableError(f"{type(model).__name__} cannot be frozen as TorchScript: "
                                      f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"
                                      ) from exc
    out = FrozenModel(optimized, model, saveable=frozen).eval()
    return mark_applied(out, "runtime", runtime="torchscript frozen", export_time_s=time.perf_counter() - start)


def _check_input(example_input) -> torch.Tensor:
    return check_tensor("example_input", example_input)


def separate_inductor_cache() -> Path | None:
    """Give each ``$ATEN_CPU_CAPABILITY`` its own inductor cache folder; returns it (None: nothing to do).

    torch's inductor cache is not keyed on ``ATEN_CPU_CAPABILITY``. Measured on an AVX-512
    machine: a ``SmallCNN(64)`` compiled by a default run and reused under
    ``ATEN_CPU_CAPABILITY=avx2`` (how the course emulates an AVX2 laptop) gave outputs off by
    1e+30; in a separate cache folder the outputs matched eager to 2e-7. A folder set by the
    user (``$TORCHINDUCTOR_CACHE_DIR``) is left alone. Real machines never change capability.
    """
    import getpass

    try:   # torch sets $TORCHINDUCTOR_CACHE_DIR to this default when inductor is first imported
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:
        return None
    capability = os.environ.get("ATEN_CPU_CAPABILITY")
    if not capability or os.environ.get("TORCHINDUCTOR_CACHE_DIR", default_cache_dir()) != default_cache_dir():
        return None

    folder = Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}_{capability.lower()}"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return folder


def compile_model(model: nn.Module, example_input: torch.Tensor) -> nn.Module:
    """``torch.compile`` (inductor) of a copy of ``model``; the first call, which compiles, is timed.

    The compile time is recorded: ``tl.applied(out)[-1]["compile_time_s"]``.
    """
    check_module("model", model)
    x = _check_input(example_input)
    out = CompiledModel(clone_model(model).eval()).eval()
    start = time.perf_counter()
    with torch.inference_mode(), timed("export"):
        out(x)
    return mark_applied(out, "runtime", runtime="torch.compile", compile_time_s=time.perf_counter() - start)


TEMP_PREFIX = "tradeoff-onnx-"
"""Temporary ONNX folders are ``<temp dir>/tradeoff-onnx-<pid>-<random>``."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only (POSIX; callers skip this elsewhere)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_folders() -> list[Path]:
    """Delete the temporary ONNX folders of processes that no longer exist; returns what was deleted.

    A folder normally goes with the last model using it, or at interpreter exit. A *killed* process
    never cleans up: nbval stops every notebook kernel that way, and each test run left about
    130 MB behind. ``_default_path`` calls this before making a new folder (POSIX only).
    """
    if os.name != "posix":
        return []
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = folder.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _default_path(path, stem: str) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """``path``, or ``<stem>.onnx`` in a new temporary folder that is deleted with the last model using it."""
    if path is not None:
        return Path(path), None
    remove_stale_temp_folders()
    folder = tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    return Path(folder.name) / f"{stem}.onnx", folder


def export_onnx(model: nn.Module, example_input: torch.Tensor, path: str | Path) -> Path:
    """Export ``model`` (eval mode, a copy) to an ONNX file at ``path`` with a dynamic batch axis.

    Uses the TorchScript-based exporter (``dynamo=False``). Raises ``RuntimeUnavailableError``
    naming the model's class when it cannot be exported: an operator ONNX lacks, or a
    trace that may be wrong (the tracer's ``TracerWarning``, e.g. data-dependent control
    flow, which a trace would silently bake in for one branch).
    """
    check_module("model", model)
    x = _check_input(example_input)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    copy = clone_model(model).eval()
    try:
        with warnings.catch_warnings(), timed("export"):
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", torch.jit.TracerWarning)  # a trace that may be wrong is an error
            torch.onnx.export(copy, (x,), str(path), dynamo=False, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=17)
    except Exception as exc:
        cause = exc
        while cause.__context__ is not None and not isinstance(cause, torch.jit.TracerWarning):
            cause = cause.__context__  # a TracerWarning raised inside the tracer surfaces as a SystemError
        cause = cause if isinstance(cause, torch.jit.TracerWarning) else exc
        text = (str(cause).strip().splitlines() or [""])[0][:200]
        raise RuntimeUnavailableError(f"{type(model).__name__} cannot be exported to ONNX: "
                                      f"{type(cause).__name__}: {text}") from exc
    return path


def onnxruntime_model(model: nn.Module, example_input: torch.Tensor, *, threads: int = 1,
                      path: str | Path | None = None) -> nn.Module:
    """ONNX Runtime fp32 session of ``model`` (exported to ``path``, default a temporary file).

    A temporary file's folder is deleted once the returned model and all its copies are gone.

    The export time is recorded: ``tl.applied(out)[-1]["export_time_s"]``.
    """
    check_module("model", model)
    check_int("threads", threads, min_value=1)
    start = time.perf_counter()
    path, folder = _default_path(path, "model")
    export_onnx(model, example_input, path)
    out = OrtModel(path, threads=threads, source=model, folder=folder).eval()
    return mark_applied(out, "runtime", runtime="onnxruntime", threads=threads, path=str(path),
                        export_time_s=time.perf_counter() - start)


class _Reader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over up to ``num_batches`` batches of a loader."""

    def __init__(self, loader: Iterable, input_name: str, num_batches: int):
        self.batches = []
        for k, batch in enumerate(loader):
            if k >= num_batches:
                break
            X = batch[0] if isinstance(batch, (tuple, list)) else batch
            self.batches.append(X.detach().to("cpu", torch.float32).numpy())
        if not self.batches:
            raise ValueError("calibration yielded no batches: static int8 needs calibration data")
        self.input_name = input_name
        self._it = iter(self.batches)

    def get_next(self):
        batch = next(self._it, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self):
        self._it = iter(self.batches)


def onnxruntime_int8(model: nn.Module, calibration: Iterable, example_input: torch.Tensor, *, num_batches: int = 8,
                     threads: int = 1, path: str | Path | None = None) -> nn.Module:
    """ONNX Runtime static int8 (QDQ, per-channel weights) of ``model``, calibrated on ``calibration``.

    ``calibration`` yields tensors or ``(X, y)`` batches of real training images; the
    first ``num_batches`` set the activation ranges (min/max). The float model is
    exported, pre-processed (shape inference, BN folding) and quantized to ``path``.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    check_module("model", model)
    check_int("num_batches", num_batches, min_value=1)
    check_int("threads", threads, min_value=1)
    start = time.perf_counter()
    path, folder = _default_path(path, "model_int8")
    fp32 = export_onnx(model, example_input, path.with_name(path.stem + "_fp32.onnx"))
    reader = _Reader(calibration, "input", num_batches)
    CalibrationDataReader.register(_Reader)
    prepared = path.with_name(path.stem + "_prep.onnx")
    log = logging.getLogger()
    level = log.level
    log.setLevel(logging.ERROR)  # quant_pre_process logs advice on every call
    try:
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(path), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        log.setLevel(level)
    out = OrtModel(path, threads=threads, source=model, folder=folder).eval()
    return mark_applied(out, "runtime", runtime="onnxruntime int8", threads=threads, path=str(path),
                        calibration_batches=len(reader.batches), export_time_s=time.perf_counter() - start)


def pt2e_int8(model: nn.Module, calibration: Iterable, example_input: torch.Tensor, *, num_batches: int = 8,
              max_samples_per_batch: int = 16) -> nn.Module:
    """PT2E static int8: ``torch.export``, torchao ``X86InductorQuantizer``, calibrate, ``torch.compile``.

    The exported graph is specialized to batch 1 (the real-time case), so calibration feeds
    up to ``max_samples_per_batch`` images of each of ``num_batches`` batches one by one.
    Raises ``RuntimeUnavailableError`` (with the reason) where any step fails here.
    """
    check_module("model", model)
    x = _check_input(example_input)
    check_int("num_batches", num_batches, min_value=1)
    check_int("max_samples_per_batch", max_samples_per_batch, min_value=1)
    start = time.perf_counter()
    try:
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = torch.export.export(clone_model(model).eval(), (x[:1],)).module()  # batch 1: what is timed
            prepared = prepare_pt2e(graph, quantizer)
            with torch.inference_mode():
                for k, batch in enumerate(calibration):
                    if k >= num_batches:
                        break
                    X = batch[0] if isinstance(batch, (tuple, list)) else batch
                    for sample in X[:max_samples_per_batch].split(1):  # the graph is specialized to batch 1
                        prepared(sample)
            converted = convert_pt2e(prepared)
            out = CompiledModel(converted)
            with torch.inference_mode():
                out(x)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        raise RuntimeUnavailableError(f"PT2E int8 is unavailable for {type(model).__name__}: "
                                      f"{type(exc).__name__}: {reason}") from exc
    return mark_applied(out.eval(), "runtime", runtime="pt2e int8", compile_time_s=time.perf_counter() - start)


@torch.inference_mode()
def check_outputs(reference: nn.Module, candidate: nn.Module, x: torch.Tensor, *, atol: float = 1e-4) -> float:
    """Largest absolute difference between the two models' outputs on ``x``; ``AssertionError`` above ``atol``."""
    check_module("reference", reference)
    check_module("candidate", candidate)
    check_tensor("x", x)
    check_float("atol", atol, low=0.0)
    with eval_mode(reference):
        ref = reference(x)
    out = candidate(x)
    if out.shape != ref.shape:
        raise AssertionError(f"output shapes differ: {tuple(ref.shape)} vs {tuple(out.shape)}")
    diff = float((out.float() - ref.float()).abs().max())
    if not np.isfinite(diff) or diff > atol:
        raise AssertionError(f"outputs differ by up to {diff:.3g} (> atol={atol:g})")
    return diff


def runtime_variants(model: nn.Module, example_input: torch.Tensor, *, calibration: Iterable | None = None,
                     threads: int = 1, include: Iterable[str] | None = None,
                     out_dir: str | Path | None = None) -> dict[str, nn.Module | str]:
    """Every runtime of ``include`` (default all of ``RUNTIMES``) for ``model``: the model, or why not.

    A value is a model (the runtime works here) or a one-line reason string (not exportable,
    no calibration data, PT2E failure...). Never raises for an inapplicable runtime.
    """
    check_module("model", model)
    x = _check_input(example_input)
    names = list(RUNTIMES if include is None else include)
    for name in names:
        if name not in RUNTIMES:
            raise ValueError(f"include must contain names from {RUNTIMES}, got {name!r}")

    def onnx_path(stem: str) -> Path | None:  # None: a temporary file, deleted with the model that runs it
        return None if out_dir is None else Path(out_dir) / f"{stem}.onnx"

    builders = {
        "eager": lambda: mark_applied(clone_model(model).eval(), "runtime", runtime="eager"),
        "torchscript frozen": lambda: freeze_model(model, x),
        "torch.compile": lambda: compile_model(model, x),
        "onnxruntime": lambda: onnxruntime_model(model, x, threads=threads, path=onnx_path("model")),
        "onnxruntime int8": lambda: onnxruntime_int8(model, calibration, x, threads=threads,
                                                     path=onnx_path("model_int8")),
        "pt2e int8": lambda: pt2e_int8(model, calibration, x),
    }
    variants: dict[str, nn.Module | str] = {}
    for name in names:
        if name.endswith("int8") and calibration is None:
            variants[name] = "needs calibration data"
            continue
        try:
            variants[name] = builders[name]()
        except Exception as exc:
            variants[name] = " ".join(f"{type(exc).__name__}: {exc}".split())[:240]
    return variants
