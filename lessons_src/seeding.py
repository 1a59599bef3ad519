"""One seeding helper for every chapter: Python's ``random``, NumPy and torch together.

Taught in the introduction (book/intro.md, "How the notebooks stay reproducible").
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np

#: Environment variable that overrides the torch thread count chosen by :func:`set_seed`.
THREADS_ENV = "LESSONS_TORCH_THREADS"


def set_seed(seed: int = 0, *, torch_threads: int | None = None) -> np.random.Generator:
    """Seed every random number generator a chapter uses and fix torch's thread count.

    Seeds Python's ``random``, NumPy's legacy global state and torch (when the
    chapter has imported it: import torch before calling this), sets
    ``torch.set_num_threads`` so reductions add up in the same order on every run, and
    returns a fresh :class:`numpy.random.Generator` for the chapter to use.

    Parameters
    ----------
    seed
        A non-negative integer.
    torch_threads
        Threads torch may use. ``None`` reads the ``LESSONS_TORCH_THREADS`` environment
        variable and falls back to 1. Printed results are rounded so that they agree
        on 1 and 2 threads.

    Returns
    -------
    numpy.random.Generator
        ``numpy.random.default_rng(seed)``.

    Examples
    --------
    >>> rng = set_seed(0)
    >>> round(float(rng.normal()), 4)
    0.1257
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"set_seed: seed must be a non-negative integer, got {seed!r}")
    if torch_threads is None:
        raw = os.environ.get(THREADS_ENV, "1")
        try:
            torch_threads = int(raw)
        except ValueError:
            raise ValueError(
                f"set_seed: environment variable {THREADS_ENV} must be a positive integer, "
                f"got {raw!r}"
            ) from None
    if torch_threads < 1:
        raise ValueError(f"set_seed: torch_threads must be >= 1, got {torch_threads}")

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds the legacy global state some libraries use
    # torch is seeded when the chapter has imported it (import torch before set_seed);
    # a chapter that does not use torch does not pay the second it takes to import.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    return np.random.default_rng(seed)
