"""XLand-MiniGrid (`xminigrid`): procedurally generated grid worlds, ids `xminigrid/NAME`.

Why XLand-MiniGrid rather than navix: it installs three packages into an environment with
jax 0.10 (navix 0.7 pulls in wandb, rlax, black, pylint and about thirty more), its step
reports termination and truncation apart (`discount` 0 at a goal, 1 at the time limit), and its
MiniGrid tasks are regenerated at every reset (room layouts, doors, keys and goals drawn from
the key) without any download. The XLand tasks proper sample rules from a benchmark file that
is downloaded, so the adapter offers the MiniGrid ones.

Observations are the agent's symbolic egocentric view, `[view, view, 2]` uint8 (tile id, colour
id), not pixels: the MLPs flatten it to `view · view · 2` numbers, as they do MinAtar's grids.
Pixel observations (xminigrid's RGB wrapper) are refused rather than fed to an MLP.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import xminigrid
from xminigrid.types import StepType

from pgjax.envs.base import SUITES, EnvSpec, unknown_environment


def _make(env_id: str, name: str):
    if name not in SUITES["xminigrid"].names:
        raise unknown_environment(env_id, SUITES["xminigrid"].names)
    return xminigrid.make(name)


def spec(env_id: str, name: str) -> EnvSpec:
    """The view shape, the number of actions and the time limit of a MiniGrid task."""
    env, params = _make(env_id, name)
    shape = env.observation_shape(params)
    if not isinstance(shape, tuple) or len(shape) != 3 or shape[-1] != 2:
        raise ValueError(
            f"{env_id} observes {shape}, not the symbolic [view, view, 2] grid; pgjax's MLPs "
            "take symbolic grids, not images."
        )
    return EnvSpec(
        env_id,
        tuple(int(s) for s in shape),
        True,
        int(env.num_actions(params)),
        None,
        None,
        int(params.max_steps),
        "uint8",
    )


class XMiniGridEnv:
    """`num_envs` copies of a MiniGrid task stepped with `vmap`, reset from a fresh key when an
    episode ends (each episode a newly generated grid)."""

    def __init__(self, spec: EnvSpec, name: str, num_envs: int):
        self.spec = spec
        self.num_envs = num_envs
        self._env, self._params = _make(spec.env_id, name)

    def reset(self, key: jax.Array):
        timestep = jax.vmap(self._env.reset, in_axes=(None, 0))(
            self._params, jax.random.split(key, self.num_envs)
        )
        return timestep.observation, timestep

    def _step_one(self, key, timestep, action):
        stepped = self._env.step(self._params, timestep, action)
        last = stepped.step_type == StepType.LAST
        # xminigrid sets discount 0 on reaching the goal and leaves it 1 at the time limit
        # (`step_num == max_steps`); a goal reached on the last step is a termination.
        terminated = last & (stepped.discount == 0)
        truncated = last & ~terminated
        fresh = self._env.reset(self._params, key)
        restarted = jax.tree.map(lambda new, old: jnp.where(last, new, old), fresh, stepped)
        return restarted, stepped.observation, stepped.reward, terminated, truncated

    def step(self, key: jax.Array, state, action: jax.Array):
        keys = jax.random.split(key, self.num_envs)
        timestep, final_obs, reward, terminated, truncated = jax.vmap(self._step_one)(
            keys, state, action
        )
        info = {"final_observation": final_obs}
        return (
            timestep.observation,
            timestep,
            reward.astype(jnp.float32),
            terminated,
            truncated,
            info,
        )


def make(spec: EnvSpec, name: str, num_envs: int) -> XMiniGridEnv:
    """`num_envs` copies of the environment `name` of this suite, with its `spec` (what
    `pgjax.envs.VecEnv` calls for an id of this suite)."""
    return XMiniGridEnv(spec, name, num_envs)
