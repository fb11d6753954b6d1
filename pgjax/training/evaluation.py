"""Evaluating a trained policy: full episodes in fresh environments, all on the device."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.envs import ClipAction, EpisodeStatistics, VecEnv, env_spec
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config


def make_evaluate(
    algorithm: Algorithm, config: Config, num_episodes: int, deterministic: bool = True
):
    """Returns `evaluate(state, key) -> [num_episodes]` undiscounted returns.

    Runs `num_episodes` fresh environments in parallel for one full episode each (up to the time
    limit), acting with `algorithm.act` on the run's `state`: the policy's mode
    (`deterministic`) or samples. Rewards are the environment's own (no scaling).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}.")
    spec = env_spec(config.env_id)
    env = EpisodeStatistics(VecEnv(config.env_id, num_episodes))
    if not spec.discrete:
        env = ClipAction(env)

    def evaluate(state, key: jax.Array) -> jax.Array:
        def step(carry, step_key):
            env_state, obs, returns, finished = carry
            action_key, env_key = jax.random.split(step_key)
            action = algorithm.act(config, state, obs, action_key, deterministic)
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


def evaluate_runs(
    algorithm: Algorithm,
    config: Config,
    states,
    key: jax.Array,
    num_episodes: int,
    deterministic: bool = True,
) -> jax.Array:
    """`make_evaluate` over the leading run axis of `states` (as `vmap` or the driver made them).

    Returns:
      `[num_runs, num_episodes]` undiscounted returns.
    """
    evaluate = make_evaluate(algorithm, config, num_episodes, deterministic)
    num_runs = jax.tree.leaves(states)[0].shape[0]
    return jax.jit(jax.vmap(evaluate))(states, jax.random.split(key, num_runs))
