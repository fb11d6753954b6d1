"""`pgjax.training.off_policy`: time limits stored with their final observation and
bootstrapped, random actions and no learning before `learning_starts`, and configs that cannot
work refused before anything compiles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax.algorithms import dqn, sac
from pgjax.envs import env_spec
from pgjax.training import off_policy
from pgjax.training.algorithm import scan_updates
from pgjax.training.config import ConfigError

KEY = jax.random.key(0, impl="rbg")


def pendulum_transitions(bootstrap_truncation: bool):
    """201 steps of 2 Pendulum-v1 environments (one time limit each, at step 199) as SAC
    stores them, and its initial state."""
    config = sac.SACConfig.for_env(
        "Pendulum-v1",
        num_envs=2,
        num_steps=201,
        total_steps=2 * 2 * 201,
        learning_starts=0,
        hidden_sizes=(16,),
        bootstrap_truncation=bootstrap_truncation,
    )
    state = sac.init(config, KEY)

    @jax.jit
    def collect(state):
        explore = lambda params, obs, key, steps: sac.explore(config, params, obs, key, steps)  # noqa: E731
        to_env = lambda action: off_policy.scale_action(env_spec(config.env_id), action)  # noqa: E731
        return off_policy.collect(config, state, jax.random.key(1, impl="rbg"), explore, to_env)

    _, stored, _ = collect(state)
    # [T·N] in the order they happened: step t of environment n is row 2t + n.
    return config, state, jax.tree.map(lambda x: x.reshape((201, 2, *x.shape[1:])), stored)


def test_a_time_limit_is_stored_with_its_final_observation_and_bootstrapped_from_it():
    config, state, stored = pendulum_transitions(bootstrap_truncation=True)
    truncated, terminated = np.asarray(stored.truncated), np.asarray(stored.terminated)
    assert not terminated.any()  # Pendulum only truncates
    assert truncated[199].all() and truncated.sum() == 2
    # Inside an episode the successor is the next observation; at the time limit it is the
    # final observation, not the first observation of the next episode.
    np.testing.assert_array_equal(stored.next_obs[:199], stored.obs[1:200])
    final, reset = np.asarray(stored.next_obs[199]), np.asarray(stored.obs[200])
    assert not np.allclose(final, reset)

    # SAC's target for that transition bootstraps from Q̄ at the final observation.
    actor, _ = sac.networks(config)
    next_action, next_log_prob = actor.apply(
        state.params["actor"], stored.next_obs[199]
    ).sample_and_log_prob(jax.random.key(2))
    gamma, temperature = 0.99, 0.5

    def target_from(next_obs):
        next_q = sac.q_values(config, state.target_params["critic"], next_obs, next_action)
        return pgjax.soft_q_targets(
            stored.reward[199], next_q, next_log_prob, stored.terminated[199], gamma, temperature
        )

    targets = target_from(stored.next_obs[199])
    next_q = sac.q_values(config, state.target_params["critic"], final, next_action)
    expected = stored.reward[199] + gamma * (next_q.min(0) - temperature * next_log_prob)
    np.testing.assert_allclose(targets, expected, rtol=1e-5)
    assert not np.allclose(targets, target_from(reset), atol=1e-3)
    assert not np.allclose(targets, stored.reward[199], atol=1e-3)


def test_the_truncation_as_termination_ablation_stores_time_limits_as_terminal():
    _, _, stored = pendulum_transitions(bootstrap_truncation=False)
    np.testing.assert_array_equal(stored.terminated, stored.truncated)
    assert np.asarray(stored.terminated)[199].all()


def test_actions_are_random_and_nothing_learns_before_learning_starts():
    config = dqn.DQNConfig.for_env(
        "CartPole-v1",
        num_envs=2,
        num_steps=4,
        gradient_steps=2,
        batch_size=8,
        learning_starts=24,  # 8 steps per update: the 3rd update stores step 23 and learns
        total_steps=2 * 4 * 4,
        hidden_sizes=(8,),
        target_update_every=1,
    )
    two_updates = jax.jit(lambda s: scan_updates(dqn.DQN, config, s, 2))
    state = dqn.init(config, KEY)
    first, metrics = two_updates(state)
    np.testing.assert_array_equal(metrics["loss"], 0.0)
    np.testing.assert_array_equal(metrics["grad_norm"], 0.0)
    for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(state.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(first.buffer.size) == 16 and int(first.updates) == 2
    after, metrics = two_updates(first)
    assert np.all(np.asarray(metrics["loss"]) > 0) and np.all(np.asarray(metrics["grad_norm"]) > 0)
    pairs = zip(jax.tree.leaves(after.params), jax.tree.leaves(first.params), strict=True)
    assert all(not np.array_equal(a, b) for a, b in pairs)
    # target_update_every=1, τ = 1: the target network is a copy after every gradient step.
    for a, b in zip(
        jax.tree.leaves(after.params), jax.tree.leaves(after.target_params), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "field", "message"),
    [
        (lambda: sac.SACConfig.for_env("CartPole-v1"), "env_id", "SAC needs continuous actions"),
        (lambda: dqn.DQNConfig.for_env("Pendulum-v1"), "env_id", "DQN needs discrete actions"),
        (
            lambda: dqn.DQNConfig(num_envs=8, num_steps=4, buffer_size=16),
            "buffer_size",
            r"buffer_size=16 cannot hold one update's num_envs × num_steps = 32 transitions",
        ),
        (
            lambda: sac.SACConfig(total_steps=1000, learning_starts=1000),
            "learning_starts",
            r"learning_starts=1000 is not below the run's 1000 environment steps",
        ),
        (lambda: sac.SACConfig(tau=0.0), "tau", r"tau must be > 0"),
        (lambda: dqn.DQNConfig(epsilon_end=1.5), "epsilon_end", r"epsilon_end must be <= 1"),
    ],
)
def test_configs_that_cannot_work_are_refused_before_compiling(make, field, message):
    with pytest.raises(ConfigError, match=message) as error:
        make().validate()
    assert error.value.field == field


def test_scale_action_maps_the_unit_box_onto_the_bounds():
    spec = env_spec("Pendulum-v1")  # torque in [-2, 2]
    out = off_policy.scale_action(spec, jnp.array([[-1.0], [0.0], [0.5], [1.0]]))
    np.testing.assert_allclose(out, [[-2.0], [0.0], [1.0], [2.0]])
