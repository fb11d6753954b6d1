"""`pgjax`: the command line.

    pgjax train ALGORITHM [options]   train a control algorithm, several seeds at once
    pgjax sweep ALGORITHM [options]   a hyperparameter search (or PBT) in one program
    pgjax rlhf ALGORITHM [options]    RLHF in miniature: reference, reward model, RL
    pgjax resume RUN_DIR              continue an interrupted run (the same numbers)
    pgjax evaluate RUN_DIR            evaluate a run's checkpointed policies

Every option is checked before anything compiles; a user error prints one line and exits with
status 2; an interrupt (Ctrl-C, SIGTERM) at any moment prints one line and exits with 130. Help
answers without importing JAX.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from pgjax.cli import options as opts
from pgjax.cli.options import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError

COMMANDS = {
    "train": "train a control algorithm on an environment, several seeds in one program",
    "sweep": "search hyperparameters (grid, random, population-based training) in one program",
    "rlhf": "RLHF in miniature: pretrain a reference, fit a reward model, fine-tune with RL",
    "resume": "continue an interrupted run where it stopped, with the same numbers",
    "evaluate": "reload a run's checkpoint and evaluate its policies",
    "envs": "list the environments pgjax trains on, and which extra installs each suite",
}


def _usage() -> str:
    from pgjax.runs import registry

    control = ",".join(registry.names("control"))
    rlhf = ",".join(n.removeprefix("rlhf-") for n in registry.names("rlhf"))
    lines = [
        "usage: pgjax COMMAND ...",
        "",
        f"  pgjax train {{{control}}} [options]",
        f"      {COMMANDS['train']}",
        f"  pgjax sweep {{{control}}} [--grid NAME=V1,V2,...] [--random N] [options]",
        f"      {COMMANDS['sweep']}",
        f"  pgjax rlhf {{{rlhf}}} [options]",
        f"      {COMMANDS['rlhf']}",
        "  pgjax resume RUN_DIR [--from-checkpoint N]",
        f"      {COMMANDS['resume']}",
        "  pgjax evaluate RUN_DIR [--episodes N]",
        f"      {COMMANDS['evaluate']}",
        "  pgjax envs [SUITE]",
        f"      {COMMANDS['envs']}",
        "",
        "`pgjax train ALGORITHM --help` lists every option, with its documentation and range.",
    ]
    return "\n".join(lines)


def _train_usage() -> str:
    from pgjax.runs import registry

    rows = [f"  {name:12s} {registry.summary(name)}" for name in registry.names("control")]
    return "usage: pgjax train ALGORITHM [options]\n\nalgorithms:\n" + "\n".join(rows)


def _report(algorithm, record: dict):
    from pgjax.runs import registry

    if record.get("sweep"):
        from pgjax.cli.sweep import REPORT
    elif registry.family_of(algorithm.name) == "rlhf":
        from pgjax.cli.rlhf import REPORT
    else:
        from pgjax.cli.control import REPORT
    return REPORT


def resume(argv: list[str]) -> int:
    parser = opts.Parser(prog="pgjax resume", description=COMMANDS["resume"] + ".")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--from-checkpoint",
        type=int,
        default=None,
        metavar="UPDATES",
        help="continue from the checkpoint after UPDATES updates instead of the latest (e.g. "
        "when the latest is corrupted); later checkpoints are moved aside, not deleted",
    )
    parser.add_argument(
        "--eval-episodes",
        type=int,
        default=None,
        help="evaluation episodes (RLHF: prompts) per seed at the end (default: the run's own)",
    )
    opts.add_compile_cache(parser)
    opts.add_devices(parser)
    args = parser.parse_args(argv)
    if args.eval_episodes is not None:
        opts.positive("--eval-episodes", args.eval_episodes)
    opts.start_devices(args)
    opts.enable_compile_cache(args.compile_cache)
    from pgjax.cli.session import drive
    from pgjax.runs import api
    from pgjax.runs.record import check_resumable, read_run

    algorithm, config, record = read_run(args.run_dir)
    check_resumable(args.run_dir, record)
    if args.eval_episodes is not None:
        record = {**record, "options": {**record["options"], "eval_episodes": args.eval_episodes}}

    def start(progress):
        return api.resume(args.run_dir, progress=progress, from_checkpoint=args.from_checkpoint)

    report = _report(algorithm, record)
    return drive(start, algorithm, config, record, args.run_dir, args.no_progress, report)


def evaluate(argv: list[str]) -> int:
    parser = opts.Parser(prog="pgjax evaluate", description=COMMANDS["evaluate"] + ".")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="episodes (RLHF: fresh prompts) per seed (default: 100, RLHF: the run's own)",
    )
    parser.add_argument(
        "--stochastic",
        action="store_true",
        help="sample actions (default: the mode, unless the run was trained with "
        "--stochastic-evaluation)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the evaluation's seed")
    parser.add_argument(
        "--checkpoint",
        type=int,
        default=None,
        metavar="UPDATES",
        help="the checkpoint after UPDATES updates (default: the latest)",
    )
    opts.add_compile_cache(parser)
    opts.add_devices(parser)
    args = parser.parse_args(argv)
    if args.episodes is not None:
        opts.positive("--episodes", args.episodes)
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be in [0, 2**32), got {args.seed}.")
    opts.start_devices(args)
    opts.enable_compile_cache(args.compile_cache)
    from pgjax.runs import api
    from pgjax.runs.record import read_run

    algorithm, _, record = read_run(args.run_dir)
    episodes = args.episodes
    if episodes is None:
        rlhf = algorithm.target_metric is None
        episodes = record["options"].get("eval_episodes", 512) if rlhf else 100
    evaluation = api.evaluate(
        args.run_dir,
        episodes=episodes,
        deterministic=not (args.stochastic or record["options"].get("stochastic_evaluation")),
        seed=args.seed,
        updates=args.checkpoint,
    )
    algorithm, config, record, state, _ = api.restore(args.run_dir, evaluation["updates"])
    _report(algorithm, record).show(args.run_dir, algorithm, config, record, state, evaluation)
    return 0


def envs(argv: list[str]) -> int:
    parser = opts.Parser(prog="pgjax envs", description=COMMANDS["envs"] + ".")
    parser.add_argument("suite", nargs="?", default=None, help="one suite (default: all)")
    args = parser.parse_args(argv)
    from pgjax.envs import list_envs

    try:
        rows = list_envs(args.suite)
    except ValueError as error:
        raise UsageError(str(error)) from None
    width = max(len(row.env_id) for row in rows)
    for row in rows:
        where = "installed" if row.installed else f"pip install 'pgjax[{row.extra}]'"
        print(f"{row.env_id:{width}s}  {row.suite:9s}  {where}")
    return 0


def _interrupt(number, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # orbax logs the failures of its background threads (a full disk: dozens of tracebacks)
    # before they reach pgjax as exceptions, which the command reports in one line.
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    from pgjax.runs.errors import RunDirectoryError
    from pgjax.training.config import ConfigError

    # SIGTERM outside a training session (which handles both itself) ends the command like
    # Ctrl-C: one line, exit 130.
    previous = signal.signal(signal.SIGTERM, _interrupt) if _main_thread() else None
    try:
        command, rest = (argv[0], argv[1:]) if argv else (None, [])
        if command == "train":
            if not rest or rest[0] in ("-h", "--help"):
                print(_train_usage())
                return 0 if rest else EXIT_USAGE
            from pgjax.cli.control import train

            return train(rest[0], rest[1:])
        if command == "sweep":
            if not rest or rest[0] in ("-h", "--help"):
                print(_train_usage().replace("pgjax train", "pgjax sweep"))
                return 0 if rest else EXIT_USAGE
            from pgjax.cli.sweep import sweep

            return sweep(rest[0], rest[1:])
        if command == "rlhf":
            from pgjax.cli.rlhf import train

            return train(rest)
        if command == "resume":
            return resume(rest)
        if command == "evaluate":
            return evaluate(rest)
        if command == "envs":
            return envs(rest)
        print(_usage(), file=sys.stdout if command in ("-h", "--help") else sys.stderr)
        return 0 if command in ("-h", "--help") else EXIT_USAGE
    except (UsageError, ConfigError, RunDirectoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except opts.LostProcessError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `pgjax --help | head`: the reader left; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
