"""Multi-task learning: the shared model, loss weightings, L1, training and results."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tradeoff_lib as tl
from tradeoff_lib.techniques import multitask as mt, rotation_task


@pytest.fixture(scope="module")
def tasks_data(small_splits):
    return (rotation_task.make_rotation_task(small_splits.train, seed=0),
            rotation_task.make_rotation_task(small_splits.test, seed=1))


def test_multitask_cnn_shares_everything_but_the_heads():
    model = mt.make_multitask_cnn(8)
    out = model(torch.randn(3, 1, 28, 28))
    assert set(out) == {"digit", "rotation"} and out["digit"].shape == (3, 10) and out["rotation"].shape == (3, 4)
    single = tl.make_cnn(8)
    # same backbone as SmallCNN(8); only the last layer is replaced by one head per task
    head_params = sum(p.numel() for p in model.heads.parameters())
    assert tl.count_params(model) - head_params == tl.count_params(single) - (32 * 10 + 10)
    assert head_params == 32 * 10 + 10 + 32 * 4 + 4
    assert model.config["tasks"] == rotation_task.TASKS and model.tasks == ("digit", "rotation")
    cifar = tl.DatasetInfo("c", 10, 3, 32, tuple("abcdefghij"), (0.5,) * 3, (0.2,) * 3)
    assert mt.make_multitask_cnn(4, cifar)(torch.randn(1, 3, 32, 32))["digit"].shape == (1, 10)
    with pytest.raises(ValueError, match="at least one task"):
        mt.MultiTaskCNN(8, {})
    with pytest.raises(ValueError, match=r"tasks\['rotation'\] must be in \[2, inf\]"):
        mt.MultiTaskCNN(8, {"rotation": 1})
    with pytest.raises(TypeError, match="tasks must be Mapping"):
        mt.MultiTaskCNN(8, ["digit"])


def test_separate_models_answer_together():
    torch.manual_seed(0)
    a, b = mt.make_multitask_cnn(4, tasks={"digit": 10}), mt.make_multitask_cnn(4, tasks={"rotation": 4})
    both = mt.SeparateModels({"digit": a, "rotation": b})
    x = torch.randn(2, 1, 28, 28)
    out = both(x)
    assert torch.equal(out["digit"], a(x)["digit"]) and torch.equal(out["rotation"], b(x)["rotation"])
    assert tl.count_params(both) == tl.count_params(a) + tl.count_params(b)
    assert tl.count_flops(both, x[:1]) == tl.count_flops(a, x[:1]) + tl.count_flops(b, x[:1])
    with pytest.raises(ValueError, match="models is empty"):
        mt.SeparateModels({})
    with pytest.raises(TypeError, match=r"models\['digit'\] must be Module"):
        mt.SeparateModels({"digit": "cnn"})


def test_task_losses_and_unknown_task():
    torch.manual_seed(0)
    out = {"digit": torch.randn(4, 10), "rotation": torch.randn(4, 4)}
    y = {"digit": torch.tensor([1, 2, 3, 4]), "rotation": torch.tensor([0, 1, 2, 3])}
    losses = mt.task_losses(out, y)
    assert torch.allclose(losses["digit"], F.cross_entropy(out["digit"], y["digit"]))
    with pytest.raises(ValueError, match="unknown task 'colour'"):
        mt.task_losses({"colour": torch.randn(4, 3)}, y)
    with pytest.raises(TypeError, match="must return a dict"):
        mt.task_losses(torch.randn(4, 10), y)


def test_fixed_weighting():
    losses = {"digit": torch.tensor(2.0), "rotation": torch.tensor(4.0)}
    assert float(mt.FixedWeighting({"digit": 0.25, "rotation": 0.75})(losses)) == pytest.approx(0.5 + 3.0)
    assert float(mt.FixedWeighting()(losses)) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="unknown task 'colour'"):
        mt.FixedWeighting({"colour": 1.0})(losses)
    with pytest.raises(ValueError, match=r"weights\['digit'\] must be in \[0, inf\]"):
        mt.FixedWeighting({"digit": -1.0})


def test_uncertainty_weighting_formula_and_optimum():
    w = mt.UncertaintyWeighting(["digit", "rotation"])
    with torch.no_grad():
        w.log_vars["digit"].fill_(0.5)
        w.log_vars["rotation"].fill_(-1.0)
    losses = {"digit": torch.tensor(2.0), "rotation": torch.tensor(0.3)}
    expected = np.exp(-0.5) * 2.0 + 0.25 + np.exp(1.0) * 0.3 - 0.5
    assert float(w(losses).detach()) == pytest.approx(expected, rel=1e-6)
    assert w.task_weights() == pytest.approx({"digit": np.exp(-0.5), "rotation": np.exp(1.0)})
    # minimizing over s_t alone gives exp(-s_t) = 1 / (2 L_t): the harder task gets the smaller weight
    opt = torch.optim.Adam(w.parameters(), lr=0.05)
    for _ in range(2000):
        opt.zero_grad()
        w(losses).backward()
        opt.step()
    assert w.task_weights() == pytest.approx({"digit": 1 / 4.0, "rotation": 1 / 0.6}, rel=1e-2)
    with pytest.raises(ValueError, match="unknown task 'colour'"):
        w({"colour": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="at least one task"):
        mt.UncertaintyWeighting([])


def test_l1_penalty_sparsity_and_features_used():
    model = mt.make_multitask_cnn(4)
    expected = sum(float(h.weight.detach().abs().sum()) for h in model.heads.values())
    assert float(mt.l1_penalty(model).detach()) == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():
        for head in model.heads.values():
            head.weight.fill_(0.5)
    assert mt.weight_sparsity(model) == 0.0 and float(mt.l1_penalty(model).detach()) == pytest.approx(0.5 * 224)
    with torch.no_grad():
        model.heads["digit"].weight[:, :4] = 0.0           # the digit head ignores 4 of the 16 features
        model.heads["rotation"].weight[:2] = 1e-4         # two rows of the rotation head are tiny
    assert mt.features_used(model) == {"digit": 12, "rotation": 16}
    assert mt.weight_sparsity(model) == pytest.approx((10 * 4 + 2 * 16) / (10 * 16 + 4 * 16))
    assert mt.weight_sparsity(model, tol=0.0) == pytest.approx(40 / 224)
    with pytest.raises(TypeError, match="task heads"):
        mt.l1_penalty(tl.make_cnn(4))
    with pytest.raises(ValueError, match="tol must be in"):
        mt.weight_sparsity(model, tol=-1.0)


def test_multitask_step_adds_weighted_losses_and_l1():
    torch.manual_seed(0)
    model = mt.make_multitask_cnn(4)
    X = torch.randn(4, 1, 28, 28)
    y = {"digit": torch.tensor([0, 1, 2, 3]), "rotation": torch.tensor([0, 1, 2, 3])}
    weighting = mt.FixedWeighting({"digit": 0.5, "rotation": 0.5})
    loss, out = mt.multitask_step(weighting)(model, X, y)
    assert torch.allclose(loss, weighting(mt.task_losses(out, y)))
    loss_l1, _ = mt.multitask_step(weighting, l1=0.01)(model, X, y)
    assert torch.allclose(loss_l1, loss + 0.01 * mt.l1_penalty(model))
    with pytest.raises(ValueError, match="l1 must be in"):
        mt.multitask_step(weighting, l1=-0.1)
    with pytest.raises(TypeError, match="weighting must be Module"):
        mt.multitask_step({"digit": 1.0})


def test_train_predict_and_evaluate(tasks_data):
    train, test = tasks_data
    build = lambda: mt.make_multitask_cnn(4)  # noqa: E731
    u = mt.UncertaintyWeighting(rotation_task.TASKS)
    model, history = mt.train_multitask(build, train, test, weighting=u, epochs=2, seed=0)
    again, _ = mt.train_multitask(build, train, test, weighting=mt.UncertaintyWeighting(rotation_task.TASKS), epochs=2,
                                  seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert u.task_weights() != {"digit": 1.0, "rotation": 1.0}, "the weighting's parameters are learned"
    assert len(history) == 2 and not model.training
    assert history["val_rotation_accuracy"][-1] > 0.3, "above chance (0.25) after two short epochs"
    assert 0.0 <= history["val_digit_accuracy"][-1] <= 1.0
    preds = mt.predict_tasks(model, test)
    assert set(preds) == {"digit", "rotation"}
    assert np.mean(preds["rotation"][0] == preds["rotation"][1]) == pytest.approx(history["val_rotation_accuracy"][-1])
    single, _ = mt.train_multitask(lambda: mt.make_multitask_cnn(4, tasks={"rotation": 4}), train, epochs=1)
    assert set(mt.predict_tasks(single, test)) == {"rotation"}
    with pytest.raises(ValueError, match="unknown task 'colour'"):
        mt.train_multitask(lambda: mt.make_multitask_cnn(4, tasks={"colour": 3}), train, epochs=1)
    with pytest.raises(TypeError, match="train_set must be MultiTaskDataset"):
        mt.train_multitask(build, test.tensors(), epochs=1)
    with pytest.raises(ValueError, match="l1 must be in"):
        mt.train_multitask(build, train, l1=-1.0)


def test_l1_training_makes_heads_sparser(tasks_data):
    train, _ = tasks_data
    build = lambda: mt.make_multitask_cnn(4)  # noqa: E731
    plain, _ = mt.train_multitask(build, train, epochs=2, lr=1e-2, seed=0)
    sparse, _ = mt.train_multitask(build, train, l1=0.02, epochs=2, lr=1e-2, seed=0)
    # with Adam the penalized weights hover within about lr of zero rather than landing on it
    assert mt.weight_sparsity(sparse, tol=1e-2) > mt.weight_sparsity(plain, tol=1e-2) + 0.2
    assert float(mt.l1_penalty(sparse).detach()) < 0.5 * float(mt.l1_penalty(plain).detach())
    assert sum(mt.features_used(sparse, tol=1e-2).values()) < sum(mt.features_used(plain, tol=1e-2).values())


def test_zero_small_head_weights_copies(tasks_data):
    model = mt.make_multitask_cnn(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    zeroed = mt.zero_small_head_weights(model, tol=0.1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items()), "the original is unchanged"
    w, z = model.heads["digit"].weight, zeroed.heads["digit"].weight
    assert torch.equal(z[w.abs() <= 0.1], torch.zeros(int((w.abs() <= 0.1).sum())))
    assert torch.equal(z[w.abs() > 0.1], w[w.abs() > 0.1])
    assert mt.weight_sparsity(zeroed, tol=0.0) == pytest.approx(mt.weight_sparsity(model, tol=0.1))
    assert tl.count_nonzero_params(zeroed) < tl.count_nonzero_params(model)
    with pytest.raises(ValueError, match="tol must be in"):
        mt.zero_small_head_weights(model, tol=-0.1)
    with pytest.raises(TypeError, match="task heads"):
        mt.zero_small_head_weights(tl.make_cnn(4))


def test_task_results(tasks_data):
    _, test = tasks_data
    model = mt.make_multitask_cnn(4)
    x1 = test.tensors()[0][:1]
    stats = tl.measure_latency(model, x1, repeats=10, warmup=2)
    train, test = tasks_data
    rows = mt.task_results(model, train, test, name="mt", technique="multi-task", notebook="07", latency=stats,
                           example_input=x1, dataset="mnist5k-rotated", n_boot=100)
    train_preds = mt.predict_tasks(model, train)
    assert rows[0].val_accuracy == pytest.approx(np.mean(train_preds["digit"][0] == train_preds["digit"][1]))
    assert [r.name for r in rows] == ["mt/digit", "mt/rotation"]
    assert [r.dataset for r in rows] == ["mnist5k-rotated/digit", "mnist5k-rotated/rotation"]
    preds = mt.predict_tasks(model, test)
    assert rows[1].accuracy == pytest.approx(np.mean(preds["rotation"][0] == preds["rotation"][1]))
    assert rows[0].latency_p50_ms == stats.p50_ms == rows[1].latency_p50_ms
    assert rows[0].params == tl.count_params(model) and rows[0].flops == tl.count_flops(model, x1)
    assert all(r.f1_low <= r.f1 <= r.f1_high for r in rows)
    with pytest.raises(TypeError, match="latency must be LatencyStats"):
        mt.task_results(model, test, test, name="mt", technique="t", notebook="07", latency=1.0, example_input=x1,
                        dataset="mnist5k-rotated")
    with pytest.raises(TypeError, match="dataset must be str"):
        mt.task_results(model, test, test, name="mt", technique="t", notebook="07", latency=stats, example_input=x1,
                        dataset=None)


def test_accuracies_evaluate_fn_and_l1_report(tasks_data):
    _, test = tasks_data
    model = mt.make_multitask_cnn(4)
    preds = mt.predict_tasks(model, test)
    acc = mt.task_accuracies(model, test)
    assert acc == {t: pytest.approx(np.mean(yt == yp)) for t, (yt, yp) in preds.items()}
    loader = torch.utils.data.DataLoader(test, batch_size=100)
    assert mt.evaluate_tasks(model, loader) == {f"{t}_accuracy": a for t, a in acc.items()}
    report = mt.l1_report(model, test, tol=0.05)
    assert report["l1_norm"] == pytest.approx(float(mt.l1_penalty(model).detach()))
    assert report["sparsity"] == mt.weight_sparsity(model, tol=0.05)
    assert report["digit_features"] == mt.features_used(model, tol=0.05)["digit"]
    assert report["rotation_accuracy"] == acc["rotation"]
    assert [w.shape for w in mt.head_weights(model)] == [(10, 16), (4, 16)]
    with pytest.raises(TypeError, match="dataset must be MultiTaskDataset"):
        mt.task_accuracies(model, test.tensors())
