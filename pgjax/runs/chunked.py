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


class CompiledEngine:
    """The chunked loop over an algorithm's compiled `update` (see the module docstring)."""

    def __init__(self, algorithm: Algorithm, config: Config, num_runs: int, options: RunOptions):
        self.algorithm, self.config, self.num_runs, self.options = (
            algorithm,
            config,
            num_runs,
            options,
        )
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
        self.compile_seconds = seconds + time.perf_counter() - start
        return state

    def chunks(self, state, done: int, total: int, stop: StopRequests) -> Iterator[Chunk]:
        n = min(1, total - done)  # a first, short chunk measures the update rate
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
            decisions = distributed.from_all(
                np.array([min(length, total - after), bool(stop.signal)], np.int64)
            )
            n_next, stopping = int(decisions[0, 0]), bool(decisions[:, 1].any())
            # Fetched before the next chunk is dispatched: across processes the fetch is a
            # collective program, which would otherwise wait for that whole chunk.
            metrics, finite = distributed.fetch((metrics, finite))
            if after < total and not stopping:
                pending, began = self._chunk(new_state, np.int32(n_next)), ready
            yield Chunk(new_state, done, {k: v[:, :n] for k, v in metrics.items()}, finite)
            done, n = after, n_next

    def metric_names(self, state) -> list[str]:
        one = jax.tree.map(lambda x: x[0], state)
        return list(jax.eval_shape(lambda s: self.algorithm.update(self.config, s)[1], one))

    def status(self) -> dict:
        return {}
