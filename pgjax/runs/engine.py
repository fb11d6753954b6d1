"""What a session needs of an engine, and the parts the engines share.

An engine turns a run's initial state into chunks of updates: the compiled chunked loop
(`pgjax.runs.chunked`) and the asynchronous actor-learner runtime (`pgjax.runs.actor_learner`).
The session (`pgjax.runs.session`) owns everything around them (run directory, metrics,
checkpoints, stop requests, divergence, target stops, status) and drives either the same way:

    state = engine.prepare(seeds, hyperparams)          # compile; the initial state
    for chunk in engine.chunks(state, done, total, stop):
        ...                                             # record, check, checkpoint, stop
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.runs.signals import StopRequests


class Chunk(NamedTuple):
    """Updates `first` … `first + k − 1` of every run, as an engine hands them to the session.

    Attributes:
      state: every run's state after the chunk (leaves `[R, ...]`).
      first: the index of the chunk's first update.
      metrics: name ↦ `[R, k]` NumPy array.
      finite: `[R]` bool, whether each run's state is finite after the chunk.
    """

    state: Any
    first: int
    metrics: dict[str, np.ndarray]
    finite: np.ndarray


class Engine(Protocol):
    """Runs an algorithm's updates for a session.

    Attributes:
      compile_seconds: what `prepare` spent compiling.
    """

    compile_seconds: float

    def prepare(self, seeds: np.ndarray, hyperparams: dict | None) -> Any:
        """Compiles the engine's programs and returns every run's initial state."""

    def chunks(self, state, done: int, total: int, stop: StopRequests) -> Iterator[Chunk]:
        """Updates `done` … `total − 1` in chunks, ending early after a stop request. Closing
        the iterator drops whatever it had started beyond the chunk it last gave."""

    def metric_names(self, state) -> list[str]:
        """The metrics every update of the engine logs (metrics.csv's columns)."""

    def status(self) -> dict:
        """What status.json should add about the engine (devices, observed lag, …)."""


def all_finite(state) -> jax.Array:
    """True when every floating-point leaf of one run's state is finite (a scalar bool)."""
    leaves = [
        x
        for x in jax.tree.leaves(state)
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in leaves])) if leaves else True


def init_from_seed(algorithm, config):
    """One run's `init` keyed by `jax.random.key(seed)`, the key `make_train` is given."""
    return lambda seed, hp: algorithm.init(config, jax.random.key(seed), hp)


def next_chunk_length(done_in_last: int, seconds: float, target_seconds: float, most: int) -> int:
    """Updates for the next chunk so that it takes about `target_seconds`, from the rate of the
    last one (`done_in_last` updates in `seconds`), between 1 and `most`."""
    rate = done_in_last / max(seconds, 1e-6)
    return max(1, min(most, int(rate * target_seconds)))
