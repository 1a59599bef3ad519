"""Maximum likelihood in practice: Gaussian NLL, AIC, label smoothing, distillation, and
small, deterministic classifiers trained on the digits.

Every loss here is a cross-entropy :math:`H(P, Q_\\theta) = H(P) + D_{\\mathrm{KL}}(P \\,\\|\\,
Q_\\theta)`, with :math:`P` the data or target distribution (first argument) and
:math:`Q_\\theta` the model (second argument). Results are in nats.

Reproducibility: :func:`make_mlp` initialises its weights from its own seed,
:func:`train_classifier` shuffles with its own seeded :class:`torch.Generator`, and the
torch computations of :func:`train_classifier` and :func:`predict` run on one thread
(:func:`single_thread`), so their numbers do not depend on the thread count of the
caller or on what it drew from the global random state before.

Bad arguments raise :class:`ValueError` naming the function and the argument, e.g.
``"smooth_labels: epsilon must be in [0, 1]; got 1.5"``.

Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import softmax as _np_softmax

from . import _checks as ck
from ._torch import Adam, single_thread

__all__ = [
    "ClassifierHistory",
    "ClassifierMetrics",
    "aic",
    "classifier_metrics",
    "distillation_loss",
    "gaussian_nll",
    "make_mlp",
    "predict",
    "single_thread",
    "smooth_labels",
    "soft_targets",
    "train_classifier",
]

_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------
# Gaussian mean and model selection
# --------------------------------------------------------------------------------------
def gaussian_nll(x: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> Any:
    r"""Average negative log-likelihood of a sample under :math:`\mathcal N(\mu, \sigma^2)`.

    .. math::

        \mathrm{NLL}(\mu, \sigma) = -\frac1n \sum_{i=1}^n \log \mathcal N(x_i;\, \mu, \sigma^2)
        = \tfrac12 \log(2\pi\sigma^2) + \frac{s^2 + (\bar x - \mu)^2}{2\sigma^2},

    where :math:`\bar x` is the sample mean and :math:`s^2 = \frac1n \sum_i (x_i - \bar
    x)^2`. It is the cross-entropy :math:`H(\hat P_n, Q)` of the empirical distribution
    :math:`\hat P_n` relative to the model :math:`Q = \mathcal N(\mu, \sigma^2)`, in nats
    per observation; it is minimised at :math:`\mu = \bar x`, :math:`\sigma = s`.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    x
        The sample(s): observations along the **last** axis (at least one), finite; leading
        axes are a batch of samples.
    mu, sigma
        Mean and **standard deviation** (not variance) of the model, ``sigma > 0``. They
        broadcast against each other and against ``x.shape[:-1]``: pass an array of means
        to score many models on one sample, or one mean per sample.

    Returns
    -------
    numpy.float64 or numpy.ndarray or torch.Tensor
        The average NLL in nats, with the broadcast shape of ``x.shape[:-1]``, ``mu`` and
        ``sigma``. A tensor if any argument is one (autograd works).

    Raises
    ------
    ValueError
        If ``x`` has no axis or no observations, an argument is not finite, ``sigma`` is
        not > 0, or the shapes do not broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> from lessons_src import gaussian_nll
    >>> x = np.array([1.0, 2.0, 3.0])  # mean 2, s^2 = 2/3
    >>> print(gaussian_nll(x, [1.0, 2.0], 1.0).round(4))  # smallest at the sample mean
    [1.7523 1.2523]
    >>> samples = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]])  # two samples, one mean each
    >>> print(gaussian_nll(samples, samples.mean(-1), 1.0).round(4))
    [1.2523 1.9189]
    """
    fname = "gaussian_nll"
    names = ("x", "mu", "sigma")
    conv = ck.convert(fname, names, (x, mu, sigma))
    xs, m, s = conv.arrays
    ck.check_nonempty(fname, "x", xs, 1, " (the observations)")
    ck.check_nonempty(fname, "mu", m)
    ck.check_nonempty(fname, "sigma", s)
    ck.broadcast_shape(fname, names, [_Shape(xs.shape[:-1]), m, s])
    ck.check_finite(fname, "x", xs)
    ck.check_finite(fname, "mu", m)
    ck.check_positive(fname, "sigma", s)
    if conv.torch:
        import torch

        xbar = xs.mean(-1)
        s2 = (xs - xbar.unsqueeze(-1)).square().mean(-1)
        return 0.5 * _LOG_2PI + torch.log(s) + (s2 + (xbar - m).square()) / (2 * s * s)
    xbar = xs.mean(-1)
    s2 = np.mean((xs - xbar[..., None]) ** 2, axis=-1)
    return ck.finish(0.5 * _LOG_2PI + np.log(s) + (s2 + (xbar - m) ** 2) / (2 * s * s), False)


class _Shape:
    """Stand-in with only a ``shape`` (to broadcast the batch shape of ``x``)."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)


def aic(log_likelihood: ArrayLike, num_params: ArrayLike, *, num_obs: int | None = None) -> Any:
    r"""Akaike's information criterion of a fitted model.

    .. math::

        \mathrm{AIC} = -2 \log L(\hat\theta) + 2k,

    with :math:`\log L(\hat\theta) = \sum_{i=1}^n \log p_{\hat\theta}(x_i)` the
    maximised log-likelihood (a **sum** over the :math:`n` observations, in nats) and
    :math:`k` the number of fitted parameters. The in-sample average log-likelihood is
    optimistic: it was maximised on the same data it scores. For a regular model that
    contains the truth, the optimism is :math:`k/n` nats per observation to first order
    (Akaike, 1974), so

    .. math::

        \frac{\mathrm{AIC}}{2n} \approx \mathbb{E}\big[H(P, Q_{\hat\theta})\big]
        = H(P) + \mathbb{E}\big[D_{\mathrm{KL}}(P \,\|\, Q_{\hat\theta})\big],

    the expected NLL per observation of the fitted model on fresh data. :math:`H(P)` is
    the same for every model, so comparing AIC compares expected KL divergences of the
    data distribution :math:`P` relative to the fitted models.

    With ``num_obs`` (:math:`n`) given, the small-sample corrected criterion is returned,

    .. math::

        \mathrm{AIC_c} = \mathrm{AIC} + \frac{2k(k+1)}{n - k - 1},

    derived for Gaussian linear models, where the first-order optimism :math:`k/n`
    underestimates the truth when :math:`k` is not small compared with :math:`n`.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    log_likelihood
        Maximised log-likelihood(s), summed over the observations (not averaged), finite.
    num_params
        Number(s) of fitted parameters, non-negative integers. Broadcasts against
        ``log_likelihood``.
    num_obs
        Number of observations :math:`n`; if given, return AICc (needs
        :math:`n > k + 1`).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The criterion (smaller is better).

    Raises
    ------
    ValueError
        If a log-likelihood is not finite, a parameter count is negative or not an
        integer, the shapes do not broadcast, or ``num_obs`` is not an integer
        greater than every ``num_params + 1``.

    Examples
    --------
    >>> from lessons_src import aic
    >>> print(aic([-120.0, -115.0], [2, 5]))  # 3 more parameters buy 5 nats: worth it
    [244. 240.]
    >>> print(aic([-120.0, -115.0], [2, 5], num_obs=15).round(2))  # AICc: not with n = 15
    [245.   246.67]
    """
    fname = "aic"
    ll = np.asarray(log_likelihood, dtype=np.float64)
    try:
        k_raw = np.asarray(num_params)
    except (TypeError, ValueError):
        raise ValueError(f"aic: num_params must be non-negative integers; got "
                         f"{num_params!r}") from None
    ck.check_nonempty(fname, "log_likelihood", ll)
    ck.check_nonempty(fname, "num_params", k_raw)
    ck.check_finite(fname, "log_likelihood", ll)
    if k_raw.dtype == bool or not np.issubdtype(k_raw.dtype, np.number):
        raise ValueError(f"{fname}: num_params must be non-negative integers; got "
                         f"{num_params!r}")
    k = k_raw.astype(np.float64)
    if not (np.all(np.isfinite(k)) and np.all(k >= 0) and np.all(k == np.round(k))):
        raise ValueError(f"{fname}: num_params must be non-negative integers; got "
                         f"{num_params!r}")
    ck.broadcast_shape(fname, ("log_likelihood", "num_params"), [ll, k])
    out = -2.0 * ll + 2.0 * k
    if num_obs is not None:
        n = ck.int_arg(fname, "num_obs", num_obs, 1)
        if not np.all(n > k + 1):
            raise ValueError(f"{fname}: num_obs must exceed num_params + 1 for AICc; got "
                             f"num_obs={n} and num_params up to {int(k.max())}")
        out = out + 2.0 * k * (k + 1.0) / (n - k - 1.0)
    return ck.finish(out, False)


# --------------------------------------------------------------------------------------
# targets: label smoothing and temperature
# --------------------------------------------------------------------------------------
def smooth_labels(labels: ArrayLike, num_classes: int, epsilon: float) -> Any:
    r"""Label smoothing: the smoothed **target** distribution :math:`P_\varepsilon`.

    .. math::

        P_\varepsilon(k \mid y) = (1 - \varepsilon)\,[k = y] + \frac{\varepsilon}{K},
        \qquad k = 0, \dots, K - 1.

    This changes the data side :math:`P` of the loss :math:`H(P, Q_\theta)`, not the
    model :math:`Q_\theta`. The true class keeps :math:`1 - \varepsilon + \varepsilon/K`,
    every other class gets :math:`\varepsilon/K`. Because :math:`H(P_\varepsilon) > 0`
    for :math:`\varepsilon > 0`, the loss
    :math:`H(P_\varepsilon, Q) = H(P_\varepsilon) + D_{\mathrm{KL}}(P_\varepsilon \,\|\,
    Q)` can no longer reach 0: its minimum :math:`H(P_\varepsilon)`, attained at
    :math:`Q = P_\varepsilon`. ``torch.nn.functional.cross_entropy(...,
    label_smoothing=epsilon)`` uses the same targets.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    labels
        Class indices in ``[0, num_classes)``: an int, an integer array or an integer
        tensor, any shape.
    num_classes
        :math:`K \ge 2`.
    epsilon
        Smoothing strength in ``[0, 1]``; 0 gives one-hot targets, 1 the uniform
        distribution.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape ``(*labels.shape, num_classes)``, each row a distribution. float64 numpy for
        non-tensor input; for a tensor, torch's default float dtype on its device.

    Raises
    ------
    ValueError
        If ``num_classes`` is not an integer >= 2, ``epsilon`` is not in [0, 1], or a
        label is not an integer in ``[0, num_classes)``.

    Examples
    --------
    >>> from lessons_src import entropy, smooth_labels
    >>> print(smooth_labels(2, 4, 0.2))
    [0.05 0.05 0.85 0.05]
    >>> print(f"{entropy(smooth_labels(0, 10, 0.1)):.4f} nats")  # the loss floor
    0.5003 nats
    """
    fname = "smooth_labels"
    k = ck.int_arg(fname, "num_classes", num_classes, 2)
    eps = ck.float_arg(fname, "epsilon", epsilon, 0.0, 1.0)
    if ck.is_tensor(labels):
        import torch

        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"{fname}: labels must be an integer tensor; got {labels.dtype}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
            bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
            raise ValueError(f"{fname}: labels must be in [0, {k}); got {bad}")
        onehot = torch.nn.functional.one_hot(labels.long(), k).to(torch.get_default_dtype())
        return onehot * (1.0 - eps) + eps / k
    arr = np.asarray(labels)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{fname}: labels must be integers; got {labels!r}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise ValueError(f"{fname}: labels must be integers; got {labels!r}")
        arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
        raise ValueError(f"{fname}: labels must be in [0, {k}); got {bad}")
    onehot = (arr[..., None] == np.arange(k)).astype(np.float64)
    return onehot * (1.0 - eps) + eps / k


def soft_targets(logits: ArrayLike, temperature: float = 1.0) -> Any:
    r"""Softmax at temperature :math:`T`: the "soft targets" of knowledge distillation.

    .. math::

        p_k^{(T)} = \frac{\exp(z_k / T)}{\sum_j \exp(z_j / T)}.

    :math:`T = 1` is the ordinary softmax; :math:`T > 1` flattens the distribution,
    which brings out the small probabilities a confident teacher gives to the wrong
    classes (which 3s look like 8s); :math:`T \to \infty` gives the uniform distribution.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    logits
        Finite logits, classes along the last axis (leading axes are a batch).
    temperature
        :math:`T > 0`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Probabilities with the shape of ``logits``; a tensor (same dtype, autograd works)
        for tensor input.

    Raises
    ------
    ValueError
        If ``logits`` is empty, has no axis or a non-finite entry, or ``temperature`` is
        not finite and > 0.

    Examples
    --------
    >>> from lessons_src import soft_targets
    >>> print(soft_targets([3.0, 1.0, 0.0]).round(4))
    [0.8438 0.1142 0.042 ]
    >>> print(soft_targets([3.0, 1.0, 0.0], temperature=4.0).round(4))
    [0.481  0.2918 0.2272]
    """
    fname = "soft_targets"
    t = ck.float_arg(fname, "temperature", temperature, 0.0, lo_open=True, finite_last=True)
    conv = ck.convert(fname, ("logits",), (logits,))
    (z,) = conv.arrays
    ck.check_nonempty(fname, "logits", z, 1, " (the classes)")
    ck.check_finite(fname, "logits", z)
    if conv.torch:
        import torch

        return torch.softmax(z / t, dim=-1)
    return _np_softmax(z / t, axis=-1)


def _check_logits(fname: str, name: str, z: Any) -> None:
    import torch

    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise ValueError(f"{fname}: {name} must be a floating-point torch tensor; got "
                         f"{type(z).__name__}")
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise ValueError(f"{fname}: {name} must have shape (batch, classes) with at least "
                         f"one row and two classes; got {tuple(z.shape)}")
    ck.check_finite(fname, name, z)


def distillation_loss(student_logits: Any, teacher_logits: Any, labels: Any | None, *,
                      temperature: float, alpha: float) -> Any:
    r"""Knowledge-distillation loss of Hinton et al. (2015), averaged over the batch.

    .. math::

        \mathcal L = \alpha\, T^2\, \frac1B \sum_{b=1}^B
            D_{\mathrm{KL}}\big(p^{(T)}_b \,\|\, q^{(T)}_b\big)
          + (1 - \alpha)\, \frac1B \sum_{b=1}^B \big(-\log q^{(1)}_{b, y_b}\big),

    with :math:`p^{(T)} = \operatorname{softmax}(\text{teacher}/T)` the teacher's soft
    targets (the **reference**, first argument), :math:`q^{(T)} =
    \operatorname{softmax}(\text{student}/T)` the student (the **model**, second
    argument) and :math:`y_b` the hard labels. The soft term is forward KL: the student
    does maximum likelihood on the teacher's softened distribution.

    **Why** :math:`T^2`: the gradient of the soft term with respect to the student's logits
    is :math:`(q^{(T)} - p^{(T)})/T`, and for large :math:`T` the difference
    :math:`q^{(T)} - p^{(T)}` itself shrinks like :math:`1/T`, so the gradient shrinks like
    :math:`1/T^2`. Multiplying by :math:`T^2` keeps the soft term's gradients on the same
    scale as the hard term's whatever the temperature, so ``alpha`` means the same thing
    at every :math:`T`.

    The KL term is ``F.kl_div(log q, p, reduction="batchmean")``: ``input`` is the
    student's **log**-probabilities, ``target`` the teacher's probabilities, and
    ``"batchmean"`` divides the sum by the batch size, which is the mean KL per example
    for these ``(batch, classes)`` tensors. The teacher's logits are detached: no gradient
    flows into the teacher.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    student_logits
        Float tensor ``(batch, classes)``, usually requiring grad.
    teacher_logits
        Float tensor of the same shape.
    labels
        Integer tensor ``(batch,)`` of class indices; may be ``None`` when ``alpha == 1``.
    temperature
        :math:`T > 0`, the same for teacher and student.
    alpha
        Weight of the soft term, in ``[0, 1]``. ``alpha=0`` gives the ordinary
        cross-entropy ``F.cross_entropy(student_logits, labels)``.

    Returns
    -------
    torch.Tensor
        A scalar, in nats.

    Raises
    ------
    ValueError
        If the logits are not finite float tensors of equal shape ``(batch, classes)``,
        the labels are missing (with ``alpha < 1``), not an integer tensor of shape
        ``(batch,)`` or out of range, or ``temperature`` or ``alpha`` are invalid.

    Examples
    --------
    >>> import torch
    >>> from lessons_src import distillation_loss, kl_divergence, soft_targets
    >>> s, t = torch.tensor([[2.0, 1.0, 1.0]]), torch.tensor([[3.0, 1.0, 0.0]])
    >>> loss = distillation_loss(s, t, None, temperature=2.0, alpha=1.0)
    >>> kl = kl_divergence(soft_targets(t, 2.0), soft_targets(s, 2.0))
    >>> print(f"{loss.item():.4f} = 4 x {kl.item():.4f}")
    0.2966 = 4 x 0.0742
    """
    import torch
    import torch.nn.functional as F

    fname = "distillation_loss"
    t = ck.float_arg(fname, "temperature", temperature, 0.0, lo_open=True, finite_last=True)
    a = ck.float_arg(fname, "alpha", alpha, 0.0, 1.0)
    _check_logits(fname, "student_logits", student_logits)
    _check_logits(fname, "teacher_logits", teacher_logits)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"{fname}: student_logits and teacher_logits must have the same "
                         f"shape; got {tuple(student_logits.shape)} and "
                         f"{tuple(teacher_logits.shape)}")
    batch, classes = student_logits.shape
    if labels is None:
        if a < 1.0:
            raise ValueError(f"{fname}: labels are required when alpha < 1 (got alpha={a})")
    else:
        if (not isinstance(labels, torch.Tensor) or labels.is_floating_point()
                or labels.is_complex() or labels.dtype == torch.bool):
            raise ValueError(f"{fname}: labels must be an integer torch tensor; got "
                             f"{getattr(labels, 'dtype', type(labels).__name__)}")
        if tuple(labels.shape) != (batch,):
            raise ValueError(f"{fname}: labels must have shape ({batch},); got "
                             f"{tuple(labels.shape)}")
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= classes:
            raise ValueError(f"{fname}: labels must be in [0, {classes}); got "
                             f"{lo if lo < 0 else hi}")
    teacher = teacher_logits.detach().to(student_logits.dtype)
    loss = student_logits.new_zeros(())
    if a > 0.0:
        log_q = F.log_softmax(student_logits / t, dim=-1)
        p = F.softmax(teacher / t, dim=-1)
        loss = loss + a * t * t * F.kl_div(log_q, p, reduction="batchmean")
    if a < 1.0:
        loss = loss + (1.0 - a) * F.cross_entropy(student_logits, labels)
    return loss


# --------------------------------------------------------------------------------------
# models, training and evaluation
# --------------------------------------------------------------------------------------
def make_mlp(in_features: int, hidden: int | list[int] | tuple[int, ...], out_features: int,
             *, seed: int) -> Any:
    """A multilayer perceptron ``Linear → ReLU → … → Linear`` with seeded initial weights.

    The weights get PyTorch's default initialisation, drawn inside
    ``torch.random.fork_rng`` seeded with ``seed``: the same seed gives the same network,
    and the global random state is left untouched.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    in_features, out_features
        Input size (64 for the 8×8 digits) and number of outputs (logits; 10 classes).
    hidden
        Width of the hidden layer, or a sequence of widths for several hidden layers
        (a list or tuple; an empty one gives a linear model: multinomial logistic
        regression).
    seed
        Non-negative integer.

    Returns
    -------
    torch.nn.Sequential
        The network, in float32 and in training mode.

    Raises
    ------
    ValueError
        If a size is not a positive integer or ``seed`` is not a non-negative integer.

    Examples
    --------
    >>> from lessons_src import make_mlp
    >>> net = make_mlp(64, 16, 10, seed=0)
    >>> net
    Sequential(
      (0): Linear(in_features=64, out_features=16, bias=True)
      (1): ReLU()
      (2): Linear(in_features=16, out_features=10, bias=True)
    )
    >>> sum(p.numel() for p in net.parameters())  # 64*16 + 16 + 16*10 + 10
    1210
    """
    import torch
    from torch import nn

    fname = "make_mlp"
    n_in = ck.int_arg(fname, "in_features", in_features, 1)
    n_out = ck.int_arg(fname, "out_features", out_features, 1)
    widths = [hidden] if isinstance(hidden, int | np.integer) else list(hidden)
    widths = [ck.int_arg(fname, "hidden", w, 1) for w in widths]
    s = ck.int_arg(fname, "seed", seed, 0)
    sizes = [n_in, *widths, n_out]
    layers: list[Any] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s)
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _check_xy(fname: str, xname: str, yname: str, x: Any, y: Any) -> None:
    import torch

    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 2:
        raise ValueError(f"{fname}: {xname} must be a 2-D floating-point torch tensor "
                         f"(examples, features); got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if x.shape[0] == 0:
        raise ValueError(f"{fname}: {xname} is empty")
    if (not isinstance(y, torch.Tensor) or y.is_floating_point() or y.is_complex()
            or y.dtype == torch.bool or y.ndim != 1):
        raise ValueError(f"{fname}: {yname} must be a 1-D integer torch tensor of class "
                         "indices")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{fname}: {xname} has {x.shape[0]} examples but {yname} has "
                         f"{y.shape[0]} labels")


def predict(model: Any, x: Any) -> Any:
    """The model's logits for ``x``: evaluation mode, no gradient, one thread.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    model
        A ``torch.nn.Module`` mapping ``(examples, features)`` to ``(examples, classes)``.
    x
        A 2-D floating-point tensor.

    Returns
    -------
    torch.Tensor
        The logits, detached. The model is returned to the mode it was in.

    Raises
    ------
    ValueError
        If ``x`` is not a 2-D floating-point tensor.
    """
    import torch

    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 2:
        raise ValueError("predict: x must be a 2-D floating-point torch tensor")
    was_training = model.training
    model.eval()
    try:
        with single_thread(), torch.no_grad():
            return model(x)
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class ClassifierMetrics:
    """Test-set summary of a classifier (see :func:`classifier_metrics`)."""

    accuracy: float
    """Share of examples whose arg-max class is the label."""
    nll: float
    """Mean negative log-likelihood of the labels, in nats (the cross-entropy loss)."""
    confidence: float
    """Mean of the largest predicted probability."""
    ece: float
    """Expected calibration error (equal-width confidence bins)."""


def classifier_metrics(logits: Any, labels: Any, *, n_bins: int = 10) -> ClassifierMetrics:
    r"""Accuracy, NLL, mean confidence and expected calibration error of predictions.

    With :math:`q_i = \operatorname{softmax}(z_i)`, confidence :math:`c_i = \max_k q_{ik}`
    and prediction :math:`\hat y_i = \arg\max_k q_{ik}`:

    .. math::

        \mathrm{NLL} = -\frac1n \sum_i \log q_{i, y_i}, \qquad
        \mathrm{ECE} = \sum_{b=1}^{B} \frac{n_b}{n}
            \Big| \operatorname{acc}_b - \operatorname{conf}_b \Big|,

    where bin :math:`b` holds the examples with :math:`c_i \in ((b-1)/B, b/B]` and
    :math:`\operatorname{acc}_b`, :math:`\operatorname{conf}_b` are their accuracy and
    mean confidence. The NLL is :math:`\frac1n\sum_i D_{\mathrm{KL}}(\text{one-hot}(y_i)
    \,\|\, q_i)`, because one-hot targets have zero entropy. Computed in float64.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    logits
        Tensor ``(examples, classes)`` of finite logits.
    labels
        Integer tensor ``(examples,)``.
    n_bins
        Number of confidence bins for the ECE, >= 1.

    Returns
    -------
    ClassifierMetrics
        Python floats.

    Raises
    ------
    ValueError
        If the shapes or types are wrong, a logit is not finite or a label is out of range.

    Examples
    --------
    >>> import torch
    >>> from lessons_src import classifier_metrics
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> m = classifier_metrics(logits, torch.tensor([0, 1, 1]))
    >>> print(f"accuracy {m.accuracy:.3f}, NLL {m.nll:.3f}, confidence {m.confidence:.3f}")
    accuracy 0.667, NLL 0.584, confidence 0.781
    """
    import torch
    import torch.nn.functional as F

    fname = "classifier_metrics"
    _check_logits(fname, "logits", logits)
    _check_xy(fname, "logits", "labels", logits, labels)
    bins = ck.int_arg(fname, "n_bins", n_bins, 1)
    classes = logits.shape[1]
    if int(labels.min()) < 0 or int(labels.max()) >= classes:
        raise ValueError(f"{fname}: labels must be in [0, {classes})")
    z = logits.detach().double()
    log_q = F.log_softmax(z, dim=-1)
    conf, pred = log_q.exp().max(dim=-1)
    correct = (pred == labels).double()
    nll = float(-log_q.gather(1, labels[:, None].long()).mean())
    idx = torch.clamp(torch.ceil(conf * bins).long() - 1, 0, bins - 1)
    n = conf.shape[0]
    ece = 0.0
    for b in range(bins):
        mask = idx == b
        nb = int(mask.sum())
        if nb:
            ece += nb / n * abs(float(correct[mask].mean()) - float(conf[mask].mean()))
    return ClassifierMetrics(accuracy=float(correct.mean()), nll=nll,
                             confidence=float(conf.mean()), ece=ece)


@dataclass
class ClassifierHistory:
    """Per-epoch record of :func:`train_classifier` (one entry per epoch)."""

    train_loss: list[float] = field(default_factory=list)
    """Mean training loss over the epoch's mini-batches (weighted by batch size), nats."""
    test_accuracy: list[float] = field(default_factory=list)
    """Test accuracy after the epoch (empty without a test set)."""
    test_nll: list[float] = field(default_factory=list)
    """Test cross-entropy with the hard labels after the epoch, nats (empty without a
    test set)."""


def train_classifier(model: Any, x: Any, y: Any, *, epochs: int, batch_size: int, lr: float,
                     seed: int, loss_fn: Any | None = None, x_test: Any | None = None,
                     y_test: Any | None = None, weight_decay: float = 0.0) -> ClassifierHistory:
    r"""Train a classifier with Adam on mini-batches, deterministically; return its history.

    Each epoch visits the training set once in an order drawn from a
    :class:`torch.Generator` seeded with ``seed`` (so the order does not depend on the
    global random state), takes one Adam step per mini-batch of ``batch_size`` examples
    (the last one may be smaller), and, if a test set is given, records the test accuracy
    and the test NLL :math:`-\frac1n\sum_i \log q_\theta(y_i \mid x_i)`. Everything runs
    on one thread (:func:`single_thread`), so the result is bit-identical whatever the
    caller's thread count.

    The default loss is the cross-entropy ``F.cross_entropy(logits, y)``: maximum
    likelihood, i.e. minimising :math:`D_{\mathrm{KL}}(P_{\text{labels}} \,\|\, Q_\theta)`
    averaged over the examples.

    Taught in Chapter 8, *Maximum likelihood* (book/08_mle.ipynb).

    Parameters
    ----------
    model
        A ``torch.nn.Module`` mapping ``(batch, features)`` to logits ``(batch, classes)``;
        trained in place.
    x, y
        Training inputs (2-D float tensor) and integer labels (1-D tensor).
    epochs, batch_size
        Positive integers. ``batch_size >= len(x)`` gives full-batch training.
    lr
        Adam's learning rate, > 0.
    seed
        Non-negative integer seeding the shuffling.
    loss_fn
        ``loss_fn(logits, y_batch, x_batch) -> scalar tensor``; ``x_batch`` lets a
        distillation loss query a teacher. Default: cross-entropy with the hard labels.
    x_test, y_test
        Optional test set (both or neither).
    weight_decay
        Adam's L2 penalty, >= 0.

    Returns
    -------
    ClassifierHistory
        Lists of Python floats, one entry per epoch.

    Raises
    ------
    ValueError
        If an argument has the wrong type, shape or range, or the loss is not finite.

    Examples
    --------
    >>> from lessons_src import load_digits, make_mlp, train_classifier
    >>> d = load_digits()
    >>> net = make_mlp(64, 16, 10, seed=0)
    >>> hist = train_classifier(net, d.x_train, d.y_train, epochs=3, batch_size=128,
    ...                         lr=1e-2, seed=0, x_test=d.x_test, y_test=d.y_test)
    >>> hist.train_loss[-1] < hist.train_loss[0], len(hist.test_accuracy)
    (True, 3)
    """
    import torch
    import torch.nn.functional as F

    fname = "train_classifier"
    _check_xy(fname, "x", "y", x, y)
    n_epochs = ck.int_arg(fname, "epochs", epochs, 1)
    bs = ck.int_arg(fname, "batch_size", batch_size, 1)
    rate = ck.float_arg(fname, "lr", lr, 0.0, lo_open=True, finite_last=True)
    s = ck.int_arg(fname, "seed", seed, 0)
    wd = ck.float_arg(fname, "weight_decay", weight_decay, 0.0, finite_last=True)
    if (x_test is None) != (y_test is None):
        raise ValueError(f"{fname}: give both x_test and y_test, or neither")
    if x_test is not None:
        _check_xy(fname, "x_test", "y_test", x_test, y_test)
    if loss_fn is None:
        def loss_fn(logits: Any, yb: Any, xb: Any) -> Any:
            return F.cross_entropy(logits, yb)

    history = ClassifierHistory()
    n = x.shape[0]
    gen = torch.Generator().manual_seed(s)
    with single_thread():
        opt = Adam(model.parameters(), lr=rate, weight_decay=wd)
        model.train()
        for _ in range(n_epochs):
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                xb, yb = x[idx], y[idx]
                loss = loss_fn(model(xb), yb, xb)
                if not bool(torch.isfinite(loss)):
                    raise ValueError(f"{fname}: the loss is not finite ({float(loss.detach())})")
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.shape[0]
            history.train_loss.append(total / n)
            if x_test is not None:
                m = classifier_metrics(predict(model, x_test), y_test)
                history.test_accuracy.append(m.accuracy)
                history.test_nll.append(m.nll)
        model.train()
    return history
