"""What a policy lag costs and what V-trace buys: IMPALA's deterministic form on CartPole-v1 and
Acrobot-v1.

    python -m benchmarks.policy_lag [--quick] [--out DIR]

Actors act with the parameters of L updates before the learner's (`IMPALAConfig.policy_lag`,
L ∈ {0, 1, 4, 16}); the learner takes one policy-gradient step per rollout with

* no correction: GAE(λ) advantages and λ-return targets as if the rollout were on-policy,
  and the plain score-function loss −log π(a|s)·Â;
* V-trace: IMPALA's targets and advantages from the truncated ratios π/μ (ρ̄ = c̄ = ρ̄^pg = 1);
* PPO's clipped ratio: the uncorrected advantages in PPO's clipped surrogate of π/μ (ε = 0.2).

L = 0 is one run for all three (every ratio is 1, so the three updates coincide). Everything
else is each environment's IMPALA preset (8 envs × 5 steps, RMSprop, λ = 1), 8 seeds each,
vmapped and split across the CPU's cores. The statistic is the training policy's (stochastic)
mean episode return over the last 10% of the updates, per seed; the table gives the median
over seeds and the worst seed, the plot the mean ± std over seeds of the return along training.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import jax
import numpy as np

from benchmarks.common import markdown_table, result
from pgjax.training.parallel import across_devices, use_cpu_cores

NAME = "policy_lag"
ENVS = ("CartPole-v1", "Acrobot-v1")
LAGS = (0, 1, 4, 16)
CORRECTIONS = ("none", "vtrace", "ppo_clip")
LABELS = {"none": "no correction", "vtrace": "V-trace", "ppo_clip": "PPO clipped ratio"}
SEEDS = 8
SMOKE_ENVS, SMOKE_LAGS = ("CartPole-v1",), (0, 2)  # L = 0 and one lag under every correction


def train(env_id: str, lag: int, correction: str, seeds: int, total_steps: int | None):
    """Per-seed returns along training `[seeds, updates]` and the mean behaviour KL."""
    from pgjax.algorithms.impala import IMPALA, IMPALAConfig

    overrides = {"policy_lag": lag, "correction": correction}
    if total_steps is not None:
        overrides["total_steps"] = total_steps
    config = IMPALAConfig.for_env(env_id, "classic", **overrides)
    keys = jax.random.split(jax.random.key(0), seeds)
    _, metrics = across_devices(IMPALA.make_train(config), seeds)(keys)
    returns = np.asarray(metrics["episode_return"], np.float64)
    return returns, float(np.nanmean(np.asarray(metrics["behaviour_kl"]))), config


def final_returns(returns: np.ndarray) -> np.ndarray:
    """Per seed: the mean return of the episodes that ended in the last 10% of the updates."""
    return np.nanmean(returns[:, -max(1, returns.shape[1] // 10) :], axis=1)


def smoothed(returns: np.ndarray, points: int = 50) -> np.ndarray:
    """`[seeds, points]`: the mean return in each of `points` equal windows of updates (NaN
    where no episode ended in the window)."""
    windows = np.array_split(returns, points, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
        return np.stack([np.nanmean(w, axis=1) for w in windows], axis=1)


def plot(curves: dict, steps: dict, path: Path) -> Path:
    """Returns along training, one panel per environment (rows) and lag (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = list(next(iter(curves.values())))
    fig, axes = plt.subplots(
        len(curves),
        len(lags),
        figsize=(3.2 * len(lags), 2.8 * len(curves)),
        dpi=110,
        sharey="row",
    )
    axes = np.atleast_2d(axes)
    for row, (env_id, by_lag) in enumerate(curves.items()):
        for col, lag in enumerate(lags):
            ax = axes[row, col]
            for correction, curve in by_lag[lag].items():
                x = np.linspace(0, steps[env_id] / 1000, curve.shape[1])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean, std = np.nanmean(curve, 0), np.nanstd(curve, 0)
                label = "on-policy (all three)" if lag == 0 else LABELS[correction]
                ax.plot(x, mean, label=label)
                ax.fill_between(x, mean - std, mean + std, alpha=0.2)
            ax.set_title(f"{env_id}, L = {lag}", fontsize=9)
            ax.set_xlabel("thousand env steps per seed", fontsize=8)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel("episode return", fontsize=8)
            ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    seeds = 1 if smoke else 2 if quick else SEEDS
    envs, lags = (SMOKE_ENVS, SMOKE_LAGS) if smoke else (ENVS, LAGS)
    # Acrobot at 3e5 steps, not its preset's 5e5: the sweep stays within ~10 minutes on 2 cores.
    budgets = {"Acrobot-v1": 300_000}
    if quick or smoke:  # smoke: 50 updates of the preset's 8 envs × 5 steps, one per window
        budgets = dict.fromkeys(envs, 2_000 if smoke else 20_000)
    data, curves, steps, rows = {}, {}, {}, {}  # rows: "final" and "mean" tables
    for env_id in envs:
        data[env_id], curves[env_id] = {}, {}
        for lag in lags:
            data[env_id][lag], curves[env_id][lag] = {}, {}
            for correction in ("vtrace",) if lag == 0 else CORRECTIONS:
                start = time.perf_counter()
                returns, kl, config = train(env_id, lag, correction, seeds, budgets.get(env_id))
                final = final_returns(returns)
                data[env_id][lag][correction] = {
                    "final_returns": final,
                    "mean_returns": np.nanmean(returns, axis=1),
                    "behaviour_kl": kl,
                    "seconds": time.perf_counter() - start,
                }
                curves[env_id][lag][correction] = smoothed(returns)
                steps[env_id] = config.total_steps
                print(f"{env_id} L={lag} {correction}: median {np.median(final):.1f}", flush=True)
        for lag in lags:
            by = data[env_id][lag]
            final = [by["vtrace" if lag == 0 else c]["final_returns"] for c in CORRECTIONS]
            mean = [by["vtrace" if lag == 0 else c]["mean_returns"] for c in CORRECTIONS]
            kl = by.get("none", by["vtrace"])["behaviour_kl"]
            cells = [f"{np.median(f):.1f} ({f.min():.1f})" for f in final]
            rows.setdefault("final", []).append([env_id, str(lag), *cells, f"{kl:.2g}"])
            rows.setdefault("mean", []).append(
                [env_id, str(lag), *(f"{np.median(m):.1f}" for m in mean)]
            )
    labels = [LABELS[c] for c in CORRECTIONS]
    table = markdown_table(
        ["environment", "lag L", *(f"{c}: median (worst)" for c in labels), "KL(μ‖π), none"],
        rows["final"],
    )
    table += "\n\nMean return over the whole run (how fast it learnt), median over seeds:\n\n"
    table += markdown_table(["environment", "lag L", *labels], rows["mean"])
    files = []
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        files.append(plot(curves, steps, out_dir / "policy_lag.png"))
    cart, top = data["CartPole-v1"], lags[-1]
    notes = (
        f"{seeds} seeds per cell, each environment's IMPALA preset "
        f"({', '.join(f'{e}: {s:,} steps' for e, s in steps.items())}); the statistic is the "
        "training policy's mean return over the last 10% of updates, median over seeds (worst "
        "seed in brackets). L = 0 is one on-policy run shown in every column. The KL column is "
        "the learner's mean estimate of KL between the actors' policy and its own on the "
        "rollouts of the uncorrected run: how far the lag moves the policy."
    )
    headline = (
        f"Policy lag on CartPole-v1 (median final return over {seeds} seeds, L = {top}): "
        f"{np.median(cart[top]['none']['final_returns']):.0f} uncorrected, "
        f"{np.median(cart[top]['vtrace']['final_returns']):.0f} with V-trace, "
        f"{np.median(cart[top]['ppo_clip']['final_returns']):.0f} with PPO's clipped ratio "
        f"(on-policy: {np.median(cart[0]['vtrace']['final_returns']):.0f})"
    )
    return result(
        NAME,
        table,
        data,
        title="Policy lag: what it costs and what V-trace buys",
        notes=notes,
        headline=headline,
        files=files,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args(argv)
    use_cpu_cores()
    output = run(args.quick, args.out)
    print(output["table"])
    print(output["notes"])


if __name__ == "__main__":
    main()
