"""Tests of lessons_src.gan: the optimal discriminator, the value function, the JS
estimator, and deterministic GAN training."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import scipy.stats
import torch
from scipy import integrate

from lessons_src import (
    gan_value,
    histogram_probs,
    js_divergence,
    mixture_bin_probs,
    optimal_discriminator,
    saturation_experiment,
    train_gan,
)

LOG4 = math.log(4)
MIX = ([0.3, 0.5, 0.2], [-2.5, 0.0, 2.0], [0.4, 0.6, 0.4])


# -- the game on a discrete support --------------------------------------------------------
def test_value_at_optimal_discriminator_is_minus_log4_plus_2js_discrete() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 100):
        for batch in ((), (7,), (2, 3)):
            p = rng.dirichlet(np.full(n, 0.5), size=batch or None)
            q = rng.dirichlet(np.full(n, 0.5), size=batch or None)
            if n > 2:  # supports that differ
                p[..., 0], q[..., 1] = 0.0, 0.0
                p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
            v = gan_value(p, q, optimal_discriminator(p, q))
            np.testing.assert_allclose(v, -LOG4 + 2 * js_divergence(p, q), rtol=0, atol=1e-13)
    # extremes: identical distributions give -log 4, disjoint ones 0
    assert gan_value([0.2, 0.8], [0.2, 0.8], [0.5, 0.5]) == pytest.approx(-LOG4, abs=1e-15)
    p, q = [1.0, 0.0], [0.0, 1.0]
    assert gan_value(p, q, optimal_discriminator(p, q)) == 0.0


def test_value_at_optimal_discriminator_quadrature() -> None:
    """Densities on a grid (Riemann sums) against adaptive quadrature of the JS."""
    x, dx = np.linspace(-12, 14, 26001, retstep=True)
    w, m, s = (np.array(a) for a in MIX)

    def p_pdf(t):
        return (w * scipy.stats.norm.pdf((np.asarray(t)[..., None] - m) / s) / s).sum(-1)

    def q_pdf(t):
        return scipy.stats.norm.pdf(t, 1.0, 1.5)

    def js_integrand(t):
        a, b = p_pdf(t), q_pdf(t)
        mm = 0.5 * (a + b)
        return 0.5 * (a * np.log(a / mm) + b * np.log(b / mm))

    js, _ = integrate.quad(js_integrand, -12, 14, points=[-2.5, 0.0, 1.0, 2.0], limit=200,
                           epsabs=1e-13, epsrel=1e-13)
    p, q = p_pdf(x), q_pdf(x)
    v = gan_value(p, q, optimal_discriminator(p, q), dx=dx)
    assert v == pytest.approx(-LOG4 + 2 * js, abs=1e-10)
    # the same on torch tensors
    tv = gan_value(torch.from_numpy(p), torch.from_numpy(q),
                   optimal_discriminator(torch.from_numpy(p), torch.from_numpy(q)), dx=dx)
    assert float(tv) == pytest.approx(-LOG4 + 2 * js, abs=1e-10)


def test_optimal_discriminator_maximises_the_value() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
        d_star = optimal_discriminator(p, q)
        best = gan_value(p, q, d_star)
        for eps in (1e-1, 1e-3):
            d = np.clip(d_star + eps * rng.normal(size=(200, 6)), 1e-12, 1 - 1e-12)
            assert (gan_value(p, q, d) <= best + 1e-15).all()
        # the derivative of V with respect to each D(x) vanishes at D*
        dt = torch.tensor(d_star, requires_grad=True)
        gan_value(torch.tensor(p), torch.tensor(q), dt).backward()
        np.testing.assert_allclose(dt.grad.numpy(), 0.0, atol=1e-12)


def test_optimal_discriminator_values_and_backends() -> None:
    d = optimal_discriminator([0.5, 0.3, 0.2, 0.0], [0.1, 0.3, 0.0, 0.0])
    np.testing.assert_allclose(d, [5 / 6, 0.5, 1.0, 0.5], rtol=1e-15)
    assert type(optimal_discriminator(0.3, 0.1)) is np.float64
    assert optimal_discriminator(0.3, 0.1) == pytest.approx(0.75, rel=1e-15)
    t = optimal_discriminator(torch.tensor([0.5, 0.0]), torch.tensor([0.5, 0.0]))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert t.tolist() == [0.5, 0.5]
    # broadcasting: one p against a batch of q
    got = optimal_discriminator([0.2, 0.8], [[0.2, 0.8], [0.8, 0.2]])
    np.testing.assert_allclose(got, [[0.5, 0.5], [0.2, 0.8]], rtol=1e-15)


def test_gan_value_conventions() -> None:
    # no data mass where D = 0: that term is 0, not -inf (0 log 0 = 0)
    assert gan_value([1.0, 0.0], [0.5, 0.5], [0.5, 0.0]) == pytest.approx(
        math.log(0.5) + 0.5 * math.log(0.5), rel=1e-15)
    # data mass where D = 0: -inf
    with np.errstate(all="raise"):
        assert gan_value([0.5, 0.5], [0.5, 0.5], [0.5, 0.0]) == -math.inf


# -- the JS estimator ----------------------------------------------------------------------
def test_mixture_bin_probs_exact_and_tails() -> None:
    edges = np.linspace(-5, 4, 91)
    probs = mixture_bin_probs(edges, *MIX)
    assert probs.shape == (92,) and probs.sum() == pytest.approx(1.0, abs=1e-14)
    w, m, s = (np.array(a) for a in MIX)
    cdf = (w * scipy.stats.norm.cdf((edges[:, None] - m) / s)).sum(-1)
    np.testing.assert_allclose(probs[1:-1], np.diff(cdf), atol=1e-15)
    # far tails: relative accuracy where 1 - cdf would cancel
    tail = mixture_bin_probs([30.0, 31.0], [1.0], [0.0], [1.0])
    assert tail[1] == pytest.approx(scipy.stats.norm.sf(30) - scipy.stats.norm.sf(31),
                                    rel=1e-10)
    assert tail[2] == pytest.approx(scipy.stats.norm.sf(31), rel=1e-10)


def test_histogram_probs_and_js_of_samples() -> None:
    assert histogram_probs([-2.0, -0.5, 0.2, 0.7, 5.0], [-1.0, 0.0, 1.0]).tolist() == [
        0.2, 0.2, 0.4, 0.2]
    assert histogram_probs(torch.tensor([0.0, 1.0]), [0.0, 1.0]).tolist() == [0.0, 0.5, 0.5]
    # samples of the data: the binned JS is the small sampling bias, about (B - 1)/(8n)
    rng = np.random.default_rng(2)
    w, m, s = (np.array(a) for a in MIX)
    n = 100_000
    k = rng.choice(3, size=n, p=w)
    x = rng.normal(m[k], s[k])
    edges = np.linspace(-5, 4, 91)
    probs = mixture_bin_probs(edges, w, m, s)
    js = js_divergence(probs, histogram_probs(x, edges))
    occupied = int((probs > 1e-4).sum())
    assert 0.3 * (occupied - 1) / (8 * n) < js < 3 * (occupied - 1) / (8 * n)


# -- training --------------------------------------------------------------------------------
def test_training_is_deterministic_and_leaves_global_state_alone() -> None:
    random.seed(5)
    torch.manual_seed(5)
    torch_state = torch.get_rng_state()
    py_state = random.getstate()
    threads = torch.get_num_threads()
    a = train_gan(*MIX, steps=120, eval_every=40)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert random.getstate() == py_state
    assert torch.get_num_threads() == threads
    torch.set_num_threads(2)
    try:
        b = train_gan(*MIX, steps=120, eval_every=40)
    finally:
        torch.set_num_threads(threads)
    for field in ("eval_steps", "js", "d_loss", "g_loss", "d_real", "d_fake"):
        assert getattr(a, field) == getattr(b, field), field
    assert a.eval_steps == [0, 40, 80, 120] and len(a.d_loss) == 120
    np.testing.assert_array_equal(a.sample(100, seed=3), b.sample(100, seed=3))
    c = train_gan(*MIX, steps=120, eval_every=40, seed=1)
    assert c.js != a.js


def test_js_decreases_on_an_easy_target() -> None:
    run = train_gan([1.0], [1.0], [0.5], steps=300, eval_every=100)
    assert run.js[-1] < 0.5 * run.js[0]
    assert run.js[-1] < 0.1
    for loss in ("minimax", "non_saturating"):
        r = train_gan([0.5, 0.5], [-1.0, 1.0], [0.5, 0.5], steps=300, eval_every=300,
                      loss=loss)
        assert r.loss == loss and r.js[-1] < 0.5 * r.js[0]


def test_result_helpers() -> None:
    run = train_gan(*MIX, steps=10, eval_every=5, eval_samples=500)
    x = run.sample(1000, seed=0)
    assert x.shape == (1000,) and x.dtype == np.float64
    d = run.discriminate(np.linspace(-3, 3, 7).reshape(7, 1))
    assert d.shape == (7, 1) and ((d > 0) & (d < 1)).all()
    assert run.data_probs.shape == (run.edges.size + 1,)
    # the recorded JS at the end is the estimator applied to the fixed evaluation noise
    assert 0.0 <= run.js[-1] <= math.log(2)


def test_saturation_experiment() -> None:
    rec = saturation_experiment(steps=150, record_every=50)
    assert rec.steps == [0, 50, 100, 150]
    assert rec.d_fake[-1] < 0.1 < rec.d_fake[0]
    assert abs(rec.grad_minimax[-1]) < 0.05 * abs(rec.grad_non_saturating[-1])
    assert rec.value[-1] > rec.value[0]
    again = saturation_experiment(steps=150, record_every=50)
    assert again == rec


# -- bad arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: optimal_discriminator([0.5, -0.1], [0.5, 0.5]),
         r"optimal_discriminator: p has a negative entry"),
        (lambda: optimal_discriminator([0.5, np.nan], [0.5, 0.5]),
         r"optimal_discriminator: p has a NaN entry"),
        (lambda: optimal_discriminator([0.5, 0.5], [0.5, 0.5, 0.0]),
         r"optimal_discriminator: the shapes of p and q do not broadcast"),
        (lambda: gan_value([0.5, 0.5], [0.5, 0.5], [0.5, 1.5]),
         r"gan_value: d must be a probability in \[0, 1\]"),
        (lambda: gan_value([0.5, 0.6], [0.5, 0.5], [0.5, 0.5]), r"gan_value: p must sum to 1"),
        (lambda: gan_value([0.5, 0.6], [0.5, 0.5], [0.5, 0.5], dx=0.0),
         r"gan_value: dx must be finite and > 0"),
        (lambda: gan_value([0.5, 0.5], [0.5, 0.5], [0.5, 0.5, 0.5]),
         r"gan_value: p and d must have the same number of outcomes"),
        (lambda: mixture_bin_probs([0.0, 0.0], [1.0], [0.0], [1.0]),
         r"mixture_bin_probs: edges must be strictly increasing"),
        (lambda: mixture_bin_probs([0.0, 1.0], [0.5, 0.6], [0.0, 1.0], [1.0, 1.0]),
         r"mixture_bin_probs: weights must sum to 1"),
        (lambda: mixture_bin_probs([0.0, 1.0], [1.0], [0.0], [0.0]),
         r"mixture_bin_probs: sigmas must be > 0"),
        (lambda: mixture_bin_probs([0.0, 1.0], [1.0], [0.0, 1.0], [1.0]),
         r"mixture_bin_probs: weights, means and sigmas must have the same length"),
        (lambda: histogram_probs([], [0.0, 1.0]), r"histogram_probs: x is empty"),
        (lambda: histogram_probs([np.inf], [0.0, 1.0]), r"histogram_probs: x has an infinite"),
        (lambda: train_gan(*MIX, loss="wasserstein"), r"train_gan: loss must be one of"),
        (lambda: train_gan(*MIX, steps=-1), r"train_gan: steps must be an integer >= 0"),
        (lambda: train_gan(*MIX, lr=0.0), r"train_gan: lr must be finite and > 0"),
        (lambda: train_gan(*MIX, seed=1.5), r"train_gan: seed must be an integer >= 0"),
        (lambda: train_gan(*MIX, edges=[1.0]), r"train_gan: edges must be 1-D with at least 2"),
        (lambda: saturation_experiment(shift=math.inf),
         r"saturation_experiment: shift must be a finite number"),
        (lambda: saturation_experiment(sigma=-1.0),
         r"saturation_experiment: sigma must be finite and > 0"),
    ],
)
def test_bad_arguments(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()
