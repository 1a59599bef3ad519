r"""f-divergences of discrete distributions: the family that contains KL, JS, TV, χ² and
Hellinger.

For a convex function :math:`f : [0, \infty) \to \mathbb{R} \cup \{+\infty\}` with
:math:`f(1) = 0` (the *generator*), the f-divergence of :math:`P` relative to :math:`Q` is

.. math::

    D_f(P \,\|\, Q) = \sum_x Q(x)\, f\!\Big(\frac{P(x)}{Q(x)}\Big),

with the limits of the perspective :math:`(p, q) \mapsto q f(p/q)` where a probability is
0: a term with :math:`p > 0 = q` is :math:`p\, f'(\infty)`, where
:math:`f'(\infty) = \lim_{t\to\infty} f(t)/t`; a term with :math:`p = 0 < q` is
:math:`q\, f(0)`, where :math:`f(0) = \lim_{t \to 0^+} f(t)`; a term with
:math:`p = q = 0` is 0. By Jensen's inequality :math:`D_f(P\,\|\,Q) \ge f(1) = 0`.

The conventions are those of :mod:`lessons_src.information`: ``p`` is the data or
reference distribution (first argument), ``q`` the model; distributions lie along the
last axis (leading axes are a broadcast batch); numpy/list input gives numpy float64
output, tensor input gives a tensor (same dtype and device, autograd works). Divergences
built from logarithms (KL, reverse KL, JS) are in nats. Entries must be finite and >= 0
and every distribution must sum to 1 within :math:`10^{-6}` (float64 and lists),
:math:`10^{-4}` (float32) or :math:`10^{-2}` (float16/bfloat16); otherwise
:class:`ValueError` naming the function and the argument.

The named generators (:data:`F_GENERATORS`), with their limits :math:`f(0)` and
:math:`f'(\infty)`:

- ``kl``, :math:`D_{\mathrm{KL}}(P\,\|\,Q)`: :math:`f(t) = t \log t`; 0 and :math:`\infty`.
- ``reverse_kl``, :math:`D_{\mathrm{KL}}(Q\,\|\,P)`: :math:`f(t) = -\log t`;
  :math:`\infty` and 0.
- ``js``, Jensen-Shannon: :math:`f(t) = \tfrac12\big[t \log t - (1 + t)
  \log\tfrac{1 + t}{2}\big]`; :math:`\tfrac12 \ln 2` and :math:`\tfrac12 \ln 2`.
- ``tv``, total variation: :math:`f(t) = \tfrac12 |t - 1|`; :math:`\tfrac12` and
  :math:`\tfrac12`.
- ``chi2``, Pearson :math:`\chi^2`: :math:`f(t) = (t - 1)^2`; 1 and :math:`\infty`.
- ``squared_hellinger``, :math:`H^2`: :math:`f(t) = \tfrac12 (\sqrt t - 1)^2`;
  :math:`\tfrac12` and :math:`\tfrac12`.

Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import xlogy

from . import _checks as ck
from .divergences import js_divergence, total_variation
from .information import _prep_pq, kl_divergence

__all__ = [
    "F_GENERATORS",
    "FDivergenceRow",
    "FGenerator",
    "chi2_divergence",
    "f_divergence",
    "f_divergence_table",
    "hellinger_distance",
    "squared_hellinger",
]

_LN2 = math.log(2.0)


# --------------------------------------------------------------------------------------
# generators: each works on numpy arrays and on torch tensors (t > 0)
# --------------------------------------------------------------------------------------
def _xlogy(x: Any, y: Any) -> Any:
    if ck.is_tensor(x):
        import torch

        return torch.xlogy(x, y)
    return xlogy(x, y)


def _log(t: Any) -> Any:
    return t.log() if ck.is_tensor(t) else np.log(t)


def _sqrt(t: Any) -> Any:
    return t.sqrt() if ck.is_tensor(t) else np.sqrt(t)


def _abs(t: Any) -> Any:
    return t.abs() if ck.is_tensor(t) else np.abs(t)


def _f_kl(t: Any) -> Any:
    return _xlogy(t, t)


def _f_reverse_kl(t: Any) -> Any:
    return -_log(t)


def _f_js(t: Any) -> Any:
    return 0.5 * (_xlogy(t, t) - _xlogy(1.0 + t, 0.5 * (1.0 + t)))


def _f_tv(t: Any) -> Any:
    return 0.5 * _abs(t - 1.0)


def _f_chi2(t: Any) -> Any:
    return (t - 1.0) ** 2


def _f_squared_hellinger(t: Any) -> Any:
    return 0.5 * (_sqrt(t) - 1.0) ** 2


class FGenerator(NamedTuple):
    r"""A generator :math:`f` of an f-divergence, with the two limits the zeros need.

    Build one to use your own generator where probabilities are 0, e.g.
    ``FGenerator("neyman_chi2", "Neyman χ²", "(t − 1)²/t", lambda t: (t - 1)**2 / t,
    math.inf, 1.0)``.
    """

    key: str
    """Short name, the key in :data:`F_GENERATORS` (e.g. ``"kl"``)."""
    name: str
    """The divergence it generates, as printed (e.g. ``"KL(P‖Q)"``)."""
    formula: str
    """:math:`f(t)` in plain text (e.g. ``"t log t"``)."""
    f: Any
    """The function :math:`f(t)` for ``t > 0``, elementwise on numpy arrays (and on
    torch tensors, for tensor input)."""
    f_zero: float
    r""":math:`f(0) = \lim_{t\to 0^+} f(t)`, possibly ``math.inf``."""
    slope_inf: float
    r""":math:`f'(\infty) = \lim_{t\to\infty} f(t)/t`, possibly ``math.inf``."""


_GENERATORS = (
    FGenerator("kl", "KL(P‖Q)", "t log t", _f_kl, 0.0, math.inf),
    FGenerator("reverse_kl", "KL(Q‖P)", "−log t", _f_reverse_kl, math.inf, 0.0),
    FGenerator("js", "JS(P, Q)", "½[t log t − (1 + t) log((1 + t)/2)]", _f_js,
               0.5 * _LN2, 0.5 * _LN2),
    FGenerator("tv", "TV(P, Q)", "½|t − 1|", _f_tv, 0.5, 0.5),
    FGenerator("chi2", "χ²(P‖Q)", "(t − 1)²", _f_chi2, 1.0, math.inf),
    FGenerator("squared_hellinger", "H²(P, Q)", "½(√t − 1)²", _f_squared_hellinger,
               0.5, 0.5),
)

F_GENERATORS: dict[str, FGenerator] = {g.key: g for g in _GENERATORS}
"""The named generators, keyed ``kl``, ``reverse_kl``, ``js``, ``tv``, ``chi2`` and
``squared_hellinger``, in that order (treat as read-only).

:meta hide-value:
"""


# --------------------------------------------------------------------------------------
# validation of a generator
# --------------------------------------------------------------------------------------
_CHECK_T = np.geomspace(1e-3, 1e3, 61)


def _as_numbers(fname: str, gen_f: Callable[[Any], Any], t: Any) -> np.ndarray:
    try:
        v = gen_f(t)
    except Exception as exc:  # the caller's function failed: say so, with its error
        raise ValueError(f"{fname}: f raised {type(exc).__name__} on an array of t > 0: "
                         f"{exc}") from exc
    if ck.is_tensor(v):
        v = v.detach().cpu().double().numpy()
    try:
        arr = np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(t))
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: f must return an array of numbers of the shape of "
                         f"its argument") from None
    return arr


def _resolve(fname: str, f: Any, like_tensor: Any | None) -> FGenerator:
    """The FGenerator for a key, an FGenerator or a callable (checked: f(1) = 0, convex)."""
    if isinstance(f, str):
        if f not in F_GENERATORS:
            raise ValueError(f"{fname}: unknown generator {f!r}; choose one of "
                             f"{', '.join(F_GENERATORS)}, or pass a function")
        return F_GENERATORS[f]
    if isinstance(f, FGenerator) and any(f is g for g in _GENERATORS):
        return f
    if isinstance(f, FGenerator):
        gen = f
        for name in ("f_zero", "slope_inf"):
            v = getattr(gen, name)
            if not isinstance(v, int | float | np.floating) or math.isnan(v) or v == -math.inf:
                raise ValueError(f"{fname}: f.{name} must be a number or +inf; got {v!r}")
        if not callable(gen.f):
            raise ValueError(f"{fname}: f.f must be a function of t")
    elif callable(f):
        gen = FGenerator("custom", "D_f", getattr(f, "__name__", "f"), f, math.nan, math.nan)
    else:
        raise ValueError(f"{fname}: f must be a generator name, an FGenerator or a function "
                         f"of t; got {type(f).__name__}")
    if like_tensor is not None:
        import torch

        t = torch.as_tensor(_CHECK_T, dtype=like_tensor.dtype, device=like_tensor.device)
        one = torch.ones(1, dtype=like_tensor.dtype, device=like_tensor.device)
    else:
        t, one = _CHECK_T, np.ones(1)
    with np.errstate(all="ignore"):
        f1 = float(_as_numbers(fname, gen.f, one)[0])
        ft = _as_numbers(fname, gen.f, t)
    tol = 1e-3 if like_tensor is not None and like_tensor.dtype != _float64() else 1e-10
    if not abs(f1) <= tol:
        raise ValueError(f"{fname}: the generator must have f(1) = 0; got f(1) = {f1!r}")
    if not np.isfinite(ft).all():
        bad = float(_CHECK_T[~np.isfinite(ft)][0])
        raise ValueError(f"{fname}: f must be finite for t > 0; f({bad:g}) = "
                         f"{ft[~np.isfinite(ft)][0]!r}")
    slopes = np.diff(ft) / np.diff(_CHECK_T)
    drop = np.diff(slopes) < -tol * (1.0 + np.abs(slopes[1:]))
    if drop.any():
        i = int(np.argmax(drop))
        raise ValueError(f"{fname}: f must be convex; its slope decreases near "
                         f"t = {_CHECK_T[i + 1]:.3g}")
    return gen


def _float64() -> Any:
    import torch

    return torch.float64


def _f_zero(fname: str, gen: FGenerator, like: Any) -> float:
    """f(0+) for a custom function: f(0) evaluated, if it is a number."""
    if not math.isnan(gen.f_zero):
        return gen.f_zero
    zero = like.new_zeros(1) if ck.is_tensor(like) else np.zeros(1)
    with np.errstate(all="ignore"):
        try:
            v = float(_as_numbers(fname, gen.f, zero)[0])
        except ValueError:  # f failed at 0: the limit must be given explicitly
            v = math.nan
    if math.isnan(v) or v == -math.inf:
        raise ValueError(f"{fname}: q > 0 where p = 0 needs f(0) = lim f(t) as t → 0, and "
                         f"f(0) is not a number; pass an FGenerator with f_zero")
    return v


def _slope_inf(fname: str, gen: FGenerator, like: Any = None) -> float:
    if math.isnan(gen.slope_inf):
        raise ValueError(f"{fname}: p > 0 where q = 0 needs f'(∞) = lim f(t)/t as t → ∞; "
                         f"pass an FGenerator with slope_inf")
    return gen.slope_inf


# --------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------
def _fdiv_np(fname: str, a: np.ndarray, b: np.ndarray, gen: FGenerator) -> np.ndarray:
    a, b = np.broadcast_arrays(a, b)
    both = (a > 0) & (b > 0)
    with np.errstate(all="ignore"):
        t = np.divide(a, b, out=np.ones(a.shape), where=both)
        vals = np.asarray(gen.f(t), dtype=np.float64)
        terms = np.where(both, b * vals, 0.0)
    only_q = (a == 0) & (b > 0)
    if only_q.any():
        terms[only_q] = b[only_q] * _f_zero(fname, gen, a)
    only_p = (a > 0) & (b == 0)
    if only_p.any():
        terms[only_p] = a[only_p] * _slope_inf(fname, gen)
    # a ratio beyond the float64 range (q subnormal): the limit q -> 0
    over = both & np.isinf(t)
    if over.any():
        terms[over] = a[over] * _slope_inf(fname, gen)
    return np.add.reduce(terms, axis=-1)


def _fdiv_torch(fname: str, a: Any, b: Any, gen: FGenerator) -> Any:
    import torch

    both = (a > 0) & (b > 0)
    t = torch.where(both, a / torch.where(b > 0, b, 1.0), 1.0)
    over = torch.isinf(t)  # a ratio beyond the float range (q subnormal)
    if bool(over.any()):
        t = torch.where(over, 1.0, t)
        both = both & ~over
    res = torch.where(both, b * gen.f(t), 0.0).sum(-1)
    if bool(over.any()):
        c = _slope_inf(fname, gen)
        if math.isinf(c):
            res = torch.where(over.any(-1), math.inf, res)
        else:
            res = res + torch.where(over, a * c, 0.0).sum(-1)
    only_q = (a == 0) & (b > 0)
    only_p = (a > 0) & (b == 0)
    for mask, weight, limit in ((only_q, b, _f_zero), (only_p, a, _slope_inf)):
        if not bool(mask.any()):
            continue
        c = limit(fname, gen, a)
        if math.isinf(c):  # the whole row is +inf; no gradient flows through a constant
            res = torch.where(mask.any(-1), math.inf, res)
        else:
            res = res + torch.where(mask, weight * c, 0.0).sum(-1)
    return res


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def f_divergence(p: ArrayLike, q: ArrayLike, f: Any) -> Any:
    r"""The f-divergence of ``p`` relative to ``q`` for a convex generator ``f``.

    .. math::

        D_f(P \,\|\, Q) = \sum_x Q(x)\, f\!\Big(\frac{P(x)}{Q(x)}\Big), \qquad
        f \text{ convex},\ f(1) = 0,

    with the limits of the perspective where a probability is 0: :math:`p\,f'(\infty)`
    where :math:`p > 0 = q`, :math:`q\,f(0)` where :math:`p = 0 < q`, and 0 where both
    are 0. ``f = "kl"`` gives :math:`D_{\mathrm{KL}}(P\,\|\,Q)` and ``"reverse_kl"``
    gives :math:`D_{\mathrm{KL}}(Q\,\|\,P)` (nats); see :data:`F_GENERATORS` for the
    others. For the named generators the closed forms are evaluated (the numbers of
    :func:`~lessons_src.information.kl_divergence`,
    :func:`~lessons_src.divergences.js_divergence`,
    :func:`~lessons_src.divergences.total_variation`, :func:`chi2_divergence` and
    :func:`squared_hellinger`, accurate down to subnormal probabilities); any other
    generator is evaluated as the sum of :math:`q f(p/q)` itself.

    :math:`D_f \ge 0`, with equality if :math:`P = Q` (and only then when :math:`f` is
    strictly convex at 1), and :math:`D_f` is jointly convex in :math:`(P, Q)`.

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p
        The reference (data) distribution(s), along the last axis; leading axes are a
        batch, broadcast against ``q``. Entries finite and >= 0, rows sum to 1 within
        1e-6 (float64 and lists), 1e-4 (float32) or 1e-2 (float16/bfloat16).
    q
        The model distribution(s), same conditions and same last-axis length.
    f
        A key of :data:`F_GENERATORS` (``"kl"``, ``"reverse_kl"``, ``"js"``, ``"tv"``,
        ``"chi2"``, ``"squared_hellinger"``), an :class:`FGenerator`, or a function
        ``f(t)`` that works elementwise on arrays (and on tensors, for tensor input).
        A plain function is checked for :math:`f(1) = 0` and for convexity on
        :math:`10^{-3} \le t \le 10^{3}`; its :math:`f(0)` is taken as ``f(0)`` (it must
        be a number or ``inf``), and it cannot be used where :math:`p > 0 = q` (pass an
        :class:`FGenerator` with ``slope_inf`` for that).

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`D_f(P \| Q)` per row (nats for the logarithmic generators), possibly
        ``inf``. For a function or a custom :class:`FGenerator`, where :math:`p/q`
        exceeds the floating-point range (``q`` subnormal) the term is taken as its
        limit :math:`p\,f'(\infty)`.

    Raises
    ------
    ValueError
        As :func:`~lessons_src.information.kl_divergence` for ``p`` and ``q``; also for
        an unknown generator name, a function with :math:`f(1) \ne 0`, one that is not
        finite or not convex on the checked range, or a missing limit.

    Examples
    --------
    >>> from lessons_src import f_divergence, kl_divergence
    >>> p, q = [0.5, 0.5], [0.9, 0.1]
    >>> print(f"{f_divergence(p, q, 'kl'):.4f} {kl_divergence(p, q):.4f}")
    0.5108 0.5108
    >>> print(f"{f_divergence(p, q, lambda t: (t - 1) ** 2):.4f}")  # Pearson chi-squared
    1.7778
    >>> print(f_divergence([1.0, 0.0], [0.0, 1.0], "tv"))  # disjoint supports
    1.0
    """
    fname = "f_divergence"
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    gen = _resolve(fname, f, a if conv.torch else None)
    if any(gen is g for g in _GENERATORS):
        res = _closed_form(gen.key, a, b)
    else:
        res = _fdiv_torch(fname, a, b, gen) if conv.torch else _fdiv_np(fname, a, b, gen)
    return ck.finish(res, conv.torch)


def _closed_form(key: str, a: Any, b: Any) -> Any:
    """The named divergences from their closed forms (a, b already validated)."""
    if key == "kl":
        return kl_divergence(a, b)
    if key == "reverse_kl":
        return kl_divergence(b, a)
    if key == "js":
        return js_divergence(a, b)
    if key == "tv":
        return total_variation(a, b)
    if key == "chi2":
        return chi2_divergence(a, b)
    return squared_hellinger(a, b)


def chi2_divergence(p: ArrayLike, q: ArrayLike) -> Any:
    r"""Pearson's χ² divergence of ``p`` relative to ``q``.

    .. math::

        \chi^2(P \,\|\, Q) = \sum_x \frac{\big(P(x) - Q(x)\big)^2}{Q(x)}
                          = \sum_x \frac{P(x)^2}{Q(x)} - 1,

    the f-divergence of :math:`f(t) = (t - 1)^2`: a term with :math:`p > 0 = q` is
    :math:`+\infty`, one with :math:`p = q = 0` is 0. It bounds KL from above:
    :math:`D_{\mathrm{KL}}(P\,\|\,Q) \le \log\big(1 + \chi^2(P\,\|\,Q)\big)` (nats).
    (No unit: it is a ratio of probabilities.)

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p, q
        Reference and model distributions along the last axis, as
        :func:`f_divergence`.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`\chi^2(P \| Q) \ge 0` per row, possibly ``inf``.

    Raises
    ------
    ValueError
        As :func:`~lessons_src.information.kl_divergence`.

    Examples
    --------
    >>> from lessons_src import chi2_divergence
    >>> print(f"{chi2_divergence([0.5, 0.5], [0.9, 0.1]):.4f}")  # 0.16/0.9 + 0.16/0.1
    1.7778
    """
    fname = "chi2_divergence"
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    if conv.torch:
        import torch

        pos = b > 0
        terms = torch.where(pos, (a - b) ** 2 / torch.where(pos, b, 1.0), 0.0)
        res = terms.sum(-1)
        off = (a > 0) & ~pos
        if bool(off.any()):
            res = torch.where(off.any(-1), math.inf, res)
        return res
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(all="ignore"):
        terms = np.where(b > 0, (a - b) ** 2 / b, np.where(a > 0, np.inf, 0.0))
    return ck.finish(np.add.reduce(terms, axis=-1), False)


def squared_hellinger(p: ArrayLike, q: ArrayLike) -> Any:
    r"""Squared Hellinger distance, normalised to lie in :math:`[0, 1]`.

    .. math::

        H^2(P, Q) = \tfrac12 \sum_x \big(\sqrt{P(x)} - \sqrt{Q(x)}\big)^2
                  = 1 - \sum_x \sqrt{P(x) Q(x)},

    the f-divergence of :math:`f(t) = \tfrac12 (\sqrt t - 1)^2`; :math:`\sum_x \sqrt{PQ}`
    is the Bhattacharyya coefficient. This book uses this convention (with the
    :math:`\tfrac12`); some texts omit it, which doubles :math:`H^2`. It is symmetric,
    equals 1 exactly for disjoint supports, and bounds the total variation on both
    sides: :math:`H^2 \le \mathrm{TV} \le H\sqrt{2 - H^2}`. Computed from the first
    form, which has no cancellation when :math:`P \approx Q`. (No unit.)

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p, q
        Distributions along the last axis, as :func:`f_divergence`.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`H^2(P, Q) \in [0, 1]` per row.

    Raises
    ------
    ValueError
        As :func:`~lessons_src.information.kl_divergence`.

    Examples
    --------
    >>> from lessons_src import squared_hellinger
    >>> print(f"{squared_hellinger([0.5, 0.5], [0.9, 0.1]):.4f}")
    0.1056
    >>> print(squared_hellinger([1.0, 0.0], [0.0, 1.0]))
    1.0
    """
    fname = "squared_hellinger"
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    if conv.torch:
        import torch

        # sqrt has an infinite derivative at 0: take the root of a safe value there
        ra = torch.where(a > 0, torch.where(a > 0, a, 1.0).sqrt(), 0.0)
        rb = torch.where(b > 0, torch.where(b > 0, b, 1.0).sqrt(), 0.0)
        return (0.5 * (ra - rb) ** 2).sum(-1)
    d = np.sqrt(a) - np.sqrt(b)
    return ck.finish(np.minimum(0.5 * np.add.reduce(d * d, axis=-1), 1.0), False)


def hellinger_distance(p: ArrayLike, q: ArrayLike) -> Any:
    r"""Hellinger distance :math:`H(P, Q) = \sqrt{H^2(P, Q)}`, a metric in :math:`[0, 1]`.

    .. math::

        H(P, Q) = \sqrt{\tfrac12 \sum_x \big(\sqrt{P(x)} - \sqrt{Q(x)}\big)^2},

    which is :math:`1/\sqrt2` times the Euclidean distance between the vectors
    :math:`\sqrt P` and :math:`\sqrt Q`, hence a metric. See :func:`squared_hellinger`
    for the normalisation. (For tensors, the gradient is infinite where ``p == q``.)

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p, q
        Distributions along the last axis, as :func:`f_divergence`.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        :math:`H(P, Q)` per row.

    Raises
    ------
    ValueError
        As :func:`~lessons_src.information.kl_divergence`.

    Examples
    --------
    >>> from lessons_src import hellinger_distance
    >>> print(f"{hellinger_distance([0.5, 0.5], [0.9, 0.1]):.4f}")
    0.3249
    """
    fname = "hellinger_distance"
    conv = _prep_pq(fname, p, q)
    a, b = conv.arrays
    if conv.torch:
        return squared_hellinger(a, b).sqrt()
    d = np.sqrt(a) - np.sqrt(b)
    h2 = np.minimum(0.5 * np.add.reduce(d * d, axis=-1), 1.0)
    return ck.finish(np.sqrt(h2), False)


class FDivergenceRow(NamedTuple):
    """One row of :func:`f_divergence_table`."""

    key: str
    """The generator's key in :data:`F_GENERATORS`."""
    name: str
    """The divergence, as printed (e.g. ``"KL(P‖Q)"``)."""
    formula: str
    """The generator :math:`f(t)` in plain text."""
    f_zero: float
    r""":math:`f(0)`, the cost per unit of :math:`Q`-mass where :math:`P = 0`."""
    slope_inf: float
    r""":math:`f'(\infty)`, the cost per unit of :math:`P`-mass where :math:`Q = 0`."""
    value: Any
    """:math:`D_f(P \\| Q)` computed by :func:`f_divergence` (same type as its result)."""


def f_divergence_table(p: ArrayLike, q: ArrayLike) -> list[FDivergenceRow]:
    r"""Every named f-divergence of ``p`` relative to ``q``, with its generator.

    One row per entry of :data:`F_GENERATORS`, in the order KL, reverse KL, JS, TV,
    Pearson χ², squared Hellinger; each value is :func:`f_divergence` with that
    generator (nats for the logarithmic ones).

    Taught in Chapter 7, *Jensen–Shannon divergence and GANs* (book/07_js_gans.ipynb).

    Parameters
    ----------
    p, q
        Reference and model distributions along the last axis, as :func:`f_divergence`.

    Returns
    -------
    list of FDivergenceRow
        ``(key, name, formula, f_zero, slope_inf, value)`` for each generator.

    Raises
    ------
    ValueError
        As :func:`f_divergence`.

    Examples
    --------
    >>> from lessons_src import f_divergence_table
    >>> for row in f_divergence_table([0.5, 0.5], [0.9, 0.1]):
    ...     print(f"{row.name:<9} {row.formula:<36} {row.value:.4f}")
    KL(P‖Q)   t log t                              0.5108
    KL(Q‖P)   −log t                               0.3681
    JS(P, Q)  ½[t log t − (1 + t) log((1 + t)/2)]  0.1017
    TV(P, Q)  ½|t − 1|                             0.4000
    χ²(P‖Q)   (t − 1)²                             1.7778
    H²(P, Q)  ½(√t − 1)²                           0.1056
    """
    return [FDivergenceRow(g.key, g.name, g.formula, g.f_zero, g.slope_inf,
                           f_divergence(p, q, g)) for g in F_GENERATORS.values()]
