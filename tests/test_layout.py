"""Channels-last training and evaluation: same numbers up to rounding, layout restored, weights stay trainable."""
import pytest
import torch
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib import layout
from tradeoff_lib.models import SmallCNN


def _cnn(width=4):
    torch.manual_seed(0)
    return SmallCNN(in_channels=1, num_classes=3, image_size=8, width=width)


def _is_channels_first(model):
    return all(p.is_contiguous() for p in model.parameters() if p.ndim == 4)


def test_is_convolutional():
    assert layout.is_convolutional(_cnn())
    assert not layout.is_convolutional(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="model"):
        layout.is_convolutional("not a model")


def test_channels_last_converts_and_restores_and_nests():
    model = _cnn()
    with layout.channels_last(model) as to_layout:
        w = [p for p in model.parameters() if p.ndim == 4][-1]   # the second conv: 4 -> 8 channels
        assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
        x = to_layout(torch.randn(2, 1, 8, 8))
        assert x.is_contiguous(memory_format=torch.channels_last)
        with layout.channels_last(model):   # nested: nothing to do, nothing undone
            pass
        assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    assert _is_channels_first(model)


def test_linear_model_and_switch_off_are_left_alone():
    lin = nn.Linear(3, 2)
    with layout.channels_last(lin) as to_layout:
        x = torch.randn(2, 3)
        assert to_layout(x) is x
    previous = layout.set_channels_last(False)
    try:
        model = _cnn()
        with layout.channels_last(model) as to_layout:
            assert _is_channels_first(model)
            x = torch.randn(2, 1, 8, 8)
            assert to_layout(x) is x
    finally:
        layout.set_channels_last(previous)
    with pytest.raises(TypeError, match="enabled"):
        layout.set_channels_last("yes")


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("TRADEOFF_CHANNELS_LAST", "maybe")
    with pytest.raises(ValueError, match="TRADEOFF_CHANNELS_LAST"):
        layout._from_env()


def test_one_step_matches_channels_first_up_to_rounding():
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    grads = {}
    for last in (False, True):
        model = _cnn(8).train()
        previous = layout.set_channels_last(last)
        try:
            with layout.channels_last(model) as to_layout:
                loss = nn.functional.cross_entropy(model(to_layout(x)), y)
                loss.backward()
        finally:
            layout.set_channels_last(previous)
        grads[last] = [p.grad.clone() for p in model.parameters()]
    for a, b in zip(grads[False], grads[True]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_evaluate_then_fit_keeps_weights_trainable_and_channels_first():
    model = _cnn()
    data = torch.utils.data.TensorDataset(torch.randn(32, 1, 8, 8), torch.randint(0, 3, (32,)))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    tl.evaluate(model, loader)          # converts inside inference mode's scope
    tl.predict(model, loader)
    tl.fit(model, loader, loader, epochs=1, progress=False)
    assert _is_channels_first(model)
    assert not any(p.is_inference() for p in model.parameters())


def test_cache_key_includes_the_layout():
    from tradeoff_lib.caching import cache_key

    first = cache_key({"a": 1})
    previous = layout.set_channels_last(not layout.CHANNELS_LAST)
    try:
        assert cache_key({"a": 1}) != first
    finally:
        layout.set_channels_last(previous)
    assert cache_key({"a": 1}) == first
