"""Monte-Carlo estimators of the KL divergence from log-density ratios.

These are the per-sample estimators used to monitor (and penalise) the KL between a
policy and a reference policy in PPO and RLHF, popularised by John Schulman's note
"Approximating KL divergence" (2020). numpy/list input gives numpy float64 output, tensor
input gives tensors (same dtype and device, autograd works). Results are in nats.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import _checks as ck

__all__ = ["KLEstimates", "kl_estimators"]


class KLEstimates(NamedTuple):
    """Per-sample KL estimators returned by :func:`kl_estimators`.

    Each field is an array (or tensor) with the broadcast shape of ``logp`` and
    ``logq``; average it over the samples to estimate :math:`D_{\\mathrm{KL}}(q \\| p)`.
    """

    k1: Any
    """The estimator :math:`-\\log r` (unbiased, high variance, can be negative)."""
    k2: Any
    """The estimator :math:`\\tfrac12 (\\log r)^2` (biased, low variance, >= 0)."""
    k3: Any
    """The estimator :math:`(r - 1) - \\log r` (unbiased on a common support, >= 0)."""


def kl_estimators(logp: ArrayLike, logq: ArrayLike) -> KLEstimates:
    r"""Per-sample estimators k1, k2, k3 of :math:`D_{\mathrm{KL}}(q \,\|\, p)`.

    For samples :math:`x \sim q` with density ratio :math:`r = p(x)/q(x)`, i.e.
    :math:`\log r = \log p(x) - \log q(x)`:

    .. math::

        k_1 = -\log r, \qquad
        k_2 = \tfrac12 (\log r)^2, \qquad
        k_3 = (r - 1) - \log r .

    :math:`\mathbb E_q[k_1] = D_{\mathrm{KL}}(q \| p)` exactly; so is
    :math:`\mathbb E_q[k_3]` when :math:`p` and :math:`q` have the same support (then
    :math:`\mathbb E_q[r] = 1`). :math:`k_2` is biased (by about :math:`\mathrm{KL}^2/2`
    for nearby distributions) but has low variance. :math:`k_3 \ge 0` always and has a
    lower variance than :math:`k_1` for nearby distributions, though not for distant ones;
    :math:`r - 1` is computed as ``expm1(log r)`` so small ratios stay accurate.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    logp
        :math:`\log p(x)` of each sample, in nats (``-inf`` allowed: :math:`p(x) = 0`).
    logq
        :math:`\log q(x)` of each sample (the sampling distribution), finite.
        Broadcasts against ``logp``.

    Returns
    -------
    KLEstimates
        A named tuple ``(k1, k2, k3)`` of per-sample arrays (or tensors), in nats.

    Raises
    ------
    ValueError
        If an argument is empty, ``logp`` has a NaN or ``+inf`` entry, ``logq`` is not
        finite, or the shapes do not broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> from lessons_src import kl_estimators
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0.0, 1.0, 100_000)            # x ~ q = N(0, 1)
    >>> logq = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
    >>> logp = -0.5 * (x - 0.5)**2 - 0.5 * np.log(2 * np.pi)  # p = N(0.5, 1)
    >>> est = kl_estimators(logp, logq)
    >>> for name, k in est._asdict().items():  # exact KL(q || p) = 0.125
    ...     print(name, f"mean {k.mean():.3f}, std {k.std():.3f}")
    k1 mean 0.125, std 0.500
    k2 mean 0.133, std 0.189
    k3 mean 0.125, std 0.186
    """
    fname = "kl_estimators"
    conv = ck.convert(fname, ("logp", "logq"), (logp, logq))
    lp, lq = conv.arrays
    ck.check_nonempty(fname, "logp", lp)
    ck.check_nonempty(fname, "logq", lq)
    ck.broadcast_shape(fname, ("logp", "logq"), [lp, lq])
    top = float(lp.detach().max() if conv.torch else lp.max())
    if not top < math.inf:
        ck._bad_entry(fname, "logp", lp)
        raise ValueError(f"{fname}: logp has a +inf entry (a density cannot be infinite)")
    ck.check_finite(fname, "logq", lq)
    if conv.torch:
        import torch

        logr = lp - lq
        k1 = -logr
        k2 = 0.5 * logr.square()
        k3 = torch.expm1(logr) - logr
        return KLEstimates(k1, k2, k3)
    logr = lp - lq
    with np.errstate(all="ignore"):
        k1 = -logr
        k2 = 0.5 * logr * logr
        k3 = np.expm1(logr) - logr
    return KLEstimates(*(ck.finish(k, False) for k in (k1, k2, k3)))
