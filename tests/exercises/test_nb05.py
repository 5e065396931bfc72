import numpy as np

import tradeoff_lib as tl
from tests.conftest import VAL_LOSS


def test_05_1_generalization_loss(capsys):
    v = np.array(VAL_LOSS)
    gl = 100 * (v / np.minimum.accumulate(v) - 1)
    assert tl.check_exercise("05.1", gl=gl, gl_stop=8, val_loss=VAL_LOSS)
    assert not tl.check_exercise("05.1", gl=gl, gl_stop=7, val_loss=VAL_LOSS)
    assert not tl.check_exercise("05.1", gl=100 * (v / v.min() - 1), gl_stop=8, val_loss=VAL_LOSS)
    assert "minimum.accumulate" in capsys.readouterr().out
    assert not tl.check_exercise("05.1", gl=gl[:5], gl_stop=8, val_loss=VAL_LOSS)
    assert tl.check_exercise("05.1", gl=gl, gl_stop=None, val_loss=VAL_LOSS, alpha=50.0)


def test_05_2_patience(capsys):
    # min_delta 0.01: improvements at epochs 1, 2, 3 (0.5); 0.49 is not < 0.49 -> 4 non-improving epochs: 4..7
    assert tl.check_exercise("05.2", stop_epoch=7, best_epoch=3, val_loss=VAL_LOSS)
    assert not tl.check_exercise("05.2", stop_epoch=8, best_epoch=5, val_loss=VAL_LOSS)
    assert "Hint" in capsys.readouterr().out
    assert not tl.check_exercise("05.2", stop_epoch=7, best_epoch=5, val_loss=VAL_LOSS)
