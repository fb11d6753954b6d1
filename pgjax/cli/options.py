"""The command line's shared option groups, parsing helpers and user errors.

Plain argparse over the config classes' field metadata: nothing here imports JAX, so every
command's `--help` answers at once. Every option is checked here or by the config's and the run
options' `validate()` before anything compiles; a user error is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

EXIT_USAGE = 2  # a user error: bad option, unusable path, invalid run directory
EXIT_FAILED = 1  # divergence, a full disk, a lost process
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


class LostProcessError(Exception):
    """A process of a multi-process run did not join or was lost: one line, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with user errors as one line (`UsageError`) instead of the usage block."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def config_error(error, prog: str) -> UsageError:
    """A config error, phrased with the option that sets the field."""
    field = getattr(error, "field", None)
    hint = f" (option {option_name(field)})" if field and field != "env_id" else ""
    return UsageError(f"{prog}: {error}{hint}")


def positive(name: str, value: int) -> None:
    if value < 1:
        raise UsageError(f"{name} must be >= 1, got {value}.")


# ---------------------------------------------------------------------------- option groups


def add_config_fields(parser: argparse.ArgumentParser, config_class, skip=("env_id",)) -> None:
    """Every field of the config class as an option, with its documentation and range."""
    parsers = {int: int, float: float, bool: parse_bool, str: str, tuple: parse_sizes}
    group = parser.add_argument_group(f"{config_class.__name__} fields")
    for field in dataclasses.fields(config_class):
        if field.name in skip:
            continue
        meta = field.metadata
        kind = "hyperparameter" if meta.get("traced") else "static"
        choices = f"; one of {', '.join(map(str, meta['choices']))}" if meta.get("choices") else ""
        group.add_argument(
            option_name(field.name),
            dest=field.name,
            type=parsers[type(field.default)],
            default=None,
            metavar=type(field.default).__name__.upper(),
            help=f"{meta.get('doc', '')} ({kind}{choices}; default: the preset, else "
            f"{field.default})",
        )


def config_overrides(args: argparse.Namespace, config_class) -> dict:
    """The config fields given on the command line."""
    fields = {f.name for f in dataclasses.fields(config_class)} - {"env_id"}
    return {k: v for k, v in vars(args).items() if k in fields and v is not None}


def add_seeds(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("seeds")
    group.add_argument("--seeds", type=int, default=None, help="seeds trained in parallel (1)")
    group.add_argument("--seed", type=int, default=None, help="first seed (0)")


def seeds_of(args: argparse.Namespace, default: list[int] | None = None) -> list[int]:
    """`--seeds` seeds from `--seed`; `default` (e.g. a --config file's) when neither is
    given, else 1 seed from 0."""
    if args.seeds is None and args.seed is None and default:
        return list(default)
    count = 1 if args.seeds is None else args.seeds
    first = 0 if args.seed is None else args.seed
    positive("--seeds", count)
    if first < 0 or first + count > 2**32:
        raise UsageError(f"--seed must be in [0, 2**32 - --seeds], got {first}.")
    return list(range(first, first + count))


def add_run_options(parser: argparse.ArgumentParser, episodes: str, default_episodes: int):
    """The run directory, progress, checkpoints and the final evaluation's size."""
    group = parser.add_argument_group("run directory and session")
    group.add_argument("--out", type=Path, default=None, help="run directory")
    group.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument(
        "--eval-episodes",
        *(["--eval-prompts"] if episodes == "prompts" else []),
        dest="eval_episodes",
        type=int,
        default=default_episodes,
        help=f"evaluation {episodes} per seed at the end (default {default_episodes})",
    )
    if episodes == "episodes":
        group.add_argument(
            "--stochastic-evaluation",
            action="store_true",
            help="evaluate (--target-return and the report) by sampling the policy, not its "
            "mode: for tasks whose best policy is stochastic",
        )
    group.add_argument(
        "--chunk-updates", type=int, default=None, help="most updates per compiled chunk"
    )
    group.add_argument(
        "--checkpoint-every", type=int, default=20, help="chunks between checkpoints"
    )
    group.add_argument("--keep-checkpoints", type=int, default=3, help="newest checkpoints to keep")
    group.add_argument(
        "--no-tensorboard", action="store_true", help="no TensorBoard files (tensorboardX)"
    )


def add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target-return",
        type=float,
        default=None,
        help="stop once the mean evaluation return (the policy's mode, unless "
        "--stochastic-evaluation) reaches this",
    )


def add_envs_devices(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--envs-devices",
        type=int,
        default=1,
        help="devices per seed: split each run's environments and minibatches over them "
        "(data parallel; default 1)",
    )


def run_options(args: argparse.Namespace):
    """`RunOptions` from the parsed run options (validated by the caller)."""
    from pgjax.runs.options import RunOptions

    return RunOptions(
        chunk_updates=args.chunk_updates,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        target_return=getattr(args, "target_return", None),
        tensorboard=not args.no_tensorboard,
        envs_devices=getattr(args, "envs_devices", 1),
        eval_episodes=args.eval_episodes,
        stochastic_evaluation=getattr(args, "stochastic_evaluation", False),
    )


def add_async(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("asynchronous actor-learner engine")
    group.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="actor threads and a learner on separate devices, joined by a queue: acting "
        "overlaps learning; not reproducible, cannot be resumed; the lag is the engine's, "
        "not --policy-lag",
    )
    group.add_argument("--actors", type=int, default=None, help="actor threads (--async; 1)")
    group.add_argument(
        "--queue-size", type=int, default=None, help="rollouts the queue holds (--async; 2)"
    )


def async_options(args: argparse.Namespace):
    """`AsyncOptions` for `--async` (None without it; --actors or --queue-size without it is
    a user error rather than silently ignored)."""
    from pgjax.runs.options import AsyncOptions

    if not getattr(args, "asynchronous", False):
        given = [
            f"--{n.replace('_', '-')}"
            for n in ("actors", "queue_size")
            if getattr(args, n, None) is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)} only apply with --async.")
        return None
    defaults = AsyncOptions()
    return AsyncOptions(
        args.actors if args.actors is not None else defaults.actors,
        args.queue_size if args.queue_size is not None else defaults.queue_size,
    )


def add_compile_cache(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compile-cache",
        default=None,
        metavar="DIR|off",
        help="JAX's persistent compilation cache (default: $PGJAX_COMPILE_CACHE, else "
        "~/.cache/pgjax/jax-compilation-cache); `off` compiles every time",
    )


def enable_compile_cache(setting: str | None) -> None:
    from pgjax.runs.compile_cache import enable_compile_cache

    try:
        enable_compile_cache(setting)
    except ValueError as error:
        raise UsageError(f"--compile-cache: {error}") from None


def add_devices(parser: argparse.ArgumentParser) -> None:
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


def check_address(address: str) -> None:
    """HOST:PORT with a port in [1, 65535] (UsageError naming the option otherwise)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(
            f"--coordinator-address must be HOST:PORT with a port in [1, 65535], got {address!r}."
        )


def start_devices_early(argv: list[str]) -> None:
    """`start_devices` from the device options in `argv` alone: for a command that must import
    code which may start JAX's backend (a plugin algorithm imports an environment suite) before
    its full options can be parsed."""
    parser = Parser(prog="pgjax", add_help=False)
    add_devices(parser)
    start_devices(parser.parse_known_args(argv)[0])


def start_devices(args: argparse.Namespace) -> None:
    """Configures JAX's devices and the distributed runtime from the device options, before
    anything starts JAX's backend (a second call with the same options changes nothing)."""
    if args.cpu_devices is not None:
        positive("--cpu-devices", args.cpu_devices)
    if args.distributed_timeout < 1:
        raise UsageError(f"--distributed-timeout must be >= 1, got {args.distributed_timeout}.")
    explicit = (args.coordinator_address, args.num_processes, args.process_id)
    if args.coordinator_address is not None:
        check_address(args.coordinator_address)
    import jax

    from pgjax.runs import distributed
    from pgjax.training.parallel import use_cpu_cores

    use_cpu_cores(args.cpu_devices)  # runs are split across the CPU's cores
    wanted = any(v is not None for v in explicit) or distributed.launched_by_cluster()
    if wanted and not jax.distributed.is_initialized():
        try:
            distributed.initialize(*explicit, timeout_seconds=args.distributed_timeout)
        except ValueError as error:
            raise UsageError(str(error)) from None
        except distributed.JoinError as error:
            raise LostProcessError(str(error)) from None
