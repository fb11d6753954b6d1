"""The asynchronous actor-learner runtime: IMPALA's architecture on one machine's devices
(Espeholt et al., 2018, https://arxiv.org/abs/1802.01561).

    from pgjax.algorithms import ASYNCHRONOUS
    result = run_async(ASYNCHRONOUS["impala"], config, seeds=[0, 1], run_dir="runs/async")

Actor threads step their own environments on the actor device(s) with the newest parameters
the learner has published, and put each finished rollout (with the behaviour log-probabilities
and the version of the parameters that acted) into a bounded queue. The learner, the main
thread, takes rollouts from the queue on its own device, takes one gradient step on each
(V-trace corrects for the lag), and publishes the new parameters, which the actors pick up
between rollouts. Every function is vmapped over the seeds, so one runtime trains several runs.

Devices: the learner gets the first of `jax.devices()`, the actors the others (round robin),
or the same one when there is only one. On a CPU, `use_cpu_cores()` shows each core as a device
(the CLI does), so actors and learner compute on different cores; on GPUs, different GPUs.

The run directory, metrics.csv, progress, TensorBoard, checkpoints, divergence checks, target
return and evaluation are the driver's (`pgjax.training.driver`); metrics.csv has one row per
learner update, with `policy_lag` the number of learner updates between the parameters that
acted and those that learned from the rollout. What is not the driver's: the run depends on
thread timing, so it is not reproducible and has no exact continuation: `resume` refuses it
with a one-line error (`evaluate` works). Ctrl-C (SIGINT) or SIGTERM stops the learner after
its current update, stops and joins the actors, writes a checkpoint and the status
`interrupted`; an exception in an actor or in the learner stops and joins every thread before
it propagates (status `failed`).
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from pgjax.training import driver
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config, ConfigError
from pgjax.training.evaluation import make_evaluate
from pgjax.training.types import EnvCarry, Hyperparams, Metrics, Transition

RUNTIME = "async"  # config.json's "runtime" for these runs; `driver.resume` refuses them


@dataclasses.dataclass(frozen=True)
class ActorLearner:
    """An algorithm split into what its actors and its learner do (one run each; the runtime
    vmaps them over the seeds).

    Attributes:
      algorithm: the registered algorithm (its `init` makes the learner's state, its `act`
        evaluates it).
      reset: `(config, hyperparams, key) -> EnvCarry`, an actor's fresh environments.
      collect: `(config, hyperparams, params, env, key) -> (env, Transition [T, N, ...])`, one
        rollout with the policy `params`, behaviour log-probabilities included.
      learn: `(config, state, trajectory) -> (state, metrics)`, the learner's step on a rollout
        of any (older) parameters.
    """

    algorithm: Algorithm
    reset: Callable[[Config, Hyperparams, jax.Array], EnvCarry]
    collect: Callable[..., tuple[EnvCarry, Transition]]
    learn: Callable[[Config, Any, Transition], tuple[Any, Metrics]]


class AsyncOptions(NamedTuple):
    """How the asynchronous runtime runs (`actors`: actor threads; `queue_size`: rollouts the
    queue holds before the actors wait for the learner; `join_seconds`: how long shutting down
    waits for the actor threads, all together)."""

    actors: int = 1
    queue_size: int = 2
    join_seconds: float = 30.0

    def validate(self) -> None:
        for name in ("actors", "queue_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}.", name)


class ActorError(RuntimeError):
    """An actor thread failed; the learner stopped. Chained to the actor's exception."""


def run_async(
    actor_learner: ActorLearner,
    config: Config,
    seeds: list[int],
    run_dir: str | Path,
    *,
    hyperparams: dict | None = None,
    options: driver.RunOptions | None = None,
    async_options: AsyncOptions | None = None,
    overwrite: bool = False,
    progress: driver.ProgressFn | None = None,
) -> driver.RunResult:
    """Trains with actor threads and a learner on separate devices; writes `run_dir` as
    `pgjax.training.run` does. Arguments and result as `run`'s (`chunk_updates` does not apply:
    the learner records a chunk about every `chunk_seconds`), with `async_options`.

    Raises:
      ConfigError, RunDirectoryError, DivergenceError: as `run`.
      ActorError: an actor thread failed (after every thread stopped).
    """
    options = options or driver.RunOptions()
    async_options = async_options or AsyncOptions()
    async_options.validate()
    if jax.process_count() > 1 or options.envs_devices != 1:
        raise ConfigError("The asynchronous runtime runs in one process, one device per role.")
    extra = {"runtime": RUNTIME, "asynchronous": async_options._asdict()}
    algorithm = actor_learner.algorithm
    record = driver.new_run(
        algorithm, config, seeds, run_dir, hyperparams, options, overwrite, **extra
    )
    session = _Session(
        actor_learner, async_options, config, record, Path(run_dir), options, progress
    )
    return session.run(resume=False)


class _Programs(NamedTuple):
    """The runtime's programs, every one vmapped over the runs."""

    init: Callable  # (seeds, hyperparams) -> state, on the learner's device
    reset: Callable  # (hyperparams, keys) -> env, on an actor device
    collect: Callable  # (hyperparams, params, env, keys) -> (env, trajectory, keys), ditto
    learn: Callable  # (state, trajectory) -> (state, metrics), on the learner's device
    finite: Callable  # state -> [R] bool, on the learner's device


@functools.cache
def _jitted(actor_learner: ActorLearner, config: Config) -> _Programs:
    """One set of jitted functions per (algorithm, config), so that runs in one process share
    their compilations."""

    def collect(hp, params, env, key):
        rollout_key, key = jax.random.split(key)
        env, trajectory = actor_learner.collect(config, hp, params, env, rollout_key)
        return env, trajectory, key

    def init(seed, hp):
        return actor_learner.algorithm.init(config, jax.random.key(seed), hp)

    return _Programs(
        jax.jit(jax.vmap(init)),
        jax.jit(jax.vmap(lambda hp, key: actor_learner.reset(config, hp, key))),
        jax.jit(jax.vmap(collect)),
        jax.jit(jax.vmap(lambda state, trajectory: actor_learner.learn(config, state, trajectory))),
        jax.jit(jax.vmap(driver._all_finite)),
    )


def _on(device, tree):
    return jax.device_put(tree, device)


def _abstract(tree, device):
    sharding = jax.sharding.SingleDeviceSharding(device)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


class _Board:
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


class _Actor(threading.Thread):
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


class _Actors:
    """The actor threads, started on entry; on exit (normal, Ctrl-C or an exception on either
    side) asked to stop and joined."""

    def __init__(self, actors: list[_Actor], rollouts: queue.Queue, stop, join_seconds: float):
        self.actors, self.rollouts, self.stop = actors, rollouts, stop
        self.join_seconds = join_seconds

    def __enter__(self):
        for actor in self.actors:
            actor.start()
        return self

    def get(self, stop_requests) -> tuple | None:
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


class _Learner(NamedTuple):
    learn: Callable  # compiled (state, trajectory) -> (state, metrics), on the learner's device
    finite: Callable  # compiled state -> [R] bool


class _Session(driver._Session):
    """The driver's session (run directory, metrics, checkpoints, checks, target) with the
    actor-learner loop in place of the compiled chunks."""

    def __init__(self, actor_learner, async_options, *args):
        super().__init__(actor_learner.algorithm, *args)
        self.actor_learner = actor_learner
        self.async_options = async_options
        devices = jax.devices()
        self.learner_device = devices[0]
        actor_devices = devices[1:] or devices[:1]
        self.actor_devices = [
            actor_devices[i % len(actor_devices)] for i in range(async_options.actors)
        ]
        self.actor_specs: list[tuple] = []
        self.lags: list[int] = []

    def _compile(self, seeds, hyperparams):
        """Runs `init` on the learner's device, compiles the learner's programs there and the
        actors' on theirs, and prepares each actor's environments (the threads start later)."""
        start = time.perf_counter()
        learner, jitted = self.learner_device, _jitted(self.actor_learner, self.config)
        state = jitted.init(*_on(learner, (seeds, hyperparams)))
        env = jax.eval_shape(jitted.reset, state.hyperparams, state.key)
        _, trajectory, _ = jax.eval_shape(
            jitted.collect, state.hyperparams, state.params, env, state.key
        )
        compiled = {}
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
        learner_programs = _Learner(
            jitted.learn.lower(state, _abstract(trajectory, learner)).compile(),
            jitted.finite.lower(state).compile(),
        )
        evaluate = None
        if self.options.target_return is not None:
            one = make_evaluate(self.algorithm, self.config, self.options.target_episodes)
            evaluate = jax.jit(jax.vmap(lambda state, seed: one(state, jax.random.key(seed))))
            evaluate = evaluate.lower(state, _on(learner, seeds)).compile()
        return learner_programs, evaluate, state, time.perf_counter() - start

    def _loop(self, programs, evaluate, state, done, checkpoints, history):
        """Learns from the queue's rollouts until the end, a stop request, divergence, the
        target or a failure, recording a chunk of updates about every `chunk_seconds`."""
        total = self.config.num_updates
        chunk_seconds = self.options.chunk_seconds  # as the driver's chunks: None means 1 s,
        if chunk_seconds is None:  # or 0.25 s when each chunk ends with a target check
            chunk_seconds = 1.0 if self.options.target_return is None else 0.25
        self._current = (programs, checkpoints, history)
        status, signal_name, chunks, rows = "completed", None, 0, []
        rollouts = queue.Queue(maxsize=self.async_options.queue_size)
        stop_actors = threading.Event()
        board = _Board(sorted(set(self.actor_devices), key=lambda d: d.id))
        board.publish(done, state.params)
        actors = [_Actor(*spec, board, rollouts, stop_actors) for spec in self.actor_specs]
        if self.progress is not None:
            self.progress(done, {})
        start = began = time.perf_counter()
        try:
            with (
                driver._StopRequests() as stop,
                _Actors(actors, rollouts, stop_actors, self.async_options.join_seconds) as running,
            ):
                while done < total:
                    item = running.get(stop)
                    if item is None:
                        status, signal_name = "interrupted", stop.signal
                        break
                    trajectory, version, env = item
                    trajectory, env = _on(self.learner_device, (trajectory, env))
                    state, metrics = programs.learn(state, trajectory)
                    if env is not None:  # actor 0's: what `act` normalises observations with
                        state = state._replace(env=env)
                    metrics = jax.device_get(metrics)  # waits for the update
                    board.publish(done + 1, state.params)
                    self.lags.append(done - version)
                    lag = np.full(self.num_runs, done - version, np.float32)
                    rows.append({**metrics, "policy_lag": lag})
                    done += 1
                    if time.perf_counter() - began < chunk_seconds and done < total:
                        continue
                    chunks, began = chunks + 1, time.perf_counter()
                    reached = self._record_chunk(evaluate, state, done, rows)
                    rows = []
                    if reached:
                        status = "target_reached"
                        break
                    if chunks % self.options.checkpoint_every == 0 and done < total:
                        checkpoints.save(done, state, self._meta(done))
            if rows:  # an interrupted run keeps every update it made
                self._record_chunk(None, state, done, rows)
        except BaseException as error:
            if not isinstance(error, driver.DivergenceError):
                message = f"{type(error).__name__}: {error}"
                self._status("failed", done - len(rows), message=message, **self._lag_record())
            raise
        run_seconds = time.perf_counter() - start
        if checkpoints.latest() != done:
            checkpoints.save(done, state, self._meta(done))
        extra = {"signal": signal_name} if status == "interrupted" else {}
        extra.update(self._lag_record(), **self._target_record())
        self._status(status, done, run_seconds=run_seconds, **extra)
        return status, state, done, run_seconds

    def _record_chunk(self, evaluate, state, done, rows) -> bool:
        """Writes `rows` (the updates up to `done`), checks them and the state, reports
        progress; True when the target return is reached."""
        programs, checkpoints, history = self._current
        first = done - len(rows)
        metrics = {name: np.stack([row[name] for row in rows], axis=1) for name in rows[0]}
        self._record(first, metrics, history)
        self._check_finite(first, metrics, np.asarray(programs.finite(state)), checkpoints)
        if self.progress is not None:
            self.progress(done, metrics)
        return evaluate is not None and self._reached_target(evaluate, state, done)

    def _lag_record(self) -> dict:
        """Where actors and learner ran, and the policy lag they produced, for status.json."""
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
