"""The compiled engine: an algorithm's `update` run a chunk of updates at a time by one program.

`chunk(states, n)` applies `update` to every run (`vmap`, split across devices) n times, n ≤
`chunk_updates` chosen at run time so a chunk takes about `chunk_seconds` (the program's loop
skips its remaining steps), and reports whether every floating-point leaf of each run's state
is still finite. Chunking never changes the numbers: any split into chunks gives the bits of
`Algorithm.make_train`'s single scan.

The next chunk is dispatched before the session handles the last one (JAX dispatches
asynchronously), so metrics, checks and checkpoints overlap with device work. A chunk
dispatched before a divergence or the target was seen is dropped, never recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.runs import distributed
from pgjax.runs.engine import Chunk, all_finite, init_from_seed, next_chunk_length
from pgjax.runs.options import RunOptions
from pgjax.runs.signals import StopRequests
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config
from pgjax.training.parallel import across_devices


class Between(Protocol):
    """What runs between chunks and may change the state (population-based training,
    `pgjax.runs.pbt`): chunks end at its boundaries, and the next chunk starts from the state
    it returns. It must be a function of the state and the update count only, so that a resumed
    run computes what an uninterrupted one does."""

    def prepare(self, state) -> None:
        """Compiles its programs for states like `state`."""

    def next_boundary(self, done: int) -> int:
        """The first update count after `done` at which it must run."""

    def __call__(self, state, first: int, after: int) -> tuple[Any, dict[str, np.ndarray]]:
        """`(state, metrics)` after the chunk of updates `first` … `after − 1`: the state the
        next chunk starts from, and name ↦ `[R, after − first]` metrics it adds to the chunk."""

    def metric_names(self) -> list[str]:
        """The names of the metrics it adds."""


class CompiledEngine:
    """The chunked loop over an algorithm's compiled `update` (see the module docstring);
    `between`, when given, runs after each chunk (see `Between`)."""

    def __init__(
        self,
        algorithm: Algorithm,
        config: Config,
        num_runs: int,
        options: RunOptions,
        between: Between | None = None,
    ):
        self.algorithm, self.config, self.num_runs, self.options = (
            algorithm,
            config,
            num_runs,
            options,
        )
        self.between = between
        self.max_chunk = options.chunk_updates or min(config.num_updates, 512)
        self.compile_seconds = 0.0
        self._chunk = None

    def _chunk_fn(self):
        algorithm, config, max_chunk = self.algorithm, self.config, self.max_chunk

        def chunk(state, num_updates):
            # A while loop with a run-time trip count (≤ max_chunk) and the metrics written
            # into preallocated rows: the same loop body as `make_train`'s scan, so the same
            # bits, and chunks of any length from one compiled program.
            shapes = jax.eval_shape(lambda s: algorithm.update(config, s)[1], state)
            rows = jax.tree.map(lambda s: jnp.zeros((max_chunk, *s.shape), s.dtype), shapes)

            def step(i, carry):
                state, rows = carry
                state, metrics = algorithm.update(config, state)
                return state, jax.tree.map(lambda r, m: r.at[i].set(m), rows, metrics)

            state, rows = jax.lax.fori_loop(0, num_updates, step, (state, rows))
            return state, rows, all_finite(state)

        return chunk

    def prepare(self, seeds: np.ndarray, hyperparams: dict | None):
        spread = {"envs_devices": self.options.envs_devices}
        start = time.perf_counter()
        init = init_from_seed(self.algorithm, self.config)
        init = across_devices(init, self.num_runs, **spread).lower(seeds, hyperparams).compile()
        seconds = time.perf_counter() - start
        state = init(seeds, hyperparams)
        start = time.perf_counter()
        chunk = across_devices(self._chunk_fn(), self.num_runs, in_axes=(0, None), **spread)
        self._chunk = chunk.lower(state, np.int32(1)).compile()
        if self.between is not None:
            self.between.prepare(state)
        self.compile_seconds = seconds + time.perf_counter() - start
        return state

    def _bounded(self, done: int, n: int) -> int:
        """`n` updates from `done`, cut at the next boundary of `between`."""
        if self.between is None:
            return n
        return min(n, self.between.next_boundary(done) - done)

    def chunks(self, state, done: int, total: int, stop: StopRequests) -> Iterator[Chunk]:
        n = self._bounded(done, min(1, total - done))  # a first, short chunk measures the rate
        pending = self._chunk(state, np.int32(n)) if n else None
        began = time.perf_counter()
        while pending is not None:
            new_state, metrics, finite = pending
            while not finite.is_ready():  # poll, so that signals are handled meanwhile
                time.sleep(0.002)
            ready = time.perf_counter()
            after = done + n
            pending = None
            # Every process must dispatch the same chunks: the length follows process 0's
            # clock, and a stop request on any process stops them all.
            length = next_chunk_length(n, ready - began, self.options.paced_seconds, self.max_chunk)
            length = self._bounded(after, min(length, total - after))
            decisions = distributed.from_all(np.array([length, bool(stop.signal)], np.int64))
            n_next, stopping = int(decisions[0, 0]), bool(decisions[:, 1].any())
            # Fetched before the next chunk is dispatched: across processes the fetch is a
            # collective program, which would otherwise wait for that whole chunk.
            metrics, finite = distributed.fetch((metrics, finite))
            metrics = {k: v[:, :n] for k, v in metrics.items()}
            if self.between is not None:
                new_state, extra = self.between(new_state, done, after)
                metrics.update(extra)
            if after < total and not stopping:
                pending, began = self._chunk(new_state, np.int32(n_next)), ready
            yield Chunk(new_state, done, metrics, finite)
            done, n = after, n_next

    def metric_names(self, state) -> list[str]:
        one = jax.tree.map(lambda x: x[0], state)
        names = list(jax.eval_shape(lambda s: self.algorithm.update(self.config, s)[1], one))
        return names + (self.between.metric_names() if self.between is not None else [])

    def status(self) -> dict:
        return {}
