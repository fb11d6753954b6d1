"""`pgjax train ALGORITHM`: a control algorithm on an environment, several seeds at once; and
the control family's report (learning curve, evaluation returns).

    pgjax train ppo                                    # CartPole-v1, its default config
    pgjax train ppo --env CartPole-v1 --seeds 4 --total-steps 500000 --out runs/cartpole
    pgjax train ppo --env Pendulum-v1 --learning-rate 3e-4 --hidden-sizes 128,128
    pgjax train impala --async --actors 2
    pgjax train ppo --config runs/sweep/best.json      # a sweep's best configuration again

Every field of the algorithm's config is an option (`--num-envs`, `--clip-eps`, …); the
environment's preset fills the ones not given.
"""

from __future__ import annotations

from pathlib import Path

from pgjax.cli import options as opts
from pgjax.cli.session import Report, say, train_new


def common_parser(name: str, prog: str, description: str) -> opts.Parser:
    """The options every control command that trains shares (`pgjax train`, `pgjax sweep`):
    the environment, seeds, run directory and session, devices and every config field (no JAX
    import for pgjax's own algorithms)."""
    from pgjax.runs import registry

    config_class = registry.config_class(name)
    parser = opts.Parser(prog=prog, description=description)
    default_env = config_class.env_id  # the config's (SAC: Pendulum-v1)
    parser.add_argument(
        "--env",
        dest="env_id",
        default=None,
        help=f"environment id: a gymnax name, or SUITE/NAME (default: {default_env})",
    )
    opts.add_seeds(parser)
    opts.add_run_options(parser, "episodes", 10)
    opts.add_envs_devices(parser)
    opts.add_compile_cache(parser)
    opts.add_devices(parser)
    names = ", ".join(config_class.named_presets()) or "none"
    parser.add_argument(
        "--preset",
        default=None,
        help=f"a named preset instead of the environment's own (for {name}: {names}; e.g. "
        "classic: the configuration papers and other libraries compare against)",
    )
    opts.add_config_fields(parser, config_class)
    return parser


def parser(name: str) -> opts.Parser:
    """`pgjax train NAME`'s options."""
    from pgjax.runs import registry

    parser = common_parser(
        name,
        f"pgjax train {name}",
        f"Train {name.upper()} ({registry.summary(name)}) on an environment, several seeds at "
        "once.",
    )
    opts.add_target(parser)
    parser.add_argument(
        "--config",
        dest="config_file",
        type=Path,
        default=None,
        metavar="FILE",
        help="a JSON object of config fields and hyperparameters (e.g. a sweep's best.json, "
        "whose seeds it also takes unless --seeds/--seed are given); options given on the "
        "command line override it",
    )
    if registry.asynchronous(name):
        opts.add_async(parser)
    return parser


def check_control(name: str, command: str) -> None:
    """A user error for an RLHF algorithm, which trains on its own task."""
    from pgjax.runs import registry

    if registry.family_of(name) == "rlhf":
        raise opts.UsageError(
            f"{name} trains on its own task: `pgjax rlhf {name.removeprefix('rlhf-')} "
            f"[options]` ({command} is for control algorithms)."
        )


def read_config_file(name: str, path: Path) -> tuple[dict, list[int] | None]:
    """`(fields, seeds)` of a `--config` file: a JSON object of config fields, or a record
    with them under "config" (a sweep's best.json, with its "seeds"). A file naming another
    algorithm, a field the algorithm does not have, or unreadable JSON is a user error."""
    import dataclasses
    import json

    from pgjax.runs import registry

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise opts.UsageError(f"--config {path}: not a readable JSON file ({error}).") from None
    if not isinstance(record, dict):
        raise opts.UsageError(f"--config {path}: expected a JSON object of config fields.")
    record = dict(record)
    other = record.pop("algorithm", name)
    if other != name:
        raise opts.UsageError(
            f"--config {path} is a configuration of {other}, not {name}: "
            f"`pgjax train {other} --config {path}`."
        )
    fields = record.get("config", record) if "config" in record else record
    seeds = record.get("seeds") if "config" in record else None
    fields = {k: v for k, v in fields.items() if k not in ("seeds", "sweep")}
    known = {f.name: f for f in dataclasses.fields(registry.config_class(name))}
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise opts.UsageError(f"--config {path}: {name} has no settings {unknown}.")
    for field_name, value in fields.items():
        if isinstance(known[field_name].default, tuple) and isinstance(value, list):
            fields[field_name] = tuple(value)
    return fields, seeds


def build_config(name: str, args, fields: dict | None = None):
    """`() -> config` of a control command: the environment's preset (or `--preset`'s), then
    `fields` (a --config file's), then the options given on the command line."""
    from pgjax.runs import registry

    config_class = registry.config_class(name)
    fields = dict(fields or {})
    env_id = args.env_id or fields.pop("env_id", None) or config_class.env_id
    fields.pop("env_id", None)
    overrides = {**fields, **opts.config_overrides(args, config_class)}
    return lambda: config_class.for_env(env_id, args.preset, **overrides)


def train(name: str, argv: list[str]) -> int:
    from pgjax.runs import registry

    if name not in registry.BUILTIN and name in registry.names():
        opts.start_devices_early(argv)  # a plugin: importing it may start JAX's backend
    check_control(name, "pgjax train")
    parse = parser(name)
    args = parse.parse_args(argv)
    fields, file_seeds = (None, None)
    if args.config_file is not None:
        fields, file_seeds = read_config_file(name, args.config_file)
    seeds = opts.seeds_of(args, file_seeds)
    asynchronous = opts.async_options(args)
    opts.start_devices(args)
    algorithm = registry.get(name)
    config = build_config(name, args, fields)
    return train_new(parse.prog, args, algorithm, config, REPORT, asynchronous, seeds)


# ---------------------------------------------------------------------------- the report


def _describe(algorithm, config, num_seeds: int) -> str:
    total = config.num_updates * config.steps_per_update
    return (
        f"{algorithm.name.upper()} on {config.environment}: {num_seeds} seed(s) × {total:,} "
        f"steps ({config.num_updates} updates of {config.steps_per_update})"
    )


def _progress(config, num_seeds: int):
    from pgjax.cli.progress import ProgressBar

    total = config.num_updates * config.steps_per_update
    return ProgressBar(config.steps_per_update, num_seeds, total)


def _finish(run_dir, algorithm, config, record, state, evaluation) -> None:
    from pgjax.cli import plots
    from pgjax.runs.rundir import MetricsLog

    num_seeds = len(record["seeds"])
    title = f"{algorithm.name.upper()} on {config.environment}"
    plots.learning_curve(run_dir, title, num_seeds)
    if plots.no_episode_finished(MetricsLog(run_dir).read(num_seeds)):
        say("note: no episode finished during training, so there are no training returns.")
    _show(run_dir, algorithm, config, record, state, evaluation)


def _show(run_dir, algorithm, config, record, state, evaluation) -> None:
    import numpy as np

    returns = np.asarray(evaluation["metrics"][algorithm.target_metric or "return"])
    per_seed = ", ".join(f"{r.mean():.1f}" for r in returns)
    kind = "deterministic" if evaluation["deterministic"] else "stochastic"
    say(
        f"evaluation ({evaluation['episodes_per_seed']} episodes per seed, {kind} policy, "
        f"compile {evaluation['compile_seconds']:.1f} s): mean return "
        f"{returns.mean():.1f} ± {returns.std():.1f}; per seed [{per_seed}]"
    )
    say(f"results: {run_dir}/ (config.json, metrics.csv, learning_curve.png, checkpoints/)")


REPORT = Report("env steps", _describe, _progress, _finish, _show)
