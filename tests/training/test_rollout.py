"""`pgjax.training.rollout`: truncation bootstrapped from the final observation, and complete
episodes collected on the device."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import pgjax
from pgjax.algorithms.ppo import PPOConfig
from pgjax.algorithms.reinforce import REINFORCEConfig
from pgjax.envs import make_env
from pgjax.training.on_policy import make_network
from pgjax.training.rollout import (
    collect_episodes,
    collect_rollout,
    episode_metrics,
    first_episode_mask,
)
from pgjax.training.types import EnvCarry

KEY = jax.random.key(0, impl="rbg")  # compiles faster than threefry; as good here


def test_pendulum_truncation_is_bootstrapped_from_the_final_observation():
    # Pendulum-v1 never terminates; every episode is cut at 200 steps. The bootstrap value of a
    # truncated step must be V(final observation), not V(first observation of the next episode),
    # and GAE must use it rather than zero.
    config = PPOConfig.for_env("Pendulum-v1", num_envs=2, normalize_observations=False)
    network = make_network(config)
    env = make_env(config.env_id, config.num_envs)
    obs, env_state = env.reset(jax.random.key(0))
    params = network.init(jax.random.key(1), obs)
    _, trajectory = jax.jit(collect_rollout, static_argnums=(0, 1, 5))(
        env, network, params, EnvCarry(env_state, obs), jax.random.key(2), 210
    )
    assert not trajectory.terminated.any()
    cut = np.asarray(trajectory.truncated)
    assert cut[199].all() and cut.sum() == 2  # exactly one time limit per environment

    final_value = network.apply(params, trajectory.next_obs[199], method="value")
    reset_value = network.apply(params, trajectory.obs[200], method="value")
    np.testing.assert_allclose(trajectory.next_value[199], final_value, rtol=1e-6)
    assert not np.allclose(final_value, reset_value)
    # Inside an episode the successor is simply the next observation.
    np.testing.assert_allclose(trajectory.next_obs[:199], trajectory.obs[1:200])

    gamma = 0.9
    advantages, _ = pgjax.gae(
        trajectory.reward,
        trajectory.value,
        trajectory.next_value,
        trajectory.terminated,
        trajectory.truncated,
        gamma,
        0.95,
    )
    expected = trajectory.reward[199] + gamma * final_value - trajectory.value[199]
    np.testing.assert_allclose(advantages[199], expected, rtol=1e-5, atol=1e-6)


def test_first_episode_mask_keeps_each_environment_up_to_its_first_episode_end():
    done = jnp.array([[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 1, 0]], bool)
    expected = np.array([[1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 1, 0]], bool)
    np.testing.assert_array_equal(first_episode_mask(done), expected)


def test_collect_episodes_gives_one_complete_episode_per_environment():
    num_envs = 6
    config = REINFORCEConfig(num_envs=num_envs)
    network = make_network(config)
    env = make_env("CartPole-v1", num_envs)
    params = network.init(KEY, jnp.zeros((1, 4)))
    collect = jax.jit(lambda key: collect_episodes(env, network, params, key, config.num_steps))
    _, trajectory, mask = collect(KEY)
    mask, done = np.asarray(mask), np.asarray(trajectory.episode_done)
    lengths = mask.sum(0)
    # Each mask column is a prefix that ends on the step its (only) episode ended.
    np.testing.assert_array_equal(mask, np.arange(config.num_steps)[:, None] < lengths)
    np.testing.assert_array_equal((done & mask).sum(0), np.ones(num_envs))
    assert done[lengths - 1, np.arange(num_envs)].all()
    # CartPole pays 1 per step: the masked reward sum is the episode's recorded return.
    rewards = (np.asarray(trajectory.reward) * mask).sum(0)
    np.testing.assert_allclose(rewards, lengths)
    recorded = np.asarray(trajectory.episode_return)[lengths - 1, np.arange(num_envs)]
    np.testing.assert_allclose(recorded, lengths)
    metrics = episode_metrics(trajectory, jnp.asarray(mask))
    assert float(metrics["episodes"]) == num_envs
    np.testing.assert_allclose(float(metrics["episode_return"]), lengths.mean(), rtol=1e-6)
