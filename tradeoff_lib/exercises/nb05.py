"""Checks for the exercises of ``notebooks/05_early_stopping.ipynb``."""
from __future__ import annotations

import numpy as np

from ..techniques.early_stopping import EarlyStopping, replay
from ..training import History
from . import exercise


def _history(val_loss) -> History:
    return History([{"epoch": i + 1, "val_loss": float(v)} for i, v in enumerate(val_loss)])


@exercise("05.1")
def generalization_loss_by_hand(gl, gl_stop, val_loss, alpha=5.0):
    val_loss = np.asarray(val_loss, dtype=float)
    expected = 100 * (val_loss / np.minimum.accumulate(val_loss) - 1)
    gl = np.asarray(gl, dtype=float)
    if gl.shape != expected.shape:
        return False, f"gl should have one value per epoch ({expected.shape[0]}), got shape {gl.shape}."
    if np.allclose(gl, 100 * (val_loss / val_loss.min() - 1)):
        return False, ("you divided by the minimum over the whole run; E_opt(t) is the best value *up to* epoch t "
                       "(np.minimum.accumulate), since training cannot see the future.")
    if not np.allclose(gl, expected):
        return False, "Hint: GL(t) = 100 · (E(t) / E_opt(t) − 1) with E_opt(t) = min over t' ≤ t of E(t')."
    above = np.flatnonzero(expected > alpha)
    stop = int(above[0]) + 1 if len(above) else None
    if gl_stop != stop:
        return False, (f"GL is right, but gl_stop should be the first epoch (counting from 1) with GL > {alpha:g}"
                       + (" — it never exceeds it here, so None." if stop is None else "."))
    return True, (f"GL_{alpha:g} stops after epoch {stop}." if stop else f"GL never exceeds {alpha:g} in this run.")


@exercise("05.2")
def patience_by_hand(stop_epoch, best_epoch, val_loss, patience=4, min_delta=0.01):
    rule = EarlyStopping(patience=patience, min_delta=min_delta)
    r = replay(rule, _history(val_loss))
    if stop_epoch != r.stop_epoch:
        return False, (f"stop_epoch should be {'the epoch where the rule fires' if r.fired else 'the last epoch'}. "
                       f"Hint: an epoch improves only if E(t) < best − {min_delta:g}; count the epochs in a row "
                       f"that do not, and stop when the count reaches {patience}.")
    if best_epoch != r.kept_epoch:
        return False, "the stop epoch is right; best_epoch is the epoch of the last improvement (1-based)."
    return True, f"stops after epoch {r.stop_epoch}, restores epoch {r.kept_epoch} — as EarlyStopping does."


