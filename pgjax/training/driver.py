"""The driver: an algorithm's compiled `update` run a chunk of updates at a time, with the host
in between for progress, metrics, checkpoints, signals and divergence.

    result = run(PPO, PPOConfig.for_env("CartPole-v1"), seeds=[0, 1], run_dir="runs/cartpole")
    result = resume("runs/cartpole")        # after an interruption: continues where it stopped

One program is compiled per run: `chunk(states, n)` applies `update` to every run (`vmap`,
split across devices) n times, n ≤ `chunk_updates` chosen at run time so a chunk takes about
`chunk_seconds` (the program's scan skips its remaining steps), and reports whether every
floating-point leaf of each run's state is still finite. Chunking never changes the numbers:
any split into chunks gives the bits of `Algorithm.make_train`'s single scan.

Between chunks the driver appends the chunk's metrics to `metrics.csv` (and TensorBoard),
reports progress, writes a checkpoint every `checkpoint_every` chunks (and at the end), and
stops early:

* SIGINT / SIGTERM: at the next chunk boundary, after writing a checkpoint (`interrupted`); a
  second signal exits at once;
* a non-finite loss, gradient norm, parameter or optimiser statistic: at the end of that chunk,
  without a checkpoint, so the last finite one stays the run's result (`DivergenceError`);
* `target_return`: when the deterministic policy's evaluation return, averaged over the runs,
  reaches it (`target_reached`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.training import distributed, rundir
from pgjax.training.algorithm import Algorithm
from pgjax.training.checkpoints import Checkpoints, require_checkpoint
from pgjax.training.config import Config, ConfigError
from pgjax.training.evaluation import make_evaluate
from pgjax.training.parallel import across_devices


def is_divergence_metric(name: str) -> bool:
    """Metrics whose non-finite value means the run diverged: every loss and gradient norm an
    algorithm logs (`loss`, `critic_loss`, `grad_norm`, `actor_grad_norm`, …)."""
    return name.endswith(("loss", "grad_norm"))


ProgressFn = Callable[[int, dict[str, np.ndarray]], None]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How the driver runs (none of it changes the numbers a run computes).

    Attributes:
      chunk_updates: the most updates one compiled call runs (static; default: all, up to 512).
      chunk_seconds: the wall time a chunk aims at; it bounds how long a stop request waits
        (default: 1 s, or 0.25 s with a `target_return`, which is checked after each chunk).
      checkpoint_every: chunks between checkpoints (one is always written at the end).
      keep_checkpoints: how many of the newest checkpoints to keep.
      target_return: stop once the mean evaluation return over the runs reaches it.
      target_episodes: evaluation episodes per run for that check.
      tensorboard: also write TensorBoard event files when tensorboardX is installed.
      envs_devices: devices per run: each run's environments and minibatches are split over
        them, gradients and statistics reduced across them (`across_devices`). Changes the
        numbers only by the order of floating-point reductions.
    """

    chunk_updates: int | None = None
    chunk_seconds: float | None = None
    checkpoint_every: int = 20
    keep_checkpoints: int = 3
    target_return: float | None = None
    target_episodes: int = 10
    tensorboard: bool = True
    envs_devices: int = 1

    def validate(self) -> None:
        for name in ("checkpoint_every", "keep_checkpoints", "target_episodes", "envs_devices"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}.", name)
        if self.chunk_updates is not None and self.chunk_updates < 1:
            raise ConfigError(
                f"chunk_updates must be >= 1, got {self.chunk_updates}.", "chunk_updates"
            )
        if self.chunk_seconds is not None and not self.chunk_seconds > 0:
            raise ConfigError(
                f"chunk_seconds must be > 0, got {self.chunk_seconds}.", "chunk_seconds"
            )
        if self.target_return is not None and not math.isfinite(self.target_return):
            raise ConfigError(
                f"target_return must be finite, got {self.target_return}.", "target_return"
            )

    def check_devices(self) -> None:
        """Raises ConfigError when this machine has fewer devices than a run needs (apart from
        `validate`: a finished run is still read and evaluated on a smaller machine)."""
        if self.envs_devices > len(jax.devices()):
            raise ConfigError(
                f"envs_devices={self.envs_devices} is more than the {len(jax.devices())} "
                "device(s) JAX has.",
                "envs_devices",
            )


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
    """

    status: str
    state: Any
    metrics: dict[str, np.ndarray]
    updates: int
    session_updates: int
    compile_seconds: float
    run_seconds: float


class DivergenceError(RuntimeError):
    """A run produced non-finite values; the message names the update, run and metric."""


def run(
    algorithm: Algorithm,
    config: Config,
    seeds: list[int],
    run_dir: str | Path,
    *,
    hyperparams: dict | None = None,
    options: RunOptions = RunOptions(),
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Trains `algorithm` with `config` for every seed in `seeds` (vmapped, split across
    devices), writing `run_dir` (see `pgjax.training.rundir`).

    Args:
      hyperparams: optional dict of `[len(seeds)]` arrays, one value per run (a grid).
      overwrite: replace pgjax's files in a non-empty `run_dir` (refused otherwise).
      progress: called with `(updates done, {})` once compiled, then after every chunk with
        `(updates done, metrics of the chunk)`.

    Raises:
      ConfigError: an invalid config, options or hyperparameters (before anything compiles).
      RunDirectoryError: a run directory that cannot be used.
      DivergenceError: a non-finite loss, gradient or state.
    """
    record = new_run(algorithm, config, seeds, run_dir, hyperparams, options, overwrite)
    session = _Session(algorithm, config, record, Path(run_dir), options, progress)
    return session.run(resume=False)


def new_run(
    algorithm: Algorithm,
    config: Config,
    seeds: list[int],
    run_dir: str | Path,
    hyperparams: dict | None,
    options: RunOptions,
    overwrite: bool,
    **extra,
) -> dict:
    """Checks a new run's settings (ConfigError, before anything compiles), prepares `run_dir`
    and writes its config.json. Returns that record; `extra` joins it (the asynchronous
    runtime's settings)."""
    if not isinstance(config, algorithm.config_class):
        raise ConfigError(
            f"{algorithm.name} takes a {algorithm.config_class.__name__}, got "
            f"{type(config).__name__}."
        )
    config.validate()
    options.validate()
    options.check_devices()
    if options.envs_devices > 1 and not algorithm.data_parallel:
        raise ConfigError(
            f"{algorithm.name} does not split a run over devices (envs_devices="
            f"{options.envs_devices}); its seeds spread over the devices anyway.",
            "envs_devices",
        )
    seeds = _check_seeds(seeds)
    _check_every_process_takes_part(len(seeds), options.envs_devices)
    if hyperparams:
        hyperparams = _check_hyperparams(config, hyperparams, len(seeds))
    run_dir = Path(run_dir)
    distributed.on_primary(lambda: rundir.prepare(run_dir, overwrite), rundir.RunDirectoryError)
    record = {
        "algorithm": algorithm.name,
        "env_id": config.env_id,
        "seeds": seeds,
        "fingerprint": config.fingerprint(),
        "config": config.to_dict(),
        "hyperparams": hyperparams,
        "options": dataclasses.asdict(options),
        "versions": rundir.versions(),
        **extra,
    }
    if distributed.is_primary():
        rundir.write_json(run_dir / rundir.CONFIG, record)
    distributed.barrier("pgjax: run directory prepared")
    return record


def resume(run_dir: str | Path, *, progress: ProgressFn | None = None) -> RunResult:
    """Continues the run in `run_dir` from its latest checkpoint, with the options it was
    started with. The finished run's metrics.csv and final state are those of an uninterrupted
    run."""
    algorithm, config, record = read_run(run_dir)
    check_resumable(run_dir, record)
    require_checkpoint(run_dir)
    options = RunOptions(**record["options"])
    options.check_devices()
    _check_every_process_takes_part(len(record["seeds"]), options.envs_devices)
    session = _Session(algorithm, config, record, Path(run_dir), options, progress)
    return session.run(resume=True)


def check_resumable(run_dir: str | Path, record: dict) -> None:
    """Raises RunDirectoryError for a run of the asynchronous runtime
    (`pgjax.training.async_runtime`): its numbers depend on thread timing, so it has no exact
    continuation."""
    if record.get("runtime") == "async":
        raise rundir.RunDirectoryError(
            f"{run_dir} was trained with --async, which cannot be resumed (its numbers depend "
            f"on thread timing); `pgjax evaluate {run_dir}` evaluates its last checkpoint."
        )


def read_run(run_dir: str | Path) -> tuple[Algorithm, Config, dict]:
    """`(algorithm, config, record)` of a run directory's config.json, checked for consistency.

    Raises:
      RunDirectoryError: a missing or corrupt config.json, naming the file and the problem.
    """
    from pgjax import algorithms  # the registry sits above training; only resume needs it

    path = Path(run_dir) / rundir.CONFIG
    record = rundir.read_json(path)
    try:
        algorithm = algorithms.get(record["algorithm"])
        config = algorithm.config_class.from_dict(record["config"])
        config.validate()
        seeds = _check_seeds(record["seeds"])
        options = record["options"]
        RunOptions(**options).validate()
        if record.get("hyperparams"):
            _check_hyperparams(config, record["hyperparams"], len(seeds))
    except (KeyError, TypeError, ValueError) as error:
        raise rundir.RunDirectoryError(f"{path} is not a valid pgjax run record: {error}") from None
    if config.fingerprint() != record.get("fingerprint"):
        raise rundir.RunDirectoryError(
            f"{path}: the config does not match its fingerprint (was the file edited?)."
        )
    record = {**record, "seeds": seeds, "options": dict(options)}
    return algorithm, config, record


def restore_state(algorithm: Algorithm, config: Config, record: dict, run_dir: str | Path):
    """The latest checkpoint of a run directory: `(state, updates)`, leaves `[num_runs, ...]`."""
    require_checkpoint(run_dir)
    # Each run on one device whatever the run was trained on: orbax restores into this layout.
    init = across_devices(_init_from_seed(algorithm, config), len(record["seeds"]))
    template = init(_seeds(record["seeds"]), _hyperparams(record))
    checkpoints = Checkpoints(run_dir)
    try:
        state, meta = checkpoints.restore(template, _identity(record))
    finally:
        checkpoints.close()
    return state, int(meta["updates"])


def _check_hyperparams(config: Config, hyperparams, num_runs: int) -> dict[str, np.ndarray]:
    """A grid of hyperparameters, one value per run: known names, numbers in range (see
    `Config.resolve`), each of shape `[num_runs]`."""
    try:
        grid = {k: np.asarray(v, np.float32) for k, v in dict(hyperparams).items()}
    except (TypeError, ValueError):
        raise ConfigError(
            f"hyperparams must map hyperparameter names to numbers, got {hyperparams!r}."
        ) from None
    config.resolve(grid)
    for name, value in grid.items():
        if value.shape != (num_runs,):
            raise ConfigError(
                f"hyperparams[{name!r}] has shape {value.shape}, expected ({num_runs},): one "
                "value per seed.",
                name,
            )
    return grid


def _check_every_process_takes_part(num_runs: int, envs_devices: int) -> None:
    """Several processes run one program: a process whose devices hold no run would have
    nothing to compute and no part in the checkpoints, so the runs must fill the mesh
    (`parallel.make_mesh` uses gcd(runs, devices // envs_devices) groups of envs_devices)."""
    devices = len(jax.devices())
    used = math.gcd(num_runs, devices // envs_devices) * envs_devices
    if jax.process_count() == 1 or used == devices:
        return
    raise ConfigError(
        f"{jax.process_count()} processes have {devices} devices, and {num_runs} seed(s) × "
        f"envs_devices={envs_devices} would use only {used} of them; with several processes "
        "every device takes part: give envs_devices dividing the device count and a number of "
        f"seeds that is a multiple of the device count over envs_devices.",
        "seeds",
    )


def _check_seeds(seeds) -> list[int]:
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, int | np.integer) and 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of ints in [0, 2**32), got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct, got {seeds!r}.")
    return [int(s) for s in seeds]


def _seeds(seeds: list[int]) -> np.ndarray:
    # Host data, not device arrays: under jax.distributed every process passes the same values
    # and jit places each process's share.
    return np.asarray(seeds, np.uint32)


def _init_from_seed(algorithm: Algorithm, config: Config):
    """`init` keyed by `jax.random.key(seed)`, the key `make_train` would be given."""
    return lambda seed, hp: algorithm.init(config, jax.random.key(seed), hp)


def _hyperparams(record: dict) -> dict | None:
    grid = record.get("hyperparams")
    return None if not grid else {k: np.asarray(v, np.float32) for k, v in grid.items()}


def _identity(record: dict) -> dict:
    return {
        "algorithm": record["algorithm"],
        "env_id": record["env_id"],
        "seeds": record["seeds"],
        "fingerprint": record["fingerprint"],
    }


def _all_finite(state) -> jax.Array:
    """True when every floating-point leaf of one run's state is finite (a scalar bool)."""
    leaves = [
        x
        for x in jax.tree.leaves(state)
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in leaves])) if leaves else True


class _StopRequests:
    """SIGINT / SIGTERM handlers for the duration of a run (main thread only): the first signal
    asks the run to stop at the next chunk boundary, a second one exits at once."""

    def __init__(self):
        self.signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number, frame):
        if self.signal is not None:
            print(
                f"\n{signal.Signals(number).name} again: exiting now, without a checkpoint.",
                file=sys.stderr,
                flush=True,
            )
            os._exit(128 + number)
        self.signal = signal.Signals(number).name


class _Session:
    """One process's share of a run: compile, restore or initialise, loop over chunks."""

    def __init__(self, algorithm, config, record, run_dir, options, progress):
        self.algorithm = algorithm
        self.config = config
        self.record = record
        self.run_dir = Path(run_dir)
        self.options = options
        self.progress = progress
        self.seeds = record["seeds"]
        self.num_runs = len(self.seeds)
        self.max_chunk = options.chunk_updates or min(config.num_updates, 512)
        # Only process 0 writes the run directory's files (checkpoints are written by all).
        self.primary = distributed.is_primary()
        self.log = rundir.MetricsLog(run_dir)
        self.tensorboard = None  # opened by `run`, which knows where a resumed run restarts

    def _compile(self, seeds, hyperparams):
        """Compiles `init`, runs it, and compiles `chunk` (and the target's evaluation) for its
        state. Returns `(chunk, evaluate or None, initial state, compile seconds)`."""
        algorithm, config = self.algorithm, self.config

        def chunk(state, num_updates):
            # A while loop with a run-time trip count (≤ max_chunk) and the metrics written
            # into preallocated rows: the same loop body as `make_train`'s scan, so the same
            # bits, and chunks of any length from one compiled program.
            shapes = jax.eval_shape(lambda s: algorithm.update(config, s)[1], state)
            rows = jax.tree.map(lambda s: jnp.zeros((self.max_chunk, *s.shape), s.dtype), shapes)

            def step(i, carry):
                state, rows = carry
                state, metrics = algorithm.update(config, state)
                return state, jax.tree.map(lambda r, m: r.at[i].set(m), rows, metrics)

            state, rows = jax.lax.fori_loop(0, num_updates, step, (state, rows))
            return state, rows, _all_finite(state)

        spread = {"envs_devices": self.options.envs_devices}
        start = time.perf_counter()
        init = across_devices(_init_from_seed(algorithm, config), self.num_runs, **spread)
        init = init.lower(seeds, hyperparams).compile()
        seconds = time.perf_counter() - start
        state = init(seeds, hyperparams)
        start = time.perf_counter()
        chunk = across_devices(chunk, self.num_runs, in_axes=(0, None), **spread)
        chunk = chunk.lower(state, np.int32(1)).compile()
        evaluate = None
        if self.options.target_return is not None:
            one = make_evaluate(algorithm, config, self.options.target_episodes)
            evaluate = across_devices(
                lambda state, seed: one(state, jax.random.key(seed)), self.num_runs, **spread
            )
            evaluate = evaluate.lower(state, seeds).compile()
        return chunk, evaluate, state, seconds + time.perf_counter() - start

    def run(self, resume: bool) -> RunResult:
        chunk, evaluate, state, compile_seconds = self._compile(
            _seeds(self.seeds), _hyperparams(self.record)
        )
        checkpoints = Checkpoints(self.run_dir, self.options.keep_checkpoints)
        history: dict[str, list[np.ndarray]] = {}
        done = first = 0
        try:
            if resume:
                state, meta = checkpoints.restore(state, _identity(self.record))
                done = first = int(meta["updates"])
                if self.primary:
                    self.log.truncate(done, self.num_runs)
                distributed.barrier("pgjax: metrics.csv cut back to the checkpoint")
                previous = self.log.read(self.num_runs, done)
                history = {k: [v] for k, v in previous.items() if k not in ("update", "seed")}
            if self.options.tensorboard and self.primary:
                resumed_at = done * self.config.steps_per_update if resume else None
                self.tensorboard = rundir.TensorBoardLog.open(self.run_dir, self.seeds, resumed_at)
            status, state, done, run_seconds = self._loop(
                chunk, evaluate, state, done, checkpoints, history
            )
        finally:
            checkpoints.wait()
            checkpoints.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
        metrics = {k: np.concatenate(v, axis=1) for k, v in history.items()}
        return RunResult(status, state, metrics, done, done - first, compile_seconds, run_seconds)

    def _meta(self, updates: int) -> dict:
        return {
            **_identity(self.record),
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

    def _loop(self, chunk, evaluate, state, done, checkpoints, history):
        """Runs chunks until the end, a stop request, divergence or the target.

        The next chunk is dispatched before the host handles the last one (JAX dispatches
        asynchronously), so metrics, checks and checkpoints overlap with device work. A stop
        request ends the run after the chunk running when it came; a chunk dispatched before a
        divergence or the target was seen is dropped, never recorded.
        """
        total = self.config.num_updates
        chunks, status, stopping = 0, "completed", False
        if self.progress is not None:
            self.progress(done, {})
        start = time.perf_counter()
        with _StopRequests() as stop:
            n = min(1, total - done)  # a first, short chunk measures the update rate
            pending = chunk(state, np.int32(n)) if n else None
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
                decisions = distributed.from_all(
                    np.array(
                        [min(self._next_chunk(n, ready - began), total - after), bool(stop.signal)],
                        np.int64,
                    )
                )
                n_next, stopping = int(decisions[0, 0]), bool(decisions[:, 1].any())
                # Fetched before the next chunk is dispatched: across processes the fetch is a
                # collective program, which would otherwise wait for that whole chunk.
                metrics, finite = distributed.fetch((metrics, finite))
                if after < total and not stopping:
                    pending, began = chunk(new_state, np.int32(n_next)), ready
                metrics = {k: v[:, :n] for k, v in metrics.items()}
                self._record(done, metrics, history)
                self._check_finite(done, metrics, finite, checkpoints)
                state, done, chunks = new_state, after, chunks + 1
                if pending is not None:
                    n = n_next
                if self.progress is not None:
                    self.progress(done, metrics)
                if evaluate is not None and self._reached_target(evaluate, state, done):
                    status, pending = "target_reached", None
                elif chunks % self.options.checkpoint_every == 0 and done < total:
                    checkpoints.save(done, state, self._meta(done))
            if stopping and done < total:
                status = "interrupted"
        run_seconds = time.perf_counter() - start
        if checkpoints.latest() != done:
            checkpoints.save(done, state, self._meta(done))
        extra = {"signal": stop.signal or "another process's"} if status == "interrupted" else {}
        self._status(status, done, run_seconds=run_seconds, **extra, **self._target_record())
        return status, state, done, run_seconds

    def _next_chunk(self, n: int, seconds: float) -> int:
        """Updates for the next chunk, so that it takes about `chunk_seconds`."""
        target = self.options.chunk_seconds
        if target is None:
            target = 1.0 if self.options.target_return is None else 0.25
        rate = n / max(seconds, 1e-6)
        return max(1, min(self.max_chunk, int(rate * target)))

    def _record(self, done: int, metrics: dict, history: dict) -> None:
        if self.primary:
            self.log.append(done, metrics, self.seeds, self.config.steps_per_update)
        if self.tensorboard is not None:
            self.tensorboard.write(done, metrics, self.config.steps_per_update)
        steps = (np.arange(done, done + next(iter(metrics.values())).shape[1]) + 1) * (
            self.config.steps_per_update
        )
        rows = {**metrics, "env_steps": np.broadcast_to(steps, (self.num_runs, steps.size))}
        for name, value in rows.items():
            history.setdefault(name, []).append(np.asarray(value, np.float64))

    def _check_finite(self, done: int, metrics: dict, finite: np.ndarray, checkpoints) -> None:
        """Raises DivergenceError, naming the first non-finite metric's update and run, or the
        runs whose state went non-finite; the last checkpoint stays the result."""
        problems = []
        for name in filter(is_divergence_metric, metrics):
            bad = ~np.isfinite(metrics[name])
            if bad.any():
                runs, steps = np.nonzero(bad)
                first = int(np.argmin(steps))
                problems.append((int(steps[first]), int(runs[first]), name))
        if not problems and finite.all():
            return
        last = checkpoints.latest()
        kept = (
            f"the last finite checkpoint is after {last} updates ({self.run_dir}/checkpoints)"
            if last is not None
            else "no checkpoint was written before it"
        )
        if problems:
            step, run, name = min(problems)
            where = f"at update {done + step} (seed {self.seeds[run]}): {name} is not finite"
        else:
            runs = [self.seeds[i] for i in np.nonzero(~finite)[0]]
            last_update = done + next(iter(metrics.values())).shape[1] - 1
            where = f"in updates {done}-{last_update}: the state of seed(s) {runs} is not finite"
        message = f"training diverged {where}; {kept}."
        self._status("diverged", done, message=message)
        raise DivergenceError(message)

    def _reached_target(self, evaluate, state, done: int) -> bool:
        seeds = np.arange(self.num_runs, dtype=np.uint32) + np.uint32(done)
        mean_return = float(distributed.fetch(evaluate(state, seeds)).mean())
        self._last_evaluation = (done, mean_return)
        return mean_return >= self.options.target_return

    def _target_record(self) -> dict:
        if self.options.target_return is None or not hasattr(self, "_last_evaluation"):
            return {}
        updates, mean_return = self._last_evaluation
        return {
            "target_return": self.options.target_return,
            "last_evaluation": {
                "updates": updates,
                "env_steps": updates * self.config.steps_per_update,
                "mean_return": mean_return,
            },
        }
