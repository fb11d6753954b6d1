"""`pgjax.envs.xminigrid`: XLand-MiniGrid's MiniGrid tasks behind pgjax's interface, checked step
by step against xminigrid's own `step` (goal = termination, time limit = truncation, the final
observation), truncation bootstrapped from the final observation, and PPO learning a grid."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

xminigrid = pytest.importorskip("xminigrid")
from environments import check_truncation_is_bootstrapped  # noqa: E402
from xminigrid.types import StepType  # noqa: E402

from pgjax.algorithms.ppo import PPOConfig, make_train  # noqa: E402
from pgjax.envs import VecEnv, env_spec, make_env  # noqa: E402

KEY = jax.random.key(0)
N = 16
PICKUP = 3  # an action that never moves the agent: the episode can only be truncated


def _lockstep(name: str, num_steps: int, action: int | None):
    """pgjax's adapter and xminigrid's own reset/step from the same keys with the same actions
    (`action`, or uniformly random ones when None)."""
    ours = VecEnv(f"xminigrid/{name}", N)
    env, params = xminigrid.make(name)

    @jax.jit
    def run():
        obs, state = ours.reset(KEY)
        timestep = jax.vmap(env.reset, in_axes=(None, 0))(params, jax.random.split(KEY, N))

        def step(carry, key):
            state, timestep = carry
            action_key, env_key = jax.random.split(key)
            actions = (
                jax.random.randint(action_key, (N,), 0, 6)
                if action is None
                else jnp.full(N, action, jnp.int32)
            )
            obs, state, reward, terminated, truncated, info = ours.step(env_key, state, actions)
            timestep = jax.vmap(env.step, in_axes=(None, 0, 0))(params, timestep, actions)
            mine = (obs, reward, terminated, truncated, info["final_observation"])
            theirs = (timestep.observation, timestep.reward, timestep.step_type, timestep.discount)
            return (state, timestep), (mine, theirs)

        keys = jax.random.split(jax.random.key(1), num_steps)
        history = jax.lax.scan(step, (state, timestep), keys)[1]
        return obs, timestep.observation, history

    first, their_first, (mine, theirs) = run()
    np.testing.assert_array_equal(first, their_first)
    return jax.tree.map(np.asarray, mine), jax.tree.map(np.asarray, theirs)


def test_reaching_the_goal_is_a_termination_as_xminigrid_reports_it():
    (obs, reward, terminated, truncated, final), (their_obs, their_reward, kind, discount) = (
        _lockstep("MiniGrid-Empty-5x5", 100, action=None)
    )
    last = kind == StepType.LAST
    for i in range(N):
        t = last[:, i].argmax()
        assert last[t, i], "an episode did not end in 100 steps"
        assert terminated[t, i] == (discount[t, i] == 0)
        assert truncated[t, i] == (discount[t, i] == 1)
        assert not (terminated[:t, i] | truncated[:t, i]).any()
        np.testing.assert_array_equal(final[: t + 1, i], their_obs[: t + 1, i])
        np.testing.assert_array_equal(reward[: t + 1, i], their_reward[: t + 1, i])
        np.testing.assert_array_equal(obs[:t, i], their_obs[:t, i])
    assert terminated.any() and (reward[terminated] > 0).all()


def test_the_time_limit_is_a_truncation_as_xminigrid_reports_it():
    (_, _, terminated, truncated, final), (their_obs, _, kind, discount) = _lockstep(
        "MiniGrid-EmptyRandom-5x5", 100, action=PICKUP
    )
    limit = env_spec("xminigrid/MiniGrid-EmptyRandom-5x5").max_episode_steps
    assert limit == 100
    np.testing.assert_array_equal(kind[99], StepType.LAST)
    np.testing.assert_array_equal(discount[99], 1.0)
    assert truncated[99].all() and not truncated[:99].any() and not terminated.any()
    np.testing.assert_array_equal(final, their_obs)


def test_truncated_steps_are_bootstrapped_from_the_final_observation():
    env = make_env("xminigrid/MiniGrid-EmptyRandom-5x5", 8)
    assert check_truncation_is_bootstrapped(env, KEY, num_steps=110, action=PICKUP) == 8


def test_spec_is_the_symbolic_view_and_the_discrete_actions():
    spec = env_spec("xminigrid/MiniGrid-Empty-5x5")
    assert spec.observation_shape == (7, 7, 2) and spec.observation_dtype == "uint8"
    assert spec.discrete and spec.action_dim == 6 and not spec.action_mask


# Measured (4 vmapped seeds, 2-core AMD EPYC, jax 0.10.2, xminigrid 0.9.3): the mean training
# return of the last 10 updates was 0.955 for every seed, the optimum of Empty-5x5 (the goal in
# 5 steps: 1 − 0.9 · 5/100); in the first tenth of the updates, near a uniformly random policy,
# 0.56-0.67. The median must clear 0.85.
@pytest.mark.learning
def test_ppo_learns_the_empty_grid_on_the_cpu():
    config = PPOConfig.for_env(
        "xminigrid/MiniGrid-Empty-5x5",
        total_steps=40_000,
        num_envs=32,
        num_steps=32,
        num_minibatches=4,
        num_epochs=4,
    )
    keys = jax.random.split(jax.random.key(0), 4)
    _, metrics = jax.jit(jax.vmap(make_train(config)))(keys)
    returns = np.nanmean(np.asarray(metrics["episode_return"])[:, -10:], axis=1)
    assert np.median(returns) > 0.85, returns
