"""The environment interface every suite's adapter implements, its static spec, and the registry
of suites.

An environment id is `NAME` for gymnax (`"CartPole-v1"`, today's names) and `SUITE/NAME` for
the other suites (`"brax/ant"`, `"xminigrid/MiniGrid-Empty-5x5"`, `"jumanji/Maze-v0"`). Brax
takes its physics pipeline after a colon (`"brax/ant:positional"`); without one, the
environment's own default (generalized).

Each suite's adapter module (`pgjax.envs.brax`, ...) imports its suite at the top and is imported
only when an id of that suite is used, so a suite that is not installed costs nothing until then,
and then fails with one line naming the pip command.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np


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
    observation_dtype: str = "float32"  # of one observation as the environment returns it
    # True when `step` returns `info["action_mask"]`: `[N, action_dim]` bool, the actions valid
    # in the observation it returns (see `pgjax.envs.action_mask` for the one after a reset).
    action_mask: bool = False


class Environment(Protocol):
    """What training code steps: `num_envs` copies of one environment, pure and jittable.

    `step` resets an environment whose episode ended at that step (the returned observation is
    then the new episode's first) and reports the true last observation of the ended episode in
    `info["final_observation"]` (elsewhere the returned observation): a truncated step is
    bootstrapped from it. `terminated` means the episode reached a terminal state (no
    bootstrap); `truncated` that a time limit cut it (bootstrap from the final observation);
    never both.
    """

    spec: EnvSpec
    num_envs: int

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """`(obs [N, *obs_shape], state)`."""
        ...

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> tuple:
        """`(obs [N, *obs_shape], state, reward [N] float32, terminated [N] bool,
        truncated [N] bool, info)`; `info["final_observation"]` `[N, *obs_shape]`."""
        ...


class Suite(NamedTuple):
    """One suite: its adapter module, the package it needs, and the extra that installs it."""

    name: str
    module: str  # the adapter, `pgjax.envs.<suite>`
    package: str  # the import name of the suite's own package
    extra: str | None  # `pip install 'pgjax[extra]'`; None when a core dependency
    prefix: str  # what an id of this suite starts with ("" for gymnax's bare names)
    names: tuple[str, ...]  # the environments pgjax offers (empty: the adapter's `names()`)


# The environments the adapters support, listed statically so `list_envs` works without the
# suite. Brax: every locomotion task of `brax.envs` 0.14. XLand-MiniGrid: the MiniGrid tasks
# (the XLand ones need a ruleset benchmark that downloads). Jumanji: its single-agent tasks with
# one discrete action, a valid-action mask and a time limit (which the adapter turns into a
# truncation, see `pgjax.envs.jumanji`).
_BRAX = (
    "ant",
    "fast",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_double_pendulum",
    "inverted_pendulum",
    "pusher",
    "reacher",
    "swimmer",
    "walker2d",
)
_XMINIGRID = (
    "MiniGrid-BlockedUnlockPickUp",
    "MiniGrid-DoorKey-5x5",
    "MiniGrid-DoorKey-6x6",
    "MiniGrid-DoorKey-8x8",
    "MiniGrid-DoorKey-16x16",
    "MiniGrid-Empty-5x5",
    "MiniGrid-Empty-6x6",
    "MiniGrid-Empty-8x8",
    "MiniGrid-Empty-16x16",
    "MiniGrid-EmptyRandom-5x5",
    "MiniGrid-EmptyRandom-6x6",
    "MiniGrid-EmptyRandom-8x8",
    "MiniGrid-EmptyRandom-16x16",
    "MiniGrid-FourRooms",
    "MiniGrid-LockedRoom",
    "MiniGrid-MemoryS8",
    "MiniGrid-MemoryS16",
    "MiniGrid-MemoryS32",
    "MiniGrid-MemoryS64",
    "MiniGrid-MemoryS128",
    "MiniGrid-Playground",
    "MiniGrid-Unlock",
    "MiniGrid-UnlockPickUp",
)
_JUMANJI = ("Maze-v0", "PacMan-v1", "SlidingTilePuzzle-v0", "Snake-v1")

SUITES: dict[str, Suite] = {
    "gymnax": Suite("gymnax", "pgjax.envs.gymnax", "gymnax", None, "", ()),
    "brax": Suite("brax", "pgjax.envs.brax", "brax", "brax", "brax/", _BRAX),
    "xminigrid": Suite(
        "xminigrid", "pgjax.envs.xminigrid", "xminigrid", "xminigrid", "xminigrid/", _XMINIGRID
    ),
    "jumanji": Suite("jumanji", "pgjax.envs.jumanji", "jumanji", "jumanji", "jumanji/", _JUMANJI),
}


def _suites_line() -> str:
    named = ", ".join(f"{s.prefix}NAME" if s.prefix else "NAME (gymnax)" for s in SUITES.values())
    return f"Environment ids are {named}; `pgjax envs` lists them."


def split_env_id(env_id: str) -> tuple[str, str]:
    """`(suite, name)` of an id: `"brax/ant"` → `("brax", "ant")`, `"CartPole-v1"` →
    `("gymnax", "CartPole-v1")`.

    Raises:
      ValueError: a prefix that names no suite (one line listing the suites).
    """
    if not isinstance(env_id, str):
        raise ValueError(f"An environment id is a string, got {env_id!r}. {_suites_line()}")
    if "/" not in env_id:
        return "gymnax", env_id
    suite, name = env_id.split("/", 1)
    if suite not in SUITES or suite == "gymnax":
        raise ValueError(f"Unknown environment suite {suite!r} in {env_id!r}. {_suites_line()}")
    return suite, name


def unknown_environment(env_id: str, names) -> ValueError:
    """The one-line error for an id its suite does not have."""
    suite, _ = split_env_id(env_id)
    return ValueError(
        f"Unknown environment id {env_id!r}. Registered {suite} environments: "
        f"{', '.join(names)}. {_suites_line()}"
    )


def installed(suite: str) -> bool:
    """Whether the suite's own package can be imported (without importing it)."""
    return importlib.util.find_spec(SUITES[suite].package) is not None


def adapter(env_id: str):
    """The adapter module of `env_id`'s suite and the name within it, importing the suite.

    Raises:
      ValueError: an unknown suite, or one that is not installed (with the pip command).
    """
    suite, name = split_env_id(env_id)
    if not installed(suite):
        extra = SUITES[suite].extra
        raise ValueError(
            f"{env_id!r} needs the {suite} suite, which is not installed: "
            f"pip install 'pgjax[{extra}]'."
        )
    return importlib.import_module(SUITES[suite].module), name


class EnvInfo(NamedTuple):
    """A row of `list_envs`."""

    suite: str
    env_id: str  # what `--env` takes
    installed: bool
    extra: str  # `pip install 'pgjax[extra]'` installs the suite ("" for gymnax: always there)


def list_envs(suite: str | None = None) -> list[EnvInfo]:
    """The environments pgjax can train on, with whether their suite is installed.

    Args:
      suite: one suite's name (`"gymnax"`, `"brax"`, `"xminigrid"`, `"jumanji"`) or None for all.

    Raises:
      ValueError: an unknown suite.
    """
    if suite is not None and suite not in SUITES:
        raise ValueError(
            f"Unknown environment suite {suite!r}; the suites are {', '.join(SUITES)}."
        )
    rows = []
    for record in SUITES.values():
        if suite is not None and record.name != suite:
            continue
        names = record.names or importlib.import_module(record.module).names()
        have = installed(record.name)
        rows += [EnvInfo(record.name, record.prefix + n, have, record.extra or "") for n in names]
    return rows
