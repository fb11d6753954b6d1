"""Evaluating a trained policy: full episodes in fresh environments, all on the device."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.envs import ClipAction, EpisodeStatistics, RunningMoments, VecEnv, normalize_observation
from pgjax.training import make_network


def make_evaluate(config, num_episodes: int, deterministic: bool = True):
    """Returns `evaluate(key, params, obs_moments=None) -> [num_episodes]` undiscounted returns.

    Runs `num_episodes` environments in parallel for one full episode each (up to the time
    limit), acting with the policy's mode (`deterministic`) or by sampling. Observations are
    normalised with the training run's frozen statistics when `obs_moments` is given.
    """
    network, spec = make_network(config)
    env = EpisodeStatistics(VecEnv(config.env_id, num_episodes))
    if not spec.discrete:
        env = ClipAction(env)

    def evaluate(key, params, obs_moments: RunningMoments | None = None):
        def observe(obs):
            return obs if obs_moments is None else normalize_observation(obs_moments, obs)

        def step(carry, step_key):
            env_state, obs, returns, finished = carry
            action_key, env_key = jax.random.split(step_key)
            distribution = network.apply(params, observe(obs), method="policy")
            action = distribution.mode() if deterministic else distribution.sample(action_key)
            obs, env_state, _, _, _, info = env.step(env_key, env_state, action)
            first_end = info["episode_done"] & ~finished
            returns = jnp.where(first_end, info["episode_return"], returns)
            return (env_state, obs, returns, finished | info["episode_done"]), None

        reset_key, key = jax.random.split(key)
        obs, env_state = env.reset(reset_key)
        carry = (env_state, obs, jnp.zeros(num_episodes), jnp.zeros(num_episodes, bool))
        keys = jax.random.split(key, spec.max_episode_steps)
        (_, _, returns, _), _ = jax.lax.scan(step, carry, keys)
        return returns

    return evaluate


def evaluate_seeds(
    config, params, obs_moments, key: jax.Array, num_episodes: int, deterministic: bool = True
) -> jax.Array:
    """`make_evaluate` vmapped over a leading seed axis of `params` (and `obs_moments`).

    Returns:
      `[num_seeds, num_episodes]` undiscounted returns.
    """
    evaluate = make_evaluate(config, num_episodes, deterministic)
    num_seeds = jax.tree.leaves(params)[0].shape[0]
    in_axes = (0, 0, None if obs_moments is None else 0)
    keys = jax.random.split(key, num_seeds)
    return jax.jit(jax.vmap(evaluate, in_axes=in_axes))(keys, params, obs_moments)
