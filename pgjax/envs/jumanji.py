"""Jumanji: combinatorial and grid tasks with valid-action masks, ids `jumanji/NAME`.

The adapter offers Jumanji's single-agent tasks with one discrete action, a valid-action mask
and a time limit: Maze-v0, Snake-v1, PacMan-v1, SlidingTilePuzzle-v0.

Time limits. Jumanji ends these tasks at their time limit with `discount` 0, i.e. as a
termination, so a value would not be bootstrapped there. The adapter builds the task with a
time limit one step longer than the registered one, counts steps itself, and ends an episode
at the registered limit as a truncation; `discount` 0 before it is a termination.

Observations are Jumanji's structured observations (positions, grids, step counts) with every
field but `action_mask` flattened to float32 and concatenated, in the order of the fields.

Action masks. `info["action_mask"]` (`[N, num_actions]` bool) is the mask of the observation
`step` returns (after a reset, the new episode's); `pgjax.envs.action_mask(state)` reads the
current one from a (wrapped) state, e.g. after `reset`. Jumanji treats an invalid action as a
no-op (Maze) or ends the episode (Snake); the on-policy algorithms (PPO, A2C, REINFORCE, TRPO,
IMPALA) act on the valid actions only (`pgjax.training.rollout.collect_rollout`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jumanji
from flax import struct
from jumanji import specs

from pgjax.envs.base import SUITES, EnvSpec, unknown_environment


def _make(env_id: str, name: str):
    if name not in SUITES["jumanji"].names:
        raise unknown_environment(env_id, SUITES["jumanji"].names)
    # Jumanji's constructors compute their specs with jnp; under a trace (a VecEnv built inside
    # `jit`) they would be tracers, which its spec checks cannot branch on.
    with jax.ensure_compile_time_eval():
        limit = int(jumanji.make(name).time_limit)
        return jumanji.make(name, time_limit=limit + 1), limit


def flatten_observation(observation) -> jax.Array:
    """Every field of a Jumanji observation but `action_mask`, as one float32 vector
    `[*B, D]` (the fields' batch shape `B` is that of `action_mask` without its last axis)."""
    batch = observation.action_mask.shape[:-1]
    leaves = [
        jnp.asarray(leaf, jnp.float32).reshape((*batch, -1))
        for path, leaf in jax.tree_util.tree_flatten_with_path(observation)[0]
        if getattr(path[0], "name", None) != "action_mask"
    ]
    return jnp.concatenate(leaves, axis=-1)


def spec(env_id: str, name: str) -> EnvSpec:
    """The flattened observation size, the number of actions and the registered time limit."""
    env, limit = _make(env_id, name)
    if not isinstance(env.action_spec, specs.DiscreteArray):
        raise ValueError(f"{env_id} has a {type(env.action_spec).__name__} action space.")
    flat = jax.eval_shape(
        lambda key: flatten_observation(env.reset(key)[1].observation), jax.random.key(0)
    )
    size = flat.shape[-1]
    return EnvSpec(
        env_id,
        (int(size),),
        True,
        int(env.action_spec.num_values),
        None,
        None,
        limit,
        "float32",
        action_mask=True,
    )


@struct.dataclass
class JumanjiState:
    """The adapter's state: Jumanji's own, the step count of each running episode and the
    valid actions of the current observation."""

    env_state: object  # [N]-batched Jumanji state
    steps: jax.Array  # [N] int32, steps taken in the running episode
    action_mask: jax.Array  # [N, num_actions] bool, valid actions in the current observation


class JumanjiEnv:
    """`num_envs` copies of a Jumanji task stepped with `vmap`, with the time limit and the
    automatic reset described in the module."""

    def __init__(self, spec: EnvSpec, name: str, num_envs: int):
        self.spec = spec
        self.num_envs = num_envs
        self._env, _ = _make(spec.env_id, name)

    def reset(self, key: jax.Array):
        state, timestep = jax.vmap(self._env.reset)(jax.random.split(key, self.num_envs))
        observation = timestep.observation
        steps = jnp.zeros(self.num_envs, jnp.int32)
        return flatten_observation(observation), JumanjiState(state, steps, observation.action_mask)

    def _step_one(self, key, state, steps, action):
        stepped, timestep = self._env.step(state, action)
        steps = steps + 1
        terminated = timestep.last() & (timestep.discount == 0)
        # Jumanji's own truncations (`discount` 1 at the last step) stay truncations.
        truncated = (timestep.last() | (steps >= self.spec.max_episode_steps)) & ~terminated
        done = terminated | truncated
        fresh, first = self._env.reset(key)
        restarted = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, stepped)
        observation = jax.tree.map(
            lambda new, old: jnp.where(done, new, old), first.observation, timestep.observation
        )
        return (
            restarted,
            jnp.where(done, 0, steps),
            observation,
            timestep.observation,
            timestep.reward,
            terminated,
            truncated,
        )

    def step(self, key: jax.Array, state: JumanjiState, action: jax.Array):
        keys = jax.random.split(key, self.num_envs)
        env_state, steps, observation, final, reward, terminated, truncated = jax.vmap(
            self._step_one
        )(keys, state.env_state, state.steps, action)
        mask = observation.action_mask
        info = {"final_observation": flatten_observation(final), "action_mask": mask}
        state = JumanjiState(env_state, steps, mask)
        obs = flatten_observation(observation)
        return obs, state, reward.astype(jnp.float32), terminated, truncated, info


def make(spec: EnvSpec, name: str, num_envs: int) -> JumanjiEnv:
    """`num_envs` copies of the environment `name` of this suite, with its `spec` (what
    `pgjax.envs.VecEnv` calls for an id of this suite)."""
    return JumanjiEnv(spec, name, num_envs)
