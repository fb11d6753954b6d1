"""Wrappers over a `VecEnv`, and `make_env`, which stacks the ones a config asks for.

Innermost first: episode statistics (raw rewards), action clipping (continuous actions),
observation normalisation, reward scaling. Normalisation statistics are shared by all
environments of the batch and live in the environment state, so they are part of a training
state, checkpointed and resumed with it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from pgjax.envs.vector import VecEnv


class Wrapper:
    """Base class: forwards `spec` and `num_envs` to the wrapped environment."""

    def __init__(self, env):
        self.env = env
        self.spec = env.spec
        self.num_envs = env.num_envs


@struct.dataclass
class EpisodeStatisticsState:
    """The wrapped state and each environment's running episode return and length `[N]`."""

    env_state: Any
    episode_return: jax.Array  # [N] return of the running episode so far
    episode_length: jax.Array  # [N]


class EpisodeStatistics(Wrapper):
    """Adds `info["episode_return"]`, `info["episode_length"]` (of the episode that ended at
    this step, 0 elsewhere) and `info["episode_done"]`, computed from the raw rewards."""

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        zeros = jnp.zeros(self.num_envs, jnp.float32)
        return obs, EpisodeStatisticsState(env_state, zeros, zeros.astype(jnp.int32))

    def step(self, key, state, action):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action
        )
        done = terminated | truncated
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        info = {
            **info,
            "episode_done": done,
            "episode_return": jnp.where(done, episode_return, 0.0),
            "episode_length": jnp.where(done, episode_length, 0),
        }
        state = EpisodeStatisticsState(
            env_state,
            jnp.where(done, 0.0, episode_return),
            jnp.where(done, 0, episode_length),
        )
        return obs, state, reward, terminated, truncated, info


class ClipAction(Wrapper):
    """Clips continuous actions into the action space's bounds before the environment sees
    them; the agent's own (unclipped) action is what its log-probability refers to."""

    def reset(self, key):
        return self.env.reset(key)

    def step(self, key, state, action):
        action = jnp.clip(action, self.spec.action_low, self.spec.action_high)
        return self.env.step(key, state, action)


@struct.dataclass
class RunningMoments:
    """Running mean and variance, merged batch by batch (Chan et al., 1979)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape) -> RunningMoments:
        return cls(jnp.zeros(shape), jnp.ones(shape), jnp.asarray(1e-4))

    def update(self, batch: jax.Array) -> RunningMoments:
        batch_mean, batch_var, batch_count = batch.mean(0), batch.var(0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count
        m2 = m2 + jnp.square(delta) * self.count * batch_count / total
        return RunningMoments(mean, m2 / total, total)


def normalize_observation(moments: RunningMoments, obs: jax.Array, clip=10.0) -> jax.Array:
    """(obs − mean) / sqrt(var + 1e-8), clipped to ±`clip`."""
    return jnp.clip((obs - moments.mean) / jnp.sqrt(moments.var + 1e-8), -clip, clip)


@struct.dataclass
class NormalizeObservationState:
    """The wrapped state and the running moments of the observations."""

    env_state: Any
    moments: RunningMoments


class NormalizeObservation(Wrapper):
    """Standardises observations with running statistics over all environments. The final
    observation of an ended episode is normalised with the same statistics as the rest of the
    step, so the value it is bootstrapped from is on the same scale."""

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        moments = RunningMoments.create(obs.shape[1:]).update(obs)
        return normalize_observation(moments, obs), NormalizeObservationState(env_state, moments)

    def step(self, key, state, action):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action
        )
        moments = state.moments.update(obs)
        info = {
            **info,
            "final_observation": normalize_observation(moments, info["final_observation"]),
        }
        state = NormalizeObservationState(env_state, moments)
        return normalize_observation(moments, obs), state, reward, terminated, truncated, info


@struct.dataclass
class ScaleRewardState:
    """The wrapped state, each environment's running discounted return `[N]` and its moments."""

    env_state: Any
    discounted_return: jax.Array  # [N]
    moments: RunningMoments


class ScaleReward(Wrapper):
    """Divides rewards by the running std of the discounted return (as in OpenAI Baselines'
    VecNormalize; Engstrom et al., 2020). `gamma` may be a traced hyperparameter."""

    def __init__(self, env, gamma):
        super().__init__(env)
        self.gamma = gamma

    def reset(self, key):
        obs, env_state = self.env.reset(key)
        zeros = jnp.zeros(self.num_envs)
        return obs, ScaleRewardState(env_state, zeros, RunningMoments.create(()))

    def step(self, key, state, action):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action
        )
        discounted_return = state.discounted_return * self.gamma + reward
        moments = state.moments.update(discounted_return)
        reward = reward / jnp.sqrt(moments.var + 1e-8)
        discounted_return = jnp.where(terminated | truncated, 0.0, discounted_return)
        state = ScaleRewardState(env_state, discounted_return, moments)
        return obs, state, reward, terminated, truncated, info


def make_env(
    env_id: str,
    num_envs: int,
    *,
    normalize_observations: bool = False,
    scale_rewards: bool = False,
    gamma=0.99,
    clip_actions: bool = True,
):
    """Builds the wrapped, vectorised environment.

    Args:
      env_id: a gymnax id (`"CartPole-v1"`, `"Breakout-MinAtar"`) or a suite's
        (`"brax/ant"`, `"xminigrid/MiniGrid-Empty-5x5"`, `"jumanji/Maze-v0"`; see `list_envs`).
      num_envs: static int, environments stepped in parallel.
      normalize_observations: standardise observations with running statistics.
      scale_rewards: divide rewards by the running std of the discounted return.
      gamma: the discount used by reward scaling (may be traced).
      clip_actions: clip continuous actions into the action space's bounds (`ClipAction`);
        false for a policy whose actions lie inside them already (tanh-squashed, Beta).

    Returns:
      an environment with `reset(key) -> (obs [N, *obs_shape], state)` and
      `step(key, state, action [N, ...]) -> (obs, state, reward [N], terminated [N],
      truncated [N], info)`.
    """
    env = EpisodeStatistics(VecEnv(env_id, num_envs))
    if clip_actions and not env.spec.discrete:
        env = ClipAction(env)
    if normalize_observations:
        env = NormalizeObservation(env)
    if scale_rewards:
        env = ScaleReward(env, gamma)
    return env


def action_mask(state) -> jax.Array | None:
    """The valid-action mask `[N, num_actions]` bool of the current observations inside a wrapped
    state, for environments whose spec has `action_mask` (Jumanji); None for the others. After
    `step` it equals `info["action_mask"]`; after `reset` it is the only place to read it."""
    while state is not None:
        mask = getattr(state, "action_mask", None)
        if mask is not None:
            return mask
        state = getattr(state, "env_state", None)
    return None


def observation_moments(state) -> RunningMoments | None:
    """The observation-normalisation statistics inside a wrapped state, if there are any (what a
    saved policy needs to see observations as it did in training)."""
    while state is not None:
        if isinstance(state, NormalizeObservationState):
            return state.moments
        state = getattr(state, "env_state", None)
    return None
