"""Brax (`brax.envs`): continuous-control locomotion, ids `brax/NAME[:PIPELINE]`.

`brax/ant` steps Brax's Ant with the environment's default physics pipeline (generalized);
`brax/ant:positional`, `:spring` or `:mjx` choose another. The pipeline is part of the id, so
everything keyed on the id (specs, configs, checkpoints, evaluation) tells the pipelines apart.

Episodes last at most 1000 steps (Brax's `episode_length` default in `envs.create` and its
trainers). As in Brax's `EpisodeWrapper`, a step that reaches the limit without the task
terminating is a truncation (Brax's `state.info["truncation"]`), and one where the task
terminates is a termination. Unlike Brax's `AutoResetWrapper`, which returns every environment
to the first state it was ever reset to and keeps no final observation, the adapter resets an
ended episode from a fresh key and keeps the observation it ended on in
`info["final_observation"]`, so a truncated step is bootstrapped from V(final observation).
Actions are in [-1, 1]^A (what Brax's environments expect; its trainers squash with tanh).
"""

from __future__ import annotations

import warnings

import brax
import jax
import jax.numpy as jnp
import numpy as np
from brax import envs as brax_envs
from flax import struct

from pgjax.envs.base import SUITES, EnvSpec, unknown_environment

PIPELINES = ("generalized", "positional", "spring", "mjx")
EPISODE_LENGTH = 1000


def _parse(env_id: str, name: str) -> tuple[str, dict]:
    task, _, pipeline = name.partition(":")
    if task not in SUITES["brax"].names:
        raise unknown_environment(env_id, SUITES["brax"].names)
    if not pipeline:
        return task, {}
    if pipeline not in PIPELINES:
        raise ValueError(
            f"Unknown Brax pipeline {pipeline!r} in {env_id!r}; choose one of "
            f"{', '.join(PIPELINES)} (e.g. 'brax/{task}:positional'), or none for the default."
        )
    return task, {"backend": pipeline}


def _make(env_id: str, name: str):
    task, kwargs = _parse(env_id, name)
    try:
        with warnings.catch_warnings():
            # Brax 0.14 warns on every build that its pipelines are no longer maintained.
            warnings.filterwarnings("ignore", "Brax System, piplines", UserWarning)
            return brax_envs.get_environment(task, **kwargs)
    except Exception as error:  # e.g. MJX's own dependencies missing
        raise ValueError(
            f"brax {brax.__version__} could not build {env_id!r} ({type(error).__name__}: {error})."
        ) from error


def spec(env_id: str, name: str) -> EnvSpec:
    """Observation size, action size and the [-1, 1] bounds of a Brax environment."""
    env = _make(env_id, name)
    dim = int(env.action_size)
    ones = np.ones(dim, np.float32)
    return EnvSpec(
        env_id, (int(env.observation_size),), False, dim, -ones, ones, EPISODE_LENGTH, "float32"
    )


@struct.dataclass
class BraxState:
    """The adapter's state: Brax's own, and the step count of each running episode."""

    brax_state: brax_envs.State  # [N]-batched Brax state
    steps: jax.Array  # [N] int32, steps taken in the running episode


class BraxEnv:
    """`num_envs` copies of a Brax environment stepped with `vmap`, with a time limit of
    `EPISODE_LENGTH` steps and the automatic reset described in the module."""

    def __init__(self, spec: EnvSpec, name: str, num_envs: int):
        self.spec = spec
        self.num_envs = num_envs
        self._env = _make(spec.env_id, name)

    def reset(self, key: jax.Array):
        state = jax.vmap(self._env.reset)(jax.random.split(key, self.num_envs))
        return state.obs, BraxState(state, jnp.zeros(self.num_envs, jnp.int32))

    def _step_one(self, key, state, steps, action):
        stepped = self._env.step(state, action)
        steps = steps + 1
        terminated = stepped.done > 0
        truncated = (steps >= self.spec.max_episode_steps) & ~terminated
        done = terminated | truncated
        fresh = self._env.reset(key)
        # The physics state and observation restart; the stepped state's info and metrics keep
        # their structure (as in Brax's AutoResetWrapper), and no environment reads them back.
        restarted = stepped.replace(
            pipeline_state=jax.tree.map(
                lambda new, old: jnp.where(done, new, old),
                fresh.pipeline_state,
                stepped.pipeline_state,
            ),
            obs=jnp.where(done, fresh.obs, stepped.obs),
        )
        return (
            restarted,
            jnp.where(done, 0, steps),
            stepped.obs,
            stepped.reward,
            terminated,
            truncated,
        )

    def step(self, key: jax.Array, state: BraxState, action: jax.Array):
        keys = jax.random.split(key, self.num_envs)
        brax_state, steps, final_obs, reward, terminated, truncated = jax.vmap(self._step_one)(
            keys, state.brax_state, state.steps, action
        )
        info = {"final_observation": final_obs}
        obs = brax_state.obs
        return (
            obs,
            BraxState(brax_state, steps),
            reward.astype(jnp.float32),
            terminated,
            truncated,
            info,
        )


def make(spec: EnvSpec, name: str, num_envs: int) -> BraxEnv:
    """`num_envs` copies of the environment `name` of this suite, with its `spec` (what
    `pgjax.envs.VecEnv` calls for an id of this suite)."""
    return BraxEnv(spec, name, num_envs)
