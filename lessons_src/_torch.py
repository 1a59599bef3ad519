"""Internal torch helpers shared by the training modules: one thread, and Adam.

Nothing here is public API except :class:`single_thread`, which is re-exported as
``lessons_src.single_thread`` (and ``lessons_src.mle.single_thread``).

torch is imported inside the functions, never at module import time, so ``import
lessons_src`` stays free of torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Adam", "single_thread"]


class single_thread:  # lower case: used like torch.no_grad()
    """Run the enclosed torch code on one intra-op thread, then restore the thread count.

    Floating-point addition is not associative: a matrix product split over two threads
    can differ in its last bits from the same product on one thread, and training
    amplifies such differences. Inside this context every reduction is added in one
    fixed order, so a training run gives bit-identical numbers whatever
    ``torch.get_num_threads()`` was outside. The previous thread count is restored on
    exit, also when the block raises.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Examples
    --------
    >>> import torch
    >>> from lessons_src import single_thread
    >>> before = torch.get_num_threads()
    >>> with single_thread():
    ...     inside = torch.get_num_threads()
    >>> inside, torch.get_num_threads() == before
    (1, True)
    """

    def __init__(self) -> None:
        self._old: int | None = None

    def __enter__(self) -> None:
        import torch

        self._old = torch.get_num_threads()
        if self._old != 1:
            torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        import torch

        if self._old is not None and torch.get_num_threads() != self._old:
            torch.set_num_threads(self._old)


class Adam:
    """Adam (Kingma and Ba, 2015), bit for bit ``torch.optim.Adam(..., foreach=False)``.

    The same arithmetic, operation for operation, as PyTorch's single-tensor Adam (the
    one ``torch.optim.Adam`` uses for CPU tensors): per parameter ``p`` with gradient
    ``g`` and its own step count ``t``,

    - ``g <- g + weight_decay * p`` (L2 penalty, only if ``weight_decay != 0``);
    - ``m.lerp_(g, 1 - b1)`` and ``v.mul_(b2).addcmul_(g, g, value=1 - b2)``;
    - ``p.addcdiv_(m, v.sqrt() / (1 - b2**t)**0.5 + eps, value=-lr / (1 - b1**t))``.

    A parameter whose ``.grad`` is ``None`` is skipped and its step count does not
    advance, as in torch. It is written out because constructing any ``torch.optim``
    optimiser imports ``torch._dynamo``, which takes 1.5-2.5 s: longer than training the
    book's small models. (No parameter groups, AMSGrad, ``maximize`` or state dicts.)

    ``torch_rounding=False`` computes the same update as Kingma and Ba write it,
    ``m.mul_(b1).add_(g, alpha=1 - b1)`` and ``math.sqrt(1 - b2**t)``, which rounds
    differently in the last bits (and so drifts from torch over many steps). It exists
    only because :func:`lessons_src.gan.train_gan` and
    :func:`lessons_src.gan.saturation_experiment` were written that way and Chapter 7's
    stored outputs depend on it.

    Examples
    --------
    >>> import torch
    >>> from lessons_src._torch import Adam
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> for _ in range(3):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w.detach()
    tensor([ 0.7016, -1.7006])
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, torch_rounding: bool = True) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Adam: invalid learning rate {lr!r}")
        if not 0.0 <= eps:
            raise ValueError(f"Adam: invalid epsilon {eps!r}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Adam: invalid betas {betas!r}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Adam: invalid weight_decay {weight_decay!r}")
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.torch_rounding = torch_rounding
        # per parameter: [step, exp_avg, exp_avg_sq], created at its first gradient
        self.state: list[list[Any] | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to ``None`` (torch's ``set_to_none=True``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a ``.grad`` (minimisation)."""
        import torch

        lr, (b1, b2), eps, wd = self.lr, self.betas, self.eps, self.weight_decay
        with torch.no_grad():
            for i, p in enumerate(self.params):
                grad = p.grad
                if grad is None:
                    continue
                st = self.state[i]
                if st is None:
                    st = self.state[i] = [
                        0,
                        torch.zeros_like(p, memory_format=torch.preserve_format),
                        torch.zeros_like(p, memory_format=torch.preserve_format),
                    ]
                st[0] += 1
                t, m, v = st
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                if self.torch_rounding:
                    m.lerp_(grad, 1 - b1)
                    bias_correction2_sqrt = (1 - b2**t) ** 0.5  # pow(), as torch does
                else:
                    m.mul_(b1).add_(grad, alpha=1 - b1)
                    bias_correction2_sqrt = math.sqrt(1 - b2**t)
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                step_size = lr / (1 - b1**t)
                denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
                p.addcdiv_(m, denom, value=-step_size)
