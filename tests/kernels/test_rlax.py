"""Cross-checks against rlax where the semantics coincide.

rlax has no truncation flag: its `discount_t` is γ · (1 − terminated), a zero discount both stops
the recursion and drops the bootstrap, and the last row bootstraps from the last value. With
`truncated` all False, pgjax's conventions reduce to exactly that. rlax kernels are rank-1
(one trajectory, time-major), so they are vmapped over the batch axis here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

import pgjax

rlax = pytest.importorskip("rlax")

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

TOL = {"rtol": 2e-5, "atol": 2e-5}
T, B = 12, 5
# Each method once with scalar γ, λ and once with per-step [T, B] arrays.
PAIRS = [("scan", False), ("associative", True)]
PAIR_IDS = ["scan-scalar_coefs", "associative-per_step_coefs"]


def over_batch(fn, *static):
    """vmap a rank-1 rlax kernel over axis 1 of time-major `[T, B]` arrays."""
    return jax.vmap(lambda *xs: fn(*xs, *static), in_axes=1, out_axes=1)


def episodes(rng, per_step_coefficients):
    data = ref.random_trajectory(rng, (T, B), p_terminated=0.2, p_truncated=0.0)
    f = {k: jnp.asarray(v, jnp.float32) for k, v in data.items()}
    if per_step_coefficients:
        gamma = jnp.asarray(rng.uniform(0.5, 1.0, (T, B)), jnp.float32)
        lam = jnp.asarray(rng.uniform(0.0, 1.0, (T, B)), jnp.float32)
    else:
        gamma, lam = jnp.float32(0.97), jnp.float32(0.9)
    discount = jnp.broadcast_to(gamma, (T, B)) * (1.0 - f["terminated"])
    return f, gamma, lam, discount


@pytest.mark.parametrize(("method", "per_step"), PAIRS, ids=PAIR_IDS)
def test_gae_matches_rlax_truncated_gae(rng, method, per_step):
    f, gamma, lam, discount = episodes(rng, per_step)
    # rlax takes values of length T + 1: V(s_0..s_{T-1}) and the final bootstrap value.
    values_ext = jnp.concatenate([f["values"], f["next_values"][-1:]], axis=0)

    @jax.jit
    def both(f, gamma, lam, discount, values_ext):
        expected = jax.vmap(
            rlax.truncated_generalized_advantage_estimation, in_axes=(1, 1, 1, 1), out_axes=1
        )(f["rewards"], discount, jnp.broadcast_to(lam, (T, B)), values_ext)
        ours = pgjax.gae(
            f["rewards"],
            f["values"],
            values_ext[1:],
            f["terminated"],
            f["truncated"],
            gamma,
            lam,
            method=method,
        )
        return ours, expected

    (adv, targets), expected = both(f, gamma, lam, discount, values_ext)
    np.testing.assert_allclose(adv, expected, **TOL)
    np.testing.assert_allclose(targets, expected + f["values"], **TOL)


@pytest.mark.parametrize(("method", "per_step"), PAIRS, ids=PAIR_IDS)
def test_lambda_returns_match_rlax(rng, method, per_step):
    f, gamma, lam, discount = episodes(rng, per_step)

    @jax.jit
    def both(f, gamma, lam, discount):
        expected = jax.vmap(rlax.lambda_returns, in_axes=(1, 1, 1, 1), out_axes=1)(
            f["rewards"], discount, f["next_values"], jnp.broadcast_to(lam, (T, B))
        )
        ours = pgjax.lambda_returns(
            f["rewards"],
            f["next_values"],
            f["terminated"],
            f["truncated"],
            gamma,
            lam,
            method=method,
        )
        return ours, expected

    out, expected = both(f, gamma, lam, discount)
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize(
    ("method", "bootstrap"),
    [("scan", False), ("associative", True)],
    ids=["scan-monte_carlo", "associative-bootstrapped"],
)
def test_discounted_returns_match_rlax(rng, method, bootstrap):
    f, gamma, _, discount = episodes(rng, per_step_coefficients=True)

    @jax.jit
    def both(f, gamma, discount):
        v = f["next_values"] if bootstrap else jnp.zeros((T, B))
        expected = over_batch(rlax.discounted_returns)(f["rewards"], discount, v)
        ours = pgjax.discounted_returns(
            f["rewards"],
            f["terminated"],
            f["truncated"],
            gamma,
            f["next_values"] if bootstrap else None,
            method=method,
        )
        return ours, expected

    out, expected = both(f, gamma, discount)
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize("n", [3, 20])
def test_n_step_returns_match_rlax(rng, n):
    f, gamma, _, discount = episodes(rng, per_step_coefficients=True)

    @jax.jit
    def both(f, gamma, discount):
        expected = over_batch(rlax.n_step_bootstrapped_returns, n)(
            f["rewards"], discount, f["next_values"]
        )
        ours = pgjax.n_step_returns(
            f["rewards"], f["next_values"], f["terminated"], f["truncated"], gamma, n
        )
        return ours, expected

    out, expected = both(f, gamma, discount)
    np.testing.assert_allclose(out, expected, **TOL)


def test_td_errors_match_rlax_td_learning(rng):
    f, gamma, _, discount = episodes(rng, per_step_coefficients=True)

    @jax.jit
    def both(f, gamma, discount):
        td = jax.vmap(jax.vmap(rlax.td_learning))
        expected = td(f["values"], f["rewards"], discount, f["next_values"])
        ours = pgjax.td_errors(f["rewards"], f["values"], f["next_values"], f["terminated"], gamma)
        return ours, expected

    out, expected = both(f, gamma, discount)
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize("clip_eps", [0.1, 0.3])
def test_ppo_clip_loss_value_and_gradient_match_rlax_clipped_surrogate(rng, clip_eps):
    old = jnp.asarray(-rng.random(64) * 2, jnp.float32)
    log_probs = old + jnp.asarray(rng.normal(scale=0.4, size=64), jnp.float32)
    adv = jnp.asarray(rng.normal(size=64), jnp.float32)

    def theirs(lp):
        return rlax.clipped_surrogate_pg_loss(jnp.exp(lp - old), adv, clip_eps)

    def ours(lp):
        return pgjax.ppo_clip_loss(lp, old, adv, clip_eps=clip_eps)

    value, grad = jax.jit(jax.value_and_grad(ours))(log_probs)
    expected_value, expected_grad = jax.jit(jax.value_and_grad(theirs))(log_probs)
    np.testing.assert_allclose(value, expected_value, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-7)
    assert np.any(np.asarray(grad) == 0.0)  # some samples were clipped


def test_entropy_loss_matches_rlax_entropy_loss(rng):
    logits = jnp.asarray(rng.normal(size=(T, 4)) * 2, jnp.float32)
    weights = jnp.asarray(rng.random(T), jnp.float32)
    # rlax: −mean_t(H_t · w_t), a plain mean over all T weighted entries.
    ours, theirs = jax.jit(
        lambda lg, w: (
            pgjax.entropy_loss(pgjax.Categorical(lg).entropy() * w),
            rlax.entropy_loss(lg, w),
        )
    )(logits, weights)
    np.testing.assert_allclose(ours, theirs, **TOL)


def test_categorical_entropy_log_prob_and_kl_match_rlax_softmax(rng):
    logits = jnp.asarray(rng.normal(size=(T, 4)) * 2, jnp.float32)
    other = jnp.asarray(rng.normal(size=(T, 4)), jnp.float32)
    actions = jnp.asarray(rng.integers(0, 4, size=T))
    softmax = rlax.softmax()

    @jax.jit
    def both(logits, other, actions):
        dist = pgjax.Categorical(logits)
        ours = (dist.entropy(), dist.log_prob(actions), dist.kl(pgjax.Categorical(other)))
        theirs = (
            softmax.entropy(logits),
            softmax.logprob(actions, logits),
            rlax.categorical_kl_divergence(logits, other),
        )
        return ours, theirs

    ours, theirs = both(logits, other, actions)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, **TOL)
