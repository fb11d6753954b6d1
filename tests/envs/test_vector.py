"""`pgjax.envs.vector`: the static facts of an environment, and a batch of them stepped together
with gymnax 1.x semantics (auto-reset, the true final observation of an ended episode)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.envs import VecEnv, env_spec

KEY = jax.random.key(0, impl="rbg")


def test_spec_reads_discrete_and_continuous_spaces():
    cartpole = env_spec("CartPole-v1")
    assert cartpole.discrete and cartpole.action_dim == 2
    assert cartpole.observation_shape == (4,) and cartpole.max_episode_steps == 500
    pendulum = env_spec("Pendulum-v1")
    assert not pendulum.discrete and pendulum.action_dim == 1
    np.testing.assert_array_equal(pendulum.action_low, [-2.0])
    np.testing.assert_array_equal(pendulum.action_high, [2.0])


def test_unknown_environment_is_named_with_the_registered_ones():
    with pytest.raises(ValueError, match=r"Unknown environment id 'CartPole-v9'.*CartPole-v1"):
        env_spec("CartPole-v9")


def test_a_finished_episode_resets_and_reports_its_true_final_observation():
    env = VecEnv("CartPole-v1", 2)
    _, state = env.reset(KEY)

    def step(state, key):
        next_obs, state, _, terminated, truncated, info = env.step(
            key,
            state,
            jnp.zeros(2, jnp.int32),  # always push left: CartPole falls in ~10 steps
        )
        return state, (next_obs, terminated | truncated, info["final_observation"])

    _, (after, done, final) = jax.jit(
        lambda: jax.lax.scan(step, state, jax.random.split(KEY, 40))
    )()
    done = np.asarray(done)
    assert done.any(axis=0).all()
    # Where no episode ended, the final observation is the next one; where one ended, the next
    # observation is a reset state and the final one is where the pole fell.
    np.testing.assert_array_equal(np.asarray(final)[~done], np.asarray(after)[~done])
    fallen = np.abs(np.asarray(final)[done][:, 2]) > 0.2  # the pole angle limit, ≈0.21 rad
    assert fallen.all()
    assert (np.abs(np.asarray(after)[done]) <= 0.05).all()  # CartPole resets within ±0.05
