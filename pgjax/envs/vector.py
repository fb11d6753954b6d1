"""A batch of environments of any suite stepped together, and the static facts about one.

`VecEnv(env_id, num_envs)` has `reset(key)` and `step(key, state, action)` over `num_envs`
copies of an environment, pure and jittable, with gymnax 1.x semantics whatever the suite:
`step` returns `(obs, state, reward, terminated, truncated, info)`, auto-resets finished
environments, and `info["final_observation"]` holds the true last observation of an episode that
ended at this step (what a truncated step must be bootstrapped from). `env_id` names the suite
(see `pgjax.envs.base`); the suite's adapter does the stepping.
"""

from __future__ import annotations

import functools

import jax

from pgjax.envs.base import EnvSpec, adapter


@functools.cache
def env_spec(env_id: str) -> EnvSpec:
    """Reads an environment's spaces without building anything jitted.

    Raises:
      ValueError: an unknown suite or `env_id` (listing the known ones), a suite that is not
        installed (with the pip command), or an environment pgjax cannot use.
    """
    module, name = adapter(env_id)
    return module.spec(env_id, name)


class VecEnv:
    """`num_envs` copies of the environment `env_id` stepped together (see the module)."""

    def __init__(self, env_id: str, num_envs: int):
        self.spec = env_spec(env_id)
        self.num_envs = num_envs
        module, name = adapter(env_id)
        self._env = module.make(self.spec, name, num_envs)

    def reset(self, key: jax.Array):
        return self._env.reset(key)

    def step(self, key: jax.Array, state, action: jax.Array):
        return self._env.step(key, state, action)
