"""lessons_src.seeding: one call makes random, NumPy and torch repeat themselves."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lessons_src import set_seed


def draw(rng: np.random.Generator) -> tuple[float, float, float, float]:
    return (random.random(), float(np.random.random()),  # noqa: NPY002 - legacy state on purpose
            float(rng.random()), float(torch.rand(1)))


def test_same_seed_same_numbers_everywhere():
    first = draw(set_seed(7))
    second = draw(set_seed(7))
    assert first == second
    assert draw(set_seed(8)) != first


def test_threads_fixed_and_overridable(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("LESSONS_TORCH_THREADS", raising=False)
        set_seed(0)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("LESSONS_TORCH_THREADS", "2")
        set_seed(0)
        assert torch.get_num_threads() == 2
        set_seed(0, torch_threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, None])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        set_seed(seed)


def test_bad_thread_settings_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="torch_threads must be >= 1"):
        set_seed(0, torch_threads=0)
    monkeypatch.setenv("LESSONS_TORCH_THREADS", "many")
    with pytest.raises(ValueError, match="LESSONS_TORCH_THREADS must be a positive integer"):
        set_seed(0)


def test_set_seed_does_not_import_torch():
    """A chapter without torch must not pay for importing it (about a second)."""
    import subprocess
    import sys

    code = ("import sys; from lessons_src import set_seed; set_seed(0); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
