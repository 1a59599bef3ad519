"""Tests of lessons_src.mle: targets, losses, the Gaussian NLL, AIC and deterministic training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lessons_src import (
    aic,
    classifier_metrics,
    cross_entropy,
    distillation_loss,
    entropy,
    gaussian_nll,
    kl_divergence,
    kl_normal,
    make_mlp,
    predict,
    single_thread,
    smooth_labels,
    soft_targets,
    train_classifier,
)


def random_logits(seed: int, batch: int = 6, classes: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 2.0 * torch.randn(batch, classes, generator=g, dtype=torch.float64)


# -- smooth_labels --------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 1.0])
def test_smooth_labels_formula_and_rows_sum_to_one(eps: float) -> None:
    labels = np.array([[0, 3], [2, 1]])
    got = smooth_labels(labels, 4, eps)
    assert got.shape == (2, 2, 4) and got.dtype == np.float64
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(got, (1 - eps) * onehot + eps / 4, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=0, atol=1e-12)
    t = smooth_labels(torch.tensor([2, 0]), 4, eps)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.get_default_dtype()
    np.testing.assert_allclose(t.numpy(), smooth_labels([2, 0], 4, eps), rtol=1e-6)


def test_smooth_labels_matches_torch_label_smoothing_and_floor() -> None:
    """F.cross_entropy(label_smoothing=eps) is H(P_eps, Q); its minimum is H(P_eps)."""
    logits = random_logits(0)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    eps = 0.2
    p = smooth_labels(y, 5, eps).double()
    q = torch.softmax(logits, -1)
    ours = cross_entropy(p, q).mean()
    torch_ls = F.cross_entropy(logits, y, label_smoothing=eps)
    assert ours.item() == pytest.approx(torch_ls.item(), rel=1e-6)  # p is float32
    # H(P, Q) = H(P) + KL(P||Q) >= H(P), with equality at Q = P
    assert torch.allclose(cross_entropy(p, q), entropy(p) + kl_divergence(p, q))
    at_floor = F.cross_entropy(torch.log(p), y, label_smoothing=eps)
    assert at_floor.item() == pytest.approx(float(entropy(smooth_labels(0, 5, eps))), rel=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], 1, 0.1), "smooth_labels: num_classes must be an integer >= 2"),
        (([0, 1], 3.0, 0.1), "smooth_labels: num_classes"),
        (([0, 1], 3, -0.1), r"smooth_labels: epsilon must be in \[0, 1\]"),
        (([0, 1], 3, 1.5), r"smooth_labels: epsilon must be in \[0, 1\]"),
        (([0, 3], 3, 0.1), r"smooth_labels: labels must be in \[0, 3\); got 3"),
        (([0.5], 3, 0.1), "smooth_labels: labels must be integers"),
        ((torch.tensor([0.0]), 3, 0.1), "smooth_labels: labels must be an integer tensor"),
        ((torch.tensor([-1]), 3, 0.1), r"smooth_labels: labels must be in \[0, 3\); got -1"),
    ],
)
def test_smooth_labels_rejects_bad_arguments(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        smooth_labels(*args)


# -- soft_targets ---------------------------------------------------------------------------
def test_soft_targets_numpy_and_torch_agree() -> None:
    z = random_logits(1)
    for t in (0.5, 1.0, 4.0):
        ref = torch.softmax(z / t, -1)
        got_t = soft_targets(z, t)
        got_np = soft_targets(z.numpy(), t)
        assert torch.allclose(got_t, ref, rtol=1e-12)
        np.testing.assert_allclose(got_np, ref.numpy(), rtol=1e-12)
    # high temperature flattens: the entropy increases with T towards log K
    ents = [float(entropy(soft_targets([3.0, 1.0, 0.0], t))) for t in (1, 2, 4, 100)]
    assert ents == sorted(ents) and ents[-1] == pytest.approx(math.log(3), abs=1e-3)
    with pytest.raises(ValueError, match="soft_targets: temperature must be > 0"):
        soft_targets([1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="soft_targets: logits has an infinite entry"):
        soft_targets([1.0, math.inf], 1.0)


# -- distillation_loss ----------------------------------------------------------------------
def test_distillation_loss_equals_hand_computed_kl_plus_ce() -> None:
    s, t = random_logits(2), random_logits(3)
    y = torch.tensor([4, 3, 2, 1, 0, 0])
    for temp, alpha in [(1.0, 0.5), (2.0, 0.9), (5.0, 0.3), (0.5, 1.0)]:
        got = distillation_loss(s, t, y, temperature=temp, alpha=alpha)
        kl = kl_divergence(soft_targets(t.numpy(), temp), soft_targets(s.numpy(), temp))
        onehot = np.eye(5)[y.numpy()]
        ce = cross_entropy(onehot, soft_targets(s.numpy(), 1.0))
        expected = alpha * temp**2 * kl.mean() + (1 - alpha) * ce.mean()
        assert got.item() == pytest.approx(expected, rel=1e-10)


def test_distillation_loss_special_cases_and_t_squared() -> None:
    s, t = random_logits(4), random_logits(5)
    y = torch.tensor([0, 1, 2, 3, 4, 1])
    plain = distillation_loss(s, t, y, temperature=1.0, alpha=0.0)
    assert plain.item() == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-12)
    # alpha = 0 ignores the teacher and the temperature
    assert distillation_loss(s, t, y, temperature=7.0, alpha=0.0).item() == plain.item()
    # the soft term is exactly T^2 times the batch-mean KL
    for temp in (1.0, 3.0, 10.0):
        soft = distillation_loss(s, t, None, temperature=temp, alpha=1.0)
        kl = kl_divergence(soft_targets(t, temp), soft_targets(s, temp)).mean()
        assert soft.item() == pytest.approx(temp**2 * kl.item(), rel=1e-10)


def test_distillation_gradient_scale_is_stable_in_t() -> None:
    """Without T^2 the soft gradient shrinks like 1/T^2; with it, it tends to a limit."""
    s, t = random_logits(6), random_logits(7)
    norms = {}
    for temp in (4.0, 8.0, 16.0, 32.0):
        st = s.clone().requires_grad_(True)
        distillation_loss(st, t, None, temperature=temp, alpha=1.0).backward()
        norms[temp] = st.grad.norm().item()
    assert norms[32.0] == pytest.approx(norms[16.0], rel=0.01)
    # high-temperature limit: gradient -> (centred s - centred t) / (K B)
    sc, tc = s - s.mean(-1, keepdim=True), t - t.mean(-1, keepdim=True)
    limit = ((sc - tc) / (5 * s.shape[0])).norm().item()
    assert norms[32.0] == pytest.approx(limit, rel=0.01)
    # the gradient flows into the student only
    st, tt = s.clone().requires_grad_(True), t.clone().requires_grad_(True)
    distillation_loss(st, tt, None, temperature=2.0, alpha=1.0).backward()
    assert tt.grad is None and st.grad is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0, "alpha": 0.5}, "distillation_loss: temperature must be > 0"),
        ({"temperature": 1.0, "alpha": 1.5}, r"distillation_loss: alpha must be in \[0, 1\]"),
    ],
)
def test_distillation_loss_rejects_bad_scalars(kwargs, message) -> None:
    s = random_logits(8)
    with pytest.raises(ValueError, match=message):
        distillation_loss(s, s, torch.zeros(6, dtype=torch.long), **kwargs)


def test_distillation_loss_rejects_bad_tensors() -> None:
    s = random_logits(9)
    y = torch.zeros(6, dtype=torch.long)
    kw = {"temperature": 2.0, "alpha": 0.5}
    with pytest.raises(ValueError, match="distillation_loss: student_logits must be a float"):
        distillation_loss(s.numpy(), s, y, **kw)
    with pytest.raises(ValueError, match="distillation_loss: teacher_logits must have shape"):
        distillation_loss(s, s[0], y, **kw)
    with pytest.raises(ValueError, match="must have the same shape"):
        distillation_loss(s, s[:, :4], y, **kw)
    with pytest.raises(ValueError, match="distillation_loss: labels are required"):
        distillation_loss(s, s, None, **kw)
    with pytest.raises(ValueError, match=r"distillation_loss: labels must have shape \(6,\)"):
        distillation_loss(s, s, y[:3], **kw)
    with pytest.raises(ValueError, match=r"distillation_loss: labels must be in \[0, 5\)"):
        distillation_loss(s, s, y + 5, **kw)
    with pytest.raises(ValueError, match="distillation_loss: labels must be an integer"):
        distillation_loss(s, s, y.double(), **kw)
    with pytest.raises(ValueError, match="distillation_loss: student_logits has a NaN"):
        distillation_loss(s * math.nan, s, y, **kw)


# -- gaussian_nll and aic -------------------------------------------------------------------
def test_gaussian_nll_matches_scipy_and_decomposes() -> None:
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 1.0, size=500)
    mus, sigmas = np.array([0.0, 1.5, 2.0, 3.0]), np.array([[0.5], [1.0], [2.0]])
    got = gaussian_nll(x, mus, sigmas)
    assert got.shape == (3, 4)
    ref = -norm.logpdf(x[None, None, :], mus[None, :, None], sigmas[:, :, None]).mean(-1)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # population version: NLL = H(N(2,1)) + KL(N(2,1) || N(mu,1)); the sample tracks it
    h = 0.5 * math.log(2 * math.pi * math.e)
    assert gaussian_nll(x, 2.5, 1.0) == pytest.approx(h + kl_normal(2, 1, 2.5, 1), abs=0.1)
    # minimised at the sample mean, and autograd works
    mu = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    gaussian_nll(torch.from_numpy(x), mu, 1.0).backward()
    assert mu.grad.item() == pytest.approx(0.0 - x.mean(), rel=1e-12)
    # a batch of samples, one model per sample
    xs = rng.normal(size=(3, 7))
    got = gaussian_nll(xs, np.array([0.0, 1.0, -1.0]), np.array([1.0, 2.0, 0.5]))
    ref = [-norm.logpdf(xs[i], m, s).mean() for i, (m, s) in enumerate([(0, 1), (1, 2), (-1, .5)])]
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    with pytest.raises(ValueError, match="gaussian_nll: x must have at least 1 axis"):
        gaussian_nll(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="gaussian_nll: the shapes of x, mu and sigma do not"):
        gaussian_nll(np.ones((2, 5)), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="gaussian_nll: sigma must be > 0"):
        gaussian_nll(x, 0.0, 0.0)
    with pytest.raises(ValueError, match="gaussian_nll: x has a NaN entry"):
        gaussian_nll([1.0, math.nan], 0.0, 1.0)


def test_aic_formula_and_errors() -> None:
    np.testing.assert_allclose(aic([-10.0, -3.5], [1, 4]), [22.0, 15.0])
    assert type(aic(-1.0, 0)) is np.float64
    with pytest.raises(ValueError, match="aic: num_params must be non-negative integers"):
        aic(-1.0, 1.5)
    with pytest.raises(ValueError, match="aic: num_params must be non-negative integers"):
        aic(-1.0, -1)
    with pytest.raises(ValueError, match="aic: log_likelihood has an infinite entry"):
        aic(-math.inf, 1)
    # AICc adds 2k(k+1)/(n-k-1) and tends to AIC as n grows
    np.testing.assert_allclose(aic([-10.0, -3.5], [1, 4], num_obs=10),
                               [22.0 + 4 / 8, 15.0 + 40 / 5])
    assert aic(-10.0, 3, num_obs=10**6) == pytest.approx(aic(-10.0, 3), rel=1e-6)
    with pytest.raises(ValueError, match="aic: num_obs must exceed num_params"):
        aic(-10.0, 3, num_obs=4)
    with pytest.raises(ValueError, match="aic: num_obs must be an integer >= 1"):
        aic(-10.0, 3, num_obs=0)


# -- models, training, metrics --------------------------------------------------------------
def toy_data(n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return x, y


def test_make_mlp_is_seeded_and_leaves_global_state() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b = make_mlp(8, [5, 4], 3, seed=1), make_mlp(8, [5, 4], 3, seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert len(a) == 5 and len(make_mlp(8, [], 3, seed=0)) == 1
    with pytest.raises(ValueError, match="make_mlp: hidden must be an integer >= 1"):
        make_mlp(8, 0, 3, seed=0)
    with pytest.raises(ValueError, match="make_mlp: seed must be an integer >= 0"):
        make_mlp(8, 4, 3, seed=-1)


def test_training_is_deterministic_and_reduces_the_loss() -> None:
    x, y = toy_data()
    runs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        net = make_mlp(8, 16, 3, seed=0)
        hist = train_classifier(net, x, y, epochs=15, batch_size=64, lr=1e-2, seed=0,
                                x_test=x[:100], y_test=y[:100])
        assert torch.get_num_threads() == threads  # restored
        runs.append((hist, [p.detach().clone() for p in net.parameters()]))
    torch.set_num_threads(1)
    (h1, p1), (h2, p2) = runs
    assert h1 == h2  # bit-identical history on 1 and 2 threads
    assert all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert h1.train_loss[-1] < 0.5 * h1.train_loss[0]
    assert len(h1.test_accuracy) == len(h1.test_nll) == 15 and h1.test_accuracy[-1] > 0.8
    # a custom loss sees (logits, y, x); another seed shuffles differently
    seen = {}

    def loss_fn(logits, yb, xb):
        seen["shapes"] = (tuple(logits.shape), tuple(yb.shape), tuple(xb.shape))
        return F.cross_entropy(logits, yb)

    h3 = train_classifier(make_mlp(8, 16, 3, seed=0), x, y, epochs=2, batch_size=64,
                          lr=1e-2, seed=1, loss_fn=loss_fn)
    assert seen["shapes"] == ((300 - 4 * 64, 3), (300 - 4 * 64,), (300 - 4 * 64, 8))
    assert h3.train_loss[0] != h1.train_loss[0] and h3.test_accuracy == []


def test_train_classifier_rejects_bad_arguments() -> None:
    x, y = toy_data(20)
    net = make_mlp(8, 4, 3, seed=0)
    kw = {"epochs": 1, "batch_size": 8, "lr": 1e-2, "seed": 0}
    with pytest.raises(ValueError, match="train_classifier: x must be a 2-D floating-point"):
        train_classifier(net, x.numpy(), y, **kw)
    with pytest.raises(ValueError, match="train_classifier: x has 20 examples but y has 19"):
        train_classifier(net, x, y[:19], **kw)
    with pytest.raises(ValueError, match="train_classifier: y must be a 1-D integer"):
        train_classifier(net, x, y.float(), **kw)
    with pytest.raises(ValueError, match="train_classifier: epochs must be an integer >= 1"):
        train_classifier(net, x, y, **{**kw, "epochs": 0})
    with pytest.raises(ValueError, match="train_classifier: lr must be > 0"):
        train_classifier(net, x, y, **{**kw, "lr": -1.0})
    with pytest.raises(ValueError, match="train_classifier: give both x_test and y_test"):
        train_classifier(net, x, y, x_test=x, **kw)
    with pytest.raises(ValueError, match="train_classifier: the loss is not finite"):
        train_classifier(net, x, y, loss_fn=lambda lo, yb, xb: lo.sum() * math.inf, **kw)


def test_single_thread_restores_on_error() -> None:
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), single_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_classifier_metrics_and_predict() -> None:
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.1]])
    y = torch.tensor([0, 1, 1, 2])
    m = classifier_metrics(logits, y)
    q = torch.softmax(logits.double(), -1)
    assert m.accuracy == 0.75
    # NLL of one-hot targets = mean KL(one-hot || q) = mean cross-entropy
    onehot = np.eye(3)[y.numpy()]
    assert m.nll == pytest.approx(float(kl_divergence(onehot, q.numpy()).mean()), rel=1e-12)
    conf = q.max(-1).values.numpy()
    assert m.confidence == pytest.approx(conf.mean(), rel=1e-12)
    # with one bin, ECE = |accuracy - mean confidence|
    m1 = classifier_metrics(logits, y, n_bins=1)
    assert m1.ece == pytest.approx(abs(0.75 - conf.mean()), rel=1e-12)
    # brute-force binned ECE
    bins = np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9)
    correct = (q.argmax(-1) == y).numpy()
    ece = sum((bins == b).mean() * abs(correct[bins == b].mean() - conf[bins == b].mean())
              for b in range(10) if (bins == b).any())
    assert m.ece == pytest.approx(ece, rel=1e-12)
    net = make_mlp(3, 4, 3, seed=0)
    out = predict(net, logits)
    assert not out.requires_grad and net.training
    with pytest.raises(ValueError, match=r"classifier_metrics: labels must be in \[0, 3\)"):
        classifier_metrics(logits, y + 1)
