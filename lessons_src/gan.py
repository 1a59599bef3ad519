r"""The original GAN game in one dimension: the optimal discriminator, the value function,
and a small, deterministic GAN trained on a Gaussian mixture.

With data density :math:`p` and generator density :math:`q`, the game of Goodfellow et
al. (2014) has the value

.. math::

    V(D, G) = \mathbb{E}_{x \sim p}\big[\log D(x)\big]
            + \mathbb{E}_{x \sim q}\big[\log\big(1 - D(x)\big)\big],

which the discriminator :math:`D` maximises and the generator :math:`G` minimises. For a
fixed :math:`q` the best discriminator is :math:`D^* = p/(p + q)`
(:func:`optimal_discriminator`), and the generator's criterion is then

.. math::

    C(G) = \max_D V(D, G) = V(D^*, G) = -\log 4 + 2\,\mathrm{JS}(p, q)

(nats). :func:`gan_value` evaluates :math:`V` on a discrete support or on a grid, and
:func:`train_gan` trains a generator and a discriminator with PyTorch and records the JS
divergence between the data and the generator over training
(:func:`mixture_bin_probs`, :func:`histogram_probs`).

Reproducibility: everything random in :func:`train_gan` (initial weights, data, noise)
comes from its ``seed`` through its own :class:`torch.Generator` objects (the global
random state is neither used nor changed), and the training runs on one thread
(``lessons_src.single_thread``), so its numbers do not depend on the caller's
thread count.

Bad arguments raise :class:`ValueError` naming the function and the argument.

Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, xlogy

from . import _checks as ck
from ._torch import Adam, single_thread
from .continuous import _mixture_np
from .divergences import js_divergence

__all__ = [
    "GANResult",
    "SaturationRecord",
    "gan_value",
    "histogram_probs",
    "mixture_bin_probs",
    "optimal_discriminator",
    "saturation_experiment",
    "train_gan",
]

GAN_LOSSES = ("non_saturating", "minimax")


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------
def _check_nonneg(fname: str, name: str, a: Any) -> None:
    """Entries finite and >= 0."""
    ck.check_nonempty(fname, name, a)
    ck.check_finite(fname, name, a)
    ad = a.detach() if ck.is_tensor(a) else a
    lo = float(ad.min())
    if not lo >= 0:
        raise ValueError(f"{fname}: {name} has a negative entry ({lo!r})")


def _edges(fname: str, edges: ArrayLike) -> np.ndarray:
    try:
        e = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: edges must be a 1-D array of numbers") from None
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"{fname}: edges must be 1-D with at least 2 entries; got shape "
                         f"{e.shape}")
    ck.check_finite(fname, "edges", e)
    if not (np.diff(e) > 0).all():
        raise ValueError(f"{fname}: edges must be strictly increasing")
    return e


# --------------------------------------------------------------------------------------
# the game on a grid or a discrete support
# --------------------------------------------------------------------------------------
def optimal_discriminator(p: ArrayLike, q: ArrayLike) -> Any:
    r"""The discriminator that maximises the GAN value for fixed :math:`p` and :math:`q`.

    .. math::

        D^*(x) = \frac{p(x)}{p(x) + q(x)},

    the probability that a point :math:`x` came from the data :math:`p` rather than from
    the generator :math:`q` when both are drawn equally often (Goodfellow et al. 2014,
    Proposition 1). Where :math:`p(x) = q(x) = 0` no point ever arrives and any value is
    optimal; ½ is returned there. Elementwise: works for probabilities on a discrete
    support and for densities evaluated on a grid alike. (No unit: a probability.)

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p, q
        Data and generator probabilities or densities, any broadcastable shapes, finite
        and >= 0 (they need not sum to 1). numpy/lists or torch tensors.

    Returns
    -------
    numpy.ndarray or numpy.float64 or torch.Tensor
        :math:`D^*` with the broadcast shape, in :math:`[0, 1]`.

    Raises
    ------
    ValueError
        On empty input, a negative, NaN or infinite entry, or shapes that do not
        broadcast.

    Examples
    --------
    >>> from lessons_src import optimal_discriminator
    >>> print(optimal_discriminator([0.5, 0.3, 0.2, 0.0], [0.1, 0.3, 0.0, 0.0]).round(4))
    [0.8333 0.5    1.     0.5   ]
    """
    fname = "optimal_discriminator"
    conv = ck.convert(fname, ("p", "q"), (p, q))
    a, b = conv.arrays
    for name, x in (("p", a), ("q", b)):
        _check_nonneg(fname, name, x)
    ck.broadcast_shape(fname, ("p", "q"), [a, b])
    s = a + b
    if conv.torch:
        import torch

        return torch.where(s > 0, a / torch.where(s > 0, s, 1.0), 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = np.where(s > 0, a / np.where(s > 0, s, 1.0), 0.5)
    return ck.finish(res, False)


def gan_value(p: ArrayLike, q: ArrayLike, d: ArrayLike, *, dx: float | None = None) -> Any:
    r"""The GAN value :math:`V(D, G)` of a discriminator ``d`` on a support or a grid.

    .. math::

        V = \sum_x p(x) \log D(x) + \sum_x q(x) \log\big(1 - D(x)\big)
        \quad\text{or}\quad
        V \approx \Delta x \sum_i \big[p(x_i) \log D(x_i) + q(x_i) \log(1 - D(x_i))\big],

    with :math:`0 \log 0 = 0` (a point with no data mass costs nothing, whatever
    :math:`D` says there). The discriminator maximises :math:`V`; the generator
    minimises it. With :math:`D = D^*` (:func:`optimal_discriminator`),
    :math:`V = -\log 4 + 2\,\mathrm{JS}(p, q)` exactly on a discrete support. Terms are
    :math:`-\infty` where :math:`p > 0 = D` or :math:`q > 0` and :math:`D = 1`. In nats.

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p, q
        Data and generator distributions along the last axis (leading axes are a batch;
        all three arguments broadcast). Without ``dx``: probabilities on a discrete
        support, each row summing to 1 (within 1e-6 for float64). With ``dx``:
        densities on an equally spaced grid, finite and >= 0.
    d
        The discriminator's probability that :math:`x` is data, in :math:`[0, 1]`.
    dx
        Grid spacing: the sums become Riemann sums of the integrals (accurate when the
        densities are smooth and negligible at both ends of the grid). ``None``: a
        discrete support.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`V` per row, in nats (at most 0; possibly ``-inf``).

    Raises
    ------
    ValueError
        On empty input, negative/NaN/infinite entries, rows of ``p`` or ``q`` not
        summing to 1 (without ``dx``), ``d`` outside :math:`[0, 1]`, shapes that do not
        broadcast or different last axes, or ``dx`` not finite and > 0.

    Examples
    --------
    >>> import math
    >>> from lessons_src import gan_value, js_divergence, optimal_discriminator
    >>> p, q = [0.5, 0.3, 0.2], [0.1, 0.3, 0.6]
    >>> v = gan_value(p, q, optimal_discriminator(p, q))
    >>> print(f"{v:.4f} {-math.log(4) + 2 * js_divergence(p, q):.4f}")
    -1.1361 -1.1361
    >>> print(f"{gan_value(p, q, [0.5, 0.5, 0.5]):.4f}")  # a coin-flipping D: -log 4
    -1.3863
    """
    fname = "gan_value"
    conv = ck.convert(fname, ("p", "q", "d"), (p, q, d))
    a, b, c = conv.arrays
    for name, x in (("p", a), ("q", b), ("d", c)):
        ck.check_nonempty(fname, name, x, 1, " (the support or grid)")
    ck.same_outcomes(fname, ("p", "q"), a, b)
    ck.same_outcomes(fname, ("p", "d"), a, c)
    ck.broadcast_shape(fname, ("p", "q", "d"), [a, b, c])
    if dx is None:
        ck.check_prob(fname, "p", a, conv.sum_tol[0])
        ck.check_prob(fname, "q", b, conv.sum_tol[1])
        scale = 1.0
    else:
        scale = ck.float_arg(fname, "dx", dx, 0.0, lo_open=True)
        _check_nonneg(fname, "p", a)
        _check_nonneg(fname, "q", b)
    _check_nonneg(fname, "d", c)
    hi = float(c.detach().max() if conv.torch else c.max())
    if hi > 1:
        raise ValueError(f"{fname}: d must be a probability in [0, 1]; got {hi!r}")
    if conv.torch:
        import torch

        res = (torch.xlogy(a, c) + torch.xlogy(b, 1.0 - c)).sum(-1)
        return res * scale if dx is not None else res
    with np.errstate(divide="ignore"):
        res = np.add.reduce(xlogy(a, c) + xlogy(b, 1.0 - c), axis=-1)
    if dx is not None:
        res = res * scale
    return ck.finish(res, False)


# --------------------------------------------------------------------------------------
# the JS estimator: fixed bins plus two overflow bins
# --------------------------------------------------------------------------------------
def mixture_bin_probs(edges: ArrayLike, weights: ArrayLike, means: ArrayLike,
                      sigmas: ArrayLike) -> np.ndarray:
    r"""Exact probabilities of the bins of a 1-D Gaussian mixture, tails included.

    For edges :math:`e_0 < e_1 < \dots < e_B`, the :math:`B + 2` bins are
    :math:`(-\infty, e_0), [e_0, e_1), \dots, [e_{B-1}, e_B), [e_B, \infty)`, and

    .. math::

        \Pr[\text{bin } (a, b)] = \sum_k w_k \big[\Phi\big(\tfrac{b - m_k}{s_k}\big)
        - \Phi\big(\tfrac{a - m_k}{s_k}\big)\big],

    with :math:`\Phi` the standard normal CDF. The same bins as
    :func:`histogram_probs`, so the two can be compared with
    :func:`~lessons_src.divergences.js_divergence`.

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    edges
        Bin edges, 1-D, finite, strictly increasing, at least 2.
    weights, means, sigmas
        The mixture: weights (>= 0, summing to 1), means (finite) and **standard
        deviations** (finite, > 0), 1-D arrays of one length.

    Returns
    -------
    numpy.ndarray
        ``len(edges) + 1`` probabilities summing to 1 (no unit).

    Raises
    ------
    ValueError
        If ``edges`` or a mixture argument is invalid.

    Examples
    --------
    >>> from lessons_src import mixture_bin_probs
    >>> print(mixture_bin_probs([-1.0, 0.0, 1.0], [1.0], [0.0], [1.0]).round(4))
    [0.1587 0.3413 0.3413 0.1587]
    """
    fname = "mixture_bin_probs"
    e = _edges(fname, edges)
    w, m, s = _mixture_np(fname, weights, means, sigmas)
    cdf = (w * ndtr((e[:, None] - m) / s)).sum(-1)
    upper = (w * ndtr((m - e[:, None]) / s)).sum(-1)  # 1 - cdf, accurate in the right tail
    probs = np.empty(e.size + 1)
    probs[0] = cdf[0]
    probs[1:-1] = np.where(cdf[1:] < 0.5, cdf[1:] - cdf[:-1], upper[:-1] - upper[1:])
    probs[-1] = upper[-1]
    return np.clip(probs, 0.0, None)


def histogram_probs(x: ArrayLike, edges: ArrayLike) -> np.ndarray:
    r"""Relative frequencies of samples in fixed bins, with two overflow bins.

    The bins are those of :func:`mixture_bin_probs`: :math:`(-\infty, e_0)`, then
    :math:`[e_{i}, e_{i+1})`, then :math:`[e_B, \infty)`, so no sample is lost, and a
    generator that puts mass far from the data is seen doing so.

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    x
        Samples, any shape (flattened), finite; numpy, list or torch tensor.
    edges
        Bin edges, 1-D, finite, strictly increasing, at least 2.

    Returns
    -------
    numpy.ndarray
        ``len(edges) + 1`` frequencies summing to 1.

    Raises
    ------
    ValueError
        If ``x`` is empty or not finite, or ``edges`` is invalid.

    Examples
    --------
    >>> from lessons_src import histogram_probs
    >>> print(histogram_probs([-2.0, -0.5, 0.2, 0.7, 5.0], [-1.0, 0.0, 1.0]))
    [0.2 0.2 0.4 0.2]
    """
    fname = "histogram_probs"
    e = _edges(fname, edges)
    if ck.is_tensor(x):
        x = x.detach().cpu().double().numpy()
    try:
        xs = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: x must be an array of numbers") from None
    ck.check_nonempty(fname, "x", xs)
    ck.check_finite(fname, "x", xs)
    idx = np.searchsorted(e, xs, side="right")
    counts = np.bincount(idx, minlength=e.size + 1)
    return counts / xs.size


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
def _mlp(n_in: int, hidden: int, seed: int, smooth: bool = False) -> Any:
    """Two hidden layers; SiLU (smooth) for the generator, LeakyReLU(0.2) otherwise."""
    import torch
    from torch import nn

    def act() -> Any:
        return nn.SiLU() if smooth else nn.LeakyReLU(0.2)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(),
                             nn.Linear(hidden, 1))


@dataclass
class GANResult:
    """What :func:`train_gan` returns: the training record and the trained networks."""

    loss: str
    """Which generator loss was used, ``"non_saturating"`` or ``"minimax"``."""
    eval_steps: list[int] = field(default_factory=list)
    """Training steps at which :attr:`js` was measured (0 = before training)."""
    js: list[float] = field(default_factory=list)
    """JS divergence (nats) between the binned data distribution and the histogram of
    ``eval_samples`` generator samples (fixed noise), at each of :attr:`eval_steps`."""
    d_loss: list[float] = field(default_factory=list)
    r"""The discriminator's loss :math:`-\hat V` on each step's batch (before its
    update), nats; :math:`\log 4` for a discriminator that cannot tell."""
    g_loss: list[float] = field(default_factory=list)
    """The generator's loss at each step (after the discriminator's update), nats."""
    d_real: list[float] = field(default_factory=list)
    """The mean of :math:`D(x)` on each step's data batch."""
    d_fake: list[float] = field(default_factory=list)
    """The mean of :math:`D(G(z))` on each step's generated batch."""
    edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Bin edges of the JS estimator (plus two overflow bins)."""
    data_probs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Exact bin probabilities of the data (:func:`mixture_bin_probs`)."""
    generator: Any = None
    """The trained generator (a ``torch.nn.Module``), mapping noise ``(n, noise_dim)`` to
    points ``(n, 1)``."""
    discriminator: Any = None
    """The trained discriminator (a ``torch.nn.Module``), mapping points ``(n, 1)`` to
    logits ``(n, 1)``."""
    noise_dim: int = 1
    """Dimension of the generator's Gaussian noise."""

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` generator samples (float64 numpy array), noise from ``seed``."""
        import torch

        n = ck.int_arg("GANResult.sample", "n", n, 1)
        s = ck.int_arg("GANResult.sample", "seed", seed, 0)
        z = torch.randn(n, self.noise_dim, generator=torch.Generator().manual_seed(s))
        with single_thread(), torch.no_grad():
            return self.generator(z).squeeze(1).double().numpy()

    def discriminate(self, x: ArrayLike) -> np.ndarray:
        """The discriminator's probability :math:`D(x)` that each ``x`` is data."""
        import torch

        xs = np.asarray(x, dtype=np.float64)
        t = torch.as_tensor(xs.reshape(-1, 1), dtype=torch.float32)
        with single_thread(), torch.no_grad():
            d = torch.sigmoid(self.discriminator(t)).squeeze(1).double().numpy()
        return d.reshape(xs.shape)


def train_gan(weights: ArrayLike, means: ArrayLike, sigmas: ArrayLike, *,
              steps: int = 1500, batch_size: int = 256, hidden: int = 32,
              noise_dim: int = 4, lr: float = 1e-3, loss: str = "non_saturating",
              eval_every: int = 50, eval_samples: int = 20_000,
              edges: np.ndarray | list[float] | None = None, seed: int = 0) -> GANResult:
    r"""Train a 1-D GAN on a Gaussian mixture, deterministically, recording the JS.

    The generator :math:`G` maps Gaussian noise :math:`z \in \mathbb{R}^{d}` to
    :math:`x = G(z) \in \mathbb{R}`, the discriminator maps :math:`x` to a logit
    :math:`a(x)` with :math:`D(x) = \sigma(a(x))`; both are MLPs with two hidden layers of
    ``hidden`` units (SiLU activations for the generator, so that it is a smooth map;
    LeakyReLU 0.2 for the discriminator), float32. Each step draws ``batch_size`` data points
    and ``2 * batch_size`` noise vectors, then

    1. takes an Adam step (betas 0.5, 0.999) for :math:`D` on
       :math:`-\hat V = -\overline{\log D(x)} - \overline{\log(1 - D(G(z)))}`;
    2. takes an Adam step for :math:`G` on the chosen loss, with the updated :math:`D`:

       - ``"non_saturating"`` (default, what is used in practice):
         :math:`-\overline{\log D(G(z))}`. It has the same fixed point but is **not**
         the JS minimisation: with :math:`D = D^*` its gradient is that of
         :math:`D_{\mathrm{KL}}(Q\,\|\,P) - 2\,\mathrm{JS}(P, Q)` (Arjovsky and Bottou,
         2017).
       - ``"minimax"`` (saturating): :math:`\overline{\log(1 - D(G(z)))}`, the game's own
         objective; with :math:`D = D^*` it is :math:`C(G) = -\log 4 + 2\,\mathrm{JS}`.

    **The JS estimate.** Every ``eval_every`` steps (and at step 0 and the end),
    ``eval_samples`` generator samples (always from the same noise, so the curve shows
    the generator's change, not fresh sampling noise) are binned with
    :func:`histogram_probs`, and :func:`~lessons_src.divergences.js_divergence` compares
    them with the data's exact bin probabilities (:func:`mixture_bin_probs`). Binning
    can only lose information, so the binned JS is at most the JS of the densities; its
    resolution is the bin width. Sampling noise adds a small upward bias, about
    :math:`(B - 1)/(8n)` for :math:`B` occupied bins and :math:`n` samples when the two
    distributions agree (0.0005 for 80 bins and 20 000 samples).

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    weights, means, sigmas
        The data distribution, a Gaussian mixture: weights (summing to 1), means and
        **standard deviations** (> 0), 1-D arrays of one length.
    steps
        Number of training steps (each one D step and one G step), >= 0.
    batch_size
        Data points per step, >= 1.
    hidden
        Width of the hidden layers of both networks, >= 1.
    noise_dim
        Dimension of the generator's standard Gaussian noise, >= 1.
    lr
        Adam learning rate of both networks, > 0.
    loss
        ``"non_saturating"`` or ``"minimax"``.
    eval_every
        Steps between JS measurements, >= 1.
    eval_samples
        Generator samples per JS measurement, >= 1.
    edges
        Bin edges of the JS estimator. Default: 120 equal bins from
        :math:`\min_k(m_k - 4 s_k)` to :math:`\max_k(m_k + 4 s_k)`.
    seed
        Non-negative integer; the same seed gives the same numbers.

    Returns
    -------
    GANResult
        The history (``eval_steps``, ``js``, ``d_loss``, ``g_loss``, ``d_real``,
        ``d_fake``) and the trained ``generator`` and ``discriminator``.

    Raises
    ------
    ValueError
        If an argument has the wrong type or range, or a loss becomes NaN.

    Examples
    --------
    >>> from lessons_src import train_gan
    >>> run = train_gan([0.5, 0.5], [-2.0, 2.0], [0.5, 0.5], steps=200, eval_every=100)
    >>> run.eval_steps, len(run.d_loss)
    ([0, 100, 200], 200)
    >>> run.js[-1] < run.js[0]
    True
    """
    import torch
    import torch.nn.functional as F

    fname = "train_gan"
    w, m, s = _mixture_np(fname, weights, means, sigmas)
    n_steps = ck.int_arg(fname, "steps", steps, 0)
    bs = ck.int_arg(fname, "batch_size", batch_size, 1)
    h = ck.int_arg(fname, "hidden", hidden, 1)
    nz = ck.int_arg(fname, "noise_dim", noise_dim, 1)
    rate = ck.float_arg(fname, "lr", lr, 0.0, lo_open=True)
    every = ck.int_arg(fname, "eval_every", eval_every, 1)
    n_eval = ck.int_arg(fname, "eval_samples", eval_samples, 1)
    sd = ck.int_arg(fname, "seed", seed, 0)
    if loss not in GAN_LOSSES:
        raise ValueError(f"{fname}: loss must be one of {', '.join(map(repr, GAN_LOSSES))}; "
                         f"got {loss!r}")
    if edges is None:
        e = np.linspace(float((m - 4 * s).min()), float((m + 4 * s).max()), 121)
    else:
        e = _edges(fname, edges)
    data_probs = mixture_bin_probs(e, w, m, s)

    res = GANResult(loss=loss, edges=e, data_probs=data_probs, noise_dim=nz)
    gen = torch.Generator().manual_seed(2 * sd)
    z_eval = torch.randn(n_eval, nz, generator=torch.Generator().manual_seed(2 * sd + 1))
    cum_w = torch.tensor(np.cumsum(w)[:-1], dtype=torch.float32)
    mt = torch.tensor(m, dtype=torch.float32)
    st = torch.tensor(s, dtype=torch.float32)

    def measure(step: int) -> None:
        with torch.no_grad():
            x = G(z_eval).squeeze(1).double().numpy()
        res.eval_steps.append(step)
        res.js.append(float(js_divergence(data_probs, histogram_probs(x, e))))

    with single_thread():
        G = _mlp(nz, h, 2 * sd, smooth=True)
        D = _mlp(1, h, 2 * sd + 1)
        opt_g = Adam(G.parameters(), lr=rate, betas=(0.5, 0.999), torch_rounding=False)
        opt_d = Adam(D.parameters(), lr=rate, betas=(0.5, 0.999), torch_rounding=False)
        measure(0)
        for step in range(1, n_steps + 1):
            k = torch.searchsorted(cum_w, torch.rand(bs, generator=gen), right=True)
            x_real = (mt[k] + st[k] * torch.randn(bs, generator=gen)).unsqueeze(1)
            x_fake = G(torch.randn(2 * bs, nz, generator=gen))
            # 1. discriminator step on -V (logits a: log D = -softplus(-a),
            #    log(1 - D) = -softplus(a))
            a_both = D(torch.cat([x_real, x_fake[:bs].detach()]))
            a_real, a_fake = a_both[:bs], a_both[bs:]
            d_loss = F.softplus(-a_real).mean() + F.softplus(a_fake).mean()
            d_loss.backward()
            opt_d.step()
            opt_d.zero_grad()
            # 2. generator step against the updated discriminator (D's grads discarded)
            a_gen = D(x_fake[bs:])
            if loss == "non_saturating":
                g_loss = F.softplus(-a_gen).mean()
            else:
                g_loss = -F.softplus(a_gen).mean()
            g_loss.backward()
            opt_d.zero_grad()
            opt_g.step()
            opt_g.zero_grad()
            dl, gl = float(d_loss.detach()), float(g_loss.detach())
            if math.isnan(dl) or math.isnan(gl):
                raise ValueError(f"{fname}: a loss became NaN at step {step}; lower lr")
            res.d_loss.append(dl)
            res.g_loss.append(gl)
            res.d_real.append(float(torch.sigmoid(a_real.detach()).mean()))
            res.d_fake.append(float(torch.sigmoid(a_fake.detach()).mean()))
            if step % every == 0 or step == n_steps:
                measure(step)
    res.generator, res.discriminator = G, D
    return res


# --------------------------------------------------------------------------------------
# saturation: the generator's gradient as the discriminator improves
# --------------------------------------------------------------------------------------
class SaturationRecord(NamedTuple):
    """What :func:`saturation_experiment` returns: one entry per recorded step."""

    steps: list[int]
    """Discriminator training steps at which the entries were recorded (0 = untrained)."""
    d_fake: list[float]
    r"""Mean :math:`D(G_\theta(z))` over the fixed evaluation noise."""
    value: list[float]
    r"""The discriminator's :math:`\hat V(D, G)` on fixed evaluation data and noise,
    nats; it rises towards :math:`-\log 4 + 2 \ln 2 = 0` as :math:`D` separates
    (nearly) disjoint distributions."""
    grad_minimax: list[float]
    r""":math:`\partial_\theta` of the minimax generator loss
    :math:`\overline{\log(1 - D(\theta + \sigma z))}`."""
    grad_non_saturating: list[float]
    r""":math:`\partial_\theta` of the non-saturating loss
    :math:`-\overline{\log D(\theta + \sigma z)}`."""


def saturation_experiment(shift: float = 2.0, *, sigma: float = 0.1, steps: int = 300,
                          record_every: int = 10, batch_size: int = 256, hidden: int = 32,
                          lr: float = 1e-3, eval_samples: int = 4096,
                          seed: int = 0) -> SaturationRecord:
    r"""Train a discriminator against a frozen generator and watch the generator's
    gradients: the minimax loss saturates, the non-saturating one does not.

    The data are :math:`\mathcal N(0, \sigma^2)`; the generator is the one-parameter
    family :math:`G_\theta(z) = \theta + \sigma z`, frozen at :math:`\theta` =
    ``shift``, so for ``shift`` :math:`\gg \sigma` the two distributions barely overlap
    and the optimal discriminator is (nearly) 1 on the data and 0 on the generator. A
    discriminator (the architecture of :func:`train_gan`) takes ``steps`` Adam steps on
    :math:`-\hat V`; every ``record_every`` steps, on fixed evaluation data and noise,
    the derivatives with respect to :math:`\theta` of both generator losses are
    computed by autograd. With logits :math:`a`, :math:`D = \sigma(a)`:

    .. math::

        \partial_\theta \overline{\log(1 - D)} = -\overline{D \, a'(x)}, \qquad
        \partial_\theta \big(-\overline{\log D}\big) = -\overline{(1 - D)\, a'(x)},

    so as :math:`D(G_\theta(z)) \to 0` the minimax gradient vanishes while the
    non-saturating one keeps the size of the logit's slope (Goodfellow et al. 2014,
    Section 3; Arjovsky and Bottou 2017). Deterministic (own seeded generators, one
    thread).

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    shift
        The generator's location :math:`\theta` (the data are centred at 0); finite.
    sigma
        Standard deviation of both distributions, > 0.
    steps, record_every
        Discriminator steps (>= 0) and steps between records (>= 1).
    batch_size, hidden, lr
        Data points per step, hidden width, Adam learning rate.
    eval_samples
        Points of fixed data and noise used for the records.
    seed
        Non-negative integer.

    Returns
    -------
    SaturationRecord
        Lists ``steps``, ``d_fake``, ``value``, ``grad_minimax``,
        ``grad_non_saturating``.

    Raises
    ------
    ValueError
        If an argument has the wrong type or range.

    Examples
    --------
    >>> from lessons_src import saturation_experiment
    >>> rec = saturation_experiment(steps=200, record_every=100)
    >>> rec.steps
    [0, 100, 200]
    >>> abs(rec.grad_minimax[-1]) < abs(rec.grad_non_saturating[-1])
    True
    """
    import torch
    import torch.nn.functional as F

    fname = "saturation_experiment"
    try:
        theta0 = float(shift)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: shift must be a finite number; got {shift!r}") from None
    if not math.isfinite(theta0):
        raise ValueError(f"{fname}: shift must be a finite number; got {shift!r}")
    sig = ck.float_arg(fname, "sigma", sigma, 0.0, lo_open=True)
    n_steps = ck.int_arg(fname, "steps", steps, 0)
    every = ck.int_arg(fname, "record_every", record_every, 1)
    bs = ck.int_arg(fname, "batch_size", batch_size, 1)
    h = ck.int_arg(fname, "hidden", hidden, 1)
    rate = ck.float_arg(fname, "lr", lr, 0.0, lo_open=True)
    n_eval = ck.int_arg(fname, "eval_samples", eval_samples, 1)
    sd = ck.int_arg(fname, "seed", seed, 0)

    gen = torch.Generator().manual_seed(2 * sd)
    ev = torch.Generator().manual_seed(2 * sd + 1)
    x_eval = sig * torch.randn(n_eval, 1, generator=ev)
    z_eval = torch.randn(n_eval, 1, generator=ev)
    rec = SaturationRecord([], [], [], [], [])

    def record(step: int) -> None:
        theta = torch.tensor(theta0, requires_grad=True)
        a_fake = D(theta + sig * z_eval)
        g_mm = torch.autograd.grad(-F.softplus(a_fake).mean(), theta, retain_graph=True)[0]
        g_ns = torch.autograd.grad(F.softplus(-a_fake).mean(), theta)[0]
        with torch.no_grad():
            a_real = D(x_eval)
            v = -(F.softplus(-a_real).mean() + F.softplus(a_fake).mean())
        rec.steps.append(step)
        rec.d_fake.append(float(torch.sigmoid(a_fake.detach()).mean()))
        rec.value.append(float(v))
        rec.grad_minimax.append(float(g_mm))
        rec.grad_non_saturating.append(float(g_ns))

    with single_thread():
        D = _mlp(1, h, 2 * sd + 1)
        opt = Adam(D.parameters(), lr=rate, betas=(0.5, 0.999), torch_rounding=False)
        record(0)
        for step in range(1, n_steps + 1):
            x_real = sig * torch.randn(bs, 1, generator=gen)
            x_fake = theta0 + sig * torch.randn(bs, 1, generator=gen)
            a = D(torch.cat([x_real, x_fake]))
            loss = F.softplus(-a[:bs]).mean() + F.softplus(a[bs:]).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            if step % every == 0 or step == n_steps:
                record(step)
    return rec
