"""KL control in policy optimisation: PPO's penalty and clipped surrogate, and RLHF's optimum.

Two settings, both small enough to train on a CPU in well under a second:

- **PPO on a contextual bandit.** :func:`make_bandit` builds a
  :class:`ContextualBandit` (a handful of contexts :math:`s`, a handful of actions
  :math:`a`, Gaussian rewards with fixed means). :func:`train_ppo` trains a tabular
  softmax policy :math:`\\pi_\\theta(a \\mid s) = \\operatorname{softmax}(\\theta_s)_a` with
  the KL-penalised surrogate and the adaptive-:math:`\\beta` rule of the PPO paper
  (Schulman et al. 2017, §4), with the clipped surrogate, or with neither, and records
  :math:`D_{\\mathrm{KL}}(\\pi_{\\text{old}} \\,\\|\\, \\pi_\\theta)` after every update.
  :func:`policy_ratio`, :func:`clipped_surrogate` and :func:`adapt_beta` are its parts.
- **RLHF on a toy vocabulary.** For a categorical policy :math:`\\pi` over :math:`V`
  tokens, a reference :math:`\\pi_{\\text{ref}}` and a reward :math:`r`,
  :func:`kl_regularised_objective` is
  :math:`J(\\pi) = \\mathbb E_\\pi[r] - \\beta D_{\\mathrm{KL}}(\\pi \\,\\|\\,
  \\pi_{\\text{ref}})`, :func:`kl_regularised_optimum` its maximiser
  :math:`\\pi^* \\propto \\pi_{\\text{ref}}\\, e^{r/\\beta}`, and
  :func:`train_kl_regularised` climbs :math:`J` by exact gradients or by REINFORCE on
  sampled tokens with the per-sample penalty in the reward.

Directions: PPO penalises :math:`D_{\\mathrm{KL}}(\\pi_{\\text{old}} \\,\\|\\, \\pi_\\theta)`
(an expectation under the policy that collected the data); RLHF penalises
:math:`D_{\\mathrm{KL}}(\\pi_\\theta \\,\\|\\, \\pi_{\\text{ref}})` (an expectation under the
policy being trained). Results are in nats.

Reproducibility: the training loops draw every random number from their own seeded
:class:`numpy.random.Generator` and run their torch code in float64 on one thread
(``lessons_src.single_thread``), so a seed gives bit-identical histories whatever the
caller's thread count or global random state.

Bad arguments raise :class:`ValueError` naming the function and the argument, e.g.
``"adapt_beta: kl_target must be > 0 and finite; got 0"``.

Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import rel_entr

from . import _checks as ck
from ._torch import Adam, single_thread
from .information import kl_divergence

__all__ = [
    "ContextualBandit",
    "PPOHistory",
    "RLHFHistory",
    "adapt_beta",
    "clipped_surrogate",
    "kl_regularised_objective",
    "kl_regularised_optimum",
    "make_bandit",
    "policy_ratio",
    "train_kl_regularised",
    "train_ppo",
]

_METHODS = ("kl_penalty", "clip", "none")


# --------------------------------------------------------------------------------------
# small validators
# --------------------------------------------------------------------------------------
def _pos(fname: str, name: str, value: Any, *, upper: float | None = None) -> float:
    """A finite number > 0 (and < ``upper`` if given)."""
    if upper is None:
        return ck.float_arg(fname, name, value, 0.0, lo_open=True, finite_last=True)
    return ck.float_arg(fname, name, value, 0.0, upper, lo_open=True, hi_open=True)


def _vector(fname: str, name: str, value: Any) -> np.ndarray:
    """A non-empty, finite, 1-D float64 array."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: {name} must be a 1-D array of numbers") from None
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{fname}: {name} must be a non-empty 1-D array; got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{fname}: {name} has a non-finite entry")
    return a


def _distribution(fname: str, name: str, value: Any, *, positive: bool = False) -> np.ndarray:
    """A 1-D probability vector (float64); ``positive`` also forbids zeros."""
    a = _vector(fname, name, value)
    ck.check_prob(fname, name, a, ck.SUM_TOL_FLOAT64)
    if positive and not a.min() > 0:
        raise ValueError(f"{fname}: {name} must be > 0 everywhere (its log is the policy's "
                         f"starting logits); got a zero at index {int(np.argmin(a))}")
    return a


def _rng(fname: str, seed: Any) -> np.random.Generator:
    return np.random.default_rng(ck.int_arg(fname, "seed", seed, 0))


def _kl_fast(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) of two validated float64 vectors, clipped at 0 (rounding can give -1e-17)."""
    return max(float(rel_entr(p, q).sum()), 0.0)


# --------------------------------------------------------------------------------------
# the environment
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ContextualBandit:
    r"""A contextual bandit: one-step episodes with Gaussian rewards.

    Each episode draws a context :math:`s` uniformly from ``n_contexts``, the policy picks
    an action :math:`a`, and the reward is
    :math:`R = \mu_{s a} + \sigma \varepsilon` with :math:`\varepsilon \sim \mathcal N(0, 1)`.
    The expected reward of a policy :math:`\pi` is
    :math:`\frac1S \sum_s \sum_a \pi(a \mid s)\, \mu_{s a}`.

    Build one with :func:`make_bandit`, or directly from a ``means`` table.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    means
        Array ``(n_contexts, n_actions)`` of finite reward means :math:`\mu_{s a}`, at
        least two actions.
    noise_std
        The reward noise :math:`\sigma`, >= 0.

    Raises
    ------
    ValueError
        If ``means`` is not a finite 2-D array with at least two actions, or ``noise_std``
        is negative or not finite.
    """

    means: np.ndarray
    """Reward means :math:`\\mu_{s a}`, shape ``(n_contexts, n_actions)``."""
    noise_std: float = 1.0
    """Standard deviation :math:`\\sigma` of the Gaussian reward noise."""

    def __post_init__(self) -> None:
        fname = "ContextualBandit"
        try:
            m = np.array(self.means, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{fname}: means must be a 2-D array of numbers") from None
        if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 2:
            raise ValueError(f"{fname}: means must have shape (n_contexts >= 1, "
                             f"n_actions >= 2); got {m.shape}")
        if not np.isfinite(m).all():
            raise ValueError(f"{fname}: means has a non-finite entry")
        try:
            sd = float(self.noise_std)
        except (TypeError, ValueError):
            raise ValueError(f"{fname}: noise_std must be a number >= 0; "
                             f"got {self.noise_std!r}") from None
        if not (sd >= 0 and math.isfinite(sd)):
            raise ValueError(f"{fname}: noise_std must be >= 0 and finite; "
                             f"got {self.noise_std!r}")
        m.setflags(write=False)
        object.__setattr__(self, "means", m)
        object.__setattr__(self, "noise_std", sd)

    @property
    def n_contexts(self) -> int:
        """Number of contexts :math:`S`."""
        return int(self.means.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions :math:`A`."""
        return int(self.means.shape[1])

    @property
    def optimal_reward(self) -> float:
        r"""Expected reward of the best policy, :math:`\frac1S \sum_s \max_a \mu_{s a}`."""
        return float(self.means.max(axis=1).mean())

    def _probs(self, fname: str, probs: Any) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != self.means.shape:
            raise ValueError(f"{fname}: probs must have shape {self.means.shape} "
                             f"(contexts, actions); got {p.shape}")
        ck.check_prob(fname, "probs", p, ck.SUM_TOL_FLOAT64)
        return p

    def expected_reward(self, probs: ArrayLike) -> float:
        r"""Exact expected reward :math:`\frac1S \sum_s \sum_a \pi(a \mid s)\, \mu_{s a}`.

        Parameters
        ----------
        probs
            The policy, an array ``(n_contexts, n_actions)`` whose rows are distributions.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            If ``probs`` has the wrong shape or a row is not a distribution.
        """
        p = self._probs("ContextualBandit.expected_reward", probs)
        return float((p * self.means).sum(axis=1).mean())

    def sample(self, probs: ArrayLike, n: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Play ``n`` one-step episodes with the policy ``probs``.

        Draws contexts uniformly, then actions :math:`a_t \sim \pi(\cdot \mid s_t)` by
        inverse-CDF sampling, then rewards :math:`R_t = \mu_{s_t a_t} + \sigma
        \varepsilon_t`, all from ``rng``.

        Parameters
        ----------
        probs
            The policy, an array ``(n_contexts, n_actions)`` whose rows are distributions.
        n
            Number of episodes, >= 1.
        rng
            The :class:`numpy.random.Generator` to draw from.

        Returns
        -------
        tuple of numpy.ndarray
            ``(contexts, actions, rewards)``: two integer arrays of shape ``(n,)`` and
            a float array of shape ``(n,)``.

        Raises
        ------
        ValueError
            If ``probs`` is not a policy of the right shape, ``n`` is not a positive
            integer or ``rng`` is not a Generator.
        """
        fname = "ContextualBandit.sample"
        p = self._probs(fname, probs)
        k = ck.int_arg(fname, "n", n, 1)
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"{fname}: rng must be a numpy.random.Generator")
        s = rng.integers(0, self.n_contexts, size=k)
        cdf = np.cumsum(p[s], axis=1)
        u = rng.random(k) * cdf[:, -1]
        a = np.minimum((cdf <= u[:, None]).sum(axis=1), self.n_actions - 1)
        noise = rng.standard_normal(k)
        return s, a, self.means[s, a] + self.noise_std * noise


def make_bandit(n_contexts: int = 4, n_actions: int = 5, *, noise_std: float = 1.0,
                seed: int = 0) -> ContextualBandit:
    r"""A seeded random contextual bandit with means :math:`\mu_{s a} \sim \mathcal N(0, 1)`.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    n_contexts, n_actions
        Table size; ``n_contexts >= 1``, ``n_actions >= 2``.
    noise_std
        Reward noise :math:`\sigma`, >= 0.
    seed
        Non-negative integer; the same seed gives the same means.

    Returns
    -------
    ContextualBandit

    Raises
    ------
    ValueError
        If a size or the seed is out of range, or ``noise_std`` is negative.

    Examples
    --------
    >>> import numpy as np
    >>> from lessons_src import make_bandit
    >>> env = make_bandit(2, 3, seed=0)
    >>> print(env.means.round(2))
    [[ 0.13 -0.13  0.64]
     [ 0.1  -0.54  0.36]]
    >>> uniform = np.full((2, 3), 1 / 3)
    >>> print(f"{env.expected_reward(uniform):.4f} {env.optimal_reward:.4f}")
    0.0941 0.5010
    """
    fname = "make_bandit"
    s = ck.int_arg(fname, "n_contexts", n_contexts, 1)
    a = ck.int_arg(fname, "n_actions", n_actions, 2)
    rng = _rng(fname, seed)
    return ContextualBandit(rng.standard_normal((s, a)), noise_std)


# --------------------------------------------------------------------------------------
# the pieces of the PPO objective
# --------------------------------------------------------------------------------------
def policy_ratio(logp_new: Any, logp_old: Any, actions: Any) -> Any:
    r"""The probability ratio at the **sampled** actions, as in PPO's surrogate.

    .. math::

        r_t(\theta) = \frac{\pi_\theta(a_t \mid s_t)}{\pi_{\text{old}}(a_t \mid s_t)}
        = \exp\big(\log \pi_\theta(a_t \mid s_t) - \log \pi_{\text{old}}(a_t \mid s_t)\big).

    One number per sample, read off at the action :math:`a_t` that was taken. (An average
    of :math:`\pi_\theta(a \mid s_t) / \pi_{\text{old}}(a \mid s_t)` over all actions is
    not the surrogate's ratio: weighted by :math:`\pi_{\text{old}}` it is always 1.)

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    logp_new, logp_old
        Log-probabilities of every action, shape ``(batch, n_actions)``: rows
        :math:`\log \pi_\theta(\cdot \mid s_t)` and :math:`\log \pi_{\text{old}}(\cdot
        \mid s_t)`. numpy arrays or torch tensors (gradients flow through ``logp_new``).
    actions
        Integer array or tensor ``(batch,)`` with entries in ``[0, n_actions)``.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The ratios :math:`r_t`, shape ``(batch,)``.

    Raises
    ------
    ValueError
        If the shapes disagree or an action is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from lessons_src import policy_ratio
    >>> old = np.log([[0.5, 0.3, 0.2]])
    >>> new = np.log([[0.4, 0.3, 0.3]])
    >>> print(policy_ratio(new, old, [2]).round(4))  # 0.3 / 0.2 at the sampled action 2
    [1.5]
    """
    fname = "policy_ratio"
    torch_in = ck.is_tensor(logp_new) or ck.is_tensor(logp_old)
    if torch_in:
        import torch

        new = logp_new if ck.is_tensor(logp_new) else torch.as_tensor(np.asarray(logp_new))
        old = logp_old if ck.is_tensor(logp_old) else torch.as_tensor(np.asarray(logp_old))
        acts = torch.as_tensor(actions)
        if acts.is_floating_point() or acts.is_complex() or acts.dtype == torch.bool:
            raise ValueError(f"{fname}: actions must be integers; got dtype {acts.dtype}")
    else:
        new = np.asarray(logp_new, dtype=np.float64)
        old = np.asarray(logp_old, dtype=np.float64)
        acts = np.asarray(actions)
        if acts.size and not np.issubdtype(acts.dtype, np.integer):
            raise ValueError(f"{fname}: actions must be integers; got dtype {acts.dtype}")
    if new.ndim != 2 or tuple(new.shape) != tuple(old.shape):
        raise ValueError(f"{fname}: logp_new and logp_old must have the same shape "
                         f"(batch, n_actions); got {tuple(new.shape)} and {tuple(old.shape)}")
    if acts.ndim != 1 or acts.shape[0] != new.shape[0]:
        raise ValueError(f"{fname}: actions must have shape ({new.shape[0]},); "
                         f"got {tuple(acts.shape)}")
    if acts.shape[0] and not (0 <= int(acts.min()) and int(acts.max()) < new.shape[1]):
        raise ValueError(f"{fname}: actions must be in [0, {new.shape[1]})")
    if torch_in:
        import torch

        idx = acts[:, None].long()
        old = old if old.dtype == new.dtype else old.to(new.dtype)
        return torch.exp(new.gather(1, idx) - old.gather(1, idx)).squeeze(1)
    rows = np.arange(new.shape[0])
    return np.exp(new[rows, acts] - old[rows, acts])


def clipped_surrogate(ratio: Any, advantages: Any, clip_eps: float = 0.2) -> Any:
    r"""PPO's clipped surrogate, one value per sample.

    .. math::

        L^{\text{CLIP}}_t = \min\big(r_t \hat A_t,\;
        \operatorname{clip}(r_t, 1 - \epsilon, 1 + \epsilon)\, \hat A_t\big).

    The minimum makes it a pessimistic bound on the unclipped term :math:`r_t \hat A_t`:
    once :math:`r_t` has left :math:`[1 - \epsilon, 1 + \epsilon]` on the side that
    *improves* the objective, the sample's gradient is zero. Nothing stops :math:`r_t`
    from leaving the interval, so this does **not** bound
    :math:`D_{\mathrm{KL}}(\pi_{\text{old}} \,\|\, \pi_\theta)`.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    ratio
        :math:`r_t` from :func:`policy_ratio`, numpy array or torch tensor.
    advantages
        :math:`\hat A_t`, same shape.
    clip_eps
        :math:`\epsilon`, in (0, 1).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Per-sample surrogate values (average them and maximise).

    Raises
    ------
    ValueError
        If the shapes differ or ``clip_eps`` is not in (0, 1).

    Examples
    --------
    >>> from lessons_src import clipped_surrogate
    >>> print(clipped_surrogate([0.5, 1.5, 0.5, 1.5], [1.0, 1.0, -1.0, -1.0]))
    [ 0.5  1.2 -0.8 -1.5]
    """
    fname = "clipped_surrogate"
    eps = _pos(fname, "clip_eps", clip_eps, upper=1.0)
    if ck.is_tensor(ratio) or ck.is_tensor(advantages):
        import torch

        r = torch.as_tensor(ratio)
        adv = torch.as_tensor(advantages, dtype=r.dtype)
        if r.shape != adv.shape:
            raise ValueError(f"{fname}: ratio and advantages must have the same shape; "
                             f"got {tuple(r.shape)} and {tuple(adv.shape)}")
        return torch.minimum(r * adv, r.clamp(1 - eps, 1 + eps) * adv)
    r = np.asarray(ratio, dtype=np.float64)
    adv = np.asarray(advantages, dtype=np.float64)
    if r.shape != adv.shape:
        raise ValueError(f"{fname}: ratio and advantages must have the same shape; "
                         f"got {r.shape} and {adv.shape}")
    return np.minimum(r * adv, np.clip(r, 1 - eps, 1 + eps) * adv)


def adapt_beta(beta: float, kl: float, kl_target: float) -> float:
    r"""The adaptive KL-penalty coefficient of the PPO paper (Schulman et al. 2017, §4).

    After an update, with :math:`d = \hat{\mathbb E}_t\big[D_{\mathrm{KL}}(
    \pi_{\text{old}}(\cdot \mid s_t) \,\|\, \pi_\theta(\cdot \mid s_t))\big]`:

    .. math::

        \beta \leftarrow \begin{cases}
            \beta / 2 & \text{if } d < d_{\text{targ}} / 1.5, \\
            2 \beta   & \text{if } d > 1.5\, d_{\text{targ}}, \\
            \beta     & \text{otherwise.}
        \end{cases}

    The new :math:`\beta` is used for the **next** update.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    beta
        The current coefficient, > 0.
    kl
        The measured :math:`d`, >= 0.
    kl_target
        :math:`d_{\text{targ}}`, > 0.

    Returns
    -------
    float
        The coefficient for the next update.

    Raises
    ------
    ValueError
        If ``beta`` or ``kl_target`` is not > 0, or ``kl`` is negative or not finite.

    Examples
    --------
    >>> from lessons_src import adapt_beta
    >>> adapt_beta(1.0, 0.001, 0.01), adapt_beta(1.0, 0.01, 0.01), adapt_beta(1.0, 0.02, 0.01)
    (0.5, 1.0, 2.0)
    """
    fname = "adapt_beta"
    b = _pos(fname, "beta", beta)
    t = _pos(fname, "kl_target", kl_target)
    try:
        d = float(kl)
    except (TypeError, ValueError):
        raise ValueError(f"{fname}: kl must be a number >= 0; got {kl!r}") from None
    if not (d >= 0 and math.isfinite(d)):
        raise ValueError(f"{fname}: kl must be >= 0 and finite; got {kl!r}")
    if d < t / 1.5:
        return b / 2
    if d > 1.5 * t:
        return b * 2
    return b


# --------------------------------------------------------------------------------------
# PPO
# --------------------------------------------------------------------------------------
@dataclass
class PPOHistory:
    """Per-update record of :func:`train_ppo` (entry ``k`` describes update ``k + 1``)."""

    reward: list[float] = field(default_factory=list)
    """Exact expected reward of the policy after the update."""
    batch_reward: list[float] = field(default_factory=list)
    """Mean reward of the batch the update was computed from (collected by
    :math:`\\pi_{\\text{old}}`)."""
    kl: list[float] = field(default_factory=list)
    """:math:`d = \\hat{\\mathbb E}_t[D_{\\mathrm{KL}}(\\pi_{\\text{old}}(\\cdot \\mid s_t)
    \\,\\|\\, \\pi_\\theta(\\cdot \\mid s_t))]` after the update: exact categorical KL per
    sampled context, averaged over the batch, in nats."""
    beta: list[float] = field(default_factory=list)
    """The penalty coefficient :math:`\\beta` used *during* the update (method
    ``"kl_penalty"`` only; empty otherwise)."""
    clip_fraction: list[float] = field(default_factory=list)
    """Share of the batch whose ratio :math:`r_t` ended the update outside
    :math:`[1 - \\epsilon, 1 + \\epsilon]`."""
    probs: np.ndarray | None = None
    """The final policy, ``(n_contexts, n_actions)``."""


def train_ppo(env: ContextualBandit, *, method: str = "kl_penalty", n_updates: int = 40,
              batch_size: int = 64, epochs: int = 10, lr: float = 0.05, beta: float = 1.0,
              kl_target: float | None = 0.01, clip_eps: float = 0.2, seed: int = 0
              ) -> PPOHistory:
    r"""Train a tabular softmax policy on a contextual bandit with PPO.

    The policy is :math:`\pi_\theta(a \mid s) = \operatorname{softmax}(\theta_s)_a`,
    starting uniform (:math:`\theta = 0`). Each update

    1. freezes :math:`\pi_{\text{old}} = \pi_\theta` and plays ``batch_size`` episodes
       with it: contexts :math:`s_t`, actions :math:`a_t`, rewards :math:`R_t`;
    2. forms advantages :math:`\hat A_t = R_t - b(s_t)`, with :math:`b(s)` the batch's
       mean reward in context :math:`s` (a one-step episode needs no discounting);
    3. takes ``epochs`` full-batch Adam steps (one optimiser for the whole run) on the
       negative of the surrogate chosen by ``method``, with
       :math:`r_t = \pi_\theta(a_t \mid s_t)/\pi_{\text{old}}(a_t \mid s_t)`
       (:func:`policy_ratio`):

       - ``"kl_penalty"``: :math:`L^{\text{KLPEN}} = \hat{\mathbb E}_t\big[r_t \hat A_t -
         \beta\, D_{\mathrm{KL}}(\pi_{\text{old}}(\cdot \mid s_t) \,\|\,
         \pi_\theta(\cdot \mid s_t))\big]`, the KL computed exactly over the actions;
       - ``"clip"``: :math:`L^{\text{CLIP}} = \hat{\mathbb E}_t[\min(r_t \hat A_t,
         \operatorname{clip}(r_t, 1 - \epsilon, 1 + \epsilon) \hat A_t)]`
         (:func:`clipped_surrogate`);
       - ``"none"``: the plain surrogate :math:`\hat{\mathbb E}_t[r_t \hat A_t]`;
    4. measures :math:`d = \hat{\mathbb E}_t[D_{\mathrm{KL}}(\pi_{\text{old}}(\cdot
       \mid s_t) \,\|\, \pi_\theta(\cdot \mid s_t))]` and, for ``"kl_penalty"`` with a
       ``kl_target``, sets the :math:`\beta` of the **next** update with
       :func:`adapt_beta`.

    Episodes are drawn from ``numpy.random.default_rng(seed)``; the torch code runs in
    float64 on one thread, so a seed gives bit-identical histories.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    env
        The :class:`ContextualBandit`.
    method
        ``"kl_penalty"``, ``"clip"`` or ``"none"``.
    n_updates, batch_size, epochs
        Positive integers: policy updates, episodes per update, Adam steps per update.
    lr
        Adam's learning rate, > 0.
    beta
        Initial (or, with ``kl_target=None``, fixed) penalty coefficient, > 0. Used only
        by ``"kl_penalty"``.
    kl_target
        :math:`d_{\text{targ}}` of the adaptive rule, > 0, or ``None`` for a fixed
        :math:`\beta`. Used only by ``"kl_penalty"``.
    clip_eps
        :math:`\epsilon` in (0, 1); defines the clipped surrogate and the clip fraction.
    seed
        Non-negative integer.

    Returns
    -------
    PPOHistory
        Lists of Python floats, one entry per update, and the final policy.

    Raises
    ------
    ValueError
        If an argument has the wrong type or range.

    Examples
    --------
    >>> from lessons_src import make_bandit, train_ppo
    >>> env = make_bandit(seed=0)
    >>> hist = train_ppo(env, n_updates=20, seed=0)
    >>> len(hist.kl), hist.reward[-1] > hist.reward[0], hist.beta[:4]
    (20, True, [1.0, 2.0, 4.0, 8.0])
    """
    import torch

    fname = "train_ppo"
    if not isinstance(env, ContextualBandit):
        raise ValueError(f"{fname}: env must be a ContextualBandit; got {type(env).__name__}")
    if method not in _METHODS:
        raise ValueError(f"{fname}: method must be one of {', '.join(map(repr, _METHODS))}; "
                         f"got {method!r}")
    n_up = ck.int_arg(fname, "n_updates", n_updates, 1)
    n = ck.int_arg(fname, "batch_size", batch_size, 1)
    k_epochs = ck.int_arg(fname, "epochs", epochs, 1)
    rate = _pos(fname, "lr", lr)
    b = _pos(fname, "beta", beta)
    target = None if kl_target is None else _pos(fname, "kl_target", kl_target)
    eps = _pos(fname, "clip_eps", clip_eps, upper=1.0)
    rng = _rng(fname, seed)

    hist = PPOHistory()
    n_s, n_a = env.n_contexts, env.n_actions
    with single_thread():
        theta = torch.zeros(n_s, n_a, dtype=torch.float64, requires_grad=True)
        opt = Adam([theta], lr=rate)
        for _ in range(n_up):
            with torch.no_grad():
                logp_old_all = torch.log_softmax(theta, dim=1)
            probs_old = logp_old_all.exp().numpy()
            s, a, rewards = env.sample(probs_old, n, rng)
            # advantage: reward minus the batch's mean reward in the same context
            sums = np.bincount(s, weights=rewards, minlength=n_s)
            counts = np.bincount(s, minlength=n_s)
            baseline = sums[s] / counts[s]
            adv = torch.as_tensor(rewards - baseline)
            s_t, a_t = torch.as_tensor(s), torch.as_tensor(a)
            logp_old = logp_old_all[s_t]          # (batch, actions)
            p_old = logp_old.exp()
            for _ in range(k_epochs):
                logp_new = torch.log_softmax(theta, dim=1)[s_t]
                ratio = policy_ratio(logp_new, logp_old, a_t)
                if method == "clip":
                    objective = clipped_surrogate(ratio, adv, eps).mean()
                elif method == "kl_penalty":
                    # exact KL(pi_old(.|s_t) || pi_theta(.|s_t)): a sum over the actions
                    kl_rows = (p_old * (logp_old - logp_new)).sum(dim=1)
                    objective = (ratio * adv).mean() - b * kl_rows.mean()
                else:
                    objective = (ratio * adv).mean()
                theta.grad = torch.autograd.grad(-objective, theta)[0]
                opt.step()
            with torch.no_grad():
                logp_new = torch.log_softmax(theta, dim=1)
                d = max(float(kl_divergence(p_old, logp_new[s_t].exp()).mean()), 0.0)
                ratio = policy_ratio(logp_new[s_t], logp_old, a_t)
                outside = float(((ratio < 1 - eps) | (ratio > 1 + eps)).double().mean())
                probs_new = logp_new.exp().numpy()
            hist.reward.append(env.expected_reward(probs_new))
            hist.batch_reward.append(float(rewards.mean()))
            hist.kl.append(d)
            hist.clip_fraction.append(outside)
            if method == "kl_penalty":
                hist.beta.append(b)
                if target is not None:
                    b = adapt_beta(b, d, target)
        hist.probs = torch.softmax(theta.detach(), dim=1).numpy()
    return hist


# --------------------------------------------------------------------------------------
# RLHF on a toy vocabulary
# --------------------------------------------------------------------------------------
def _rlhf_args(fname: str, pi_ref: Any, reward: Any, beta: Any, *, positive: bool = False
               ) -> tuple[np.ndarray, np.ndarray, float]:
    ref = _distribution(fname, "pi_ref", pi_ref, positive=positive)
    r = _vector(fname, "reward", reward)
    if r.shape != ref.shape:
        raise ValueError(f"{fname}: reward must have one entry per token of pi_ref "
                         f"({ref.size}); got {r.size}")
    return ref, r, _pos(fname, "beta", beta)


def kl_regularised_optimum(pi_ref: ArrayLike, reward: ArrayLike, beta: float) -> np.ndarray:
    r"""The maximiser of :math:`\mathbb E_\pi[r] - \beta D_{\mathrm{KL}}(\pi \,\|\,
    \pi_{\text{ref}})`: the reference tilted by the reward.

    .. math::

        \pi^*(y) = \frac{\pi_{\text{ref}}(y)\, e^{r(y)/\beta}}{Z}, \qquad
        Z = \sum_{y'} \pi_{\text{ref}}(y')\, e^{r(y')/\beta},

    and every policy :math:`\pi` satisfies :math:`J(\pi) = \beta \log Z - \beta
    D_{\mathrm{KL}}(\pi \,\|\, \pi^*)` (see :func:`kl_regularised_objective`), so
    :math:`\pi^*` is the unique maximiser and :math:`J(\pi^*) = \beta \log Z`. Computed in
    log space (a softmax of :math:`\log \pi_{\text{ref}} + r/\beta`), so small
    :math:`\beta` does not overflow. Tokens with :math:`\pi_{\text{ref}}(y) = 0` keep
    probability 0.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    pi_ref
        Reference distribution over the :math:`V` tokens (1-D, sums to 1).
    reward
        Finite rewards :math:`r(y)`, one per token.
    beta
        The KL coefficient, > 0.

    Returns
    -------
    numpy.ndarray
        :math:`\pi^*`, shape ``(V,)``.

    Raises
    ------
    ValueError
        If ``pi_ref`` is not a distribution, ``reward`` is not finite or has the wrong
        length, or ``beta`` is not > 0.

    Examples
    --------
    >>> from lessons_src import kl_regularised_optimum
    >>> print(kl_regularised_optimum([0.5, 0.3, 0.2], [0.0, 1.0, 2.0], beta=1.0).round(4))
    [0.179  0.2919 0.5291]
    >>> # a large beta stays close to pi_ref
    >>> print(kl_regularised_optimum([0.5, 0.3, 0.2], [0.0, 1.0, 2.0], beta=100.0).round(4))
    [0.4965 0.3009 0.2026]
    """
    ref, r, b = _rlhf_args("kl_regularised_optimum", pi_ref, reward, beta)
    with np.errstate(divide="ignore"):
        logits = np.log(ref) + r / b
    logits -= logits.max()
    w = np.exp(logits)
    return w / w.sum()


def kl_regularised_objective(pi: ArrayLike, pi_ref: ArrayLike, reward: ArrayLike,
                             beta: float) -> float:
    r"""The KL-regularised objective of RLHF for a categorical policy.

    .. math::

        J(\pi) = \sum_y \pi(y)\, r(y) - \beta\, D_{\mathrm{KL}}(\pi \,\|\, \pi_{\text{ref}})
        = \beta \log Z - \beta\, D_{\mathrm{KL}}(\pi \,\|\, \pi^*),

    with :math:`\pi^*` and :math:`Z` from :func:`kl_regularised_optimum`. The
    expectation and the KL are both under :math:`\pi`, the policy being trained:
    :math:`D_{\mathrm{KL}}(\pi \,\|\, \pi_{\text{ref}})` is :math:`+\infty` (and so
    :math:`J = -\infty`) if :math:`\pi` puts mass where :math:`\pi_{\text{ref}}` has none.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    pi, pi_ref
        Distributions over the same :math:`V` tokens.
    reward
        Finite rewards, one per token.
    beta
        The KL coefficient, > 0.

    Returns
    -------
    float
        :math:`J(\pi)` in reward units (nats times :math:`\beta` for the KL part).

    Raises
    ------
    ValueError
        If an argument is not a distribution, the lengths differ, or ``beta`` is not > 0.

    Examples
    --------
    >>> from lessons_src import kl_regularised_objective
    >>> print(f"{kl_regularised_objective([0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0, 1, 2], 1.0):.4f}")
    0.7000
    """
    fname = "kl_regularised_objective"
    ref, r, b = _rlhf_args(fname, pi_ref, reward, beta)
    p = _distribution(fname, "pi", pi)
    if p.shape != ref.shape:
        raise ValueError(f"{fname}: pi and pi_ref must have the same length; "
                         f"got {p.size} and {ref.size}")
    return float(p @ r - b * kl_divergence(p, ref))


@dataclass
class RLHFHistory:
    """Per-step record of :func:`train_kl_regularised` (entry ``k`` is after step ``k+1``)."""

    objective: list[float] = field(default_factory=list)
    """The exact value of the objective,
    :math:`J(\\pi_\\theta) = \\mathbb E_{\\pi_\\theta}[r] - \\beta
    D_{\\mathrm{KL}}(\\pi_\\theta \\,\\|\\, \\pi_{\\text{ref}})`."""
    reward: list[float] = field(default_factory=list)
    """Exact expected reward :math:`\\mathbb E_{\\pi_\\theta}[r]`."""
    kl_to_ref: list[float] = field(default_factory=list)
    """:math:`D_{\\mathrm{KL}}(\\pi_\\theta \\,\\|\\, \\pi_{\\text{ref}})`, nats."""
    kl_to_opt: list[float] = field(default_factory=list)
    """:math:`D_{\\mathrm{KL}}(\\pi_\\theta \\,\\|\\, \\pi^*)`, nats: the gap to the optimum
    is :math:`J(\\pi^*) - J(\\pi_\\theta) = \\beta` times this."""
    probs: np.ndarray | None = None
    """The final policy :math:`\\pi_\\theta`."""


def train_kl_regularised(pi_ref: ArrayLike, reward: ArrayLike, beta: float, *,
                         steps: int = 200, lr: float | None = None,
                         n_samples: int | None = None,
                         seed: int = 0) -> RLHFHistory:
    r"""Maximise :math:`\mathbb E_\pi[r] - \beta D_{\mathrm{KL}}(\pi \,\|\, \pi_{\text{ref}})`
    over a categorical policy by gradient ascent on its logits.

    The policy is :math:`\pi_\theta = \operatorname{softmax}(\theta)`, started at the
    reference (:math:`\theta = \log \pi_{\text{ref}}`), as fine-tuning starts from the
    pretrained model. Each step is one plain gradient-ascent step
    :math:`\theta \leftarrow \theta + \eta\, g` with

    - ``n_samples=None``: the exact gradient :math:`g = \nabla_\theta J(\pi_\theta)`;
    - ``n_samples=n``: a REINFORCE estimate from :math:`n` tokens
      :math:`y_i \sim \pi_\theta`, with the KL penalty folded into each sample's reward
      as in RLHF (Ouyang et al. 2022),

      .. math::

          R_i = r(y_i) - \beta \big(\log \pi_\theta(y_i) - \log \pi_{\text{ref}}(y_i)\big),
          \qquad
          g = \frac1n \sum_i (R_i - \bar R)\, \nabla_\theta \log \pi_\theta(y_i),

      where :math:`\bar R` is the batch mean (a baseline; it scales the expected
      gradient by :math:`1 - 1/n` and does not change its direction).

    Samples come from ``numpy.random.default_rng(seed)``; torch runs in float64 on one
    thread, so a seed gives bit-identical histories.

    Taught in Chapter 6, *PPO and the RLHF KL penalty* (book/06_ppo_rlhf.ipynb).

    Parameters
    ----------
    pi_ref
        Reference distribution, strictly positive (its log is the starting point).
    reward
        Finite rewards, one per token.
    beta
        The KL coefficient, > 0.
    steps
        Number of gradient steps, >= 1.
    lr
        Step size :math:`\eta`, > 0; default :math:`1/\beta`. Near :math:`\pi^*` the
        Hessian of :math:`J` in the logits is :math:`-\beta` times the Fisher matrix
        :math:`\operatorname{diag}(\pi) - \pi\pi^\top` of the softmax, whose
        eigenvalues are below 1, so exact gradient ascent is stable for
        :math:`\eta < 2/\beta`.
    n_samples
        ``None`` for exact gradients, or the number of sampled tokens per step (>= 2).
    seed
        Non-negative integer (used only with ``n_samples``).

    Returns
    -------
    RLHFHistory
        Exact objective, reward and KLs after every step, and the final policy.

    Raises
    ------
    ValueError
        If an argument has the wrong type or range, or ``pi_ref`` has a zero.

    Examples
    --------
    >>> from lessons_src import train_kl_regularised
    >>> hist = train_kl_regularised([0.5, 0.3, 0.2], [0.0, 1.0, 2.0], beta=1.0, steps=300)
    >>> print(hist.probs.round(4), hist.kl_to_opt[-1] < 1e-12)
    [0.179  0.2919 0.5291] True
    """
    import torch

    fname = "train_kl_regularised"
    ref, r, b = _rlhf_args(fname, pi_ref, reward, beta, positive=True)
    n_steps = ck.int_arg(fname, "steps", steps, 1)
    rate = 1.0 / b if lr is None else _pos(fname, "lr", lr)
    n = None if n_samples is None else ck.int_arg(fname, "n_samples", n_samples, 2)
    rng = _rng(fname, seed)
    opt_np = kl_regularised_optimum(ref, r, b)

    hist = RLHFHistory()
    with single_thread():
        log_ref = torch.as_tensor(np.log(ref))
        r_t = torch.as_tensor(r)
        theta = log_ref.clone().requires_grad_(True)
        for _ in range(n_steps):
            logp = torch.log_softmax(theta, dim=0)
            if n is None:
                p = logp.exp()
                objective = (p * r_t).sum() - b * kl_divergence(p, log_ref.exp())
            else:
                p_np = logp.detach().exp().numpy()
                cdf = np.cumsum(p_np)
                y = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"),
                               ref.size - 1)
                y_t = torch.as_tensor(y)
                with torch.no_grad():
                    shaped = r_t[y_t] - b * (logp[y_t] - log_ref[y_t])
                    adv = shaped - shaped.mean()
                objective = (adv * logp[y_t]).mean()
            (grad,) = torch.autograd.grad(objective, theta)
            with torch.no_grad():
                theta += rate * grad
                theta -= theta.max()  # softmax is shift-invariant: keep the logits bounded
                p_now = torch.softmax(theta, dim=0).numpy()
            kl_ref = _kl_fast(p_now, ref)
            hist.reward.append(float(p_now @ r))
            hist.kl_to_ref.append(kl_ref)
            hist.objective.append(hist.reward[-1] - b * kl_ref)
            hist.kl_to_opt.append(_kl_fast(p_now, opt_np))
        hist.probs = torch.softmax(theta.detach(), dim=0).numpy()
    return hist
