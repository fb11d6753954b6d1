"""Policy gradients vs Q-learning, measured: how many environment steps and how much wall time
each algorithm needs before its evaluation return first reaches the solved threshold.

Two claims of our theory are put to the numbers:

1. Q-learning is often more sample-efficient in simple discrete settings: DQN against PPO, A2C
   and REINFORCE on CartPole-v1 (solved at 475) and Acrobot-v1 (-100).
2. Policy gradients suit continuous actions and stochastic policies: SAC (a policy-gradient
   method with a soft Q critic) against PPO on Pendulum-v1 (-200).

Every algorithm runs its preset for the environment (its defaults where it has none) for
`SEEDS` seeds, vmapped in one compiled program split across the JAX devices
(`pgjax.training.evaluation.make_train_and_evaluate`): the run is cut into `EVALUATIONS` equal
segments, each followed by 10 episodes of the deterministic policy in fresh environments. A
seed's *steps to threshold* is the environment steps at the first evaluation whose mean return
reaches the threshold (so it is resolved to a segment, 1/`EVALUATIONS` of the budget); a seed
that never reaches it within its preset's budget counts as "> budget". Its *wall time* is the
program's compile time plus the share of its run time up to that evaluation (the 16 seeds run
together, so this is the time a user waits for that seed's result, not a per-seed cost).
REINFORCE's steps are its fixed episode buffers (H × N per update), an upper bound on the
environment steps it used.

A third table answers the truncation question on Pendulum-v1, which only truncates (200-step
time limit): SAC with time limits bootstrapped from the final observation, as pgjax does, and
with time limits treated as terminal (`bootstrap_truncation=False`), the common bug.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

NAME = "pg_vs_q"
SEEDS, QUICK_SEEDS, SMOKE_SEEDS = 16, 4, 2
EVALUATIONS, QUICK_EVALUATIONS, SMOKE_EVALUATIONS = 40, 8, 2
EPISODES = 10
QUICK_BUDGET_FRACTION = 0.25
# Each algorithm's classic preset (what the recorded comparison ran, before issue 27 tuned some
# of them for speed): tuning the policy-gradient presets alone would tilt the comparison.
PRESET = "classic"

# (environment, threshold, [(label, algorithm, overrides)])
DISCRETE = [
    ("DQN", "dqn", {}),
    ("PPO", "ppo", {}),
    ("A2C", "a2c", {}),
    ("REINFORCE", "reinforce", {}),
]
TASKS = (
    ("CartPole-v1", 475.0, DISCRETE),
    ("Acrobot-v1", -100.0, DISCRETE),
    (
        "Pendulum-v1",
        -200.0,
        [
            ("SAC", "sac", {}),
            ("PPO", "ppo", {}),
            ("SAC, time limit as terminal", "sac", {"bootstrap_truncation": False}),
        ],
    ),
)
# Smoke: one algorithm with discrete actions, and the truncation pair (off-policy).
SMOKE_TASKS = (
    ("CartPole-v1", 475.0, [("PPO", "ppo", {})]),
    (
        "Pendulum-v1",
        -200.0,
        [
            ("SAC", "sac", {}),
            ("SAC, time limit as terminal", "sac", {"bootstrap_truncation": False}),
        ],
    ),
)
# The median steps the headline quotes (those of the runs measured).
HEADLINE = (
    "CartPole-v1/DQN",
    "CartPole-v1/PPO",
    "CartPole-v1/A2C",
    "Acrobot-v1/DQN",
    "Acrobot-v1/PPO",
    "Acrobot-v1/A2C",
    "Pendulum-v1/SAC",
    "Pendulum-v1/PPO",
)


def train_with_curves(name: str, env_id: str, overrides: dict, seeds: int, evaluations: int):
    """One algorithm on one environment: `(config, curves [seeds, evaluations], steps,
    compile_s, run_s)` (`benchmarks.common.train_seeds_with_curves`)."""
    from benchmarks.common import train_seeds_with_curves

    run = train_seeds_with_curves(name, env_id, overrides, seeds, evaluations, EPISODES, PRESET)
    return (
        run["config"],
        run["curves"],
        run["evaluation_steps"],
        run["compile_s"],
        run["run_s"],
    )


def first_reach(curves: np.ndarray, threshold: float) -> np.ndarray:
    """Index of each seed's first evaluation at or above `threshold` (-1: never)."""
    reached = curves >= threshold
    return np.where(reached.any(axis=1), reached.argmax(axis=1), -1)


def quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """Median and interquartile range; infinite values (seeds that never reached) count as
    larger than any other, and a quantile that falls on or next to one is infinite."""
    finite = np.isfinite(values)
    big = np.where(finite, values, np.abs(values[finite]).max(initial=1.0) * 1e6)
    q = np.quantile(big, [0.25, 0.5, 0.75])
    q = np.where(q > np.where(finite, values, -np.inf).max(initial=-np.inf), np.inf, q)
    return q[1], q[0], q[2]


def _summary(run: dict, threshold: float) -> dict:
    index = first_reach(run["curves"], threshold)
    reached = index >= 0
    grid = np.asarray(run["evaluation_steps"])
    total = grid[-1]
    steps = np.where(reached, grid[index], np.inf)
    wall = np.where(reached, run["compile_s"] + run["run_s"] * steps / total, np.inf)
    return {
        "reached": int(reached.sum()),
        "seeds": int(reached.size),
        "steps": quartiles(steps),
        "wall_s": quartiles(wall),
        "budget": int(total),
        "final_return": quartiles(run["curves"][:, -1]),
        "steps_per_seed": steps.tolist(),
    }


def _format_quartiles(values, fmt, budget_label: str) -> str:
    median, low, high = values
    show = lambda x: fmt(x) if np.isfinite(x) else f"> {budget_label}"  # noqa: E731
    return f"{show(median)} [{show(low)}, {show(high)}]"


def _steps(x: float) -> str:
    if not np.isfinite(x):
        return "> budget"
    return f"{x / 1000:.1f}k" if x < 1e6 else f"{x / 1e6:.2f}M"


def _table(env_id: str, threshold: float, summaries: list[tuple[str, dict]]) -> str:
    from benchmarks.common import markdown_table

    rows = []
    for label, s in summaries:
        rows.append(
            [
                label,
                f"{s['reached']}/{s['seeds']}",
                _format_quartiles(s["steps"], _steps, "budget"),
                _format_quartiles(s["wall_s"], lambda x: f"{x:.0f} s", "budget"),
                _steps(s["budget"]),
                f"{s['final_return'][0]:.0f}",
            ]
        )
    return f"**{env_id}** (threshold {threshold:g})\n\n" + markdown_table(
        [
            "algorithm",
            "reached",
            "env steps to threshold, median [IQR]",
            "wall time to threshold, median [IQR]",
            "budget",
            "final return (median)",
        ],
        rows,
        align="lrrrrr",
    )


def plot(runs: dict, seeds: int, path: Path, tasks=TASKS) -> Path:
    """Learning curves, mean ± 95% confidence interval over seeds, one panel per environment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.2), squeeze=False)
    for axis, (env_id, threshold, entries) in zip(axes[0], tasks, strict=True):
        for label, _, _ in entries:
            run = runs[f"{env_id}/{label}"]
            curves, steps = run["curves"], run["evaluation_steps"]
            mean = curves.mean(axis=0)
            half = 1.96 * curves.std(axis=0, ddof=1) / np.sqrt(curves.shape[0])
            (line,) = axis.plot(steps, mean, label=label, linestyle="--" if "," in label else "-")
            axis.fill_between(steps, mean - half, mean + half, alpha=0.2, color=line.get_color())
        axis.axhline(threshold, color="grey", linewidth=0.8, linestyle=":")
        axis.set_xscale("log")
        axis.set_title(env_id)
        axis.set_xlabel("environment steps per seed")
        axis.set_ylabel("evaluation return")
        axis.legend(fontsize=8)
    fig.suptitle(f"Deterministic-policy evaluation return, mean ± 95% CI over {seeds} seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _small_budget(name: str, env_id: str, overrides: dict, smoke: bool) -> int:
    """The quick budget (a fraction of the preset's), or the smoke one: one update per
    evaluation, or enough to learn."""
    from benchmarks.common import smoke_budget
    from pgjax.runs import registry

    preset = registry.config_class(name).for_env(env_id, PRESET, **overrides)
    if smoke:
        return smoke_budget(preset, SMOKE_EVALUATIONS)
    return int(preset.total_steps * QUICK_BUDGET_FRACTION)


def rank_sum_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation with the tie
    correction): how surprising the two samples' rank difference is if they share a
    distribution."""
    values = np.concatenate([a, b])
    order = values.argsort()
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    for value in np.unique(values):  # ties share their mean rank
        ranks[values == value] = ranks[values == value].mean()
    n, m = a.size, b.size
    u = ranks[:n].sum() - n * (n + 1) / 2
    _, counts = np.unique(values, return_counts=True)
    ties = (counts**3 - counts).sum() / ((n + m) * (n + m - 1))
    sigma = np.sqrt(n * m / 12 * ((n + m + 1) - ties))
    z = (abs(u - n * m / 2) - 0.5) / sigma if sigma > 0 else 0.0
    return float(math.erfc(max(z, 0.0) / math.sqrt(2)))


def measure(quick: bool, smoke: bool = False, tasks=TASKS) -> dict:
    """Every (environment, label) of `tasks`: its config, curves, evaluation steps, compile and
    run seconds."""
    seeds = SMOKE_SEEDS if smoke else QUICK_SEEDS if quick else SEEDS
    evaluations = SMOKE_EVALUATIONS if smoke else QUICK_EVALUATIONS if quick else EVALUATIONS
    runs = {}
    for env_id, _, entries in tasks:
        for label, name, overrides in entries:
            if quick or smoke:
                budget = _small_budget(name, env_id, overrides, smoke)
                overrides = {**overrides, "total_steps": budget}
            config, curves, steps, compile_s, run_s = train_with_curves(
                name, env_id, overrides, seeds, evaluations
            )
            runs[f"{env_id}/{label}"] = {
                "config": config.to_dict(),
                "curves": curves,
                "evaluation_steps": steps,
                "compile_s": compile_s,
                "run_s": run_s,
            }
            print(f"  {env_id} {label}: compile {compile_s:.1f} s, run {run_s:.1f} s", flush=True)
    return runs


def report(runs: dict, figure: Path, tasks=TASKS) -> dict:
    """The tables, headline, notes and figure of `measure`'s runs of `tasks` (also rebuilt
    from a saved JSON's `data`)."""
    from benchmarks.common import result

    tables, summaries = [], {}
    for env_id, threshold, entries in tasks:
        rows = []
        for label, _, _ in entries:
            run = runs[f"{env_id}/{label}"]
            summaries[f"{env_id}/{label}"] = summary = _summary(run, threshold)
            rows.append((label, summary))
        tables.append(_table(env_id, threshold, rows))
    seeds = len(next(iter(runs.values()))["curves"])
    evaluations = len(next(iter(runs.values()))["evaluation_steps"])
    plot(runs, seeds, figure, tasks)

    def median_steps(key: str) -> str:
        return _steps(summaries[key]["steps"][0])

    sac, terminal = runs["Pendulum-v1/SAC"], runs["Pendulum-v1/SAC, time limit as terminal"]
    late = slice(-max(1, evaluations // 4), None)  # the last quarter of the evaluations
    late_sac, late_terminal = sac["curves"][:, late].mean(1), terminal["curves"][:, late].mean(1)
    truncation = {
        "steps_p": rank_sum_p(
            np.asarray(summaries["Pendulum-v1/SAC"]["steps_per_seed"]),
            np.asarray(summaries["Pendulum-v1/SAC, time limit as terminal"]["steps_per_seed"]),
        ),
        "late_return": (float(np.median(late_sac)), float(np.median(late_terminal))),
        "late_p": rank_sum_p(late_sac, late_terminal),
    }
    by_env: dict[str, list[str]] = {}
    for key in (k for k in HEADLINE if k in summaries):
        env_id, label = key.split("/")
        by_env.setdefault(env_id, []).append(f"{label} {median_steps(key)}")
    headline = f"Env steps to the solved threshold, median of {seeds} seeds: " + "; ".join(
        f"{env_id} {', '.join(cells)}" for env_id, cells in by_env.items()
    )
    notes = (
        f"{seeds} seeds per row, vmapped in one program across the JAX devices; evaluation "
        f"every 1/{evaluations} of the budget ({EPISODES} episodes, deterministic policy, fresh "
        "environments); IQR = interquartile range over seeds, seeds that never reached the "
        "threshold counting as above the budget. Each algorithm runs its preset for the "
        "environment (A2C and REINFORCE have none for Acrobot-v1 and run their defaults). "
        "Wall time = compile + the run's share up to that evaluation, for all seeds at once, "
        "evaluation included. REINFORCE's steps are its padded episode buffers (an upper "
        "bound). Figure: mean ± 95% CI (normal approximation) over seeds, log-scaled steps.\n\n"
        "**Time limits as terminal states** (Pendulum-v1 only truncates): SAC needs "
        f"{median_steps('Pendulum-v1/SAC, time limit as terminal')} steps to -200 instead of "
        f"{median_steps('Pendulum-v1/SAC')} (Mann-Whitney p = {truncation['steps_p']:.2g}), "
        "and its mean return over the last quarter of the evaluations is "
        f"{truncation['late_return'][1]:.0f} instead of {truncation['late_return'][0]:.0f} "
        f"(median over seeds; p = {truncation['late_p']:.2g})."
    )
    data = {key: {**runs[key], **summaries[key]} for key in runs} | {
        "truncation_as_termination": truncation
    }
    return result(
        NAME,
        "\n\n".join(tables),
        data,
        title="Policy gradients vs Q-learning: steps and time to the solved threshold",
        notes=notes,
        headline=headline,
        files=[figure],
    )


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    import jax

    out_dir = Path(out_dir or Path(__file__).resolve().parent / "out")
    tasks = SMOKE_TASKS if smoke else TASKS
    figure = out_dir / f"{NAME}-{jax.default_backend()}.png"
    return report(measure(quick, smoke, tasks), figure, tasks)
