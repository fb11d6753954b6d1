"""PPO and the shared on-policy machinery: truncation, determinism, vmap, config checks."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax.algorithms.ppo import PPOConfig, make_train
from pgjax.config import hyperparameter_grid
from pgjax.envs import make_env
from pgjax.rollout import EnvCarry, collect_rollout
from pgjax.training import make_network

TINY = PPOConfig(total_steps=4 * 16 * 3, num_envs=4, num_steps=16, num_minibatches=2)


@pytest.fixture(scope="module")
def tiny_train():
    """One compiled program shared by the tests that only need to call it."""
    return jax.jit(make_train(TINY))


def test_pendulum_truncation_is_bootstrapped_from_the_final_observation():
    # Pendulum-v1 never terminates; every episode is cut at 200 steps. The bootstrap value of a
    # truncated step must be V(final observation), not V(first observation of the next episode),
    # and GAE must use it rather than zero.
    config = PPOConfig.for_env("Pendulum-v1", num_envs=2, normalize_observations=False)
    network, _ = make_network(config)
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


def test_same_key_gives_identical_metrics(tiny_train):
    _, first = tiny_train(jax.random.key(3))
    _, second = tiny_train(jax.random.key(3))
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_vmap_over_seeds_matches_running_each_seed_alone(tiny_train):
    keys = jax.random.split(jax.random.key(4), 3)
    _, batched = jax.jit(jax.vmap(make_train(TINY)))(keys)
    for i, key in enumerate(keys):
        _, alone = tiny_train(key)
        for name in alone:
            np.testing.assert_allclose(
                batched[name][i], alone[name], rtol=1e-4, atol=1e-6, err_msg=name
            )


def test_hyperparameter_grid_is_one_vmapped_program():
    grid = hyperparameter_grid(learning_rate=[1e-4, 1e-3], clip_eps=[0.1, 0.3])
    assert grid["learning_rate"].tolist() == pytest.approx([1e-4, 1e-4, 1e-3, 1e-3])
    assert grid["clip_eps"].tolist() == pytest.approx([0.1, 0.3, 0.1, 0.3])
    keys = jnp.stack([jax.random.key(5)] * 4)
    _, metrics = jax.jit(jax.vmap(make_train(TINY)))(keys, grid)
    # Same key everywhere: the first rollout is identical, so any difference comes from the grid.
    np.testing.assert_allclose(metrics["learning_rate"][:, 0], grid["learning_rate"], rtol=1e-6)
    np.testing.assert_array_equal(metrics["episode_return"][:, 0], metrics["episode_return"][0, 0])
    assert metrics["value_loss"][0, -1] != metrics["value_loss"][2, -1]


def test_unknown_hyperparameter_is_refused():
    with pytest.raises(ValueError, match=r"Unknown hyperparameters \['num_envs'\]"):
        make_train(TINY)(jax.random.key(0), {"num_envs": 8})


def test_metrics_are_per_update_scalars_not_per_step(tiny_train):
    _, metrics = tiny_train(jax.random.key(6))
    expected = {
        "episode_return", "episode_length", "episodes", "loss", "policy_loss", "value_loss",
        "entropy", "approx_kl", "clip_fraction", "learning_rate",
    }  # fmt: skip
    assert set(metrics) == expected
    for name, value in metrics.items():
        assert value.shape == (TINY.num_updates,), name


def test_progress_callback_sees_every_update():
    seen = []
    train = jax.jit(make_train(TINY, progress=lambda update, metrics: seen.append(update)))
    jax.block_until_ready(train(jax.random.key(7)))
    assert seen == list(range(TINY.num_updates))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_minibatches": 3}, r"does not split into num_minibatches=3.*dividing 64"),
        ({"env_id": "CartPole-v9"}, r"Unknown environment id 'CartPole-v9'"),
        ({"learning_rate": -1e-3}, r"learning_rate must be > 0, got -0.001"),
        ({"env_id": "Pendulum-v1", "policy_head": "categorical"}, r"use policy_head='gaussian'"),
        ({"gae_lambda": 1.5}, r"gae_lambda must be in \[0, 1\], got 1.5"),
        ({"total_steps": 10}, r"less than one update"),
    ],
)
def test_invalid_config_fails_before_compilation_with_a_fix(changes, message):
    config = dataclasses.replace(TINY, **changes)
    with pytest.raises(ValueError, match=message):
        make_train(config)
