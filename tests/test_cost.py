import copy

import pytest
import torch
import torch.nn.utils.prune
from torch import nn

import tradeoff_lib as tl


def test_params_and_nonzero_by_hand():
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
        layer.bias.zero_()
    assert tl.count_params(layer) == 8
    assert tl.count_nonzero_params(layer) == 3


def test_nonzero_sees_pruning_masks():
    model = nn.Sequential(nn.Linear(10, 10))
    torch.nn.utils.prune.l1_unstructured(model[0], "weight", amount=0.3)
    assert tl.count_params(model) == 110
    assert tl.count_nonzero_params(model) == 110 - 30


def test_size_bytes_tracks_dtype():
    model = nn.Linear(1000, 100)
    fp32 = tl.size_bytes(model)
    assert 4 * 100_100 < fp32 < 4 * 100_100 + 4096
    assert tl.size_bytes(copy.deepcopy(model).half()) < 0.55 * fp32


def test_flops_by_formula(x1):
    conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
    # each of 4*28*28 outputs needs 1*3*3 multiply-adds -> 2 FLOPs each
    assert tl.count_flops(conv, x1) == 2 * 4 * 28 * 28 * 9
    lin = nn.Linear(784, 10)
    assert tl.count_flops(nn.Sequential(nn.Flatten(), lin), x1) == 2 * 784 * 10
    assert tl.count_macs(lin, torch.randn(1, 784)) == 7840


def test_flops_leave_model_untouched(x1):
    model = tl.make_cnn(4).train()
    before = copy.deepcopy(model.state_dict())
    tl.count_flops(model, x1)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_quantized_model_is_measurable(x1):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)
    assert tl.count_params(q) >= tl.count_params(model) - 74  # weights are still there, packed
    assert tl.size_bytes(q) < 0.4 * tl.size_bytes(model)
    assert 0 < tl.count_nonzero_params(q) <= tl.count_params(q)


def test_partly_quantized_model_counts_packed_weights():
    model = tl.make_cnn(4).eval()
    q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)
    assert len(list(q.parameters())) > 0  # conv and BatchNorm stay float parameters
    assert tl.count_params(q) == tl.count_params(model)
    assert tl.count_nonzero_params(q) > tl.count_params(model) - tl.count_params(model.classifier)


def test_torchao_quantized_model_is_measurable():
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    with torch.no_grad():
        model[1].weight[:5] = 0.0
    q = copy.deepcopy(model)
    quantize_(q, Int8DynamicActivationInt8WeightConfig())
    assert tl.count_params(q) == tl.count_params(model)
    assert tl.count_nonzero_params(q) <= tl.count_params(q) - 5 * 784
    assert tl.size_bytes(q) < 0.4 * tl.size_bytes(model)


class _FileBacked(nn.Module):
    """A runtime wrapper as in tradeoff_lib.runtimes: no weights of its own, a serialized file, a source model."""

    def __init__(self, source, size):
        super().__init__()
        self.__dict__["_source"], self._size = source, size

    def forward(self, x):
        return self._source(x)

    def serialized_size_bytes(self):
        return self._size

    def parameter_source(self):
        return self._source


def test_size_and_params_honour_a_runtime_wrapper():
    model = tl.make_cnn(4).eval()
    wrapped = _FileBacked(model, 12345)
    assert tl.size_bytes(wrapped) == 12345  # the file it runs, not its (empty) state_dict
    assert tl.count_params(wrapped) == tl.count_params(model)
    assert tl.count_nonzero_params(wrapped) == tl.count_nonzero_params(model)
    assert tl.size_bytes(model) > 4 * tl.count_params(model)  # a plain module still uses its state_dict


def test_clone_is_independent():
    model = nn.Linear(2, 2)
    clone = tl.clone_model(model)
    with torch.no_grad():
        clone.weight.zero_()
    assert model.weight.abs().sum() > 0


def test_bad_input(x1):
    with pytest.raises(TypeError, match="model must be Module"):
        tl.count_params("model")
    with pytest.raises(TypeError, match="example_input must be Tensor"):
        tl.count_flops(nn.Linear(2, 2), [1, 2])
    with pytest.raises(TypeError, match="model must be Module"):
        tl.size_bytes(None)
