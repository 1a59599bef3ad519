"""Tests of lessons_src.continuous against closed forms, scipy and explicit sums."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch
from scipy import integrate, optimize

from lessons_src import (
    ReverseKLFit,
    fit_normal_reverse_kl,
    kl_mixture_normal,
    kl_normal,
    kl_normal_mixture,
    kl_quad,
    mixture_logpdf,
    mixture_moments,
)

# the chapter's mixture: two well-separated modes of unequal weight and width
W, M, S = [0.6, 0.4], [-2.0, 2.0], [0.7, 0.5]


def t(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def normal_logpdf(mu: float, sigma: float):
    """log N(x; mu, sigma^2) as a vectorised function (independent of lessons_src)."""
    c = -math.log(sigma) - 0.5 * math.log(2 * math.pi)
    return lambda x: c - 0.5 * ((x - mu) / sigma) ** 2


def mix(w, m, s):
    return lambda x: mixture_logpdf(x, w, m, s)


def random_mixture(rng: np.random.Generator, k: int):
    return rng.dirichlet(np.ones(k)), rng.uniform(-4, 4, k), rng.uniform(0.3, 1.5, k)


# -- mixture_logpdf -------------------------------------------------------------------------
def test_mixture_logpdf_one_component_is_scipy_norm() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        m, s = rng.normal(0, 3), math.exp(rng.uniform(-3, 3))
        x = rng.normal(m, 5 * s, size=(4, 5))
        got = mixture_logpdf(x, [1.0], [m], [s])
        assert got.shape == (4, 5)
        np.testing.assert_allclose(got, scipy.stats.norm.logpdf(x, m, s), rtol=1e-13)
    assert type(mixture_logpdf(0.3, [1.0], [0.0], [1.0])) is np.float64


def test_mixture_logpdf_is_the_explicit_sum() -> None:
    rng = np.random.default_rng(1)
    w, m, s = random_mixture(rng, 3)
    x = np.linspace(-8, 8, 101)
    explicit = np.log(sum(wk * scipy.stats.norm.pdf(x, mk, sk)
                          for wk, mk, sk in zip(w, m, s, strict=True)))
    np.testing.assert_allclose(mixture_logpdf(x, w, m, s), explicit, rtol=1e-12)
    # a zero weight drops its component
    np.testing.assert_allclose(mixture_logpdf(x, [0.0, 1.0], [5.0, m[0]], [1.0, s[0]]),
                               scipy.stats.norm.logpdf(x, m[0], s[0]), rtol=1e-13)


def test_mixture_logpdf_tails_do_not_underflow() -> None:
    x = np.array([-1e3, 1e3])
    got = mixture_logpdf(x, W, M, S)
    with np.errstate(divide="ignore"):
        naive = np.log(sum(w * scipy.stats.norm.pdf(x, m, s)
                           for w, m, s in zip(W, M, S, strict=True)))
    assert np.isneginf(naive).all() and np.isfinite(got).all()
    # far out the widest component dominates: log(w) + log N(x; m, s^2)
    ref = math.log(0.6) + scipy.stats.norm.logpdf(1e3, -2.0, 0.7)
    assert got[1] == pytest.approx(ref, rel=1e-12)


def test_mixture_logpdf_integrates_to_one() -> None:
    total, _ = integrate.quad(lambda x: np.exp(mixture_logpdf(x, W, M, S)), -np.inf, np.inf,
                              points=None, epsabs=1e-13)
    parts = sum(integrate.quad(lambda x: np.exp(mixture_logpdf(x, W, M, S)), a, b,
                               epsabs=1e-13)[0]
                for a, b in [(-np.inf, -2), (-2, 2), (2, np.inf)])
    assert parts == pytest.approx(1.0, abs=1e-11)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_mixture_logpdf_torch_and_gradcheck() -> None:
    x = np.linspace(-4, 4, 9)
    got = mixture_logpdf(t(x), W, M, S)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), mixture_logpdf(x, W, M, S), rtol=1e-14)

    def f(xx, logits, means, log_sigmas):  # weights through a softmax: they sum to 1
        return mixture_logpdf(xx, torch.softmax(logits, 0), means, log_sigmas.exp())

    args = [t(v).requires_grad_() for v in (x, [0.2, -0.1, 0.0], [-1.0, 0.5, 2.0],
                                            [0.1, -0.3, 0.4])]
    assert torch.autograd.gradcheck(f, args)


def test_no_torch_at_import() -> None:
    code = ("import sys, lessons_src.continuous as c; c.mixture_logpdf(0.0, [1.0], [0.0], "
            "[1.0]); c.kl_normal_mixture(0.0, 1.0, [1.0], [0.0], [1.0]); "
            "assert 'torch' not in sys.modules, 'torch was imported by lessons_src'")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- mixture_moments ------------------------------------------------------------------------
def numerical_moments(w, m, s) -> tuple[float, float]:
    """Mean and standard deviation of the mixture by numerical integration."""
    def dens(x):
        return np.exp(mixture_logpdf(x, w, m, s))

    pieces = [(-np.inf, -4.0), (-4.0, 4.0), (4.0, np.inf)]
    m1 = sum(integrate.quad(lambda x: x * dens(x), a, b, epsabs=1e-13)[0] for a, b in pieces)
    m2 = sum(integrate.quad(lambda x: (x - m1) ** 2 * dens(x), a, b, epsabs=1e-13)[0]
             for a, b in pieces)
    return m1, math.sqrt(m2)


def test_mixture_moments_match_numerical_integrals() -> None:
    rng = np.random.default_rng(2)
    for k in (1, 2, 3):
        w, m, s = random_mixture(rng, k)
        m1, sd = numerical_moments(w, m, s)
        mean, std = mixture_moments(w, m, s)
        assert type(mean) is np.float64 and type(std) is np.float64
        assert mean == pytest.approx(m1, abs=1e-10)
        assert std == pytest.approx(sd, rel=1e-10)
    mean, std = mixture_moments(W, M, S)
    assert mean == pytest.approx(-0.4, rel=1e-14)
    assert std**2 == pytest.approx(0.6 * 0.49 + 0.4 * 0.25 + 0.6 * 1.6**2 + 0.4 * 2.4**2)


def test_mixture_moments_torch() -> None:
    m = t(M).requires_grad_()
    _, std = mixture_moments(W, m, S)
    assert isinstance(std, torch.Tensor)
    std.backward()
    std = std.detach()
    # d std / d m_k = w_k (m_k - mean) / std
    ref = np.array(W) * (np.array(M) + 0.4) / std.item()
    np.testing.assert_allclose(m.grad.numpy(), ref, rtol=1e-12)


# -- kl_quad --------------------------------------------------------------------------------
def test_kl_quad_matches_kl_normal() -> None:
    rng = np.random.default_rng(3)
    for _ in range(150):
        mp, mq = rng.normal(0, 3, 2)
        sp, sq = np.exp(rng.uniform(-2.5, 2.0, 2))
        got = kl_quad(normal_logpdf(mp, sp), normal_logpdf(mq, sq), points=[mp, mq])
        ref = kl_normal(mp, sp, mq, sq)
        assert type(got) is np.float64
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-11)


def test_kl_quad_without_points_and_with_identical_densities() -> None:
    assert kl_quad(normal_logpdf(0, 1), normal_logpdf(0.5, 2)) == pytest.approx(
        kl_normal(0, 1, 0.5, 2), rel=1e-10)
    assert kl_quad(mix(W, M, S), mix(W, M, S), points=M) == pytest.approx(0.0, abs=1e-14)


def test_kl_quad_finite_interval_and_support() -> None:
    # P = Uniform(0, 1), Q = Beta(2, 2): KL = -∫ log(6 x (1 - x)) dx = 2 - log 6
    def logu(x):
        return np.zeros_like(x)

    def logbeta(x):
        with np.errstate(divide="ignore"):
            return np.log(6 * x * (1 - x))

    assert kl_quad(logu, logbeta, 0.0, 1.0) == pytest.approx(2 - math.log(6), rel=1e-10)
    # Q = Uniform(-1, 1) rules out the tails of P = N(0, 1): infinite divergence
    def logq_box(x):
        return np.where(np.abs(x) <= 1, -math.log(2), -np.inf)

    assert kl_quad(normal_logpdf(0, 1), logq_box) == np.inf
    # the other way round it is finite: q = 0 outside [-1, 1] contributes nothing
    def logp_box(x):
        return np.where(np.abs(x) <= 1, -math.log(2), -np.inf)

    ref = integrate.quad(lambda x: 0.5 * (-math.log(2) - normal_logpdf(0, 1)(x)), -1, 1)[0]
    assert kl_quad(logp_box, normal_logpdf(0, 1), points=[-1, 1]) == pytest.approx(ref,
                                                                                   rel=1e-9)


def test_kl_quad_mixtures_agree_with_the_grid_functions() -> None:
    rng = np.random.default_rng(4)
    for _ in range(40):
        w, m, s = random_mixture(rng, int(rng.integers(1, 4)))
        mu, sigma = rng.uniform(-5, 5), math.exp(rng.uniform(-2.5, 1.5))
        pts = [*m, mu]
        fwd = kl_quad(mix(w, m, s), normal_logpdf(mu, sigma), points=pts)
        rev = kl_quad(normal_logpdf(mu, sigma), mix(w, m, s), points=pts)
        assert kl_mixture_normal(w, m, s, mu, sigma) == pytest.approx(fwd, rel=1e-8)
        assert kl_normal_mixture(mu, sigma, w, m, s) == pytest.approx(rev, rel=1e-8)


# -- kl_normal_mixture and kl_mixture_normal ------------------------------------------------
def test_grid_kls_with_one_component_are_kl_normal() -> None:
    rng = np.random.default_rng(5)
    mp, mq = rng.normal(0, 2, (2, 200))
    sp, sq = np.exp(rng.uniform(-2, 2, (2, 200)))
    for i in range(200):
        assert kl_normal_mixture(mq[i], sq[i], [1.0], [mp[i]], [sp[i]]) == pytest.approx(
            kl_normal(mq[i], sq[i], mp[i], sp[i]), rel=1e-10, abs=1e-12)
        assert kl_mixture_normal([1.0], [mp[i]], [sp[i]], mq[i], sq[i]) == pytest.approx(
            kl_normal(mp[i], sp[i], mq[i], sq[i]), rel=1e-10, abs=1e-12)


def test_grid_kls_broadcast() -> None:
    mu = np.linspace(-3, 3, 7)[:, None]
    sigma = np.array([0.3, 0.7, 1.5, 3.0])
    rev = kl_normal_mixture(mu, sigma, W, M, S)
    fwd = kl_mixture_normal(W, M, S, mu, sigma)
    assert rev.shape == fwd.shape == (7, 4)
    for i, j in [(0, 0), (3, 2), (6, 3)]:
        assert rev[i, j] == pytest.approx(kl_normal_mixture(mu[i, 0], sigma[j], W, M, S),
                                          rel=1e-13)
        assert fwd[i, j] == pytest.approx(kl_mixture_normal(W, M, S, mu[i, 0], sigma[j]),
                                          rel=1e-13)
    # an explicit grid of the same size gives the same value
    assert kl_normal_mixture(0.0, 3.0, W, M, S, n_points=4001) == pytest.approx(
        rev[3, 3], rel=1e-10)


def test_grid_kls_torch_and_gradcheck() -> None:
    mu, sigma = t([-1.0, 0.5]).requires_grad_(), t([0.8, 1.6]).requires_grad_()
    w_logits = t([0.3, -0.2]).requires_grad_()
    means, sigmas = t(M).requires_grad_(), t(S).requires_grad_()

    def rev(mu, sigma, w_logits, means, sigmas):
        return kl_normal_mixture(mu, sigma, torch.softmax(w_logits, 0), means, sigmas,
                                 n_points=401)

    def fwd(mu, sigma, w_logits, means, sigmas):
        return kl_mixture_normal(torch.softmax(w_logits, 0), means, sigmas, mu, sigma,
                                 n_points=401)

    args = (mu, sigma, w_logits, means, sigmas)
    assert torch.autograd.gradcheck(rev, args)
    assert torch.autograd.gradcheck(fwd, args)
    got = kl_normal_mixture(mu.detach(), sigma.detach(), W, M, S)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), kl_normal_mixture([-1.0, 0.5], [0.8, 1.6], W, M,
                                                              S), rtol=1e-13)


# -- the forward optimum is moment matching --------------------------------------------------
def test_forward_kl_optimum_is_moment_matching() -> None:
    mean, std = mixture_moments(W, M, S)

    def fwd(theta):  # forward KL by quadrature, independent of the moment formulas
        return kl_quad(mix(W, M, S), normal_logpdf(theta[0], math.exp(theta[1])),
                       points=[*M, theta[0]])

    theta = np.array([mean, math.log(std)])
    h = 1e-4
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        assert abs((fwd(theta + e) - fwd(theta - e)) / (2 * h)) < 1e-7
    best = fwd(theta)
    assert best == pytest.approx(kl_mixture_normal(W, M, S, mean, std), rel=1e-9)
    rng = np.random.default_rng(6)
    for d in rng.normal(0, 0.05, (10, 2)):
        assert fwd(theta + d) > best
    res = optimize.minimize(fwd, [0.0, 0.0], method="Nelder-Mead",
                            options={"xatol": 1e-7, "fatol": 1e-13})
    np.testing.assert_allclose(res.x, theta, atol=1e-5)


# -- the reverse fit ------------------------------------------------------------------------
def test_reverse_fit_finds_the_mode_near_its_start() -> None:
    w, m, s = [0.5, 0.5], [-4.0, 4.0], [0.5, 0.5]  # well separated
    for mu0, mode in zip((-1.0, 1.0), m, strict=True):
        fit = fit_normal_reverse_kl(w, m, s, mu0, 1.0, steps=300, lr=0.05)
        assert isinstance(fit, ReverseKLFit)
        assert fit.mu == pytest.approx(mode, abs=1e-4)
        assert fit.sigma == pytest.approx(0.5, abs=1e-4)
        assert fit.kl == pytest.approx(math.log(2), abs=1e-8)
        assert fit.grad_norm < 1e-4
        assert fit.path.shape == (301, 2) and fit.losses.shape == (301,)
        assert fit.losses[-1] < fit.losses[0]
        np.testing.assert_array_equal(fit.path[0], [mu0, 1.0])


def test_reverse_fit_is_a_local_minimum_and_deterministic() -> None:
    fit = fit_normal_reverse_kl(W, M, S, 0.0, 1.0, steps=300)
    again = fit_normal_reverse_kl(W, M, S, 0.0, 1.0, steps=300)
    np.testing.assert_array_equal(fit.path, again.path)
    np.testing.assert_array_equal(fit.losses, again.losses)
    # an independent optimiser on the quadrature objective, started at the fit, stays
    def rev(theta):
        return kl_quad(normal_logpdf(theta[0], math.exp(theta[1])), mix(W, M, S),
                       points=[*M, theta[0]])

    res = optimize.minimize(rev, [fit.mu, math.log(fit.sigma)], method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-14})
    assert res.x[0] == pytest.approx(fit.mu, abs=1e-5)
    assert math.exp(res.x[1]) == pytest.approx(fit.sigma, abs=1e-5)
    assert rev([fit.mu, math.log(fit.sigma)]) == pytest.approx(fit.kl, abs=1e-9)
    # near the heavier, wider mode, with KL close to -log 0.6
    assert fit.mu == pytest.approx(-2.0, abs=0.01) and fit.sigma == pytest.approx(0.7, abs=0.01)
    assert fit.kl == pytest.approx(-math.log(0.6), abs=0.01)


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mixture_logpdf(0.0, [0.5, 0.4], [0, 1], [1, 1]),
         r"mixture_logpdf: weights must sum to 1 \(within 1e-06\); the distribution sums to"),
        (lambda: mixture_logpdf(0.0, [1.5, -0.5], [0, 1], [1, 1]),
         r"mixture_logpdf: weights has a negative entry \(-0\.5\)"),
        (lambda: mixture_logpdf(0.0, [0.5, 0.5], [0, 1], [1, -1]),
         r"mixture_logpdf: sigmas must be > 0; got -1\.0 \(at index 1\)"),
        (lambda: mixture_logpdf(0.0, [0.5, 0.5], [0, 1], [0, 1]),
         r"mixture_logpdf: sigmas must be > 0; got 0\.0 \(at index 0\)"),
        (lambda: mixture_logpdf(0.0, [0.5, 0.5], [0, np.nan], [1, 1]),
         r"mixture_logpdf: means has a NaN entry \(at index 1\)"),
        (lambda: mixture_logpdf(0.0, [0.5, 0.5], [0, 1, 2], [1, 1]),
         r"mixture_logpdf: weights, means and sigmas must have the same length; got 2, 3 "
         r"and 2"),
        (lambda: mixture_logpdf(0.0, [[1.0]], [0], [1]),
         r"mixture_logpdf: weights must be 1-D \(one entry per component\); got shape"),
        (lambda: mixture_logpdf(0.0, [], [], []), r"mixture_logpdf: weights is empty"),
        (lambda: mixture_logpdf([0.0, np.inf], [1.0], [0], [1]),
         r"mixture_logpdf: x has an infinite entry \(at index 1\)"),
        (lambda: mixture_logpdf(np.zeros(0), [1.0], [0], [1]), r"mixture_logpdf: x is empty"),
        (lambda: mixture_moments([0.6, 0.6], [0, 1], [1, 1]),
         r"mixture_moments: weights must sum to 1"),
        (lambda: mixture_moments([1.0], [0], [np.inf]),
         r"mixture_moments: sigmas has an infinite entry"),
        (lambda: kl_quad("not a function", np.negative),
         r"kl_quad: logp must be a function of x; got str"),
        (lambda: kl_quad(np.negative, None), r"kl_quad: logq must be a function of x"),
        (lambda: kl_quad(np.negative, np.negative, 1.0, 1.0),
         r"kl_quad: lower must be < upper; got lower=1\.0, upper=1\.0"),
        (lambda: kl_quad(np.negative, np.negative, np.nan, 1.0), r"kl_quad: lower must be <"),
        (lambda: kl_quad(np.negative, np.negative, points=[0.0, np.inf]),
         r"kl_quad: points must be finite"),
        (lambda: kl_quad(lambda x: np.full_like(x, np.nan), normal_logpdf(0, 1)),
         r"kl_quad: logp returned NaN at x ="),
        (lambda: kl_normal_mixture(0.0, -1.0, W, M, S),
         r"kl_normal_mixture: sigma must be > 0; got -1\.0"),
        (lambda: kl_normal_mixture([0.0, 1.0], [1.0, 1.0, 1.0], W, M, S),
         r"kl_normal_mixture: the shapes of mu and sigma do not broadcast"),
        (lambda: kl_normal_mixture(0.0, 1.0, W, M, S, n_points=100),
         r"kl_normal_mixture: n_points must be None or an odd integer >= 3; got 100"),
        (lambda: kl_normal_mixture(0.0, 1.0, [0.7, 0.4], M, S),
         r"kl_normal_mixture: weights must sum to 1"),
        (lambda: kl_mixture_normal(W, M, S, np.nan, 1.0),
         r"kl_mixture_normal: mu has a NaN entry"),
        (lambda: kl_mixture_normal(W, M, [0.7, 0.0], 0.0, 1.0),
         r"kl_mixture_normal: sigmas must be > 0; got 0\.0 \(at index 1\)"),
        (lambda: fit_normal_reverse_kl(W, M, S, 0.0, 0.0),
         r"fit_normal_reverse_kl: sigma0 must be finite and > 0; got 0\.0"),
        (lambda: fit_normal_reverse_kl(W, M, S, np.nan, 1.0),
         r"fit_normal_reverse_kl: mu0 must be finite; got nan"),
        (lambda: fit_normal_reverse_kl(W, M, S, "a", 1.0),
         r"fit_normal_reverse_kl: mu0 must be a number; got 'a'"),
        (lambda: fit_normal_reverse_kl(W, M, S, 0.0, 1.0, steps=0),
         r"fit_normal_reverse_kl: steps must be a positive integer; got 0"),
        (lambda: fit_normal_reverse_kl(W, M, S, 0.0, 1.0, lr=-0.1),
         r"fit_normal_reverse_kl: lr must be finite and > 0; got -0\.1"),
        (lambda: fit_normal_reverse_kl([0.6, 0.6], M, S, 0.0, 1.0),
         r"fit_normal_reverse_kl: weights must sum to 1"),
        (lambda: fit_normal_reverse_kl(W, M, S, 0.0, 1.0, n_points=4),
         r"fit_normal_reverse_kl: n_points must be None or an odd integer >= 3"),
    ],
)
def test_bad_input(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()
