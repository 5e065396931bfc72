"""Real int8 inference on CPU: static post-training quantization, dynamic quantization, and picking a back end.

Static post-training quantization (PTQ) runs a few **calibration** batches through the
float model with observers that record each activation's range, then replaces every
conv/linear (fused with its BatchNorm and ReLU) by an int8 kernel:
``y_q = requant(sum(W_q * x_q))`` with int32 accumulation and one float rescale per
layer. **Dynamic** quantization stores int8 weights but measures the activation range
on every call (no calibration; in PyTorch only ``Linear`` layers).

Back ends, measured on an x86 CPU with torch 2.14 / torchao 0.18 (see notebook 02):

- ``"fx_static"``: ``torch.ao.quantization.quantize_fx`` (FX graph mode). Deprecated
  (PyTorch plans to delete it) but present, with fused int8 conv kernels that run
  without ``torch.compile``: several times faster than fp32 on ResNet-18 at batch 1.
- ``"onnxruntime_int8"``: ONNX Runtime static int8 (QDQ, per-channel weights;
  ``tradeoff_lib.runtimes.onnxruntime_int8``). Maintained, no ``torch.ao``; on a CPU with
  VNNI it was the fastest int8 we measured.
- ``"pt2e_int8"``: PT2E with torchao's ``X86InductorQuantizer`` + ``torch.compile``
  (``runtimes.pt2e_int8``); compiles for tens of seconds and fails on some models.
- ``"eager_dynamic"``: ``torch.ao.quantization.quantize_dynamic`` (deprecated), Linear only.
- ``"torchao_dynamic"``: torchao ``quantize_(model, Int8DynamicActivationInt8WeightConfig())``,
  the maintained API. Linear only; without ``torch.compile`` it is not faster here.
- ``"fake_int8"``: the from-scratch ``fakequant.quantize_weights(model, 8)``: the accuracy
  effect of int8 weights, with float storage and float speed. Always available.

``quantize_int8(..., method="auto")`` **measures** rather than assumes: with calibration
data it builds every available static int8 path among ``fx_static`` and
``onnxruntime_int8`` (``pt2e_int8`` only when neither is available: it must compile),
times them side by side at batch 1 and keeps the fastest; without calibration, or if
none works, it falls back to dynamic int8 and, last, to fake int8. Whichever method it
uses is recorded (``tl.applied(q)[-1]["method"]``), and a ``Int8MethodWarning`` says so
whenever it is not the first choice (``fx_static``). So the package never depends on
the deprecated API alone and never falls back to fake int8 silently.

Used in: ``notebooks/02_quantization.ipynb``.
"""
from __future__ import annotations

import itertools
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .._checks import check_choice, check_int, check_module
from ..applied import ATTRIBUTE, applied, mark_applied
from ..cost import clone_model
from . import fakequant

METHODS = ("fx_static", "onnxruntime_int8", "pt2e_int8", "eager_dynamic", "torchao_dynamic", "fake_int8")
"""Every way ``quantize_int8`` can quantize a model: static int8 (measured against each other), then fallbacks."""

STATIC_METHODS = ("fx_static", "onnxruntime_int8", "pt2e_int8")
"""The real static int8 paths; ``auto`` times the first two side by side (``pt2e_int8`` only as a fallback)."""


class Int8MethodWarning(UserWarning):
    """``quantize_int8(method="auto")`` did not use its first choice; the message says what it used and why."""

ENGINES = ("x86", "fbgemm", "qnnpack")
"""Quantized CPU kernel libraries, preferred first (x86/fbgemm on Intel/AMD, qnnpack on ARM)."""

KNOWN_NOTICES = (
    r"torch\.ao\.quantization is deprecated",
    r"reduce_range will be deprecated",
    r"quantized tensor creation functions .* are deprecated",
)
"""Deprecation notices the legacy path prints on every use; ``quiet_deprecations`` records them."""

_NOTICES_SEEN: dict[str, None] = {}


@contextmanager
def quiet_deprecations() -> Iterator[None]:
    """Record (instead of print) the known deprecation notices of ``torch.ao.quantization``.

    Any other warning is re-issued unchanged after the block and exceptions pass
    through, so real problems (e.g. "must run observer before calling calculate_qparams")
    stay visible. ``notices_seen()`` lists what was recorded.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:  # also when the block raised: its other warnings may explain why
        for w in caught:
            text = str(w.message)
            if any(re.search(p, text, flags=re.S) for p in KNOWN_NOTICES):
                _NOTICES_SEEN.setdefault(" ".join(text.strip().splitlines()[0].split())[:160])
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def notices_seen() -> list[str]:
    """First lines of the deprecation notices that ``quiet_deprecations`` recorded so far."""
    return list(_NOTICES_SEEN)


def _load_fx():
    """``(prepare_fx, convert_fx, get_default_qconfig_mapping)``; ImportError when torch has removed them."""
    with quiet_deprecations():
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    return prepare_fx, convert_fx, get_default_qconfig_mapping


def _load_eager_dynamic():
    with quiet_deprecations():
        from torch.ao.quantization import quantize_dynamic
    return quantize_dynamic


def _load_torchao():
    """``(quantize_, Int8DynamicActivationInt8WeightConfig)``; hides torchao's import-time log notice."""
    log = logging.getLogger("torch.utils._pytree")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    finally:
        log.setLevel(level)
    return quantize_, Int8DynamicActivationInt8WeightConfig


def _load_onnxruntime():
    from onnxruntime.quantization import quantize_static  # noqa: F401

    from ..runtimes import onnxruntime_int8
    return onnxruntime_int8


def _load_pt2e():
    _load_torchao()  # quiets torchao's import-time notice
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer  # noqa: F401

    from ..runtimes import pt2e_int8
    return pt2e_int8


_LOADERS = {"fx_static": "_load_fx", "onnxruntime_int8": "_load_onnxruntime", "pt2e_int8": "_load_pt2e",
            "eager_dynamic": "_load_eager_dynamic", "torchao_dynamic": "_load_torchao"}


@contextmanager
def without_torch_ao() -> Iterator[None]:
    """Inside the block, behave as if ``torch.ao.quantization`` were deleted (as PyTorch plans).

    ``fx_static`` and ``eager_dynamic`` become unavailable, so ``quantize_int8`` shows what it
    does on a future torch. Used by ``tradeoff_lib/bench.py`` and notebook 09.
    """
    saved = {name: globals()[name] for name in ("_load_fx", "_load_eager_dynamic")}

    def missing():
        raise ImportError("torch.ao.quantization is hidden (without_torch_ao)")

    globals().update(dict.fromkeys(saved, missing))
    try:
        yield
    finally:
        globals().update(saved)


def quantized_engine() -> str | None:
    """The quantized kernel library to use here (first of ``ENGINES`` this torch build supports), or None."""
    supported = torch.backends.quantized.supported_engines
    return next((e for e in ENGINES if e in supported), None)


def available_methods() -> dict[str, bool]:
    """Which of ``METHODS`` can run with the installed torch/torchao: ``{method: available}``."""
    found = {}
    for method in METHODS:
        loader = _LOADERS.get(method)
        try:
            if loader is not None:
                globals()[loader]()
            ok = method != "fx_static" or quantized_engine() is not None
        except ImportError:
            ok = False
        found[method] = ok
    return found


def _inputs(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


@torch.inference_mode()
def calibrate(model: nn.Module, calibration_loader: Iterable, *, num_batches: int = 8) -> int:
    """Run up to ``num_batches`` batches through ``model`` (observers record ranges); returns the samples seen.

    Batches may be tensors or ``(X, y)`` pairs. Raises ``ValueError`` if the loader is empty.
    """
    check_module("model", model)
    check_int("num_batches", num_batches, min_value=1)
    seen = 0
    for k, batch in enumerate(calibration_loader):
        if k >= num_batches:
            break
        X = _inputs(batch)
        model(X)
        seen += len(X)
    if seen == 0:
        raise ValueError("calibration_loader yielded no batches: static quantization needs calibration data")
    return seen


def quantize_static(model: nn.Module, calibration_loader: Iterable, *, num_batches: int = 8,
                    example_input: torch.Tensor | None = None, engine: str | None = None) -> nn.Module:
    """Static int8 post-training quantization of a copy of ``model`` (FX graph mode; not in place).

    ``prepare_fx`` fuses conv-BN-ReLU and inserts observers, ``calibrate`` feeds
    ``num_batches`` batches, ``convert_fx`` swaps in int8 kernels (per-channel int8
    weights, uint8 activations with per-tensor scale and zero point). Recorded as
    ``tl.applied(q)[-1] == {"technique": "int8", "method": "fx_static", "engine": ...}``.

    Args:
        model: a float model that ``torch.fx`` can trace.
        calibration_loader: batches of representative inputs (tensors or ``(X, y)``).
        num_batches: calibration batches to use (>= 1).
        example_input: for tracing (default: the first calibration batch).
        engine: ``"x86"``, ``"fbgemm"`` or ``"qnnpack"`` (default ``quantized_engine()``);
            it becomes ``torch.backends.quantized.engine``, which the int8 kernels read.

    Returns:
        The quantized ``GraphModule`` (float in, float out).
    """
    check_module("model", model)
    check_int("num_batches", num_batches, min_value=1)
    prepare_fx, convert_fx, qconfig_mapping = _load_fx()
    engine = quantized_engine() if engine is None else check_choice("engine", engine, ENGINES)
    if engine is None or engine not in torch.backends.quantized.supported_engines:
        raise RuntimeError(f"no quantized engine available in this torch build (supported: "
                           f"{torch.backends.quantized.supported_engines})")
    torch.backends.quantized.engine = engine
    batches = calibration_loader
    if example_input is None:
        iterator = iter(calibration_loader)
        first = next(iterator, None)
        if first is None:
            raise ValueError("calibration_loader yielded no batches: static quantization needs calibration data")
        example_input = _inputs(first)
        if iterator is calibration_loader:  # a one-shot iterator (generator): put the first batch back
            batches = itertools.chain([first], iterator)
    with quiet_deprecations():
        prepared = prepare_fx(clone_model(model).eval(), qconfig_mapping(engine), (example_input,))
        calibrate(prepared, batches, num_batches=num_batches)
        quantized = convert_fx(prepared)
    return mark_applied(quantized, "int8", method="fx_static", engine=engine)


def quantize_dynamic_int8(model: nn.Module, *, backend: str = "auto") -> nn.Module:
    """Dynamic int8 quantization of the ``Linear`` layers of a copy of ``model`` (not in place).

    ``backend``: ``"eager"`` (``torch.ao.quantization.quantize_dynamic``, deprecated, the
    faster of the two here), ``"torchao"`` (``quantize_`` with
    ``Int8DynamicActivationInt8WeightConfig``, maintained) or ``"auto"`` (eager if present,
    else torchao). Returns the quantized copy; the method used is
    ``tl.applied(q)[-1]["method"]`` (``"eager_dynamic"`` or ``"torchao_dynamic"``).
    """
    check_module("model", model)
    check_choice("backend", backend, ("auto", "eager", "torchao"))
    if backend in ("auto", "eager"):
        try:
            quantize_dynamic = _load_eager_dynamic()
        except ImportError:
            if backend == "eager":
                raise
        else:
            with quiet_deprecations():
                out = quantize_dynamic(clone_model(model).eval(), {nn.Linear}, dtype=torch.qint8)
            return mark_applied(out, "int8", method="eager_dynamic")
    quantize_, config = _load_torchao()
    out = clone_model(model).eval()
    quantize_(out, config())
    return mark_applied(out, "int8", method="torchao_dynamic")


def _build(method: str, model: nn.Module, calibration_loader, num_batches: int, example_input) -> nn.Module:
    """One int8 copy of ``model`` by ``method`` (raises whatever the method raises)."""
    if method == "fx_static":
        return quantize_static(model, calibration_loader, num_batches=num_batches, example_input=example_input)
    if method in ("onnxruntime_int8", "pt2e_int8"):
        x = example_input if example_input is not None else _inputs(next(iter(calibration_loader)))[:1]
        out = globals()[_LOADERS[method]]()(model, calibration_loader, x, num_batches=num_batches)
        return mark_applied(out, "int8", method=method)
    if method in ("eager_dynamic", "torchao_dynamic"):
        return quantize_dynamic_int8(model, backend="eager" if method == "eager_dynamic" else "torchao")
    return mark_applied(fakequant.quantize_weights(model, 8), "int8", method="fake_int8")


def _fastest(built: dict[str, nn.Module], example_input: torch.Tensor, repeats: int) -> tuple[str, dict[str, float]]:
    """The method whose model has the lowest batch-1 p50 in one interleaved run, and every p50 (ms)."""
    from ..latency import compare_latency

    stats = compare_latency(built, example_input[:1], repeats=repeats, warmup=3, threads=1, rounds=min(4, repeats))
    p50 = {m: s.p50_ms for m, s in stats.items()}
    return min(p50, key=p50.get), p50


def quantize_int8(model: nn.Module, calibration_loader: Iterable | None = None, *, method: str = "auto",
                  num_batches: int = 8, example_input: torch.Tensor | None = None,
                  measure_repeats: int = 20) -> nn.Module:
    """An int8 copy of ``model`` by the fastest int8 method measured here; returns the new model only.

    Args:
        method: one of ``METHODS`` or ``"auto"``. Auto with ``calibration_loader``: build
            each available static method among ``"fx_static"`` and ``"onnxruntime_int8"``
            (``"pt2e_int8"`` if neither is available), time them side by side at batch 1
            (``measure_repeats`` calls each, interleaved) and keep the fastest. Without
            calibration, or if no static method works: ``"eager_dynamic"``,
            ``"torchao_dynamic"``, then ``"fake_int8"`` (float speed). A method that fails
            on this model is skipped with a warning that says why.
        calibration_loader, num_batches, example_input: for the static methods
            (``example_input`` defaults to one image of the first calibration batch).

    The method used is ``tl.applied(q)[-1]["method"]`` (auto also records ``"timings_ms"``),
    and an ``Int8MethodWarning`` announces it whenever it is not ``"fx_static"``.
    """
    check_module("model", model)
    check_choice("method", method, ("auto",) + METHODS)
    check_int("measure_repeats", measure_repeats, min_value=1)
    if method in STATIC_METHODS and calibration_loader is None:
        raise ValueError(f"method {method!r} needs a calibration_loader (a few batches of real inputs)")
    if calibration_loader is not None and iter(calibration_loader) is calibration_loader:  # one-shot: keep it
        calibration_loader = list(itertools.islice(calibration_loader, num_batches))
    if method != "auto":
        return _build(method, model, calibration_loader, num_batches, example_input)
    available = available_methods()
    static = [m for m in STATIC_METHODS[:2] if available[m]] or [m for m in STATIC_METHODS[2:] if available[m]]
    candidates = (static if calibration_loader is not None else []) + [m for m in METHODS[3:] if available[m]]
    built, skipped = {}, []
    for candidate in candidates:
        if built and candidate not in STATIC_METHODS:
            break
        try:
            built[candidate] = _build(candidate, model, calibration_loader, num_batches, example_input)
        except Exception as exc:  # e.g. a model that torch.fx cannot trace
            if candidate == "fake_int8":
                raise
            skipped.append(candidate)
            warnings.warn(f"quantize_int8: {candidate} failed on this model ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:200]}); trying the next method", RuntimeWarning, stacklevel=2)
    timings = {}
    if len(built) > 1:
        x = example_input if example_input is not None else _inputs(next(iter(calibration_loader)))
        chosen, timings = _fastest(built, x, measure_repeats)
    else:
        chosen = next(iter(built))
    out = built[chosen]
    entry = dict(applied(out)[-1], timings_ms=timings, skipped=skipped)
    out.__dict__[ATTRIBUTE] = tuple(getattr(out, ATTRIBUTE, ()))[:-1] + (entry,)
    if chosen != METHODS[0]:
        why = (f"measured faster at batch 1 ({', '.join(f'{m} {t:.3g} ms' for m, t in timings.items())})"
               if timings else f"the first choice is {'missing' if not available['fx_static'] else 'unusable here'}")
        note = " -- fake int8: float storage and float speed, no real speedup" if chosen == "fake_int8" else ""
        warnings.warn(f"quantize_int8(method='auto') used {chosen}: {why}{note}", Int8MethodWarning, stacklevel=2)
    return out
