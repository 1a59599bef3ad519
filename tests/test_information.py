"""Tests of lessons_src.information against scipy, torch, mpmath and KL's theorems."""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as sst
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical
from torch.distributions import kl_divergence as torch_kl

from lessons_src import cross_entropy, entropy, kl_divergence, mutual_information

RTOL = 1e-12
# scipy.stats.entropy and torch's Categorical renormalise their input; a Dirichlet row may
# sum to 1 - 1.1e-16, which changes the result by a few 1e-16 absolute (e.g. n = 1, where
# the KL is ~1e-16 and torch's and libm's log(1 - eps) may differ in the last bit).
NORM_ATOL = 1e-15
SIZES = [1, 2, 3, 10, 257, 4000]
BATCHES = [(), (7,), (3, 4)]
FAST = settings(max_examples=100, deadline=None)


def dirichlet(rng: np.random.Generator, n: int, batch: tuple[int, ...], conc: float) -> np.ndarray:
    return rng.dirichlet(np.full(n, conc), size=batch or None)


def cases(seed: int = 0):
    """Random (p, q) pairs of several sizes, batch shapes and concentrations."""
    rng = np.random.default_rng(seed)
    for n in SIZES:
        for batch in BATCHES:
            for conc in (0.1, 1.0, 10.0):
                yield dirichlet(rng, n, batch, conc), dirichlet(rng, n, batch, conc)


# -- agreement with independent implementations ---------------------------------------------
def test_kl_matches_scipy_rel_entr() -> None:
    for p, q in cases(1):
        np.testing.assert_allclose(kl_divergence(p, q), sps.rel_entr(p, q).sum(-1), rtol=RTOL)


def test_kl_large_blocked_path_with_zeros_and_broadcasting() -> None:
    rng = np.random.default_rng(2)
    p = dirichlet(rng, 3000, (60,), 0.5)
    q = dirichlet(rng, 3000, (60,), 0.5)
    p[5, :100] = 0.0  # rows with zeros in p: 0 log 0 = 0
    p[5] /= p[5].sum()
    q[9, :10] = 0.0  # q = 0 where p > 0: inf
    q[9] /= q[9].sum()
    q[11, 0] = 0.0
    q[11] /= q[11].sum()
    q[11, 0] = 5e-324  # subnormal q: p / q overflows to inf, the KL term does not
    p[11, 0] = 0.25
    p[11] /= p[11].sum()
    ref = sps.rel_entr(p, q).sum(-1)
    exact11 = sps.rel_entr(p[11, 1:], q[11, 1:]).sum() + p[11, 0] * (
        math.log(p[11, 0]) - math.log(5e-324))
    assert ref[11] == pytest.approx(exact11, rel=RTOL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = kl_divergence(p, q)
    assert got.shape == (60,)
    assert math.isinf(got[9]) and np.isfinite(np.delete(got, 9)).all()
    np.testing.assert_allclose(got, ref, rtol=RTOL)
    # p (n,) broadcast against q (B, n) and the reverse
    np.testing.assert_allclose(kl_divergence(p[0], q), sps.rel_entr(p[0], q).sum(-1), rtol=RTOL)
    np.testing.assert_allclose(kl_divergence(p, q[0]), sps.rel_entr(p, q[0]).sum(-1), rtol=RTOL)
    # non-contiguous input
    np.testing.assert_allclose(kl_divergence(p.T.copy().T, q), ref, rtol=RTOL)


def test_entropy_matches_scipy_stats() -> None:
    for p, q in cases(3):
        np.testing.assert_allclose(entropy(p), sps.entr(p).sum(-1), rtol=RTOL)
        np.testing.assert_allclose(entropy(p), sst.entropy(p, axis=-1),
                                   rtol=RTOL, atol=NORM_ATOL)
        np.testing.assert_allclose(entropy(q, base=2), sst.entropy(q, base=2, axis=-1),
                                   rtol=RTOL, atol=NORM_ATOL)
        np.testing.assert_allclose(kl_divergence(p, q, base=2),
                                   sst.entropy(p, q, base=2, axis=-1), rtol=RTOL, atol=NORM_ATOL)


def test_cross_entropy_matches_entropy_plus_kl_and_torch() -> None:
    for p, q in cases(4):
        ref = sps.entr(p).sum(-1) + sps.rel_entr(p, q).sum(-1)
        np.testing.assert_allclose(cross_entropy(p, q), ref, rtol=1e-10, atol=NORM_ATOL)
        if p.ndim == 2:  # torch's soft-label cross-entropy wants (batch, classes)
            tp, tq = torch.from_numpy(p), torch.from_numpy(q)
            ref_t = F.cross_entropy(tq.log(), tp, reduction="none")
            np.testing.assert_allclose(cross_entropy(p, q), ref_t.numpy(), rtol=1e-10,
                                       atol=NORM_ATOL)


def test_kl_matches_torch_categorical_and_kl_div() -> None:
    for p, q in cases(5):
        tp, tq = torch.from_numpy(p), torch.from_numpy(q)
        # logits, not probs: Categorical(probs=...) clamps probabilities to >= 2.2e-16
        ref = torch_kl(Categorical(logits=tp.log()), Categorical(logits=tq.log())).numpy()
        got = kl_divergence(tp, tq)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), sps.rel_entr(p, q).sum(-1), rtol=RTOL,
                                   atol=NORM_ATOL)
        np.testing.assert_allclose(got.numpy(), ref, rtol=RTOL, atol=NORM_ATOL)
        np.testing.assert_allclose(kl_divergence(p, q), ref, rtol=RTOL, atol=NORM_ATOL)
        if p.ndim == 2:
            s = F.kl_div(tq.log(), tp, reduction="sum")
            bm = F.kl_div(tq.log(), tp, reduction="batchmean")
            np.testing.assert_allclose(kl_divergence(p, q).sum(), s.item(), rtol=RTOL,
                                       atol=NORM_ATOL)
            np.testing.assert_allclose(kl_divergence(tp, tq).mean().item(), bm.item(),
                                       rtol=RTOL, atol=NORM_ATOL)


def test_tiny_probabilities_are_exact() -> None:
    """Against a 50-digit evaluation of the same float inputs."""
    p = np.array([1e-300, 2e-300, 1.0])
    q = np.array([3e-300, 1e-300, 1.0])
    mpmath.mp.dps = 50
    exact = sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b))
                for a, b in zip(p, q, strict=True))
    for got in (kl_divergence(p, q), kl_divergence(torch.from_numpy(p), torch.from_numpy(q))):
        assert float(got) == pytest.approx(float(exact), rel=1e-14, abs=0)
    assert float(exact) == pytest.approx(1e-300 * math.log(4 / 3), rel=1e-14, abs=0)
    exact_h = -sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a)) for a in p)
    assert float(entropy(p)) == pytest.approx(float(exact_h), rel=1e-14, abs=0)
    assert float(entropy(torch.from_numpy(p))) == pytest.approx(float(exact_h), rel=1e-14, abs=0)
    exact_x = -sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(b)) for a, b in zip(p, q, strict=True))
    for got in (cross_entropy(p, q), cross_entropy(torch.from_numpy(p), torch.from_numpy(q))):
        assert float(got) == pytest.approx(float(exact_x), rel=1e-14, abs=0)
    # subnormal q: the ratio p / q overflows, the answer does not
    assert kl_divergence([1.0, 0.0], [1.0, 5e-324]) == 0.0
    got = kl_divergence([0.0, 1.0], [1.0, 5e-324])
    assert got == pytest.approx(-math.log(5e-324), rel=1e-14, abs=0)
    assert float(kl_divergence(torch.tensor([0.0, 1.0], dtype=torch.float64),
                               torch.tensor([1.0, 5e-324], dtype=torch.float64))) == got


# -- edge cases -----------------------------------------------------------------------------
def test_zero_conventions_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kl_divergence([1.0, 0.0], [1.0, 0.0]) == 0.0
        assert kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(math.log(2))
        assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
        assert kl_divergence([1.0, 0.0], [0.0, 1.0]) == math.inf
        assert entropy([0.0, 1.0, 0.0]) == 0.0
        assert cross_entropy([1.0, 0.0], [1.0, 0.0]) == 0.0
        assert str(cross_entropy([1.0, 0.0], [1.0, 0.0])) == "0.0"  # not -0.0
        assert cross_entropy([0.5, 0.5], [1.0, 0.0]) == math.inf
        assert not np.isnan(kl_divergence(np.eye(4), np.eye(4)[::-1])).any()


def test_one_hot_rows() -> None:
    eye = np.eye(5)
    np.testing.assert_array_equal(kl_divergence(eye, eye), np.zeros(5))
    np.testing.assert_array_equal(entropy(eye), np.zeros(5))
    u = np.full(5, 0.2)
    np.testing.assert_allclose(kl_divergence(eye, u), np.full(5, math.log(5)), rtol=RTOL)
    np.testing.assert_allclose(cross_entropy(eye, u), np.full(5, math.log(5)), rtol=RTOL)


def test_return_types_and_base() -> None:
    r = kl_divergence([0.5, 0.5], [0.9, 0.1])
    assert type(r) is np.float64
    assert isinstance(kl_divergence([[0.5, 0.5]], [0.9, 0.1]), np.ndarray)
    assert kl_divergence([0.5, 0.5], [0.9, 0.1], base=2) == pytest.approx(r / math.log(2))
    assert entropy(np.full(8, 1 / 8), base=2) == pytest.approx(3.0, rel=RTOL)
    assert entropy(np.full(8, 1 / 8), base=8) == pytest.approx(1.0, rel=RTOL)
    t = kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1]))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.ndim == 0
    assert float(t) == pytest.approx(float(r), rel=1e-6)
    mixed = kl_divergence(np.array([0.5, 0.5]), torch.tensor([0.9, 0.1], dtype=torch.float64))
    assert isinstance(mixed, torch.Tensor) and float(mixed) == pytest.approx(float(r), rel=RTOL)
    h = entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64), base=2)
    np.testing.assert_allclose(h.numpy(), [1.0, 0.0], rtol=RTOL)


def test_float32_tensor_tolerance() -> None:
    p = torch.softmax(torch.randn(4, 50_000, generator=torch.Generator().manual_seed(0)), -1)
    assert p.dtype == torch.float32
    out = kl_divergence(p, p.flip(-1))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


# -- gradients ------------------------------------------------------------------------------
def test_gradcheck_kl_divergence() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.1
    b = torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.1
    a.requires_grad_()
    b.requires_grad_()

    def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # normalise inside, so finite-difference steps stay on the simplex
        return kl_divergence(x / x.sum(-1, keepdim=True), y / y.sum(-1, keepdim=True))

    assert torch.autograd.gradcheck(f, (a, b))
    assert torch.autograd.gradcheck(
        lambda x, y: cross_entropy(x / x.sum(-1, keepdim=True), y / y.sum(-1, keepdim=True)),
        (a, b),
    )
    assert torch.autograd.gradcheck(lambda x: entropy(x / x.sum(-1, keepdim=True)), (a,))


def test_gradient_finite_where_p_is_zero() -> None:
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64, requires_grad=True)
    kl_divergence(p, q).backward()
    # d/dq_i = -p_i / q_i exactly; d/dp_i = log(p_i / q_i) + 1 where p_i > 0, 0 where p_i = 0
    np.testing.assert_allclose(q.grad.numpy(), [-2.0, -2.0, 0.0], rtol=RTOL)
    np.testing.assert_allclose(p.grad.numpy(), [math.log(2) + 1, math.log(2) + 1, 0.0], rtol=RTOL)
    p.grad = None
    entropy(p).backward()
    assert torch.isfinite(p.grad).all()
    q.grad = None
    cross_entropy(p.detach(), q).backward()
    np.testing.assert_allclose(q.grad.numpy(), [-2.0, -2.0, 0.0], rtol=RTOL)


# -- mutual information ---------------------------------------------------------------------
def test_mutual_information_matches_entropy_identity() -> None:
    rng = np.random.default_rng(6)
    for shape in [(2, 2), (3, 5), (4, 6, 7), (2, 3, 4, 4)]:
        joint = rng.dirichlet(np.ones(shape[-1] * shape[-2]), size=shape[:-2] or None)
        joint = joint.reshape(shape)
        hx = sst.entropy(joint.sum(-1), axis=-1)
        hy = sst.entropy(joint.sum(-2), axis=-1)
        hxy = sst.entropy(joint.reshape(*shape[:-2], -1), axis=-1)
        np.testing.assert_allclose(mutual_information(joint), hx + hy - hxy, rtol=1e-9)
        tj = torch.from_numpy(joint)
        np.testing.assert_allclose(mutual_information(tj).numpy(), hx + hy - hxy, rtol=1e-9)


def test_mutual_information_special_cases() -> None:
    assert mutual_information(np.diag([0.25] * 4), base=2) == pytest.approx(2.0, rel=RTOL)
    indep = np.outer([0.2, 0.8], [0.1, 0.3, 0.6])
    assert abs(mutual_information(indep)) < 1e-15
    with pytest.raises(ValueError, match=r"mutual_information: joint must have at least 2 axes"):
        mutual_information([0.5, 0.5])
    with pytest.raises(ValueError, match=r"mutual_information: joint must sum to 1"):
        mutual_information([[0.5, 0.5], [0.5, 0.5]])


# -- properties (hypothesis) ----------------------------------------------------------------
def _normalise(w: list[float]) -> np.ndarray:
    a = np.asarray(w, dtype=np.float64)
    return a / a.sum()


weights = st.floats(min_value=0.0, max_value=1.0, allow_subnormal=False)


@st.composite
def pair(draw, min_n: int = 1, max_n: int = 12, zeros: bool = True):
    n = draw(st.integers(min_n, max_n))
    w = weights if zeros else st.floats(min_value=1e-3, max_value=1.0)
    vec = st.lists(w, min_size=n, max_size=n).filter(lambda v: sum(v) > 1e-3)
    return _normalise(draw(vec)), _normalise(draw(vec))


@FAST
@given(pair())
def test_gibbs_inequality(pq) -> None:
    p, q = pq
    kl = kl_divergence(p, q)
    assert kl >= -1e-15  # the normalised rows sum to 1 only up to rounding
    assert cross_entropy(p, q) >= entropy(p) - 1e-12
    assert kl_divergence(p, p) == 0.0
    if np.abs(p - q).max() > 1e-6:  # zero only if equal (Pinsker gives the margin)
        assert kl > 0.0


@FAST
@given(pair(zeros=False), pair(zeros=False), st.integers(2, 5))
def test_chain_rule(px_qx, _unused, m) -> None:
    """KL(p(x,y) || q(x,y)) = KL(p(x) || q(x)) + E_p(x) KL(p(y|x) || q(y|x))."""
    px, qx = px_qx
    rng = np.random.default_rng(len(px) * 7 + m)
    py_x = rng.dirichlet(np.ones(m), size=len(px))
    qy_x = rng.dirichlet(np.ones(m), size=len(px))
    pj, qj = px[:, None] * py_x, qx[:, None] * qy_x
    lhs = kl_divergence(pj.ravel(), qj.ravel())
    rhs = kl_divergence(px, qx) + px @ kl_divergence(py_x, qy_x)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-12)


@FAST
@given(pair(), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_data_processing_inequality(pq, m, seed) -> None:
    """Passing both through the same Markov kernel K cannot increase KL."""
    p, q = pq
    kernel = np.random.default_rng(seed).dirichlet(np.full(m, 0.5), size=len(p))
    pk, qk = p @ kernel, q @ kernel
    pk, qk = pk / pk.sum(), qk / qk.sum()
    assert kl_divergence(pk, qk) <= kl_divergence(p, q) + 1e-12


@FAST
@given(pair())
def test_mutual_information_nonnegative_and_symmetric(pq) -> None:
    p, q = pq
    joint = np.outer(p, q) * 0.5 + np.diag(np.full(len(p), 0.5 / len(p)))
    joint /= joint.sum()
    mi = mutual_information(joint)
    assert mi >= -1e-15
    assert mi == pytest.approx(mutual_information(joint.T), rel=1e-9, abs=1e-15)


# -- bad input ------------------------------------------------------------------------------
GOOD = [0.5, 0.5]


@pytest.mark.parametrize("fn", [kl_divergence, cross_entropy])
@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([1.1, -0.1], GOOD, r": p has a negative entry \(-0\.1\)"),
        (GOOD, [1.1, -0.1], r": q has a negative entry \(-0\.1\)"),
        ([np.nan, 0.5], GOOD, r": p has a NaN entry \(at index 0\)"),
        (GOOD, [0.5, np.inf], r": q has an infinite entry \(at index 1\)"),
        ([0.4, 0.5], GOOD, r": p must sum to 1 \(within 1e-06\); .* sums to 0\.9"),
        (GOOD, [[0.5, 0.5]] * 3 + [[0.5, 0.4]],
         r": q rows must sum to 1 \(within 1e-06\); row 3 sums to 0\.9"),
        (np.full((3, 2), 0.5), np.full((4, 2), 0.5), r": the shapes of p and q do not broadcast"),
        ([1 / 3] * 3, GOOD, r": p and q must have the same number of outcomes"),
        ([], [], r": p is empty"),
        (np.ones((2, 0)), np.ones((2, 0)), r": p is empty"),
        (1.0, 1.0, r": p must have at least 1 axis"),
    ],
)
def test_bad_input(fn, p, q, message) -> None:
    with pytest.raises(ValueError, match=fn.__name__ + message):
        fn(p, q)


@pytest.mark.parametrize("base", [0, 1, -1, math.inf, "e"])
def test_bad_base(base) -> None:
    for fn, args in [(kl_divergence, (GOOD, GOOD)), (entropy, (GOOD,)),
                     (cross_entropy, (GOOD, GOOD)), (mutual_information, ([[0.5, 0], [0, 0.5]],))]:
        with pytest.raises(ValueError, match=fn.__name__ + r": base must be"):
            fn(*args, base=base)


def test_entropy_bad_input() -> None:
    with pytest.raises(ValueError, match=r"entropy: p has a negative entry"):
        entropy([1.5, -0.5])
    with pytest.raises(ValueError, match=r"entropy: p is empty"):
        entropy(np.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"entropy: p has a NaN entry"):
        entropy(torch.tensor([0.5, float("nan")]))


def test_tolerance_boundary_float64_and_float32() -> None:
    kl_divergence([0.5, 0.5 + 0.9e-6], GOOD)
    with pytest.raises(ValueError, match=r"kl_divergence: p must sum to 1 \(within 1e-06\)"):
        kl_divergence([0.5, 0.5 + 1.1e-6], GOOD)
    kl_divergence(np.array([0.5, 0.50005], np.float32), GOOD)  # float32 input: 1e-4
    kl_divergence(torch.tensor([0.5, 0.50005]), torch.tensor(GOOD))
    with pytest.raises(ValueError, match=r"kl_divergence: q must sum to 1 \(within 0\.0001\)"):
        kl_divergence(torch.tensor(GOOD), torch.tensor([0.5, 0.5002]))


def test_one_hot_entropy_is_plus_zero_for_tensors_and_arrays() -> None:
    import math

    import torch

    for p in ([1.0, 0.0], torch.tensor([1.0, 0.0], dtype=torch.float64)):
        h = float(entropy(p))
        assert h == 0.0 and math.copysign(1.0, h) == 1.0, "prints as -0.0000 otherwise"
        ce = float(cross_entropy(p, p))
        assert ce == 0.0 and math.copysign(1.0, ce) == 1.0
