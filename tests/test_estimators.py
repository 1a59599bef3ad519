"""Tests of lessons_src.estimators: the k1/k2/k3 Monte-Carlo KL estimators."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from lessons_src import KLEstimates, kl_estimators, kl_normal

FAST = settings(max_examples=100, deadline=None)


def test_values_match_definitions() -> None:
    rng = np.random.default_rng(0)
    logp, logq = rng.normal(-3, 2, 1000), rng.normal(-3, 2, 1000)
    est = kl_estimators(logp, logq)
    assert isinstance(est, KLEstimates) and est._fields == ("k1", "k2", "k3")
    r = np.exp(logp) / np.exp(logq)  # the ratio computed the naive way
    np.testing.assert_allclose(est.k1, -np.log(r), rtol=1e-12)
    np.testing.assert_allclose(est.k2, 0.5 * np.log(r) ** 2, rtol=1e-11)
    np.testing.assert_allclose(est.k3, (r - 1) - np.log(r), rtol=1e-9, atol=1e-14)


def test_k3_accurate_for_nearly_equal_densities() -> None:
    """expm1: (r - 1) - log r for log r = 1e-9 is ~5e-19, which the naive form rounds away.

    expm1(x) - x still cancels: its relative error is about 2 eps / |x| (4e-7 at 1e-9),
    against ~eps / (x^2 / 2) (2e2 at 1e-9) for (exp(x) - 1) - x.
    """
    mpmath.mp.dps = 50
    for logr in (1e-9, -3e-8, 1e-5, 0.3):
        exact = float(mpmath.expm1(mpmath.mpf(logr)) - mpmath.mpf(logr))
        rel = max(1e-14, 4.5e-16 / abs(logr))
        k3 = kl_estimators(logr, 0.0).k3
        assert k3 == pytest.approx(exact, rel=rel, abs=0)
        k3_t = kl_estimators(torch.tensor(logr, dtype=torch.float64), 0.0).k3
        assert k3_t.item() == pytest.approx(exact, rel=rel, abs=0)
        naive = (math.exp(logr) - 1) - logr
        if abs(logr) < 1e-7:
            # the test can tell the difference
            assert naive != pytest.approx(exact, rel=1e-3, abs=0)


def test_backends_and_shapes() -> None:
    est = kl_estimators(0.5, 0.0)
    assert all(type(k) is np.float64 for k in est)
    est = kl_estimators(np.zeros((3, 1)), np.zeros(4))
    assert all(k.shape == (3, 4) for k in est)
    lp = torch.tensor([-1.0, -2.0], requires_grad=True)
    est = kl_estimators(lp, torch.tensor([-1.5, -1.5]))
    assert all(isinstance(k, torch.Tensor) and k.dtype == torch.float32 for k in est)
    est.k3.sum().backward()
    # d k3 / d logp = r - 1
    np.testing.assert_allclose(lp.grad.numpy(), np.expm1([0.5, -0.5]), rtol=1e-6)
    inf = kl_estimators([-np.inf], [0.0])  # p(x) = 0: log r = -inf
    assert inf.k1[0] == math.inf and inf.k3[0] == math.inf


@FAST
@given(st.floats(-700, 700), st.floats(-700, 700))
def test_k2_k3_nonnegative(lp, lq) -> None:
    est = kl_estimators(lp, lq)
    assert est.k2 >= 0.0
    assert est.k3 >= 0.0
    assert est.k1 == pytest.approx(lq - lp, abs=1e-12)


@FAST
@given(st.floats(-1.0, 1.0), st.floats(0.6, 1.1))
def test_k3_mean_converges_to_exact_kl(mu, sigma) -> None:
    """x ~ q = N(0, 1), p = N(mu, sigma): the mean of k3 estimates KL(q || p).

    With sigma <= 1.1 < 2/sqrt(3) the ratio p/q has finite fourth moment under q, so k3
    has finite variance and its sample standard deviation is a reliable estimate: the
    sample mean of n = 20,000 draws lies within 5 standard errors of the exact value
    except with probability ~6e-7 (CLT), i.e. < 1e-4 over all examples. The seed is
    fixed, so the test is deterministic.
    """
    n = 20_000
    x = np.random.default_rng(12345).standard_normal(n)
    est = kl_estimators(norm.logpdf(x, mu, sigma), norm.logpdf(x))
    exact = kl_normal(0.0, 1.0, mu, sigma)
    for k in (est.k1, est.k3):
        se = k.std(ddof=1) / math.sqrt(n)
        assert abs(k.mean() - exact) <= 5 * se + 1e-12
    # k3's variance is smaller than k1's when p is close to q (why PPO/RLHF use it)
    if 1e-3 < exact < 0.1:
        assert est.k3.std() < est.k1.std()


def test_k3_mean_converges_with_a_meaningful_tolerance() -> None:
    """The tolerance above is small enough to detect a wrong estimator."""
    n = 200_000
    x = np.random.default_rng(7).standard_normal(n)
    est = kl_estimators(norm.logpdf(x, 0.5, 0.9), norm.logpdf(x))
    exact = kl_normal(0.0, 1.0, 0.5, 0.9)
    se = est.k3.std(ddof=1) / math.sqrt(n)
    assert 5 * se < 0.02 * exact
    assert abs(est.k3.mean() - exact) <= 5 * se
    # KL(p || q) (the other direction) is clearly rejected by the same tolerance
    assert abs(est.k3.mean() - kl_normal(0.5, 0.9, 0.0, 1.0)) > 5 * se
    # k2 is biased: its mean is off by much more than the standard error
    assert abs(est.k2.mean() - exact) > 5 * est.k2.std(ddof=1) / math.sqrt(n)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.0, np.nan], [0.0, 0.0]), r"kl_estimators: logp has a NaN entry \(at index 1\)"),
        (([0.0, np.inf], [0.0, 0.0]), r"kl_estimators: logp has an infinite entry \(at index 1\)"),
        (([0.0, 0.0], [-np.inf, 0.0]), r"kl_estimators: logq has an infinite entry"),
        (([0.0, 0.0], [np.nan, 0.0]), r"kl_estimators: logq has a NaN entry"),
        ((np.zeros(2), np.zeros(3)), r"kl_estimators: the shapes of logp and logq do not"),
        (([], []), r"kl_estimators: logp is empty"),
    ],
)
def test_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        kl_estimators(*args)
