"""`pgjax sweep ALGORITHM`: a hyperparameter search, every configuration × seed in one compiled
program, ranked; or population-based training (`--pbt`).

    pgjax sweep ppo --env CartPole-v1 --random 64 --seeds 4
    pgjax sweep ppo --grid learning_rate=1e-4,3e-4,1e-3 --grid clip_eps=0.1,0.2 --seeds 8
    pgjax sweep ppo --random 16 --range max_grad_norm=0.3,3 --gamma 0.99   # γ held at 0.99
    pgjax sweep ppo --random 16 --pbt --pbt-interval 20                    # PBT, 16 members
    pgjax train ppo --config runs/ppo-sweep/best.json                      # the best again

It writes, beside the run's own files (config.json, metrics.csv, checkpoints, evaluation.json):
sweep.md and sweep.csv (the ranked table), sweep.png (final return against each swept
hyperparameter) and best.json. `pgjax resume` continues an interrupted sweep and writes them
then. Static settings (`--num-envs`, `--hidden-sizes`, …) are the same for the whole sweep: a
grid or range over one is refused (one sweep per static setting), since a sweep is one
program. See `pgjax.runs.sweep` for how configurations are drawn.
"""

from __future__ import annotations

import math

from pgjax.cli import options as opts
from pgjax.cli.control import build_config, check_control, common_parser
from pgjax.cli.session import Report, drive, prepare, say


def _pairs(texts: list[str], option: str) -> dict[str, list[float]]:
    """NAME=V1,V2,... options as name ↦ floats (a user error naming the option otherwise)."""
    result = {}
    for text in texts or []:
        name, sep, values = text.partition("=")
        name = name.strip().replace("-", "_")
        try:
            numbers = [float(v) for v in values.split(",")] if sep else []
        except ValueError:
            numbers = []
        if not name or not numbers:
            raise opts.UsageError(f"{option} expects NAME=V1,V2,... with numbers, got {text!r}.")
        if name in result:
            raise opts.UsageError(f"{option} {name} is given twice.")
        result[name] = numbers
    return result


def _threshold(text: str):
    if text.lower() == "none":
        return "none"
    return float(text)


def parser(name: str) -> opts.Parser:
    """`pgjax sweep NAME`'s options: `pgjax train`'s, and the search's."""
    from pgjax.runs import registry

    parser = common_parser(
        name,
        f"pgjax sweep {name}",
        f"Sweep {name.upper()}'s ({registry.summary(name)}) hyperparameters: every "
        "configuration × seed in one compiled program, then a ranked table, a figure and "
        "best.json.",
    )
    group = parser.add_argument_group("search")
    group.add_argument(
        "--grid",
        action="append",
        metavar="NAME=V1,V2,...",
        help="a grid axis (repeatable; the configurations are the product of the axes)",
    )
    group.add_argument(
        "--random",
        type=int,
        default=0,
        metavar="N",
        help="N random configurations: every hyperparameter with a bounded search range that "
        "is not on the grid nor set by its own option, log-uniform over positive ranges "
        "spanning ≥ 10x, else uniform",
    )
    group.add_argument(
        "--range",
        action="append",
        metavar="NAME=LOW,HIGH",
        help="the range --random draws NAME from (needed for one whose valid range is open)",
    )
    group.add_argument(
        "--search-seed", type=int, default=0, help="the random search's seed (default 0)"
    )
    group.add_argument(
        "--threshold",
        type=_threshold,
        default=None,
        metavar="RETURN|none",
        help="report the environment steps until the training return first reaches it "
        "(default: the environment's solved threshold when known)",
    )
    pbt = parser.add_argument_group("population-based training (Jaderberg et al., 2017)")
    pbt.add_argument(
        "--pbt",
        action="store_true",
        help="the configurations × seeds are a population: every --pbt-interval updates the "
        "worst members copy the best ones' state and perturb their hyperparameters",
    )
    pbt.add_argument("--pbt-interval", type=int, default=None, help="updates between selections")
    pbt.add_argument(
        "--pbt-fraction", type=float, default=None, help="share replaced per selection (0.25)"
    )
    pbt.add_argument(
        "--pbt-perturb", type=float, default=None, help="perturbation factor 1 ± this (0.2)"
    )
    pbt.add_argument(
        "--pbt-episodes", type=int, default=None, help="evaluation episodes of the fitness (10)"
    )
    return parser


def _pbt_options(args, num_updates: int) -> dict | None:
    given = {
        n: getattr(args, f"pbt_{n}")
        for n in ("interval", "fraction", "perturb", "episodes")
        if getattr(args, f"pbt_{n}") is not None
    }
    if not args.pbt:
        if given:
            flags = ", ".join(f"--pbt-{n}" for n in given)
            raise opts.UsageError(f"{flags} only apply with --pbt.")
        return None
    # Default: about 10 selections over the run.
    return {"interval": max(1, num_updates // 10), **given, "seed": args.search_seed}


def sweep(name: str, argv: list[str]) -> int:
    check_control(name, "pgjax sweep")
    parse = parser(name)
    args = parse.parse_args(argv)
    grid = _pairs(args.grid, "--grid")
    ranges = {}
    for range_name, bounds in _pairs(args.range, "--range").items():
        if len(bounds) != 2:
            raise opts.UsageError(f"--range {range_name} expects LOW,HIGH, got {bounds}.")
        ranges[range_name] = tuple(bounds)
    if args.random < 0:
        raise opts.UsageError(f"--random must be >= 0, got {args.random}.")
    if not grid and not args.random:
        raise opts.UsageError("pgjax sweep needs --grid NAME=V1,V2,... and/or --random N.")
    seeds = opts.seeds_of(args)
    run_options = opts.run_options(args)

    def check(algorithm, config):
        from pgjax.runs import sweep as sweeps

        threshold = args.threshold
        if threshold is None:
            threshold = sweeps.default_threshold(config.environment)
        if threshold == "none":
            threshold = None
        elif threshold is not None and not math.isfinite(threshold):
            raise opts.UsageError(f"--threshold must be finite, got {threshold}.")
        if args.pbt and algorithm.target_metric is None:
            raise opts.UsageError(f"--pbt: {name} has no evaluation return to select by.")
        set_by_user = opts.config_overrides(args, type(config))
        return sweeps.plan(
            config,
            seeds=seeds,
            grid=grid,
            random=args.random,
            ranges=ranges,
            held=tuple(n for n in config.hyperparameter_names() if n in set_by_user),
            sample_seed=args.search_seed,
            threshold=threshold,
            pbt=_pbt_options(args, config.num_updates),
        )

    opts.start_devices(args)
    from pgjax.runs import registry
    from pgjax.runs import sweep as sweeps

    algorithm = registry.get(name)
    config, run_dir, plan = prepare(
        parse.prog, args, algorithm, build_config(name, args), run_options, check
    )

    record = {
        "env_id": config.environment,
        "seeds": plan.run_seeds(),
        "options": {"eval_episodes": args.eval_episodes},
        "sweep": plan.to_record(),
    }

    def start(progress):
        return sweeps.run(
            algorithm,
            config,
            plan,
            run_dir,
            options=run_options,
            overwrite=args.overwrite,
            progress=progress,
        )

    return drive(start, algorithm, config, record, run_dir, args.no_progress, REPORT)


# ---------------------------------------------------------------------------- the report


def _describe(algorithm, config, num_runs: int) -> str:
    total = config.num_updates * config.steps_per_update
    return (
        f"{algorithm.name.upper()} sweep on {config.environment}: {num_runs} runs "
        f"(configurations × seeds) × {total:,} steps ({config.num_updates} updates of "
        f"{config.steps_per_update})"
    )


def _finish(run_dir, algorithm, config, record, state, evaluation) -> None:
    import dataclasses

    import numpy as np

    from pgjax.cli import plots
    from pgjax.runs import sweep as sweeps
    from pgjax.runs.rundir import MetricsLog

    plan = sweeps.SweepPlan.from_record(record["sweep"])
    returns = np.asarray(evaluation["metrics"][algorithm.target_metric]).mean(axis=1)
    if plan.pbt is not None:
        # Every member is its own row, with the hyperparameters it ended with (metrics.csv's
        # hp_ columns at the last update: no selection runs after it).
        last = MetricsLog(run_dir).read(plan.num_runs)
        finals = tuple(
            {n: float(last[f"hp_{n}"][run, -1]) for n in plan.names} for run in range(len(returns))
        )
        plan = dataclasses.replace(plan, configurations=finals, seeds=plan.seeds[:1])
    rows = sweeps.summarize(run_dir, algorithm.name, config, plan, returns)
    plots.sweep_figure(run_dir, f"{algorithm.name.upper()} on {config.environment}", plan, returns)
    say(f"ranked ({len(rows)} configurations × {len(plan.seeds)} seeds; median final return):")
    for i, row in enumerate(rows[:5], 1):
        values = ", ".join(f"{n}={row[n]:.4g}" for n in plan.names)
        steps = ""
        if plan.threshold is not None:
            steps = (
                f", steps to {plan.threshold:g} {sweeps.format_number(row['steps_median'])} "
                f"(reached {row['reached']}/{len(plan.seeds)})"
            )
        say(
            f"  {i}. {values}: return {row['return_median']:.1f} (IQR "
            f"{row['return_iqr']:.1f}){steps}"
        )
    say(
        f"results: {run_dir}/ (sweep.md, sweep.csv, sweep.png, best.json; "
        f"`pgjax train {algorithm.name} --config {run_dir}/best.json` reruns the best)"
    )


def _show(run_dir, algorithm, config, record, state, evaluation) -> None:
    from pgjax.cli.control import REPORT as CONTROL

    CONTROL.show(run_dir, algorithm, config, record, state, evaluation)


def _progress(config, num_runs: int):
    from pgjax.cli.control import REPORT as CONTROL

    return CONTROL.progress(config, num_runs)


REPORT = Report("env steps", _describe, _progress, _finish, _show)
