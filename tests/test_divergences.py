"""Tests of lessons_src.divergences: JS, total variation, Rényi."""

from __future__ import annotations

import itertools
import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy.special as sps
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from lessons_src import (
    js_distance,
    js_divergence,
    kl_divergence,
    renyi_divergence,
    total_variation,
)

RTOL = 1e-12
FAST = settings(max_examples=100, deadline=None)
LN2 = math.log(2)


def cases(seed: int):
    rng = np.random.default_rng(seed)
    for n in (2, 3, 10, 300):
        for batch in ((), (6,), (2, 3)):
            for conc in (0.2, 1.0, 5.0):
                yield (rng.dirichlet(np.full(n, conc), size=batch or None),
                       rng.dirichlet(np.full(n, conc), size=batch or None))


# -- Jensen-Shannon -------------------------------------------------------------------------
def test_js_matches_scipy_jensenshannon() -> None:
    for p, q in cases(0):
        ref = jensenshannon(p, q, axis=-1)
        np.testing.assert_allclose(js_distance(p, q), ref, rtol=RTOL)
        np.testing.assert_allclose(js_divergence(p, q), ref**2, rtol=RTOL)
        ref2 = jensenshannon(p, q, axis=-1, base=2)
        np.testing.assert_allclose(js_distance(p, q, base=2), ref2, rtol=RTOL)
        # torch's log differs from libm's in the last bit, and JS sums terms of both signs
        # (|terms| ~ 20 x JS here): compare the tensor path at 1e-10
        tp, tq = torch.from_numpy(p), torch.from_numpy(q)
        np.testing.assert_allclose(js_distance(tp, tq).numpy(), ref, rtol=1e-10)


def test_js_against_definition_and_special_values() -> None:
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.1, 0.9])
    m = (p + q) / 2
    ref = 0.5 * sps.rel_entr(p, m).sum() + 0.5 * sps.rel_entr(q, m).sum()
    assert js_divergence(p, q) == pytest.approx(ref, rel=RTOL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(LN2, rel=RTOL)
        assert js_divergence([1.0, 0.0], [0.0, 1.0], base=2) == pytest.approx(1.0, rel=RTOL)
        assert js_distance(np.eye(3), np.eye(3)).tolist() == [0.0, 0.0, 0.0]
    # broadcasting p (n,) against q (B, n)
    rng = np.random.default_rng(1)
    qs = rng.dirichlet(np.ones(4), size=5)
    np.testing.assert_allclose(js_distance(qs[0], qs), jensenshannon(qs[0][None], qs, axis=-1),
                               rtol=RTOL)


@FAST
@given(st.data())
def test_js_bounds_and_symmetry(data) -> None:
    n = data.draw(st.integers(1, 10))
    vec = st.lists(st.floats(0, 1), min_size=n, max_size=n).filter(lambda v: sum(v) > 1e-3)
    p = np.array(data.draw(vec))
    q = np.array(data.draw(vec))
    p, q = p / p.sum(), q / q.sum()
    js = js_divergence(p, q)
    assert 0.0 <= js <= LN2
    assert js == pytest.approx(js_divergence(q, p), rel=1e-12, abs=1e-15)
    assert js_distance(p, q, base=2) <= 1.0


# -- total variation ------------------------------------------------------------------------
def test_total_variation_against_definition_and_torch() -> None:
    for p, q in cases(2):
        ref = 0.5 * np.abs(p - q).sum(-1)
        np.testing.assert_allclose(total_variation(p, q), ref, rtol=RTOL)
        # TV = max over events A of p(A) - q(A), attained at A = {p > q}
        np.testing.assert_allclose(total_variation(p, q), np.where(p > q, p - q, 0).sum(-1),
                                   rtol=1e-10)
        t = total_variation(torch.from_numpy(p), torch.from_numpy(q))
        np.testing.assert_allclose(t.numpy(), ref, rtol=RTOL)
    assert total_variation([1, 0], [0, 1]) == 1.0
    assert type(total_variation([1, 0], [0, 1])) is np.float64


@st.composite
def pair(draw, max_n: int = 10):
    n = draw(st.integers(1, max_n))
    vec = st.lists(st.floats(0, 1), min_size=n, max_size=n).filter(lambda v: sum(v) > 1e-3)
    p, q = np.array(draw(vec)), np.array(draw(vec))
    return p / p.sum(), q / q.sum()


@FAST
@given(pair())
def test_pinsker(pq) -> None:
    p, q = pq
    tv, kl = total_variation(p, q), kl_divergence(p, q)
    assert 0.0 <= tv <= 1.0 + 1e-15
    # rows sum to 1 only up to rounding, so KL may be -1e-17 rather than 0: clip for sqrt
    assert tv <= math.sqrt(max(kl, 0.0) / 2) + 1e-12
    # JS is bounded by TV too: JS <= TV ln 2
    assert js_divergence(p, q) <= tv * LN2 + 1e-12


# -- Rényi ----------------------------------------------------------------------------------
def naive_renyi(p: np.ndarray, q: np.ndarray, a: float) -> np.ndarray:
    return np.log((p**a * q ** (1 - a)).sum(-1)) / (a - 1)


def test_renyi_matches_naive_formula_and_closed_forms() -> None:
    for p, q in cases(3):
        for a in (0.3, 0.5, 0.9, 1.2, 2.0, 3.5):
            np.testing.assert_allclose(renyi_divergence(p, q, a), naive_renyi(p, q, a),
                                       rtol=1e-10, atol=1e-14)
        bc = np.sqrt(p * q).sum(-1)  # Bhattacharyya coefficient
        np.testing.assert_allclose(renyi_divergence(p, q, 0.5), -2 * np.log(bc), rtol=1e-10)
        np.testing.assert_allclose(renyi_divergence(p, q, 2), np.log((p * p / q).sum(-1)),
                                   rtol=1e-10)
        np.testing.assert_allclose(renyi_divergence(p, q, math.inf),
                                   np.log((p / q).max(-1)), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(renyi_divergence(p, q, 1), sps.rel_entr(p, q).sum(-1),
                                   rtol=RTOL)
        tp, tq = torch.from_numpy(p), torch.from_numpy(q)
        for a in (0.5, 1, 1.2, 2.0, math.inf):
            np.testing.assert_allclose(renyi_divergence(tp, tq, a).numpy(),
                                       renyi_divergence(p, q, a), rtol=1e-12, atol=1e-15)


def test_renyi_near_one_is_accurate() -> None:
    """Against mpmath: the naive formula loses ~all digits at alpha = 1 + 1e-10."""
    p = np.array([0.2, 0.3, 0.5])
    q = np.array([0.4, 0.4, 0.2])
    mpmath.mp.dps = 40
    for a in (1 - 1e-10, 1 + 1e-10, 1 + 1e-4, 0.6, 1.4, 1.6, 7.0):
        am = mpmath.mpf(a)
        s = sum(mpmath.mpf(x) ** am * mpmath.mpf(y) ** (1 - am) for x, y in zip(p, q, strict=True))
        exact = float(mpmath.log(s) / (am - 1))
        assert renyi_divergence(p, q, a) == pytest.approx(exact, rel=1e-12)
        t = renyi_divergence(torch.from_numpy(p), torch.from_numpy(q), a)
        assert float(t) == pytest.approx(exact, rel=1e-12)


def test_renyi_supports() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # p's support inside q's: finite for every alpha
        p, q = [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]
        for a in (0.5, 1, 2, math.inf):
            assert renyi_divergence(p, q, a) == pytest.approx(math.log(2), rel=RTOL)
        # q's support inside p's: infinite for alpha >= 1, finite below
        assert renyi_divergence(q, p, 2) == math.inf
        assert renyi_divergence(q, p, math.inf) == math.inf
        bc = 2 * math.sqrt(0.25 * 0.5)  # Bhattacharyya coefficient
        assert renyi_divergence(q, p, 0.5) == pytest.approx(-2 * math.log(bc), rel=RTOL)
        # disjoint supports: infinite for every alpha
        assert renyi_divergence([1.0, 0.0], [0.0, 1.0], 0.5) == math.inf
        assert renyi_divergence([1.0, 0.0], [0.0, 1.0], 3.0) == math.inf


ALPHAS = [0.05, 0.5, 0.9, 0.999, 1.0, 1.001, 1.5, 2.0, 5.0, 30.0, math.inf]


@FAST
@given(pair())
def test_renyi_non_decreasing_in_alpha(pq) -> None:
    p, q = pq
    values = [float(renyi_divergence(p, q, a)) for a in ALPHAS]
    assert values[0] >= -1e-12
    for lo, hi in itertools.pairwise(values):
        assert hi == math.inf if lo == math.inf else hi >= lo - 1e-9 * (1 + abs(lo))


def test_renyi_gradients_finite_where_p_is_zero() -> None:
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64, requires_grad=True)
    for a in (0.5, 2.0):
        p.grad = q.grad = None
        renyi_divergence(p, q, a).backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 4, generator=g, dtype=torch.float64) + 0.1).requires_grad_()
    y = (torch.rand(2, 4, generator=g, dtype=torch.float64) + 0.1).requires_grad_()

    def f(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return renyi_divergence(u / u.sum(-1, keepdim=True), v / v.sum(-1, keepdim=True), 2.5)

    assert torch.autograd.gradcheck(f, (x, y))


# -- bad input ------------------------------------------------------------------------------
GOOD = [0.5, 0.5]
FUNCS = [js_divergence, js_distance, total_variation,
         lambda p, q: renyi_divergence(p, q, 2.0)]
NAMES = ["js_divergence", "js_distance", "total_variation", "renyi_divergence"]


@pytest.mark.parametrize(("fn", "name"), list(zip(FUNCS, NAMES, strict=True)))
@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([1.1, -0.1], GOOD, r": p has a negative entry \(-0\.1\)"),
        (GOOD, [np.nan, 0.5], r": q has a NaN entry"),
        ([np.inf, 0.5], GOOD, r": p has an infinite entry"),
        (GOOD, [0.6, 0.6], r": q must sum to 1 \(within 1e-06\)"),
        (np.full((2, 2), 0.5), np.full((3, 2), 0.5), r": the shapes of p and q do not broadcast"),
        (GOOD, [0.2, 0.3, 0.5], r": p and q must have the same number of outcomes"),
        ([], [], r": p is empty"),
    ],
)
def test_bad_input(fn, name, p, q, message) -> None:
    with pytest.raises(ValueError, match=name + message):
        fn(p, q)


@pytest.mark.parametrize("alpha", [0, -1, math.nan, -math.inf, "two"])
def test_renyi_bad_alpha(alpha) -> None:
    with pytest.raises(ValueError, match=r"renyi_divergence: alpha must be"):
        renyi_divergence(GOOD, GOOD, alpha)


@pytest.mark.parametrize("fn", [js_divergence, js_distance])
def test_bad_base(fn) -> None:
    for base in (0, 1, -2.0):
        with pytest.raises(ValueError, match=fn.__name__ + r": base must be"):
            fn(GOOD, GOOD, base=base)
    with pytest.raises(ValueError, match=r"renyi_divergence: base must be"):
        renyi_divergence(GOOD, GOOD, 2.0, base=1)
