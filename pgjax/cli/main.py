"""Command line: `pgjax train`, `pgjax resume`, `pgjax evaluate`.

    pgjax train ppo                                    # CartPole-v1, its default config
    pgjax train ppo --env CartPole-v1 --seeds 4 --total-steps 500000 --out runs/cartpole
    pgjax train ppo --env Pendulum-v1 --learning-rate 3e-4 --hidden-sizes 128,128
    pgjax resume runs/cartpole                         # after Ctrl-C: continues, same numbers
    pgjax evaluate runs/cartpole --episodes 100

Every field of the algorithm's config is an option (`--num-envs`, `--clip-eps`, …); the
environment's preset fills the ones not given. `pgjax train ppo --help` lists them. Every
option is checked before anything compiles; a user error prints one line and exits with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

EXIT_USAGE = 2  # a user error: bad option, unusable path, invalid run directory
EXIT_DIVERGED = 1
EXIT_FAILED = 1  # a process of a multi-process run was lost
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _config_options(parser: argparse.ArgumentParser, config_class) -> None:
    parsers = {int: int, float: float, bool: _parse_bool, str: str, tuple: _parse_sizes}
    group = parser.add_argument_group(f"{config_class.__name__} fields")
    for field in dataclasses.fields(config_class):
        if field.name == "env_id":
            continue
        meta = field.metadata
        kind = "hyperparameter" if meta.get("traced") else "static"
        choices = f"; one of {', '.join(map(str, meta['choices']))}" if meta.get("choices") else ""
        group.add_argument(
            _option(field.name),
            dest=field.name,
            type=parsers[type(field.default)],
            default=None,
            metavar=type(field.default).__name__.upper(),
            help=f"{meta.get('doc', '')} ({kind}{choices}; default: the preset, else "
            f"{field.default})",
        )


def _train_parser(name: str) -> argparse.ArgumentParser:
    from pgjax import algorithms

    algorithm = algorithms.get(name)
    parser = _Parser(
        prog=f"pgjax train {name}",
        description=f"Train {name.upper()} ({algorithm.summary}) on a gymnax environment, "
        "several seeds at once.",
    )
    default_env = algorithm.config_class.env_id  # the config's (SAC: Pendulum-v1)
    parser.add_argument(
        "--env", dest="env_id", default=default_env, help=f"gymnax env id (default: {default_env})"
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds trained in parallel")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--out", type=Path, default=None, help="run directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--eval-episodes", type=int, default=10, help="evaluation episodes per seed at the end"
    )
    parser.add_argument(
        "--target-return",
        type=float,
        default=None,
        help="stop once the deterministic policy's mean evaluation return reaches this",
    )
    parser.add_argument(
        "--chunk-updates", type=int, default=None, help="most updates per compiled chunk"
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=20, help="chunks between checkpoints"
    )
    parser.add_argument(
        "--keep-checkpoints", type=int, default=3, help="newest checkpoints to keep"
    )
    parser.add_argument(
        "--no-tensorboard", action="store_true", help="no TensorBoard files (tensorboardX)"
    )
    parser.add_argument(
        "--envs-devices",
        type=int,
        default=1,
        help="devices per seed: split each run's environments and minibatches over them "
        "(data parallel; default 1)",
    )
    _add_compile_cache_option(parser)
    _add_device_options(parser)
    _config_options(parser, algorithm.config_class)
    if name in algorithms.ASYNCHRONOUS:
        _add_async_options(parser)
    return parser


def _add_async_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("asynchronous actor-learner runtime")
    group.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="actor threads and a learner on separate devices, joined by a queue "
        "(pgjax.training.async_runtime): acting overlaps learning; not reproducible, cannot "
        "be resumed; the lag is the runtime's, not --policy-lag",
    )
    group.add_argument("--actors", type=int, default=1, help="actor threads (--async)")
    group.add_argument(
        "--queue-size", type=int, default=2, help="rollouts the queue holds (--async)"
    )


def _add_compile_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compile-cache",
        default=None,
        metavar="DIR|off",
        help="JAX's persistent compilation cache (default: $PGJAX_COMPILE_CACHE, else "
        "~/.cache/pgjax/jax-compilation-cache); `off` compiles every time",
    )


def _enable_compile_cache(setting: str | None) -> None:
    from pgjax.training.compile_cache import enable_compile_cache

    try:
        enable_compile_cache(setting)
    except ValueError as error:
        raise UsageError(f"--compile-cache: {error}") from None


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise UsageError(f"{name} must be >= 1, got {value}.")


def _config_error(error, prog: str) -> UsageError:
    """A config error, phrased with the option that sets the field."""
    field = getattr(error, "field", None)
    hint = f" (option {_option(field)})" if field and field != "env_id" else ""
    return UsageError(f"{prog}: {error}{hint}")


def train(name: str, argv: list[str]) -> int:
    import jax

    from pgjax import algorithms
    from pgjax.training import async_runtime, distributed, driver, rundir
    from pgjax.training.config import ConfigError

    algorithm = algorithms.get(name)
    if _is_rlhf(algorithm):
        raise UsageError(f"{name} trains on its own task: `pgjax rlhf {name[5:]} [options]`.")
    parser = _train_parser(name)
    args = parser.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(algorithm.config_class)} - {"env_id"}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    _positive("--seeds", args.seeds)
    _positive("--eval-episodes", args.eval_episodes)
    if args.seed < 0 or args.seed + args.seeds > 2**32:
        raise UsageError(f"--seed must be in [0, 2**32 - --seeds], got {args.seed}.")
    options = driver.RunOptions(
        chunk_updates=args.chunk_updates,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        target_return=args.target_return,
        tensorboard=not args.no_tensorboard,
        envs_devices=args.envs_devices,
    )
    asynchronous = getattr(args, "asynchronous", False)
    try:
        config = algorithm.config_class.for_env(args.env_id, **overrides)
        config.validate()
        options.validate()
        options.check_devices()
        if asynchronous:
            async_options = async_runtime.AsyncOptions(args.actors, args.queue_size)
            async_options.validate()
    except ConfigError as error:
        raise _config_error(error, parser.prog) from None
    seeds = list(range(args.seed, args.seed + args.seeds))
    _enable_compile_cache(args.compile_cache)
    if args.out is None and jax.process_count() > 1:
        raise UsageError("--out is required when several processes share a run.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.out or Path("runs") / f"{name}-{config.env_id}-{stamp}"
    # A run directory in use is refused now, before the progress bar; --overwrite waits for the
    # driver's own checks, so that a bad invocation never deletes a good run.
    if not args.overwrite:
        distributed.on_primary(lambda: rundir.prepare(run_dir, False), rundir.RunDirectoryError)

    def start(progress):
        common = {"options": options, "overwrite": args.overwrite, "progress": progress}
        if asynchronous:
            actor_learner = algorithms.ASYNCHRONOUS[name]
            return async_runtime.run_async(
                actor_learner, config, seeds, run_dir, async_options=async_options, **common
            )
        return driver.run(algorithm, config, seeds, run_dir, **common)

    return _drive(
        start,
        algorithm,
        config,
        seeds,
        Path(run_dir),
        args.no_progress,
        args.eval_episodes,
        resumable=not asynchronous,
    )


def resume(argv: list[str]) -> int:
    from pgjax.training import driver

    parser = _Parser(prog="pgjax resume", description="Continue an interrupted run.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per seed")
    _add_compile_cache_option(parser)
    args = parser.parse_args(argv)
    _positive("--eval-episodes", args.eval_episodes)
    _enable_compile_cache(args.compile_cache)
    algorithm, config, record = driver.read_run(args.run_dir)
    driver.check_resumable(args.run_dir, record)
    if _is_rlhf(algorithm):
        from pgjax.cli import rlhf

        return rlhf.resume(args.run_dir, args.no_progress)
    driver.require_checkpoint(args.run_dir)  # before the header, and before compiling
    return _drive(
        lambda progress: driver.resume(args.run_dir, progress=progress),
        algorithm,
        config,
        record["seeds"],
        args.run_dir,
        args.no_progress,
        args.eval_episodes,
    )


def _session_summary(result, config, num_runs: int, compile_label: str, unit: str) -> str:
    """The line that ends a training session: compile and run time, throughput, status."""
    steps = num_runs * config.steps_per_update * result.session_updates
    rate = f"{steps / result.run_seconds:,.0f}" if result.run_seconds > 0 else "n/a"
    return (
        f"{compile_label} {result.compile_seconds:.1f} s, run {result.run_seconds:.1f} s, "
        f"{rate} {unit}/s; {result.status} after {result.updates} updates"
    )


def _drive(
    start, algorithm, config, seeds, run_dir, no_progress, eval_episodes, resumable=True
) -> int:
    """Runs `start(progress)` (the driver), then reports, plots and evaluates."""
    import jax

    from pgjax.cli import plots
    from pgjax.cli.progress import ProgressBar
    from pgjax.training import distributed, driver

    primary = distributed.is_primary()
    say = print if primary else lambda *args, **kwargs: None
    total = config.num_updates * config.steps_per_update
    processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    say(
        f"{algorithm.name.upper()} on {config.env_id}: {len(seeds)} seed(s) × {total:,} steps "
        f"({config.num_updates} updates of {config.steps_per_update}) on "
        f"{len(jax.devices())} {jax.devices()[0].platform.upper()} device(s){processes} -> "
        f"{run_dir}",
        flush=True,
    )
    bar = None
    if primary and not no_progress:
        bar = ProgressBar(config.steps_per_update, len(seeds), total)
    try:
        result = start(bar)
    except driver.DivergenceError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    except jax.errors.JaxRuntimeError as error:
        if jax.process_count() == 1:
            raise
        # A peer crashed or was killed: its collectives fail here before the heartbeat timeout.
        reason = str(error).splitlines()[0]
        print(f"error: the run lost a process ({reason}); stopping.", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if bar is not None:
            bar.close()
    say(_session_summary(result, config, len(seeds), "compile", "env steps"))
    if primary:
        plots.learning_curve(run_dir, f"{algorithm.name.upper()} on {config.env_id}", len(seeds))
    if plots.no_episode_finished(result.metrics):
        say("note: no episode finished during training, so there are no training returns.")
    if result.status == "interrupted":
        if resumable:
            say(f"interrupted: checkpoint written; continue with `pgjax resume {run_dir}`.")
        else:
            say(
                "interrupted: checkpoint written (an --async run cannot be resumed; "
                f"`pgjax evaluate {run_dir}` evaluates it)."
            )
        return EXIT_INTERRUPTED
    return _report_evaluation(algorithm, config, seeds, result.state, run_dir, eval_episodes)


def _report_evaluation(
    algorithm, config, seeds, state, run_dir, episodes, deterministic=True, seed=0
) -> int:
    import jax
    import numpy as np

    from pgjax.training import distributed, rundir
    from pgjax.training.evaluation import make_evaluate_runs

    evaluate = make_evaluate_runs(algorithm, config, len(seeds), episodes, deterministic)
    start = time.perf_counter()
    evaluate = jax.jit(evaluate).lower(state, np.uint32(seed)).compile()
    compile_seconds = time.perf_counter() - start
    returns = distributed.fetch(evaluate(state, np.uint32(seed)))
    if not distributed.is_primary():
        return 0
    result = {
        "episodes_per_seed": episodes,
        "deterministic": deterministic,
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "per_seed_mean_return": {
            str(s): float(r.mean()) for s, r in zip(seeds, returns, strict=True)
        },
    }
    rundir.write_json(Path(run_dir) / "evaluation.json", result)
    per_seed = ", ".join(f"{r.mean():.1f}" for r in returns)
    print(
        f"evaluation ({episodes} episodes per seed, "
        f"{'deterministic' if deterministic else 'stochastic'} policy, "
        f"compile {compile_seconds:.1f} s): "
        f"mean return {returns.mean():.1f} ± {returns.std():.1f}; per seed [{per_seed}]"
    )
    print(f"results: {run_dir}/ (config.json, metrics.csv, learning_curve.png, checkpoints/)")
    return 0


def _is_rlhf(algorithm) -> bool:
    """An algorithm of `pgjax rlhf`, whose runs resume and evaluate on its own task."""
    from pgjax.rlhf import ALGORITHMS

    return algorithm.name in ALGORITHMS


def evaluate(argv: list[str]) -> int:
    parser = _Parser(
        prog="pgjax evaluate", description="Reload a run's latest checkpoint and report returns."
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=100, help="episodes per seed")
    parser.add_argument("--stochastic", action="store_true", help="sample actions (default: mode)")
    parser.add_argument("--seed", type=int, default=0)
    _add_compile_cache_option(parser)
    args = parser.parse_args(argv)
    _positive("--episodes", args.episodes)
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be in [0, 2**32), got {args.seed}.")
    _enable_compile_cache(args.compile_cache)
    from pgjax.training import driver

    algorithm, config, record = driver.read_run(args.run_dir)
    state, _ = driver.restore_state(algorithm, config, record, args.run_dir)
    if _is_rlhf(algorithm):  # --episodes: the fresh prompts the policies answer
        from pgjax.cli import rlhf

        rlhf.report(config, record["seeds"], state, args.run_dir, args.episodes, args.seed)
        return 0
    return _report_evaluation(
        algorithm,
        config,
        record["seeds"],
        state,
        args.run_dir,
        args.episodes,
        not args.stochastic,
        args.seed,
    )


def _add_device_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("devices and processes (read before JAX starts)")
    group.add_argument(
        "--cpu-devices", type=int, default=None, help="JAX devices on the CPU (default: cores)"
    )
    group.add_argument(
        "--coordinator-address",
        default=None,
        metavar="HOST:PORT",
        help="process 0's address, for a run over several processes (jax.distributed); "
        "without it, JAX detects SLURM, Open MPI, Kubernetes and TPU pods itself",
    )
    group.add_argument("--num-processes", type=int, default=None, help="processes in the run")
    group.add_argument("--process-id", type=int, default=None, help="this process's index")
    group.add_argument(
        "--distributed-timeout",
        type=int,
        default=120,
        help="seconds to wait for the other processes before failing (default: 120)",
    )


def _start_devices(argv: list[str]) -> list[str]:
    """Configures JAX's devices and the distributed runtime from the device options, before
    anything starts JAX's backend; returns the other arguments."""
    parser = _Parser(prog="pgjax", add_help=False)
    _add_device_options(parser)
    args, rest = parser.parse_known_args(argv)
    if args.cpu_devices is not None:
        _positive("--cpu-devices", args.cpu_devices)
    if args.distributed_timeout < 1:
        raise UsageError(f"--distributed-timeout must be >= 1, got {args.distributed_timeout}.")
    from pgjax.training import distributed
    from pgjax.training.parallel import use_cpu_cores

    use_cpu_cores(args.cpu_devices)  # runs are split across the CPU's cores
    explicit = (args.coordinator_address, args.num_processes, args.process_id)
    if any(v is not None for v in explicit) or distributed.launched_by_cluster():
        try:
            distributed.initialize(*explicit, timeout_seconds=args.distributed_timeout)
        except ValueError as error:
            raise UsageError(str(error)) from None
    return rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        argv = _start_devices(argv)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from pgjax.training.config import ConfigError
    from pgjax.training.rundir import RunDirectoryError

    try:
        if argv[:1] == ["train"] and len(argv) >= 2 and not argv[1].startswith("-"):
            return train(argv[1], argv[2:])
        if argv[:1] == ["resume"]:
            return resume(argv[1:])
        if argv[:1] == ["evaluate"]:
            return evaluate(argv[1:])
        if argv[:1] == ["rlhf"]:
            from pgjax.cli import rlhf

            return rlhf.train(argv[1:])
    except (UsageError, ConfigError, RunDirectoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from pgjax.algorithms import REGISTRY

    usage = (
        f"usage: pgjax train {{{','.join(REGISTRY)}}} [options]\n"
        "       pgjax resume RUN_DIR\n"
        "       pgjax evaluate RUN_DIR [--episodes N]\n"
        "       pgjax rlhf {ppo,grpo,dr-grpo,rloo} [options]\n"
        "Run `pgjax train ppo --help` for the options."
    )
    print(usage, file=sys.stderr)
    return 0 if argv[:1] in (["-h"], ["--help"]) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
