"""Rollout collection: `lax.scan` over time, the environment batch vectorised inside `step`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

import pgjax
from pgjax.envs import action_mask
from pgjax.training.networks import with_action_mask
from pgjax.training.parallel import shard_envs
from pgjax.training.recurrent import reset_carry, successor_values
from pgjax.training.types import EnvCarry, Transition


def collect_rollout(env, network, params, carry: EnvCarry, key: jax.Array, num_steps: int):
    """Acts for `num_steps` steps in every environment with the current policy.

    `next_value` is computed after the scan in one batched critic pass over the true successor
    observations (`info["final_observation"]`), so a truncated step is bootstrapped from the
    state the episode really reached, never from the state the environment reset to. In a
    data-parallel run (`pgjax.training.parallel.shard_envs`) each device steps its share of the
    environments.

    A recurrent policy (`carry.policy_carry` not None, `network` a `RecurrentActorCritic`)
    carries its state from step to step and resets it to zeros after every step where an
    episode ended, terminated or truncated (`pgjax.training.recurrent.reset_carry`, a
    selection). The transitions store the state each step acted from (`Transition.carry`); the
    successor's value uses the state the step reached, before the reset.

    An environment whose spec has `action_mask` (Jumanji, `"CellSelect-pgjax"`) has each step's
    policy restricted to the valid actions of its observation (`pgjax.envs.action_mask` of the
    state), so an invalid action is never taken, and the mask is stored with the step
    (`Transition.action_mask`) for the update to build the same distribution. Otherwise no mask
    is read or stored (`action_mask` None).

    Returns:
      `(carry, Transition)` with the transition fields `[num_steps, num_envs, ...]`.
    """
    recurrent = carry.policy_carry is not None
    masked = env.spec.action_mask
    if recurrent:
        fresh = jax.tree.map(jnp.zeros_like, carry.policy_carry)

    def step(carry: EnvCarry, step_key):
        action_key, env_key = jax.random.split(step_key)
        obs = shard_envs(carry.obs)
        if recurrent:
            reached, distribution, value = network.apply(params, carry.policy_carry, obs)
        else:
            reached, (distribution, value) = None, network.apply(params, obs)
        mask = shard_envs(action_mask(carry.env_state)) if masked else None
        distribution = with_action_mask(distribution, mask, "collect_rollout")
        action = distribution.sample(action_key)
        next_obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, carry.env_state, action
        )
        transition = Transition(
            obs=obs,
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
            carry=carry.policy_carry,
            action_mask=mask,
        )
        policy_carry = reset_carry(reached, info["episode_done"], fresh) if recurrent else None
        return EnvCarry(env_state, next_obs, policy_carry), (transition, reached)

    carry, (trajectory, reached) = jax.lax.scan(step, carry, jax.random.split(key, num_steps))
    trajectory = shard_envs(trajectory, axis=1)
    if recurrent:
        next_value = successor_values(network, params, reached, trajectory.next_obs)
    else:
        next_value = network.apply(params, trajectory.next_obs, method="value")
    return carry, trajectory._replace(next_value=next_value)


def trajectory_gae(trajectory: Transition, gamma, lambda_) -> tuple[jax.Array, jax.Array]:
    """`pgjax.gae` on a rollout: `(advantages, value_targets)`, each `[T, N]`, bootstrapped from
    `next_value` (V of the true successor) at time limits and at the end of the rollout."""
    return pgjax.gae(
        trajectory.reward,
        trajectory.value,
        trajectory.next_value,
        trajectory.terminated,
        trajectory.truncated,
        gamma,
        lambda_,
    )


def first_episode_mask(episode_done: jax.Array) -> jax.Array:
    """`[T, N]` bool, True on the steps of each environment's first episode in the buffer (up to
    and including the step it ends on): no episode ended before step t."""
    ended = jnp.cumsum(episode_done.astype(jnp.int32), axis=0)
    return ended - episode_done.astype(jnp.int32) == 0


def collect_episodes(env, network, params, key: jax.Array, num_steps: int, policy_carry=None):
    """One complete episode per environment, on the device with a fixed-size buffer.

    Resets every environment, acts for `num_steps` steps with `collect_rollout`, and masks each
    environment's steps after its first episode ended. With `num_steps` at least the time limit,
    every first episode is complete (it terminated, or was truncated by the time limit, with
    `next_value` = V(final observation) to bootstrap from). Which steps count depends on nothing
    but the episode itself, so the episodes are independent draws from π and REINFORCE's
    gradient over them is unbiased (unlike keeping every episode that happens to finish in a
    window, which favours short ones). The reset also restarts the running statistics of the
    normalisation wrappers, so use it on environments built without them. A recurrent policy
    starts every episode from `policy_carry`, its initial state (leaves `[num_envs, ...]`).

    Returns:
      `(carry, Transition, mask)`: the environments after the buffer, the
      `[num_steps, num_envs, ...]` transitions, and the `[num_steps, num_envs]` bool mask of
      the first episodes.
    """
    reset_key, key = jax.random.split(key)
    obs, env_state = env.reset(reset_key)
    carry, trajectory = collect_rollout(
        env, network, params, EnvCarry(env_state, obs, policy_carry), key, num_steps
    )
    return carry, trajectory, first_episode_mask(trajectory.episode_done)


def episode_metrics(trajectory: Transition, mask: jax.Array | None = None) -> dict[str, jax.Array]:
    """Mean return and length of the episodes that ended in this rollout (NaN if none did),
    and how many ended; with `mask`, only the episodes that ended on a masked-in step.
    Scalars: nothing here grows with the rollout."""
    done = trajectory.episode_done if mask is None else trajectory.episode_done & mask
    done = done.astype(jnp.float32)
    count = done.sum()
    mean = lambda x: jnp.where(count > 0, (x * done).sum() / jnp.maximum(count, 1.0), jnp.nan)  # noqa: E731
    return {
        "episode_return": mean(trajectory.episode_return),
        "episode_length": mean(trajectory.episode_length.astype(jnp.float32)),
        "episodes": count,
    }
