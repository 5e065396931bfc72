"""Knowledge distillation: the loss against a hand computation and F.kl_div, teacher checks, training."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import tradeoff_lib as tl
from tradeoff_lib.techniques import distillation as kd


def _hand_loss(z_s, z_t, y, T, alpha):
    """The formula written out with Python floats, one row at a time."""
    total_kl, total_ce = 0.0, 0.0
    for s_row, t_row, label in zip(z_s.tolist(), z_t.tolist(), y.tolist()):
        p_s = [math.exp(v / T) for v in s_row]
        p_t = [math.exp(v / T) for v in t_row]
        p_s = [v / sum(p_s) for v in p_s]
        p_t = [v / sum(p_t) for v in p_t]
        total_kl += sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s))
        total_ce += -math.log(math.exp(s_row[label]) / sum(math.exp(v) for v in s_row))
    n = len(y)
    return alpha * T * T * total_kl / n + (1 - alpha) * total_ce / n


Z_S = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
Z_T = torch.tensor([[3.0, 1.0, -2.0], [-1.0, 2.0, 0.0]])
Y = torch.tensor([0, 2])


@pytest.mark.parametrize("T, alpha", [(1.0, 0.5), (2.0, 0.9), (4.0, 1.0), (0.5, 0.0), (8.0, 0.3)])
def test_loss_matches_hand_computation(T, alpha):
    got = kd.distillation_loss(Z_S, Z_T, Y, temperature=T, alpha=alpha)
    assert float(got) == pytest.approx(_hand_loss(Z_S, Z_T, Y, T, alpha), rel=1e-5)


def test_loss_matches_kl_div_and_cross_entropy_oracle():
    torch.manual_seed(0)
    z_s, z_t, y = torch.randn(16, 10), torch.randn(16, 10) * 3, torch.randint(0, 10, (16,))
    T, alpha = 3.0, 0.7
    kl = F.kl_div(F.log_softmax(z_s / T, 1), F.softmax(z_t / T, 1), reduction="batchmean")
    expected = alpha * T ** 2 * kl + (1 - alpha) * F.cross_entropy(z_s, y)
    assert torch.allclose(kd.distillation_loss(z_s, z_t, y, temperature=T, alpha=alpha), expected, atol=1e-6)


def test_loss_properties():
    # alpha 0 is plain cross-entropy; a student equal to its teacher has zero soft loss
    assert torch.allclose(kd.distillation_loss(Z_S, Z_T, Y, temperature=2.0, alpha=0.0), F.cross_entropy(Z_S, Y))
    assert float(kd.distillation_loss(Z_T, Z_T, Y, temperature=5.0, alpha=1.0)) == pytest.approx(0.0, abs=1e-6)
    # gradients reach the student only
    z_s, z_t = Z_S.clone().requires_grad_(), Z_T.clone().requires_grad_()
    kd.distillation_loss(z_s, z_t, Y, temperature=2.0, alpha=0.5).backward()
    assert z_s.grad is not None and z_s.grad.abs().sum() > 0 and z_t.grad is None


def test_soft_targets_flatten_with_temperature():
    p1, p8 = kd.soft_targets(Z_T, 1.0), kd.soft_targets(Z_T, 8.0)
    assert torch.allclose(p1.sum(1), torch.ones(2)) and torch.allclose(p1, F.softmax(Z_T, 1))
    assert (p8.max(1).values < p1.max(1).values).all()
    with pytest.raises(ValueError, match="temperature must be in"):
        kd.soft_targets(Z_T, 0.0)


@pytest.mark.parametrize("T, alpha, match", [(0.0, 0.5, "temperature must be in"), (-1.0, 0.5, "temperature"),
                                             (2.0, -0.1, "alpha must be in"), (2.0, 1.5, "alpha must be in"),
                                             (float("nan"), 0.5, "temperature")])
def test_bad_temperature_and_alpha(T, alpha, match):
    with pytest.raises(ValueError, match=match):
        kd.distillation_loss(Z_S, Z_T, Y, temperature=T, alpha=alpha)
    with pytest.raises(ValueError, match=match):
        kd.distillation_step(temperature=T, alpha=alpha)


def test_mismatched_shapes():
    with pytest.raises(ValueError, match="teacher_logits must have the student's shape"):
        kd.distillation_loss(Z_S, Z_T[:, :2], Y, temperature=2.0, alpha=0.5)
    with pytest.raises(ValueError, match="teacher_logits must have the student's shape"):
        kd.distillation_loss(Z_S, Z_T[:1], Y, temperature=2.0, alpha=0.5)
    with pytest.raises(ValueError, match="y must have 2 labels"):
        kd.distillation_loss(Z_S, Z_T, Y[:1], temperature=2.0, alpha=0.5)
    with pytest.raises(ValueError, match="dimensions"):
        kd.distillation_loss(Z_S[0], Z_T[0], Y, temperature=2.0, alpha=0.5)
    with pytest.raises(TypeError, match="student_logits must be Tensor"):
        kd.distillation_loss([1.0], Z_T, Y, temperature=2.0, alpha=0.5)


def test_teacher_logits_and_untrained_or_wrong_shaped_teacher(small_splits, trained_cnn):
    logits = kd.teacher_logits(trained_cnn, small_splits.train)
    assert logits.shape == (len(small_splits.train), 10) and not logits.requires_grad
    assert trained_cnn.training is False
    trained_cnn.train()
    kd.teacher_logits(trained_cnn, small_splits.train)
    assert trained_cnn.training is True, "the teacher's mode is restored"
    trained_cnn.eval()
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="teacher looks untrained"):
        kd.teacher_logits(tl.make_cnn(4), small_splits.train)
    with pytest.raises(ValueError, match=r"teacher must output logits of shape \(N, 10\)"):
        kd.teacher_logits(tl.make_cnn(4, num_classes=5), small_splits.train)
    with pytest.raises(TypeError, match="teacher must be Module"):
        kd.teacher_logits("cnn64", small_splits.train)


def test_check_student_teacher():
    x = torch.randn(2, 1, 28, 28)
    student, teacher = tl.make_cnn(4), tl.make_cnn(8)
    kd.check_student_teacher(student, teacher, x)  # fine
    with pytest.raises(ValueError, match="separate trained model"):
        kd.check_student_teacher(student, student, x)

    class Wrapper(nn.Module):  # the source article's mistake: a "teacher" that wraps the student
        def __init__(self, inner):
            super().__init__()
            self.inner, self.extra = inner, nn.Linear(10, 10)

        def forward(self, x):
            return self.extra(self.inner(x))

    with pytest.raises(ValueError, match="separate trained model"):
        kd.check_student_teacher(student, Wrapper(student), x)
    with pytest.raises(ValueError, match="teacher outputs shape"):
        kd.check_student_teacher(student, tl.make_cnn(8, num_classes=4), x)


def test_with_teacher_logits_dataset(small_splits):
    logits = torch.randn(len(small_splits.train), 10)
    ds = kd.WithTeacherLogits(small_splits.train, logits)
    x, (y, z) = ds[3]
    assert torch.equal(z, logits[3]) and y == small_splits.train.labels[3] and x.shape == (1, 28, 28)
    with pytest.raises(ValueError, match="one row per image"):
        kd.WithTeacherLogits(small_splits.train, logits[:5])


def test_step_with_cached_logits_or_live_teacher(trained_cnn):
    X, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    student = tl.make_cnn(4)
    with torch.no_grad():
        z_t = trained_cnn(X)
    cached = kd.distillation_step(temperature=2.0, alpha=0.5)(student, X, (y, z_t))[0]
    live = kd.distillation_step(temperature=2.0, alpha=0.5, teacher=trained_cnn)(student, X, y)[0]
    assert torch.allclose(cached, live, atol=1e-5)
    with pytest.raises(TypeError, match="WithTeacherLogits"):
        kd.distillation_step(temperature=2.0, alpha=0.5)(student, X, y)


def test_train_student_is_paired_and_distillation_moves_towards_teacher(small_splits, trained_cnn):
    logits = kd.teacher_logits(trained_cnn, small_splits.train)
    build = lambda: tl.make_cnn(4)  # noqa: E731
    alone, h = kd.train_student(build, small_splits, epochs=1, seed=3)
    again, _ = kd.train_student(build, small_splits, epochs=1, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(alone.state_dict().values(), again.state_dict().values()))
    # alpha 0 with cached logits is the same training as alone
    zero, _ = kd.train_student(build, small_splits, logits=logits, alpha=0.0, epochs=1, seed=3)
    assert all(torch.allclose(a.float(), b.float(), atol=1e-5)
               for a, b in zip(alone.state_dict().values(), zero.state_dict().values()))
    distilled, hd = kd.train_student(build, small_splits, logits=logits, temperature=4.0, alpha=1.0, epochs=1, seed=3)
    assert len(hd) == 1 and not distilled.training
    X = small_splits.train.tensors()[0][:200]
    with torch.no_grad():
        p_t = F.softmax(trained_cnn(X) / 4, 1)
        kl = lambda m: F.kl_div(F.log_softmax(m(X) / 4, 1), p_t, reduction="batchmean")  # noqa: E731
        assert kl(distilled) < kl(alone), "a student trained only on the soft loss is closer to its teacher"
