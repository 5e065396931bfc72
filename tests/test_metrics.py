import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import tradeoff_lib as tl

pytestmark = pytest.mark.filterwarnings("ignore:A single label was found")

SK = {"precision": skm.precision_score, "recall": skm.recall_score, "f1_score": skm.f1_score}


def _compare(y_true, y_pred, num_classes=None):
    labels = np.arange(num_classes) if num_classes else np.union1d(y_true, y_pred)
    assert np.isclose(tl.accuracy(y_true, y_pred), skm.accuracy_score(y_true, y_pred))
    for name, ref in SK.items():
        for average in ("macro", "micro", "weighted", None):
            for zero_division in (0.0, 1.0):
                ours = getattr(tl, name)(y_true, y_pred, average=average, num_classes=num_classes,
                                         zero_division=zero_division)
                theirs = ref(y_true, y_pred, average=average, labels=labels, zero_division=zero_division)
                np.testing.assert_allclose(ours, theirs, err_msg=f"{name} {average} {zero_division}")
    np.testing.assert_array_equal(tl.confusion_matrix(y_true, y_pred, num_classes),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels)
                                  if num_classes
                                  else skm.confusion_matrix(y_true, y_pred, labels=np.arange(labels.max() + 1)))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=40))))
def test_matches_sklearn_on_random_labels(case):
    k, pairs = case
    y_true, y_pred = map(np.array, zip(*pairs))
    _compare(y_true, y_pred)
    _compare(y_true, y_pred, num_classes=k)


def test_edge_cases_match_sklearn():
    _compare(np.array([0, 1, 2, 2]), np.array([0, 0, 0, 0]))        # classes never predicted
    _compare(np.array([3, 3, 3]), np.array([3, 3, 3]))              # a single class
    _compare(np.array([0, 0, 1]), np.array([2, 2, 2]), num_classes=4)  # a class that never occurs at all
    _compare(np.array([1, 1]), np.array([0, 0]))                   # nothing right


def test_hand_computed_example():
    y_true, y_pred = [0, 0, 1, 1, 1], [0, 1, 1, 1, 0]
    # class 1: TP=2, FP=1, FN=1 -> P=R=F1=2/3 ; class 0: TP=1, FP=1, FN=1 -> 1/2
    assert np.allclose(tl.f1_score(y_true, y_pred, average=None), [0.5, 2 / 3])
    assert np.isclose(tl.f1_score(y_true, y_pred), (0.5 + 2 / 3) / 2)
    assert np.isclose(tl.f1_score(y_true, y_pred, average="micro"), 0.6)
    summary = tl.classification_summary(y_true, y_pred)
    assert np.isclose(summary["accuracy"], 0.6) and np.isclose(summary["f1_weighted"], (2 * 0.5 + 3 * 2 / 3) / 5)


def test_torch_tensors_are_accepted():
    t = torch.tensor([0, 1, 1])
    assert tl.accuracy(t, torch.tensor([0, 1, 0])) == pytest.approx(2 / 3)


def test_bootstrap_interval_is_sane_and_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 1000)
    p = np.where(rng.random(1000) < 0.9, y, rng.integers(0, 10, 1000))
    ci = tl.bootstrap_ci(y, p, "f1_macro", seed=1)
    assert ci.low < ci.value < ci.high and 0.01 < ci.high - ci.low < 0.08
    assert ci == tl.bootstrap_ci(y, p, "f1_macro", seed=1)
    assert np.isclose(ci.value, skm.f1_score(y, p, average="macro"))
    # the vectorized path agrees with the generic (callable) path on the same resamples
    fast = tl.bootstrap_ci(y, p, "accuracy", n_boot=250, seed=4)
    slow = tl.bootstrap_ci(y, p, tl.accuracy, n_boot=250, seed=4)
    assert np.isclose(fast.low, slow.low) and np.isclose(fast.high, slow.high)
    wide = tl.bootstrap_ci(y[:100], p[:100], "accuracy")
    assert wide.half_width > ci.half_width  # fewer test images, wider interval
    assert "[" in str(ci)


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        tl.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="y_true is empty"):
        tl.f1_score([], [])
    with pytest.raises(ValueError, match="y_pred must be 1-D"):
        tl.precision([0, 1], [[0, 1]])
    with pytest.raises(ValueError, match="non-negative integer"):
        tl.recall([0, -1], [0, 1])
    with pytest.raises(ValueError, match="average must be one of"):
        tl.f1_score([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match="does not fit num_classes=2"):
        tl.f1_score([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="n_boot must be in"):
        tl.bootstrap_ci([0, 1], [0, 1], n_boot=10)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\)"):
        tl.bootstrap_ci([0, 1], [0, 1], confidence=1.0)
    with pytest.raises(ValueError, match="metric must be one of"):
        tl.bootstrap_ci([0, 1], [0, 1], metric="auc")


def test_confidence_interval_record():
    ci = tl.ConfidenceInterval(0.9, 0.85, 0.95)
    assert ci.half_width == pytest.approx(0.05) and str(ci) == "0.9000 [0.8500, 0.9500]"


def test_paired_permutation_test_hand_computed_cases():
    from tradeoff_lib.metrics import paired_permutation_test
    # differences (1, 2, -1), observed sum 2; the 8 sign patterns give the sums
    # 2, 4, 0, 2, -2, 0, -4, -2, of which 6 are at least 2 in absolute value -> p = 6/8.
    assert paired_permutation_test([0, 0, 0], [1, 2, -1]) == pytest.approx(6 / 8)
    assert paired_permutation_test([0] * 5, [1, 2, 3, 4, 5]) == pytest.approx(2 / 32)   # 5 pairs never reach 0.05
    assert paired_permutation_test([0] * 6, [1] * 6) == pytest.approx(2 / 64)
    assert paired_permutation_test([1, 2, 3], [1, 2, 3]) == 1.0
    assert paired_permutation_test([0.9, 0.8], [0.8, 0.9]) == 1.0


def test_paired_permutation_test_matches_scipy():
    from scipy.stats import permutation_test

    from tradeoff_lib.metrics import paired_permutation_test
    rng = np.random.default_rng(3)
    for n in (4, 7, 9):
        a = rng.normal(size=n)
        b = a + rng.normal(0.4, 1.0, size=n)
        ref = permutation_test((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), permutation_type="samples",
                               n_resamples=np.inf, alternative="two-sided").pvalue
        assert paired_permutation_test(a, b) == pytest.approx(ref)
    a = rng.normal(size=30)
    b = a + 0.3 + rng.normal(0, 1, size=30)
    ref = permutation_test((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), permutation_type="samples",
                           n_resamples=20000, random_state=0).pvalue
    assert paired_permutation_test(a, b) == pytest.approx(ref, abs=0.01)     # sampled above max_exact


def test_paired_permutation_test_bad_input():
    from tradeoff_lib.metrics import paired_permutation_test
    with pytest.raises(ValueError, match="a and b"):
        paired_permutation_test([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_permutation_test([1], [2])
    with pytest.raises(ValueError, match="finite"):
        paired_permutation_test([1, float("nan")], [2, 3])
    with pytest.raises(ValueError, match="max_exact"):
        paired_permutation_test([1, 2], [2, 3], max_exact=30)


def test_paired_summary_by_hand():
    from tradeoff_lib.metrics import paired_summary
    s = paired_summary([0.90, 0.91, 0.92], [0.92, 0.92, 0.95])       # differences 2, 1, 3 points
    assert s["gain"] == pytest.approx(2.0) and s["gain_std"] == pytest.approx(1.0)
    assert s["wins"] == 3 and s["n"] == 3 and s["p_value"] == pytest.approx(0.25)
    assert not s["within_noise"]                                       # 2 > 2 * 1 / sqrt(3)
    mixed = paired_summary([0.90, 0.91, 0.92], [0.92, 0.90, 0.95])     # 2, -1, 3: signs disagree
    assert mixed["within_noise"] and mixed["wins"] == 2
    with pytest.raises(ValueError, match="scale"):
        paired_summary([1, 2], [2, 3], scale=0)
