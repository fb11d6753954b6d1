"""`pgjax.envs.wrappers`: episode statistics in raw rewards, action clipping, running observation
and reward normalisation, against direct NumPy computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.envs import (
    ClipAction,
    EpisodeStatistics,
    RunningMoments,
    VecEnv,
    make_env,
    normalize_observation,
    observation_moments,
)

KEY = jax.random.key(0, impl="rbg")


def _rollout(env, num_steps, actions):
    """Steps `env` with `actions(t)`; returns the per-step outputs stacked on a time axis."""

    def step(carry, t):
        state, key = carry
        step_key, key = jax.random.split(key)
        obs, state, reward, terminated, truncated, info = env.step(step_key, state, actions(t))
        return (state, key), (obs, reward, terminated, truncated, info)

    obs, state = env.reset(KEY)
    (state, _), out = jax.lax.scan(step, (state, KEY), jnp.arange(num_steps))
    return obs, state, out


def test_running_moments_merged_batch_by_batch_equal_the_moments_of_all_data(rng):
    batches = rng.normal(3.0, 2.0, size=(5, 7, 3)).astype(np.float32)
    moments = RunningMoments.create((3,))
    for batch in batches:
        moments = moments.update(jnp.asarray(batch))
    data = batches.reshape(-1, 3).astype(np.float64)
    # The prior (mean 0, var 1, count 1e-4) weighs 1e-4 against 35 samples.
    np.testing.assert_allclose(moments.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(moments.var, data.var(0), rtol=1e-4)
    np.testing.assert_allclose(moments.count, 35 + 1e-4, rtol=1e-6)


def test_episode_statistics_report_raw_returns_and_lengths_of_finished_episodes():
    env = EpisodeStatistics(VecEnv("CartPole-v1", 3))
    _, _, (_, reward, terminated, truncated, info) = jax.jit(
        lambda: _rollout(env, 120, lambda t: jnp.zeros(3, jnp.int32))
    )()
    done = np.asarray(terminated | truncated)
    np.testing.assert_array_equal(info["episode_done"], done)
    reward = np.asarray(reward)
    for i in range(3):
        ends = np.nonzero(done[:, i])[0]
        starts = np.concatenate([[0], ends[:-1] + 1])
        for start, end in zip(starts, ends, strict=True):
            assert info["episode_length"][end, i] == end - start + 1
            episode = reward[start : end + 1, i]
            np.testing.assert_allclose(info["episode_return"][end, i], episode.sum())
        assert (np.asarray(info["episode_return"])[~done[:, i], i] == 0).all()


def test_actions_are_clipped_to_the_bounds_before_the_environment_sees_them():
    env = ClipAction(EpisodeStatistics(VecEnv("Pendulum-v1", 2)))
    _, state = env.reset(KEY)
    huge = env.step(KEY, state, jnp.full((2, 1), 1e6))
    bound = env.step(KEY, state, jnp.full((2, 1), 2.0))  # Pendulum's maximum torque
    np.testing.assert_array_equal(huge[0], bound[0])
    np.testing.assert_array_equal(huge[2], bound[2])


def test_observation_normalisation_uses_the_statistics_including_the_current_step():
    env = make_env("Pendulum-v1", 4, normalize_observations=True)
    raw = EpisodeStatistics(VecEnv("Pendulum-v1", 4))
    first, state = env.reset(KEY)
    raw_first, raw_state = raw.reset(KEY)
    moments = RunningMoments.create((3,)).update(raw_first)
    np.testing.assert_allclose(first, normalize_observation(moments, raw_first), rtol=1e-5)
    action = jnp.full((4, 1), 0.5)
    obs, state, *_, info = env.step(KEY, state, action)
    raw_obs, *_, raw_info = raw.step(KEY, raw_state, action)
    moments = moments.update(raw_obs)
    np.testing.assert_allclose(obs, normalize_observation(moments, raw_obs), rtol=1e-5)
    np.testing.assert_allclose(
        info["final_observation"],
        normalize_observation(moments, raw_info["final_observation"]),
        rtol=1e-5,
    )
    found = observation_moments(state)
    np.testing.assert_allclose(found.mean, moments.mean, rtol=1e-6)
    assert observation_moments(raw_state) is None


def test_reward_scaling_divides_by_the_running_std_of_the_discounted_return():
    gamma = 0.9
    env = make_env("Pendulum-v1", 2, scale_rewards=True, gamma=gamma)
    raw = EpisodeStatistics(VecEnv("Pendulum-v1", 2))
    actions = lambda t: jnp.full((2, 1), jnp.sin(t / 7.0))  # noqa: E731
    _, _, (_, scaled, *_) = jax.jit(lambda: _rollout(env, 30, actions))()
    _, _, (_, reward, terminated, truncated, _) = jax.jit(lambda: _rollout(raw, 30, actions))()
    reward, done = np.asarray(reward, np.float64), np.asarray(terminated | truncated)
    returns, seen, prior = np.zeros(2), [], 1e-4  # the prior: mean 0, variance 1, count 1e-4
    for t in range(30):
        returns = returns * gamma + reward[t]
        seen.extend(returns)
        values = np.asarray(seen)
        mean = values.sum() / (prior + values.size)
        spread = prior * (1 + mean**2) + np.square(values - mean).sum()
        variance = spread / (prior + values.size)
        np.testing.assert_allclose(scaled[t], reward[t] / np.sqrt(variance + 1e-8), rtol=1e-3)
        returns = np.where(done[t], 0.0, returns)
