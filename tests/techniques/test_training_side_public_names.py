"""Every public name of the training-side technique modules (schedules, early stopping, augmentation) is tested."""
import re
from pathlib import Path

import pytest

from tradeoff_lib.techniques import augmentation, early_stopping, schedules

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("module, test_file", [(schedules, "test_schedules.py"),
                                               (early_stopping, "test_early_stopping.py"),
                                               (augmentation, "test_augmentation.py")], ids=lambda x: getattr(x, "__name__", x))
def test_every_public_name_is_tested(module, test_file):
    tests = (HERE / test_file).read_text()
    untested = [name for name in module.__all__ if not re.search(rf"\b{name}\b", tests)]
    assert not untested, f"{module.__name__}: public names without a test: {untested}"
    assert all(callable(getattr(module, n)) or isinstance(getattr(module, n), tuple) for n in module.__all__)
