"""A session: one process's share of a run, from compiling to the last status write.

The session owns the run directory while it trains: metrics.csv and TensorBoard, checkpoints,
stop requests, divergence checks, target stops and status.json. It drives an engine
(`pgjax.runs.engine`): the compiled chunked loop or the actor-learner runtime, the same way.

Stops:

* SIGINT / SIGTERM, at any moment from the start of compilation: the run stops at the next
  chunk boundary (or when compilation ends) with a checkpoint (`interrupted`); a signal that
  comes while the last checkpoint or the status is written waits for them, so a finished run
  stays finished (`RunResult.signal` says one came). A second signal exits at once;
* a non-finite loss, gradient norm, parameter or optimiser statistic: at the end of that chunk,
  without a checkpoint, so the last finite one stays the run's result (`DivergenceError`);
* `target_return`: when the deterministic policy's evaluation return, averaged over the runs,
  reaches it (`target_reached`);
* a full disk: `StorageError`, naming the last good checkpoint.

status.json is written after the checkpoint it describes is complete on disk.
"""

from __future__ import annotations

import contextlib
import errno
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from pgjax.runs import distributed, rundir
from pgjax.runs.checkpoints import Checkpoints
from pgjax.runs.engine import Chunk, Engine
from pgjax.runs.evaluator import RunEvaluator
from pgjax.runs.options import RunOptions
from pgjax.runs.record import hyperparams_of, identity, seeds_array
from pgjax.runs.signals import StopRequests
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config


def is_divergence_metric(name: str) -> bool:
    """Metrics whose non-finite value means the run diverged: every loss and gradient norm an
    algorithm logs (`loss`, `critic_loss`, `grad_norm`, `actor_grad_norm`, …)."""
    return name.endswith(("loss", "grad_norm"))


class DivergenceError(RuntimeError):
    """A run produced non-finite values; the message names the update, run and metric."""


class StorageError(RuntimeError):
    """The run directory could not be written (a full disk); the message names the cause and
    the last good checkpoint."""


class RunResult(NamedTuple):
    """What `run` and `resume` return.

    Attributes:
      status: "completed", "target_reached" or "interrupted" (divergence raises).
      state: the final training state, every leaf with a leading run axis.
      metrics: name ↦ `[num_runs, updates]` for every update of the run (earlier sessions'
        included when resumed), plus `env_steps`.
      updates: updates done.
      session_updates: updates done by this call (fewer than `updates` when resumed).
      compile_seconds: compiling this session's programs.
      run_seconds: this session's wall time from the first chunk to the last.
      signal: a stop signal that came after the run had finished (its results are whole).
    """

    status: str
    state: Any
    metrics: dict[str, np.ndarray]
    updates: int
    session_updates: int
    compile_seconds: float
    run_seconds: float
    signal: str | None = None


def _out_of_space(error: BaseException) -> bool:
    """Whether `error`, or what caused it (orbax wraps the OSError of its writers), is a full
    disk."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


class Session:
    """Compile, restore or initialise, then run the engine's chunks (see the module
    docstring).

    Args:
      from_checkpoint: resume from the checkpoint after this many updates instead of the
        latest (the later ones are moved aside, not deleted).
    """

    def __init__(
        self,
        algorithm: Algorithm,
        config: Config,
        record: dict,
        run_dir: str | Path,
        options: RunOptions,
        engine: Engine,
        progress=None,
        from_checkpoint: int | None = None,
    ):
        self.algorithm, self.config, self.record = algorithm, config, record
        self.run_dir, self.options, self.engine = Path(run_dir), options, engine
        self.progress, self.from_checkpoint = progress, from_checkpoint
        self.seeds = record["seeds"]
        self.num_runs = len(self.seeds)
        self.primary = distributed.is_primary()  # only process 0 writes files but checkpoints
        self.log = rundir.MetricsLog(run_dir)
        self.tensorboard = None
        self.checkpoints = None
        self.last_evaluation = None

    # ------------------------------------------------------------------ the run

    def run(self, resume: bool) -> RunResult:
        with StopRequests() as stop:
            state = self.engine.prepare(seeds_array(self.seeds), hyperparams_of(self.record))
            evaluator = None
            if self.options.target_return is not None:
                evaluator = RunEvaluator.shared(
                    self.algorithm,
                    self.config,
                    self.num_runs,
                    self.options.target_episodes,
                    deterministic=not self.options.stochastic_evaluation,
                    envs_devices=self.options.envs_devices,
                ).compile(state)
            compile_seconds = self.engine.compile_seconds + (
                evaluator.compile_seconds if evaluator else 0.0
            )
            self.checkpoints = Checkpoints(self.run_dir, self.options.keep_checkpoints)
            try:
                state, done, history = self._start(state, resume)
                first = done
                if self.options.tensorboard and self.primary:
                    resumed_at = done * self.config.steps_per_update if resume else None
                    self.tensorboard = rundir.TensorBoardLog.open(
                        self.run_dir, self.seeds, resumed_at
                    )
                status, state, done, run_seconds = self._loop(stop, evaluator, state, done, history)
                self._finish(status, state, done, run_seconds, stop.signal)
                # A signal while the last checkpoint and status were written waited for them.
                finished = status in ("completed", "target_reached")
                late_signal = stop.signal if finished else None
            except Exception as error:
                replacement = self._failed(error)
                if replacement is error:
                    raise
                raise replacement from error
            finally:
                self._close()
        metrics = {k: np.concatenate(v, axis=1) for k, v in history.items()}
        return RunResult(
            status,
            state,
            metrics,
            done,
            done - first,
            compile_seconds,
            run_seconds,
            late_signal,
        )

    def _start(self, state, resume: bool):
        """The state, updates done and metrics history to continue from: the initial state
        for a new run, the checkpoint's for a resumed one (none yet: from the start)."""
        if not resume:
            return state, 0, {}
        latest = self.checkpoints.latest()
        if latest is None:  # interrupted before its first checkpoint: start again
            if self.primary:
                self.log.truncate(0, self.num_runs)
            distributed.barrier("pgjax: metrics.csv emptied")
            return state, 0, {}
        updates = latest if self.from_checkpoint is None else self.from_checkpoint
        if updates not in self.checkpoints.all():
            raise rundir.RunDirectoryError(
                f"{self.run_dir} has no checkpoint after {updates} updates; it has "
                f"{', '.join(map(str, self.checkpoints.all()))}."
            )
        state, meta = self.checkpoints.restore(state, identity(self.record), updates)
        done = int(meta["updates"])
        if self.primary:
            self.log.check(done, self.num_runs, self.engine.metric_names(state))
        distributed.barrier("pgjax: metrics.csv checked")
        if updates != latest:
            self.checkpoints.discard_after(updates)
        if self.primary:
            self.log.truncate(done, self.num_runs)
        distributed.barrier("pgjax: metrics.csv cut back to the checkpoint")
        previous = self.log.read(self.num_runs, done)
        history = {k: [v] for k, v in previous.items() if k not in ("update", "seed")}
        return state, done, history

    def _loop(self, stop: StopRequests, evaluator, state, done: int, history: dict):
        """Runs the engine's chunks until the end, a stop request, divergence or the target."""
        total = self.config.num_updates
        status, chunks = "completed", 0
        if self.progress is not None:
            self.progress(done, {})
        start = time.perf_counter()
        if stop.signal is None:
            stream = self.engine.chunks(state, done, total, stop)
            try:
                for chunk in stream:
                    self._record(chunk, history)
                    self._check_finite(chunk)
                    state, chunks = chunk.state, chunks + 1
                    done = chunk.first + next(iter(chunk.metrics.values())).shape[1]
                    if self.progress is not None:
                        self.progress(done, chunk.metrics)
                    if evaluator is not None and self._reached_target(evaluator, state, done):
                        status = "target_reached"
                        break
                    if chunks % self.options.checkpoint_every == 0 and done < total:
                        self.checkpoints.save(done, state, self._meta(done))
            finally:
                stream.close()  # drops a chunk dispatched ahead; joins actor threads
        if status == "completed" and done < total:
            status = "interrupted"
        return status, state, done, time.perf_counter() - start

    def _finish(self, status: str, state, done: int, run_seconds: float, signal_name) -> None:
        """The last checkpoint, complete on disk, then the status that describes it."""
        if self.checkpoints.latest() != done:
            self.checkpoints.save(done, state, self._meta(done))
        self.checkpoints.wait()
        extra = {}
        if status == "interrupted":
            extra["signal"] = signal_name or "another process's"
        self._status(
            status, done, run_seconds=run_seconds, **extra, **self._target_record(),
            **self.engine.status(),
        )  # fmt: skip

    def _failed(self, error: Exception) -> Exception:
        """The exception to raise for `error`, after writing what status.json can say."""
        written = self.checkpoints.on_disk() if self.checkpoints is not None else []
        last = written[-1] if written else None
        kept = (
            f"the last good checkpoint is after {last} updates ({self.run_dir}/checkpoints)"
            if last is not None
            else "no checkpoint was written yet"
        )
        if _out_of_space(error):
            return StorageError(
                f"no space left on the device of {self.run_dir}; {kept}. Free some space, "
                f"then `pgjax resume {self.run_dir}`."
            )
        if isinstance(error, DivergenceError | rundir.RunDirectoryError):
            return error
        with contextlib.suppress(OSError):
            self._status("failed", last or 0, message=f"{type(error).__name__}: {error}")
        return error

    def _close(self) -> None:
        for closer in (self.checkpoints, self.tensorboard):
            # Closing after a failure must not hide the failure.
            with contextlib.suppress(Exception):
                if closer is not None:
                    closer.close()

    # ------------------------------------------------------------------ records

    def _meta(self, updates: int) -> dict:
        return {
            **identity(self.record),
            "updates": updates,
            "env_steps": updates * self.config.steps_per_update,
        }

    def _status(self, status: str, updates: int, **extra) -> None:
        record = {
            "status": status,
            "updates": updates,
            "env_steps": updates * self.config.steps_per_update,
            "num_updates": self.config.num_updates,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        }
        if self.primary:
            rundir.write_json(self.run_dir / rundir.STATUS, record)

    def _record(self, chunk: Chunk, history: dict) -> None:
        metrics, steps_per_update = chunk.metrics, self.config.steps_per_update
        if self.primary:
            self.log.append(chunk.first, metrics, self.seeds, steps_per_update)
        if self.tensorboard is not None:
            self.tensorboard.write(chunk.first, metrics, steps_per_update)
        count = next(iter(metrics.values())).shape[1]
        steps = (np.arange(chunk.first, chunk.first + count) + 1) * steps_per_update
        rows = {**metrics, "env_steps": np.broadcast_to(steps, (self.num_runs, count))}
        for name, value in rows.items():
            history.setdefault(name, []).append(np.asarray(value, np.float64))

    def _check_finite(self, chunk: Chunk) -> None:
        """Raises DivergenceError, naming the first non-finite metric's update and run, or the
        runs whose state went non-finite; the last checkpoint stays the result."""
        done, metrics = chunk.first, chunk.metrics
        problems = []
        for name in filter(is_divergence_metric, metrics):
            bad = ~np.isfinite(metrics[name])
            if bad.any():
                runs, steps = np.nonzero(bad)
                first = int(np.argmin(steps))
                problems.append((int(steps[first]), int(runs[first]), name))
        if not problems and chunk.finite.all():
            return
        last = self.checkpoints.latest()
        kept = (
            f"the last finite checkpoint is after {last} updates ({self.run_dir}/checkpoints)"
            if last is not None
            else "no checkpoint was written before it"
        )
        if problems:
            step, run, name = min(problems)
            where = f"at update {done + step} (seed {self.seeds[run]}): {name} is not finite"
        else:
            runs = [self.seeds[i] for i in np.nonzero(~chunk.finite)[0]]
            last_update = done + next(iter(metrics.values())).shape[1] - 1
            where = f"in updates {done}-{last_update}: the state of seed(s) {runs} is not finite"
        message = f"training diverged {where}; {kept}."
        self._status("diverged", done, message=message)
        raise DivergenceError(message)

    def _reached_target(self, evaluator: RunEvaluator, state, done: int) -> bool:
        mean_return = evaluator.target_value(evaluator(state, done))
        self.last_evaluation = (done, mean_return)
        return mean_return >= self.options.target_return

    def _target_record(self) -> dict:
        if self.options.target_return is None or self.last_evaluation is None:
            return {}
        updates, mean_return = self.last_evaluation
        return {
            "target_return": self.options.target_return,
            "last_evaluation": {
                "updates": updates,
                "env_steps": updates * self.config.steps_per_update,
                "mean_return": mean_return,
            },
        }
