"""Stale rollouts in miniature: what sampling k updates behind the learner costs a language-model
policy, and what truncated importance sampling and masking buy. The language-model twin of
`benchmarks/policy_lag.py`, measured the same way.

    python -m benchmarks.rlhf_stale [--quick | --smoke] [--out DIR]

The sampler uses the parameters of k updates ago (`rollout_lag`, k ∈ {0, 1, 4, 16}; a ring of
the last k parameter sets in the state, IMPALA's deterministic lag); the learner recomputes
π_old = π_θ on the sampled tokens and takes GRPO's clipped-surrogate steps with

* no correction: the rollout treated as if π_old had sampled it;
* truncated IS: the advantages weighted by min(π_old/μ, 2) per token
  (`pgjax.truncated_importance_weights`);
* masking: the tokens whose ratio π_old/μ lies outside [0.5, 2] left out of the loss
  (`pgjax.importance_ratio_mask`).

k = 0 is one run for all three (every ratio is 1). Everything else is the setup of
`benchmarks/rlhf_verifiable.py` (the sorting task, its 4 pretrained references, 60 updates of 4
prompts × 8 responses, β = 0). As in the policy-lag study the statistic is the training
rollouts' accuracy (the sampler's, what the run experienced) over the last 10% of the updates,
per seed; the table gives the median over seeds and the worst seed, the mean accuracy over the
whole run (how fast it learnt), the learner's final accuracy on 512 fresh prompts, and the
behaviour KL(μ ‖ π_old) per token of the uncorrected run (how far the lag moves the policy).
The figure shows the training accuracy along the updates, mean ± std over seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks import rlhf_verifiable as study
from benchmarks.common import markdown_table, result

NAME = "rlhf_stale"
LAGS = (0, 1, 4, 16)
CORRECTIONS = ("none", "truncated_is", "mask")
LABELS = {"none": "no correction", "truncated_is": "truncated IS", "mask": "masking"}


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    fields, updates, seeds, eval_prompts = study.sizes(quick, smoke)
    lags = (0, 1, 2) if smoke else LAGS
    states, _ = study.references(fields, seeds, eval_prompts)
    data, curves = {}, {}
    for lag in lags:
        data[lag], curves[lag] = {}, {}
        for correction in ("none",) if lag == 0 else CORRECTIONS:
            extra = {"rollout_lag": lag, "rollout_correction": correction}
            metrics, final, seconds = study.train(
                "grpo", fields, updates, states, eval_prompts, **extra
            )
            data[lag][correction] = {
                "final_training_accuracy": study.last_tenth(metrics["accuracy"]),
                "mean_training_accuracy": metrics["accuracy"].mean(1),
                "learner_accuracy": final["accuracy"],
                "behaviour_kl": float(metrics["behaviour_kl"].mean()),
                "kept_tokens": float(metrics["kept_tokens"].mean()),
                "seconds": seconds,
            }
            curves[lag][correction] = metrics
            median = np.median(data[lag][correction]["final_training_accuracy"])
            print(f"k={lag} {correction}: median {median:.2f} ({seconds:.0f} s)", flush=True)
    rows, mean_rows = [], []
    for lag in lags:
        by = [data[lag]["none" if lag == 0 else c] for c in CORRECTIONS]
        final = [d["final_training_accuracy"] for d in by]
        cells = [f"{np.median(f):.2f} ({f.min():.2f})" for f in final]
        learner = [f"{np.median(d['learner_accuracy']):.2f}" for d in by]
        kl = data[lag]["none"]["behaviour_kl"]
        rows.append([str(lag), *cells, *learner, f"{kl:.2g}"])
        mean_rows.append(
            [
                str(lag),
                *(f"{np.median(d['mean_training_accuracy']):.2f}" for d in by),
                f"{by[2]['kept_tokens']:.3f}",
            ]
        )
    labels = [LABELS[c] for c in CORRECTIONS]
    table = markdown_table(
        [
            "lag k",
            *(f"{c}: median (worst)" for c in labels),
            *(f"learner, {c}" for c in labels),
            "KL(μ‖π), none",
        ],
        rows,
    )
    table += "\n\nMean training accuracy over the whole run (how fast it learnt), median over "
    table += "seeds, and the share of tokens masking kept:\n\n"
    table += markdown_table(["lag k", *labels, "tokens kept by masking"], mean_rows)
    files = []
    if out_dir is not None:
        files.append(plot(curves, lags, Path(out_dir) / "rlhf_stale.png"))
    notes = (
        f"{seeds} seeds per cell, GRPO on the sorting task, {updates} updates of "
        f"{fields['responses_per_update']} responses; the statistic is the training rollouts' "
        "accuracy over the last 10% of updates, median over seeds (worst seed in brackets); "
        "'learner' is the median accuracy of the learner's final policy on "
        f"{eval_prompts} fresh prompts. k = 0 is one on-policy run shown in every column. The "
        "KL column is the k3 estimate of KL(μ ‖ π_old) per token on the rollouts of the "
        "uncorrected run."
    )
    top = lags[-1]
    headline = (
        f"Stale rollouts (GRPO, sort, k = {top}, median final training accuracy over {seeds} "
        f"seeds): {np.median(data[top]['none']['final_training_accuracy']):.2f} uncorrected, "
        f"{np.median(data[top]['truncated_is']['final_training_accuracy']):.2f} with truncated "
        f"IS, {np.median(data[top]['mask']['final_training_accuracy']):.2f} with masking "
        f"(on-policy: {np.median(data[0]['none']['final_training_accuracy']):.2f})"
    )
    return result(
        NAME,
        table,
        data,
        title="Stale rollouts: sampling k updates behind the learner",
        notes=notes,
        headline=headline,
        files=files,
    )


def plot(curves: dict, lags, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(lags), figsize=(3.4 * len(lags), 3.0), dpi=110, sharey=True)
    for ax, lag in zip(axes, lags, strict=True):
        for i, correction in enumerate(CORRECTIONS):
            metrics = curves[lag]["none" if lag == 0 else correction]
            values = study.smooth(metrics["accuracy"])
            mean, std = values.mean(0), values.std(0)
            updates = np.arange(1, mean.size + 1)
            label = "on-policy (all three)" if lag == 0 else LABELS[correction]
            ax.plot(updates, mean, color=f"C{i}", label=label, lw=1.2)
            ax.fill_between(updates, mean - std, mean + std, color=f"C{i}", alpha=0.15)
            if lag == 0:
                break
        ax.set_title(f"lag k = {lag}", fontsize=10)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("training accuracy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


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
