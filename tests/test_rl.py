"""Tests of lessons_src.rl: the bandit, PPO's surrogate pieces and training, and RLHF's optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as td

from lessons_src import (
    ContextualBandit,
    adapt_beta,
    clipped_surrogate,
    kl_divergence,
    kl_regularised_objective,
    kl_regularised_optimum,
    make_bandit,
    policy_ratio,
    train_kl_regularised,
    train_ppo,
)
from lessons_src._torch import Adam

PI_REF = np.array([0.25, 0.15, 0.15, 0.15, 0.10, 0.10, 0.08, 0.02])
REWARD = np.array([0.5, -0.5, 0.0, 1.0, 0.2, 1.5, 1.0, 3.0])


# -- the environment -------------------------------------------------------------------------
def test_make_bandit_is_seeded_and_shaped() -> None:
    a, b, c = make_bandit(3, 4, seed=1), make_bandit(3, 4, seed=1), make_bandit(3, 4, seed=2)
    assert a.means.shape == (3, 4) and a.n_contexts == 3 and a.n_actions == 4
    np.testing.assert_array_equal(a.means, b.means)
    assert not np.array_equal(a.means, c.means)
    np.testing.assert_array_equal(a.means, np.random.default_rng(1).standard_normal((3, 4)))
    assert not a.means.flags.writeable


def test_bandit_rewards_have_the_stated_means_and_actions_follow_the_policy() -> None:
    env = ContextualBandit([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0]], noise_std=0.5)
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.0, 0.4]])
    rng = np.random.default_rng(0)
    s, a, r = env.sample(probs, 200_000, rng)
    assert s.dtype.kind == "i" and a.dtype.kind == "i" and r.shape == (200_000,)
    assert not np.any((s == 1) & (a == 1))  # probability 0 is never drawn
    for ctx in range(2):
        in_ctx = s == ctx
        assert in_ctx.mean() == pytest.approx(0.5, abs=0.005)
        freq = np.bincount(a[in_ctx], minlength=3) / in_ctx.sum()
        np.testing.assert_allclose(freq, probs[ctx], atol=0.006)
        for act in range(3):
            sel = in_ctx & (a == act)
            if sel.sum() > 1000:
                assert r[sel].mean() == pytest.approx(env.means[ctx, act], abs=0.03)
                assert r[sel].std() == pytest.approx(0.5, abs=0.02)
    # exact expected reward and the optimum
    want = ((probs * env.means).sum(1)).mean()
    assert env.expected_reward(probs) == pytest.approx(want, abs=1e-15)
    assert env.optimal_reward == pytest.approx((1.0 + 2.0) / 2)
    assert env.expected_reward([[0, 1, 0], [1, 0, 0]]) == pytest.approx(env.optimal_reward)
    assert r.mean() == pytest.approx(want, abs=0.01)


def test_noise_free_bandit_returns_the_means() -> None:
    env = ContextualBandit([[0.3, -0.2]], noise_std=0.0)
    s, a, r = env.sample([[0.5, 0.5]], 100, np.random.default_rng(3))
    np.testing.assert_array_equal(r, env.means[s, a])


# -- the pieces of the surrogate ------------------------------------------------------------
def test_policy_ratio_is_taken_at_the_sampled_action() -> None:
    old = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    new = np.array([[0.4, 0.3, 0.3], [0.2, 0.4, 0.4]])
    actions = [2, 0]
    got = policy_ratio(np.log(new), np.log(old), actions)
    np.testing.assert_allclose(got, [0.3 / 0.2, 0.2 / 0.1], rtol=1e-14)  # 1.5 and 2.0
    # the seed's mistake: averaging the ratio over all actions gives other numbers...
    averaged = (new / old).mean(axis=1)
    assert not np.allclose(got, averaged)
    # ...and the pi_old-weighted average over actions is always exactly 1: no signal
    np.testing.assert_allclose((old * new / old).sum(axis=1), 1.0, rtol=1e-15)
    # torch: same numbers, and gradients flow into logp_new only at the sampled action
    logits = torch.log(torch.tensor(new)).requires_grad_(True)
    logp_new = torch.log_softmax(logits, dim=1)
    t = policy_ratio(logp_new, torch.log(torch.tensor(old)), torch.tensor(actions))
    np.testing.assert_allclose(t.detach().numpy(), got, rtol=1e-12)
    (g,) = torch.autograd.grad(t[0], logits)
    # d r / d logits = r * (onehot(a) - pi_new): nonzero at every action through softmax
    np.testing.assert_allclose(g[0].numpy(), 1.5 * (np.eye(3)[2] - new[0]), rtol=1e-12)
    assert torch.all(g[1] == 0)


def test_clipped_surrogate_values_and_where_the_gradient_vanishes() -> None:
    ratio = np.array([0.5, 1.5, 0.5, 1.5, 1.1, 0.9])
    adv = np.array([1.0, 1.0, -1.0, -1.0, 2.0, -2.0])
    # A > 0: min(r A, 1.2 A) caps the gain; A < 0: min(r A, 0.8 A) floors the loss side
    want = [0.5, 1.2, -0.8, -1.5, 2.2, -1.8]
    np.testing.assert_allclose(clipped_surrogate(ratio, adv, 0.2), want, rtol=1e-15)
    r_t = torch.tensor(ratio, requires_grad=True)
    surr = clipped_surrogate(r_t, torch.tensor(adv), 0.2)
    np.testing.assert_allclose(surr.detach().numpy(), want, rtol=1e-15)
    (g,) = torch.autograd.grad(surr.sum(), r_t)
    # gradient A where the unclipped term is the minimum, 0 where the clipped one is
    np.testing.assert_array_equal(g.numpy(), [1.0, 0.0, 0.0, -1.0, 2.0, -2.0])


@pytest.mark.parametrize(("kl", "want"), [
    (0.001, 0.5), (0.01 / 1.5 - 1e-12, 0.5), (0.01 / 1.5, 1.0), (0.01, 1.0),
    (0.015, 1.0), (0.015 + 1e-12, 2.0), (0.5, 2.0), (0.0, 0.5),
])
def test_adapt_beta_is_the_ppo_paper_rule(kl: float, want: float) -> None:
    assert adapt_beta(1.0, kl, 0.01) == want
    assert adapt_beta(0.3, kl, 0.01) == pytest.approx(0.3 * want)


# -- PPO training ------------------------------------------------------------------------
def test_exact_categorical_kl_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), dim=1)
    q = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), dim=1)
    want = td.kl_divergence(td.Categorical(probs=p), td.Categorical(probs=q))
    torch.testing.assert_close(kl_divergence(p, q), want, rtol=1e-12, atol=1e-15)


def test_train_ppo_records_the_exact_kl_of_the_update() -> None:
    """One update from the uniform policy: recompute d = mean_t KL(pi_old(.|s_t) || pi)."""
    env = make_bandit(4, 5, seed=0)
    hist = train_ppo(env, method="kl_penalty", n_updates=1, batch_size=32, seed=7)
    uniform = np.full((4, 5), 0.2)
    s, _, rewards = env.sample(uniform, 32, np.random.default_rng(7))
    new = torch.tensor(hist.probs)
    old = torch.tensor(uniform)
    d = td.kl_divergence(td.Categorical(probs=old[s]), td.Categorical(probs=new[s])).mean()
    assert hist.kl[0] == pytest.approx(float(d), rel=1e-12)
    assert hist.batch_reward[0] == pytest.approx(float(rewards.mean()), rel=1e-14)
    assert hist.reward[0] == pytest.approx(env.expected_reward(hist.probs), rel=1e-14)
    assert hist.beta == [1.0]


def test_adaptive_beta_history_follows_the_rule_and_is_used_for_the_next_update() -> None:
    env = make_bandit(seed=0)
    hist = train_ppo(env, method="kl_penalty", n_updates=15, kl_target=0.01, beta=1.0, seed=0)
    assert hist.beta[0] == 1.0
    for k in range(len(hist.kl) - 1):
        assert hist.beta[k + 1] == adapt_beta(hist.beta[k], hist.kl[k], 0.01)
    assert len(set(hist.beta)) > 2  # it did adapt
    fixed = train_ppo(env, method="kl_penalty", n_updates=5, kl_target=None, beta=3.0)
    assert fixed.beta == [3.0] * 5
    assert train_ppo(env, method="clip", n_updates=3).beta == []


def test_ppo_improves_the_policy() -> None:
    env = make_bandit(seed=0)
    uniform = env.expected_reward(np.full((env.n_contexts, env.n_actions), 0.2))
    for method in ("kl_penalty", "clip"):
        hist = train_ppo(env, method=method, n_updates=25, seed=0)
        assert hist.reward[-1] > uniform + 0.8 * (env.optimal_reward - uniform)
        np.testing.assert_allclose(hist.probs.sum(1), 1.0, rtol=1e-12)
        assert all(0.0 <= f <= 1.0 for f in hist.clip_fraction)
        assert all(k >= 0.0 for k in hist.kl)


def test_clipping_does_not_bound_the_kl() -> None:
    """If every ratio stayed in [1 - eps, 1 + eps], KL(pi_old || pi) <= -eps - log(1 - eps)."""
    eps = 0.2
    bound = -eps - math.log(1 - eps)
    env = make_bandit(seed=0)
    hist = train_ppo(env, method="clip", n_updates=5, epochs=40, lr=0.2, clip_eps=eps, seed=0)
    assert max(hist.kl) > 5 * bound
    assert max(hist.clip_fraction) > 0.5
    # the bound itself: KL = E_old[(r - 1) - log r] is largest at an end of the interval
    r = np.linspace(1 - eps, 1 + eps, 1001)
    assert np.max((r - 1) - np.log(r)) == pytest.approx(bound, rel=1e-12)


def test_train_ppo_is_deterministic_across_threads_and_global_state() -> None:
    env = make_bandit(seed=0)
    before = torch.get_num_threads()
    first = train_ppo(env, method="clip", n_updates=8, seed=3)
    try:
        torch.set_num_threads(2)
        torch.manual_seed(123)
        np.random.seed(123)  # noqa: NPY002 - the global state must not matter
        second = train_ppo(env, method="clip", n_updates=8, seed=3)
        assert torch.get_num_threads() == 2  # restored after the single-thread context
    finally:
        torch.set_num_threads(before)
    assert first.kl == second.kl and first.reward == second.reward
    assert first.clip_fraction == second.clip_fraction
    np.testing.assert_array_equal(first.probs, second.probs)
    other = train_ppo(env, method="clip", n_updates=8, seed=4)
    assert other.kl != first.kl


def test_shared_adam_matches_torch_optim_adam() -> None:
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    a, b = x0.clone().requires_grad_(True), x0.clone().requires_grad_(True)
    mine, ref = Adam([a], lr=0.05), torch.optim.Adam([b], lr=0.05)
    for _ in range(30):
        a.grad = torch.autograd.grad((torch.sin(a) * a**2).sum(), a)[0]
        mine.step()
        ref.zero_grad()
        (torch.sin(b) * b**2).sum().backward()
        ref.step()
    torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)


# -- RLHF on a toy vocabulary ----------------------------------------------------------------
def test_optimum_is_the_tilted_reference() -> None:
    pi_ref, r = [0.5, 0.3, 0.2], [0.0, 1.0, 2.0]
    w = np.array(pi_ref) * np.exp(np.array(r) / 0.5)
    np.testing.assert_allclose(kl_regularised_optimum(pi_ref, r, 0.5), w / w.sum(), rtol=1e-14)
    # constant reward: nothing to gain, stay at the reference
    np.testing.assert_allclose(kl_regularised_optimum(PI_REF, np.full(8, 3.0), 0.7), PI_REF)
    # large beta -> pi_ref, small beta -> the best token; no overflow at tiny beta
    assert kl_divergence(kl_regularised_optimum(PI_REF, REWARD, 1e4), PI_REF) < 1e-8
    np.testing.assert_allclose(kl_regularised_optimum(PI_REF, REWARD, 1e-3), np.eye(8)[7])
    # zero reference probability stays zero
    assert kl_regularised_optimum([0.0, 0.4, 0.6], [100.0, 0.0, 1.0], 0.1)[0] == 0.0


def test_objective_identity_and_optimality() -> None:
    """J(pi) = beta log Z - beta KL(pi || pi*), so pi* beats every other policy."""
    rng = np.random.default_rng(0)
    for beta in (0.1, 0.5, 1.0, 4.0):
        star = kl_regularised_optimum(PI_REF, REWARD, beta)
        log_z = math.log(float(PI_REF @ np.exp(REWARD / beta)))
        j_star = kl_regularised_objective(star, PI_REF, REWARD, beta)
        assert j_star == pytest.approx(beta * log_z, rel=1e-12)
        others = list(rng.dirichlet(np.ones(8), size=50))
        for scale in (1e-1, 1e-2, 1e-3):  # small perturbations of pi*
            for _ in range(10):
                logits = np.log(star) + scale * rng.standard_normal(8)
                others.append(np.exp(logits) / np.exp(logits).sum())
        for pi in others:
            j = kl_regularised_objective(pi, PI_REF, REWARD, beta)
            gap = beta * float(kl_divergence(pi, star))
            assert j == pytest.approx(beta * log_z - gap, rel=1e-10, abs=1e-12)
            assert j <= j_star + 1e-12


def test_shaped_reward_is_constant_at_the_optimum() -> None:
    beta = 0.8
    star = kl_regularised_optimum(PI_REF, REWARD, beta)
    shaped = REWARD - beta * np.log(star / PI_REF)
    log_z = math.log(float(PI_REF @ np.exp(REWARD / beta)))
    np.testing.assert_allclose(shaped, beta * log_z, rtol=1e-12)


@pytest.mark.parametrize("n_samples", [None, 64])
def test_training_converges_to_the_optimum(n_samples: int | None) -> None:
    beta = 1.0
    hist = train_kl_regularised(PI_REF, REWARD, beta, steps=200, n_samples=n_samples, seed=0)
    star = kl_regularised_optimum(PI_REF, REWARD, beta)
    assert hist.kl_to_opt[0] > 1e-3 and hist.kl_to_opt[-1] < 1e-7
    np.testing.assert_allclose(hist.probs, star, atol=1e-4)
    assert hist.kl_to_opt[-1] == pytest.approx(float(kl_divergence(hist.probs, star)), abs=1e-12)
    # history is exact: objective = reward - beta KL(pi || pi_ref) = beta log Z - beta KL(pi||pi*)
    log_z = math.log(float(PI_REF @ np.exp(REWARD / beta)))
    for j, k in zip(hist.objective, hist.kl_to_opt, strict=True):
        assert j == pytest.approx(beta * log_z - beta * k, abs=1e-10)
    assert hist.reward[-1] == pytest.approx(float(star @ REWARD), abs=1e-4)


def test_train_kl_regularised_is_deterministic() -> None:
    a = train_kl_regularised(PI_REF, REWARD, 0.5, steps=30, n_samples=16, seed=5)
    torch.manual_seed(99)
    b = train_kl_regularised(PI_REF, REWARD, 0.5, steps=30, n_samples=16, seed=5)
    c = train_kl_regularised(PI_REF, REWARD, 0.5, steps=30, n_samples=16, seed=6)
    assert a.kl_to_opt == b.kl_to_opt and a.kl_to_opt != c.kl_to_opt
    np.testing.assert_array_equal(a.probs, b.probs)


# -- bad arguments -----------------------------------------------------------------------------
ENV = make_bandit(2, 3, seed=0)

BAD_CALLS = [
    (lambda: make_bandit(0, 3), "make_bandit: n_contexts"),
    (lambda: make_bandit(2, 1), "make_bandit: n_actions"),
    (lambda: make_bandit(2, 3, seed=-1), "make_bandit: seed"),
    (lambda: make_bandit(2, 3, noise_std=-1.0), "ContextualBandit: noise_std"),
    (lambda: ContextualBandit([1.0, 2.0]), "ContextualBandit: means"),
    (lambda: ContextualBandit([[1.0, np.nan]]), "ContextualBandit: means"),
    (lambda: ENV.expected_reward(np.full((3, 3), 1 / 3)), "expected_reward: probs"),
    (lambda: ENV.expected_reward([[0.5, 0.6, 0.0], [1, 0, 0]]), "expected_reward: probs"),
    (lambda: ENV.sample(np.full((2, 3), 1 / 3), 0, np.random.default_rng()), "sample: n"),
    (lambda: ENV.sample(np.full((2, 3), 1 / 3), 5, 0), "sample: rng"),
    (lambda: policy_ratio(np.zeros((2, 3)), np.zeros((2, 4)), [0, 1]), "policy_ratio: logp_new"),
    (lambda: policy_ratio(np.zeros((2, 3)), np.zeros((2, 3)), [0, 3]), "policy_ratio: actions"),
    (lambda: policy_ratio(np.zeros((2, 3)), np.zeros((2, 3)), [0]), "policy_ratio: actions"),
    (lambda: policy_ratio(np.zeros((2, 3)), np.zeros((2, 3)), [0.0, 1.0]),
     "policy_ratio: actions"),
    (lambda: policy_ratio(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0.0, 1.0])),
     "policy_ratio: actions"),
    (lambda: clipped_surrogate([1.0, 1.0], [1.0], 0.2), "clipped_surrogate: ratio"),
    (lambda: clipped_surrogate([1.0], [1.0], 1.0), "clipped_surrogate: clip_eps"),
    (lambda: clipped_surrogate([1.0], [1.0], 0.0), "clipped_surrogate: clip_eps"),
    (lambda: adapt_beta(0.0, 0.01, 0.01), "adapt_beta: beta"),
    (lambda: adapt_beta(1.0, -0.01, 0.01), "adapt_beta: kl"),
    (lambda: adapt_beta(1.0, math.nan, 0.01), "adapt_beta: kl"),
    (lambda: adapt_beta(1.0, 0.01, 0), "adapt_beta: kl_target"),
    (lambda: train_ppo("env"), "train_ppo: env"),
    (lambda: train_ppo(ENV, method="trpo"), "train_ppo: method"),
    (lambda: train_ppo(ENV, n_updates=0), "train_ppo: n_updates"),
    (lambda: train_ppo(ENV, batch_size=2.5), "train_ppo: batch_size"),
    (lambda: train_ppo(ENV, epochs=True), "train_ppo: epochs"),
    (lambda: train_ppo(ENV, lr=0.0), "train_ppo: lr"),
    (lambda: train_ppo(ENV, beta=-1.0), "train_ppo: beta"),
    (lambda: train_ppo(ENV, kl_target=0.0), "train_ppo: kl_target"),
    (lambda: train_ppo(ENV, clip_eps=1.5), "train_ppo: clip_eps"),
    (lambda: train_ppo(ENV, seed=-2), "train_ppo: seed"),
    (lambda: kl_regularised_optimum([0.5, 0.6], [0, 1], 1.0), "kl_regularised_optimum: pi_ref"),
    (lambda: kl_regularised_optimum([0.5, 0.5], [0, 1, 2], 1.0), "kl_regularised_optimum: reward"),
    (lambda: kl_regularised_optimum([0.5, 0.5], [0, np.inf], 1.0),
     "kl_regularised_optimum: reward"),
    (lambda: kl_regularised_optimum([0.5, 0.5], [0, 1], 0.0), "kl_regularised_optimum: beta"),
    (lambda: kl_regularised_objective([1.0], [0.5, 0.5], [0, 1], 1.0),
     "kl_regularised_objective: pi"),
    (lambda: train_kl_regularised([1.0, 0.0], [0, 1], 1.0), "train_kl_regularised: pi_ref"),
    (lambda: train_kl_regularised([0.5, 0.5], [0, 1], 1.0, n_samples=1),
     "train_kl_regularised: n_samples"),
    (lambda: train_kl_regularised([0.5, 0.5], [0, 1], 1.0, steps=0),
     "train_kl_regularised: steps"),
    (lambda: train_kl_regularised([0.5, 0.5], [0, 1], 1.0, lr=-1.0),
     "train_kl_regularised: lr"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_arguments_raise_value_errors_naming_function_and_argument(call, message) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        call()
