"""Population-based training against a random search with the same compute, PPO on two tasks.

Both start from the same N random configurations of PPO's classic preset
(`pgjax.runs.sweep.plan`, the same search seed, PPO's declared search ranges) and train them
for the same environment steps in one compiled program each; the random search keeps every
configuration fixed, population-based training (`pgjax.runs.pbt`) replaces the worst quarter
by perturbed copies of the best quarter every tenth of the run. Compute: the same training
steps; PBT adds its fitness evaluations (10 deterministic episodes per member per selection).

Measured on every member's final policy, 32 deterministic episodes at an evaluation seed that
neither search used for selecting: the best member (chosen on the run's own final 10-episode
evaluation), the population's median, and how many members reached the task's threshold.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

NAME = "pbt_vs_random"
TASKS = {
    # env: (total steps per member, threshold); PPO's preset for the environment otherwise.
    "CartPole-v1": (100_000, 475.0),
    "Acrobot-v1": (200_000, -100.0),
}


def _train(env_id: str, total_steps: int, population: int, pbt: bool, run_dir: Path) -> dict:
    from pgjax.algorithms.ppo import PPO, PPOConfig
    from pgjax.runs import RunOptions, sweep
    from pgjax.runs.evaluator import RunEvaluator

    config = PPOConfig.for_env(env_id, preset="classic", total_steps=total_steps)
    options = {"interval": max(1, config.num_updates // 10)} if pbt else None
    plan = sweep.plan(config, seeds=[0], random=population, sample_seed=0, pbt=options)
    start = time.perf_counter()
    result = sweep.run(PPO, config, plan, run_dir, options=RunOptions(tensorboard=False))
    seconds = time.perf_counter() - start
    ranking = RunEvaluator(PPO, config, plan.num_runs, 10)(result.state, 0)["return"].mean(1)
    held_out = RunEvaluator(PPO, config, plan.num_runs, 32)(result.state, 1)["return"].mean(1)
    return {
        "seconds": seconds,
        "compile_seconds": result.compile_seconds,
        "best": float(held_out[int(np.argmax(ranking))]),
        "median": float(np.median(held_out)),
        "returns": held_out.tolist(),
    }


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    if smoke:  # it has no setting small enough for the smoke test yet
        from benchmarks.common import skipped

        return skipped(NAME, "no smoke setting yet; its quick mode takes minutes")
    from benchmarks.common import markdown_table, result

    population = 8 if quick else 16
    rows, data = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        for env_id, (total_steps, threshold) in TASKS.items():
            steps = total_steps // 4 if quick else total_steps
            for label, pbt in (("random search", False), ("PBT", True)):
                measured = _train(env_id, steps, population, pbt, Path(scratch) / f"{env_id}-{pbt}")
                data[f"{env_id}/{label}"] = measured
                reached = sum(r >= threshold for r in measured["returns"])
                rows.append(
                    [
                        env_id,
                        label,
                        f"{measured['best']:.1f}",
                        f"{measured['median']:.1f}",
                        f"{reached}/{population}",
                        f"{measured['seconds']:.0f} s",
                    ]
                )
    table = markdown_table(
        ["task", "search", "best member", "population median", "≥ threshold", "wall time"], rows
    )
    scale = 4 if quick else 1
    budgets = ", ".join(f"{env}: {steps // scale:,} steps" for env, (steps, _) in TASKS.items())
    notes = (
        f"{population} members each, 1 seed per member, {budgets} "
        "per member; returns: 32 held-out deterministic episodes per member. Wall time includes "
        "compilation and, for PBT, its selections' evaluations."
    )
    return result(
        NAME,
        table,
        data,
        title="Population-based training vs random search, same training steps (PPO)",
        notes=notes,
    )
