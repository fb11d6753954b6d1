"""`pgjax.envs.partial`: the masked tasks show exactly the kept entries of the full task's
observations (final observations included) and nothing else changes; the memory chains are
found by id, the longer one with its longer memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.envs import VecEnv, env_spec


@pytest.mark.parametrize(
    ("masked", "full", "keep"),
    [("CartPole-v1-masked", "CartPole-v1", [0, 2]), ("Pendulum-v1-masked", "Pendulum-v1", [0, 1])],
)
def test_a_masked_task_shows_the_kept_entries_of_the_full_tasks_observations(masked, full, keep):
    spec, full_spec = env_spec(masked), env_spec(full)
    assert spec.observation_shape == (len(keep),)
    assert spec._replace(env_id=full, observation_shape=full_spec.observation_shape) == full_spec
    steps = 230 if full == "Pendulum-v1" else 60  # past Pendulum's time limit of 200

    def rollout(env_id):
        env = VecEnv(env_id, 3)
        obs, state = env.reset(jax.random.key(0))
        spec = env_spec(env_id)

        def step(state, key):
            shape = (3,) if spec.discrete else (3, 1)
            action = jnp.zeros(shape, jnp.int32 if spec.discrete else jnp.float32)
            obs, state, reward, terminated, truncated, info = env.step(key, state, action)
            return state, (obs, reward, terminated | truncated, info["final_observation"])

        keys = jax.random.split(jax.random.key(1), steps)
        return obs, jax.lax.scan(step, state, keys)[1]

    (
        (obs, (seen, reward, done, final)),
        (obs_full, (seen_full, reward_full, done_full, final_full)),
    ) = (
        jax.jit(rollout, static_argnums=0)(masked),
        jax.jit(rollout, static_argnums=0)(full),
    )
    assert np.asarray(done).any()
    np.testing.assert_array_equal(obs, np.asarray(obs_full)[..., keep])
    np.testing.assert_array_equal(seen, np.asarray(seen_full)[..., keep])
    np.testing.assert_array_equal(final, np.asarray(final_full)[..., keep])
    np.testing.assert_array_equal(reward, reward_full)
    np.testing.assert_array_equal(done, done_full)


def test_the_memory_chains_are_found_by_id_and_the_long_one_ends_later():
    def episode_length(env_id):
        env = VecEnv(env_id, 2)
        _, state = env.reset(jax.random.key(0))

        def step(state, key):
            _, state, _, terminated, _, _ = env.step(key, state, jnp.zeros(2, int))
            return state, terminated

        keys = jax.random.split(jax.random.key(1), 40)
        terminated = np.asarray(jax.lax.scan(step, state, keys)[1])
        return int(np.argmax(terminated[:, 0])) + 1

    assert env_spec("MemoryChain-bsuite-20").observation_shape == (3,)
    assert episode_length("MemoryChain-bsuite") == 6
    assert episode_length("MemoryChain-bsuite-20") == 21


def test_an_unknown_id_lists_the_partially_observable_ones_too():
    with pytest.raises(ValueError, match=r"partially observable ones.*CartPole-v1-masked"):
        env_spec("CartPole-v1-hidden")
