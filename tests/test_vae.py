"""lessons_src.vae: the ELBO identity on probabilistic PCA, the KL terms, the VAE and its
deterministic training loop."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

from lessons_src import (
    kl_mvn,
    kl_per_dim,
    load_digits,
    ppca_elbo,
    ppca_log_marginal,
    ppca_posterior,
    vae_kl,
)
from lessons_src._torch import Adam
from lessons_src.vae import (
    VAE,
    ELBOTerms,
    active_units,
    elbo_estimate,
    iwae_log_likelihood,
    latent_activity,
    linear_warmup,
    train_vae,
    vae_loss,
)


def random_ppca(rng: np.random.Generator, d: int, k: int):
    w = rng.normal(size=(d, k))
    b = rng.normal(size=d)
    sigma = float(rng.uniform(0.2, 2.0))
    return w, b, sigma


def random_spd(rng: np.random.Generator, k: int) -> np.ndarray:
    a = rng.normal(size=(k, k))
    c = a @ a.T / k + 0.1 * np.eye(k)
    return 0.5 * (c + c.T)


@pytest.fixture(scope="module")
def digits():
    split = load_digits()
    return (split.x_train >= 0.5).float(), (split.x_test >= 0.5).float()


# -- probabilistic PCA: exact quantities ------------------------------------------------------
@pytest.mark.parametrize(("d", "k"), [(1, 1), (3, 1), (5, 2), (10, 4)])
def test_log_p_equals_elbo_plus_kl_to_posterior(d: int, k: int) -> None:
    rng = np.random.default_rng(d * 10 + k)
    for _ in range(5):
        w, b, sigma = random_ppca(rng, d, k)
        x = rng.normal(size=(7, d)) * 2
        log_px = ppca_log_marginal(x, w, b, sigma)
        post_mean, post_cov = ppca_posterior(x, w, b, sigma)
        for _ in range(3):  # a deliberately imperfect q for each x
            m = post_mean + rng.normal(size=post_mean.shape)
            s = random_spd(rng, k)
            elbo = ppca_elbo(x, w, b, sigma, m, s)
            gap = np.array([kl_mvn(mi, s, pm, post_cov) for mi, pm in zip(m, post_mean,
                                                                          strict=True)])
            assert np.all(gap > 0)
            np.testing.assert_allclose(elbo + gap, log_px, rtol=0, atol=1e-10)
        # the exact posterior closes the gap
        np.testing.assert_allclose(ppca_elbo(x, w, b, sigma, post_mean, post_cov), log_px,
                                   rtol=0, atol=1e-10)


def test_log_marginal_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    w, b, sigma = random_ppca(rng, 6, 3)
    x = rng.normal(size=(4, 5, 6))
    ref = scipy.stats.multivariate_normal(b, w @ w.T + sigma**2 * np.eye(6)).logpdf(x)
    got = ppca_log_marginal(x, w, b, sigma)
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    one = ppca_log_marginal(x[0, 0], w, b, sigma)
    assert type(one) is np.float64 and one == pytest.approx(ref[0, 0], rel=1e-12)


def test_posterior_matches_gaussian_conditioning() -> None:
    # Independent route: condition the joint Gaussian of (z, x) on x.
    rng = np.random.default_rng(2)
    w, b, sigma = random_ppca(rng, 5, 2)
    x = rng.normal(size=5)
    c = w @ w.T + sigma**2 * np.eye(5)
    mean_ref = w.T @ np.linalg.solve(c, x - b)
    cov_ref = np.eye(2) - w.T @ np.linalg.solve(c, w)
    mean, cov = ppca_posterior(x, w, b, sigma)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-10)
    np.testing.assert_allclose(cov, cov_ref, rtol=1e-10, atol=1e-12)
    assert np.array_equal(cov, cov.T)


def test_elbo_matches_monte_carlo_and_stays_below_log_p() -> None:
    rng = np.random.default_rng(3)
    w, b, sigma = random_ppca(rng, 4, 2)
    x = rng.normal(size=4)
    m, s = rng.normal(size=2), random_spd(rng, 2)
    z = rng.multivariate_normal(m, s, size=200_000)
    log_lik = scipy.stats.multivariate_normal(np.zeros(4), sigma**2 * np.eye(4)).logpdf(
        x - b - z @ w.T)
    log_prior = scipy.stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z)
    log_q = scipy.stats.multivariate_normal(m, s).logpdf(z)
    terms = log_lik + log_prior - log_q
    mc, se = terms.mean(), terms.std() / math.sqrt(terms.size)
    exact = ppca_elbo(x, w, b, sigma, m, s)
    assert abs(mc - exact) < 5 * se
    assert mc + 5 * se < ppca_log_marginal(x, w, b, sigma)  # the estimate is below log p(x)


def test_ppca_rejects_bad_arguments() -> None:
    w, b = np.ones((3, 2)), np.zeros(3)
    with pytest.raises(ValueError, match="ppca_log_marginal: sigma must be finite and > 0"):
        ppca_log_marginal(np.zeros(3), w, b, 0.0)
    with pytest.raises(ValueError, match="ppca_log_marginal: sigma must be a number"):
        ppca_log_marginal(np.zeros(3), w, b, "1")
    with pytest.raises(ValueError, match=r"ppca_posterior: x must have shape \(\.\.\., 3\)"):
        ppca_posterior(np.zeros(4), w, b, 1.0)
    with pytest.raises(ValueError, match=r"ppca_log_marginal: b must have shape \(3,\)"):
        ppca_log_marginal(np.zeros(3), w, np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="ppca_posterior: w must be a non-empty"):
        ppca_posterior(np.zeros(3), np.ones(3), b, 1.0)
    with pytest.raises(ValueError, match="ppca_elbo: x has a NaN"):
        ppca_elbo([np.nan, 0, 0], w, b, 1.0, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"ppca_elbo: q_mean must have shape \(\.\.\., 2\)"):
        ppca_elbo(np.zeros(3), w, b, 1.0, np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match=r"ppca_elbo: q_cov must have shape"):
        ppca_elbo(np.zeros(3), w, b, 1.0, np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="kl_mvn: cov_p is not positive-definite"):
        ppca_elbo(np.zeros(3), w, b, 1.0, np.zeros(2), -np.eye(2))


def test_numpy_helpers_do_not_import_torch() -> None:
    code = ("import sys, lessons_src as L; "
            "L.ppca_elbo([1.0], [[1.0]], [0.0], 1.0, [0.0], [[1.0]]); "
            "L.kl_per_dim([0.5], [0.1]); import lessons_src.vae; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the KL terms ---------------------------------------------------------------------------
def test_kl_per_dim_sums_to_vae_kl_and_matches_torch() -> None:
    rng = np.random.default_rng(4)
    mu = torch.tensor(rng.normal(size=(50, 8)) * 2)
    logvar = torch.tensor(rng.normal(size=(50, 8)) * 2)
    per_dim = kl_per_dim(mu, logvar)
    assert per_dim.shape == (50, 8) and per_dim.dtype == torch.float64
    torch.testing.assert_close(per_dim.sum(-1), vae_kl(mu, logvar), rtol=1e-13, atol=0)
    ref = torch_kl(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    torch.testing.assert_close(per_dim, ref, rtol=1e-10, atol=1e-12)
    np_dims = kl_per_dim(mu.numpy(), logvar.numpy())
    assert isinstance(np_dims, np.ndarray)
    np.testing.assert_allclose(np_dims.sum(-1), vae_kl(mu.numpy(), logvar.numpy()), rtol=1e-13)
    assert kl_per_dim([0.0, 0.0], [0.0, 0.0]).tolist() == [0.0, 0.0]  # q = prior


def test_kl_per_dim_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kl_per_dim: the shapes of mu and logvar do not"):
        kl_per_dim(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="kl_per_dim: mu has an infinite entry"):
        kl_per_dim([np.inf], [0.0])
    with pytest.raises(ValueError, match="kl_per_dim: logvar is empty"):
        kl_per_dim([0.0], [])


def test_vae_loss_beta_and_free_bits() -> None:
    per_dim = torch.tensor([[0.1, 0.9, 0.0], [0.3, 0.7, 0.2]], requires_grad=True)
    terms = ELBOTerms(torch.tensor([10.0, 12.0]), per_dim.sum(-1), per_dim)
    assert vae_loss(terms).item() == pytest.approx(11.0 + 1.1)
    assert vae_loss(terms, beta=3.0).item() == pytest.approx(11.0 + 3.3)
    lam = 0.5  # batch means of the dimensions: 0.2, 0.8, 0.1
    loss = vae_loss(terms, beta=2.0, free_bits=lam)
    assert loss.item() == pytest.approx(11.0 + 2.0 * (0.5 + 0.8 + 0.5))
    loss.backward()
    # dimensions below the floor get no gradient from the KL term; the other one does
    assert per_dim.grad[:, 0].tolist() == [0.0, 0.0] and per_dim.grad[:, 2].tolist() == [0.0, 0.0]
    torch.testing.assert_close(per_dim.grad[:, 1], torch.tensor([1.0, 1.0]))
    for bad in (-1.0, math.inf, "1"):
        with pytest.raises(ValueError, match="vae_loss: beta must be"):
            vae_loss(terms, beta=bad)
    for bad in (0.0, -0.5, math.nan):
        with pytest.raises(ValueError, match="vae_loss: free_bits must be"):
            vae_loss(terms, free_bits=bad)


def test_linear_warmup() -> None:
    s = linear_warmup(4, beta_max=2.0)
    assert [s(t) for t in (0, 1, 4, 9)] == [0.0, 0.5, 2.0, 2.0]
    with pytest.raises(ValueError, match="linear_warmup: epochs must be finite and > 0"):
        linear_warmup(0)
    with pytest.raises(ValueError, match="linear_warmup: beta must be finite and >= 0"):
        linear_warmup(3, beta_max=-1.0)


# -- the model ------------------------------------------------------------------------------
def test_reparameterised_samples_have_the_right_moments_and_gradients() -> None:
    model = VAE(seed=0)
    mu = torch.tensor([[1.0, -2.0, 0.0, 0.5, 3.0, 0.0, -1.0, 2.0]])
    logvar = torch.tensor([[0.0, 1.0, -2.0, 0.5, -1.0, 2.0, 0.0, -0.5]])
    gen = torch.Generator().manual_seed(0)
    z = model.sample(mu.expand(200_000, 8), logvar.expand(200_000, 8), generator=gen)
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), logvar[0].exp(), rtol=0.02, atol=0)
    # the pathwise derivatives: dz/dmu = 1, dz/dlogvar = eps * sigma / 2
    m = mu.clone().requires_grad_(True)
    lv = logvar.clone().requires_grad_(True)
    z = model.sample(m, lv, generator=torch.Generator().manual_seed(1))
    z.sum().backward()
    eps = (z.detach() - mu) / torch.exp(0.5 * logvar)
    torch.testing.assert_close(m.grad, torch.ones_like(mu))
    torch.testing.assert_close(lv.grad, 0.5 * eps * torch.exp(0.5 * logvar))


def test_elbo_terms_are_bce_plus_vae_kl() -> None:
    model = VAE(seed=3)
    x = (torch.rand(16, 64, generator=torch.Generator().manual_seed(0)) > 0.6).float()
    terms = model.elbo_terms(x, generator=torch.Generator().manual_seed(5))
    mu, logvar = model.encode(x)
    z = model.sample(mu, logvar, generator=torch.Generator().manual_seed(5))
    probs = torch.sigmoid(model.decode(z))
    nll = -(x * probs.log() + (1 - x) * (1 - probs).log()).sum(-1)
    torch.testing.assert_close(terms.recon, nll, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(terms.kl, vae_kl(mu, logvar))
    torch.testing.assert_close(terms.kl_per_dim.sum(-1), terms.kl, rtol=1e-5, atol=1e-6)
    assert terms.recon.shape == (16,) and terms.kl_per_dim.shape == (16, 8)


def test_autoregressive_decoder_is_autoregressive() -> None:
    model = VAE(64, 32, 4, decoder="autoregressive", seed=0)
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    x = (torch.rand(1, 64, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    jac = torch.autograd.functional.jacobian(lambda xx: model.decode(z, xx)[0], x)[:, 0, :]
    # logit i depends on pixels j < i only: the Jacobian is strictly lower triangular ...
    assert torch.all(jac.triu() == 0)
    assert int((jac.tril(-1) != 0).sum()) > 1000  # ... and does depend on earlier pixels
    # and every logit depends on z
    jac_z = torch.autograd.functional.jacobian(lambda zz: model.decode(zz, x)[0], z)[:, 0, :]
    assert torch.all(jac_z.abs().sum(-1) > 0)
    gen = torch.Generator().manual_seed(2)
    images = model.generate(torch.randn(3, 4, generator=gen), generator=gen)
    assert images.shape == (3, 64) and set(images.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"VAE\.generate: mean=True needs the MLP decoder"):
        model.generate(z, mean=True)
    with pytest.raises(ValueError, match=r"VAE\.decode: the autoregressive decoder needs x"):
        model.decode(z)


def test_vae_construction_is_seeded_and_validated() -> None:
    a, b, c = VAE(seed=4), VAE(seed=4), VAE(seed=5)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[n], sb[n]) for n in sa)
    assert not torch.equal(sa["enc_hidden.weight"], sc["enc_hidden.weight"])
    assert isinstance(a, torch.nn.Module) and type(a).__module__ == "lessons_src.vae"
    assert isinstance(pickle.loads(pickle.dumps(a)), VAE)
    ar = VAE(decoder="autoregressive", seed=0)
    ar_copy = pickle.loads(pickle.dumps(ar))
    assert torch.equal(ar_copy.dec_out.mask, ar.dec_out.mask)
    with pytest.raises(ValueError, match="VAE: latent_dim must be a positive integer"):
        VAE(latent_dim=0)
    with pytest.raises(ValueError, match="VAE: decoder must be 'mlp' or 'autoregressive'"):
        VAE(decoder="pixelcnn")
    with pytest.raises(ValueError, match="VAE: seed must be a non-negative integer"):
        VAE(seed=-1)
    with pytest.raises(ValueError, match=r"VAE.elbo_terms: x must have entries in \[0, 1\]"):
        a.elbo_terms(torch.full((2, 64), 2.0))
    with pytest.raises(ValueError, match=r"VAE.elbo_terms: x must have shape \(n, 64\)"):
        a.elbo_terms(torch.zeros(2, 63))


# -- training -------------------------------------------------------------------------------
def test_adam_matches_torch_optim() -> None:
    x = (torch.rand(40, 64, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    ours, ref = VAE(seed=1), VAE(seed=1)
    opt_ours = Adam(ours.parameters(), lr=1e-2)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=1e-2, foreach=False)
    for step in range(4):
        for model, opt in ((ours, opt_ours), (ref, opt_ref)):
            terms = model.elbo_terms(x, generator=torch.Generator().manual_seed(step))
            model.zero_grad()
            vae_loss(terms).backward()
            opt.step()
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), ref.parameters(),
                                                 strict=True))


def test_train_vae_is_deterministic_and_learns(digits) -> None:
    x_train, x_test = digits
    x_small, x_eval = x_train[:300], x_test[:100]
    runs = []
    for threads in (1, 2):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            model = VAE(seed=0)
            hist = train_vae(model, x_small, epochs=4, batch_size=64, lr=1e-2, seed=1,
                             x_test=x_eval)
        finally:
            torch.set_num_threads(before)
        assert torch.get_num_threads() == before
        runs.append((model, hist))
    (m1, h1), (m2, h2) = runs
    assert h1 == h2  # every recorded number identical, whatever the caller's thread count
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    assert len(h1.recon) == 4 and len(h1.kl_per_dim[0]) == 8 and len(h1.test_kl) == 4
    assert h1.loss[-1] < h1.loss[0] - 5  # the loss goes down
    assert h1.test_neg_elbo[-1] < h1.test_neg_elbo[0]
    np.testing.assert_allclose(np.sum(h1.kl_per_dim, axis=1), h1.kl, rtol=1e-6)
    assert h1.beta == [1.0] * 4 and h1.neg_elbo[0] == pytest.approx(h1.recon[0] + h1.kl[0])


def test_train_vae_schedule_and_free_bits(digits) -> None:
    x_train, _ = digits
    x_small = x_train[:256]
    model = VAE(decoder="autoregressive", seed=0)
    hist = train_vae(model, x_small, epochs=3, batch_size=128, lr=1e-2,
                     beta=linear_warmup(2), free_bits=0.3, seed=0)
    # two steps per epoch, at t = 0, 0.5, 1, 1.5, ...: the record is their mean
    assert hist.beta == pytest.approx([0.125, 0.625, 1.0])
    # with free bits the KL part of the loss is at least beta * latent_dim * lambda
    kl_part = np.array(hist.loss) - np.array(hist.recon)
    assert np.all(kl_part >= np.array(hist.beta) * 8 * 0.3 - 1e-6)


def test_train_vae_rejects_bad_arguments(digits) -> None:
    x_train, _ = digits
    model = VAE(seed=0)
    x = x_train[:10]
    with pytest.raises(ValueError, match="train_vae: epochs must be an integer >= 1"):
        train_vae(model, x, epochs=0)
    with pytest.raises(ValueError, match="train_vae: batch_size must be an integer >= 1"):
        train_vae(model, x, epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="train_vae: lr must be finite and > 0"):
        train_vae(model, x, epochs=1, lr=-1.0)
    with pytest.raises(ValueError, match="train_vae: beta must be finite and >= 0"):
        train_vae(model, x, epochs=1, beta=-0.1)
    with pytest.raises(ValueError, match=r"train_vae \(beta schedule\): beta must be"):
        train_vae(model, x, epochs=1, beta=lambda t: -1.0)
    with pytest.raises(ValueError, match="train_vae: free_bits must be finite and > 0"):
        train_vae(model, x, epochs=1, free_bits=0.0)
    with pytest.raises(ValueError, match=r"train_vae: x must have entries in \[0, 1\]"):
        train_vae(model, x * 16, epochs=1)
    with pytest.raises(ValueError, match=r"train_vae: model must be a lessons_src\.vae\.VAE"):
        train_vae(torch.nn.Linear(64, 64), x, epochs=1)


# -- evaluation -----------------------------------------------------------------------------
def collapsed_model() -> VAE:
    """A VAE whose encoder outputs the prior and whose decoder ignores z: then
    q(z|x) = p(z) = p(z|x), and ELBO = IWAE bound = log p(x) exactly."""
    model = VAE(seed=0)
    with torch.no_grad():
        model.enc_out.weight.zero_()
        model.enc_out.bias.zero_()
        model.dec_out.weight.zero_()
        model.dec_out.bias.copy_(torch.linspace(-2, 2, 64))
    return model


def test_bounds_are_exact_when_the_posterior_is_the_prior() -> None:
    model = collapsed_model()
    x = (torch.rand(20, 64, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    p = torch.sigmoid(torch.linspace(-2, 2, 64)).double()
    log_px = (x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
    terms = elbo_estimate(model, x, n_samples=3)
    torch.testing.assert_close(-(terms.recon + terms.kl.double()), log_px, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(iwae_log_likelihood(model, x, n_samples=50, chunk=7), log_px,
                               rtol=1e-6, atol=1e-5)
    assert active_units(model, x) == 0
    assert np.all(latent_activity(model, x) == 0)


def test_iwae_bound_is_above_the_elbo_and_chunk_free(digits) -> None:
    _, x_test = digits
    model = VAE(seed=0)
    train_vae(model, digits[0][:300], epochs=3, lr=1e-2, seed=0)
    x = x_test[:50]
    terms = elbo_estimate(model, x, n_samples=200, seed=0)
    elbo = -(terms.recon + terms.kl.double())
    iwae = iwae_log_likelihood(model, x, n_samples=200, seed=0)
    assert iwae.dtype == torch.float64 and iwae.shape == (50,)
    assert float(iwae.mean()) > float(elbo.mean())
    torch.testing.assert_close(iwae_log_likelihood(model, x, n_samples=200, seed=0, chunk=33),
                               iwae, rtol=1e-12, atol=1e-9)
    assert active_units(model, x) == int(
        (kl_per_dim(*[t.double() for t in model.encode(x)]).mean(0) > 0.1).sum())
    recon = model.reconstruct(x, mean=True)
    assert recon.shape == (50, 64) and 0 <= float(recon.min()) and float(recon.max()) <= 1


def test_evaluation_rejects_bad_arguments() -> None:
    model = VAE(seed=0)
    x = torch.zeros(5, 64)
    with pytest.raises(ValueError, match="elbo_estimate: n_samples must be an integer >= 1"):
        elbo_estimate(model, x, n_samples=0)
    with pytest.raises(ValueError, match="iwae_log_likelihood: chunk must be an integer >= 1"):
        iwae_log_likelihood(model, x, chunk=0)
    with pytest.raises(ValueError, match="active_units: threshold must be finite and >= 0"):
        active_units(model, x, threshold=-1.0)
    with pytest.raises(ValueError, match="latent_activity: x needs at least 2 examples"):
        latent_activity(model, x[:1])
    with pytest.raises(ValueError, match=r"elbo_estimate: model must be a lessons_src\.vae\.VAE"):
        elbo_estimate(torch.nn.Linear(2, 2), x)
