"""lessons_src.data: the bundled digits, scaled and split reproducibly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sk_digits

from lessons_src import load_digits


def test_split_is_a_stratified_partition_of_the_real_data():
    split = load_digits(as_torch=False)
    bunch = sk_digits()
    assert split.x_train.shape == (1438, 64) and split.x_test.shape == (359, 64)
    both = np.concatenate([split.x_train, split.x_test]) * 16
    # every image appears exactly once (as a multiset of rows)
    key = lambda a: np.sort(a.view([("", a.dtype)] * a.shape[1]).ravel())  # noqa: E731
    assert np.array_equal(key(np.ascontiguousarray(both)), key(bunch.data.astype(np.float64)))
    counts = np.bincount(split.y_test, minlength=10)
    assert np.all(np.abs(counts - 0.2 * np.bincount(bunch.target)) <= 0.5)
    assert split.x_train.min() == 0.0 and split.x_train.max() == 1.0


def test_same_seed_same_split_and_torch_types():
    a, b = load_digits(seed=3), load_digits(seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    c = load_digits(seed=4)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test_fraction": 0.0}, "test_fraction must be in"),
    ({"test_fraction": 1.5}, "test_fraction must be in"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_digits(**kwargs)
