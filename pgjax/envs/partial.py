"""Partially observable tasks: what a feed-forward policy cannot solve and a recurrent one can.

    "CartPole-v1-masked"     CartPole-v1 showing (x, θ): the cart's and the pole's velocities
                             removed, so the policy must infer them from successive positions.
    "Pendulum-v1-masked"     Pendulum-v1 showing (cos θ, sin θ): the angular velocity removed.
    "MemoryChain-bsuite"     gymnax's bsuite memory chain (Osband et al., 2020): a bit shown at
                             the first step must be recalled 5 steps later (gymnax's own id).
    "MemoryChain-bsuite-20"  the same chain, recalled 20 steps later (see `MEMORY_LENGTH_LONG`).
    "ShortCorridor-pgjax"    Sutton & Barto's short corridor, every state aliased (`corridor`).

`pgjax.envs.env_spec` and `make_env` find them by these ids like any gymnax id. The masked tasks
are built with `MaskObservation`, which works on any gymnax environment with a flat
observation: `register_masked(env_id, keep, name)` adds others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from pgjax.envs import corridor

# bsuite's memory experiment (`memory_len`) grows exactly this length, the number of steps a bit
# must be held. 20 is four times gymnax's default of 5: no window of the last few observations
# (frame stacking) can hold the bit, so only a state carried through the episode solves it,
# while PPO with a GRU still learns it on a CPU in a few hundred thousand steps.
MEMORY_LENGTH_LONG = 20


class MaskObservation:
    """A gymnax environment that shows only the observation entries `keep` (a flat observation's
    indices); everything else (dynamics, rewards, time limit) is the wrapped one's. The final
    observation of an ended episode (`info["final_observation"]`) is masked the same way."""

    def __init__(self, env, keep: Sequence[int]):
        self._env = env
        self._keep = np.asarray(tuple(keep), np.int32)
        self._size = len(tuple(keep))

    def __getattr__(self, name):
        return getattr(self._env, name)

    @property
    def default_params(self):
        return self._env.default_params

    def reset(self, key, params=None):
        obs, state = self._env.reset(key, params)
        return obs[self._keep], state

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        info = {**info, "final_observation": info["final_observation"][self._keep]}
        return obs[self._keep], state, reward, terminated, truncated, info

    def observation_space(self, params):
        space = self._env.observation_space(params)
        # gymnax computes the bounds with jnp (traced inside a jitted caller's function).
        low = jnp.broadcast_to(space.low, space.shape)[self._keep]
        high = jnp.broadcast_to(space.high, space.shape)[self._keep]
        # Imported here: all of gymnax loads (≈1.5 s), which classic-control runs skip.
        from gymnax.environments import spaces

        return spaces.Box(low, high, (self._size,), space.dtype)

    def action_space(self, params=None):
        return self._env.action_space(params)


# id -> a function building `(env, params)` as `gymnax.make` does.
PARTIALLY_OBSERVABLE: dict[str, Callable[[], tuple]] = {}


def register_masked(name: str, env_id: str, keep: Sequence[int]) -> None:
    """Registers `name`: the gymnax environment `env_id` showing only the entries `keep`."""

    def make():
        import gymnax

        env, params = gymnax.make(env_id)
        return MaskObservation(env, keep), params

    PARTIALLY_OBSERVABLE[name] = make


def _memory_chain(memory_length: int):
    def make():
        import gymnax

        env, params = gymnax.make("MemoryChain-bsuite")
        return env, params.replace(memory_length=memory_length)

    return make


# CartPole's observation is (x, ẋ, θ, θ̇); Pendulum's (cos θ, sin θ, θ̇).
register_masked("CartPole-v1-masked", "CartPole-v1", (0, 2))
register_masked("Pendulum-v1-masked", "Pendulum-v1", (0, 1))
PARTIALLY_OBSERVABLE[f"MemoryChain-bsuite-{MEMORY_LENGTH_LONG}"] = _memory_chain(MEMORY_LENGTH_LONG)
PARTIALLY_OBSERVABLE[corridor.ENV_ID] = corridor.make
