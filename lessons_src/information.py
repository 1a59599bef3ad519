"""Entropy, cross-entropy, KL divergence and mutual information of discrete distributions.

Conventions shared by every function in this module:

- Distributions lie along the **last axis**; leading axes are batch axes and ``p`` is
  broadcast against ``q`` (the last axes must have the same length).
- numpy arrays, (nested) lists and torch tensors are accepted. numpy/list input gives
  numpy float64 output (a 0-d result is a ``numpy.float64`` scalar); tensor input gives a
  tensor with the input's dtype and device, and autograd works through it.
- Natural logarithms (**nats**) by default; ``base=2`` gives **bits** (the result is
  divided by :math:`\\ln b`). ``base`` must be finite, > 0 and != 1.
- :math:`0 \\log(0/q) = 0`; a term with :math:`p > 0` where :math:`q = 0` is
  :math:`+\\infty`. No NaN and no numpy ``RuntimeWarning`` is produced for such entries.
  For tensors, the gradient of a term with :math:`p = 0` is 0 (finite).

Validation: entries must be finite and >= 0, and every distribution must sum to 1 within
a tolerance that depends on the input's precision: :math:`|\\sum p - 1| \\le 10^{-6}` for
float64 (and lists), :math:`10^{-4}` for float32, :math:`10^{-2}` for float16/bfloat16.
Anything else raises :class:`ValueError` naming the argument and the problem, e.g.
``"kl_divergence: q has a negative entry (-0.1)"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import entr, rel_entr, xlogy

from . import _checks as ck

__all__ = ["cross_entropy", "entropy", "kl_divergence", "mutual_information"]


# --------------------------------------------------------------------------------------
# shared preparation
# --------------------------------------------------------------------------------------
def _prep_pq(fname: str, p: ArrayLike, q: ArrayLike, axes: int = 1) -> ck.Arrays:
    conv = ck.convert(fname, ("p", "q"), (p, q))
    a, b = conv.arrays
    for name, x in (("p", a), ("q", b)):
        ck.check_nonempty(fname, name, x, axes, " (the outcomes)")
    ck.same_outcomes(fname, ("p", "q"), a, b, axes)
    ck.broadcast_shape(fname, ("p", "q"), [a, b])
    ck.check_prob(fname, "p", a, conv.sum_tol[0], axes)
    ck.check_prob(fname, "q", b, conv.sum_tol[1], axes)
    return conv


def _scale(res: Any, lb: float | None) -> Any:
    if lb is None:
        return res
    if isinstance(res, np.ndarray):
        res /= lb
        return res
    return res / lb


# --------------------------------------------------------------------------------------
# kernels (no validation): sums over the last axis
# --------------------------------------------------------------------------------------
# rows are processed in blocks of about this many elements so that temporaries stay in
# cache and large inputs do not page-fault a fresh temporary of their own size.
_BLOCK = 1 << 15


def _rel_entr(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``rel_entr(p, q)``, also exact where ``p / q`` overflows (``q`` subnormal)."""
    with np.errstate(all="ignore"):
        r = rel_entr(p, q)
        over = np.isposinf(r) & (q > 0)
        if over.any():
            pb, qb = np.broadcast_arrays(p, q)
            r[over] = pb[over] * (np.log(pb[over]) - np.log(qb[over]))
    return r


def _kl_np(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """sum(rel_entr(p, q), -1) for validated float64 arrays."""
    if p.shape != q.shape:
        p, q = np.broadcast_arrays(p, q)
    n = p.shape[-1]
    lead = p.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))
    if rows <= 1 or n * rows <= _BLOCK or not (p.flags.c_contiguous and q.flags.c_contiguous):
        return np.add.reduce(_rel_entr(p, q), axis=-1)
    p2, q2 = p.reshape(rows, n), q.reshape(rows, n)
    out = np.empty(rows)
    step = max(1, _BLOCK // n)
    buf = np.empty((min(step, rows), n))
    with np.errstate(all="ignore"):
        for i in range(0, rows, step):
            j = min(i + step, rows)
            b = buf[: j - i]
            pb, qb = p2[i:j], q2[i:j]
            np.divide(pb, qb, out=b)
            np.log(b, out=b)
            np.multiply(b, pb, out=b)
            s = np.add.reduce(b, axis=-1)
            # p == 0 gives 0 * log(0) = nan, q == 0 gives inf (true or an overflow of
            # p / q): redo those rows term by term
            bad = ~np.isfinite(s)
            if bad.any():
                s[bad] = np.add.reduce(_rel_entr(pb[bad], qb[bad]), axis=-1)
            out[i:j] = s
    return out.reshape(lead)


def _kl_torch(p: Any, q: Any) -> Any:
    import torch

    pos = p > 0
    ps = torch.where(pos, p, 1.0)
    qs = torch.where(pos, q, 1.0)
    lr = torch.log(ps / qs)
    over = torch.isposinf(lr) & (qs > 0)  # p / q overflowed although q > 0
    if bool(over.any()):
        lr = torch.where(over, torch.log(ps) - torch.log(torch.where(over, qs, 1.0)), lr)
    return (p * lr).sum(-1)


def _entropy_torch(p: Any) -> Any:
    import torch

    ps = torch.where(p > 0, p, 1.0)
    return -(p * torch.log(ps)).sum(-1) + 0.0  # + 0.0 turns -0.0 (one-hot p) into 0.0


def _xent_torch(p: Any, q: Any) -> Any:
    import torch

    qs = torch.where(p > 0, q, 1.0)
    return -(p * torch.log(qs)).sum(-1) + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def entropy(p: ArrayLike, base: float | None = None) -> Any:
    r"""Shannon entropy of a discrete distribution.

    .. math::

        H(p) = -\sum_i p_i \log p_i, \qquad 0 \log 0 = 0.

    Taught in Chapter 1, *The definition* (book/01_definition.ipynb).

    Parameters
    ----------
    p
        Probabilities along the last axis (leading axes are a batch). Entries must be
        finite and >= 0 and each row must sum to 1 within 1e-6 (float64 and lists),
        1e-4 (float32) or 1e-2 (float16/bfloat16).
    base
        Logarithm base: ``None`` for nats, ``2`` for bits. Must be > 0 and != 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The entropy of each row, in nats (or in units of ``log base``); shape
        ``p.shape[:-1]``. Same backend as ``p``.

    Raises
    ------
    ValueError
        If ``p`` is empty, has a negative, NaN or infinite entry, a row that does not sum
        to 1, or if ``base`` is invalid.

    Examples
    --------
    >>> from lessons_src import entropy
    >>> print(f"{entropy([0.5, 0.5], base=2):.4f}")
    1.0000
    >>> print(entropy([[1.0, 0.0], [0.25, 0.75]]).round(4))
    [0.     0.5623]
    """
    fname = "entropy"
    lb = ck.log_base(fname, base)
    conv = ck.convert(fname, ("p",), (p,))
    (a,) = conv.arrays
    ck.check_nonempty(fname, "p", a, 1, " (the outcomes)")
    ck.check_prob(fname, "p", a, conv.sum_tol[0])
    if conv.torch:
        res = _entropy_torch(a)
    else:
        res = np.add.reduce(entr(a), axis=-1)
    return ck.finish(_scale(res, lb), conv.torch)


def cross_entropy(p: ArrayLike, q: ArrayLike, base: float | None = None) -> Any:
    r"""Cross-entropy of ``p`` relative to ``q``.

    .. math::

        H(p, q) = -\sum_i p_i \log q_i = H(p) + D_{\mathrm{KL}}(p \,\|\, q),

    with :math:`0 \log q = 0` and :math:`+\infty` where :math:`p_i > 0 = q_i`.

    Taught in Chapter 1, *The definition* (book/01_definition.ipynb), and used as the
    maximum-likelihood loss in Chapter 8, *Maximum likelihood*.

    Parameters
    ----------
    p
        The "true" distribution, along the last axis (leading axes are a batch,
        broadcast against ``q``). Finite, >= 0, rows sum to 1 within 1e-6 (float64),
        1e-4 (float32) or 1e-2 (float16/bfloat16).
    q
        The model distribution, same conditions and same last-axis length as ``p``.
    base
        Logarithm base: ``None`` for nats, ``2`` for bits. Must be > 0 and != 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`H(p, q)` per row in nats (or units of ``log base``), with the broadcast
        batch shape. Same backend as the inputs.

    Raises
    ------
    ValueError
        On empty input, negative/NaN/infinite entries, rows not summing to 1, shapes
        that do not broadcast, different numbers of outcomes, or an invalid ``base``.

    Examples
    --------
    >>> from lessons_src import cross_entropy
    >>> print(f"{cross_entropy([0.5, 0.5], [0.9, 0.1], base=2):.4f}")
    1.7370
    >>> print(cross_entropy([1.0, 0.0], [0.0, 1.0]))
    inf
    """
    fname = "cross_entropy"
    lb = ck.log_base(fname, base)
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    if conv.torch:
        res = _xent_torch(a, b)
    else:
        with np.errstate(all="ignore"):
            res = np.add.reduce(xlogy(a, b), axis=-1)
        res = np.negative(res, out=res) if isinstance(res, np.ndarray) else -res
        res = res + 0.0  # turn -0.0 into 0.0
    return ck.finish(_scale(res, lb), conv.torch)


def kl_divergence(p: ArrayLike, q: ArrayLike, base: float | None = None) -> Any:
    r"""Kullback-Leibler divergence of ``p`` relative to ``q`` (relative entropy).

    .. math::

        D_{\mathrm{KL}}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i},

    with :math:`0 \log(0/q) = 0` and :math:`+\infty` where :math:`p_i > 0 = q_i`.
    Each term is evaluated like ``scipy.special.rel_entr`` (the ratio first, then
    its logarithm), so probabilities as small as 1e-300 stay accurate.

    Taught in Chapter 1, *The definition* (book/01_definition.ipynb).

    Parameters
    ----------
    p
        The reference (data) distribution(s), along the last axis; leading axes are a
        batch, broadcast against ``q``. Entries finite and >= 0, rows sum to 1 within
        1e-6 (float64 and lists), 1e-4 (float32) or 1e-2 (float16/bfloat16).
    q
        The model (approximating) distribution(s), same conditions and same last-axis
        length as ``p``.
    base
        Logarithm base: ``None`` for nats, ``2`` for bits. Must be > 0 and != 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`D_{\mathrm{KL}}(p \| q)` per row, in nats (or units of ``log base``),
        with the broadcast batch shape. Same backend as the inputs; for tensors the
        gradient is finite where ``p`` is 0 (it is taken as 0 there). The result is not
        clipped at 0: as rows need only sum to 1 within the tolerance, it can be
        slightly negative, by about the normalisation error.

    Raises
    ------
    ValueError
        On empty input, negative/NaN/infinite entries, rows not summing to 1, shapes
        that do not broadcast, different numbers of outcomes, or an invalid ``base``.

    Examples
    --------
    >>> from lessons_src import kl_divergence
    >>> p, q = [0.5, 0.5], [0.9, 0.1]
    >>> print(f"{kl_divergence(p, q):.4f} nats, {kl_divergence(p, q, base=2):.4f} bits")
    0.5108 nats, 0.7370 bits
    >>> print(f"{kl_divergence(q, p):.4f}")  # not symmetric
    0.3681
    >>> print(kl_divergence([1.0, 0.0], [0.0, 1.0]))
    inf
    """
    fname = "kl_divergence"
    lb = ck.log_base(fname, base)
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    res = _kl_torch(a, b) if conv.torch else _kl_np(a, b)
    return ck.finish(_scale(res, lb), conv.torch)


def mutual_information(joint: ArrayLike, base: float | None = None) -> Any:
    r"""Mutual information of a joint distribution over the last two axes.

    .. math::

        I(X; Y) = D_{\mathrm{KL}}\big(p(x, y) \,\|\, p(x)\, p(y)\big)
                = \sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)\, p(y)},

    where :math:`p(x)` and :math:`p(y)` are the marginals (sums over the last and the
    second-to-last axis).

    Taught in Chapter 2, *Gibbs' inequality* (book/02_gibbs.ipynb).

    Parameters
    ----------
    joint
        Joint probabilities with ``X`` on axis -2 and ``Y`` on axis -1; leading axes are
        a batch. Entries finite and >= 0, each table sums to 1 within 1e-6 (float64),
        1e-4 (float32) or 1e-2 (float16/bfloat16).
    base
        Logarithm base: ``None`` for nats, ``2`` for bits. Must be > 0 and != 1.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`I(X; Y) \ge 0` per table, in nats (or units of ``log base``), shape
        ``joint.shape[:-2]``.

    Raises
    ------
    ValueError
        If ``joint`` has fewer than two axes, is empty, has negative/NaN/infinite
        entries, a table not summing to 1, or if ``base`` is invalid.

    Examples
    --------
    >>> from lessons_src import mutual_information
    >>> print(f"{mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2):.4f}")  # Y = X
    1.0000
    >>> print(f"{mutual_information([[0.25, 0.25], [0.25, 0.25]]):.4f}")  # independent
    0.0000
    """
    fname = "mutual_information"
    lb = ck.log_base(fname, base)
    conv = ck.convert(fname, ("joint",), (joint,))
    (j,) = conv.arrays
    ck.check_nonempty(fname, "joint", j, 2, " (X and Y)")
    ck.check_prob(fname, "joint", j, conv.sum_tol[0], axes=2)
    px = j.sum(-1, keepdim=True) if conv.torch else j.sum(-1, keepdims=True)
    py = j.sum(-2, keepdim=True) if conv.torch else j.sum(-2, keepdims=True)
    prod = px * py
    flat = (*j.shape[:-2], j.shape[-2] * j.shape[-1])
    jf, pf = j.reshape(flat), prod.reshape(flat)
    res = _kl_torch(jf, pf) if conv.torch else _kl_np(np.ascontiguousarray(jf), pf)
    return ck.finish(_scale(res, lb), conv.torch)
