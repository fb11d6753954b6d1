"""Verifiable rewards in miniature: GRPO, Dr. GRPO, DAPO, GSPO, CISPO and RLOO on the sorting
task (`pgjax.rlhf.verifiable`), where the reward is an exact check and there is no reward model.

    python -m benchmarks.rlhf_verifiable [--quick | --smoke] [--out DIR]

Method. A seed fixes the reference: a 2-block, width-32 transformer pretrained for 300 Adam
steps on noisy sorted answers of 4-digit prompts (right on ~45% of prompts when sampled). Every
algorithm starts RL from the same 4 references and runs its own config's defaults (clip ranges,
aggregation, DAPO's dynamic sampling; DAPO's overlong buffer is 2 tokens here, so that the
penalty starts past the 4-token answer) with a shared budget: 60 updates of
4 prompts × G = 8 responses (responses of at most 7 tokens), one epoch of 2 minibatches, Adam at
6e-4, and β = 0 for all six (a verifiable reward cannot be hacked; DAPO, GSPO and CISPO drop the
KL term, so the others do here too). The 4 seeds of an algorithm are one vmapped program split
across the CPU's cores. After training, each policy answers 512 fresh prompts (one sampled
response each); the table gives that accuracy, mean ± std over the seeds, with the training
batches' accuracy over the last 10% of updates, the policy entropy per token and the response
length at the end. The figure shows the training batches' accuracy, entropy and length along
training, mean ± std over seeds, smoothed over 5 updates.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import markdown_table, result

NAME = "rlhf_verifiable"
ALGORITHMS = ("grpo", "dr-grpo", "dapo", "gspo", "cispo", "rloo")
LABELS = {
    "grpo": "GRPO",
    "dr-grpo": "Dr. GRPO",
    "dapo": "DAPO",
    "gspo": "GSPO",
    "cispo": "CISPO",
    "rloo": "RLOO",
}
# The study's sizes; `--smoke` shrinks everything to run each code path in seconds.
SIZES = {
    "task": "sort",
    "num_blocks": 2,
    "width": 32,
    "num_heads": 2,
    "prompt_length": 4,
    "response_length": 7,
    "pretrain_steps": 300,
    "responses_per_update": 32,
    "group_size": 8,
    "num_epochs": 1,
    "num_minibatches": 2,
    "learning_rate": 6e-4,
    "kl_coef": 0.0,
}
SMOKE = {
    **SIZES,
    "num_blocks": 1,
    "width": 16,
    "prompt_length": 3,
    "response_length": 5,
    "pretrain_steps": 5,
    "responses_per_update": 16,
    "group_size": 4,
}


def sizes(quick: bool, smoke: bool) -> tuple[dict, int, int, int]:
    """(config fields, updates, seeds, evaluation prompts) of the mode."""
    if smoke:
        return SMOKE, 3, 2, 16
    return SIZES, (20 if quick else 60), (2 if quick else 4), 512


def overrides(name: str, fields: dict) -> dict:
    """DAPO's overlong buffer: the tokens between the answer and the longest response before
    EOS (R − 1), so that the penalty starts just past a right-length answer."""
    if name != "dapo":
        return {}
    return {"overlong_buffer": fields["response_length"] - 1 - fields["prompt_length"]}


def references(fields: dict, seeds: int, eval_prompts: int):
    """Every seed's RL start state (the pretrained reference; no reward model) and the
    reference's `response_metrics` on the `eval_prompts` fresh prompts of `train` (numpy,
    `[seeds]`), one program."""
    import jax
    import jax.numpy as jnp

    from pgjax.rlhf import pipeline
    from pgjax.rlhf.config import RLHFConfig
    from pgjax.rlhf.evaluation import evaluate_policy
    from pgjax.training.parallel import across_devices

    group = {"group_size", "kl_coef"}
    config = RLHFConfig(**{k: v for k, v in fields.items() if k not in group})
    config.validate()

    def one(seed):
        state = pipeline.init(config, jax.random.key(seed))
        eval_key = jax.random.key(1000 + seed)
        return state, evaluate_policy(config, state, state.reference, eval_key, eval_prompts)

    states, metrics = across_devices(one, seeds)(jnp.arange(seeds, dtype=jnp.uint32))
    return states, jax.tree.map(np.asarray, metrics)


def train(name: str, fields: dict, updates: int, states, eval_prompts: int, **overrides):
    """RL of `rlhf-NAME` from every seed's reference: the training metrics `[seeds, updates]`,
    the final policy's `response_metrics` on `eval_prompts` fresh prompts `[seeds]` (numpy; the
    prompts `references` evaluated the reference on), and the seconds it took (compilation
    included)."""
    import jax
    import jax.numpy as jnp

    from pgjax.rlhf import grpo
    from pgjax.rlhf.evaluation import evaluate_policy
    from pgjax.runs import registry
    from pgjax.training.parallel import across_devices

    algorithm = registry.get(f"rlhf-{name}")
    config = algorithm.config_class(**fields, **overrides, num_updates=updates)
    config.validate()

    def one(state, seed):
        state = grpo.start(config, state.key, state.reference, None)
        state, metrics = jax.lax.scan(
            lambda s, _: algorithm.update(config, s), state, length=updates
        )
        eval_key = jax.random.key(1000 + seed)  # the same prompts for every algorithm
        return metrics, evaluate_policy(config, state, state.params, eval_key, eval_prompts)

    seeds = jax.tree.leaves(states)[0].shape[0]
    start = time.perf_counter()
    out = across_devices(one, seeds)(states, jnp.arange(seeds, dtype=jnp.uint32))
    out = jax.tree.map(np.asarray, jax.block_until_ready(out))
    return (*out, time.perf_counter() - start)


def last_tenth(curves: np.ndarray) -> np.ndarray:
    """Per seed: the mean of `curves` `[seeds, updates]` over the last 10% of the updates."""
    return curves[:, -max(1, curves.shape[1] // 10) :].mean(1)


def smooth(x: np.ndarray, width: int = 5) -> np.ndarray:
    """A trailing moving average along the last axis (the first values over what exists)."""
    cumulative = np.cumsum(x, axis=-1)
    shifted = np.concatenate([np.zeros_like(x[..., :width]), cumulative[..., :-width]], -1)
    counts = np.minimum(np.arange(1, x.shape[-1] + 1), width)
    return (cumulative - shifted[..., : x.shape[-1]]) / counts


def figure(curves: dict, path: Path, panels, titles, label_of) -> Path:
    """Panels of training curves, one line per entry of `curves` (`{label: metrics}`), mean ±
    std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), dpi=110)
    for ax, metric, title in zip(axes, panels, titles, strict=True):
        for i, (key, metrics) in enumerate(curves.items()):
            values = smooth(metrics[metric])
            mean, std = values.mean(0), values.std(0)
            updates = np.arange(1, mean.size + 1)
            ax.plot(updates, mean, color=f"C{i}", label=label_of(key), lw=1.2)
            ax.fill_between(updates, mean - std, mean + std, color=f"C{i}", alpha=0.15)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _cell(x: np.ndarray, digits: int = 2) -> str:
    return f"{x.mean():.{digits}f} ± {x.std():.{digits}f}"


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    fields, updates, seeds, eval_prompts = sizes(quick, smoke)
    start = time.perf_counter()
    states, reference = references(fields, seeds, eval_prompts)
    pretrain_seconds = time.perf_counter() - start
    data, curves, rows = {}, {}, []
    for name in ALGORITHMS:
        metrics, final, seconds = train(
            name, fields, updates, states, eval_prompts, **overrides(name, fields)
        )
        curves[name] = metrics
        data[name] = {
            "final_accuracy": final["accuracy"],
            "training_accuracy": last_tenth(metrics["accuracy"]),
            "entropy": last_tenth(metrics["entropy"]),
            "response_length": final["response_length"],
            "kl_sequence": final["kl_sequence"],
            "seconds": seconds,
        }
        if "kept_groups" in metrics:
            data[name]["kept_groups"] = metrics["kept_groups"].mean(1)
        print(f"{name}: accuracy {_cell(final['accuracy'])} ({seconds:.0f} s)", flush=True)
        d = data[name]
        rows.append(
            [
                LABELS[name],
                _cell(d["final_accuracy"]),
                _cell(d["training_accuracy"]),
                _cell(d["entropy"]),
                _cell(d["response_length"]),
                _cell(d["kl_sequence"]),
                f"{d['seconds']:.0f}",
            ]
        )
    reference = reference["accuracy"]
    data["reference_accuracy"] = reference
    headers = [
        "algorithm",
        "accuracy, fresh prompts",
        "accuracy, last 10% of training",
        "entropy per token (end)",
        "response length",
        "KL(π ‖ π_ref) per response",
        "seconds",
    ]
    table = markdown_table(headers, rows)
    files = []
    if out_dir is not None:
        titles = ("accuracy (training batches)", "entropy per token (nats)", "response length")
        files.append(
            figure(
                curves,
                Path(out_dir) / "rlhf_verifiable.png",
                ("accuracy", "entropy", "response_length"),
                titles,
                LABELS.get,
            )
        )
    best = max(ALGORITHMS, key=lambda n: data[n]["final_accuracy"].mean())
    notes = (
        f"{seeds} seeds per algorithm, {updates} updates of {fields['responses_per_update']} "
        f"responses (G = {fields['group_size']}), β = 0 for all; mean ± std over seeds. The "
        f"references (the same {seeds} for every algorithm) answer {_cell(reference)} of the "
        f"fresh prompts right; pretraining took {pretrain_seconds:.0f} s. DAPO kept "
        + (
            f"{_cell(data['dapo']['kept_groups'])} of its groups per update on average "
            if "kept_groups" in data["dapo"]
            else ""
        )
        + "(dynamic sampling masks out the groups whose answers are all right or all wrong)."
    )
    headline = (
        f"Verifiable rewards (sort 4 digits, {updates} updates, {seeds} seeds): accuracy "
        f"{_cell(reference)} for the reference, "
        + ", ".join(f"{LABELS[n]} {data[n]['final_accuracy'].mean():.2f}" for n in ALGORITHMS)
        + f" (best: {LABELS[best]})"
    )
    return result(
        NAME,
        table,
        data,
        title="Verifiable rewards: six group algorithms on an exact-answer task",
        notes=notes,
        headline=headline,
        files=files,
    )


def main(argv: list[str] | None = None) -> None:
    from pgjax.training.parallel import use_cpu_cores

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/figures"))
    args = parser.parse_args(argv)
    use_cpu_cores()
    output = run(args.quick, args.out, args.smoke)
    print(output["table"])
    print(output["notes"])
    print(output["headline"])


if __name__ == "__main__":
    main()
