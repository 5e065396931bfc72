"""Uniform affine quantization from scratch: scale, zero point, bits; weights-only sweeps and QAT.

A real number ``x`` is stored as an integer ``q`` on a grid of step ``s`` (the *scale*)
shifted by an integer *zero point* ``z``:

    q = clamp(round(x / s) + z, q_min, q_max)            (quantize)
    x_hat = s * (q - z)                                   (dequantize)

With ``b`` bits there are ``2**b`` levels (in Python ``2**b``: ``2^b`` is XOR and gives
``10`` for ``2^8``). Two common grids:

- **symmetric**: ``z = 0``, ``q`` in ``[-(2**(b-1) - 1), 2**(b-1) - 1]`` and
  ``s = max|x| / q_max`` (zero is exact; one level is left unused so the grid is symmetric);
- **asymmetric** (affine): ``q`` in ``[0, 2**b - 1]``, the range ``[min(x, 0), max(x, 0)]``
  is mapped onto it: ``s = (hi - lo) / (q_max - q_min)``, ``z = q_min - round(lo / s)``.

*Per-tensor* uses one ``(s, z)`` for the whole tensor; *per-channel* one per output
channel (``axis=0`` of a weight), which keeps small channels from losing all their levels.
Inside the range the round trip errs by at most half a step: ``|x - x_hat| <= s / 2``.

``fake_quantize`` (quantize then dequantize, still float) simulates the rounding error;
``quantize_weights`` applies it to the weights of a model copy (a bit-width sweep), and
``prepare_qat`` trains through it with the straight-through estimator (STE): the forward
pass uses the rounded weight, the backward pass treats rounding as the identity.

Used in: ``notebooks/02_quantization.ipynb``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from .._checks import check_int, check_module, check_tensor, check_type
from ..applied import mark_applied
from ..cost import clone_model

MIN_BITS, MAX_BITS = 2, 8
LAYERS = (nn.Conv2d, nn.Linear)
"""Layer types whose ``weight`` the model-level functions quantize."""


__all__ = ["QuantParams", "quant_range", "compute_qparams", "quantize", "dequantize", "fake_quantize",
           "quantize_weights", "packed_size_bytes", "float_size_bytes", "FakeQuantize", "prepare_qat", "finalize_qat",
           "plot_bit_sweep"]


@dataclass(frozen=True)
class QuantParams:
    """The grid of a quantized tensor: ``scale`` and ``zero_point`` (0-d, or 1-d along ``axis``)."""

    scale: torch.Tensor
    zero_point: torch.Tensor
    qmin: int
    qmax: int
    bits: int
    axis: int | None = None

    def _shaped(self, t: torch.Tensor, ndim: int) -> torch.Tensor:
        if self.axis is None:
            return t
        shape = [1] * ndim
        shape[self.axis] = -1
        return t.reshape(shape)

    @property
    def storage_dtype(self) -> torch.dtype:
        """One byte per value: ``int8`` for the symmetric grid, ``uint8`` for the asymmetric one."""
        return torch.int8 if self.qmin < 0 else torch.uint8


def quant_range(bits: int, *, symmetric: bool = True) -> tuple[int, int]:
    """Integer range ``(q_min, q_max)`` of a ``bits``-bit grid (bits in 2..8).

    Symmetric: ``(-(2**(b-1) - 1), 2**(b-1) - 1)``; asymmetric: ``(0, 2**b - 1)``.
    """
    check_int("bits", bits, min_value=MIN_BITS, max_value=MAX_BITS)
    check_type("symmetric", symmetric, bool)
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def compute_qparams(x: torch.Tensor, bits: int = 8, *, symmetric: bool = True, per_channel: bool = False,
                    axis: int = 0) -> QuantParams:
    """Scale and zero point that map the range of ``x`` onto a ``bits``-bit grid (min/max calibration).

    Args:
        x: a float tensor (a weight, or a batch of activations).
        bits: bit width, 2..8.
        symmetric: ``z = 0`` and ``s = max|x| / q_max``; else the affine grid over ``[min(x,0), max(x,0)]``.
        per_channel: one ``(s, z)`` per slice along ``axis`` instead of one for the tensor.
        axis: the channel dimension (0 = output channels of a Conv2d/Linear weight).

    Returns:
        ``QuantParams`` (scales are at least ``torch.finfo(float32).eps``, so an all-zero tensor works).
    """
    check_tensor("x", x)
    qmin, qmax = quant_range(bits, symmetric=symmetric)
    check_type("per_channel", per_channel, bool)
    if per_channel:
        if x.ndim == 0:
            raise ValueError("per_channel quantization needs a tensor with at least 1 dimension, got a scalar")
        check_int("axis", axis, min_value=-x.ndim, max_value=x.ndim - 1)
        axis = axis % x.ndim
        flat = x.detach().float().movedim(axis, 0).reshape(x.shape[axis], -1)
        lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    else:
        lo, hi = x.detach().float().min(), x.detach().float().max()
    eps = torch.finfo(torch.float32).eps
    if symmetric:
        scale = torch.maximum(lo.abs(), hi.abs()) / qmax
        zero_point = torch.zeros_like(scale, dtype=torch.int64)
        scale = scale.clamp(min=eps)
    else:
        lo, hi = lo.clamp(max=0.0), hi.clamp(min=0.0)
        scale = ((hi - lo) / (qmax - qmin)).clamp(min=eps)
        zero_point = (qmin - torch.round(lo / scale)).clamp(qmin, qmax).to(torch.int64)
    return QuantParams(scale, zero_point, qmin, qmax, bits, axis if per_channel else None)


def quantize(x: torch.Tensor, qparams: QuantParams) -> torch.Tensor:
    """``q = clamp(round(x / s) + z, q_min, q_max)`` as one byte per value (``int8`` or ``uint8``).

    ``torch.round`` rounds halves to even, like PyTorch's quantized kernels.
    """
    check_tensor("x", x)
    check_type("qparams", qparams, QuantParams)
    s, z = qparams._shaped(qparams.scale, x.ndim), qparams._shaped(qparams.zero_point, x.ndim)
    q = torch.clamp(torch.round(x / s) + z, qparams.qmin, qparams.qmax)
    return q.to(qparams.storage_dtype)


def dequantize(q: torch.Tensor, qparams: QuantParams) -> torch.Tensor:
    """``x_hat = s * (q - z)`` in float32."""
    check_tensor("q", q)
    check_type("qparams", qparams, QuantParams)
    s, z = qparams._shaped(qparams.scale, q.ndim), qparams._shaped(qparams.zero_point, q.ndim)
    return (q.to(torch.float32) - z) * s


def fake_quantize(x: torch.Tensor, bits: int = 8, *, symmetric: bool = True, per_channel: bool = False,
                  axis: int = 0) -> torch.Tensor:
    """Quantize then dequantize ``x`` (float in, float out): the value a ``bits``-bit model computes with."""
    qparams = compute_qparams(x, bits, symmetric=symmetric, per_channel=per_channel, axis=axis)
    return dequantize(quantize(x, qparams), qparams).to(x.dtype)


def _weights(model: nn.Module, layers: tuple[type, ...]):
    for name, module in model.named_modules():
        if isinstance(module, layers) and isinstance(getattr(module, "weight", None), torch.Tensor):
            yield name, module


def _check_model_args(model, bits, layers):
    check_module("model", model)
    check_int("bits", bits, min_value=MIN_BITS, max_value=MAX_BITS)
    check_type("layers", layers, tuple)
    if not any(True for _ in _weights(model, layers)):
        names = ", ".join(t.__name__ for t in layers)
        raise ValueError(f"model has no layers of type {names} to quantize")


def quantize_weights(model: nn.Module, bits: int = 8, *, symmetric: bool = True, per_channel: bool = True,
                     layers: tuple[type, ...] = LAYERS) -> nn.Module:
    """A copy of ``model`` whose ``layers`` weights are fake-quantized to ``bits`` bits (not in place).

    Weights only: biases, BatchNorm and activations stay float, so this measures the
    accuracy cost of storing the weights in ``bits`` bits (see ``packed_size_bytes``
    for the size), not the speed of integer kernels.
    """
    _check_model_args(model, bits, layers)
    out = clone_model(model)
    with torch.no_grad():
        for _, module in _weights(out, layers):
            module.weight.copy_(fake_quantize(module.weight, bits, symmetric=symmetric, per_channel=per_channel))
    return mark_applied(out, "weight rounding", bits=bits, symmetric=symmetric, per_channel=per_channel)


def packed_size_bytes(model: nn.Module, bits: int = 8, *, symmetric: bool = True, per_channel: bool = True,
                      layers: tuple[type, ...] = LAYERS) -> int:
    """Bytes to store ``model`` with its ``layers`` weights packed at ``bits`` bits.

    ``size = sum over quantized weights of ceil(numel * bits / 8)``
    ``+ 4 bytes per scale (+ 4 per zero point if asymmetric)``
    ``+ every other tensor of the state dict at its own element size`` (biases, BatchNorm).
    Raw tensor bytes without file-format overhead; compare with ``float_size_bytes(model)``.
    """
    _check_model_args(model, bits, layers)
    check_type("symmetric", symmetric, bool)
    check_type("per_channel", per_channel, bool)
    quantized = {f"{name}.weight" if name else "weight": m.weight for name, m in _weights(model, layers)}
    total = 0
    for key, t in model.state_dict().items():
        if key in quantized:
            n_scales = t.shape[0] if per_channel else 1
            total += math.ceil(t.numel() * bits / 8) + n_scales * (4 if symmetric else 8)
        elif isinstance(t, torch.Tensor):
            total += t.numel() * t.element_size()
    return total


def float_size_bytes(model: nn.Module) -> int:
    """Raw bytes of every tensor in ``model.state_dict()`` (float32: 4 bytes per value)."""
    check_module("model", model)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values() if isinstance(t, torch.Tensor))


class FakeQuantize(nn.Module):
    """Parametrization ``w -> w + (fake_quantize(w) - w).detach()``: rounded forward, identity backward (STE).

    Registered on a layer's ``weight`` with ``torch.nn.utils.parametrize``, so the float
    weight keeps training while every forward pass sees its ``bits``-bit version.
    """

    def __init__(self, bits: int = 4, *, symmetric: bool = True, per_channel: bool = True):
        super().__init__()
        quant_range(bits, symmetric=symmetric)  # validates bits and symmetric
        self.bits, self.symmetric, self.per_channel = bits, symmetric, check_type("per_channel", per_channel, bool)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        w_q = fake_quantize(w, self.bits, symmetric=self.symmetric, per_channel=self.per_channel)
        return w + (w_q - w).detach()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, symmetric={self.symmetric}, per_channel={self.per_channel}"


def prepare_qat(model: nn.Module, bits: int = 4, *, symmetric: bool = True, per_channel: bool = True,
                layers: tuple[type, ...] = LAYERS) -> nn.Module:
    """A copy of ``model`` ready for quantization-aware training of its weights at ``bits`` bits (not in place).

    Train it with any loop (``tl.fit``); then ``finalize_qat`` bakes in the rounded weights.
    """
    _check_model_args(model, bits, layers)
    out = clone_model(model)
    for _, module in _weights(out, layers):
        parametrize.register_parametrization(
            module, "weight", FakeQuantize(bits, symmetric=symmetric, per_channel=per_channel))
    return mark_applied(out, "quantization-aware training", bits=bits, symmetric=symmetric, per_channel=per_channel)


def finalize_qat(model: nn.Module) -> nn.Module:
    """A copy of a QAT model with its ``FakeQuantize`` parametrizations removed, keeping the rounded weights.

    The trained QAT model itself is not changed (train it further or finalize it again).
    """
    check_module("model", model)
    model, found = clone_model(model), False
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight") and any(
                isinstance(p, FakeQuantize) for p in module.parametrizations["weight"]):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            found = True
    if not found:
        raise ValueError("model has no FakeQuantize parametrizations: call prepare_qat first")
    return mark_applied(model, "finalize_qat")


def plot_bit_sweep(sweep, *, float_accuracy: float, float_kb: float, path=None):
    """Notebook 02's bit-width sweep: accuracy per bit width (per-channel and per-tensor) and packed size.

    ``sweep`` is a DataFrame with columns ``bits``, ``per_channel``, ``accuracy`` and ``packed_kb``.
    """
    import matplotlib.pyplot as plt

    from ..plotting import save_figure

    missing = {"bits", "per_channel", "accuracy", "packed_kb"} - set(sweep.columns)
    if missing:
        raise ValueError(f"sweep lacks the column(s) {sorted(missing)}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for per_channel, part in sweep.groupby("per_channel"):
        ax1.plot(part["bits"], part["accuracy"], "o-", label="per-channel" if per_channel else "per-tensor")
    ax1.axhline(float_accuracy, color="0.5", ls="--", label="float32")
    ax1.set(xlabel="bits per weight", ylabel="test accuracy", title="Weights-only quantization",
            xticks=sorted(sweep["bits"].unique()))
    ax1.invert_xaxis()
    ax1.legend(loc="lower left")
    part = sweep[sweep["per_channel"]]
    ax2.bar(part["bits"].astype(str), part["packed_kb"], color="C0")
    ax2.axhline(float_kb, color="0.5", ls="--", label="float32")
    ax2.set(xlabel="bits per weight", ylabel="packed size (KB)", title="Model size")
    ax2.legend(loc="upper right")
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig
