"""Off-policy end to end: pgjax's SAC (Pendulum-v1) and DQN (CartPole-v1) against
Stable-Baselines3's, wall time to the solved threshold with start-up and compilation included,
on the same machine in the same run.

For each library and seed, one run from scratch until the mean return of 10 evaluation episodes
(deterministic policy, fresh environments) first reaches the threshold (-200 on Pendulum-v1,
475 on CartPole-v1):

* **pgjax**: `pgjax.runs.run` with `target_return`, as `pgjax train sac
  --target-return -200` runs it: compile, then chunks of updates (≈0.25 s each) with the
  evaluation after each chunk; its time is compile + run (checkpoints included, evaluation
  included), its classic presets (`SACConfig.for_env("Pendulum-v1", "classic")`,
  `DQNConfig.for_env("CartPole-v1", "classic")`: what the recorded comparison ran).
* **Stable-Baselines3** on the CPU with one PyTorch thread, with rl-baselines3-zoo's tuned
  hyperparameters (`hyperparams/sac.yml` Pendulum-v1: lr 1e-3, otherwise SB3's defaults;
  `hyperparams/dqn.yml` CartPole-v1: see `SB3_DQN`), evaluated every `SB3_EVAL_EVERY` steps
  by a callback; its time is start-up (environment and model construction) and training, the
  evaluations subtracted (which favours SB3).

Needs the `[bench]` extra (`pip install -e '.[bench]'`: torch, stable-baselines3, gymnasium);
without it the benchmark is skipped.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

NAME = "sb3_off_policy"
EVAL_EPISODES = 10
SEEDS, QUICK_SEEDS = (0, 1, 2), (0,)
SMOKE_SB3_EVAL_EVERY, SMOKE_SB3_LIMIT = 100, 200  # SB3's steps in smoke mode
SMOKE_UPDATES = 2  # pgjax's updates in smoke mode

# (label, pgjax algorithm, environment, threshold, SB3 evaluation interval, SB3 step limit)
TASKS = (
    ("SAC", "sac", "Pendulum-v1", -200.0, 1_000, 20_000),
    ("DQN", "dqn", "CartPole-v1", 475.0, 2_048, 100_000),
)

# rl-baselines3-zoo, hyperparams/sac.yml "Pendulum-v1" (n_timesteps 2e4): everything else is
# SB3's default (256×256 MLPs, buffer 1e6, batch 256, learning_starts 100, τ 0.005, one
# gradient step per environment step, automatic temperature).
SB3_SAC = {"learning_rate": 1e-3}
# rl-baselines3-zoo, hyperparams/dqn.yml "CartPole-v1" (n_timesteps 5e4).
SB3_DQN = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1_000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "policy_kwargs": {"net_arch": [256, 256]},
}


def _sb3(label: str, env_id: str, threshold: float, every: int, limit: int, seed: int) -> dict:
    """One SB3 run until its evaluation reaches `threshold` (or `limit` steps)."""
    from stable_baselines3 import DQN, SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    class StopAtThreshold(BaseCallback):
        def __init__(self, eval_env, start: float):
            super().__init__()
            self.eval_env, self.start, self.next = eval_env, start, every
            self.eval_s, self.reached = 0.0, None

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next:
                return True
            self.next += every
            began = time.perf_counter()
            wall = began - self.start - self.eval_s  # start-up and training so far
            mean, _ = evaluate_policy(
                self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True
            )
            self.eval_s += time.perf_counter() - began
            if mean >= threshold:
                self.reached = {"env_steps": self.num_timesteps, "wall_s": wall, "mean": mean}
                return False
            return True

    eval_env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    start = time.perf_counter()
    env = make_vec_env(env_id, n_envs=1, seed=seed)
    if label == "SAC":
        model = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **SB3_SAC)
    else:
        model = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **SB3_DQN)
    callback = StopAtThreshold(eval_env, start)
    model.learn(total_timesteps=limit, callback=callback)
    reached = callback.reached
    return {
        "seed": seed,
        "reached": reached is not None,
        "wall_s": reached["wall_s"] if reached else None,
        "env_steps": reached["env_steps"] if reached else None,
        "steps_done": model.num_timesteps,
    }


def _pgjax(name: str, env_id: str, threshold: float, seed: int, smoke: bool = False) -> dict:
    """One pgjax run through the driver until its evaluation reaches `threshold` (in smoke
    mode: a few updates, `benchmarks.common.smoke_budget`)."""
    from benchmarks.common import smoke_budget
    from pgjax import runs
    from pgjax.runs import registry

    algorithm = registry.get(name)
    config = algorithm.config_class.for_env(env_id, "classic")
    if smoke:
        budget = smoke_budget(config, SMOKE_UPDATES)
        config = algorithm.config_class.for_env(env_id, "classic", total_steps=budget)
    options = runs.RunOptions(
        target_return=threshold, target_episodes=EVAL_EPISODES, tensorboard=False
    )
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        result = runs.run(algorithm, config, [seed], Path(run_dir) / "run", options=options)
        wall = time.perf_counter() - start
    reached = result.status == "target_reached"
    return {
        "seed": seed,
        "reached": reached,
        "wall_s": wall if reached else None,
        "compile_s": result.compile_seconds,
        "env_steps": result.updates * config.steps_per_update if reached else None,
    }


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    from benchmarks.common import format_seconds, markdown_table, result, skipped

    try:
        import stable_baselines3
        import torch
    except ImportError:
        return skipped(NAME, "torch/stable-baselines3 not installed (pip install -e '.[bench]')")
    torch.set_num_threads(1)
    seeds = QUICK_SEEDS if quick or smoke else SEEDS
    rows, data, ratios = [], {}, {}
    for label, name, env_id, threshold, every, limit in TASKS:
        if smoke:
            every, limit = SMOKE_SB3_EVAL_EVERY, SMOKE_SB3_LIMIT
        ours = [_pgjax(name, env_id, threshold, s, smoke) for s in seeds]
        theirs = [_sb3(label, env_id, threshold, every, limit, s) for s in seeds]
        data[label] = {"pgjax": ours, "sb3": theirs}
        for library, runs in (("pgjax", ours), ("SB3", theirs)):
            steps = _median(r["env_steps"] for r in runs)
            rows.append(
                [
                    f"{label} on {env_id} (to {threshold:g})",
                    library,
                    f"{sum(r['reached'] for r in runs)}/{len(runs)}",
                    format_seconds(_median(r["wall_s"] for r in runs)),
                    ", ".join(format_seconds(r["wall_s"]) for r in runs),
                    "—" if steps is None else f"{steps:,.0f}",
                ]
            )
            print(f"  {label} {library}: {rows[-1][2:]}", flush=True)
        mine, sb3 = _median(r["wall_s"] for r in ours), _median(r["wall_s"] for r in theirs)
        ratios[label] = sb3 / mine if mine and sb3 else float("nan")
    table = markdown_table(
        [
            "task",
            "library",
            "reached",
            "wall time to threshold (median)",
            "per seed",
            "env steps (median)",
        ],
        rows,
    )
    headline = (
        f"Wall time to the solved threshold, compile/start-up included (median of {len(seeds)} "
        f"seed{'s' if len(seeds) > 1 else ''}): SAC on Pendulum-v1 {ratios['SAC']:.1f}× and DQN "
        f"on CartPole-v1 {ratios['DQN']:.1f}× faster than Stable-Baselines3"
    )
    notes = (
        f"Evaluation: {EVAL_EPISODES} episodes of the deterministic policy in fresh "
        "environments. pgjax: `runs.run` with `target_return` (compile + chunks + the "
        "evaluation after each chunk + the final checkpoint), its presets, XLA's CPU threading "
        "with the CPU shown as one device per core. SB3 "
        f"{stable_baselines3.__version__} (torch {torch.__version__}, one thread): "
        "rl-baselines3-zoo's tuned hyperparameters, start-up + training, evaluation time "
        "subtracted, evaluated every "
        + ", ".join(f"{every:,} steps ({label})" for label, _, _, _, every, _ in TASKS)
        + ". The two libraries run different hyperparameters (each its own tuned ones), so "
        "the env-step column compares recipes, the time column what a user waits."
    )
    return result(
        NAME,
        table,
        data,
        title="Off-policy end to end: pgjax vs Stable-Baselines3 (SAC, DQN)",
        notes=notes,
        headline=headline,
    )
