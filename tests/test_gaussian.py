"""Tests of lessons_src.gaussian against torch.distributions, mpmath and each other."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal
from torch.distributions import kl_divergence as torch_kl

from lessons_src import kl_diag_normal, kl_mvn, kl_normal, vae_kl

RTOL = 1e-12


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


def random_spd(rng: np.random.Generator, batch: tuple[int, ...], d: int) -> np.ndarray:
    a = rng.standard_normal((*batch, d, d))
    c = a @ np.swapaxes(a, -1, -2) / d + 0.5 * np.eye(d)
    return 0.5 * (c + np.swapaxes(c, -1, -2))  # exactly symmetric


def mvn_reference(mp, cp, mq, cq) -> float:
    """Textbook formula with an explicit inverse and slogdet (independent of kl_mvn)."""
    d = len(mp)
    iq = np.linalg.inv(cq)
    diff = mq - mp
    return 0.5 * (np.trace(iq @ cp) + diff @ iq @ diff - d
                  + np.linalg.slogdet(cq)[1] - np.linalg.slogdet(cp)[1])


# -- kl_normal ------------------------------------------------------------------------------
def test_kl_normal_matches_torch() -> None:
    rng = np.random.default_rng(0)
    shape = (2000,)
    mp, mq = rng.normal(0, 2, shape), rng.normal(0, 2, shape)
    sp, sq = np.exp(rng.uniform(-2, 2, shape)), np.exp(rng.uniform(-2, 2, shape))
    ref = torch_kl(Normal(t(mp), t(sp)), Normal(t(mq), t(sq))).numpy()
    np.testing.assert_allclose(kl_normal(mp, sp, mq, sq), ref, rtol=RTOL)
    got = kl_normal(t(mp), t(sp), t(mq), t(sq))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ref, rtol=RTOL)


def test_kl_normal_broadcasting_and_scalars() -> None:
    out = kl_normal(0.0, 1.0, np.array([[0.0], [1.0]]), np.array([1.0, 2.0, 3.0]))
    assert out.shape == (2, 3)
    ref = torch_kl(Normal(0.0, 1.0), Normal(torch.tensor([[0.0], [1.0]]),
                                            torch.tensor([1.0, 2.0, 3.0])))
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-6)
    assert type(kl_normal(0, 1, 0, 1)) is np.float64 and kl_normal(0, 1, 0, 1) == 0.0
    assert kl_normal(0.0, 1.0, 1.0, 1.0) == pytest.approx(0.5, rel=RTOL)


def test_kl_normal_accurate_for_close_distributions() -> None:
    """Against mpmath: the textbook formula loses digits when sigma_p ~ sigma_q."""
    mpmath.mp.dps = 40
    for ratio in (1 + 1e-9, 1 - 1e-6, 1 + 1e-3):
        sp, sq = 2.0 * ratio, 2.0
        r = mpmath.mpf(sp) / mpmath.mpf(sq)
        exact = float(-mpmath.log(r) + (r**2 - 1) / 2)
        assert kl_normal(0.0, sp, 0.0, sq) == pytest.approx(exact, rel=1e-6, abs=0)
        got_t = kl_normal(torch.tensor(0.0, dtype=torch.float64), sp, 0.0, sq)
        assert got_t.item() == pytest.approx(exact, rel=1e-6, abs=0)


def test_kl_normal_gradients() -> None:
    args = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
            for v in ([0.3, -1.0], [0.7, 2.0], [0.0, 0.5], [1.5, 0.9])]
    assert torch.autograd.gradcheck(kl_normal, args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.0, 0.0, 0.0, 1.0), r"kl_normal: sigma_p must be > 0; got 0\.0"),
        ((0.0, 1.0, 0.0, [1.0, -2.0]), r"kl_normal: sigma_q must be > 0; got -2\.0 \(at index 1\)"),
        ((0.0, np.nan, 0.0, 1.0), r"kl_normal: sigma_p has a NaN entry"),
        ((0.0, 1.0, 0.0, np.inf), r"kl_normal: sigma_q has an infinite entry"),
        ((np.inf, 1.0, 0.0, 1.0), r"kl_normal: mu_p has an infinite entry"),
        ((0.0, 1.0, [np.nan], 1.0), r"kl_normal: mu_q has a NaN entry"),
        ((np.zeros(2), 1.0, np.zeros(3), 1.0),
         r"kl_normal: the shapes of mu_p, sigma_p, mu_q and sigma_q do not broadcast"),
        ((np.zeros(0), 1.0, 0.0, 1.0), r"kl_normal: mu_p is empty"),
    ],
)
def test_kl_normal_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        kl_normal(*args)


# -- kl_mvn ---------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 5, 20, 64])
def test_kl_mvn_matches_torch_and_textbook(d: int) -> None:
    rng = np.random.default_rng(d)
    for _ in range(5):
        mp, mq = rng.normal(size=d), rng.normal(size=d)
        cp, cq = random_spd(rng, (), d), random_spd(rng, (), d)
        ref = torch_kl(MultivariateNormal(t(mp), t(cp)), MultivariateNormal(t(mq), t(cq)))
        got = kl_mvn(mp, cp, mq, cq)
        assert type(got) is np.float64
        assert got == pytest.approx(ref.item(), rel=RTOL)
        assert got == pytest.approx(mvn_reference(mp, cp, mq, cq), rel=1e-9)
        got_t = kl_mvn(t(mp), t(cp), t(mq), t(cq))
        assert got_t.dtype == torch.float64 and got_t.ndim == 0
        assert got_t.item() == pytest.approx(ref.item(), rel=RTOL)


def test_kl_mvn_batched_and_broadcast() -> None:
    rng = np.random.default_rng(7)
    d = 4
    mp = rng.normal(size=(3, 1, d))
    cp = random_spd(rng, (2,), d)  # broadcasts to (3, 2)
    mq = rng.normal(size=(d,))
    cq = random_spd(rng, (3, 2), d)
    got = kl_mvn(mp, cp, mq, cq)
    assert got.shape == (3, 2)
    ref = torch_kl(MultivariateNormal(t(mp), t(cp)), MultivariateNormal(t(mq), t(cq)))
    np.testing.assert_allclose(got, ref.numpy(), rtol=RTOL)
    got_t = kl_mvn(t(mp), t(cp), t(mq), t(cq))
    np.testing.assert_allclose(got_t.numpy(), ref.numpy(), rtol=RTOL)
    assert kl_mvn(mq, cq[1, 1], mq, cq[1, 1]) == pytest.approx(0.0, abs=1e-13)


def test_kl_mvn_reduces_to_kl_normal_and_diag() -> None:
    rng = np.random.default_rng(8)
    mp, mq = rng.normal(size=6), rng.normal(size=6)
    vp, vq = np.exp(rng.normal(size=6)), np.exp(rng.normal(size=6))
    ref = kl_normal(mp, np.sqrt(vp), mq, np.sqrt(vq)).sum()
    assert kl_mvn(mp, np.diag(vp), mq, np.diag(vq)) == pytest.approx(ref, rel=1e-12)
    diag = kl_diag_normal(mp, np.log(vp), mq, np.log(vq))
    assert diag == pytest.approx(ref, rel=1e-12)


def test_gradcheck_kl_mvn() -> None:
    g = torch.Generator().manual_seed(0)
    d = 3
    ap = torch.randn(d, d, generator=g, dtype=torch.float64, requires_grad=True)
    aq = torch.randn(d, d, generator=g, dtype=torch.float64, requires_grad=True)
    mp = torch.randn(d, generator=g, dtype=torch.float64, requires_grad=True)
    mq = torch.randn(d, generator=g, dtype=torch.float64, requires_grad=True)
    eye = torch.eye(d, dtype=torch.float64)

    def f(mp, ap, mq, aq):
        # covariances built from free parameters stay symmetric under gradcheck's steps
        return kl_mvn(mp, ap @ ap.mT + eye, mq, aq @ aq.mT + eye)

    assert torch.autograd.gradcheck(f, (mp, ap, mq, aq))


def test_kl_mvn_float32_tensors() -> None:
    rng = np.random.default_rng(9)
    cp, cq = random_spd(rng, (), 8), random_spd(rng, (), 8)
    m = np.zeros(8)
    got = kl_mvn(torch.tensor(m, dtype=torch.float32), torch.tensor(cp, dtype=torch.float32),
                 torch.tensor(m, dtype=torch.float32), torch.tensor(cq, dtype=torch.float32))
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(kl_mvn(m, cp, m, cq), rel=1e-4)


EYE = np.eye(2)
ZERO = np.zeros(2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((ZERO, np.array([[1.0, 0.5], [0.0, 1.0]]), ZERO, EYE),
         r"kl_mvn: cov_p is not symmetric"),
        ((ZERO, EYE, ZERO, np.array([[1.0, 2.0], [2.0, 1.0]])),
         r"kl_mvn: cov_q is not positive-definite"),
        ((ZERO, EYE, ZERO, np.zeros((2, 2))), r"kl_mvn: cov_q is not positive-definite"),
        ((ZERO, np.array([[1.0, np.nan], [np.nan, 1.0]]), ZERO, EYE),
         r"kl_mvn: cov_p has a NaN entry"),
        ((np.array([0.0, np.inf]), EYE, ZERO, EYE), r"kl_mvn: mu_p has an infinite entry"),
        ((ZERO, np.eye(3), ZERO, EYE), r"kl_mvn: cov_p has shape \(3, 3\) but mu_p has 2"),
        ((ZERO, EYE, np.zeros(3), EYE), r"kl_mvn: mu_q has 3 dimensions but mu_p has 2"),
        ((ZERO, np.ones((2, 3)), ZERO, EYE), r"kl_mvn: cov_p must be square"),
        ((ZERO, EYE, ZERO, np.ones(2)), r"kl_mvn: cov_q must have at least 2 axes"),
        ((np.zeros((3, 2)), EYE, np.zeros((4, 2)), EYE),
         r"kl_mvn: the shapes of mu_p, cov_p, mu_q and cov_q do not broadcast"),
        ((np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0))), r"kl_mvn: mu_p is empty"),
    ],
)
def test_kl_mvn_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        kl_mvn(*args)


def test_kl_mvn_bad_input_torch() -> None:
    bad = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)
    z, eye = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"kl_mvn: cov_p is not positive-definite"):
        kl_mvn(z, bad, z, eye)
    with pytest.raises(ValueError, match=r"kl_mvn: cov_q is not symmetric"):
        kl_mvn(z, eye, z, torch.tensor([[1.0, 0.1], [0.0, 1.0]], dtype=torch.float64))


# -- diagonal Gaussians and the VAE term ----------------------------------------------------
def test_kl_diag_normal_matches_torch_independent() -> None:
    rng = np.random.default_rng(10)
    for shape in [(1,), (7,), (5, 16), (2, 3, 4)]:
        mp, mq = rng.normal(size=shape), rng.normal(size=shape)
        lp, lq = rng.normal(size=shape), rng.normal(size=shape)
        p = Independent(Normal(t(mp), t(np.exp(0.5 * lp))), 1)
        q = Independent(Normal(t(mq), t(np.exp(0.5 * lq))), 1)
        ref = torch_kl(p, q).numpy()
        np.testing.assert_allclose(kl_diag_normal(mp, lp, mq, lq), ref, rtol=RTOL)
        got = kl_diag_normal(t(mp), t(lp), t(mq), t(lq))
        np.testing.assert_allclose(got.numpy(), ref, rtol=RTOL)


def test_vae_kl_matches_torch_and_kl_diag_normal() -> None:
    rng = np.random.default_rng(11)
    for shape in [(3,), (64, 16), (2, 5, 8)]:
        mu, logvar = rng.normal(size=shape), rng.normal(size=shape)
        prior = Independent(Normal(torch.zeros(shape, dtype=torch.float64),
                                   torch.ones(shape, dtype=torch.float64)), 1)
        post = Independent(Normal(t(mu), t(np.exp(0.5 * logvar))), 1)
        ref = torch_kl(post, prior).numpy()
        np.testing.assert_allclose(vae_kl(mu, logvar), ref, rtol=RTOL)
        np.testing.assert_allclose(vae_kl(t(mu), t(logvar)).numpy(), ref, rtol=RTOL)
        np.testing.assert_allclose(kl_diag_normal(mu, logvar, 0.0, 0.0), ref, rtol=RTOL)
        # the textbook line of every VAE tutorial
        textbook = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=-1)
        np.testing.assert_allclose(vae_kl(mu, logvar), textbook, rtol=1e-10)


def test_vae_kl_small_logvar_is_accurate() -> None:
    """expm1: the textbook 1 + lv - exp(lv) cancels for |lv| ~ 1e-9."""
    lv = np.array([1e-9, -2e-9])
    exact = 0.5 * sum(float(mpmath.expm1(x) - x) for x in lv)
    assert vae_kl(np.zeros(2), lv) == pytest.approx(exact, rel=1e-6, abs=0)
    assert vae_kl(torch.zeros(2, dtype=torch.float64), t(lv)).item() == pytest.approx(
        exact, rel=1e-6, abs=0)


def test_gradcheck_vae_kl_and_kl_diag_normal() -> None:
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    lv = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(vae_kl, (mu, lv))
    mq = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    lq = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kl_diag_normal, (mu, lv, mq, lq))


def test_vae_kl_float32_and_shapes() -> None:
    mu = torch.zeros(5, 3)
    out = vae_kl(mu, torch.zeros(5, 3))
    assert out.shape == (5,) and out.dtype == torch.float32 and (out == 0).all()
    assert type(vae_kl([0.5], [0.0])) is np.float64
    assert vae_kl(np.zeros((2, 3)), 0.0).shape == (2,)  # logvar broadcasts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.0, np.nan], [0.0, 0.0]), r"vae_kl: mu has a NaN entry"),
        (([0.0, 0.0], [0.0, np.inf]), r"vae_kl: logvar has an infinite entry"),
        ((np.zeros((2, 3)), np.zeros((2, 4))), r"vae_kl: the shapes of mu and logvar do not"),
        ((np.zeros((2, 0)), np.zeros((2, 0))), r"vae_kl: mu is empty"),
        ((0.0, 0.0), r"vae_kl: mu and logvar must have at least one axis"),
    ],
)
def test_vae_kl_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        vae_kl(*args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((ZERO, [0.0, -np.inf], ZERO, ZERO), r"kl_diag_normal: logvar_p has an infinite entry"),
        ((ZERO, ZERO, [np.nan, 0], ZERO), r"kl_diag_normal: mu_q has a NaN entry"),
        ((ZERO, ZERO, ZERO, np.zeros(3)), r"kl_diag_normal: the shapes of mu_p, logvar_p, "),
        ((0.0, 0.0, 0.0, 0.0), r"kl_diag_normal: .* must have at least one axis"),
        ((ZERO, np.zeros((0, 2)), ZERO, ZERO), r"kl_diag_normal: logvar_p is empty"),
    ],
)
def test_kl_diag_normal_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        kl_diag_normal(*args)


def test_kl_is_asymmetric() -> None:
    """Chapter 3's point, checked against torch in both directions."""
    a = kl_normal(0.0, 1.0, 0.0, 3.0)
    b = kl_normal(0.0, 3.0, 0.0, 1.0)
    assert a == pytest.approx(math.log(3) + 1 / 18 - 0.5, rel=RTOL)
    assert b == pytest.approx(-math.log(3) + 4.5 - 0.5, rel=RTOL)
    assert a < b
