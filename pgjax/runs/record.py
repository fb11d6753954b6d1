"""The run record: `RUN_DIR/config.json`, written when a run is created and read by `resume`
and `evaluate`; and the checks a run's settings pass before anything compiles.

    {"algorithm": "ppo", "env_id": "CartPole-v1", "seeds": [0, 1],
     "fingerprint": "…", "config": {...}, "hyperparams": null | {name: [R values]},
     "options": {...RunOptions}, "versions": {"pgjax": "0.2.0", "jax": "…"},
     "runtime": "async" (asynchronous engine only), "asynchronous": {...},
     "sweep": {...} (a sweep only: `pgjax.runs.sweep.SweepPlan`)}
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from pgjax.runs import distributed, registry, rundir
from pgjax.runs.options import RunOptions
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import Config, ConfigError

ASYNC_RUNTIME = "async"


def check_seeds(seeds, hyperparams: dict | None = None) -> list[int]:
    """A non-empty list of ints in [0, 2**32) (ConfigError otherwise), distinct unless
    `hyperparams` (name ↦ one value per run) tells the runs of a repeated seed apart: a sweep
    trains every configuration with the same seeds."""
    try:
        seeds = list(seeds)
    except TypeError:
        raise ConfigError(f"seeds must be a list of ints, got {seeds!r}.", "seeds") from None
    if not seeds or not all(isinstance(s, int | np.integer) and 0 <= s < 2**32 for s in seeds):
        raise ConfigError(
            f"seeds must be a non-empty list of ints in [0, 2**32), got {seeds!r}.", "seeds"
        )
    if len(set(seeds)) != len(seeds):
        columns = [np.ravel(np.asarray(v, np.float32)) for v in (hyperparams or {}).values()]
        if not columns or any(len(c) != len(seeds) for c in columns):
            runs = seeds
        else:
            runs = list(zip(seeds, *(c.tolist() for c in columns), strict=True))
        if len(set(runs)) < len(runs):
            raise ConfigError(
                f"seeds must be distinct (or the runs of a repeated seed must differ in their "
                f"hyperparameters), got {seeds!r}.",
                "seeds",
            )
    return [int(s) for s in seeds]


def check_hyperparams(config: Config, hyperparams, num_runs: int) -> dict[str, np.ndarray]:
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


def check_every_process_takes_part(num_runs: int, envs_devices: int) -> None:
    """Several processes run one program: a process whose devices hold no run would have
    nothing to compute and no part in the checkpoints, so the runs must fill the mesh
    (`parallel.make_mesh` uses gcd(runs, devices // envs_devices) groups of envs_devices)."""
    import jax

    devices = len(jax.devices())
    used = math.gcd(num_runs, devices // envs_devices) * envs_devices
    if jax.process_count() == 1 or used == devices:
        return
    raise ConfigError(
        f"{jax.process_count()} processes have {devices} devices, and {num_runs} seed(s) × "
        f"envs_devices={envs_devices} would use only {used} of them; with several processes "
        "every device takes part: give envs_devices dividing the device count and a number of "
        "seeds that is a multiple of the device count over envs_devices.",
        "seeds",
    )


def check_run(algorithm: Algorithm, config: Config, options: RunOptions) -> None:
    """Everything about a new run's settings that can be refused before anything compiles (a
    ConfigError naming the setting)."""
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
    from pgjax.runs.evaluator import check_target

    check_target(algorithm, options.target_return)


def identity(record: dict) -> dict:
    """What a checkpoint's metadata repeats of config.json (compared when it is restored);
    `policy` is the on-policy configs' policy network ("mlp" for configs without one)."""
    names = ("algorithm", "env_id", "seeds", "fingerprint")
    return {**{name: record[name] for name in names}, "policy": policy_of(record)}


def policy_of(record: dict) -> str:
    """The policy network a run record's config names ("mlp" when it names none)."""
    return (record.get("config") or {}).get("policy", "mlp")


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
    engine's settings)."""
    check_run(algorithm, config, options)
    seeds = check_seeds(seeds, hyperparams)
    check_every_process_takes_part(len(seeds), options.envs_devices)
    if hyperparams:
        hyperparams = check_hyperparams(config, hyperparams, len(seeds))
    run_dir = Path(run_dir)
    distributed.on_primary(lambda: rundir.prepare(run_dir, overwrite), rundir.RunDirectoryError)
    record = {
        "algorithm": algorithm.name,
        "env_id": config.environment,
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


def read_run(run_dir: str | Path) -> tuple[Algorithm, Config, dict]:
    """`(algorithm, config, record)` of a run directory's config.json, checked for consistency.
    The algorithm is found by name in the registry (`pgjax.runs.registry`: pgjax's own, those
    registered in this process, and installed plugins).

    Raises:
      RunDirectoryError: a missing or corrupt config.json, naming the file and the problem, or
        one written by a pgjax whose record this one cannot read, naming that version.
    """
    path = Path(run_dir) / rundir.CONFIG
    record = rundir.read_json(path)
    written_by = (record.get("versions") or {}).get("pgjax", "an unknown version")
    try:
        algorithm = registry.get(record["algorithm"])
        try:
            config = algorithm.config_class.from_dict(record["config"])
        except ConfigError as error:
            if written_by == rundir.versions()["pgjax"]:
                raise
            raise rundir.RunDirectoryError(
                f"{path} was written by pgjax {written_by}, whose {algorithm.name} settings "
                f"this pgjax {rundir.versions()['pgjax']} cannot read ({error})."
            ) from None
        config.validate()
        seeds = check_seeds(record["seeds"], record.get("hyperparams"))
        options = record["options"]
        RunOptions(**options).validate()
        if record.get("hyperparams"):
            check_hyperparams(config, record["hyperparams"], len(seeds))
    except rundir.RunDirectoryError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise rundir.RunDirectoryError(f"{path} is not a valid pgjax run record: {error}") from None
    if config.fingerprint() != record.get("fingerprint"):
        raise rundir.RunDirectoryError(
            f"{path}: the config does not match its fingerprint (was the file edited?)."
        )
    record = {**record, "seeds": seeds, "options": dict(options)}
    return algorithm, config, record


def check_resumable(run_dir: str | Path, record: dict) -> None:
    """Raises RunDirectoryError for a run of the asynchronous engine: its numbers depend on
    thread timing, so it has no exact continuation."""
    if record.get("runtime") == ASYNC_RUNTIME:
        raise rundir.RunDirectoryError(
            f"{run_dir} was trained with --async, which cannot be resumed (its numbers depend "
            f"on thread timing); `pgjax evaluate {run_dir}` evaluates its last checkpoint."
        )


def seeds_array(seeds: list[int]) -> np.ndarray:
    """Seeds as host data, not device arrays: under jax.distributed every process passes the
    same values and jit places each process's share."""
    return np.asarray(seeds, np.uint32)


def hyperparams_of(record: dict) -> dict | None:
    """The record's grid of hyperparameters as float32 arrays `[R]` (None: the config's)."""
    grid = record.get("hyperparams")
    return None if not grid else {k: np.asarray(v, np.float32) for k, v in grid.items()}
