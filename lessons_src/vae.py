r"""Variational autoencoders: the ELBO, its KL terms, and a model small enough to train in seconds.

Two halves:

- **Probabilistic PCA**, a linear-Gaussian latent-variable model in which everything the
  ELBO is built from has a closed form (NumPy, float64): the exact log-evidence
  :func:`ppca_log_marginal`, the exact posterior :func:`ppca_posterior` and the ELBO of
  any Gaussian approximation :func:`ppca_elbo`. With them the identity
  :math:`\log p(x) = \mathrm{ELBO}(q) + D_{\mathrm{KL}}\big(q(z)\,\|\,p(z \mid x)\big)` can
  be checked to rounding error.
- **A small VAE in PyTorch**: the model :class:`VAE`, the per-dimension KL term
  :func:`kl_per_dim`, the loss :func:`vae_loss` with β-weighting and free bits, a
  deterministic training loop :func:`train_vae` with KL annealing (:func:`linear_warmup`),
  and the diagnostics :func:`elbo_estimate`, :func:`iwae_log_likelihood` and
  :func:`active_units`.

Everything is in nats. ``import lessons_src`` does not load PyTorch: the torch half is
imported from this module, ``from lessons_src.vae import VAE, train_vae``, and imports
torch only then.

Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import _checks as ck
from ._torch import Adam, single_thread
from .gaussian import kl_mvn, vae_kl, vae_kl_terms

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    import torch

__all__ = [  # noqa: F822 - VAE is built on first access by the module's __getattr__
    "VAE",
    "ELBOTerms",
    "VAEHistory",
    "active_units",
    "elbo_estimate",
    "iwae_log_likelihood",
    "kl_per_dim",
    "latent_activity",
    "linear_warmup",
    "ppca_elbo",
    "ppca_log_marginal",
    "ppca_posterior",
    "train_vae",
    "vae_loss",
]

LOG_2PI = math.log(2.0 * math.pi)


# ======================================================================================
# Probabilistic PCA: the exact quantities (NumPy, float64)
# ======================================================================================
def _ppca_args(fname: str, x: ArrayLike, w: ArrayLike, b: ArrayLike,
               sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    try:
        xa = np.asarray(x, dtype=np.float64)
        wa = np.asarray(w, dtype=np.float64)
        ba = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{fname}: x, w and b must be real arrays ({exc})") from None
    if wa.ndim != 2 or 0 in wa.shape:
        raise ValueError(f"{fname}: w must be a non-empty (d, k) matrix; got shape {wa.shape}")
    d = wa.shape[0]
    if ba.shape != (d,):
        raise ValueError(f"{fname}: b must have shape ({d},) to match w; got {ba.shape}")
    if xa.ndim < 1 or xa.shape[-1] != d:
        raise ValueError(f"{fname}: x must have shape (..., {d}) to match w; got {xa.shape}")
    for name, a in (("x", xa), ("w", wa), ("b", ba)):
        if not np.isfinite(a).all():
            raise ValueError(f"{fname}: {name} has a NaN or infinite entry")
    if isinstance(sigma, bool) or not isinstance(sigma, int | float | np.floating | np.integer):
        raise ValueError(f"{fname}: sigma must be a number > 0; got {sigma!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"{fname}: sigma must be finite and > 0; got {sigma!r}")
    return xa, wa, ba, float(sigma)


def ppca_log_marginal(x: ArrayLike, w: ArrayLike, b: ArrayLike, sigma: float) -> Any:
    r"""Exact log-evidence :math:`\log p(x)` of probabilistic PCA.

    The model is :math:`p(z) = \mathcal N(0, I_k)` and
    :math:`p(x \mid z) = \mathcal N(W z + b, \sigma^2 I_d)`. Integrating out :math:`z`
    leaves a Gaussian,

    .. math::

        p(x) = \mathcal N\big(x;\, b,\, C\big), \qquad C = W W^\top + \sigma^2 I_d,

        \log p(x) = -\tfrac12 \big[ d \log 2\pi + \log\det C
                    + (x - b)^\top C^{-1} (x - b) \big],

    computed with a Cholesky factor of :math:`C`.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    x
        Observations, shape ``(..., d)``; leading axes are a batch.
    w
        Loading matrix :math:`W`, shape ``(d, k)``.
    b
        Mean :math:`b`, shape ``(d,)``.
    sigma
        Noise standard deviation :math:`\sigma > 0` (not the variance).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        :math:`\log p(x)` in nats, shape ``x.shape[:-1]``.

    Raises
    ------
    ValueError
        If the shapes disagree, an entry is not finite or ``sigma`` is not > 0.

    Examples
    --------
    >>> from lessons_src import ppca_log_marginal
    >>> # d = 1, k = 1: p(x) = N(0, 1 + 1) at x = 0
    >>> print(f"{ppca_log_marginal([0.0], [[1.0]], [0.0], 1.0):.4f}")
    -1.2655
    """
    xa, wa, ba, s = _ppca_args("ppca_log_marginal", x, w, b, sigma)
    d = wa.shape[0]
    c = wa @ wa.T + s * s * np.eye(d)
    lo = np.linalg.cholesky(c)
    r = np.linalg.solve(lo, (xa - ba).reshape(-1, d).T)  # (d, n): L^{-1}(x - b)
    maha = np.einsum("dn,dn->n", r, r).reshape(xa.shape[:-1])
    logdet = 2.0 * np.log(np.diag(lo)).sum()
    out = -0.5 * (d * LOG_2PI + logdet + maha)
    return np.float64(out) if out.ndim == 0 else out


def ppca_posterior(x: ArrayLike, w: ArrayLike, b: ArrayLike,
                   sigma: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact posterior :math:`p(z \mid x)` of probabilistic PCA.

    For :math:`p(z) = \mathcal N(0, I_k)` and :math:`p(x \mid z) = \mathcal N(Wz + b,
    \sigma^2 I_d)`, Bayes' rule gives a Gaussian (Bishop, 2006, Section 12.2):

    .. math::

        p(z \mid x) = \mathcal N\big(M^{-1} W^\top (x - b),\; \sigma^2 M^{-1}\big),
        \qquad M = W^\top W + \sigma^2 I_k .

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    x, w, b, sigma
        As in :func:`ppca_log_marginal`.

    Returns
    -------
    mean : numpy.ndarray
        Posterior means, shape ``(..., k)``.
    cov : numpy.ndarray
        Posterior covariance :math:`\sigma^2 M^{-1}`, shape ``(k, k)`` (the same for
        every :math:`x`).

    Raises
    ------
    ValueError
        As :func:`ppca_log_marginal`.

    Examples
    --------
    >>> from lessons_src import ppca_posterior
    >>> mean, cov = ppca_posterior([2.0], [[1.0]], [0.0], 1.0)  # M = 2
    >>> print(mean, cov)
    [1.] [[0.5]]
    """
    xa, wa, ba, s = _ppca_args("ppca_posterior", x, w, b, sigma)
    k = wa.shape[1]
    m = wa.T @ wa + s * s * np.eye(k)
    m_inv = np.linalg.inv(m)
    cov = s * s * m_inv
    cov = 0.5 * (cov + cov.T)  # exactly symmetric
    mean = (xa - ba) @ wa @ m_inv.T
    return mean, cov


def ppca_elbo(x: ArrayLike, w: ArrayLike, b: ArrayLike, sigma: float,
              q_mean: ArrayLike, q_cov: ArrayLike) -> Any:
    r"""Closed-form ELBO of a Gaussian :math:`q(z) = \mathcal N(m, S)` under probabilistic PCA.

    .. math::

        \mathrm{ELBO}(q) = \mathbb E_q[\log p(x \mid z)]
                          - D_{\mathrm{KL}}\big(q(z)\,\|\,p(z)\big),

        \mathbb E_q[\log p(x \mid z)] = -\frac d2 \log(2\pi\sigma^2)
            - \frac{\lVert x - b - W m\rVert^2 + \operatorname{tr}(W^\top W S)}{2\sigma^2},

    with :math:`D_{\mathrm{KL}}(q\,\|\,\mathcal N(0, I_k))` from
    ``lessons_src.kl_mvn``. For every :math:`q`,
    :math:`\log p(x) = \mathrm{ELBO}(q) + D_{\mathrm{KL}}\big(q\,\|\,p(z \mid x)\big)`,
    so the ELBO equals :func:`ppca_log_marginal` exactly when :math:`q` is
    :func:`ppca_posterior`.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    x, w, b, sigma
        As in :func:`ppca_log_marginal`.
    q_mean
        Mean :math:`m` of :math:`q`, shape ``(..., k)``, broadcasting against ``x``'s
        batch shape.
    q_cov
        Covariance :math:`S` of :math:`q`, shape ``(..., k, k)``: symmetric
        positive-definite.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The ELBO in nats, with the broadcast batch shape.

    Raises
    ------
    ValueError
        As :func:`ppca_log_marginal`; or if ``q_mean``/``q_cov`` have the wrong latent
        dimension or ``q_cov`` is not a covariance (raised by ``kl_mvn``, which names
        its argument ``mu_p``/``cov_p``).

    Examples
    --------
    >>> from lessons_src import ppca_elbo, ppca_log_marginal, ppca_posterior
    >>> mean, cov = ppca_posterior([2.0], [[1.0]], [0.0], 1.0)
    >>> exact = ppca_log_marginal([2.0], [[1.0]], [0.0], 1.0)
    >>> print(f"{exact:.4f} {ppca_elbo([2.0], [[1.0]], [0.0], 1.0, mean, cov):.4f}")
    -2.2655 -2.2655
    >>> print(f"{ppca_elbo([2.0], [[1.0]], [0.0], 1.0, [0.0], [[1.0]]):.4f}")  # q = prior
    -3.4189
    """
    fname = "ppca_elbo"
    xa, wa, ba, s = _ppca_args(fname, x, w, b, sigma)
    k = wa.shape[1]
    try:
        m = np.asarray(q_mean, dtype=np.float64)
        cov = np.asarray(q_cov, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{fname}: q_mean and q_cov must be real arrays ({exc})") from None
    if m.ndim < 1 or m.shape[-1] != k:
        raise ValueError(f"{fname}: q_mean must have shape (..., {k}) to match w; got {m.shape}")
    if cov.ndim < 2 or cov.shape[-2:] != (k, k):
        raise ValueError(
            f"{fname}: q_cov must have shape (..., {k}, {k}) to match w; got {cov.shape}"
        )
    d = wa.shape[0]
    resid = xa - ba - m @ wa.T
    trace = np.einsum("ij,...ji->...", wa.T @ wa, cov)
    expected_ll = -0.5 * d * math.log(2 * math.pi * s * s) - (
        np.einsum("...i,...i->...", resid, resid) + trace) / (2 * s * s)
    kl_prior = kl_mvn(m, cov, np.zeros(k), np.eye(k))
    out = np.asarray(expected_ll - kl_prior)
    return np.float64(out) if out.ndim == 0 else out


# ======================================================================================
# PyTorch: threads, the model, the loss
# ======================================================================================
class ELBOTerms(NamedTuple):
    """Per-example terms of the negative ELBO, in nats (tensors, first axis = examples).

    ``recon`` is :math:`-\\log p(x \\mid z)` at the sampled :math:`z`, ``kl`` is
    :math:`D_{\\mathrm{KL}}(q(z \\mid x)\\,\\|\\,p(z))` and ``kl_per_dim`` its terms, one
    column per latent dimension (they sum to ``kl``). ``-(recon + kl)`` is a one-sample
    estimate of the ELBO.
    """

    recon: Any
    kl: Any
    kl_per_dim: Any


def kl_per_dim(mu: Any, logvar: Any) -> Any:
    r"""The terms of ``lessons_src.vae_kl``, one per latent dimension.

    .. math::

        D_{\mathrm{KL}}\big(\mathcal N(\mu_j, e^{\ell_j})\,\|\,\mathcal N(0, 1)\big)
        = \tfrac12\big(\mu_j^2 + e^{\ell_j} - \ell_j - 1\big),

    with :math:`e^{\ell} - 1` evaluated as ``expm1``: the same expression as
    ``vae_kl``, so the terms sum (over the last axis) to
    ``vae_kl(mu, logvar)``. In nats. A term near 0 for every :math:`x` marks a latent
    dimension that carries no information about :math:`x` (a collapsed dimension).

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    mu, logvar
        The encoder's means and log-variances, of the same shape ``(..., latent_dim)``:
        both torch tensors (gradients flow), or both array-likes (NumPy float64 result).
        Entries must be finite.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Shape ``(..., latent_dim)``.

    Raises
    ------
    ValueError
        If an argument is empty or not finite, or the shapes do not broadcast (as
        :func:`~lessons_src.gaussian.vae_kl`).

    Examples
    --------
    >>> from lessons_src.vae import kl_per_dim
    >>> print(kl_per_dim([1.0, 0.0, 0.0], [0.0, 0.0, 1.0]).round(4))
    [0.5    0.     0.3591]
    """
    terms, _ = vae_kl_terms("kl_per_dim", mu, logvar)
    return 0.5 * terms


def _check_x(fname: str, x: Any, d: int) -> None:
    import torch

    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{fname}: x must be a floating-point torch tensor")
    if x.ndim != 2 or x.shape[1] != d or x.shape[0] == 0:
        raise ValueError(f"{fname}: x must have shape (n, {d}) with n >= 1; got {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= 0.0 and hi <= 1.0):  # also false for NaN
        raise ValueError(f"{fname}: x must have entries in [0, 1]; got range [{lo}, {hi}]")


def _uniform_init(module: Any, generator: Any) -> None:
    """PyTorch's default ``nn.Linear`` initialisation, drawn from ``generator``."""
    import torch

    with torch.no_grad():
        bound = 1.0 / math.sqrt(module.weight.shape[1])
        module.weight.uniform_(-bound, bound, generator=generator)
        module.bias.uniform_(-bound, bound, generator=generator)


def _make_vae_class() -> type:
    """Build the :class:`VAE` class (needs torch; called on first access)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class MaskedLinear(nn.Linear):
        """A linear layer whose weight is multiplied by a fixed 0/1 mask (MADE)."""

        def __init__(self, mask: torch.Tensor) -> None:
            super().__init__(mask.shape[1], mask.shape[0])
            self.register_buffer("mask", mask)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.linear(x, self.weight * self.mask, self.bias)

    class VAE(nn.Module):
        r"""A small variational autoencoder for binary images flattened to vectors.

        Prior :math:`p(z) = \mathcal N(0, I)`; encoder
        :math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}
        e^{\ell_\phi(x)})`, an MLP ``input_dim → hidden_dim → 2·latent_dim`` (tanh);
        decoder :math:`p_\theta(x \mid z) = \prod_i \mathrm{Bernoulli}(x_i;
        \operatorname{sigmoid}(\text{logit}_i))`.

        ``decoder="mlp"`` (default): logits from an MLP ``latent_dim → hidden_dim →
        input_dim`` of :math:`z` alone, so the pixels are independent given :math:`z`.
        ``decoder="autoregressive"``: a MADE network (Germain et al., 2015), so
        :math:`p_\theta(x \mid z) = \prod_i p_\theta(x_i \mid x_{<i}, z)`; such a decoder
        can model the images well without :math:`z`, the classic setting for posterior
        collapse.

        Weights are initialised like ``nn.Linear``'s default, but from a
        ``torch.Generator`` seeded with ``seed``, so a model does not depend on the
        global random state.

        Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

        Parameters
        ----------
        input_dim
            Number of pixels (64 for the 8×8 digits).
        hidden_dim
            Width of the hidden layers.
        latent_dim
            Dimension of :math:`z`.
        decoder
            ``"mlp"`` or ``"autoregressive"``.
        seed
            Seed of the initial weights.

        Raises
        ------
        ValueError
            If a size is not a positive integer or ``decoder`` is unknown.
        """

        def __init__(self, input_dim: int = 64, hidden_dim: int = 64, latent_dim: int = 8,
                     *, decoder: str = "mlp", seed: int = 0) -> None:
            super().__init__()
            for name, v in (("input_dim", input_dim), ("hidden_dim", hidden_dim),
                            ("latent_dim", latent_dim)):
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ValueError(f"VAE: {name} must be a positive integer; got {v!r}")
            if decoder not in ("mlp", "autoregressive"):
                raise ValueError(
                    f"VAE: decoder must be 'mlp' or 'autoregressive'; got {decoder!r}"
                )
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"VAE: seed must be a non-negative integer; got {seed!r}")
            self.input_dim, self.hidden_dim, self.latent_dim = input_dim, hidden_dim, latent_dim
            self.decoder_kind = decoder
            self.enc_hidden = nn.Linear(input_dim, hidden_dim)
            self.enc_out = nn.Linear(hidden_dim, 2 * latent_dim)
            self.dec_z = nn.Linear(latent_dim, hidden_dim)
            if decoder == "mlp":
                self.dec_out = nn.Linear(hidden_dim, input_dim)
            else:
                # MADE degrees: pixel i has degree i + 1, hidden unit h has degree
                # h mod input_dim (degree-0 units see only z). A weight is kept only where
                # information flows to a higher degree, so logit i sees x_<i and z only.
                deg_in = torch.arange(1, input_dim + 1)
                deg_h = torch.arange(hidden_dim) % input_dim
                self.dec_x = MaskedLinear((deg_h[:, None] >= deg_in[None, :]).float())
                self.dec_out = MaskedLinear((deg_in[:, None] > deg_h[None, :]).float())
                self.dec_direct = MaskedLinear((deg_in[:, None] > deg_in[None, :]).float())
            gen = torch.Generator().manual_seed(seed)
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    _uniform_init(module, gen)

        def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Mean and log-variance of :math:`q(z \\mid x)`, each ``(n, latent_dim)``."""
            h = torch.tanh(self.enc_hidden(x))
            mu, logvar = self.enc_out(h).chunk(2, dim=-1)
            return mu, logvar

        def sample(self, mu: torch.Tensor, logvar: torch.Tensor, *,
                   generator: torch.Generator | None = None) -> torch.Tensor:
            r"""Reparameterised draw :math:`z = \mu + \sigma \odot \varepsilon`,
            :math:`\varepsilon \sim \mathcal N(0, I)`, :math:`\sigma = e^{\ell/2}`.

            Gradients flow to ``mu`` and ``logvar``; the randomness is all in
            :math:`\varepsilon`, drawn from ``generator`` (or the global generator).
            """
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
            return mu + torch.exp(0.5 * logvar) * eps

        def decode(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
            """Logits of :math:`p(x \\mid z)`, shape ``(n, input_dim)``.

            The autoregressive decoder also needs the image ``x`` itself (each logit
            sees only the pixels before it: teacher forcing); the MLP decoder ignores it.
            """
            h = self.dec_z(z)
            if self.decoder_kind == "mlp":
                return self.dec_out(torch.tanh(h))
            if x is None:
                raise ValueError("VAE.decode: the autoregressive decoder needs x")
            h = torch.tanh(h + self.dec_x(x))
            return self.dec_out(h) + self.dec_direct(x)

        def elbo_terms(self, x: torch.Tensor, *,
                       generator: torch.Generator | None = None) -> ELBOTerms:
            r"""Per-example terms of :math:`-\mathrm{ELBO}`, one reparameterised sample each.

            .. math::

                -\mathrm{ELBO}(x) = \underbrace{-\log p_\theta(x \mid z)}_{\texttt{recon}}
                + \underbrace{D_{\mathrm{KL}}\big(q_\phi(z \mid x)\,\|\,p(z)\big)}_{
                \texttt{kl}}, \quad z \sim q_\phi(z \mid x),

            where ``recon`` is the Bernoulli negative log-likelihood (binary
            cross-entropy with logits) summed over pixels, and ``kl`` comes from
            ``lessons_src.vae_kl``, in closed form. All in nats.

            Parameters
            ----------
            x
                Images, shape ``(n, input_dim)``, entries in [0, 1]. For binary
                :math:`x` the recon term is an exact negative log-likelihood; for grey
                levels it is only a cross-entropy.
            generator
                Source of :math:`\varepsilon` (default: torch's global generator).

            Returns
            -------
            ELBOTerms
                ``recon`` and ``kl`` of shape ``(n,)``, ``kl_per_dim`` of shape
                ``(n, latent_dim)``.
            """
            _check_x("VAE.elbo_terms", x, self.input_dim)
            mu, logvar = self.encode(x)
            z = self.sample(mu, logvar, generator=generator)
            logits = self.decode(z, x)
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
            return ELBOTerms(recon, vae_kl(mu, logvar), kl_per_dim(mu, logvar))

        @torch.no_grad()
        def generate(self, z: torch.Tensor, *, generator: torch.Generator | None = None,
                     mean: bool = False) -> torch.Tensor:
            """Images decoded from latent codes ``z`` of shape ``(n, latent_dim)``.

            ``mean=True`` returns the pixel probabilities (MLP decoder only; what one
            usually shows); otherwise pixels are drawn from the Bernoulli decoder, one at
            a time for the autoregressive decoder. Runs on one thread, so a given
            ``generator`` state gives the same images whatever the thread count.
            """
            if mean and self.decoder_kind != "mlp":
                raise ValueError("VAE.generate: mean=True needs the MLP decoder")
            with single_thread():
                if self.decoder_kind == "mlp":
                    probs = torch.sigmoid(self.decode(z))
                    return probs if mean else torch.bernoulli(probs, generator=generator)
                x = torch.zeros(z.shape[0], self.input_dim, dtype=z.dtype)
                for i in range(self.input_dim):
                    p_i = torch.sigmoid(self.decode(z, x)[:, i])
                    x[:, i] = torch.bernoulli(p_i, generator=generator)
                return x

        @torch.no_grad()
        def reconstruct(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                        mean: bool = False) -> torch.Tensor:
            """Reconstructions of the images ``x``, shape ``(n, input_dim)``.

            ``mean=True``: the pixel probabilities at the mean code
            :math:`z = \\mu_\\phi(x)` (MLP decoder only), the usual picture of a
            reconstruction. ``mean=False``: an honest draw, :math:`z \\sim q(z \\mid x)`
            then :math:`x' \\sim p(x \\mid z)`, from ``generator``. Runs on one thread.
            """
            _check_x("VAE.reconstruct", x, self.input_dim)
            with single_thread():
                mu, logvar = self.encode(x)
                if mean:
                    return self.generate(mu, mean=True)
                return self.generate(self.sample(mu, logvar, generator=generator),
                                     generator=generator)

    VAE._MaskedLinear = MaskedLinear  # reachable as VAE._MaskedLinear: models pickle
    VAE.__module__ = __name__
    VAE.__qualname__ = "VAE"
    MaskedLinear.__module__ = __name__
    MaskedLinear.__qualname__ = "VAE._MaskedLinear"
    return VAE


def __getattr__(name: str) -> Any:
    # The VAE class subclasses torch.nn.Module, so it is built on first use: `import
    # lessons_src` must not import torch.
    if name == "VAE":
        cls = _make_vae_class()
        globals()["VAE"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"VAE"})


def vae_loss(terms: ELBOTerms, *, beta: float = 1.0, free_bits: float | None = None) -> Any:
    r"""The training loss: batch mean of the recon term plus β times the KL term.

    .. math::

        \mathcal L = \overline{\texttt{recon}} + \beta \sum_j
                     \max\big(\lambda,\ \overline{\mathrm{KL}_j}\big),

    where the bars are means over the batch and :math:`\mathrm{KL}_j` is the KL term of
    latent dimension :math:`j`. With ``free_bits=None`` (:math:`\lambda = 0`) and
    :math:`\beta = 1` this is the negative ELBO per example; :math:`\beta \ne 1` is the
    β-VAE objective (Higgins et al., 2017). ``free_bits`` :math:`= \lambda > 0` is the
    "free bits" objective of Kingma et al. (2016): a dimension whose batch-mean KL is
    below :math:`\lambda` nats is not pushed further towards the prior (its KL gets no
    gradient), so the encoder may spend up to :math:`\lambda` nats per dimension for free.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    terms
        Output of :meth:`VAE.elbo_terms`.
    beta
        Weight of the KL term, finite and >= 0.
    free_bits
        :math:`\lambda` in nats per latent dimension (> 0), or ``None`` for none.

    Returns
    -------
    torch.Tensor
        A scalar, in nats per example.

    Raises
    ------
    ValueError
        If ``beta`` is negative or not finite, or ``free_bits`` is not > 0.

    Examples
    --------
    >>> import torch
    >>> from lessons_src.vae import ELBOTerms, vae_loss
    >>> t = ELBOTerms(torch.tensor([10.0, 20.0]), torch.tensor([0.3, 0.5]),
    ...               torch.tensor([[0.1, 0.2], [0.5, 0.0]]))
    >>> round(float(vae_loss(t)), 4), round(float(vae_loss(t, beta=2.0)), 4)
    (15.4, 15.8)
    >>> round(float(vae_loss(t, free_bits=0.25)), 4)  # max(0.25, 0.3) + max(0.25, 0.1)
    15.55
    """
    _check_beta("vae_loss", beta)
    _check_free_bits("vae_loss", free_bits)
    per_dim = terms.kl_per_dim.mean(0)
    if free_bits is not None:
        per_dim = per_dim.clamp(min=free_bits)
    return terms.recon.mean() + beta * per_dim.sum()


def _check_beta(fname: str, beta: Any) -> None:
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.floating | np.integer):
        raise ValueError(f"{fname}: beta must be a number >= 0; got {beta!r}")
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"{fname}: beta must be finite and >= 0; got {beta!r}")


def _check_free_bits(fname: str, free_bits: Any) -> None:
    if free_bits is None:
        return
    if isinstance(free_bits, bool) or not isinstance(free_bits, int | float | np.floating):
        raise ValueError(f"{fname}: free_bits must be a number > 0 or None; got {free_bits!r}")
    if not (math.isfinite(free_bits) and free_bits > 0):
        raise ValueError(f"{fname}: free_bits must be finite and > 0; got {free_bits!r}")


def linear_warmup(epochs: float, beta_max: float = 1.0) -> Any:
    r"""KL annealing schedule: β rises linearly from 0 to ``beta_max`` over ``epochs``.

    .. math::  \beta(t) = \beta_{\max} \min(1, t / T),

    with :math:`t` the training time in epochs (fractional within an epoch) and :math:`T`
    = ``epochs``, as in Bowman et al. (2016), who ramped the KL weight from 0 so that the
    decoder learns to use :math:`z` before the KL term pushes :math:`q` to the prior.
    Pass the result as ``beta`` to :func:`train_vae`.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    epochs
        Length :math:`T` of the warm-up, in epochs (> 0; need not be an integer).
    beta_max
        The final weight (>= 0).

    Returns
    -------
    Any
        A function ``schedule(t) -> float`` of the training time ``t`` in epochs.

    Raises
    ------
    ValueError
        If ``epochs`` is not > 0 or ``beta_max`` is negative.

    Examples
    --------
    >>> from lessons_src.vae import linear_warmup
    >>> schedule = linear_warmup(10)
    >>> [schedule(t) for t in (0, 2.5, 10, 30)]
    [0.0, 0.25, 1.0, 1.0]
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int | float) or not (
            math.isfinite(epochs) and epochs > 0):
        raise ValueError(f"linear_warmup: epochs must be finite and > 0; got {epochs!r}")
    _check_beta("linear_warmup", beta_max)

    def schedule(t: float) -> float:
        return float(beta_max) * min(1.0, t / epochs)

    return schedule


# ======================================================================================
# Training and evaluation
# ======================================================================================
@dataclass
class VAEHistory:
    """Per-epoch record of :func:`train_vae` (one entry per epoch), in nats per example.

    The training values are means over the epoch's minibatches, one sample of :math:`z`
    per example, as the optimiser saw them. The test values are computed after each
    epoch on the whole test set, with one sample of :math:`z` per example drawn from a
    generator seeded with ``train_vae``'s ``seed`` (empty lists without test data).
    """

    beta: list[float] = field(default_factory=list)
    """KL weight β, averaged over the epoch's steps (it changes within an epoch when
    ``beta`` is a schedule)."""
    recon: list[float] = field(default_factory=list)
    """Reconstruction term :math:`-\\log p(x \\mid z)`."""
    kl: list[float] = field(default_factory=list)
    """KL term :math:`D_{\\mathrm{KL}}(q(z \\mid x)\\,\\|\\,p(z))`."""
    kl_per_dim: list[list[float]] = field(default_factory=list)
    """The KL term of each latent dimension (a list of ``latent_dim`` numbers)."""
    loss: list[float] = field(default_factory=list)
    """The loss that was minimised, :func:`vae_loss` (with β and free bits)."""
    test_recon: list[float] = field(default_factory=list)
    """Test reconstruction term."""
    test_kl: list[float] = field(default_factory=list)
    """Test KL term."""
    test_kl_per_dim: list[list[float]] = field(default_factory=list)
    """Test KL term of each latent dimension."""

    @property
    def neg_elbo(self) -> list[float]:
        """Training :math:`-\\mathrm{ELBO} = \\texttt{recon} + \\texttt{kl}` per epoch."""
        return [r + k for r, k in zip(self.recon, self.kl, strict=True)]

    @property
    def test_neg_elbo(self) -> list[float]:
        """Test :math:`-\\mathrm{ELBO}` per epoch (empty without test data)."""
        return [r + k for r, k in zip(self.test_recon, self.test_kl, strict=True)]


def _check_model(fname: str, model: Any) -> None:
    vae_class = globals().get("VAE") or __getattr__("VAE")
    if not isinstance(model, vae_class):
        raise ValueError(f"{fname}: model must be a lessons_src.vae.VAE; got {type(model)}")


def train_vae(model: Any, x_train: Any, *, epochs: int, batch_size: int = 128,
              lr: float = 1e-3, beta: Any = 1.0,
              free_bits: float | None = None, seed: int = 0,
              x_test: Any = None) -> VAEHistory:
    r"""Train a :class:`VAE` with Adam on :func:`vae_loss`, deterministically.

    Each epoch shuffles ``x_train`` and takes one Adam step per minibatch on
    :math:`\overline{\texttt{recon}} + \beta \sum_j \max(\lambda, \overline{\mathrm{KL}_j})`
    (see :func:`vae_loss`). The shuffling and every :math:`\varepsilon` come from one
    ``torch.Generator`` seeded with ``seed``, and the loop runs on one torch thread, so
    two calls with the same arguments and the same initial model give identical
    results, whatever the caller's thread count.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    model
        The :class:`VAE` to train (in place).
    x_train
        Training images, a float tensor of shape ``(n, input_dim)`` with entries in [0, 1].
    epochs, batch_size
        Passes over the data, and examples per step (the last batch may be smaller).
    lr
        Adam's learning rate.
    beta
        KL weight: a number >= 0, or a schedule ``beta(t)`` of the training time ``t``
        in epochs (fractional), such as :func:`linear_warmup`.
    free_bits
        Free-bits floor :math:`\lambda` in nats per latent dimension, or ``None``.
    seed
        Seed of the shuffling and of the reparameterisation noise.
    x_test
        Optional held-out images: their recon and KL terms are recorded after each epoch.

    Returns
    -------
    VAEHistory
        Per-epoch β, recon, KL, per-dimension KL and loss (and the test terms).

    Raises
    ------
    ValueError
        If an argument is out of range, or a schedule returns a bad β.
    """
    import torch

    fname = "train_vae"
    _check_model(fname, model)
    _check_x(fname, x_train, model.input_dim)
    if x_test is not None:
        _check_x(fname, x_test, model.input_dim)
    ck.int_arg(fname, "epochs", epochs, 1)
    ck.int_arg(fname, "batch_size", batch_size, 1)
    ck.int_arg(fname, "seed", seed, 0)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not (
            math.isfinite(lr) and lr > 0):
        raise ValueError(f"{fname}: lr must be finite and > 0; got {lr!r}")
    schedule = beta if callable(beta) else None
    if schedule is None:
        _check_beta(fname, beta)
    _check_free_bits(fname, free_bits)

    history = VAEHistory()
    n = x_train.shape[0]
    n_batches = math.ceil(n / batch_size)
    with single_thread():
        gen = torch.Generator().manual_seed(seed)
        opt = Adam(model.parameters(), lr=lr)
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n, generator=gen)
            sums = torch.zeros(3, dtype=torch.float64)
            dims = torch.zeros(model.latent_dim, dtype=torch.float64)
            betas = []
            for i in range(n_batches):
                b = float(schedule(epoch + i / n_batches)) if schedule else float(beta)
                if schedule:
                    _check_beta(f"{fname} (beta schedule)", b)
                betas.append(b)
                xb = x_train[order[i * batch_size:(i + 1) * batch_size]]
                terms = model.elbo_terms(xb, generator=gen)
                loss = vae_loss(terms, beta=b, free_bits=free_bits)
                model.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                m = xb.shape[0]
                with torch.no_grad():
                    sums += torch.stack([terms.recon.sum(), terms.kl.sum(),
                                         loss.detach() * m]).double()
                    dims += terms.kl_per_dim.sum(0).double()
            history.beta.append(sum(betas) / len(betas))
            history.recon.append(float(sums[0]) / n)
            history.kl.append(float(sums[1]) / n)
            history.loss.append(float(sums[2]) / n)
            history.kl_per_dim.append((dims / n).tolist())
            if x_test is not None:
                terms = _eval_terms(model, x_test, n_samples=1, seed=seed)
                history.test_recon.append(float(terms.recon.double().mean()))
                history.test_kl.append(float(terms.kl.double().mean()))
                history.test_kl_per_dim.append(terms.kl_per_dim.double().mean(0).tolist())
    model.eval()
    return history


def _eval_terms(model: Any, x: Any, *, n_samples: int, seed: int) -> ELBOTerms:
    """ELBO terms averaged over ``n_samples`` draws of z (single thread, no grad)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with single_thread(), torch.no_grad():
        was_training = model.training
        model.eval()
        recon = torch.zeros(x.shape[0], dtype=torch.float64)
        for _ in range(n_samples):
            terms = model.elbo_terms(x, generator=gen)
            recon += terms.recon.double()
        model.train(was_training)
    return ELBOTerms(recon / n_samples, terms.kl, terms.kl_per_dim)


def elbo_estimate(model: Any, x: Any, *, n_samples: int = 1, seed: int = 0) -> ELBOTerms:
    r"""Per-example ELBO terms of a trained :class:`VAE`, averaged over ``n_samples`` draws.

    ``recon`` is the Monte-Carlo average of :math:`-\log p(x \mid z)` over
    :math:`z \sim q(z \mid x)`; ``kl`` and ``kl_per_dim`` are exact (closed form). The
    ELBO estimate is ``-(recon + kl)``; it is an unbiased estimate of the ELBO, which is
    :math:`\le \log p(x)`. Runs without gradients on one thread, with its own generator.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    model
        A :class:`VAE`.
    x
        Images, shape ``(n, input_dim)``, entries in [0, 1].
    n_samples
        Draws of :math:`z` per example (>= 1).
    seed
        Seed of the draws.

    Returns
    -------
    ELBOTerms
        ``recon`` (float64) and ``kl`` of shape ``(n,)``, ``kl_per_dim`` ``(n, latent_dim)``.

    Raises
    ------
    ValueError
        If ``model`` is not a :class:`VAE`, ``x`` is not valid or ``n_samples`` < 1.
    """
    fname = "elbo_estimate"
    _check_model(fname, model)
    _check_x(fname, x, model.input_dim)
    ck.int_arg(fname, "n_samples", n_samples, 1)
    ck.int_arg(fname, "seed", seed, 0)
    return _eval_terms(model, x, n_samples=n_samples, seed=seed)


def iwae_log_likelihood(model: Any, x: Any, *, n_samples: int = 1000, seed: int = 0,
                        chunk: int = 100) -> Any:
    r"""Importance-sampled estimate of :math:`\log p_\theta(x)` (Burda et al., 2016).

    .. math::

        \log p_\theta(x) \approx \log \frac1K \sum_{k=1}^K
        \frac{p_\theta(x \mid z_k)\, p(z_k)}{q_\phi(z_k \mid x)},
        \qquad z_k \sim q_\phi(z \mid x).

    Its expectation is a lower bound on :math:`\log p_\theta(x)` that is at least the
    ELBO (:math:`K = 1`) and tightens to :math:`\log p_\theta(x)` as :math:`K \to \infty`.
    The difference between it and the ELBO therefore estimates (from below) the gap
    :math:`D_{\mathrm{KL}}\big(q_\phi(z \mid x)\,\|\,p_\theta(z \mid x)\big)`.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    model
        A :class:`VAE`.
    x
        Images, shape ``(n, input_dim)``, entries in [0, 1].
    n_samples
        :math:`K` (>= 1).
    seed
        Seed of the draws.
    chunk
        Samples evaluated at once (memory only; the result does not depend on it).

    Returns
    -------
    torch.Tensor
        float64, shape ``(n,)``, in nats.

    Raises
    ------
    ValueError
        If ``model`` is not a :class:`VAE`, ``x`` is not valid or a count is < 1.
    """
    import torch
    from torch.nn import functional as F

    fname = "iwae_log_likelihood"
    _check_model(fname, model)
    _check_x(fname, x, model.input_dim)
    ck.int_arg(fname, "n_samples", n_samples, 1)
    ck.int_arg(fname, "seed", seed, 0)
    ck.int_arg(fname, "chunk", chunk, 1)
    gen = torch.Generator().manual_seed(seed)
    n, d = x.shape
    with single_thread(), torch.no_grad():
        was_training = model.training
        model.eval()
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        log_w = []
        done = 0
        while done < n_samples:
            c = min(chunk, n_samples - done)
            eps = torch.randn((c, *mu.shape), generator=gen, dtype=mu.dtype)
            z = mu + std * eps  # (c, n, latent)
            xs = x.expand(c, n, d).reshape(c * n, d)
            logits = model.decode(z.reshape(c * n, -1), xs)
            log_px_z = -F.binary_cross_entropy_with_logits(
                logits, xs, reduction="none").sum(-1).reshape(c, n)
            log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.square() + logvar + LOG_2PI).sum(-1)
            log_w.append((log_px_z + log_pz - log_qz).double())
            done += c
        model.train(was_training)
        log_w_all = torch.cat(log_w)
        return torch.logsumexp(log_w_all, dim=0) - math.log(n_samples)


def latent_activity(model: Any, x: Any) -> np.ndarray:
    r"""Activity of each latent dimension: :math:`A_j = \operatorname{Var}_x\big(
    \mathbb E_{q(z \mid x)}[z_j]\big)`.

    The variance over the data of the encoder's mean: a dimension whose mean does not
    move with :math:`x` carries no information about :math:`x`. Burda et al. (2016) call a
    unit *active* if :math:`A_j > 0.01`; :func:`active_units` counts with the KL term
    instead.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    model
        A :class:`VAE`.
    x
        Images, shape ``(n, input_dim)`` with ``n >= 2``, entries in [0, 1].

    Returns
    -------
    numpy.ndarray
        float64, shape ``(latent_dim,)``.

    Raises
    ------
    ValueError
        If ``model`` is not a :class:`VAE` or ``x`` is not valid.
    """
    import torch

    fname = "latent_activity"
    _check_model(fname, model)
    _check_x(fname, x, model.input_dim)
    if x.shape[0] < 2:
        raise ValueError(f"{fname}: x needs at least 2 examples to compute a variance")
    with single_thread(), torch.no_grad():
        mu, _ = model.encode(x)
        return mu.double().var(dim=0, correction=1).numpy()


def active_units(model: Any, x: Any, threshold: float = 0.1) -> int:
    r"""Number of latent dimensions whose KL term, averaged over ``x``, exceeds ``threshold``.

    .. math::

        \#\Big\{ j :\ \frac1n \sum_{i=1}^n D_{\mathrm{KL}}\big(q(z_j \mid x_i)\,\|\,
        \mathcal N(0, 1)\big) > \text{threshold} \Big\},

    each term in closed form (:func:`kl_per_dim`), in nats. The average KL of dimension
    :math:`j` is an upper bound on the information :math:`I(x; z_j)` the dimension
    carries, so a dimension below the threshold is (nearly) collapsed: :math:`q(z_j
    \mid x) \approx p(z_j)` for every :math:`x`. Burda et al. (2016) count active units
    with a different statistic, :func:`latent_activity` :math:`> 0.01`; the two agree
    on clearly active and clearly collapsed dimensions.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    model
        A :class:`VAE`.
    x
        Images, shape ``(n, input_dim)``, entries in [0, 1].
    threshold
        In nats per dimension, finite and >= 0.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``model`` is not a :class:`VAE`, ``x`` is not valid or ``threshold`` is
        negative.
    """
    import torch

    fname = "active_units"
    _check_model(fname, model)
    _check_x(fname, x, model.input_dim)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
            math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"{fname}: threshold must be finite and >= 0; got {threshold!r}")
    with single_thread(), torch.no_grad():
        mu, logvar = model.encode(x)
        per_dim = kl_per_dim(mu.double(), logvar.double()).mean(0)
    return int((per_dim > threshold).sum())
