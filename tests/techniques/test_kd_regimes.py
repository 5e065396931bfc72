"""Distillation regimes: fast batches, labelled masks, the paired tuned comparison and its JSON record."""
import json

import numpy as np
import pytest
import torch

import tradeoff_lib as tl
from tradeoff_lib.techniques import distillation as kd
from tradeoff_lib.techniques import kd_regimes as kr


def test_tensor_batches_cover_every_row_and_repeat_with_the_seed():
    X, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    b = kr.TensorBatches(X, y, batch_size=4, seed=1)
    assert len(b) == 3
    seen = torch.cat([yb for _, yb in b])
    assert sorted(seen.tolist()) == list(range(10))
    again = torch.cat([yb for _, yb in kr.TensorBatches(X, y, batch_size=4, seed=1)])
    assert torch.equal(seen, again)
    long = kr.TensorBatches(X[:3], y[:3], batch_size=2, steps_per_epoch=5, seed=0)
    batches = [yb for _, yb in long]
    assert len(batches) == 5 and all(len(v) <= 2 for v in batches)
    with_logits = kr.TensorBatches(X, y, torch.randn(10, 3), batch_size=5)
    xb, (yb, zb) = next(iter(with_logits))
    assert xb.shape == (5, 1) and zb.shape == (5, 3) and yb.shape == (5,)
    with pytest.raises(ValueError, match="same, non-zero length"):
        kr.TensorBatches(X, y[:3])
    with pytest.raises(ValueError, match="logits"):
        kr.TensorBatches(X, y, torch.randn(4, 3))
    with pytest.raises(ValueError, match="batch_size"):
        kr.TensorBatches(X, y, batch_size=0)


def test_labelled_mask_is_stratified_and_seeded():
    labels = torch.arange(100) % 10
    m = kr.labelled_mask(labels, 30, seed=0)
    assert m.dtype == torch.bool and int(m.sum()) == 30
    assert torch.bincount(labels[m], minlength=10).tolist() == [3] * 10
    assert torch.equal(m, kr.labelled_mask(labels, 30, seed=0))
    assert not torch.equal(m, kr.labelled_mask(labels, 30, seed=1))
    with pytest.raises(ValueError, match="n_labelled"):
        kr.labelled_mask(labels, 0)


def test_loss_ignores_unlabelled_rows_in_the_hard_term():
    z_s, z_t = torch.randn(4, 3), torch.randn(4, 3)
    y = torch.tensor([0, -1, 2, -1])
    got = kd.distillation_loss(z_s, z_t, y, temperature=2.0, alpha=0.3)
    soft_all = kd.distillation_loss(z_s, z_t, torch.zeros(4, dtype=torch.long), temperature=2.0, alpha=1.0)
    hard_lab = torch.nn.functional.cross_entropy(z_s[[0, 2]], y[[0, 2]])
    assert torch.isclose(got, 0.3 * soft_all + 0.7 * hard_lab)
    none = kd.distillation_loss(z_s, z_t, torch.full((4,), -1), temperature=2.0, alpha=0.3)
    assert torch.isclose(none, 0.3 * soft_all)


def test_train_arm_pairs_initial_weights_and_uses_the_mask(small_splits, trained_cnn):
    X, y = small_splits.train.tensors()
    logits = kd.teacher_logits(trained_cnn, small_splits.train)
    mask = kr.labelled_mask(y, 60, seed=0)
    build = lambda: tl.make_cnn(4)  # noqa: E731
    a = kr.train_arm(build, X, y, mask=mask, epochs=1, seed=3)
    a2 = kr.train_arm(build, X, y, mask=mask, epochs=1, seed=3)
    d = kr.train_arm(build, X, y, mask=mask, logits=logits, temperature=2.0, alpha=0.5, epochs=1, seed=3)
    assert not a.training
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), a2.state_dict().values()))
    assert not all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), d.state_dict().values()))
    with pytest.raises(ValueError, match="mask"):
        kr.train_arm(build, X, y, mask=torch.zeros(len(y), dtype=torch.bool))


def test_distillation_helps():
    alone = [0.90, 0.91, 0.92, 0.90, 0.93, 0.91]
    assert kr.distillation_helps(alone, [v + 0.01 for v in alone])          # 6 wins: p = 2/64
    assert not kr.distillation_helps(alone, [v - 0.01 for v in alone])
    assert not kr.distillation_helps(alone[:5], [v + 0.01 for v in alone[:5]])  # 5 pairs: p >= 0.0625
    with pytest.raises(ValueError, match="level"):
        kr.distillation_helps(alone, alone, level=0.0)


def test_compare_arms_records_a_tuned_paired_experiment(small_splits, trained_cnn, tmp_path):
    logits = kd.teacher_logits(trained_cnn, small_splits.train)
    mask = kr.labelled_mask(small_splits.train.labels, 100, seed=0)
    build = lambda: tl.make_cnn(4)  # noqa: E731
    r = kr.compare_arms(build, small_splits, logits, mask=mask, temperatures=(2.0,), alphas=(0.5, 0.9),
                        lrs=(1e-3, 3e-3), tune_seeds=(9,), seeds=(0, 1), epochs=1)
    assert r["n_labelled"] == 100 and r["n_train"] == len(small_splits.train)
    assert r["lr_alone"] in (1e-3, 3e-3) and r["lr_distilled"] in (1e-3, 3e-3) and r["alpha"] in (0.5, 0.9)
    tuning = r["tuning"]
    alone_rows = [t for t in tuning if t["arm"] == "alone"]
    assert r["lr_alone"] == max(alone_rows, key=lambda t: t["val_accuracy"])["lr"]
    assert len(tuning) == 2 + 2 + 1          # both lrs alone, the (T, alpha) grid, the other lr distilled
    assert len(r["alone"]) == len(r["distilled"]) == 2
    assert r["gain"] == pytest.approx(100 * np.mean(np.subtract(r["distilled"], r["alone"])))
    table = kr.regimes_table({"scarce": r})
    assert table.loc[0, "alone"] == pytest.approx(np.mean(r["alone"])) and table.loc[0, "wins"].endswith("/2")
    path = kr.write_distillation_json(tmp_path / "d" / "distillation.json", {"scarce": r})
    assert json.loads(path.read_text())["regimes"]["scarce"]["distilled"] == r["distilled"]
    with pytest.raises(ValueError, match="overlap"):
        kr.compare_arms(build, small_splits, logits, tune_seeds=(0,), seeds=(0, 1))
    with pytest.raises(ValueError, match="lrs"):
        kr.compare_arms(build, small_splits, logits, lrs=())


def test_write_distillation_json_checks_entries(tmp_path):
    with pytest.raises(TypeError, match="regimes"):
        kr.write_distillation_json(tmp_path / "x.json", [])
    with pytest.raises(ValueError, match="lacks"):
        kr.write_distillation_json(tmp_path / "x.json", {"a": {"seeds": [0]}})
    entry = {k: 0.0 for k in kr._REQUIRED} | {"seeds": [0, 1], "alone": [0.9], "distilled": [0.9, 0.8]}
    with pytest.raises(ValueError, match="one alone and one distilled"):
        kr.write_distillation_json(tmp_path / "x.json", {"a": entry})
    assert not (tmp_path / "x.json").exists()


def test_run_accuracies_in_worker_processes_match_one_process(small_splits):
    X, y = small_splits.train.tensors()
    Xv, yv = small_splits.val.tensors()
    build = lambda: tl.make_cnn(4)  # noqa: E731
    jobs = [(build, X, y, Xv, yv, {"epochs": 1, "lr": 3e-3, "seed": s}) for s in (0, 1, 2)]
    one = kr.run_accuracies(jobs, workers=1)
    assert len(one) == 3 and all(0.0 <= a <= 1.0 for a in one)
    assert kr.run_accuracies(jobs, workers=2) == one
    with pytest.raises(ValueError, match="workers"):
        kr.run_accuracies(jobs, workers=0)
