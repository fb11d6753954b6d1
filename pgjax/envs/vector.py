"""A batch of gymnax environments stepped together, and the static facts about one.

`VecEnv(env_id, num_envs)` has `reset(key)` and `step(key, state, action)` over `num_envs`
copies of a gymnax environment, pure and jittable, with gymnax 1.x semantics: `step` returns
`(obs, state, reward, terminated, truncated, info)`, auto-resets finished environments, and
`info["final_observation"]` holds the true last observation of an episode that ended at this
step (what a truncated step must be bootstrapped from).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from pgjax.envs.partial import PARTIALLY_OBSERVABLE


class EnvSpec(NamedTuple):
    """Static facts about an environment that networks and configs need (no device arrays, so
    reading them never starts JAX's backend)."""

    env_id: str
    observation_shape: tuple[int, ...]
    discrete: bool
    action_dim: int  # number of actions (discrete) or action dimensions (continuous)
    action_low: np.ndarray | None  # [action_dim] float32; None for discrete actions
    action_high: np.ndarray | None
    max_episode_steps: int


def _make(env_id: str):
    if env_id not in gymnax.registered_envs and env_id not in PARTIALLY_OBSERVABLE:
        raise ValueError(
            f"Unknown environment id {env_id!r}. Registered gymnax environments: "
            f"{', '.join(gymnax.registered_envs)}; partially observable ones (pgjax.envs."
            f"partial): {', '.join(PARTIALLY_OBSERVABLE)}."
        )
    try:
        if env_id in PARTIALLY_OBSERVABLE:
            return PARTIALLY_OBSERVABLE[env_id]()
        return gymnax.make(env_id)
    except Exception as error:  # e.g. an environment that downloads a data set, offline
        raise ValueError(
            f"gymnax could not build {env_id!r} ({type(error).__name__}: {error})."
        ) from error


@functools.cache
def env_spec(env_id: str) -> EnvSpec:
    """Reads an environment's spaces without building anything jitted.

    Raises:
      ValueError: an unknown `env_id` (listing the registered ones), or one gymnax cannot build.
    """
    env, params = _make(env_id)
    action_space = env.action_space(params)
    observation_shape = tuple(env.observation_space(params).shape)
    steps = int(params.max_steps_in_episode)
    if isinstance(action_space, spaces.Discrete):
        return EnvSpec(env_id, observation_shape, True, int(action_space.n), None, None, steps)
    if not isinstance(action_space, spaces.Box):
        raise ValueError(
            f"{env_id} has a {type(action_space).__name__} action space; pgjax supports "
            "Discrete and Box action spaces."
        )
    action_dim = int(action_space.shape[0]) if action_space.shape else 1
    bounds = [
        np.broadcast_to(np.asarray(b, np.float32), (action_dim,)).copy()
        for b in (action_space.low, action_space.high)
    ]
    return EnvSpec(env_id, observation_shape, False, action_dim, *bounds, steps)


class VecEnv:
    """`num_envs` copies of a gymnax environment stepped together with `vmap`."""

    def __init__(self, env_id: str, num_envs: int):
        self.spec = env_spec(env_id)
        self.num_envs = num_envs
        self._env, self._params = _make(env_id)

    def reset(self, key: jax.Array):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self._env.reset, in_axes=(0, None))(keys, self._params)

    def step(self, key: jax.Array, state, action: jax.Array):
        keys = jax.random.split(key, self.num_envs)
        if not self.spec.discrete and self.spec.action_dim == 1 and action.ndim == 2:
            # gymnax's one-dimensional control tasks take a scalar action per environment.
            action = action[:, 0]
        obs, state, reward, terminated, truncated, info = jax.vmap(
            self._env.step, in_axes=(0, 0, 0, None)
        )(keys, state, action, self._params)
        info = {"final_observation": info["final_observation"]}
        return obs, state, reward.astype(jnp.float32), terminated, truncated, info
