"""RLHF in miniature, measured: does RL raise the hidden true reward, when does the policy hack
the learned reward model, and how do PPO, GRPO, Dr. GRPO and RLOO compare on one budget?

    python -m benchmarks.rlhf_study            # ≈ 20 min on a quiet 2-core CPU
    python -m benchmarks.rlhf_study --quick    # small (minutes)
    python -m benchmarks.rlhf_study --from-json benchmarks/out/rlhf_study.json  # re-render

Method. Every algorithm runs its default config (`pgjax.rlhf`: a 2-block, width-64 transformer
of 104k parameters; prompts of 6 digits, responses of at most 16 tokens) for 200 updates of 64
responses (4 epochs × 4 minibatches each), with a fixed KL coefficient β from a grid (PPO's
adaptive controller off) and 4 seeds per β: one vmapped program per algorithm, split across the
CPU's cores. A seed fixes the reference policy and the reward model, so every algorithm and
every β of seed s starts from the same pair. After training, each run's policy and its reference
answer 512 fresh prompts (one sampled response each); the table reports the means over those
of the reward model's score, the hidden true reward, the exact KL(π ‖ π_ref) per response and
the response length, then mean ± std over the 4 seeds. The curves are the training batches'
metrics (64 responses per update), smoothed over 10 updates.

Writes `benchmarks/figures/rlhf_overoptimization.png` (β = 0 against a suitable β, PPO and
GRPO), `benchmarks/figures/rlhf_frontier.png` (true reward and reward-model score against KL,
every algorithm and β) and `benchmarks/out/rlhf_study.json`, and prints the tables in markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"
OUT = HERE / "out"

# β grids: the KL in the reward (PPO, RLOO) is a sum over the response, the k3 loss of GRPO and
# Dr. GRPO a mean over its tokens, so their useful βs differ.
GRIDS = {
    "ppo": (0.0, 0.03, 0.1, 0.3),
    "rloo": (0.0, 0.03, 0.1, 0.3),
    "grpo": (0.0, 0.1, 0.3, 1.0),
    "dr-grpo": (0.0, 0.1, 0.3, 1.0),
}
SUITABLE = {"ppo": 0.1, "rloo": 0.1, "grpo": 0.3, "dr-grpo": 0.3}  # the defaults
METRICS = ("rm_score", "true_reward", "kl_sequence", "response_length", "on_topic")
NAMES = {"ppo": "PPO", "grpo": "GRPO", "dr-grpo": "Dr. GRPO", "rloo": "RLOO"}
# Smoke: PPO (the one with overrides), β = 0 and its suitable β, one seed, two updates of a
# 1-block width-16 model after two pretraining steps, 8 evaluation prompts.
SMOKE_ALGORITHMS = ("ppo",)
SMOKE_SIZES = {
    "num_blocks": 1,
    "width": 16,
    "response_length": 4,
    "target_length": 2,
    "pretrain_steps": 2,
    "preference_pairs": 64,
    "reward_model_epochs": 1,
}


def train(name: str, seeds: int, updates: int, grid, eval_prompts: int, **sizes) -> dict:
    """Every (β, seed) run of one algorithm in one program (`sizes`: config overrides);
    returns numpy results."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from pgjax.rlhf.evaluation import sample_table
    from pgjax.runs import registry
    from pgjax.training.evaluation import evaluate_runs
    from pgjax.training.parallel import across_devices

    algorithm = registry.get(f"rlhf-{name}")
    overrides = {"adaptive_kl": False} if name == "ppo" else {}
    config = algorithm.config_class(num_updates=updates, **overrides, **sizes)
    config.validate()
    runs = [(beta, seed) for beta in grid for seed in range(seeds)]
    keys = jax.vmap(jax.random.key)(jnp.asarray([s for _, s in runs], jnp.uint32))
    betas = {"kl_coef": np.asarray([b for b, _ in runs], np.float32)}
    start = time.perf_counter()
    states, metrics = across_devices(algorithm.make_train(config), len(runs))(keys, betas)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    evaluation = evaluate_runs(algorithm, config, states, 10_000, eval_prompts)
    hacked = [i for i, (b, _) in enumerate(runs) if b == 0.0][:1]
    suitable = [i for i, (b, _) in enumerate(runs) if b == SUITABLE[name]][:1]
    chosen = jax.tree.map(lambda x: x[np.asarray(hacked + suitable)], states)
    labels = [f"β = {runs[i][0]:g}, seed {runs[i][1]}" for i in hacked + suitable]
    samples = sample_table(config, chosen, labels)
    return {
        "runs": runs,
        "seconds": seconds,
        "metrics": {k: np.asarray(v) for k, v in metrics.items()},
        **{
            who: {
                k.removeprefix(f"{who}/"): np.asarray(v)
                for k, v in evaluation.items()
                if k.startswith(f"{who}/")
            }
            for who in ("policy", "reference")
        },
        "reward_model_accuracy": np.asarray(evaluation["reward_model_accuracy"]),
        "samples": samples,
        "config": dataclasses.asdict(config),
    }


def _smooth(x, width: int = 10):
    import numpy as np

    kernel = np.ones(width) / width
    padded = np.concatenate([np.repeat(x[..., :1], width - 1, -1), x], -1)
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, "valid"), -1, padded)


def _by_beta(result, beta):
    import numpy as np

    return np.asarray([i for i, (b, _) in enumerate(result["runs"]) if b == beta])


def _grid(result) -> list[float]:
    """The βs of an algorithm's runs, in the order they ran."""
    return list(dict.fromkeys(b for b, _ in result["runs"]))


def overoptimization_figure(results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [n for n in ("ppo", "grpo") if n in results]
    panels = ("rm_score", "true_reward", "kl_sequence")
    titles = ("reward-model score", "hidden true reward", "KL(π ‖ π_ref) per response (nats)")
    fig, axes = plt.subplots(len(shown), 3, figsize=(13, 3.4 * len(shown)), dpi=110, squeeze=False)
    for row, name in enumerate(shown):
        result = results[name]
        reference = result["reference"]["true_reward"].mean()
        for col, metric in enumerate(panels):
            ax = axes[row, col]
            for beta, color in ((0.0, "tab:red"), (SUITABLE[name], "tab:blue")):
                curves = _smooth(result["metrics"][metric][_by_beta(result, beta)])
                mean, std = curves.mean(0), curves.std(0)
                updates = range(1, mean.size + 1)
                ax.plot(updates, mean, color=color, label=f"β = {beta:g}")
                ax.fill_between(updates, mean - std, mean + std, color=color, alpha=0.2)
            if metric == "true_reward":
                ax.axhline(reference, color="gray", ls="--", lw=1, label="reference policy")
            ax.set_title(f"{NAMES[name]}: {titles[col]}", fontsize=10)
            ax.set_xlabel("update (64 responses each)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    seeds = len(_by_beta(results[shown[0]], 0.0))
    fig.suptitle(
        f"Over-optimisation of a learned reward model: mean ± std over {seeds} seeds, "
        "training batches smoothed over 10 updates",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def frontier_figure(results: dict, path: Path, updates: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), dpi=110)
    for (name, result), marker in zip(results.items(), "osD^", strict=False):
        for ax, metric in zip(axes, ("true_reward", "rm_score"), strict=True):
            xs, ys = [], []
            for beta in _grid(result):
                rows = _by_beta(result, beta)
                kl, value = result["policy"]["kl_sequence"][rows], result["policy"][metric][rows]
                xs.append(kl.mean())
                ys.append(value.mean())
                ax.errorbar(kl.mean(), value.mean(), xerr=kl.std(), yerr=value.std(),
                            marker=marker, color=f"C{list(results).index(name)}", ms=5,
                            capsize=2, lw=0.8)  # fmt: skip
                ax.annotate(f"{beta:g}", (kl.mean(), value.mean()), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
            ax.plot(xs, ys, marker=marker, color=f"C{list(results).index(name)}", label=NAMES[name])
    first = next(iter(results.values()))
    for ax, metric, title in zip(
        axes,
        ("true_reward", "rm_score"),
        ("hidden true reward", "reward-model score"),
        strict=True,
    ):
        ax.scatter([0], [first["reference"][metric].mean()], color="k", marker="*", s=80,
                   label="reference policy", zorder=5)  # fmt: skip
        ax.set_xlabel(f"KL(π ‖ π_ref) per response (nats), after {updates} updates")
        ax.set_title(f"{title} against KL (labels: β)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    seeds = len(_by_beta(first, _grid(first)[0]))
    fig.suptitle(
        f"Same budget ({updates} updates × 64 responses), mean ± std over {seeds} seeds",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def tables(results: dict) -> str:
    import numpy as np

    lines = [
        "| algorithm | β | true reward | reward-model score | KL per response | length | "
        "on-topic tokens | best true reward in training (update) |",
        "| :-- | --: | --: | --: | --: | --: | --: | --: |",
    ]
    first = next(iter(results.values()))
    ref = first["reference"]
    lines.append(
        f"| reference policy | — | {ref['true_reward'].mean():.2f} ± "
        f"{ref['true_reward'].std():.2f} | {ref['rm_score'].mean():.2f} ± "
        f"{ref['rm_score'].std():.2f} | 0 | "
        f"{ref['response_length'].mean():.1f} | {ref['on_topic'].mean():.2f} | — |"
    )
    for name, result in results.items():
        for beta in _grid(result):
            rows = _by_beta(result, beta)
            p = {k: v[rows] for k, v in result["policy"].items()}
            curve = _smooth(result["metrics"]["true_reward"][rows]).mean(0)
            best = int(np.argmax(curve))
            lines.append(
                f"| {NAMES[name]} | {beta:g} | {p['true_reward'].mean():.2f} ± "
                f"{p['true_reward'].std():.2f} | {p['rm_score'].mean():.2f} ± "
                f"{p['rm_score'].std():.2f} | {p['kl_sequence'].mean():.1f} ± "
                f"{p['kl_sequence'].std():.1f} | {p['response_length'].mean():.1f} | "
                f"{p['on_topic'].mean():.2f} | {curve[best]:.2f} ({best + 1}) |"
            )
    accuracy = first["reward_model_accuracy"][_by_beta(first, _grid(first)[0])]
    lines += [
        "",
        "Reward models (one per seed, shared by every algorithm and β): held-out pairwise "
        f"accuracy {', '.join(f'{a:.3f}' for a in accuracy)} on {len(accuracy)} seeds.",
    ]
    return "\n".join(lines)


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    """The `benchmarks.run` entry point."""
    from benchmarks.common import result

    out_dir = Path(out_dir or OUT)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds, updates, prompts = (1, 2, 8) if smoke else (2, 30, 128) if quick else (4, 200, 512)
    grids = {n: (0.0, SUITABLE[n]) for n in SMOKE_ALGORITHMS} if smoke else GRIDS
    sizes = SMOKE_SIZES if smoke else {}
    results = {}
    for name, grid in grids.items():
        print(f"{NAMES[name]}: {seeds} seeds × β {grid}, {updates} updates", flush=True)
        results[name] = train(name, seeds, updates, grid, prompts, **sizes)
        print(f"  trained in {results[name]['seconds']:.0f} s", flush=True)
    files = [
        overoptimization_figure(results, out_dir / "rlhf_overoptimization.png"),
        frontier_figure(results, out_dir / "rlhf_frontier.png", updates),
    ]
    table = tables(results)
    samples = "\n\n".join(f"### {NAMES[n]}\n\n{r['samples']}" for n, r in results.items())
    record = {
        name: {
            "runs": r["runs"],
            "seconds": r["seconds"],
            "policy": {k: v.tolist() for k, v in r["policy"].items()},
            "reference": {k: v.tolist() for k, v in r["reference"].items()},
            "reward_model_accuracy": r["reward_model_accuracy"].tolist(),
            "curves": {k: r["metrics"][k].tolist() for k in METRICS},
            "config": r["config"],
        }
        for name, r in results.items()
    }
    (out_dir / "rlhf_study.json").write_text(json.dumps(record))
    (out_dir / "rlhf_samples.md").write_text(samples + "\n")
    return result(
        "rlhf_study",
        table,
        None,
        title="RLHF in miniature: over-optimisation and PPO / GRPO / Dr. GRPO / RLOO",
        notes=f"Samples: `{out_dir / 'rlhf_samples.md'}`.\n\n{samples}",
        files=[str(f) for f in files],
    )


def load(path: Path) -> dict:
    """The results of a recorded study (`rlhf_study.json`), as `run` holds them."""
    import numpy as np

    def arrays(d):
        return {k: np.asarray(v) for k, v in d.items()}

    return {
        name: {
            "runs": [tuple(run) for run in r["runs"]],
            "policy": arrays(r["policy"]),
            "reference": arrays(r["reference"]),
            "reward_model_accuracy": np.asarray(r["reward_model_accuracy"]),
            "metrics": arrays(r["curves"]),
        }
        for name, r in json.loads(path.read_text()).items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rlhf_study")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 30 updates")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--from-json", type=Path, help="re-draw the figures and tables of a recorded study"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        results = load(args.from_json)
        updates = next(iter(results.values()))["metrics"]["true_reward"].shape[-1]
        overoptimization_figure(results, FIGURES / "rlhf_overoptimization.png")
        frontier_figure(results, FIGURES / "rlhf_frontier.png", updates)
        print(tables(results))
        return 0
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    from pgjax.training.parallel import use_cpu_cores

    use_cpu_cores()
    output = run(args.quick, args.out)
    FIGURES.mkdir(exist_ok=True)
    for path in output["files"]:
        target = FIGURES / Path(path).name
        target.write_bytes(Path(path).read_bytes())
        print(f"figure: {target}")
    print(output["table"])
    print(output["notes"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
