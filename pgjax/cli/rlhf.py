"""`pgjax rlhf ALGORITHM`: the RLHF pipeline on its synthetic language task, end to end.

    pgjax rlhf ppo                                     # pretrain, reward model, PPO; one seed
    pgjax rlhf grpo --seeds 4 --kl-coef 0.5 --out runs/grpo
    pgjax rlhf ppo --kl-coef 0 --adaptive-kl false     # no KL: the reward model gets hacked
    pgjax resume runs/grpo                             # after Ctrl-C: continues, same numbers

ALGORITHM is ppo, grpo, dr-grpo or rloo; every field of its config is an option (`pgjax rlhf
grpo --help`). The reference's pretraining and the reward model's training run in each seed's
`init`; then the driver runs the RL updates a chunk at a time, with the progress bar, metrics,
checkpoints and resume of `pgjax train`. At the end the run directory also gets

    rlhf_curves.png   reward-model score, hidden true reward, KL to the reference and response
                      length against the responses sampled, mean ± std over the seeds
    evaluation.json   per seed: the reward model's held-out accuracy, and the reference's and
                      the final policy's metrics on fresh prompts
    samples.md        the reference's and every seed's final responses to the same prompts
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import time
from pathlib import Path

import numpy as np

from pgjax.cli.main import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    UsageError,
    _add_compile_cache_option,
    _config_error,
    _config_options,
    _enable_compile_cache,
    _Parser,
    _positive,
    _session_summary,
)
from pgjax.cli.progress import ProgressBar

CURVES = ("rm_score", "true_reward", "kl_sequence", "response_length")
LABELS = {
    "rm_score": "reward-model score",
    "true_reward": "hidden true reward",
    "kl_sequence": "KL(π ‖ π_ref) per response (nats)",
    "kl_token": "KL per token (nats)",
    "response_length": "response length (tokens)",
}


def _algorithm(name: str):
    from pgjax.rlhf import ALGORITHMS

    full = f"rlhf-{name}"
    if full not in ALGORITHMS:
        choices = ", ".join(n.removeprefix("rlhf-") for n in ALGORITHMS)
        raise UsageError(f"pgjax rlhf: unknown algorithm {name!r}; choose one of {choices}.")
    return ALGORITHMS[full]


def _parser(name: str) -> argparse.ArgumentParser:
    algorithm = _algorithm(name)
    parser = _Parser(
        prog=f"pgjax rlhf {name}",
        description=f"Pretrain a reference, fit a reward model, then fine-tune with "
        f"{name.upper()} ({algorithm.summary}); several seeds at once.",
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds trained in parallel")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--out", type=Path, default=None, help="run directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--eval-prompts", type=int, default=512, help="fresh prompts of the final evaluation"
    )
    parser.add_argument("--chunk-updates", type=int, default=None, help="most updates per chunk")
    parser.add_argument("--checkpoint-every", type=int, default=20, help="chunks per checkpoint")
    parser.add_argument("--keep-checkpoints", type=int, default=3, help="checkpoints to keep")
    parser.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard files")
    _add_compile_cache_option(parser)
    _config_options(parser, algorithm.config_class)
    return parser


def train(argv: list[str]) -> int:
    """`pgjax rlhf ALGORITHM [options]`."""
    from pgjax.training import driver, rundir
    from pgjax.training.config import ConfigError

    if not argv or argv[0].startswith("-"):
        raise UsageError("usage: pgjax rlhf {ppo,grpo,dr-grpo,rloo} [options] (see --help)")
    algorithm = _algorithm(argv[0])
    parser = _parser(argv[0])
    args = parser.parse_args(argv[1:])
    fields = {f.name for f in dataclasses.fields(algorithm.config_class)}
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    _positive("--seeds", args.seeds)
    _positive("--eval-prompts", args.eval_prompts)
    if args.seed < 0 or args.seed + args.seeds > 2**32:
        raise UsageError(f"--seed must be in [0, 2**32 - --seeds], got {args.seed}.")
    options = driver.RunOptions(
        chunk_updates=args.chunk_updates,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        tensorboard=not args.no_tensorboard,
    )
    try:
        config = algorithm.config_class(**overrides)
        config.validate()
        options.validate()
        options.check_devices()
    except ConfigError as error:
        raise _config_error(error, parser.prog) from None
    seeds = list(range(args.seed, args.seed + args.seeds))
    _enable_compile_cache(args.compile_cache)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.out or Path("runs") / f"{algorithm.name}-{stamp}"
    if not args.overwrite:
        rundir.prepare(run_dir, overwrite=False)  # refused before the progress bar starts

    def start(progress):
        return driver.run(
            algorithm,
            config,
            seeds,
            run_dir,
            options=options,
            overwrite=args.overwrite,
            progress=progress,
        )

    return drive(start, algorithm, config, seeds, run_dir, args.no_progress, args.eval_prompts)


def resume(run_dir: Path, no_progress: bool, eval_prompts: int = 512) -> int:
    """`pgjax resume RUN_DIR` of an RLHF run."""
    from pgjax.training import driver

    algorithm, config, record = driver.read_run(run_dir)

    def start(progress):
        return driver.resume(run_dir, progress=progress)

    return drive(start, algorithm, config, record["seeds"], run_dir, no_progress, eval_prompts)


class _Progress(ProgressBar):
    """The progress bar, showing the latest scores instead of an episode return."""

    def __call__(self, updates_done, metrics):
        super().__call__(updates_done, metrics)
        if metrics:
            last = {k: float(np.mean(metrics[k][:, -1])) for k in ("rm_score", "true_reward")}
            kl = float(np.mean(metrics["kl_sequence"][:, -1]))
            self.bar.set_postfix(
                update=updates_done,
                rm=f"{last['rm_score']:.2f}",
                true=f"{last['true_reward']:.2f}",
                kl=f"{kl:.2f}",
                refresh=False,
            )


def drive(start, algorithm, config, seeds, run_dir, no_progress: bool, eval_prompts: int) -> int:
    """Runs `start(progress)` (the driver), then writes the curves, evaluation and samples."""
    import jax

    from pgjax.training import driver

    total = config.num_updates * config.steps_per_update
    print(
        f"{algorithm.name.upper()}: {len(seeds)} seed(s) × {config.num_updates} updates of "
        f"{config.num_envs} responses ({total:,} token slots) on {len(jax.devices())} "
        f"{jax.devices()[0].platform.upper()} device(s) -> {run_dir}",
        flush=True,
    )
    bar = None if no_progress else _Progress(config.steps_per_update, len(seeds), total)
    try:
        result = start(bar)
    except driver.DivergenceError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DIVERGED
    finally:
        if bar is not None:
            bar.close()
    print(_session_summary(result, config, len(seeds), "init and compile", "token slots"))
    curves(Path(run_dir), f"{algorithm.name.upper()}", len(seeds))
    if result.status == "interrupted":
        print(f"interrupted: checkpoint written; continue with `pgjax resume {run_dir}`.")
        return EXIT_INTERRUPTED
    report(config, seeds, result.state, Path(run_dir), eval_prompts)
    return 0


def curves(run_dir: Path, title: str, num_runs: int) -> Path:
    """`rlhf_curves.png`: the training metrics of `metrics.csv`, mean ± std over the runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgjax.training.rundir import MetricsLog, write_atomic

    table = MetricsLog(run_dir).read(num_runs)
    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.2), dpi=110)
    updates = table["update"][0] + 1
    for ax, name in zip(axes, CURVES, strict=True):
        mean, std = table[name].mean(0), table[name].std(0)
        ax.plot(updates, mean)
        ax.fill_between(updates, mean - std, mean + std, alpha=0.3)
        ax.set_xlabel("update")
        ax.set_title(LABELS[name], fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{title}: mean ± std over {num_runs} seed(s)", fontsize=11)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png")
    plt.close(fig)
    path = run_dir / "rlhf_curves.png"
    write_atomic(path, image.getvalue())
    return path


def report(config, seeds, states, run_dir: Path, num_prompts: int, seed: int = 0) -> dict:
    """Evaluates every run's final policy and reference on `num_prompts` fresh prompts, writes
    evaluation.json and samples.md, prints a summary; returns the evaluation."""
    import jax

    from pgjax.rlhf.evaluation import evaluate_runs, sample_table
    from pgjax.training.rundir import write_atomic, write_json

    result = evaluate_runs(config, states, jax.random.key(seed), num_prompts)
    per_seed = {str(s): {k: _row(v, i) for k, v in result.items()} for i, s in enumerate(seeds)}
    record = {"prompts_per_seed": num_prompts, "per_seed": per_seed}
    write_json(run_dir / "evaluation.json", record)
    table = sample_table(config, states, [f"seed {s}" for s in seeds])
    write_atomic(run_dir / "samples.md", table.encode())
    for who in ("reference", "policy"):
        values = {k: np.asarray(v) for k, v in result[who].items()}
        print(
            f"{who:9s}: reward model {values['rm_score'].mean():.2f}, true reward "
            f"{values['true_reward'].mean():.2f}, KL {values['kl_sequence'].mean():.2f} nats "
            f"per response, length {values['response_length'].mean():.1f} (means over seeds)"
        )
    accuracy = np.asarray(result["reward_model_accuracy"])
    print(f"reward model held-out accuracy: {', '.join(f'{a:.3f}' for a in accuracy)}")
    print(f"results: {run_dir}/ (rlhf_curves.png, evaluation.json, samples.md, metrics.csv)")
    return result


def _row(value, index: int):
    if isinstance(value, dict):
        return {k: float(np.asarray(v)[index]) for k, v in value.items()}
    return float(np.asarray(value)[index])
