"""From-scratch affine quantization, checked against PyTorch's fake-quantize ops (the oracle)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn
from torch.nn.utils import parametrize

import tradeoff_lib as tl
from tradeoff_lib.techniques import fakequant as fq


def test_quant_range_and_the_xor_pitfall():
    assert fq.quant_range(8) == (-127, 127)
    assert fq.quant_range(8, symmetric=False) == (0, 255)
    assert fq.quant_range(2) == (-1, 1)
    assert fq.quant_range(3, symmetric=False) == (0, 7)
    lo, hi = fq.quant_range(8, symmetric=False)
    assert hi - lo + 1 == 2 ** 8 and 2 ^ 8 == 10  # ^ is XOR in Python: never write 2^bits


def test_hand_computed_asymmetric_example():
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    qp = fq.compute_qparams(x, 8, symmetric=False)
    assert isinstance(qp, fq.QuantParams) and (qp.qmin, qp.qmax) == fq.quant_range(8, symmetric=False)
    assert qp.scale.item() == pytest.approx(3 / 255)
    assert qp.zero_point.item() == 85
    q = fq.quantize(x, qp)
    assert q.dtype == torch.uint8
    assert q.tolist() == [0, 85, 127, 255]  # 0.5 / s = 42.5 rounds half to even: 42
    assert fq.dequantize(q, qp).tolist() == pytest.approx([-1.0, 0.0, 42 * 3 / 255, 2.0], abs=1e-6)


def test_hand_computed_symmetric_example():
    x = torch.tensor([-1.0, 0.3, 0.7])
    qp = fq.compute_qparams(x, 4)  # q in [-7, 7], s = 1 / 7
    assert qp.scale.item() == pytest.approx(1 / 7) and qp.zero_point.item() == 0
    q = fq.quantize(x, qp)
    assert q.dtype == torch.int8 and q.tolist() == [-7, 2, 5]
    assert fq.fake_quantize(x, 4).tolist() == pytest.approx([-1.0, 2 / 7, 5 / 7], abs=1e-6)


@pytest.mark.parametrize("bits", [2, 3, 4, 6, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_per_tensor_matches_torch(bits, symmetric):
    x = torch.randn(64, 33, generator=torch.Generator().manual_seed(bits)) * 3 + 0.5
    qp = fq.compute_qparams(x, bits, symmetric=symmetric)
    expected = torch.fake_quantize_per_tensor_affine(x, qp.scale.item(), int(qp.zero_point), qp.qmin, qp.qmax)
    torch.testing.assert_close(fq.dequantize(fq.quantize(x, qp), qp), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("axis", [0, 1])
def test_per_channel_matches_torch(bits, symmetric, axis):
    g = torch.Generator().manual_seed(bits)
    x = torch.randn(8, 6, 3, 3, generator=g) * torch.logspace(-2, 1, 8).view(8, 1, 1, 1)
    qp = fq.compute_qparams(x, bits, symmetric=symmetric, per_channel=True, axis=axis)
    assert qp.scale.shape == (x.shape[axis],)
    expected = torch.fake_quantize_per_channel_affine(x, qp.scale, qp.zero_point.to(torch.int32), axis,
                                                      qp.qmin, qp.qmax)
    torch.testing.assert_close(fq.fake_quantize(x, bits, symmetric=symmetric, per_channel=True, axis=axis),
                               expected, rtol=0, atol=1e-5)


@settings(max_examples=150, deadline=None)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                    elements=st.floats(-1e3, 1e3, width=32)),
       bits=st.integers(2, 8), symmetric=st.booleans(), per_channel=st.booleans())
def test_round_trip_error_is_at_most_half_a_step(x, bits, symmetric, per_channel):
    x = torch.from_numpy(x)
    qp = fq.compute_qparams(x, bits, symmetric=symmetric, per_channel=per_channel)
    x_hat = fq.dequantize(fq.quantize(x, qp), qp)
    step = qp._shaped(qp.scale, x.ndim)
    assert torch.all((x - x_hat).abs() <= step / 2 * (1 + 1e-4) + 1e-6)
    q = fq.quantize(x, qp).to(torch.int64)
    assert int(q.min()) >= qp.qmin and int(q.max()) <= qp.qmax


def test_per_channel_helps_channels_of_different_size_and_zero_tensor_is_safe():
    x = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * torch.tensor([[100.0], [1.0], [0.1], [0.01]])
    err = lambda pc: float(((x - fq.fake_quantize(x, 4, per_channel=pc)) ** 2).mean())  # noqa: E731
    assert err(True) < err(False)
    zeros = fq.fake_quantize(torch.zeros(3, 4), 8, symmetric=False, per_channel=True)
    assert torch.equal(zeros, torch.zeros(3, 4))


def test_bad_arguments_raise_clear_errors():
    x = torch.randn(3, 4)
    for bits in (1, 9, 0):
        with pytest.raises(ValueError, match="bits must be in \\[2, 8\\]"):
            fq.fake_quantize(x, bits)
    with pytest.raises(TypeError, match="bits must be an int"):
        fq.quant_range(4.0)
    with pytest.raises(TypeError, match="symmetric"):
        fq.quant_range(4, symmetric="yes")
    with pytest.raises(ValueError, match="axis"):
        fq.compute_qparams(x, 8, per_channel=True, axis=2)
    with pytest.raises(ValueError, match="scalar"):
        fq.compute_qparams(torch.tensor(1.0), 8, per_channel=True)
    with pytest.raises(TypeError, match="x must be Tensor"):
        fq.fake_quantize([1.0, 2.0])
    with pytest.raises(ValueError, match="no layers of type"):
        fq.quantize_weights(nn.Sequential(nn.ReLU()), 4)
    with pytest.raises(TypeError, match="model"):
        fq.packed_size_bytes("model", 4)


def test_quantize_weights_copies_and_keeps_few_levels():
    model = tl.make_cnn(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = fq.quantize_weights(model, 3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "input changed"
    for name, m in q.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            for row in m.weight.detach().flatten(1):
                assert len(torch.unique(row)) <= 2 ** 3 - 1
    torch.testing.assert_close(q.classifier[1].bias, model.classifier[1].bias)
    assert not torch.equal(q.classifier[1].weight, model.classifier[1].weight)


def test_packed_size_by_hand():
    layer = nn.Linear(10, 4)  # 40 weights, 4 biases
    assert fq.float_size_bytes(layer) == 44 * 4
    assert fq.packed_size_bytes(layer, 4) == 40 * 4 // 8 + 4 * 4 + 4 * 4
    assert fq.packed_size_bytes(layer, 3, per_channel=False, symmetric=False) == 15 + 8 + 16
    model = tl.make_cnn(64)
    assert fq.float_size_bytes(model) / fq.packed_size_bytes(model, 8) > 3.9
    sizes = [fq.packed_size_bytes(model, b) for b in (8, 6, 4, 3, 2)]
    assert sizes == sorted(sizes, reverse=True)


def test_straight_through_estimator_matches_torch_gradient():
    w = torch.randn(6, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
    g = torch.randn(6, 5)
    out = fq.FakeQuantize(4)(w)
    torch.testing.assert_close(out.detach(), fq.fake_quantize(w.detach(), 4, per_channel=True))
    (out * g).sum().backward()
    w2 = w.detach().clone().requires_grad_(True)
    qp = fq.compute_qparams(w2, 4, per_channel=True)
    ref = torch.fake_quantize_per_channel_affine(w2, qp.scale, qp.zero_point.to(torch.int32), 0, qp.qmin, qp.qmax)
    (ref * g).sum().backward()
    torch.testing.assert_close(w.grad, w2.grad)


def test_prepare_train_finalize_qat():
    torch.manual_seed(0)
    model = tl.make_cnn(4)
    qat = fq.prepare_qat(model, 2)
    assert not parametrize.is_parametrized(model.features[0]), "input must stay untouched"
    assert parametrize.is_parametrized(qat.features[0], "weight")
    w0 = qat.features[0].parametrizations.weight.original.detach().clone()
    opt = torch.optim.SGD(qat.parameters(), lr=0.1)
    loss = qat(torch.randn(8, 1, 28, 28)).square().mean()
    loss.backward()
    opt.step()
    assert not torch.equal(w0, qat.features[0].parametrizations.weight.original), "float weights train"
    done = fq.finalize_qat(qat)
    assert done is not qat and not parametrize.is_parametrized(done.features[0])
    assert parametrize.is_parametrized(qat.features[0]), "the trained QAT model is not changed"
    assert tl.applied(done)[-1] == {"technique": "finalize_qat"}
    for row in done.features[4].weight.detach().flatten(1):
        assert len(torch.unique(row)) <= 3  # ternary: {-s, 0, s}
    with pytest.raises(ValueError, match="prepare_qat first"):
        fq.finalize_qat(model)
    with pytest.raises(TypeError, match="per_channel"):
        fq.FakeQuantize(4, per_channel=1)


def test_plot_bit_sweep_draws_both_panels(tmp_path):
    import pandas as pd

    sweep = pd.DataFrame([{"bits": b, "per_channel": pc, "accuracy": 0.9 + b / 100, "packed_kb": b * 10.0}
                          for b in (8, 4, 2) for pc in (True, False)])
    fig = fq.plot_bit_sweep(sweep, float_accuracy=0.99, float_kb=320.0, path=tmp_path / "s.png")
    left, right = fig.axes
    assert len(left.lines) == 3 and [len(c) for c in right.containers] == [3]   # 2 curves + float line; 3 bars
    assert (tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['packed_kb'\]"):
        fq.plot_bit_sweep(sweep.drop(columns="packed_kb"), float_accuracy=0.99, float_kb=320.0)


def test_weight_rounding_and_qat_record_what_they_did():
    model = tl.make_cnn(4)
    assert tl.applied(fq.quantize_weights(model, 4)) == [{"technique": "weight rounding", "bits": 4, "symmetric": True,
                                                           "per_channel": True}]
    assert tl.applied(fq.prepare_qat(model, 2))[0]["technique"] == "quantization-aware training"
    assert tl.applied(model) == []
