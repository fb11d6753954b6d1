"""A task with many invalid actions, for invalid-action masking, in gymnax's interface.

    "CellSelect-pgjax"          8×8 cell selection: 64 actions, at most 4 valid in any state;
                                the valid-action mask is exposed (`EnvSpec.action_mask`).
    "CellSelect-penalty-pgjax"  the same task without a mask: an invalid action costs
                                `INVALID_PENALTY` (`InvalidActionPenalty`), the alternative to
                                masking that Huang & Ontañón (2020) compare it with.

`pgjax.envs.env_spec` and `make_env` find them by these ids like any gymnax id. A gymnax-style
environment exposes its valid actions by an `action_mask(state, params) -> [A] bool` method;
the gymnax adapter then sets the spec's `action_mask` and returns `info["action_mask"]`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct

# The penalty variant's cost of an invalid action: a tenth of the largest reward, one of the
# values Huang & Ontañón (2020, arXiv 2006.14171) try.
INVALID_PENALTY = 0.1


@struct.dataclass
class CellSelectParams:
    """The time limit T (gymnax's field name, read by the adapter for the spec)."""

    max_steps_in_episode: int = 32


@struct.dataclass
class CellSelectState:
    """Cells are numbered row-major, `row · size + column`; the goal is the last one."""

    agent: jax.Array  # int32, the agent's cell
    time: jax.Array  # int32, steps taken in the episode


class CellSelect:
    r"""Reach the far corner of a `size × size` grid by selecting, each step, the cell to move
    to.

    Actions: one per cell, `size²` of them (64 at the default size 8). An action is valid when
    its cell is a 4-neighbour of the agent's (2 to 4 valid actions in every state, so at least
    60 of 64 are invalid); the agent moves there. An invalid action (any other cell, the
    agent's own included, or an index outside [0, size²)) is a no-op: the agent stays, the
    step counts.

    Reward: on reaching the goal at step t (counted from 1), :math:`1 - 0.9\,t/T`, as
    MiniGrid's; 0 on every other step. The episode terminates at the goal and is truncated
    after T steps (`max_steps_in_episode`, default 32).

    Start: the agent on a uniform cell other than the goal, the bottom-right corner (cell
    size² − 1). Observation: the one-hot vector of the agent's cell, float32 `[size²]`.

    Optimum: the shortest path, t = d, the Manhattan distance to the corner, so the optimal
    expected return is :math:`1 - 0.9\, E[d] / T`; on an 8×8 grid E[d] = 2 · 3.5 · 64/63 =
    448/63 over the 63 starts, hence 1 − 0.9 · (448/63) / 32 = 0.8 exactly. Under masking the
    best policy needs no observation (prefer the cells nearer the corner, wherever the agent
    is); without it the policy must also learn which 2 to 4 of the 64 cells are next to each of
    the 63 cells. A policy uniform over all 64 actions moves on about 5% of its steps and almost
    never arrives; one uniform over the valid actions (a random walk) sometimes does.
    """

    def __init__(self, size: int = 8):
        self.size = size
        self.num_cells = size * size

    @property
    def default_params(self) -> CellSelectParams:
        return CellSelectParams()

    def action_mask(self, state: CellSelectState, params=None) -> jax.Array:
        """`[size²]` bool, True for the cells next to the agent's (the valid actions)."""
        cells = jnp.arange(self.num_cells)
        row, column = jnp.divmod(state.agent, self.size)
        distance = jnp.abs(cells // self.size - row) + jnp.abs(cells % self.size - column)
        return distance == 1

    def observation(self, state: CellSelectState) -> jax.Array:
        return jax.nn.one_hot(state.agent, self.num_cells, dtype=jnp.float32)

    def reset(self, key: jax.Array, params: CellSelectParams | None = None):
        """`(obs [size²], state)`: the agent on a uniform cell other than the goal's."""
        agent = jax.random.randint(key, (), 0, self.num_cells - 1, dtype=jnp.int32)
        state = CellSelectState(agent, jnp.int32(0))
        return self.observation(state), state

    def step(self, key, state: CellSelectState, action, params: CellSelectParams | None = None):
        """gymnax 1.x's step: `(obs, state, reward, terminated, truncated, info)`, reset
        automatically after an episode ends, `info["final_observation"]` its last observation."""
        params = self.default_params if params is None else params
        action = jnp.asarray(action, jnp.int32)
        inside = (action >= 0) & (action < self.num_cells)
        valid = inside & self.action_mask(state)[jnp.clip(action, 0, self.num_cells - 1)]
        agent = jnp.where(valid, action, state.agent)
        time = state.time + 1
        terminated = agent == self.num_cells - 1
        truncated = (time >= params.max_steps_in_episode) & ~terminated
        limit = jnp.float32(params.max_steps_in_episode)
        reward = jnp.where(terminated, 1.0 - 0.9 * time / limit, 0.0).astype(jnp.float32)
        stepped = CellSelectState(agent, time)
        final = self.observation(stepped)
        fresh_obs, fresh = self.reset(key, params)
        done = terminated | truncated
        state = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, stepped)
        obs = jnp.where(done, fresh_obs, final)
        return obs, state, reward, terminated, truncated, {"final_observation": final}

    def action_space(self, params=None):
        from gymnax.environments import spaces  # all of gymnax: only when a spec is read

        return spaces.Discrete(self.num_cells)

    def observation_space(self, params=None):
        from gymnax.environments import spaces

        return spaces.Box(0.0, 1.0, (self.num_cells,), jnp.float32)


class InvalidActionPenalty:
    """A gymnax-style environment with an `action_mask` method, without it: the policy is not
    told which actions are valid, and an invalid action's reward is lowered by `penalty`
    (the action stays the environment's own no-op or whatever it does with it)."""

    def __init__(self, env, penalty: float):
        self._env = env
        self.penalty = penalty

    @property
    def default_params(self):
        return self._env.default_params

    def reset(self, key, params=None):
        return self._env.reset(key, params)

    def step(self, key, state, action, params=None):
        mask = self._env.action_mask(state, params)
        num_actions = mask.shape[-1]
        inside = (action >= 0) & (action < num_actions)
        valid = inside & mask[jnp.clip(action, 0, num_actions - 1)]
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        reward = jnp.where(valid, reward, reward - self.penalty)
        return obs, state, reward, terminated, truncated, info

    def action_space(self, params=None):
        return self._env.action_space(params)

    def observation_space(self, params=None):
        return self._env.observation_space(params)


def _cell_select(penalty: float | None):
    def make():
        env = CellSelect()
        if penalty is not None:
            env = InvalidActionPenalty(env, penalty)
        return env, env.default_params

    return make


# id -> a function building `(env, params)` as `gymnax.make` does.
SELECTION_TASKS: dict[str, Callable[[], tuple]] = {
    "CellSelect-pgjax": _cell_select(None),
    "CellSelect-penalty-pgjax": _cell_select(INVALID_PENALTY),
}
