import pytest
import torch

from tradeoff_lib._checks import check_choice, check_float, check_int, check_module, check_tensor, check_type


def test_check_int_accepts_and_rejects():
    assert check_int("n", 3, min_value=1) == 3
    with pytest.raises(ValueError, match=r"n must be in \[1, inf\], got 0"):
        check_int("n", 0, min_value=1)
    with pytest.raises(TypeError, match="n must be an int"):
        check_int("n", 1.5)
    with pytest.raises(TypeError, match="n must be an int"):
        check_int("n", True)


def test_check_float_open_and_closed_ends():
    assert check_float("a", 0.0, low=0.0) == 0.0
    with pytest.raises(ValueError, match=r"a must be in \(0, 1\], got 0"):
        check_float("a", 0, low=0.0, high=1.0, low_inclusive=False)
    with pytest.raises(ValueError, match=r"a must be in \[0, 1\), got 1"):
        check_float("a", 1.0, low=0.0, high=1.0, high_inclusive=False)
    with pytest.raises(ValueError, match="got nan"):
        check_float("a", float("nan"), low=0.0)
    with pytest.raises(TypeError, match="a must be a number"):
        check_float("a", "1")


def test_check_choice_type_module_tensor():
    assert check_choice("mode", "hard", ("hard", "soft")) == "hard"
    with pytest.raises(ValueError, match="mode must be one of 'hard', 'soft'; got 'medium'"):
        check_choice("mode", "medium", ("hard", "soft"))
    with pytest.raises(TypeError, match="x must be int or float"):
        check_type("x", "a", (int, float))
    with pytest.raises(TypeError, match="model must be Module"):
        check_module("model", object())
    with pytest.raises(ValueError, match="must have 4 dimensions"):
        check_tensor("x", torch.zeros(2, 2), ndim=4)
