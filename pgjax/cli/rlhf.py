"""`pgjax rlhf ALGORITHM`: the RLHF pipeline on its synthetic language task, end to end; and the
RLHF family's report.

    pgjax rlhf ppo                                     # pretrain, reward model, PPO; one seed
    pgjax rlhf grpo --seeds 4 --kl-coef 0.5 --out runs/grpo
    pgjax rlhf ppo --kl-coef 0 --adaptive-kl false     # no KL: the reward model gets hacked
    pgjax rlhf dapo --task sort                        # verifiable reward: sort the digits
    pgjax rlhf grpo --task sort --rollout-lag 4 --rollout-correction truncated_is
    pgjax resume runs/grpo                             # after Ctrl-C: continues, same numbers

ALGORITHM is ppo, grpo, dr-grpo, rloo, dapo, gspo or cispo; every field of its config is an
option (`pgjax rlhf dapo --help`). The reference's pretraining and the reward model's training
(none for `--task sort`, whose reward is an exact check) run in each seed's `init`; then the
session runs the RL updates a chunk at a time, with the progress bar, metrics, checkpoints and
resume of `pgjax train`. At the end the run directory also gets

    rlhf_curves.png   reward-model score, hidden true reward, KL to the reference and response
                      length against the updates (on the sort task: accuracy, entropy, KL and
                      length), mean ± std over the seeds
    evaluation.json   the reward model's held-out accuracy, and the reference's and the final
                      policy's metrics on fresh prompts, per seed
    samples.md        the reference's and every seed's final responses to the same prompts
"""

from __future__ import annotations

import io
from pathlib import Path

from pgjax.cli import options as opts
from pgjax.cli.session import Report, say, train_new

CURVES = ("rm_score", "true_reward", "kl_sequence", "response_length")
VERIFIABLE_CURVES = ("accuracy", "entropy", "kl_sequence", "response_length")
LABELS = {
    "rm_score": "reward-model score",
    "true_reward": "hidden true reward",
    "accuracy": "accuracy (exact answers)",
    "entropy": "policy entropy per token (nats)",
    "kl_sequence": "KL(π ‖ π_ref) per response (nats)",
    "response_length": "response length (tokens)",
}


def _scores(config) -> tuple[str, ...]:
    """The metrics the progress bar and the summary show: the reward model's score and the
    hidden true reward, or the accuracy of a verifiable task."""
    return ("accuracy",) if config.verifiable else ("rm_score", "true_reward")


def _name(short: str) -> str:
    from pgjax.runs import registry

    name = f"rlhf-{short}"
    choices = [n.removeprefix("rlhf-") for n in registry.names("rlhf")]
    if short not in choices:
        raise opts.UsageError(
            f"pgjax rlhf: unknown algorithm {short!r}; choose one of {', '.join(choices)}."
        )
    return name


def parser(short: str) -> opts.Parser:
    from pgjax.runs import registry

    name = _name(short)
    parser = opts.Parser(
        prog=f"pgjax rlhf {short}",
        description=f"Pretrain a reference, fit a reward model (none with --task sort), then "
        f"fine-tune with "
        f"{short.upper()} ({registry.summary(name)}); several seeds at once.",
    )
    opts.add_seeds(parser)
    opts.add_run_options(parser, "prompts", 512)
    opts.add_compile_cache(parser)
    opts.add_devices(parser)
    opts.add_config_fields(parser, registry.config_class(name), skip=())
    return parser


def train(argv: list[str]) -> int:
    """`pgjax rlhf ALGORITHM [options]`."""
    from pgjax.runs import registry

    if not argv or argv[0].startswith("-"):
        choices = ",".join(n.removeprefix("rlhf-") for n in registry.names("rlhf"))
        raise opts.UsageError(f"usage: pgjax rlhf {{{choices}}} [options] (see --help)")
    parse = parser(argv[0])
    args = parse.parse_args(argv[1:])
    opts.seeds_of(args)
    opts.start_devices(args)
    algorithm = registry.get(_name(argv[0]))

    def build_config():
        return algorithm.config_class(**opts.config_overrides(args, algorithm.config_class))

    return train_new(parse.prog, args, algorithm, build_config, REPORT)


# ---------------------------------------------------------------------------- the report


def _describe(algorithm, config, num_seeds: int) -> str:
    total = config.num_updates * config.steps_per_update
    return (
        f"{algorithm.name.upper()}: {num_seeds} seed(s) × {config.num_updates} updates of "
        f"{config.responses_per_update} responses ({total:,} token slots)"
    )


def _progress(config, num_seeds: int):
    import numpy as np

    from pgjax.cli.progress import ProgressBar

    class Progress(ProgressBar):
        """The progress bar, showing the latest scores instead of an episode return."""

        def __call__(self, updates_done, metrics):
            super().__call__(updates_done, metrics)
            if metrics:
                short = {"rm_score": "rm", "true_reward": "true", "accuracy": "acc"}
                last = {
                    short[k]: f"{float(np.mean(metrics[k][:, -1])):.2f}" for k in _scores(config)
                }
                kl = float(np.mean(metrics["kl_sequence"][:, -1]))
                self.bar.set_postfix(update=updates_done, **last, kl=f"{kl:.2f}", refresh=False)

    total = config.num_updates * config.steps_per_update
    return Progress(config.steps_per_update, num_seeds, total)


def curves(run_dir: Path, title: str, num_runs: int, names=CURVES) -> Path:
    """`rlhf_curves.png`: the training metrics `names` of `metrics.csv`, mean ± std over the
    runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgjax.runs.rundir import MetricsLog, write_atomic

    table = MetricsLog(run_dir).read(num_runs)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), dpi=110)
    updates = table["update"][0] + 1
    for ax, name in zip(axes, names, strict=True):
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


def _finish(run_dir, algorithm, config, record, state, evaluation) -> None:
    names = VERIFIABLE_CURVES if config.verifiable else CURVES
    curves(Path(run_dir), algorithm.name.upper(), len(record["seeds"]), names)
    _show(run_dir, algorithm, config, record, state, evaluation)


def _show(run_dir, algorithm, config, record, state, evaluation) -> None:
    import numpy as np

    from pgjax.rlhf.evaluation import sample_table
    from pgjax.runs.rundir import write_atomic

    seeds = record["seeds"]
    table = sample_table(config, state, [f"seed {s}" for s in seeds])
    write_atomic(Path(run_dir) / "samples.md", table.encode())
    mean = evaluation["mean"]
    if config.verifiable:
        for who in ("reference", "policy"):
            say(
                f"{who:9s}: accuracy {mean[f'{who}/accuracy']:.3f}, KL "
                f"{mean[f'{who}/kl_sequence']:.2f} nats per response, length "
                f"{mean[f'{who}/response_length']:.1f} (means over seeds)"
            )
        say(f"results: {run_dir}/ (rlhf_curves.png, evaluation.json, samples.md, metrics.csv)")
        return
    for who in ("reference", "policy"):
        say(
            f"{who:9s}: reward model {mean[f'{who}/rm_score']:.2f}, true reward "
            f"{mean[f'{who}/true_reward']:.2f}, KL {mean[f'{who}/kl_sequence']:.2f} nats "
            f"per response, length {mean[f'{who}/response_length']:.1f} (means over seeds)"
        )
    accuracy = np.asarray(evaluation["metrics"]["reward_model_accuracy"])
    say(f"reward model held-out accuracy: {', '.join(f'{a:.3f}' for a in accuracy)}")
    say(f"results: {run_dir}/ (rlhf_curves.png, evaluation.json, samples.md, metrics.csv)")


REPORT = Report("token slots", _describe, _progress, _finish, _show)
