"""Real data that ships with a package: scikit-learn's 8×8 handwritten digits.

The training chapters use it because it needs no download: 1,797 grey-scale images of
the digits 0–9, 8×8 pixels with 17 grey levels (0–16), bundled with scikit-learn.

Taught in Chapter 5, *The VAE ELBO* (book/05_vae_elbo.ipynb), and Chapter 8, *Maximum
likelihood* (book/08_mle.ipynb).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["DigitsSplit", "load_digits"]


class DigitsSplit(NamedTuple):
    """A train/test split of the digits: images flattened to 64 pixels in [0, 1]."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any


def load_digits(*, test_fraction: float = 0.2, seed: int = 0,
                as_torch: bool = True) -> DigitsSplit:
    """Load scikit-learn's digits, scaled to [0, 1], split reproducibly into train and test.

    Pixels are divided by 16, so each image is a vector :math:`x \\in [0, 1]^{64}`.
    The split is stratified by label and drawn with ``numpy.random.default_rng(seed)``,
    so the same arguments always give the same split, whatever else the notebook did.

    Parameters
    ----------
    test_fraction
        Share of each digit's images held out for testing, in (0, 1).
    seed
        Seed of the split (independent of the global random state).
    as_torch
        Return ``torch.float32`` images and ``torch.int64`` labels (default), or numpy
        ``float64`` / ``int64`` arrays.

    Returns
    -------
    DigitsSplit
        ``x_train``, ``y_train``, ``x_test``, ``y_test``.

    Examples
    --------
    >>> split = load_digits(as_torch=False)
    >>> split.x_train.shape, split.x_test.shape
    ((1438, 64), (359, 64))
    >>> float(split.x_train.max()), sorted(set(split.y_test.tolist())) == list(range(10))
    (1.0, True)
    """
    if not isinstance(test_fraction, float | int) or not 0 < test_fraction < 1:
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"load_digits: seed must be a non-negative integer, got {seed!r}")
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    x = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for label in range(10):
        idx = np.flatnonzero(y == label)
        n_test = round(test_fraction * idx.size)
        test_idx.append(rng.permutation(idx)[:n_test])
    test = np.zeros(y.size, dtype=bool)
    test[np.concatenate(test_idx)] = True
    train_order = rng.permutation(np.flatnonzero(~test))
    test_order = np.flatnonzero(test)
    parts = (x[train_order], y[train_order], x[test_order], y[test_order])
    if as_torch:
        import torch

        parts = (torch.from_numpy(parts[0]).float(), torch.from_numpy(parts[1]),
                 torch.from_numpy(parts[2]).float(), torch.from_numpy(parts[3]))
    return DigitsSplit(*parts)
