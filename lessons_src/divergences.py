"""Jensen-Shannon, total variation and Rényi divergences of discrete distributions.

The conventions are those of :mod:`lessons_src.information`: distributions along the last
axis (leading axes are a broadcast batch), numpy/list input gives numpy float64 output,
tensor input gives a tensor (same dtype and device, autograd works), natural logarithms
(nats) unless ``base`` is given (``base=2``: bits; ``base`` finite, > 0 and != 1).

Validation: entries finite and >= 0, every distribution sums to 1 within
:math:`10^{-6}` (float64 and lists), :math:`10^{-4}` (float32) or :math:`10^{-2}`
(float16/bfloat16); otherwise :class:`ValueError` naming the argument and the problem.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from . import _checks as ck
from .information import _kl_np, _kl_torch, _prep_pq, _scale

__all__ = ["js_distance", "js_divergence", "renyi_divergence", "total_variation"]

_LN2 = math.log(2.0)


def _js(fname: str, p: ArrayLike, q: ArrayLike) -> tuple[Any, bool]:
    """JS divergence in nats, clipped to [0, ln 2]."""
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    # m = (p + q) / 2 underflows to 0 where p + q is the smallest subnormal: use p + q
    # there, so that m > 0 wherever p > 0 or q > 0 (the term is ~1e-324 either way)
    if conv.torch:
        import torch

        s = a + b
        m = 0.5 * s
        m = torch.where(m == 0, s, m)
        js = 0.5 * (_kl_torch(a, m) + _kl_torch(b, m))
        return js.clamp(0.0, _LN2), True
    if a.shape != b.shape:
        a, b = (np.ascontiguousarray(x) for x in np.broadcast_arrays(a, b))
    m = a + b
    m *= 0.5
    js = _kl_np(a, m)
    js += _kl_np(b, m)
    js *= 0.5
    bad = ~np.isfinite(js)
    if bad.any():  # only possible through that underflow
        ab, bb = a[bad], b[bad]
        s = ab + bb
        mb = np.where(s * 0.5 == 0, s, s * 0.5)
        js = np.array(js, copy=True)
        js[bad] = 0.5 * (_kl_np(ab, mb) + _kl_np(bb, mb))
    return np.clip(js, 0.0, _LN2, out=js if isinstance(js, np.ndarray) else None), False


def js_divergence(p: ArrayLike, q: ArrayLike, base: float | None = None) -> Any:
    r"""Jensen-Shannon divergence: the symmetrised, bounded KL divergence.

    .. math::

        \mathrm{JS}(p, q) = \tfrac12 D_{\mathrm{KL}}(p \,\|\, m)
                          + \tfrac12 D_{\mathrm{KL}}(q \,\|\, m),
        \qquad m = \tfrac12 (p + q),

    so that :math:`0 \le \mathrm{JS} \le \ln 2` nats (1 bit); the result is clipped to
    that interval to remove rounding errors. It is finite even where the supports differ.

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb); previewed
    in Chapter 3, *Asymmetry*.

    Parameters
    ----------
    p, q
        Distributions along the last axis (batch axes broadcast). Entries finite and
        >= 0, rows sum to 1 within 1e-6 (float64), 1e-4 (float32) or 1e-2 (float16).
    base
        Logarithm base: ``None`` for nats, ``2`` for bits. Must be > 0 and != 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The JS divergence per row in nats (or units of ``log base``).

    Raises
    ------
    ValueError
        On empty input, negative/NaN/infinite entries, rows not summing to 1, shapes
        that do not broadcast, or an invalid ``base``.

    Examples
    --------
    >>> from lessons_src import js_divergence
    >>> print(f"{js_divergence([1.0, 0.0], [0.0, 1.0], base=2):.4f}")  # disjoint: 1 bit
    1.0000
    >>> print(f"{js_divergence([0.5, 0.5], [0.9, 0.1]):.4f}")
    0.1017
    """
    fname = "js_divergence"
    lb = ck.log_base(fname, base)
    js, torch = _js(fname, p, q)
    return ck.finish(_scale(js, lb), torch)


def js_distance(p: ArrayLike, q: ArrayLike, base: float | None = None) -> Any:
    r"""Jensen-Shannon distance, the square root of :func:`js_divergence`.

    .. math::

        d_{\mathrm{JS}}(p, q) = \sqrt{\mathrm{JS}(p, q)},

    a metric on distributions, as returned by
    ``scipy.spatial.distance.jensenshannon``. With ``base=2`` it lies in
    :math:`[0, 1]`. (For tensors, the gradient is infinite where ``p == q``.)

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p, q
        Distributions along the last axis (batch axes broadcast). Entries finite and
        >= 0, rows sum to 1 within 1e-6 (float64), 1e-4 (float32) or 1e-2 (float16).
    base
        Logarithm base used for the divergence under the root: ``None`` (nats) or
        e.g. ``2``. Must be > 0 and != 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The JS distance per row (square root of nats, or of units of ``log base``).

    Raises
    ------
    ValueError
        As :func:`js_divergence`.

    Examples
    --------
    >>> from lessons_src import js_distance
    >>> print(f"{js_distance([1.0, 0.0], [0.0, 1.0], base=2):.4f}")
    1.0000
    >>> print(f"{js_distance([0.5, 0.5], [0.9, 0.1]):.4f}")
    0.3190
    """
    fname = "js_distance"
    lb = ck.log_base(fname, base)
    js, torch = _js(fname, p, q)
    js = _scale(js, lb)
    if torch:
        return js.sqrt()
    return ck.finish(np.sqrt(js), False)


def total_variation(p: ArrayLike, q: ArrayLike) -> Any:
    r"""Total variation distance between two distributions.

    .. math::

        \mathrm{TV}(p, q) = \tfrac12 \sum_i |p_i - q_i| \in [0, 1],

    the largest difference in probability the two distributions give to one event.
    Pinsker's inequality bounds it by KL: :math:`\mathrm{TV} \le \sqrt{D_{\mathrm{KL}}/2}`
    (KL in nats).

    Taught in Chapter 2, *Gibbs' inequality* (Pinsker's inequality,
    book/02_gibbs.ipynb), and in Chapter 7, *Jensen–Shannon divergence and GANs*.

    Parameters
    ----------
    p, q
        Distributions along the last axis (batch axes broadcast). Entries finite and
        >= 0, rows sum to 1 within 1e-6 (float64), 1e-4 (float32) or 1e-2 (float16).

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The total variation per row (a probability, no unit).

    Raises
    ------
    ValueError
        On empty input, negative/NaN/infinite entries, rows not summing to 1, or shapes
        that do not broadcast.

    Examples
    --------
    >>> from lessons_src import total_variation
    >>> print(f"{total_variation([0.5, 0.5], [0.9, 0.1]):.4f}")
    0.4000
    """
    fname = "total_variation"
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    if conv.torch:
        return 0.5 * (a - b).abs().sum(-1)
    d = a - b
    np.abs(d, out=d)
    res = np.add.reduce(d, axis=-1)
    res *= 0.5
    return ck.finish(res, False)


def _check_alpha(fname: str, alpha: float) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: alpha must be a number > 0; got {alpha!r}") from None
    if not a > 0:
        raise ValueError(f"{fname}: alpha must be > 0; got {alpha!r}")
    return a


def _renyi_np(p: np.ndarray, q: np.ndarray, alpha: float) -> np.ndarray:
    pb, qb = np.broadcast_arrays(p, q)
    pos = pb > 0
    with np.errstate(all="ignore"):
        lr = np.log(pb / qb)  # +inf where q == 0 < p
        over = np.isposinf(lr) & (qb > 0)
        if over.any():
            lr[over] = np.log(pb[over]) - np.log(qb[over])
        if math.isinf(alpha):
            return np.where(pos, lr, -np.inf).max(axis=-1)
        x = (alpha - 1.0) * lr
        t = np.where(pos, np.log(pb) + x, -np.inf)
        res = logsumexp(t, axis=-1)
        if abs(alpha - 1.0) <= 0.5:
            # log sum p e^x = log1p(sum p expm1(x)) for sum p = 1: accurate near alpha = 1,
            # where the sum is close to 1 (elsewhere logsumexp is the accurate one)
            s = np.add.reduce(np.where(pos, pb * np.expm1(x), 0.0), axis=-1)
            res = np.where(np.abs(s) <= 0.5, np.log1p(np.maximum(s, -0.5)), res)
        return res / (alpha - 1.0)


def _renyi_torch(p: Any, q: Any, alpha: float) -> Any:
    import torch

    pos = p > 0
    ps = torch.where(pos, p, 1.0)
    qs = torch.where(pos, q, 1.0)
    lr = torch.log(ps / qs)
    over = torch.isposinf(lr) & (qs > 0)
    if bool(over.any()):
        lr = torch.where(over, torch.log(ps) - torch.log(torch.where(over, qs, 1.0)), lr)
    if math.isinf(alpha):
        return torch.where(pos, lr, -math.inf).amax(dim=-1)
    x = (alpha - 1.0) * lr
    t = torch.where(pos, torch.log(ps) + x, -math.inf)
    res = torch.logsumexp(t, dim=-1)
    if abs(alpha - 1.0) <= 0.5:
        s = torch.where(pos, p * torch.expm1(x), 0.0).sum(-1)
        res = torch.where(s.abs() <= 0.5, torch.log1p(s.clamp(-0.5, 0.5)), res)
    return res / (alpha - 1.0)


def renyi_divergence(
    p: ArrayLike, q: ArrayLike, alpha: float, base: float | None = None
) -> Any:
    r"""Rényi divergence of order ``alpha``.

    .. math::

        D_\alpha(p \,\|\, q) = \frac{1}{\alpha - 1}
            \log \sum_i p_i^{\alpha} q_i^{1 - \alpha},

    with the limits :math:`D_1 = D_{\mathrm{KL}}` (``alpha == 1`` is computed exactly as
    :func:`~lessons_src.information.kl_divergence`) and
    :math:`D_\infty = \log \max_{i: p_i > 0} p_i / q_i` (``alpha = math.inf``).
    :math:`D_\alpha` is non-decreasing in :math:`\alpha`; :math:`D_{1/2}` is
    :math:`-2 \log` of the Bhattacharyya coefficient. The sum is evaluated in log space
    (``logsumexp``), and as :math:`\operatorname{log1p}(\sum_i p_i
    \operatorname{expm1}((\alpha-1)\log(p_i/q_i)))` when :math:`|\alpha - 1| \le 1/2`
    and that sum is at most 1/2 in magnitude, which stays accurate as
    :math:`\alpha \to 1`.

    Not used in the chapters (it is listed on the notation page): the larger
    :math:`\alpha`, the more :math:`q` is penalised for missing mass of :math:`p`
    (for :math:`\alpha < 1` the divergence stays finite when it does).

    Parameters
    ----------
    p, q
        Distributions along the last axis (batch axes broadcast). Entries finite and
        >= 0, rows sum to 1 within 1e-6 (float64), 1e-4 (float32) or 1e-2 (float16).
    alpha
        The order, a number > 0 (``math.inf`` allowed).
    base
        Logarithm base: ``None`` for nats, ``2`` for bits. Must be > 0 and != 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`D_\alpha(p \| q)` per row in nats (or units of ``log base``); may be
        :math:`+\infty` when the supports differ.

    Raises
    ------
    ValueError
        If ``alpha`` is not > 0, and as :func:`~lessons_src.information.kl_divergence`.

    Examples
    --------
    >>> from lessons_src import renyi_divergence
    >>> p, q = [0.5, 0.5], [0.9, 0.1]
    >>> for a in (0.5, 1, 2):
    ...     print(a, f"{renyi_divergence(p, q, a):.4f}")
    0.5 0.2231
    1 0.5108
    2 1.0217
    """
    fname = "renyi_divergence"
    a = _check_alpha(fname, alpha)
    lb = ck.log_base(fname, base)
    conv = _prep_pq(fname, p, q)
    x, y = conv.arrays
    if a == 1.0:
        res = _kl_torch(x, y) if conv.torch else _kl_np(x, y)
    else:
        res = _renyi_torch(x, y, a) if conv.torch else _renyi_np(x, y, a)
    return ck.finish(_scale(res, lb), conv.torch)
