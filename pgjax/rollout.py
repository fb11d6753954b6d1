"""Rollout collection: `lax.scan` over time, the environment batch vectorised inside `step`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Transition(NamedTuple):
    """One rollout, every field time-major `[T, N, ...]`."""

    obs: jax.Array  # s_t
    action: jax.Array  # a_t
    log_prob: jax.Array  # log π_old(a_t | s_t)
    value: jax.Array  # V_old(s_t)
    reward: jax.Array  # r_t (after any reward scaling)
    terminated: jax.Array  # bool
    truncated: jax.Array  # bool
    next_obs: jax.Array  # true successor s'_t: the final observation when the episode ended
    next_value: jax.Array  # V_old(s'_t), what truncated and last steps bootstrap from
    episode_done: jax.Array  # bool, an episode ended at this step
    episode_return: jax.Array  # undiscounted raw return of that episode (0 elsewhere)
    episode_length: jax.Array


class EnvCarry(NamedTuple):
    """What persists between rollouts: the environments and the observations they show."""

    env_state: Any
    obs: jax.Array


def collect_rollout(env, network, params, carry: EnvCarry, key: jax.Array, num_steps: int):
    """Acts for `num_steps` steps in every environment with the current policy.

    `next_value` is computed after the scan in one batched critic pass over the true successor
    observations (`info["final_observation"]`), so a truncated step is bootstrapped from the
    state the episode really reached, never from the state the environment reset to.

    Returns:
      `(carry, Transition)` with the transition fields `[num_steps, num_envs, ...]`.
    """

    def step(carry: EnvCarry, step_key):
        action_key, env_key = jax.random.split(step_key)
        distribution, value = network.apply(params, carry.obs)
        action = distribution.sample(action_key)
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, carry.env_state, action
        )
        transition = Transition(
            obs=carry.obs,
            action=action,
            log_prob=distribution.log_prob(action),
            value=value,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            next_obs=info["final_observation"],
            next_value=jnp.zeros_like(value),
            episode_done=info["episode_done"],
            episode_return=info["episode_return"],
            episode_length=info["episode_length"],
        )
        return EnvCarry(env_state, obs), transition

    carry, trajectory = jax.lax.scan(step, carry, jax.random.split(key, num_steps))
    next_value = network.apply(params, trajectory.next_obs, method="value")
    return carry, trajectory._replace(next_value=next_value)


def episode_metrics(trajectory: Transition) -> dict[str, jax.Array]:
    """Mean return and length of the episodes that ended in this rollout (NaN if none did),
    and how many ended. Scalars: nothing here grows with the rollout."""
    done = trajectory.episode_done.astype(jnp.float32)
    count = done.sum()
    mean = lambda x: jnp.where(count > 0, (x * done).sum() / jnp.maximum(count, 1.0), jnp.nan)  # noqa: E731
    return {
        "episode_return": mean(trajectory.episode_return),
        "episode_length": mean(trajectory.episode_length.astype(jnp.float32)),
        "episodes": count,
    }
