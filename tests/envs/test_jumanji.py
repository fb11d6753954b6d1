"""`pgjax.envs.jumanji`: Jumanji's tasks behind pgjax's interface, checked step by step against
Jumanji's own `step` (termination, the time limit relabelled as a truncation, the final
observation, the action mask passed through), truncation bootstrapped from the final
observation, and PPO learning Snake."""

from __future__ import annotations

import jax
import numpy as np
import pytest

jumanji = pytest.importorskip("jumanji")
from environments import check_truncation_is_bootstrapped  # noqa: E402

from pgjax.algorithms.ppo import PPOConfig, make_train  # noqa: E402
from pgjax.envs import EpisodeStatistics, action_mask, env_spec, make_env  # noqa: E402
from pgjax.envs.jumanji import JumanjiEnv, flatten_observation  # noqa: E402

KEY = jax.random.key(0)
N = 16


def _lockstep(num_steps: int):
    """pgjax's Maze-v0 and Jumanji's own (its registered time limit of 100 steps) from the same
    reset keys with the same uniformly random actions."""
    ours = make_env("jumanji/Maze-v0", N)
    env = jumanji.make("Maze-v0")

    @jax.jit
    def run():
        obs, state = ours.reset(KEY)
        their_state, timestep = jax.vmap(env.reset)(jax.random.split(KEY, N))
        first = (obs, action_mask(state), timestep.observation)

        def step(carry, key):
            state, their_state = carry
            action_key, env_key = jax.random.split(key)
            actions = jax.random.randint(action_key, (N,), 0, 4)
            obs, state, reward, terminated, truncated, info = ours.step(env_key, state, actions)
            their_state, timestep = jax.vmap(env.step)(their_state, actions)
            mine = (obs, reward, terminated, truncated, info["final_observation"])
            mine += (info["action_mask"], action_mask(state))
            theirs = (timestep.observation, timestep.reward, timestep.last(), timestep.discount)
            return (state, their_state), (mine, theirs)

        keys = jax.random.split(jax.random.key(1), num_steps)
        return first, jax.lax.scan(step, (state, their_state), keys)[1]

    first, (mine, theirs) = run()
    return first, jax.tree.map(np.asarray, mine), theirs


def test_maze_episodes_match_jumanji_and_its_time_limit_becomes_a_truncation():
    (obs0, mask0, their0), mine, theirs = _lockstep(100)
    _, reward, terminated, truncated, final, info_mask, state_mask = mine
    their_obs, their_reward, last, discount = theirs
    np.testing.assert_array_equal(obs0, flatten_observation(their0))
    np.testing.assert_array_equal(mask0, their0.action_mask)
    their_flat = np.asarray(flatten_observation(their_obs))
    last, discount = np.asarray(last), np.asarray(discount)
    for i in range(N):
        t = last[:, i].argmax()
        assert last[t, i]
        np.testing.assert_array_equal(final[: t + 1, i], their_flat[: t + 1, i])
        np.testing.assert_array_equal(reward[: t + 1, i], np.asarray(their_reward)[: t + 1, i])
        np.testing.assert_array_equal(info_mask[:t, i], np.asarray(their_obs.action_mask)[:t, i])
        assert not (terminated[:t, i] | truncated[:t, i]).any()
        # Jumanji ends the episode with discount 0 both at the target and at its time limit.
        assert discount[t, i] == 0
        at_limit = t == 99 and their_reward[t, i] == 0
        assert truncated[t, i] == at_limit and terminated[t, i] == (not at_limit)
    assert terminated.any() and truncated.any()
    # The mask in `info` and in the state is the one of the observation `step` returned.
    np.testing.assert_array_equal(info_mask, state_mask)


def test_truncated_steps_are_bootstrapped_from_the_final_observation():
    spec = env_spec("jumanji/Maze-v0")._replace(max_episode_steps=5)
    env = EpisodeStatistics(JumanjiEnv(spec, "Maze-v0", 8))
    assert check_truncation_is_bootstrapped(env, KEY, num_steps=12) > 0


def test_spec_flattens_the_observation_and_declares_the_mask():
    spec = env_spec("jumanji/Maze-v0")
    # agent (2) + target (2) + 10×10 walls + step count
    assert spec.observation_shape == (105,) and spec.discrete and spec.action_dim == 4
    assert spec.action_mask and spec.max_episode_steps == 100


def test_only_tasks_with_one_discrete_action_a_mask_and_a_time_limit_are_offered():
    with pytest.raises(ValueError, match=r"Unknown environment id 'jumanji/Game2048-v1'.*Maze-v0"):
        env_spec("jumanji/Game2048-v1")


# Measured (4 vmapped seeds, 2-core AMD EPYC, jax 0.10.2, jumanji 1.1.2): the mean training
# episode length of the last 10 updates was 54, 277, 208, 167 (median 188) when the policy
# ignored the action mask; in the first tenth of the updates, near a uniformly random policy,
# 13-22 (the snake turns into itself). With the mask (PPO acts on valid actions only): 1228,
# 1515, 1405, and one seed none of whose episodes ended in those 10 updates (160 steps per
# environment), which counts as longer than any. The median must clear 50.
@pytest.mark.learning
def test_ppo_learns_to_keep_the_snake_alive_on_the_cpu():
    config = PPOConfig.for_env(
        "jumanji/Snake-v1",
        total_steps=100_000,
        num_envs=64,
        num_steps=16,
        num_minibatches=4,
        learning_rate=1e-3,
    )
    keys = jax.random.split(jax.random.key(0), 4)
    _, metrics = jax.jit(jax.vmap(make_train(config)))(keys)
    recent = np.asarray(metrics["episode_length"])[:, -10:]
    ended = ~np.isnan(recent).all(axis=1)
    lengths = np.full(len(recent), np.inf)
    lengths[ended] = np.nanmean(recent[ended], axis=1)
    assert np.median(lengths) > 50.0, lengths
