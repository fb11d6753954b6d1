"""The run layer's Python API: train, resume, restore and evaluate runs in a run directory.

    from pgjax.algorithms.ppo import PPO, PPOConfig
    from pgjax import runs

    result = runs.run(PPO, PPOConfig.for_env("CartPole-v1"), seeds=[0, 1], run_dir="runs/cp")
    result = runs.resume("runs/cp")                 # after an interruption: same numbers
    evaluation = runs.evaluate("runs/cp", episodes=100)

An algorithm written in your own code is run the same way; `register` it to make `resume` and
`evaluate` (which find the algorithm by the name in config.json) work in a new process.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pgjax.runs import rundir
from pgjax.runs.actor_learner import RUNTIME, ActorLearnerEngine
from pgjax.runs.checkpoints import Checkpoints, require_checkpoint
from pgjax.runs.chunked import CompiledEngine
from pgjax.runs.engine import init_from_seed
from pgjax.runs.evaluator import RunEvaluator
from pgjax.runs.options import AsyncOptions, RunOptions
from pgjax.runs.record import (
    check_every_process_takes_part,
    check_resumable,
    hyperparams_of,
    identity,
    new_run,
    read_run,
    seeds_array,
)
from pgjax.runs.session import RunResult, Session
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config, ConfigError
from pgjax.training.parallel import across_devices


def engine_for(algorithm: Algorithm, config: Config, record: dict, options: RunOptions):
    """The engine a run record asks for: the actor-learner runtime (`--async`), else the
    compiled chunked loop, with population-based training between its chunks when the record
    is a sweep with `pbt`."""
    num_runs = len(record["seeds"])
    if record.get("runtime") == RUNTIME:
        async_options = AsyncOptions(**record["asynchronous"])
        return ActorLearnerEngine(algorithm, config, num_runs, options, async_options)
    pbt = (record.get("sweep") or {}).get("pbt")
    between = None
    if pbt is not None:
        from pgjax.runs.pbt import PBTOptions, PopulationBasedTraining

        between = PopulationBasedTraining(algorithm, config, num_runs, options, PBTOptions(**pbt))
    return CompiledEngine(algorithm, config, num_runs, options, between=between)


def check_async(algorithm: Algorithm, options: RunOptions, async_options: AsyncOptions) -> None:
    """Raises ConfigError for a run the asynchronous engine cannot take (before compiling)."""
    import jax

    async_options.validate()
    if algorithm.actor_learner is None:
        raise ConfigError(f"{algorithm.name} has no actor-learner split: it cannot run --async.")
    if jax.process_count() > 1 or options.envs_devices != 1:
        raise ConfigError("The asynchronous engine runs in one process, one device per role.")


def run(
    algorithm: Algorithm,
    config: Config,
    seeds: list[int],
    run_dir: str | Path,
    *,
    hyperparams: dict | None = None,
    options: RunOptions | None = None,
    async_options: AsyncOptions | None = None,
    overwrite: bool = False,
    progress=None,
) -> RunResult:
    """Trains `algorithm` with `config` for every seed in `seeds` (vmapped, split across
    devices), writing `run_dir` (see `pgjax.runs.rundir`).

    Args:
      hyperparams: optional dict of `[len(seeds)]` arrays, one value per run (a grid).
      options: how the session runs (chunks, checkpoints, target, devices).
      async_options: run on the asynchronous actor-learner engine (IMPALA) with these
        options, instead of the compiled chunked loop.
      overwrite: replace pgjax's files in a non-empty `run_dir` (refused otherwise).
      progress: called with `(updates done, {})` once compiled, then after every chunk with
        `(updates done, metrics of the chunk)`.

    Raises:
      ConfigError: an invalid config, options or hyperparameters (before anything compiles).
      RunDirectoryError: a run directory that cannot be used.
      DivergenceError: a non-finite loss, gradient or state.
      StorageError: the run directory's disk is full.
    """
    options = options or RunOptions()
    extra = {}
    if async_options is not None:
        check_async(algorithm, options, async_options)
        extra = {"runtime": RUNTIME, "asynchronous": dataclasses.asdict(async_options)}
    record = new_run(algorithm, config, seeds, run_dir, hyperparams, options, overwrite, **extra)
    engine = engine_for(algorithm, config, record, options)
    return Session(algorithm, config, record, run_dir, options, engine, progress).run(False)


def resume(run_dir: str | Path, *, progress=None, from_checkpoint: int | None = None) -> RunResult:
    """Continues the run in `run_dir` from its latest checkpoint (or the one after
    `from_checkpoint` updates, moving later ones aside), with the options it was started with.
    The finished run's metrics.csv and final state are those of an uninterrupted run. A run
    interrupted before its first checkpoint starts again from its seeds."""
    algorithm, config, record = read_run(run_dir)
    check_resumable(run_dir, record)
    options = RunOptions(**record["options"])
    options.check_devices()
    check_every_process_takes_part(len(record["seeds"]), options.envs_devices)
    engine = engine_for(algorithm, config, record, options)
    session = Session(algorithm, config, record, run_dir, options, engine, progress)
    session.from_checkpoint = from_checkpoint
    return session.run(True)


def restore(run_dir: str | Path, updates: int | None = None):
    """`(algorithm, config, record, state, updates)` of a run directory's latest checkpoint
    (or the one after `updates`), every leaf of `state` `[num_runs, ...]`, on this machine's
    devices whatever the run was trained on."""
    algorithm, config, record = read_run(run_dir)
    require_checkpoint(run_dir)
    init = across_devices(init_from_seed(algorithm, config), len(record["seeds"]))
    template = init(seeds_array(record["seeds"]), hyperparams_of(record))
    checkpoints = Checkpoints(run_dir)
    try:
        state, meta = checkpoints.restore(template, identity(record), updates)
    finally:
        checkpoints.close()
    return algorithm, config, record, state, int(meta["updates"])


def evaluate(
    run_dir: str | Path,
    *,
    episodes: int = 10,
    deterministic: bool = True,
    seed: int = 0,
    updates: int | None = None,
) -> dict:
    """Evaluates the checkpointed policies of a run directory and writes `evaluation.json`.

    Returns:
      the evaluation record (see `evaluation_record`), `metrics` holding the evaluator's
      arrays `[num_runs, ...]`.
    """
    algorithm, config, record, state, done = restore(run_dir, updates)
    evaluator = RunEvaluator(algorithm, config, len(record["seeds"]), episodes, deterministic)
    metrics = evaluator(state, seed)
    result = evaluation_record(algorithm, record, done, episodes, deterministic, seed, metrics)
    write_evaluation(run_dir, result)
    return {**result, "metrics": metrics, "compile_seconds": evaluator.compile_seconds}


def evaluation_record(
    algorithm: Algorithm,
    record: dict,
    updates: int,
    episodes: int,
    deterministic: bool,
    seed: int,
    metrics: dict,
) -> dict:
    """evaluation.json, one envelope for every algorithm family: what was evaluated and how,
    then each metric's mean over its episodes per seed and over all seeds (`per_seed`,
    `mean`). With a return (`target_metric`), also `mean_return` and `std_return` over every
    episode of every seed."""
    import numpy as np

    seeds = record["seeds"]
    # A sweep repeats seeds over its configurations: its runs are keyed "RUN:SEED".
    keys = [str(s) for s in seeds]
    if len(set(seeds)) < len(seeds):
        keys = [f"{i}:{s}" for i, s in enumerate(seeds)]
    per_seed = {
        key: {name: float(np.mean(value[i])) for name, value in metrics.items()}
        for i, key in enumerate(keys)
    }
    result = {
        "algorithm": algorithm.name,
        "env_id": record["env_id"],
        "updates": updates,
        "seeds": seeds,
        "episodes_per_seed": episodes,
        "deterministic": deterministic,
        "evaluation_seed": seed,
        "mean": {name: float(np.mean(value)) for name, value in metrics.items()},
        "per_seed": per_seed,
    }
    if algorithm.target_metric is not None:
        returns = np.asarray(metrics[algorithm.target_metric])
        result["mean_return"] = float(returns.mean())
        result["std_return"] = float(returns.std())
    return result


def write_evaluation(run_dir: str | Path, result: dict) -> None:
    """Writes evaluation.json (process 0 only, atomically)."""
    from pgjax.runs import distributed

    if distributed.is_primary():
        rundir.write_json(Path(run_dir) / "evaluation.json", result)
