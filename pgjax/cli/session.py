"""The one drive path every command that trains takes (`pgjax train`, `pgjax rlhf`, `pgjax
resume`): the header, the progress bar, the run, its errors, the summary, the interrupt, then
the family's report (`pgjax.cli.control`, `pgjax.cli.rlhf`, which do not import each other).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pgjax.cli.options import EXIT_FAILED, EXIT_INTERRUPTED


@dataclasses.dataclass(frozen=True)
class Report:
    """What differs between algorithm families on the command line.

    Attributes:
      unit: what `steps_per_update` counts ("env steps", "token slots").
      describe: `(algorithm, config, num_seeds) -> str`, the header's description of the run.
      progress: `(config, num_seeds) -> progress bar` (called with the session's progress).
      finish: `(run_dir, algorithm, config, record, state, evaluation) -> None`: plots and
        prints after a run, given the run's evaluation (`pgjax.runs.api.evaluate`'s record).
      show: `(run_dir, algorithm, config, record, state, evaluation) -> None`: what `pgjax
        evaluate` prints of an evaluation.
    """

    unit: str
    describe: Callable
    progress: Callable
    finish: Callable
    show: Callable


def prepare(prog, args, algorithm, build_config, run_options, check=None):
    """What every command that starts a run does once its options are parsed and the devices
    started: build the config (`build_config()`) and check it with the run options and
    `check(algorithm, config)` before anything compiles (a ConfigError is a user error naming
    the option), enable the compile cache, and choose a run directory, refused when in use
    (unless --overwrite).

    Returns:
      `(config, run_dir, checked)`, `checked` what `check` returned.
    """
    import jax

    from pgjax.cli import options as opts
    from pgjax.runs import distributed, rundir
    from pgjax.runs.record import check_run
    from pgjax.training.config import ConfigError

    try:
        config = build_config()
        check_run(algorithm, config, run_options)
        checked = check(algorithm, config) if check is not None else None
    except ConfigError as error:
        raise opts.config_error(error, prog) from None
    opts.enable_compile_cache(args.compile_cache)
    if args.out is None and jax.process_count() > 1:
        raise opts.UsageError("--out is required when several processes share a run.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    environment = config.environment.replace("/", "-").replace(":", "-")  # brax/ant:spring
    run_dir = Path(args.out or Path("runs") / f"{algorithm.name}-{environment}-{stamp}")
    # A run directory in use is refused now, before the progress bar; --overwrite waits for the
    # session's own checks, so that a bad invocation never deletes a good run.
    if not args.overwrite:
        distributed.on_primary(lambda: rundir.prepare(run_dir, False), rundir.RunDirectoryError)
    return config, run_dir, checked


def train_new(
    prog, args, algorithm, build_config, report: Report, async_options=None, seeds=None
) -> int:
    """The shared path of the commands that start a run (`pgjax train`, `pgjax rlhf`):
    `prepare`, then `drive` the run (`seeds`: default `--seeds` from `--seed`)."""
    from pgjax.cli import options as opts
    from pgjax.runs import api

    seeds = opts.seeds_of(args) if seeds is None else seeds
    run_options = opts.run_options(args)

    def check(algorithm, config):
        if async_options is not None:
            api.check_async(algorithm, run_options, async_options)

    config, run_dir, _ = prepare(prog, args, algorithm, build_config, run_options, check)
    # What the report needs of the run record before the session writes it.
    record = {
        "env_id": config.environment,
        "seeds": seeds,
        "options": {
            "eval_episodes": args.eval_episodes,
            "stochastic_evaluation": getattr(args, "stochastic_evaluation", False),
            "envs_devices": getattr(args, "envs_devices", 1),
        },
    }
    if async_options is not None:
        record["runtime"] = "async"

    def start(progress):
        return api.run(
            algorithm,
            config,
            seeds,
            run_dir,
            options=run_options,
            async_options=async_options,
            overwrite=args.overwrite,
            progress=progress,
        )

    return drive(start, algorithm, config, record, run_dir, args.no_progress, report)


def say(*args, **kwargs) -> None:
    """print on process 0 only."""
    from pgjax.runs import distributed

    if distributed.is_primary():
        print(*args, **kwargs)


def drive(start, algorithm, config, record, run_dir: Path, no_progress: bool, report: Report):
    """Runs `start(progress) -> RunResult` (a session), then reports. Returns the exit status."""
    import jax

    from pgjax.runs import distributed
    from pgjax.runs.rundir import RunDirectoryError
    from pgjax.runs.session import DivergenceError, StorageError
    from pgjax.training.config import ConfigError

    seeds = record["seeds"]
    processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    say(
        f"{report.describe(algorithm, config, len(seeds))} on {len(jax.devices())} "
        f"{jax.devices()[0].platform.upper()} device(s){processes} -> {run_dir}",
        flush=True,
    )
    bar = None
    if distributed.is_primary():
        from pgjax.cli import plots

        plots.prefetch()
        if not no_progress:
            bar = report.progress(config, len(seeds))
    try:
        result = start(bar)
    except (DivergenceError, StorageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (ConfigError, RunDirectoryError):
        raise
    except Exception as error:
        # With several processes, a peer that crashed or was killed surfaces here as a failed
        # collective or an orbax barrier that timed out, whichever comes first.
        if jax.process_count() == 1:
            raise
        lost_process(error)
    finally:
        if bar is not None:
            bar.close()
    steps = len(seeds) * config.steps_per_update * result.session_updates
    rate = f"{steps / result.run_seconds:,.0f}" if result.run_seconds > 0 else "n/a"
    say(
        f"compile {result.compile_seconds:.1f} s, run {result.run_seconds:.1f} s, {rate} "
        f"{report.unit}/s; {result.status} after {result.updates} updates"
    )
    if result.signal is not None:
        say(
            f"{result.signal}: stopped after the run finished; its checkpoint and status are "
            f"complete (`pgjax evaluate {run_dir}` reports it)."
        )
        return EXIT_INTERRUPTED
    if result.status == "interrupted":
        if record.get("runtime") == "async":
            say(
                "interrupted: checkpoint written (an --async run cannot be resumed; "
                f"`pgjax evaluate {run_dir}` evaluates it)."
            )
        else:
            say(f"interrupted: checkpoint written; continue with `pgjax resume {run_dir}`.")
        return EXIT_INTERRUPTED
    try:
        evaluation = evaluate_state(
            run_dir, algorithm, config, record, result.state, result.updates
        )
        if distributed.is_primary():
            report.finish(run_dir, algorithm, config, record, result.state, evaluation)
    except KeyboardInterrupt:
        say(
            f"\ninterrupted while reporting; the run is complete: `pgjax evaluate {run_dir}` "
            "reports it.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


def evaluate_state(run_dir, algorithm, config, record, state, updates: int) -> dict:
    """The evaluation of a run's final state (`record["options"]["eval_episodes"]` episodes,
    the evaluation seed 0), written to evaluation.json: the record of
    `pgjax.runs.api.evaluation_record`, with the arrays (`metrics`) and the compile time."""
    from pgjax.runs.api import evaluation_record, write_evaluation
    from pgjax.runs.evaluator import RunEvaluator

    episodes = record["options"].get("eval_episodes", 10)
    deterministic = not record["options"].get("stochastic_evaluation", False)
    # The target check's evaluator when there was one: the same settings and state layout.
    envs_devices = record["options"].get("envs_devices", 1)
    evaluator = RunEvaluator.shared(
        algorithm, config, len(record["seeds"]), episodes, deterministic, envs_devices
    )
    metrics = evaluator(state, 0)
    result = evaluation_record(algorithm, record, updates, episodes, deterministic, 0, metrics)
    write_evaluation(run_dir, result)
    return {**result, "metrics": metrics, "compile_seconds": evaluator.compile_seconds}


def lost_process(error) -> None:
    """A peer process crashed or was killed: one line and exit, skipping the interpreter's
    shutdown, where JAX's distributed client would abort on the missing peer."""
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"error: the run lost a process ({reason}); stopping.", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(EXIT_FAILED)
