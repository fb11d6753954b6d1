"""`pgjax.training.recurrent` and recurrent rollouts: the state restarts exactly where an
episode ends (terminated or truncated), by selection, so a finished episode's NaN cannot reach
the next one; the learner's re-run from the stored state reproduces what the actors computed;
a truncated step is bootstrapped from the state before the reset."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

from pgjax.algorithms.ppo import PPOConfig
from pgjax.training import on_policy
from pgjax.training.recurrent import (
    reset_carry,
    resets_after,
    run_sequence,
    scan_with_resets,
    successor_values,
)
from pgjax.training.rollout import collect_rollout

T, B, D = 9, 3, 2
POISONS = (np.nan, np.inf, -np.inf)


def _cell(carry, x):
    # A small nonlinear cell with a state of its own: h' = tanh(0.7 h + x·1), y = h' + x₀.
    carry = jnp.tanh(0.7 * carry + x.sum(-1, keepdims=True))
    return carry, carry[..., 0] + x[..., 0]


def _cell_np(carry, x):
    carry = np.tanh(0.7 * carry + x.sum(-1, keepdims=True))
    return carry, carry[0] + x[0]


def _inputs(rng):
    x = rng.normal(size=(T, B, D)).astype(np.float32)
    resets = rng.random((T, B)) < 0.3
    resets[4, 1] = True
    return x, resets


def test_scan_with_resets_matches_a_step_by_step_reference(rng):
    x, resets = _inputs(rng)
    start = rng.normal(size=(B, 1)).astype(np.float32)
    initial = rng.normal(size=(B, 1)).astype(np.float32)
    carry, y = jax.jit(lambda *a: scan_with_resets(_cell, *a))(start, x, resets, initial)
    carry_ref, y_ref = ref.scan_with_resets(_cell_np, start, x, resets, initial)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(carry, carry_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("poison", POISONS)
def test_a_finished_episodes_non_finite_state_leaves_the_next_episode_bit_identical(rng, poison):
    x, resets = _inputs(rng)
    resets[:, 1] = False
    resets[4, 1] = True  # element 1's second episode starts at step 4
    start = rng.normal(size=(B, 1)).astype(np.float32)
    initial = np.zeros((B, 1), np.float32)
    poisoned = start.copy()
    poisoned[1] = poison

    def later(start, x):
        # Outputs of element 1's second episode, and their gradient w.r.t. that episode's
        # inputs (the finished episode's own steps compute on the poison: their gradient is
        # 0 · NaN, which is that episode's, not the next one's).
        def total(x_later):
            x_all = jnp.concatenate([x[:4], x_later])
            return scan_with_resets(_cell, start, x_all, resets, initial)[1][4:, 1].sum()

        return total(x[4:]), jax.grad(total)(x[4:])

    clean = jax.jit(later)(start, x)
    dirty = jax.jit(later)(poisoned, x)
    for a, b in zip(jax.tree.leaves(clean), jax.tree.leaves(dirty), strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    # The poison does change the first episode, so the test reads a state that matters.
    first = scan_with_resets(_cell, poisoned, x, resets, initial)[1][:4, 1]
    assert not np.allclose(first, scan_with_resets(_cell, start, x, resets, initial)[1][:4, 1])


def test_reset_carry_selects_every_leaf_of_an_lstm_state():
    carry = (jnp.full((3, 2), jnp.nan), jnp.full((3, 2), jnp.inf))
    fresh = (jnp.zeros((3, 2)), jnp.ones((3, 2)))
    c, h = map(np.asarray, reset_carry(carry, jnp.array([True, False, True]), fresh))
    np.testing.assert_array_equal(c[[0, 2]], 0.0)
    np.testing.assert_array_equal(h[[0, 2]], 1.0)
    assert np.isnan(c[1]).all() and np.isinf(h[1]).all()


def test_scan_with_resets_refuses_resets_of_the_wrong_shape_or_dtype(rng):
    x, resets = _inputs(rng)
    start = np.zeros((B, 1), np.float32)
    with pytest.raises(ValueError, match="scan_with_resets: resets must be bool"):
        scan_with_resets(_cell, start, x, resets.astype(np.float32), start)
    with pytest.raises(ValueError, match=r"scan_with_resets: resets must be \[T, \*B\] with T=9"):
        scan_with_resets(_cell, start, x, resets[:-1], start)


def _rollout(env_id, policy, steps, num_envs=4):
    config = PPOConfig(
        env_id=env_id, policy=policy, recurrent_size=8, hidden_sizes=(16,), num_envs=num_envs
    )
    state = on_policy.init(config, jax.random.key(0))
    run = on_policy.setup(config, state.hyperparams)

    @jax.jit
    def collect(state):
        return collect_rollout(run.env, run.network, state.params, state.env, state.key, steps)

    return run.network, state, *collect(state)


@pytest.mark.parametrize(
    ("env_id", "policy", "ends"),
    [("CartPole-v1-masked", "gru", "terminated"), ("Pendulum-v1-masked", "lstm", "truncated")],
)
def test_the_rollout_state_restarts_at_every_episode_end_and_the_learner_rerun_matches(
    env_id, policy, ends
):
    steps = 230 if ends == "truncated" else 60  # Pendulum is only ever truncated, at 200
    network, state, carry, trajectory = _rollout(env_id, policy, steps)
    done = np.asarray(trajectory.episode_done)
    assert np.asarray(getattr(trajectory, ends)).any()
    stored = jax.tree.leaves(trajectory.carry)
    for leaf in stored:
        leaf = np.asarray(leaf)
        # The state a step acts from is zero exactly when the previous step ended an episode.
        after_end = np.concatenate([np.zeros_like(done[:1]), done[:-1]])
        assert (leaf[1:][after_end[1:]] == 0).all()
        assert (np.abs(leaf[1:][~after_end[1:]]).sum(-1) > 0).all()
    for final in jax.tree.leaves(carry.policy_carry):
        np.testing.assert_array_equal(np.asarray(final)[done[-1]], 0.0)
    # The learner re-runs the sequences from the first stored state and gets the actors' values,
    # log-probabilities and successor values back.
    distribution, values, states = jax.jit(
        lambda p, t: run_sequence(network, p, t.obs, t.carry, t.episode_done)
    )(state.params, trajectory)
    np.testing.assert_allclose(values, trajectory.value, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        distribution.log_prob(trajectory.action), trajectory.log_prob, rtol=1e-4, atol=1e-5
    )
    next_values = successor_values(network, state.params, states, trajectory.next_obs)
    np.testing.assert_allclose(next_values, trajectory.next_value, rtol=1e-4, atol=1e-5)


def test_a_truncated_step_is_bootstrapped_from_the_state_before_the_reset():
    network, state, _, trajectory = _rollout("Pendulum-v1-masked", "gru", 205, num_envs=2)
    truncated = np.asarray(trajectory.truncated)
    assert truncated.sum() == 2  # both environments, at step 199
    _, _, states = run_sequence(
        network, state.params, trajectory.obs, trajectory.carry, trajectory.episode_done
    )
    zeros = jax.tree.map(jnp.zeros_like, states)
    from_reached = successor_values(network, state.params, states, trajectory.next_obs)
    from_fresh = successor_values(network, state.params, zeros, trajectory.next_obs)
    np.testing.assert_allclose(
        trajectory.next_value[truncated], from_reached[truncated], rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(trajectory.next_value[truncated], from_fresh[truncated], atol=1e-4)


def test_resets_after_marks_the_step_after_each_episode_end():
    done = np.array([[False, True], [True, False], [False, False]])
    np.testing.assert_array_equal(
        resets_after(jnp.asarray(done)), [[False, False], [False, True], [True, False]]
    )
