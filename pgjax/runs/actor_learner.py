"""The asynchronous engine: IMPALA's actor-learner architecture on one machine's devices
(Espeholt et al., 2018, https://arxiv.org/abs/1802.01561).

Actor threads step their own environments on the actor device(s) with the newest parameters
the learner has published, and put each finished rollout (with the behaviour log-probabilities
and the version of the parameters that acted) into a bounded queue. The learner, the main
thread, takes rollouts from the queue on its own device, takes one gradient step on each
(V-trace corrects for the lag), and publishes the new parameters, which the actors pick up
between rollouts. Every function is vmapped over the seeds, so one engine trains several runs.

Devices: the learner gets the first of `jax.devices()`, the actors the others (round robin),
or the same one when there is only one. On a CPU, `use_cpu_cores()` shows each core as a device
(the command line does), so actors and learner compute on different cores; on GPUs, different
GPUs.

The session around it is every engine's (`pgjax.runs.session`): run directory, metrics.csv
(one row per learner update, with `policy_lag` the number of learner updates between the
parameters that acted and those that learned from the rollout), checkpoints, divergence checks,
target stops and evaluation. The run depends on thread timing, so it is not reproducible and
has no exact continuation: `resume` refuses it (`evaluate` works). Ctrl-C (SIGINT) or SIGTERM
stops the learner after its current update and stops and joins the actors; an exception in an
actor or in the learner stops and joins every thread before it propagates.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import jax
import numpy as np

from pgjax.runs.engine import Chunk, all_finite, init_from_seed
from pgjax.runs.options import AsyncOptions, RunOptions
from pgjax.runs.signals import StopRequests
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config

RUNTIME = "async"  # config.json's "runtime" for these runs; `resume` refuses them


class ActorError(RuntimeError):
    """An actor thread failed; the learner stopped. Chained to the actor's exception."""


class _Programs(NamedTuple):
    """The engine's programs, every one vmapped over the runs."""

    init: Callable  # (seeds, hyperparams) -> state, on the learner's device
    reset: Callable  # (hyperparams, keys) -> env, on an actor device
    collect: Callable  # (hyperparams, params, env, keys) -> (env, trajectory, keys), ditto
    learn: Callable  # (state, trajectory) -> (state, metrics), on the learner's device
    finite: Callable  # state -> [R] bool, on the learner's device


@functools.cache
def _jitted(algorithm: Algorithm, config: Config) -> _Programs:
    """One set of jitted functions per (algorithm, config), so that runs in one process share
    their compilations."""
    parts = algorithm.actor_learner

    def collect(hp, params, env, key):
        rollout_key, key = jax.random.split(key)
        env, trajectory = parts.collect(config, hp, params, env, rollout_key)
        return env, trajectory, key

    return _Programs(
        jax.jit(jax.vmap(init_from_seed(algorithm, config))),
        jax.jit(jax.vmap(lambda hp, key: parts.reset(config, hp, key))),
        jax.jit(jax.vmap(collect)),
        jax.jit(jax.vmap(lambda state, trajectory: parts.learn(config, state, trajectory))),
        jax.jit(jax.vmap(all_finite)),
    )


def _on(device, tree):
    return jax.device_put(tree, device)


def _abstract(tree, device):
    sharding = jax.sharding.SingleDeviceSharding(device)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


class ParameterBoard:
    """The learner's newest parameters, one copy on every actor device, with their version (the
    number of learner updates behind them)."""

    def __init__(self, devices):
        self._devices = devices
        self._lock = threading.Lock()
        self._latest: tuple[int, dict] = (0, {})

    def publish(self, version: int, params) -> None:
        copies = {device: _on(device, params) for device in self._devices}
        with self._lock:
            self._latest = (version, copies)

    def latest(self, device):
        with self._lock:
            version, copies = self._latest
        return version, copies[device]


class Actor(threading.Thread):
    """Collects rollouts with the newest published parameters until asked to stop."""

    def __init__(self, index, device, collect, hyperparams, env, key, board, rollouts, stop):
        super().__init__(name=f"pgjax-actor-{index}", daemon=True)
        self.index, self.device, self.collect = index, device, collect
        self.hyperparams, self.env, self.key = hyperparams, env, key
        self.board, self.rollouts, self.stop = board, rollouts, stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                version, params = self.board.latest(self.device)
                self.env, trajectory, self.key = self.collect(
                    self.hyperparams, params, self.env, self.key
                )
                # A finished rollout, as a remote actor would send it: the lag is real.
                env = self.env if self.index == 0 else None
                item = (jax.block_until_ready(trajectory), version, env)
                while not self.stop.is_set():
                    try:
                        self.rollouts.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
        except BaseException as error:  # reported by the learner, which stops everything
            self.error = error
            self.stop.set()


class Actors:
    """The actor threads, started on entry; on exit (normal, Ctrl-C or an exception on either
    side) asked to stop and joined."""

    def __init__(self, actors: list[Actor], rollouts: queue.Queue, stop, join_seconds: float):
        self.actors, self.rollouts, self.stop = actors, rollouts, stop
        self.join_seconds = join_seconds

    def __enter__(self) -> Actors:
        for actor in self.actors:
            actor.start()
        return self

    def get(self, stop_requests: StopRequests) -> tuple | None:
        """The next rollout: `(trajectory, version, env)`; None once a stop is requested.

        Raises:
          ActorError: an actor failed.
        """
        while stop_requests.signal is None:
            self._raise_actor_error()
            try:
                return self.rollouts.get(timeout=0.05)
            except queue.Empty:
                continue
        return None

    def _raise_actor_error(self) -> None:
        for actor in self.actors:
            if actor.error is not None:
                message = f"actor {actor.index} failed: {type(actor.error).__name__}: {actor.error}"
                raise ActorError(message) from actor.error

    def __exit__(self, kind, error, traceback):
        self.stop.set()
        deadline = time.monotonic() + self.join_seconds
        for actor in self.actors:  # each ends within a rollout: puts wait 0.05 s at a time
            actor.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [actor.name for actor in self.actors if actor.is_alive()]
        if alive and error is None:
            raise RuntimeError(f"actor threads {alive} did not stop in {self.join_seconds} s.")
        if error is None:
            self._raise_actor_error()


class ActorLearnerEngine:
    """Actor threads and a learner on separate devices (see the module docstring)."""

    def __init__(
        self,
        algorithm: Algorithm,
        config: Config,
        num_runs: int,
        options: RunOptions,
        async_options: AsyncOptions,
    ):
        self.algorithm, self.config, self.num_runs = algorithm, config, num_runs
        self.options, self.async_options = options, async_options
        devices = jax.devices()
        self.learner_device = devices[0]
        actor_devices = devices[1:] or devices[:1]
        self.actor_devices = [
            actor_devices[i % len(actor_devices)] for i in range(async_options.actors)
        ]
        self.compile_seconds = 0.0
        self.lags: list[int] = []

    def prepare(self, seeds: np.ndarray, hyperparams: dict | None):
        """Runs `init` on the learner's device, compiles the learner's programs there and the
        actors' on theirs, and prepares each actor's environments (the threads start later)."""
        start = time.perf_counter()
        learner, jitted = self.learner_device, _jitted(self.algorithm, self.config)
        state = jitted.init(*_on(learner, (seeds, hyperparams)))
        env = jax.eval_shape(jitted.reset, state.hyperparams, state.key)
        _, trajectory, _ = jax.eval_shape(
            jitted.collect, state.hyperparams, state.params, env, state.key
        )
        compiled, self.actor_specs = {}, []
        for index, device in enumerate(self.actor_devices):
            hp = _on(device, state.hyperparams)
            keys = _on(device, jax.vmap(jax.random.fold_in, (0, None))(state.key, index + 1))
            if device not in compiled:
                params = _on(device, state.params)
                compiled[device] = (
                    jitted.reset.lower(hp, keys).compile(),
                    jitted.collect.lower(hp, params, _abstract(env, device), keys).compile(),
                )
            reset, collect = compiled[device]
            self.actor_specs.append((index, device, collect, hp, reset(hp, keys), keys))
        self._trajectory_shape = _abstract(trajectory, learner)
        self._learn = jitted.learn.lower(state, self._trajectory_shape).compile()
        self._finite = jitted.finite.lower(state).compile()
        self.compile_seconds = time.perf_counter() - start
        return state

    def chunks(self, state, done: int, total: int, stop: StopRequests) -> Iterator[Chunk]:
        """Learns from the queue's rollouts until the end or a stop request, giving a chunk of
        updates about every `chunk_seconds`, and the updates made so far when it stops."""
        rollouts = queue.Queue(maxsize=self.async_options.queue_size)
        stop_actors = threading.Event()
        board = ParameterBoard(sorted(set(self.actor_devices), key=lambda d: d.id))
        board.publish(done, state.params)
        actors = [Actor(*spec, board, rollouts, stop_actors) for spec in self.actor_specs]
        rows, first, began = [], done, time.perf_counter()
        join = self.async_options.join_seconds
        with Actors(actors, rollouts, stop_actors, join) as running:
            while done < total:
                item = running.get(stop)
                if item is None:
                    break
                trajectory, version, env = item
                trajectory, env = _on(self.learner_device, (trajectory, env))
                state, metrics = self._learn(state, trajectory)
                if env is not None:  # actor 0's: what `act` normalises observations with
                    state = state._replace(env=env)
                metrics = jax.device_get(metrics)  # waits for the update
                board.publish(done + 1, state.params)
                self.lags.append(done - version)
                lag = np.full(self.num_runs, done - version, np.float32)
                rows.append({**metrics, "policy_lag": lag})
                done += 1
                if time.perf_counter() - began < self.options.paced_seconds and done < total:
                    continue
                yield self._chunk(state, first, rows)
                rows, first, began = [], done, time.perf_counter()
            if rows:  # an interrupted run keeps every update it made
                yield self._chunk(state, first, rows)

    def _chunk(self, state, first: int, rows: list[dict]) -> Chunk:
        metrics = {name: np.stack([row[name] for row in rows], axis=1) for name in rows[0]}
        return Chunk(state, first, metrics, np.asarray(self._finite(state)))

    def metric_names(self, state) -> list[str]:
        trajectory = self._trajectory_shape
        metrics = jax.eval_shape(self._learn, state, trajectory)[1]
        return [*metrics, "policy_lag"]

    def status(self) -> dict:
        """Where actors and learner ran, and the policy lag they produced."""
        record = {
            "learner_device": str(self.learner_device),
            "actor_devices": [str(device) for device in self.actor_devices],
        }
        if not self.lags:
            return record
        values, counts = np.unique(self.lags, return_counts=True)
        return {
            **record,
            "policy_lag": {
                "mean": float(np.mean(self.lags)),
                "max": int(values[-1]),
                "counts": {str(v): int(c) for v, c in zip(values, counts, strict=True)},
            },
        }
