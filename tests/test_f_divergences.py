"""Tests of lessons_src.f_divergences: the generator family, χ², Hellinger, the table."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from lessons_src import (
    F_GENERATORS,
    FGenerator,
    chi2_divergence,
    f_divergence,
    f_divergence_table,
    hellinger_distance,
    js_divergence,
    kl_divergence,
    squared_hellinger,
    total_variation,
)

RTOL = 1e-12
LN2 = math.log(2)
FAST = settings(max_examples=100, deadline=None)
NAMES = ["kl", "reverse_kl", "js", "tv", "chi2", "squared_hellinger"]


def cases(seed: int, zeros: bool = False):
    rng = np.random.default_rng(seed)
    for n in (2, 3, 10, 200):
        for batch in ((), (5,), (2, 3)):
            p = rng.dirichlet(np.full(n, 0.7), size=batch or None)
            q = rng.dirichlet(np.full(n, 0.7), size=batch or None)
            if zeros and n > 2:
                p[..., 0] = 0.0
                p /= p.sum(-1, keepdims=True)
            yield p, q


def reference(name: str, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Independent formulas (scipy where it has them)."""
    if name == "kl":
        return sps.rel_entr(p, q).sum(-1)
    if name == "reverse_kl":
        return sps.rel_entr(q, p).sum(-1)
    if name == "js":
        return jensenshannon(p, q, axis=-1) ** 2
    if name == "tv":
        return 0.5 * np.abs(p - q).sum(-1)
    if name == "chi2":
        return ((p - q) ** 2 / q).sum(-1)
    return 1.0 - np.sqrt(p * q).sum(-1)


# -- agreement -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_named_generators_match_independent_formulas(name: str) -> None:
    for p, q in cases(0):
        np.testing.assert_allclose(f_divergence(p, q, name), reference(name, p, q),
                                   rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_generic_perspective_with_each_generator_matches_closed_form(name: str) -> None:
    """The sum of q f(p/q) with the limits, for a copy of the named generator (so the
    generic path runs, not the closed form), equals the closed form, zeros included."""
    gen = FGenerator(*F_GENERATORS[name])
    assert gen is not F_GENERATORS[name]
    for p, q in [*cases(5, zeros=True), *((q, p) for p, q in cases(6, zeros=True))]:
        np.testing.assert_allclose(f_divergence(p, q, gen), f_divergence(p, q, name),
                                   rtol=1e-9, atol=1e-14)
        tp, tq = torch.from_numpy(p), torch.from_numpy(q)
        np.testing.assert_allclose(f_divergence(tp, tq, gen).numpy(),
                                   f_divergence(p, q, name), rtol=1e-9, atol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.5, 0.5])
        assert f_divergence(a, b, gen) == f_divergence(a, b, name)


def test_named_helpers_match_f_divergence_and_lessons_src() -> None:
    for p, q in cases(1, zeros=True):
        np.testing.assert_allclose(f_divergence(p, q, "kl"), kl_divergence(p, q), rtol=RTOL)
        np.testing.assert_allclose(f_divergence(p, q, "reverse_kl"), kl_divergence(q, p),
                                   rtol=RTOL)
        np.testing.assert_allclose(f_divergence(p, q, "js"), js_divergence(p, q),
                                   rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(f_divergence(p, q, "tv"), total_variation(p, q), rtol=RTOL)
        np.testing.assert_allclose(f_divergence(p, q, "chi2"), chi2_divergence(p, q),
                                   rtol=1e-10)
        np.testing.assert_allclose(f_divergence(p, q, "squared_hellinger"),
                                   squared_hellinger(p, q), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(hellinger_distance(p, q), np.sqrt(squared_hellinger(p, q)),
                                   rtol=RTOL)


def test_scipy_power_divergence_family() -> None:
    """Cressie-Read statistics with sum(obs) = 1: lambda=1 is chi2, -1/2 is 8 H^2,
    0 is 2 KL(P||Q), -1 is 2 KL(Q||P)."""
    rng = np.random.default_rng(2)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))

        def pd(lam, p=p, q=q):
            return scipy.stats.power_divergence(p, q, lambda_=lam).statistic

        assert chi2_divergence(p, q) == pytest.approx(pd(1), rel=1e-10)
        assert 8 * squared_hellinger(p, q) == pytest.approx(pd(-0.5), rel=1e-10)
        assert 2 * f_divergence(p, q, "kl") == pytest.approx(pd(0), rel=1e-10)
        assert 2 * f_divergence(p, q, "reverse_kl") == pytest.approx(pd(-1), rel=1e-10)


def test_custom_callables_and_generators() -> None:
    for p, q in cases(3):
        np.testing.assert_allclose(f_divergence(p, q, lambda t: sps.xlogy(t, t)),
                                   kl_divergence(p, q), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(f_divergence(p, q, lambda t: (t - 1) ** 2),
                                   chi2_divergence(p, q), rtol=1e-10)
        # Neyman chi2 = Pearson chi2 with the roles swapped
        neyman = FGenerator("neyman", "Neyman χ²", "(t − 1)²/t", lambda t: (t - 1) ** 2 / t,
                            math.inf, 1.0)
        np.testing.assert_allclose(f_divergence(p, q, neyman), chi2_divergence(q, p),
                                   rtol=1e-10)
    # adding a(t - 1) to f changes nothing
    p, q = np.array([0.2, 0.5, 0.3]), np.array([0.6, 0.1, 0.3])
    assert f_divergence(p, q, lambda t: sps.xlogy(t, t) + 3.0 * (t - 1)) == pytest.approx(
        kl_divergence(p, q), rel=1e-12)
    # the GAN generator t log t - (1 + t) log(1 + t), made to vanish at 1, gives 2 JS
    gan = FGenerator("gan", "2 JS", "", lambda t: sps.xlogy(t, t) - sps.xlogy(1 + t, 1 + t)
                     + math.log(4), math.log(2), 0.0)
    assert f_divergence(p, q, gan) == pytest.approx(2 * js_divergence(p, q), rel=1e-12)


def test_limits_at_zero_probabilities() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = [1.0, 0.0], [0.0, 1.0]
        expected = {"kl": math.inf, "reverse_kl": math.inf, "js": LN2, "tv": 1.0,
                    "chi2": math.inf, "squared_hellinger": 1.0}
        for name, v in expected.items():
            assert f_divergence(a, b, name) == pytest.approx(v, rel=RTOL), name
        # P's support inside Q's: KL finite, reverse KL infinite; chi2 finite
        p, q = [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]
        assert f_divergence(p, q, "kl") == pytest.approx(LN2, rel=RTOL)
        assert f_divergence(p, q, "reverse_kl") == math.inf
        assert f_divergence(p, q, "chi2") == pytest.approx(1.0, rel=RTOL)
        assert f_divergence(q, p, "chi2") == math.inf
        assert chi2_divergence(q, p) == math.inf
        # both zero: the term is 0 for every generator, including a custom one
        p0, q0 = [0.5, 0.5, 0.0], [0.5, 0.5, 0.0]
        for name in NAMES:
            assert f_divergence(p0, q0, name) == 0.0
        assert f_divergence(p0, q0, lambda t: (t - 1) ** 2) == 0.0
        # a custom f with a finite f(0): used where p = 0 < q
        assert f_divergence(p, q, lambda t: (t - 1) ** 2) == pytest.approx(1.0, rel=RTOL)


def test_return_types() -> None:
    for name in NAMES:
        assert type(f_divergence([0.3, 0.7], [0.5, 0.5], name)) is np.float64
    assert type(chi2_divergence([0.3, 0.7], [0.5, 0.5])) is np.float64
    assert type(squared_hellinger([0.3, 0.7], [0.5, 0.5])) is np.float64
    assert type(hellinger_distance([0.3, 0.7], [0.5, 0.5])) is np.float64
    assert f_divergence(np.full((4, 3), 1 / 3), [0.2, 0.3, 0.5], "js").shape == (4,)


# -- torch -----------------------------------------------------------------------------------
def test_torch_matches_numpy_and_keeps_dtype() -> None:
    for p, q in cases(4, zeros=True):
        tp, tq = torch.from_numpy(p), torch.from_numpy(q)
        for name in NAMES:
            got = f_divergence(tp, tq, name)
            assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
            np.testing.assert_allclose(got.numpy(), f_divergence(p, q, name), rtol=1e-10,
                                       atol=1e-15)
        np.testing.assert_allclose(chi2_divergence(tp, tq).numpy(), chi2_divergence(p, q),
                                   rtol=1e-12)
        np.testing.assert_allclose(squared_hellinger(tp, tq).numpy(), squared_hellinger(p, q),
                                   rtol=1e-10, atol=1e-15)
    t32 = f_divergence(torch.tensor([0.3, 0.7]), torch.tensor([0.5, 0.5]), "js")
    assert t32.dtype == torch.float32
    assert float(t32) == pytest.approx(js_divergence([0.3, 0.7], [0.5, 0.5]), rel=1e-5)
    # a custom torch function
    got = f_divergence(torch.tensor([0.3, 0.7], dtype=torch.float64),
                       torch.tensor([0.5, 0.5], dtype=torch.float64), lambda t: -torch.log(t))
    assert float(got) == pytest.approx(kl_divergence([0.5, 0.5], [0.3, 0.7]), rel=1e-12)


def test_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 4, generator=g, dtype=torch.float64) + 0.1).requires_grad_()
    y = (torch.rand(2, 4, generator=g, dtype=torch.float64) + 0.1).requires_grad_()
    for name in NAMES:
        def fn(u: torch.Tensor, v: torch.Tensor, name: str = name) -> torch.Tensor:
            return f_divergence(u / u.sum(-1, keepdim=True), v / v.sum(-1, keepdim=True), name)

        assert torch.autograd.gradcheck(fn, (x, y))
    # finite gradients where a probability is zero (the limits are constants)
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64, requires_grad=True)
    for name in ("kl", "js", "tv", "chi2", "squared_hellinger"):
        p.grad = q.grad = None
        f_divergence(p, q, name).backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all(), name
    p.grad = q.grad = None
    squared_hellinger(p, q).backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


# -- properties ------------------------------------------------------------------------------
@st.composite
def pair(draw, max_n: int = 8):
    n = draw(st.integers(2, max_n))
    vec = st.lists(st.floats(0, 1), min_size=n, max_size=n).filter(lambda v: sum(v) > 1e-3)
    p, q = np.array(draw(vec)), np.array(draw(vec))
    return p / p.sum(), q / q.sum()


@FAST
@given(pair())
def test_nonnegative_zero_at_equality_and_symmetry(pq) -> None:
    p, q = pq
    for name in NAMES:
        assert f_divergence(p, q, name) >= -1e-12
        assert f_divergence(p, p, name) == pytest.approx(0.0, abs=1e-12)
    # ... and > 0 when P != Q (every generator here is strictly convex at t = 1, or TV)
    if np.abs(p - q).max() > 1e-3:
        for name in NAMES:
            assert f_divergence(p, q, name) > 0, name
    # JS, TV and H^2 are symmetric; KL and reverse KL are each other's swap
    for name in ("js", "tv", "squared_hellinger"):
        assert f_divergence(p, q, name) == pytest.approx(f_divergence(q, p, name), abs=1e-12)
    kl_qp = f_divergence(q, p, "kl")
    assert f_divergence(p, q, "reverse_kl") == pytest.approx(kl_qp, rel=1e-12, abs=1e-15)


@FAST
@given(pair(), pair(), st.floats(0.0, 1.0))
def test_joint_convexity(pq1, pq2, lam) -> None:
    (p1, q1), (p2, q2) = pq1, pq2
    if p1.size != p2.size:
        return
    p, q = lam * p1 + (1 - lam) * p2, lam * q1 + (1 - lam) * q2
    for name in NAMES:
        d1, d2 = f_divergence(p1, q1, name), f_divergence(p2, q2, name)
        if math.isinf(d1) or math.isinf(d2):
            continue
        avg = lam * d1 + (1 - lam) * d2
        assert f_divergence(p, q, name) <= avg + 1e-9 * (1 + abs(avg)), name


@FAST
@given(pair())
def test_inequalities_between_members(pq) -> None:
    p, q = pq
    tv, h2 = total_variation(p, q), squared_hellinger(p, q)
    h = math.sqrt(h2)
    assert h2 <= tv + 1e-12
    assert tv <= h * math.sqrt(2 - h2) + 1e-12 <= math.sqrt(2) * h + 1e-12
    assert js_divergence(p, q) <= LN2 * tv + 1e-12
    kl, chi2 = kl_divergence(p, q), chi2_divergence(p, q)
    if math.isfinite(chi2):
        assert kl <= math.log1p(chi2) + 1e-12
    assert 0.0 <= h2 <= 1.0


@FAST
@given(pair(), pair(), pair())
def test_hellinger_triangle_inequality(a, b, c) -> None:
    p, q, r = a[0], b[0], c[0]
    if not p.size == q.size == r.size:
        return
    assert hellinger_distance(p, q) <= (hellinger_distance(p, r)
                                        + hellinger_distance(r, q) + 1e-12)


def test_table() -> None:
    p, q = [0.5, 0.3, 0.2], [0.1, 0.3, 0.6]
    rows = f_divergence_table(p, q)
    assert [r.key for r in rows] == NAMES == list(F_GENERATORS)
    for r in rows:
        assert r.value == f_divergence(p, q, r.key)
        assert r.f_zero == F_GENERATORS[r.key].f_zero
        # the stated limits are the generator's: f(1e-12) and f(1e12)/1e12
        f = F_GENERATORS[r.key].f
        with np.errstate(all="ignore"):
            f0 = float(f(np.array([1e-12]))[0])
            slope = float(f(np.array([1e12]))[0]) / 1e12
        if math.isinf(r.f_zero):
            assert f0 > 20
        else:
            assert f0 == pytest.approx(r.f_zero, abs=1e-5)
        if math.isinf(r.slope_inf):
            assert slope > 20
        else:
            assert slope == pytest.approx(r.slope_inf, abs=1e-5)


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f", "message"),
    [
        ("hellinger", r"f_divergence: unknown generator 'hellinger'"),
        (np.log, r"f_divergence: f must be convex"),
        (lambda t: (t - 2) ** 2, r"f_divergence: the generator must have f\(1\) = 0"),
        (lambda t: 1 / (t - 0.5) - 2, r"f_divergence: f must be finite|f must be convex"),
        (3.0, r"f_divergence: f must be a generator name, an FGenerator or a function"),
        (lambda t: "x", r"f_divergence: f must return an array of numbers"),
    ],
)
def test_bad_generators(f, message) -> None:
    with pytest.raises(ValueError, match=message):
        f_divergence([0.5, 0.5], [0.4, 0.6], f)


def test_missing_limits() -> None:
    def chi2(t):
        return (t - 1) ** 2

    with pytest.raises(ValueError, match=r"f_divergence: p > 0 where q = 0 needs f'\(∞\)"):
        f_divergence([0.5, 0.5], [1.0, 0.0], chi2)
    with np.errstate(all="ignore"), pytest.raises(ValueError, match=r"needs f\(0\)"):
        f_divergence([1.0, 0.0], [0.5, 0.5], lambda t: t * np.log(t))
    bad = FGenerator("x", "x", "x", chi2, math.nan, 1.0)
    with pytest.raises(ValueError, match=r"f_divergence: f.f_zero must be a number"):
        f_divergence([0.5, 0.5], [0.4, 0.6], bad)


@pytest.mark.parametrize("fn", [chi2_divergence, squared_hellinger, hellinger_distance,
                                lambda p, q: f_divergence(p, q, "js")])
@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([0.5, 0.5], [1.1, -0.1], r"q has a negative entry"),
        ([0.5, 0.6], [0.5, 0.5], r"p must sum to 1"),
        ([0.5, float("nan")], [0.5, 0.5], r"p has a NaN entry"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], r"same number of outcomes"),
        ([], [], r"p must have at least 1 axis|p is empty"),
    ],
)
def test_bad_distributions(fn, p, q, message) -> None:
    with pytest.raises(ValueError, match=message):
        fn(p, q)


def test_error_names_the_function() -> None:
    for fn in (chi2_divergence, squared_hellinger, hellinger_distance):
        with pytest.raises(ValueError, match=fn.__name__ + ": q has a negative entry"):
            fn([0.5, 0.5], [1.5, -0.5])
