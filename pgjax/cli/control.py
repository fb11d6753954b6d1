"""`pgjax train ALGORITHM`: a control algorithm on an environment, several seeds at once; and
the control family's report (learning curve, evaluation returns).

    pgjax train ppo                                    # CartPole-v1, its default config
    pgjax train ppo --env CartPole-v1 --seeds 4 --total-steps 500000 --out runs/cartpole
    pgjax train ppo --env Pendulum-v1 --learning-rate 3e-4 --hidden-sizes 128,128
    pgjax train impala --async --actors 2

Every field of the algorithm's config is an option (`--num-envs`, `--clip-eps`, …); the
environment's preset fills the ones not given.
"""

from __future__ import annotations

from pgjax.cli import options as opts
from pgjax.cli.session import Report, say, train_new


def parser(name: str) -> opts.Parser:
    """`pgjax train NAME`'s options (no JAX import for pgjax's own algorithms)."""
    from pgjax.runs import registry

    config_class = registry.config_class(name)
    parser = opts.Parser(
        prog=f"pgjax train {name}",
        description=f"Train {name.upper()} ({registry.summary(name)}) on an environment, "
        "several seeds at once.",
    )
    default_env = config_class.env_id  # the config's (SAC: Pendulum-v1)
    parser.add_argument(
        "--env",
        dest="env_id",
        default=default_env,
        help=f"environment id: a gymnax name, or SUITE/NAME (default: {default_env})",
    )
    opts.add_seeds(parser)
    opts.add_run_options(parser, "episodes", 10)
    opts.add_target(parser)
    opts.add_envs_devices(parser)
    opts.add_compile_cache(parser)
    opts.add_devices(parser)
    opts.add_config_fields(parser, config_class)
    if registry.asynchronous(name):
        opts.add_async(parser)
    return parser


def train(name: str, argv: list[str]) -> int:
    from pgjax.runs import registry

    if name not in registry.BUILTIN and name in registry.names():
        opts.start_devices_early(argv)  # a plugin: importing it may start JAX's backend
    if registry.family_of(name) == "rlhf":
        raise opts.UsageError(
            f"{name} trains on its own task: `pgjax rlhf {name.removeprefix('rlhf-')} [options]`."
        )
    parse = parser(name)
    args = parse.parse_args(argv)
    opts.seeds_of(args)
    asynchronous = opts.async_options(args)
    opts.start_devices(args)
    algorithm = registry.get(name)
    config_class = algorithm.config_class

    def build_config():
        return config_class.for_env(args.env_id, **opts.config_overrides(args, config_class))

    return train_new(parse.prog, args, algorithm, build_config, REPORT, asynchronous)


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
