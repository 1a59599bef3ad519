"""Internal helpers: argument validation and the numpy/torch array backends.

Nothing here is public API. Every check raises :class:`ValueError` with a message that
starts with the public function's name and names the offending argument, e.g.
``"kl_divergence: q has a negative entry (-0.1)"``.

Tolerance for "sums to 1"
-------------------------
A probability vector ``p`` (along the last axis, or the last two axes for a joint
distribution) is accepted when ``|sum(p) - 1| <= tol``, where ``tol`` depends on the
precision of the *input* (before any conversion):

- ``1e-6`` for float64 arrays/tensors, Python lists and integer arrays;
- ``1e-4`` for float32 arrays/tensors;
- ``1e-2`` for float16/bfloat16 tensors.

Validation is deliberately cheap: one ``min`` reduction (NaN propagates through it, so
``not (min >= 0)`` catches NaN and negative entries) and one row-sum reduction (a row
containing ``+inf`` sums to ``inf``/``nan`` and fails the sum test). Only when a check
fails is the input inspected further to write a precise message.

torch is imported lazily, only when an argument already is a tensor.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

SUM_TOL_FLOAT64 = 1e-6
SUM_TOL_FLOAT32 = 1e-4
SUM_TOL_HALF = 1e-2


# --------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------
def is_tensor(x: Any) -> bool:
    """True if ``x`` is a torch tensor (without importing torch)."""
    return "torch" in sys.modules and type(x).__module__.startswith("torch")


def _sum_tol_for(x: Any) -> float:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return SUM_TOL_FLOAT64
    name = str(dtype).removeprefix("torch.")
    if name in ("float16", "bfloat16", "half"):
        return SUM_TOL_HALF
    if name in ("float32", "float", "complex64"):
        return SUM_TOL_FLOAT32
    return SUM_TOL_FLOAT64


class Arrays:
    """Converted arguments plus what is needed to give results back in the same backend."""

    __slots__ = ("arrays", "sum_tol", "torch")

    def __init__(self, arrays: list[Any], torch: bool, sum_tol: list[float]) -> None:
        self.arrays = arrays
        self.torch = torch
        self.sum_tol = sum_tol


def convert(fname: str, names: tuple[str, ...], values: tuple[Any, ...]) -> Arrays:
    """Convert ``values`` to float64 numpy arrays, or, if any is a tensor, to tensors.

    Tensors keep their dtype/device (mixed float dtypes are promoted; integer/bool tensors
    become the default float dtype); non-tensor values are converted to the tensors'
    dtype and device.
    """
    tols = [_sum_tol_for(v) for v in values]
    if any(is_tensor(v) for v in values):
        import torch

        tensors = [v for v in values if is_tensor(v)]
        dtype = None
        for t in tensors:
            dt = t.dtype if t.is_floating_point() else torch.get_default_dtype()
            dtype = dt if dtype is None else torch.promote_types(dtype, dt)
        device = tensors[0].device
        out = []
        for name, v in zip(names, values, strict=True):
            if is_tensor(v):
                if v.is_complex():
                    raise ValueError(f"{fname}: {name} must be real, got a complex tensor")
                out.append(v.to(dtype=dtype, device=device))
            else:
                try:
                    out.append(torch.as_tensor(np.asarray(v, dtype=np.float64),
                                               dtype=dtype, device=device))
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{fname}: {name} is not a real array ({exc})") from None
        return Arrays(out, True, tols)
    out = []
    for name, v in zip(names, values, strict=True):
        if isinstance(v, np.ndarray) and v.dtype == np.float64:
            out.append(v)
            continue
        if np.iscomplexobj(v):
            raise ValueError(f"{fname}: {name} must be real, got complex values")
        try:
            out.append(np.asarray(v, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{fname}: {name} is not a real array ({exc})") from None
    return Arrays(out, False, tols)


def finish(result: Any, torch: bool) -> Any:
    """Return a numpy float64 scalar for 0-d numpy results, otherwise ``result`` as is."""
    if not torch and result.ndim == 0:
        return np.float64(result)
    return result


def log_base(fname: str, base: float | None) -> float | None:
    """``ln(base)``, or ``None`` for natural logs. base must be finite, > 0 and != 1."""
    if base is None:
        return None
    try:
        b = float(base)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: base must be a number > 0 and != 1; got {base!r}") from None
    if not (b > 0 and b != 1 and math.isfinite(b)):
        raise ValueError(f"{fname}: base must be finite, > 0 and != 1; got {base!r}")
    return math.log(b)


# --------------------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------------------
def _fmt_names(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def broadcast_shape(fname: str, names: tuple[str, ...], arrays: list[Any]) -> tuple[int, ...]:
    """The broadcast shape of ``arrays`` or a ValueError naming the arguments."""
    shapes = [tuple(a.shape) for a in arrays]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        desc = ", ".join(f"{n} {s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(
            f"{fname}: the shapes of {_fmt_names(names)} do not broadcast ({desc})"
        ) from None


def check_nonempty(fname: str, name: str, a: Any, min_ndim: int = 0, what: str = "") -> None:
    """Raise if ``a`` has fewer than ``min_ndim`` axes or no elements."""
    if a.ndim < min_ndim:
        raise ValueError(
            f"{fname}: {name} must have at least {min_ndim} "
            f"ax{'is' if min_ndim == 1 else 'es'}{what}; got shape {tuple(a.shape)}"
        )
    if math.prod(a.shape) == 0:
        raise ValueError(f"{fname}: {name} is empty (shape {tuple(a.shape)})")


def same_outcomes(fname: str, names: tuple[str, str], a: Any, b: Any, axes: int = 1) -> None:
    """The event (last ``axes``) axes of ``a`` and ``b`` must be equal, not broadcast."""
    ea, eb = tuple(a.shape[a.ndim - axes:]), tuple(b.shape[b.ndim - axes:])
    if ea != eb:
        what = "number of outcomes (last axis)" if axes == 1 else f"event shape (last {axes} axes)"
        raise ValueError(
            f"{fname}: {names[0]} and {names[1]} must have the same {what}; "
            f"got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )


# --------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------
def _item(x: Any) -> float:
    return float(x.item() if hasattr(x, "item") else x)


def _at(mask: Any) -> str:
    """`` (at index i)`` for the first True entry of ``mask``; empty for a 0-d mask."""
    if mask.ndim == 0:
        return ""
    if is_tensor(mask):
        idx = tuple(int(i) for i in mask.nonzero()[0])
    else:
        idx = tuple(int(i[0]) for i in np.nonzero(mask))
    return f" (at index {idx[0] if len(idx) == 1 else idx})"


def _bad_entry(fname: str, name: str, a: Any) -> None:
    """Slow path: explain why ``a`` failed the cheap checks (NaN, then inf)."""
    if is_tensor(a):
        import torch

        nan, inf = torch.isnan(a), torch.isinf(a)
    else:
        nan, inf = np.isnan(a), np.isinf(a)
    if bool(nan.any()):
        raise ValueError(f"{fname}: {name} has a NaN entry{_at(nan)}")
    if bool(inf.any()):
        raise ValueError(f"{fname}: {name} has an infinite entry{_at(inf)}")


def check_finite(fname: str, name: str, a: Any) -> None:
    """Raise if ``a`` has a NaN or infinite entry (one sum reduction on the happy path)."""
    if is_tensor(a):
        s = a.detach().sum()
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            s = np.add.reduce(a, axis=None)
    if not math.isfinite(_item(s)):
        _bad_entry(fname, name, a)
        # the sum overflowed although every entry is finite: fine


def check_positive(fname: str, name: str, a: Any) -> None:
    """Every entry of ``a`` must be finite and > 0 (standard deviations)."""
    ad = a.detach() if is_tensor(a) else a
    lo, hi = _item(ad.min()), _item(ad.max())
    if not (lo > 0 and hi < math.inf):
        _bad_entry(fname, name, a)
        raise ValueError(f"{fname}: {name} must be > 0; got {lo!r}{_at(ad <= 0)}")


def check_prob(fname: str, name: str, a: Any, tol: float, axes: int = 1) -> None:
    """``a`` must hold probability distributions over its last ``axes`` axes.

    Entries must be finite and >= 0 and each distribution must sum to 1 within ``tol``.
    Costs one ``min`` and one sum reduction on the happy path.
    """
    ad = a.detach() if is_tensor(a) else a
    lo = _item(ad.min())
    if not lo >= 0:  # catches NaN too
        _bad_entry(fname, name, a)
        raise ValueError(f"{fname}: {name} has a negative entry ({lo!r})")
    red = tuple(range(-axes, 0))
    if is_tensor(ad):
        s = ad.sum(dim=red)
        dev = (s - 1).abs()
        bad = not (_item(dev.max()) <= tol)
        worst = int(dev.argmax()) if bad and dev.ndim else 0
        sflat = s.reshape(-1)
    else:
        s = np.add.reduce(ad, axis=red) if axes > 1 else np.add.reduce(ad, axis=-1)
        dev = np.abs(s - 1)
        m = dev.max()
        bad = not (m <= tol)
        worst = int(np.argmax(dev)) if bad else 0
        sflat = s.reshape(-1)
    if bad:
        _bad_entry(fname, name, a)
        total = _item(sflat[worst])
        what = "the joint distribution" if axes == 2 else "the distribution"
        if sflat.shape[0] == 1 and a.ndim == axes:
            raise ValueError(
                f"{fname}: {name} must sum to 1 (within {tol:g}); {what} sums to {total!r}"
            )
        row = np.unravel_index(worst, tuple(a.shape[: a.ndim - axes]))
        row_s = str(int(row[0])) if len(row) == 1 else str(tuple(int(i) for i in row))
        label = "rows" if axes == 1 else "distributions (over the last two axes)"
        raise ValueError(
            f"{fname}: {name} {label} must sum to 1 (within {tol:g}); "
            f"{'row' if axes == 1 else 'table'} {row_s} sums to {total!r}"
        )


# --------------------------------------------------------------------------------------
# scalar arguments (they return the argument converted, so that it can be used as is)
# --------------------------------------------------------------------------------------
def int_arg(fname: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int``; it must be an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{fname}: {name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def float_arg(fname: str, name: str, value: Any, lo: float = -math.inf, hi: float = math.inf,
              *, lo_open: bool = False, hi_open: bool = False,
              finite_last: bool = False) -> float:
    """``value`` as a ``float``; it must be a finite number (not a bool) in the interval.

    The interval is ``[lo, hi]``, open at either end when ``lo_open``/``hi_open``. The
    message says ``"must be finite"``, ``"must be finite and > lo"`` (or ``>=``) when
    ``hi`` is infinite, and ``"must be in [lo, hi]"`` (brackets as open/closed) otherwise.
    ``finite_last`` words the half-bounded case ``"must be > lo and finite"`` instead, as
    the messages of :mod:`lessons_src.mle` and :mod:`lessons_src.rl` always have.
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = None
    if v is None or isinstance(value, bool):
        raise ValueError(f"{fname}: {name} must be a number; got {value!r}")
    lo_ok = v > lo if lo_open else v >= lo
    hi_ok = v < hi if hi_open else v <= hi
    if not (math.isfinite(v) and lo_ok and hi_ok):
        if lo == -math.inf and hi == math.inf:
            need = "finite"
        elif hi == math.inf:
            bound = f"{'>' if lo_open else '>='} {lo:g}"
            need = f"{bound} and finite" if finite_last else f"finite and {bound}"
        else:
            need = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{fname}: {name} must be {need}; got {value!r}")
    return v
