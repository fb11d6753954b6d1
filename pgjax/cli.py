"""Command line: `pgjax train ALGORITHM [options]` and `pgjax evaluate RUN_DIR [options]`.

    pgjax train ppo                                    # CartPole-v1, its default config
    pgjax train ppo --env CartPole-v1 --seeds 4 --total-steps 500000 --out runs/cartpole
    pgjax train ppo --env Pendulum-v1 --learning-rate 3e-4 --hidden-sizes 128,128
    pgjax evaluate runs/cartpole --episodes 100

Every field of the algorithm's config is an option (`--num-envs`, `--clip-eps`, …); the
environment's preset fills the ones not given. `pgjax train ppo --help` lists them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from pgjax import algorithms


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from error


def _config_options(parser: argparse.ArgumentParser, config_cls) -> None:
    parsers = {int: int, float: float, bool: _parse_bool, str: str}
    defaults = config_cls()
    for field in dataclasses.fields(config_cls):
        if field.name == "env_id":
            continue
        default = getattr(defaults, field.name)
        kind = _parse_sizes if isinstance(default, tuple) else parsers[type(default)]
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=kind,
            default=None,
            help=f"(default: the environment preset, else {default})",
        )


def _train_parser(algorithm: str) -> argparse.ArgumentParser:
    module = algorithms.get(algorithm)
    parser = argparse.ArgumentParser(
        prog=f"pgjax train {algorithm}",
        description=f"Train {algorithm.upper()} on a gymnax environment, several seeds at once.",
    )
    parser.add_argument("--env", dest="env_id", default="CartPole-v1", help="gymnax env id")
    parser.add_argument(
        "--seeds", type=int, default=1, help="seeds trained in parallel (vmap, across devices)"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--out", type=Path, default=None, help="run directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes per seed")
    _config_options(parser, module.Config)
    return parser


def train(algorithm: str, argv: list[str]) -> int:
    from pgjax.parallel import across_devices, use_cpu_cores

    use_cpu_cores()  # first: seeds are split across the cores when JAX runs on the CPU
    import jax
    import numpy as np

    from pgjax import runs
    from pgjax.envs import observation_moments
    from pgjax.progress import ProgressBar

    module = algorithms.get(algorithm)
    args = _train_parser(algorithm).parse_args(argv)
    fields = {f.name for f in dataclasses.fields(module.Config)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    overrides.pop("env_id", None)
    config = module.Config.for_env(args.env_id, **overrides)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}.")
    config.validate()

    seeds = list(range(args.seed, args.seed + args.seeds))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.out or Path("runs") / f"{algorithm}-{config.env_id}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_config(run_dir, algorithm, config, seeds)
    print(
        f"{algorithm.upper()} on {config.env_id}: {len(seeds)} seed(s) × "
        f"{config.num_updates * config.steps_per_update:,} steps "
        f"({config.num_updates} updates of {config.steps_per_update}) on "
        f"{len(jax.devices())} {jax.devices()[0].platform.upper()} device(s) -> {run_dir}"
    )

    bar = None
    if not args.no_progress:
        bar = ProgressBar(
            config.num_updates * config.steps_per_update, config.steps_per_update, len(seeds)
        )
    keys = jax.vmap(jax.random.key)(np.asarray(seeds))
    start = time.perf_counter()
    train = across_devices(module.make_train(config, progress=bar), len(seeds))
    compiled = train.lower(keys).compile()
    compile_seconds = time.perf_counter() - start
    if bar is not None:
        bar.start()
    start = time.perf_counter()
    state, metrics = jax.block_until_ready(compiled(keys))
    run_seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()

    runs.write_metrics(run_dir, metrics, config.steps_per_update, seeds)
    runs.plot_learning_curve(run_dir, f"{algorithm.upper()} on {config.env_id}")
    runs.save_checkpoint(run_dir, state.params, observation_moments(state.env.env_state))
    total_steps = len(seeds) * config.num_updates * config.steps_per_update
    print(
        f"compile {compile_seconds:.1f} s, run {run_seconds:.1f} s, "
        f"{total_steps / run_seconds:,.0f} env steps/s"
    )
    return _report_evaluation(run_dir, args.eval_episodes, deterministic=True, seed=args.seed)


def _report_evaluation(run_dir: Path, episodes: int, deterministic: bool, seed: int) -> int:
    import jax
    import numpy as np

    from pgjax import runs
    from pgjax.evaluation import evaluate_seeds

    record, config = runs.read_config(run_dir)
    params, obs_moments = runs.load_checkpoint(run_dir)
    returns = np.asarray(
        evaluate_seeds(config, params, obs_moments, jax.random.key(seed), episodes, deterministic)
    )
    result = {
        "episodes_per_seed": episodes,
        "deterministic": deterministic,
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "per_seed_mean_return": {
            str(s): float(r.mean()) for s, r in zip(record["seeds"], returns, strict=True)
        },
    }
    (Path(run_dir) / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    per_seed = ", ".join(f"{r.mean():.1f}" for r in returns)
    print(
        f"evaluation ({episodes} episodes per seed, "
        f"{'deterministic' if deterministic else 'stochastic'} policy): "
        f"mean return {returns.mean():.1f} ± {returns.std():.1f}; per seed [{per_seed}]"
    )
    print(f"results: {run_dir}/ (config.json, metrics.csv, learning_curve.png, checkpoint.msgpack)")
    return 0


def evaluate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="pgjax evaluate", description="Reload a run's final policies and report returns."
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=100, help="episodes per seed")
    parser.add_argument("--stochastic", action="store_true", help="sample actions (default: mode)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.run_dir / "checkpoint.msgpack").exists():
        raise ValueError(f"{args.run_dir} has no checkpoint.msgpack: is it a pgjax run directory?")
    return _report_evaluation(args.run_dir, args.episodes, not args.stochastic, args.seed)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    usage = (
        "usage: pgjax train {" + ",".join(algorithms.ALGORITHMS) + "} [options]\n"
        "       pgjax evaluate RUN_DIR [--episodes N]\n"
        "Run `pgjax train ppo --help` for the options."
    )
    try:
        if len(argv) >= 2 and argv[0] == "train" and not argv[1].startswith("-"):
            return train(argv[1], argv[2:])
        if argv and argv[0] == "evaluate":
            return evaluate(argv[1:])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(usage, file=sys.stderr)
    return 0 if argv[:1] in (["-h"], ["--help"]) else 2


if __name__ == "__main__":
    sys.exit(main())
