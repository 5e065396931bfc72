"""Real int8 inference on CPU: static post-training quantization, dynamic quantization, and picking a back end.

Static post-training quantization (PTQ) runs a few **calibration** batches through the
float model with observers that record each activation's range, then replaces every
conv/linear (fused with its BatchNorm and ReLU) by an int8 kernel:
``y_q = requant(sum(W_q * x_q))`` with int32 accumulation and one float rescale per
layer. **Dynamic** quantization stores int8 weights but measures the activation range
on every call (no calibration; in PyTorch only ``Linear`` layers).

Back ends, measured on an x86 CPU with torch 2.14 / torchao 0.18 (see notebook 02):

- ``"fx_static"``: ``torch.ao.quantization.quantize_fx`` (FX graph mode). Deprecated
  but present, and the only path here with fused int8 conv kernels that run without
  ``torch.compile``: several times faster than fp32 on ResNet-18 at batch 1.
- ``"eager_dynamic"``: ``torch.ao.quantization.quantize_dynamic`` (deprecated), Linear only.
- ``"torchao_dynamic"``: torchao ``quantize_(model, Int8DynamicActivationInt8WeightConfig())``,
  the maintained API. Linear only; without ``torch.compile`` it is not faster here.
- ``"fake_int8"``: the from-scratch ``fakequant.quantize_weights(model, 8)``: the accuracy
  effect of int8 weights, with float storage and float speed. Always available.

``quantize_int8(..., method="auto")`` uses the first of these that is available and
works, so the package never depends on the deprecated API alone.

Used in: ``notebooks/02_quantization.ipynb``, ``notebooks/10_capstone_balancing.ipynb``.
"""
from __future__ import annotations

import itertools
import logging
import re
import warnings
from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch import nn

from .._checks import check_choice, check_int, check_module
from ..cost import clone_model
from . import fakequant

METHODS = ("fx_static", "eager_dynamic", "torchao_dynamic", "fake_int8")
"""Every way ``quantize_int8`` can quantize a model, fastest first (as measured for notebook 02)."""

ENGINES = ("x86", "fbgemm", "qnnpack")
"""Quantized CPU kernel libraries, preferred first (x86/fbgemm on Intel/AMD, qnnpack on ARM)."""

KNOWN_NOTICES = (
    r"torch\.ao\.quantization is deprecated",
    r"reduce_range will be deprecated",
    r"quantized tensor creation functions .* are deprecated",
)
"""Deprecation notices the legacy path prints on every use; ``quiet_deprecations`` records them."""

_NOTICES_SEEN: dict[str, None] = {}


__all__ = ["METHODS", "ENGINES", "quiet_deprecations", "notices_seen",
           "quantized_engine", "available_methods", "calibrate", "quantize_static", "quantize_dynamic_int8",
           "quantize_int8"]


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


_LOADERS = {"fx_static": "_load_fx", "eager_dynamic": "_load_eager_dynamic", "torchao_dynamic": "_load_torchao"}


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
    weights, uint8 activations with per-tensor scale and zero point).

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
    return quantized


def quantize_dynamic_int8(model: nn.Module, *, backend: str = "auto") -> tuple[nn.Module, str]:
    """Dynamic int8 quantization of the ``Linear`` layers of a copy of ``model`` (not in place).

    ``backend``: ``"eager"`` (``torch.ao.quantization.quantize_dynamic``, deprecated, the
    faster of the two here), ``"torchao"`` (``quantize_`` with
    ``Int8DynamicActivationInt8WeightConfig``, maintained) or ``"auto"`` (eager if present,
    else torchao). Returns ``(quantized_copy, backend_used)``.
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
                return quantize_dynamic(clone_model(model).eval(), {nn.Linear}, dtype=torch.qint8), "eager"
    quantize_, config = _load_torchao()
    out = clone_model(model).eval()
    quantize_(out, config())
    return out, "torchao"


def quantize_int8(model: nn.Module, calibration_loader: Iterable | None = None, *, method: str = "auto",
                  num_batches: int = 8, example_input: torch.Tensor | None = None) -> tuple[nn.Module, str]:
    """An int8 copy of ``model`` by the fastest available method; returns ``(quantized_copy, method_used)``.

    Args:
        method: one of ``METHODS`` or ``"auto"``: try ``"fx_static"`` (needs
            ``calibration_loader``), then ``"eager_dynamic"``, ``"torchao_dynamic"``,
            ``"fake_int8"``. A method that is not installed is skipped; one that fails on
            this model is skipped with a warning that says why.
        calibration_loader, num_batches, example_input: for ``"fx_static"``.
    """
    check_module("model", model)
    check_choice("method", method, ("auto",) + METHODS)
    if method == "fx_static" and calibration_loader is None:
        raise ValueError("method 'fx_static' needs a calibration_loader (a few batches of real inputs)")
    if method == "auto":
        available = available_methods()
        candidates = [m for m in METHODS if available[m] and (m != "fx_static" or calibration_loader is not None)]
    else:
        candidates = [method]
    for candidate in candidates:
        try:
            if candidate == "fx_static":
                return quantize_static(model, calibration_loader, num_batches=num_batches,
                                       example_input=example_input), candidate
            if candidate in ("eager_dynamic", "torchao_dynamic"):
                backend = "eager" if candidate == "eager_dynamic" else "torchao"
                return quantize_dynamic_int8(model, backend=backend)[0], candidate
            return fakequant.quantize_weights(model, 8), candidate
        except Exception as exc:  # e.g. a model that torch.fx cannot trace
            if method != "auto" or candidate == "fake_int8":
                raise
            warnings.warn(f"quantize_int8: {candidate} failed on this model ({type(exc).__name__}: {exc}); "
                          "trying the next method", RuntimeWarning, stacklevel=2)
    raise AssertionError("unreachable: fake_int8 is always available")  # pragma: no cover
