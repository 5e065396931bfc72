import copy

import pytest
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib.applied import mark_applied


def test_mark_applied_records_in_order_and_survives_deepcopy():
    model = nn.Linear(2, 2)
    assert tl.applied(model) == []
    out = mark_applied(copy.deepcopy(model), "pruning", amount=0.5)
    out = mark_applied(copy.deepcopy(out), "int8", method="fx_static")
    assert tl.applied(out) == [{"technique": "pruning", "amount": 0.5}, {"technique": "int8", "method": "fx_static"}]
    assert tl.applied(model) == [], "the input is never marked"
    tl.applied(out)[0]["amount"] = 0.9
    assert tl.applied(out)[0]["amount"] == 0.5, "applied() returns copies"


def test_mark_applied_rejects_bad_input():
    with pytest.raises(TypeError, match="model must be Module"):
        mark_applied("model", "int8")
    with pytest.raises(TypeError, match="technique must be str"):
        mark_applied(nn.Linear(1, 1), 3)
    with pytest.raises(TypeError, match="model must be Module"):
        tl.applied(None)
