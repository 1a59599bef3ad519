"""Tests of lessons_src._checks: conversion, backends, validation messages, tolerances."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from lessons_src import _checks as ck

F = "fn"


# -- conversion and backends --------------------------------------------------------------
def test_convert_list_gives_float64_arrays() -> None:
    conv = ck.convert(F, ("p", "q"), ([1, 0], [[0.5, 0.5]]))
    assert not conv.torch
    assert all(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in conv.arrays)
    assert conv.arrays[1].shape == (1, 2)


def test_convert_float64_array_is_not_copied() -> None:
    p = np.array([0.25, 0.75])
    assert ck.convert(F, ("p",), (p,)).arrays[0] is p


def test_convert_keeps_tensor_dtype_and_promotes_mixed_inputs() -> None:
    t32 = torch.tensor([0.5, 0.5], dtype=torch.float32)
    conv = ck.convert(F, ("p", "q"), (t32, np.array([0.25, 0.75])))
    assert conv.torch
    assert [a.dtype for a in conv.arrays] == [torch.float32, torch.float32]
    conv = ck.convert(F, ("p", "q"), (t32, t32.double()))
    assert [a.dtype for a in conv.arrays] == [torch.float64, torch.float64]
    conv = ck.convert(F, ("p",), (torch.tensor([1, 0]),))
    assert conv.arrays[0].dtype == torch.get_default_dtype()


def test_convert_rejects_complex_and_junk() -> None:
    with pytest.raises(ValueError, match=r"fn: p must be real"):
        ck.convert(F, ("p",), (np.array([1j, 0]),))
    with pytest.raises(ValueError, match=r"fn: q must be real"):
        ck.convert(F, ("p", "q"), (torch.ones(2), torch.ones(2, dtype=torch.complex64)))
    with pytest.raises(ValueError, match=r"fn: p is not a real array"):
        ck.convert(F, ("p",), (["a", "b"],))


def test_sum_tolerance_depends_on_input_precision() -> None:
    assert ck.convert(F, ("p",), ([0.5, 0.5],)).sum_tol == [1e-6]
    assert ck.convert(F, ("p",), (np.ones(2, np.float32),)).sum_tol == [1e-4]
    assert ck.convert(F, ("p",), (torch.ones(2, dtype=torch.float32),)).sum_tol == [1e-4]
    assert ck.convert(F, ("p",), (torch.ones(2, dtype=torch.bfloat16),)).sum_tol == [1e-2]
    assert ck.convert(F, ("p",), (torch.ones(2, dtype=torch.float64),)).sum_tol == [1e-6]


def test_finish_returns_numpy_scalar_for_0d() -> None:
    out = ck.finish(np.array(1.5), torch=False)
    assert type(out) is np.float64 and out == 1.5
    t = torch.tensor(1.5)
    assert ck.finish(t, torch=True) is t


def test_numpy_users_do_not_import_torch() -> None:
    code = (
        "import sys, lessons_src as L; "
        "L.kl_divergence([0.5, 0.5], [0.25, 0.75]); L.kl_mvn([0.0], [[1.0]], [1.0], [[2.0]]); "
        "L.js_distance([1, 0], [0, 1]); L.kl_estimators([0.0], [1.0]); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- base ---------------------------------------------------------------------------------
def test_log_base() -> None:
    assert ck.log_base(F, None) is None
    assert ck.log_base(F, 2) == math.log(2)
    assert ck.log_base(F, 0.5) == math.log(0.5)


@pytest.mark.parametrize("base", [0, 1, 1.0, -2, math.inf, math.nan, "two", [2]])
def test_log_base_rejects(base: object) -> None:
    with pytest.raises(ValueError, match=r"fn: base must be"):
        ck.log_base(F, base)


# -- probability checks ---------------------------------------------------------------------
def test_check_prob_accepts_valid_and_boundary() -> None:
    ck.check_prob(F, "p", np.array([[0.5, 0.5], [1.0, 0.0]]), 1e-6)
    ck.check_prob(F, "p", np.array([0.5, 0.5 + 0.9e-6]), 1e-6)
    ck.check_prob(F, "p", torch.tensor([0.5, 0.5 + 5e-5]), 1e-4)


def test_check_prob_negative_names_value() -> None:
    with pytest.raises(ValueError, match=r"^fn: q has a negative entry \(-0\.1\)$"):
        ck.check_prob(F, "q", np.array([1.1, -0.1]), 1e-6)


@pytest.mark.parametrize("mod", [np, torch])
def test_check_prob_nan_and_inf_with_index(mod) -> None:
    a = mod.asarray([[0.5, 0.5], [0.5, float("nan")]])
    with pytest.raises(ValueError, match=r"^fn: p has a NaN entry \(at index \(1, 1\)\)$"):
        ck.check_prob(F, "p", a, 1e-6)
    a = mod.asarray([0.5, float("inf"), 0.0])
    with pytest.raises(ValueError, match=r"^fn: p has an infinite entry \(at index 1\)$"):
        ck.check_prob(F, "p", a, 1e-6)


def test_check_prob_sum_messages() -> None:
    with pytest.raises(ValueError, match=r"fn: p must sum to 1 \(within 1e-06\); the "
                                         r"distribution sums to 0\.9"):
        ck.check_prob(F, "p", np.array([0.4, 0.5]), 1e-6)
    rows = np.full((5, 2), 0.5)
    rows[3] = [0.4, 0.5]
    with pytest.raises(ValueError, match=r"fn: p rows must sum to 1 \(within 1e-06\); "
                                         r"row 3 sums to 0\.9"):
        ck.check_prob(F, "p", rows, 1e-6)
    batch = np.full((2, 3, 2), 0.5)
    batch[1, 2] = [0.5, 0.6]
    with pytest.raises(ValueError, match=r"row \(1, 2\) sums to 1\.1"):
        ck.check_prob(F, "p", batch, 1e-6)
    with pytest.raises(ValueError, match=r"fn: p rows must sum to 1 \(within 0\.0001\)"):
        ck.check_prob(F, "p", torch.tensor([[0.5, 0.5], [0.5, 0.5003]]), 1e-4)
    with pytest.raises(ValueError, match=r"fn: p must sum to 1 \(within 1e-06\)"):
        ck.check_prob(F, "p", np.array([0.5, 0.5 + 2e-6]), 1e-6)


def test_check_prob_joint_over_two_axes() -> None:
    ck.check_prob(F, "joint", np.full((2, 2), 0.25), 1e-6, axes=2)
    bad = np.full((3, 2, 2), 0.25)
    bad[2, 0, 0] = 0.3
    with pytest.raises(ValueError, match=r"fn: joint distributions \(over the last two axes\) "
                                         r"must sum to 1 .* table 2 sums to 1\.05"):
        ck.check_prob(F, "joint", bad, 1e-6, axes=2)


# -- shapes and other values ---------------------------------------------------------------
def test_broadcast_shape_error_names_arguments() -> None:
    assert ck.broadcast_shape(F, ("p", "q"), [np.ones((3, 1, 2)), np.ones((4, 2))]) == (3, 4, 2)
    with pytest.raises(ValueError, match=r"fn: the shapes of p and q do not broadcast "
                                         r"\(p \(3, 2\), q \(4, 2\)\)"):
        ck.broadcast_shape(F, ("p", "q"), [np.ones((3, 2)), np.ones((4, 2))])


def test_check_nonempty() -> None:
    with pytest.raises(ValueError, match=r"fn: p is empty \(shape \(0,\)\)"):
        ck.check_nonempty(F, "p", np.ones(0), 1)
    with pytest.raises(ValueError, match=r"fn: p must have at least 1 axis"):
        ck.check_nonempty(F, "p", np.array(1.0), 1)
    with pytest.raises(ValueError, match=r"fn: x is empty \(shape \(3, 0\)\)"):
        ck.check_nonempty(F, "x", torch.ones(3, 0))


def test_same_outcomes() -> None:
    with pytest.raises(ValueError, match=r"fn: p and q must have the same number of outcomes"):
        ck.same_outcomes(F, ("p", "q"), np.ones(3), np.ones((2, 4)))


def test_check_positive_and_finite() -> None:
    ck.check_positive(F, "sigma", np.array([1e-300, 2.0]))
    with pytest.raises(ValueError, match=r"fn: sigma must be > 0; got 0\.0 \(at index 1\)"):
        ck.check_positive(F, "sigma", np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"fn: sigma has a NaN entry"):
        ck.check_positive(F, "sigma", np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"fn: sigma has an infinite entry"):
        ck.check_positive(F, "sigma", torch.tensor([1.0, math.inf]))
    ck.check_finite(F, "mu", np.array([1e308, 1e308]))  # the sum overflows: still fine
    with pytest.raises(ValueError, match=r"fn: mu has an infinite entry"):
        ck.check_finite(F, "mu", np.array([1.0, -np.inf]))


# -- scalar arguments ---------------------------------------------------------------------
def test_int_arg() -> None:
    assert ck.int_arg(F, "n", np.int64(3), 1) == 3
    assert type(ck.int_arg(F, "n", np.int64(3), 1)) is int
    for bad in (0, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=r"fn: n must be an integer >= 1; got "):
            ck.int_arg(F, "n", bad, 1)


def test_float_arg() -> None:
    assert ck.float_arg(F, "x", np.float32(0.5), 0.0, 1.0) == 0.5
    assert ck.float_arg(F, "x", 3) == 3.0
    for bad in ("a", None, True, [1.0, 2.0]):
        with pytest.raises(ValueError, match=r"fn: x must be a number; got "):
            ck.float_arg(F, "x", bad)
    cases = [
        ({}, math.nan, r"fn: x must be finite; got nan"),
        ({"lo": 0.0, "lo_open": True}, 0.0, r"fn: x must be finite and > 0; got 0\.0"),
        ({"lo": 0.0}, math.inf, r"fn: x must be finite and >= 0; got inf"),
        ({"lo": 0.0, "hi": 1.0}, 1.5, r"fn: x must be in \[0, 1\]; got 1\.5"),
        ({"lo": 0.0, "hi": 1.0, "lo_open": True, "hi_open": True}, 1.0,
         r"fn: x must be in \(0, 1\); got 1\.0"),
    ]
    for kwargs, value, message in cases:
        with pytest.raises(ValueError, match=message):
            ck.float_arg(F, "x", value, **kwargs)
