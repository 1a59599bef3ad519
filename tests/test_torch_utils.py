"""The shared torch helpers in lessons_src._torch: Adam and single_thread."""

from __future__ import annotations

import math

import pytest
import torch

import lessons_src
import lessons_src.mle
from lessons_src._torch import Adam, single_thread

STEPS = 1500  # past t = 1270, where math.sqrt(1 - 0.999**t) != (1 - 0.999**t) ** 0.5


def _train(make_opt, dtype: torch.dtype, steps: int = STEPS) -> list[torch.Tensor]:
    """A small MLP fitted by full-batch regression; its parameters after ``steps``."""
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                    torch.nn.Linear(8, 2)).to(dtype)
    x = torch.randn(32, 4, generator=g, dtype=dtype)
    y = torch.randn(32, 2, generator=g, dtype=dtype)
    opt = make_opt(model.parameters())
    with single_thread():
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.999)])
def test_adam_matches_torch_optim_adam_bit_for_bit(betas, weight_decay, dtype) -> None:
    ours = _train(lambda ps: Adam(ps, lr=1e-2, betas=betas, weight_decay=weight_decay), dtype)
    ref = _train(lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=betas,
                                             weight_decay=weight_decay, foreach=False), dtype)
    assert all(torch.equal(a, b) for a, b in zip(ours, ref, strict=True))


def test_adam_skips_parameters_without_gradients_like_torch() -> None:
    """A parameter without .grad keeps its value and its own step count."""
    def run(make_opt):
        a = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
        opt = make_opt([a, b])
        for i in range(40):
            opt.zero_grad()
            loss = (a * a).sum() + (torch.sin(b).sum() if i % 3 == 0 else 0.0)
            loss.backward()
            opt.step()
        return a.detach(), b.detach()

    ours = run(lambda ps: Adam(ps, lr=0.1))
    ref = run(lambda ps: torch.optim.Adam(ps, lr=0.1, foreach=False))
    assert all(torch.equal(u, v) for u, v in zip(ours, ref, strict=True))


def test_adam_without_torch_rounding_is_the_textbook_update() -> None:
    """torch_rounding=False: m = b1 m + (1 - b1) g and math.sqrt, written out by hand."""
    g = torch.Generator().manual_seed(1)
    p = torch.randn(5, generator=g, requires_grad=True)
    q = p.detach().clone()
    m, v = torch.zeros_like(q), torch.zeros_like(q)
    opt = Adam([p], lr=0.01, betas=(0.5, 0.999), torch_rounding=False)
    for t in range(1, 51):
        grad = torch.randn(5, generator=g)
        p.grad = grad.clone()
        opt.step()
        m.mul_(0.5).add_(grad, alpha=0.5)
        v.mul_(0.999).addcmul_(grad, grad, value=1 - 0.999)
        denom = (v.sqrt() / math.sqrt(1 - 0.999**t)).add_(1e-8)
        q.addcdiv_(m, denom, value=-0.01 / (1 - 0.5**t))
        assert torch.equal(p.detach(), q)


def test_adam_rejects_bad_hyperparameters() -> None:
    w = [torch.zeros(1, requires_grad=True)]
    with pytest.raises(ValueError, match="Adam: invalid learning rate"):
        Adam(w, lr=-1.0)
    with pytest.raises(ValueError, match="Adam: invalid betas"):
        Adam(w, betas=(1.0, 0.999))


def test_single_thread_sets_one_thread_and_restores_the_count() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with single_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), single_thread():
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        with single_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_single_thread_public_names() -> None:
    assert lessons_src.single_thread is single_thread
    assert lessons_src.mle.single_thread is single_thread
