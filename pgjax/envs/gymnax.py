"""gymnax (classic control, MinAtar, bsuite, ...): ids are gymnax's own names, without a prefix,
the partially observable tasks of `pgjax.envs.partial` built from them, and pgjax's own tasks in
gymnax's interface (`pgjax.envs.selection`, `pgjax.envs.point_mass`).

gymnax 1.x already has the interface's semantics (`step` returns `terminated` and `truncated`
apart, auto-resets, and reports `info["final_observation"]`); the adapter vectorises it. An
environment with an `action_mask(state, params) -> [A] bool` method has its valid actions
exposed: the spec's `action_mask` is True, `step` returns `info["action_mask"]` and the state
carries the current mask (`pgjax.envs.action_mask`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from pgjax.envs.base import EnvSpec, unknown_environment
from pgjax.envs.partial import PARTIALLY_OBSERVABLE
from pgjax.envs.point_mass import POINT_MASS
from pgjax.envs.selection import SELECTION_TASKS
from pgjax.imports import import_skipping_inits

# pgjax's tasks in gymnax's interface, by id: a function building `(env, params)`.
TASKS = {**PARTIALLY_OBSERVABLE, **SELECTION_TASKS, **POINT_MASS}

# gymnax's classic-control environments, which are loaded without gymnax's package
# `__init__`s: those import every environment gymnax has, Pong among them, which imports
# matplotlib.pyplot and seaborn (SciPy), and some build arrays at import. That was ≈1.5 s of
# a 5 s run to a solved CartPole.
_CLASSIC_CONTROL = {
    "CartPole-v1": "CartPole",
    "Acrobot-v1": "Acrobot",
    "Pendulum-v1": "Pendulum",
    "MountainCar-v0": "MountainCar",
    "MountainCarContinuous-v0": "ContinuousMountainCar",
}


def __getattr__(name: str):
    # `pgjax.envs.gymnax.gymnax`: the whole package, imported on first use.
    if name == "gymnax":
        return importlib.import_module("gymnax")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _gymnax_module(module: str):
    return import_skipping_inits(f"gymnax.environments.{module}", ("gymnax", "gymnax.environments"))


def names() -> tuple[str, ...]:
    """Every id of the suite: gymnax's registered environments, then pgjax's tasks."""
    return (*importlib.import_module("gymnax").registered_envs, *TASKS)


def _make(env_id: str):
    if env_id in _CLASSIC_CONTROL and "gymnax" not in sys.modules:
        env = getattr(_gymnax_module("classic_control"), _CLASSIC_CONTROL[env_id])()
        return env, env.default_params
    gymnax = importlib.import_module("gymnax")
    if env_id not in gymnax.registered_envs and env_id not in TASKS:
        raise unknown_environment(env_id, [*gymnax.registered_envs, *TASKS])
    try:
        if env_id in TASKS:
            return TASKS[env_id]()
        return gymnax.make(env_id)
    except Exception as error:  # e.g. an environment that downloads a data set, offline
        raise ValueError(
            f"gymnax could not build {env_id!r} ({type(error).__name__}: {error})."
        ) from error


def spec(env_id: str, name: str) -> EnvSpec:
    """The spec of a gymnax environment (Discrete and Box action spaces)."""
    env, params = _make(name)
    spaces = _gymnax_module("spaces")
    action_space = env.action_space(params)
    observation_space = env.observation_space(params)
    observation_shape = tuple(observation_space.shape)
    dtype = np.dtype(getattr(observation_space, "dtype", np.float32)).name
    steps = int(params.max_steps_in_episode)
    if isinstance(action_space, spaces.Discrete):
        masked = callable(getattr(env, "action_mask", None))
        return EnvSpec(
            env_id,
            observation_shape,
            True,
            int(action_space.n),
            None,
            None,
            steps,
            dtype,
            action_mask=masked,
        )
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
    return EnvSpec(env_id, observation_shape, False, action_dim, *bounds, steps, dtype)


@struct.dataclass
class MaskedState:
    """The state of an environment with an action mask: gymnax's own and the valid actions of
    the current observation."""

    env_state: Any  # [N]-batched gymnax state
    action_mask: jax.Array  # [N, num_actions] bool


class GymnaxEnv:
    """`num_envs` copies of a gymnax environment stepped together with `vmap`."""

    def __init__(self, spec: EnvSpec, name: str, num_envs: int):
        self.spec = spec
        self.num_envs = num_envs
        self._env, self._params = _make(name)

    def _masked(self, state) -> MaskedState:
        mask = jax.vmap(self._env.action_mask, in_axes=(0, None))(state, self._params)
        return MaskedState(state, mask)

    def reset(self, key: jax.Array):
        keys = jax.random.split(key, self.num_envs)
        obs, state = jax.vmap(self._env.reset, in_axes=(0, None))(keys, self._params)
        return obs, self._masked(state) if self.spec.action_mask else state

    def step(self, key: jax.Array, state, action: jax.Array):
        keys = jax.random.split(key, self.num_envs)
        if not self.spec.discrete and self.spec.action_dim == 1 and action.ndim == 2:
            # gymnax's one-dimensional control tasks take a scalar action per environment.
            action = action[:, 0]
        if self.spec.action_mask:
            state = state.env_state
        obs, state, reward, terminated, truncated, info = jax.vmap(
            self._env.step, in_axes=(0, 0, 0, None)
        )(keys, state, action, self._params)
        info = {"final_observation": info["final_observation"]}
        if self.spec.action_mask:
            state = self._masked(state)
            info["action_mask"] = state.action_mask
        return obs, state, reward.astype(jnp.float32), terminated, truncated, info


def make(spec: EnvSpec, name: str, num_envs: int) -> GymnaxEnv:
    """`num_envs` copies of the environment `name` of this suite, with its `spec` (what
    `pgjax.envs.VecEnv` calls for an id of this suite)."""
    return GymnaxEnv(spec, name, num_envs)
