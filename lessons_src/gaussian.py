"""Closed-form KL divergences between Gaussian distributions.

numpy/list/scalar input gives numpy float64 output (a 0-d result is a ``numpy.float64``);
tensor input gives a tensor with the input's dtype and device, and autograd works.
Arguments broadcast against each other (leading axes are a batch). Results are in nats.

Validation: means and log-variances must be finite, standard deviations finite and > 0,
covariance matrices finite, symmetric (:math:`\\max|C - C^\\top| \\le 10^{-8}
\\max_i |C_{ii}|` for float64, :math:`10^{-5}` for float32/float16 tensors) and
positive-definite (their Cholesky factorisation must succeed). Otherwise
:class:`ValueError` names the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike
from scipy.linalg.lapack import dpotrf, dtrtrs

from . import _checks as ck

__all__ = ["kl_diag_normal", "kl_mvn", "kl_normal", "vae_kl"]

SYM_TOL_FLOAT64 = 1e-8
SYM_TOL_FLOAT32 = 1e-5


def _prep(
    fname: str, names: tuple[str, ...], values: tuple[Any, ...], min_ndim: int = 0
) -> tuple[ck.Arrays, tuple[int, ...]]:
    conv = ck.convert(fname, names, values)
    for n, a in zip(names, conv.arrays, strict=True):
        ck.check_nonempty(fname, n, a)
    shape = ck.broadcast_shape(fname, names, conv.arrays)
    if len(shape) < min_ndim:
        raise ValueError(
            f"{fname}: {_join(names)} must have at least one axis (the dimensions summed "
            f"over); got shape {shape}"
        )
    return conv, shape


def _join(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1]


def kl_normal(mu_p: ArrayLike, sigma_p: ArrayLike, mu_q: ArrayLike, sigma_q: ArrayLike) -> Any:
    r"""KL divergence between two univariate normal distributions.

    .. math::

        D_{\mathrm{KL}}\big(\mathcal N(\mu_p, \sigma_p^2) \,\|\,
        \mathcal N(\mu_q, \sigma_q^2)\big)
        = \log\frac{\sigma_q}{\sigma_p}
          + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2 \sigma_q^2} - \frac12 .

    Evaluated as :math:`\tfrac12\big(\operatorname{expm1}(2t) - 2t + z^2\big)` with
    :math:`t = \log(\sigma_p/\sigma_q)` and :math:`z = (\mu_p - \mu_q)/\sigma_q`, which
    stays accurate when the two distributions are close.

    Taught in Chapter 1, *The definition* (book/01_definition.ipynb), and used in
    Chapter 3, *Asymmetry* (book/03_asymmetry.ipynb).

    Parameters
    ----------
    mu_p, sigma_p
        Mean and **standard deviation** (not variance) of :math:`p`; ``sigma_p > 0``.
    mu_q, sigma_q
        Mean and standard deviation of :math:`q`; ``sigma_q > 0``.
        All four broadcast against each other.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The divergence in nats, with the broadcast shape.

    Raises
    ------
    ValueError
        If a mean is not finite, a standard deviation is not finite and > 0, an argument
        is empty, or the shapes do not broadcast.

    Examples
    --------
    >>> from lessons_src import kl_normal
    >>> print(f"{kl_normal(0.0, 1.0, 1.0, 2.0):.4f}")
    0.4431
    >>> print(kl_normal(0.0, 1.0, [0.0, 1.0, 2.0], 1.0).round(4))  # = (mu_p - mu_q)^2 / 2
    [0.  0.5 2. ]
    """
    fname = "kl_normal"
    names = ("mu_p", "sigma_p", "mu_q", "sigma_q")
    conv, _ = _prep(fname, names, (mu_p, sigma_p, mu_q, sigma_q))
    mp, sp_, mq, sq = conv.arrays
    ck.check_finite(fname, "mu_p", mp)
    ck.check_finite(fname, "mu_q", mq)
    ck.check_positive(fname, "sigma_p", sp_)
    ck.check_positive(fname, "sigma_q", sq)
    if conv.torch:
        import torch

        t = torch.log(sp_ / sq)
        z = (mp - mq) / sq
        return 0.5 * (torch.expm1(2 * t) - 2 * t + z * z)
    t = np.log(sp_ / sq)
    z = (mp - mq) / sq
    return ck.finish(0.5 * (np.expm1(2 * t) - 2 * t + z * z), False)


def _check_cov(fname: str, name: str, c: Any, torch: bool) -> None:
    """Finite and symmetric: max |C - C^T| <= tol * max |diag C|, in one pass.

    C - C^T is antisymmetric, so its max is max |C - C^T|; a NaN or an infinite entry
    makes that max NaN or inf, which fails the test and is then diagnosed.
    """
    if torch:
        cd = c.detach()
        asym = float((cd - cd.mT).amax())
        scale = float(cd.diagonal(dim1=-2, dim2=-1).abs().amax())
        tol = SYM_TOL_FLOAT64 if cd.dtype.itemsize >= 8 else SYM_TOL_FLOAT32
    else:
        asym = float((c - np.swapaxes(c, -1, -2)).max())
        scale = float(np.abs(np.diagonal(c, axis1=-2, axis2=-1)).max())
        tol = SYM_TOL_FLOAT64
    if not asym <= tol * scale:
        ck._bad_entry(fname, name, c)
        raise ValueError(
            f"{fname}: {name} is not symmetric (max |C - C^T| = {asym:.3g} > "
            f"{tol:g} * max |diag C|); it must be a symmetric positive-definite covariance"
        )


def _not_pd(fname: str, name: str) -> ValueError:
    return ValueError(
        f"{fname}: {name} is not positive-definite (its Cholesky factorisation "
        "failed); it must be a symmetric positive-definite covariance"
    )


def _cholesky_np(fname: str, name: str, c: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor (Fortran-ordered for a single matrix)."""
    if c.ndim == 2:
        # c is symmetric, so c.T (a Fortran-ordered view when c is C-ordered) is c again:
        # LAPACK's potrf takes it without a transposing copy
        lo, info = dpotrf(c.T, lower=1, clean=1, overwrite_a=0)
        if info != 0:
            raise _not_pd(fname, name)
        return lo
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise _not_pd(fname, name) from None


def _cholesky_torch(fname: str, name: str, c: Any) -> Any:
    import torch

    L, info = torch.linalg.cholesky_ex(c)
    if bool((info != 0).any()):
        raise _not_pd(fname, name)
    return L


def kl_mvn(mu_p: ArrayLike, cov_p: ArrayLike, mu_q: ArrayLike, cov_q: ArrayLike) -> Any:
    r"""KL divergence between two multivariate normal distributions (full covariance).

    .. math::

        D_{\mathrm{KL}}\big(\mathcal N(\mu_p, \Sigma_p) \,\|\, \mathcal N(\mu_q, \Sigma_q)\big)
        = \tfrac12 \Big[ \operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
          + (\mu_q - \mu_p)^\top \Sigma_q^{-1} (\mu_q - \mu_p) - d
          + \log\frac{\det\Sigma_q}{\det\Sigma_p} \Big].

    Computed from the Cholesky factors :math:`\Sigma = L L^\top` with triangular solves,
    never an explicit inverse: :math:`\operatorname{tr}(\Sigma_q^{-1}\Sigma_p) =
    \|L_q^{-1} L_p\|_F^2`, the Mahalanobis term is :math:`\|L_q^{-1}(\mu_q - \mu_p)\|^2`
    and :math:`\log\det\Sigma = 2 \sum_i \log L_{ii}`.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    mu_p, mu_q
        Means, shape ``(..., d)``.
    cov_p, cov_q
        Covariance matrices, shape ``(..., d, d)``: finite, symmetric (max
        :math:`|C - C^\top| \le 10^{-8} \max_i |C_{ii}|`, :math:`10^{-5}` for float32
        tensors) and positive-definite. Leading (batch) axes of all four arguments broadcast.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The divergence in nats, with the broadcast batch shape.

    Raises
    ------
    ValueError
        If an argument is empty, not finite, a covariance is not square, not symmetric
        or not positive-definite, the dimensions ``d`` disagree, or the batch shapes do
        not broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> from lessons_src import kl_mvn
    >>> mu_p, cov_p = np.zeros(2), np.eye(2)
    >>> mu_q, cov_q = np.array([1.0, 0.0]), np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> print(f"{kl_mvn(mu_p, cov_p, mu_q, cov_q):.4f}")
    0.4227
    """
    fname = "kl_mvn"
    names = ("mu_p", "cov_p", "mu_q", "cov_q")
    conv = ck.convert(fname, names, (mu_p, cov_p, mu_q, cov_q))
    mp, cp, mq, cq = conv.arrays
    for n, a, k in zip(names, conv.arrays, (1, 2, 1, 2), strict=True):
        what = " (the dimensions)" if k == 1 else " (a d x d matrix)"
        ck.check_nonempty(fname, n, a, k, what)
    d = mp.shape[-1]
    for n, c in (("cov_p", cp), ("cov_q", cq)):
        if c.shape[-1] != c.shape[-2]:
            raise ValueError(f"{fname}: {n} must be square; got shape {tuple(c.shape)}")
        if c.shape[-1] != d:
            raise ValueError(
                f"{fname}: {n} has shape {tuple(c.shape)} but mu_p has {d} dimensions"
            )
    if mq.shape[-1] != d:
        raise ValueError(
            f"{fname}: mu_q has {mq.shape[-1]} dimensions but mu_p has {d}"
        )
    batch = ck.broadcast_shape(
        fname, names,
        [_Shape(mp.shape[:-1]), _Shape(cp.shape[:-2]), _Shape(mq.shape[:-1]),
         _Shape(cq.shape[:-2])],
    )
    ck.check_finite(fname, "mu_p", mp)
    ck.check_finite(fname, "mu_q", mq)
    _check_cov(fname, "cov_p", cp, conv.torch)  # also rejects NaN and inf
    _check_cov(fname, "cov_q", cq, conv.torch)
    if conv.torch:
        import torch

        lp = _cholesky_torch(fname, "cov_p", cp)
        lq = _cholesky_torch(fname, "cov_q", cq)
        lq_b = lq.expand(*batch, d, d)
        m = torch.linalg.solve_triangular(lq_b, lp.expand(*batch, d, d), upper=False)
        diff = (mq - mp).expand(*batch, d).unsqueeze(-1)
        v = torch.linalg.solve_triangular(lq_b, diff, upper=False)
        half_logdet = (
            lq.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            - lp.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        )
        quad = m.square().sum((-2, -1)) + v.square().sum((-2, -1))
        return 0.5 * (quad - d) + half_logdet
    lp = _cholesky_np(fname, "cov_p", cp)
    lq = _cholesky_np(fname, "cov_q", cq)
    half_logdet = (
        np.log(np.diagonal(lq, axis1=-2, axis2=-1)).sum(-1)
        - np.log(np.diagonal(lp, axis1=-2, axis2=-1)).sum(-1)
    )
    diff = mq - mp
    if lp.ndim == 2 and lq.ndim == 2 and diff.ndim == 1:
        m, info = dtrtrs(lq, lp, lower=1, overwrite_b=1)  # lp is ours: overwrite it
        v, info2 = dtrtrs(lq, diff, lower=1)
        if info != 0 or info2 != 0:  # cannot happen: potrf gave a nonsingular factor
            raise _not_pd(fname, "cov_q")
        quad = np.add.reduce(np.square(m, out=m), axis=None) + np.dot(v, v)
    else:
        lq = np.broadcast_to(lq, (*batch, d, d))
        lp = np.broadcast_to(lp, (*batch, d, d))
        m = sla.solve_triangular(lq, lp, lower=True, check_finite=False)
        v = sla.solve_triangular(lq, np.broadcast_to(diff, (*batch, d))[..., None],
                                 lower=True, check_finite=False)
        quad = np.add.reduce(np.square(m), axis=(-2, -1)) + np.add.reduce(v[..., 0] ** 2, -1)
    return ck.finish(0.5 * (quad - d) + half_logdet, False)


class _Shape:
    """Stand-in with only a ``shape`` (for broadcasting batch shapes)."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)


def kl_diag_normal(
    mu_p: ArrayLike, logvar_p: ArrayLike, mu_q: ArrayLike, logvar_q: ArrayLike
) -> Any:
    r"""KL divergence between two diagonal Gaussians, summed over the last axis.

    .. math::

        D_{\mathrm{KL}}(p \,\|\, q) = \frac12 \sum_j \Big[
            \log\frac{\sigma_{q,j}^2}{\sigma_{p,j}^2}
            + \frac{\sigma_{p,j}^2 + (\mu_{p,j} - \mu_{q,j})^2}{\sigma_{q,j}^2} - 1 \Big],

    parameterised by log-variances :math:`\ell = \log\sigma^2` as in a VAE encoder, and
    evaluated as :math:`\tfrac12\sum_j [\operatorname{expm1}(\delta_j) - \delta_j +
    (\mu_{p,j}-\mu_{q,j})^2 e^{-\ell_{q,j}}]` with :math:`\delta = \ell_p - \ell_q`.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    mu_p, logvar_p
        Mean and **log-variance** of :math:`p`, last axis = dimensions.
    mu_q, logvar_q
        Mean and log-variance of :math:`q`. All four must be finite and broadcast
        against each other; the broadcast shape needs at least one axis.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The divergence in nats, shape = broadcast shape without its last axis.

    Raises
    ------
    ValueError
        If an argument is empty or not finite, or the shapes do not broadcast.

    Examples
    --------
    >>> from lessons_src import kl_diag_normal
    >>> print(f"{kl_diag_normal([0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]):.4f}")
    0.5000
    """
    fname = "kl_diag_normal"
    names = ("mu_p", "logvar_p", "mu_q", "logvar_q")
    conv, _ = _prep(fname, names, (mu_p, logvar_p, mu_q, logvar_q), min_ndim=1)
    for n, a in zip(names, conv.arrays, strict=True):
        ck.check_finite(fname, n, a)
    mp, lp, mq, lq = conv.arrays
    if conv.torch:
        import torch

        delta = lp - lq
        terms = torch.expm1(delta) - delta + (mp - mq).square() * torch.exp(-lq)
        return 0.5 * terms.sum(-1)
    delta = lp - lq
    terms = np.expm1(delta) - delta + (mp - mq) ** 2 * np.exp(-lq)
    terms = np.broadcast_to(terms, np.broadcast_shapes(mp.shape, lp.shape, mq.shape, lq.shape))
    return ck.finish(0.5 * np.add.reduce(terms, axis=-1), False)


def vae_kl(mu: ArrayLike, logvar: ArrayLike) -> Any:
    r"""KL divergence of a VAE posterior relative to the standard-normal prior.

    .. math::

        D_{\mathrm{KL}}\big(\mathcal N(\mu, \operatorname{diag} e^{\ell}) \,\|\,
        \mathcal N(0, I)\big)
        = \frac12 \sum_j \big(\mu_j^2 + e^{\ell_j} - \ell_j - 1\big),

    summed over the last (latent) axis, with :math:`\ell = \log\sigma^2` the encoder's
    log-variance; :math:`e^{\ell} - 1` is evaluated as ``expm1``. This is the KL term
    of the ELBO.

    Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb).

    Parameters
    ----------
    mu
        Posterior means, shape ``(..., latent_dim)``.
    logvar
        Posterior log-variances, broadcasting against ``mu``. Both must be finite.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The divergence in nats per batch element, shape = broadcast shape without its
        last axis (average it over the batch yourself for a per-example loss).

    Raises
    ------
    ValueError
        If an argument is empty or not finite, or the shapes do not broadcast.

    Examples
    --------
    >>> from lessons_src import vae_kl
    >>> print(f"{vae_kl([0.0, 0.0], [0.0, 0.0]):.4f}")  # posterior = prior
    0.0000
    >>> print(vae_kl([[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, -1.0]]).round(4))
    [0.5    0.5431]
    """
    terms, is_torch = vae_kl_terms("vae_kl", mu, logvar)
    if is_torch:
        return 0.5 * terms.sum(-1)
    return ck.finish(0.5 * np.add.reduce(terms, axis=-1), False)


def vae_kl_terms(fname: str, mu: ArrayLike, logvar: ArrayLike) -> tuple[Any, bool]:
    r"""Validated per-dimension terms :math:`\mu^2 + (e^{\ell} - 1) - \ell` of
    :func:`vae_kl` (twice the per-dimension KL), broadcast, and whether they are a tensor.

    Internal: shared by :func:`vae_kl` and ``lessons_src.vae.kl_per_dim`` so the two
    always agree; ``fname`` names the public function in error messages.
    """
    conv, shape = _prep(fname, ("mu", "logvar"), (mu, logvar), min_ndim=1)
    m, lv = conv.arrays
    ck.check_finite(fname, "mu", m)
    ck.check_finite(fname, "logvar", lv)
    if conv.torch:
        import torch

        return m.square() + torch.expm1(lv) - lv, True
    return np.broadcast_to(m * m + (np.expm1(lv) - lv), shape), False

