"""End to end: PPO on CartPole-v1, pgjax (JAX, one jitted call) vs Stable-Baselines3 (PyTorch).

What is measured, per seed, for each library with its own published CartPole settings:

* **time to solve**: wall time until the mean return of 10 evaluation episodes (deterministic
  policy, fresh environments) reaches 475, counting start-up and compilation;
* **env steps/s**: training throughput (environment steps over training time, without
  compilation, start-up or evaluation).

Stable-Baselines3 runs on the CPU with one PyTorch thread (`torch.set_num_threads(1)`) and the
tuned CartPole-v1 PPO hyperparameters of rl-baselines3-zoo (`hyperparams/ppo.yml`, entry
`CartPole-v1`: n_envs 8, n_steps 32, batch_size 256, gae_lambda 0.8, gamma 0.98, n_epochs 20,
ent_coef 0.0, learning_rate lin_0.001, clip_range lin_0.2, n_timesteps 1e5). A callback
evaluates it every `SB3_EVAL_EVERY` environment steps, after an update; the time spent
evaluating is subtracted, and training stops at the first evaluation ≥ 475.

pgjax trains in one compiled call, so it cannot be stopped and evaluated midway. It is trained
at increasing budgets `total_steps`, each a fresh compile and run, and the final policy of each
is evaluated like SB3's; its time to solve is the compile + run time of the smallest budget
whose policy evaluates ≥ 475 (the failed smaller budgets are not counted, as if the user had
picked that budget). The learning rate anneals over the budget, so a smaller budget is its own
(shorter) schedule, not a prefix of a longer run. Two pgjax configurations:

* its classic configuration (`PPOConfig.for_env("CartPole-v1", preset="classic")`), budgets
  `PGJAX_BUDGETS`;
* rl-zoo's hyperparameters (`ZOO_AS_PGJAX`; the clip range stays 0.2, pgjax does not anneal
  it), budgets `ZOO_BUDGETS`: the same algorithm settings as the SB3 run.

An extra short SB3 run with pgjax's default configuration (4 envs × 128 steps, 4 epochs × 4
minibatches, lr 2.5e-4 annealed, clip 0.2 incl. the value, entropy 0.01, `SAME_CONFIG_STEPS`
steps) gives the throughput of the same work in both libraries, on both configurations.

Needs the `[bench]` extra (`pip install -e '.[bench]'`: torch, stable-baselines3, gymnasium);
without it the benchmark is skipped.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

NAME = "sb3_cartpole"
ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
EVAL_EPISODES = 10
PGJAX_BUDGETS = (100_000, 150_000, 200_000, 300_000, 500_000)  # pgjax's default config
QUICK_PGJAX_BUDGETS = (100_000, 200_000, 500_000)
ZOO_BUDGETS = (25_000, 50_000, 100_000)  # pgjax with the rl-zoo hyperparameters
SB3_EVAL_EVERY = 2_048  # env steps (8 updates of 8 envs × 32 steps)
SAME_CONFIG_STEPS = 20_480
SEEDS = (0, 1, 2)
QUICK_SEEDS = (0,)
# Smoke: one seed, two updates of each pgjax configuration, two of SB3's (8 envs × 32 steps),
# one of SB3 with pgjax's (4 envs × 128 steps).
SMOKE_PGJAX_BUDGETS, SMOKE_ZOO_BUDGETS, SMOKE_SB3_STEPS, SMOKE_SAME_CONFIG_STEPS = (
    (1_024,),
    (512,),
    512,
    512,
)

# rl-baselines3-zoo, hyperparams/ppo.yml, "CartPole-v1" (tuned); lin_X = X · progress_remaining.
ZOO_CARTPOLE = {
    "n_envs": 8,
    "n_timesteps": 100_000,
    "n_steps": 32,
    "batch_size": 256,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "learning_rate": "lin_0.001",
    "clip_range": "lin_0.2",
}


# The same hyperparameters as pgjax PPOConfig overrides. Differences that remain: pgjax keeps the
# clip range constant (SB3 anneals it to 0 with lin_0.2), and anneals the learning rate over
# the budget it is given rather than over 1e5 steps.
ZOO_AS_PGJAX = {
    "num_envs": 8,
    "num_steps": 32,
    "num_minibatches": 1,  # batch_size 256 = 8 envs × 32 steps: one minibatch per epoch
    "num_epochs": 20,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "entropy_coef": 0.0,
    "learning_rate": 1e-3,
    "anneal_learning_rate": True,
    "clip_eps": 0.2,
    "clip_value": False,  # SB3's clip_range_vf defaults to None
}


def _linear(initial: float):
    """rl-zoo's `lin_X` schedule: X · progress_remaining (1 at the start, 0 at the end)."""
    return lambda progress_remaining: progress_remaining * initial


# --------------------------------------------------------------------------------------------
# Stable-Baselines3


def _sb3_solve(seed: int, max_steps: int) -> dict:
    """SB3 PPO with the rl-zoo hyperparameters until the evaluation return reaches 475."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    class EvaluateAndStop(BaseCallback):
        """Evaluates after every `SB3_EVAL_EVERY` steps; stops at the first mean ≥ 475."""

        def __init__(self, eval_env, start: float):
            super().__init__()
            self.eval_env, self.start = eval_env, start
            self.next_eval, self.eval_seconds = SB3_EVAL_EVERY, 0.0
            self.history, self.solved = [], None

        def _evaluate(self) -> None:
            now = time.perf_counter()
            returns, _ = evaluate_policy(
                self.model,
                self.eval_env,
                n_eval_episodes=EVAL_EPISODES,
                deterministic=True,
                return_episode_rewards=True,
            )
            mean = float(sum(returns) / len(returns))
            wall = now - self.start - self.eval_seconds  # start-up + training, no evaluation
            self.eval_seconds += time.perf_counter() - now
            self.history.append({"env_steps": self.num_timesteps, "wall_s": wall, "mean": mean})
            if mean >= THRESHOLD and self.solved is None:
                self.solved = self.history[-1]

        def _on_rollout_start(self) -> None:  # after an update (and before the first rollout)
            if self.num_timesteps >= self.next_eval:
                self.next_eval += SB3_EVAL_EVERY
                self._evaluate()

        def _on_training_end(self) -> None:
            evaluated = self.history and self.history[-1]["env_steps"] == self.num_timesteps
            if self.solved is None and not evaluated:
                self._evaluate()

        def _on_step(self) -> bool:
            return self.solved is None

    eval_env = make_vec_env(ENV_ID, n_envs=EVAL_EPISODES, seed=10_000 + seed)
    start = time.perf_counter()
    env = make_vec_env(ENV_ID, n_envs=ZOO_CARTPOLE["n_envs"], seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=ZOO_CARTPOLE["n_steps"],
        batch_size=ZOO_CARTPOLE["batch_size"],
        gae_lambda=ZOO_CARTPOLE["gae_lambda"],
        gamma=ZOO_CARTPOLE["gamma"],
        n_epochs=ZOO_CARTPOLE["n_epochs"],
        ent_coef=ZOO_CARTPOLE["ent_coef"],
        learning_rate=_linear(0.001),
        clip_range=_linear(0.2),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    startup_s = time.perf_counter() - start
    callback = EvaluateAndStop(eval_env, start)
    model.learn(total_timesteps=max_steps, callback=callback)
    total_s = time.perf_counter() - start
    train_s = total_s - startup_s - callback.eval_seconds
    solved = callback.solved
    return {
        "seed": seed,
        "startup_s": startup_s,
        "solved": solved is not None,
        "time_to_solve_s": solved["wall_s"] if solved else None,
        "steps_to_solve": solved["env_steps"] if solved else None,
        "env_steps": model.num_timesteps,
        "train_s": train_s,
        "eval_s": callback.eval_seconds,
        "steps_per_s": model.num_timesteps / train_s,
        "last_eval_return": callback.history[-1]["mean"] if callback.history else None,
        "history": callback.history,
    }


def _sb3_same_config_throughput(seed: int, steps: int) -> dict:
    """SB3 PPO with pgjax's default CartPole configuration: training steps/s only."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from pgjax.algorithms.ppo import PPOConfig

    config = PPOConfig.for_env(ENV_ID, preset="classic")
    env = make_vec_env(ENV_ID, n_envs=config.num_envs, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=config.num_steps,
        batch_size=config.steps_per_update // config.num_minibatches,
        n_epochs=config.num_epochs,
        learning_rate=_linear(config.learning_rate),
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_eps,
        clip_range_vf=config.clip_eps if config.clip_value else None,
        ent_coef=config.entropy_coef,
        vf_coef=config.value_coef,
        max_grad_norm=config.max_grad_norm,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    train_s = time.perf_counter() - start
    steps = model.num_timesteps
    return {"env_steps": steps, "train_s": train_s, "steps_per_s": steps / train_s}


# --------------------------------------------------------------------------------------------
# pgjax


def _pgjax_solve(seed: int, budgets: tuple[int, ...], overrides: dict) -> dict:
    """pgjax PPO (`PPOConfig.for_env(ENV_ID, **overrides)`) at increasing budgets until its
    final policy evaluates ≥ 475."""
    import jax
    import numpy as np

    from pgjax.algorithms.ppo import PPO, PPOConfig
    from pgjax.training.evaluation import episode_returns

    evaluate = None
    attempts = []
    for budget in budgets:
        config = PPOConfig.for_env(ENV_ID, "classic", **overrides, total_steps=budget)
        key = jax.random.key(seed)
        start = time.perf_counter()
        compiled = jax.jit(PPO.make_train(config)).lower(key).compile()
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        state, _ = jax.block_until_ready(compiled(key))
        run_s = time.perf_counter() - start
        if evaluate is None:
            evaluate = jax.jit(episode_returns(PPO, config, EVAL_EPISODES, deterministic=True))
        returns = np.asarray(evaluate(state, jax.random.key(10_000 + seed)))
        steps = config.num_updates * config.steps_per_update
        attempts.append(
            {
                "total_steps": steps,
                "compile_s": compile_s,
                "run_s": run_s,
                "steps_per_s": steps / run_s,
                "eval_return": float(returns.mean()),
            }
        )
        print(
            f"    pgjax seed {seed}, {steps:,} steps: compile {compile_s:.1f} s, run "
            f"{run_s:.1f} s, eval return {returns.mean():.1f}",
            flush=True,
        )
        if returns.mean() >= THRESHOLD:
            break
    last = attempts[-1]
    solved = last["eval_return"] >= THRESHOLD
    return {
        "seed": seed,
        "solved": solved,
        "time_to_solve_s": last["compile_s"] + last["run_s"] if solved else None,
        "steps_to_solve": last["total_steps"] if solved else None,
        "compile_s": last["compile_s"],
        "steps_per_s": last["steps_per_s"],
        "last_eval_return": last["eval_return"],
        "search_s": sum(a["compile_s"] + a["run_s"] for a in attempts),
        "attempts": attempts,
    }


# --------------------------------------------------------------------------------------------


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    from benchmarks.common import format_rate, format_seconds, markdown_table, result, skipped

    start = time.perf_counter()
    try:
        import stable_baselines3
        import torch
    except ImportError:
        return skipped(NAME, "torch/stable-baselines3 not installed (pip install -e '.[bench]')")
    import_s = time.perf_counter() - start
    torch.set_num_threads(1)
    seeds = QUICK_SEEDS if quick or smoke else SEEDS
    budgets = SMOKE_PGJAX_BUDGETS if smoke else QUICK_PGJAX_BUDGETS if quick else PGJAX_BUDGETS
    zoo_budgets = SMOKE_ZOO_BUDGETS if smoke else ZOO_BUDGETS
    sb3_steps = SMOKE_SB3_STEPS if smoke else ZOO_CARTPOLE["n_timesteps"]
    same_config_steps = SMOKE_SAME_CONFIG_STEPS if smoke else SAME_CONFIG_STEPS

    sb3, pg, pg_zoo = [], [], []
    for seed in seeds:
        print(f"  seed {seed}: Stable-Baselines3 (rl-zoo hyperparameters)", flush=True)
        sb3.append(_sb3_solve(seed, sb3_steps))
        r = sb3[-1]
        print(
            f"    SB3 seed {seed}: {'solved' if r['solved'] else 'NOT solved'} after "
            f"{r['env_steps']:,} steps, {r['time_to_solve_s'] or float('nan'):.1f} s, "
            f"{r['steps_per_s']:,.0f} steps/s",
            flush=True,
        )
        print(f"  seed {seed}: pgjax, default config, budgets {budgets}", flush=True)
        pg.append(_pgjax_solve(seed, budgets, {}))
        print(f"  seed {seed}: pgjax, rl-zoo hyperparameters, budgets {zoo_budgets}", flush=True)
        pg_zoo.append(_pgjax_solve(seed, zoo_budgets, ZOO_AS_PGJAX))
    same = _sb3_same_config_throughput(0, same_config_steps)

    def row(label, runs, startup_key):
        solved = sum(r["solved"] for r in runs)
        steps = _median(r["steps_to_solve"] for r in runs)
        return [
            label,
            f"{solved}/{len(runs)}",
            format_seconds(_median(r["time_to_solve_s"] for r in runs)),
            ", ".join(format_seconds(r["time_to_solve_s"]) for r in runs),
            "—" if steps is None else f"{steps:,.0f}",
            format_seconds(_median(r[startup_key] for r in runs)),
            format_rate(_median(r["steps_per_s"] for r in runs)),
        ]

    headers = [
        "library (hyperparameters)",
        "solved",
        "time to 475 (median)",
        "per seed",
        "env steps to 475 (median)",
        "start-up / compile",
        "train env steps/s",
    ]
    rows = [
        row("pgjax PPO, JAX jit (pgjax's CartPole default)", pg, "compile_s"),
        row("pgjax PPO, JAX jit (rl-zoo's, clip not annealed)", pg_zoo, "compile_s"),
        row("SB3 PPO, PyTorch 1 thread (rl-zoo's tuned)", sb3, "startup_s"),
    ]
    pg_rate = _median(r["steps_per_s"] for r in pg)
    zoo_rate = _median(r["steps_per_s"] for r in pg_zoo)
    sb3_rate = _median(r["steps_per_s"] for r in sb3)
    table = "\n\n".join(
        [
            markdown_table(headers, rows),
            "**Training throughput on the same hyperparameters** (env steps/s, 1 seed, "
            "compile / start-up and evaluation excluded)",
            markdown_table(
                ["hyperparameters", "pgjax", "SB3", "pgjax / SB3"],
                [
                    [
                        "pgjax's CartPole default",
                        format_rate(pg_rate),
                        format_rate(same["steps_per_s"]),
                        f"{pg_rate / same['steps_per_s']:.1f}×",
                    ],
                    [
                        "rl-zoo's tuned",
                        format_rate(zoo_rate),
                        format_rate(sb3_rate),
                        f"{zoo_rate / sb3_rate:.1f}×",
                    ],
                ],
            ),
        ]
    )
    times = {
        key: _median(r["time_to_solve_s"] for r in runs)
        for key, runs in (("pg", pg), ("zoo", pg_zoo), ("sb3", sb3))
    }
    headline = (
        f"PPO on {ENV_ID} to a mean evaluation return of 475, compile/start-up included "
        f"(median of {len(seeds)} seed{'s' if len(seeds) > 1 else ''}): pgjax "
        f"{format_seconds(times['pg'])} with its default config, "
        f"{format_seconds(times['zoo'])} with rl-zoo's hyperparameters, vs Stable-Baselines3 "
        f"{format_seconds(times['sb3'])}; training throughput on the same hyperparameters "
        f"{pg_rate / same['steps_per_s']:.0f}× (pgjax's) and {zoo_rate / sb3_rate:.0f}× "
        "(rl-zoo's) SB3's"
    )
    notes = (
        f"Time to 475: until the mean return of {EVAL_EPISODES} evaluation episodes "
        "(deterministic policy, fresh environments) first reaches 475. **SB3** "
        "(rl-baselines3-zoo's tuned CartPole-v1 PPO: 8 envs × 32 steps, 20 epochs, batch 256, "
        "γ 0.98, λ 0.8, lr and clip linearly annealed from 1e-3 and 0.2 over 1e5 steps), "
        f"`torch.set_num_threads(1)`: evaluated every {SB3_EVAL_EVERY:,} env steps; its time "
        "counts start-up (environment and model construction) and training, not evaluation; "
        f"training stops once solved. Importing torch + stable-baselines3 took {import_s:.1f} s "
        "(not counted; neither is importing jax). **pgjax** trains in one compiled call that "
        "cannot be evaluated midway, so it is trained from scratch at increasing budgets "
        f"({', '.join(f'{b // 1000}k' for b in budgets)} steps with its default CartPole "
        "config: 4 envs × 128 steps, 4 epochs × 4 minibatches, lr 2.5e-4 annealed; "
        f"{', '.join(f'{b // 1000}k' for b in zoo_budgets)} with rl-zoo's hyperparameters, the "
        "clip range kept at 0.2), stopping at the first budget that solves; its time is "
        "compile + run of that budget (the failed smaller budgets are not counted: their sum "
        "is `search_s` in the JSON). pgjax anneals the learning rate over the budget, so each "
        "budget is its own schedule; its coarse budget grid is a handicap next to SB3's "
        f"{SB3_EVAL_EVERY:,}-step evaluation grid. Throughput excludes compile, start-up and "
        "evaluation. Both on the CPU: SB3 with one torch thread, pgjax with XLA's default CPU "
        f"threading. stable-baselines3 {stable_baselines3.__version__}, torch "
        f"{torch.__version__}."
    )
    data = {
        "env_id": ENV_ID,
        "threshold": THRESHOLD,
        "eval_episodes": EVAL_EPISODES,
        "seeds": list(seeds),
        "pgjax_budgets": list(budgets),
        "sb3_hyperparameters": ZOO_CARTPOLE,
        "sb3_hyperparameters_source": "rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1",
        "sb3_eval_every": SB3_EVAL_EVERY,
        "import_torch_sb3_s": import_s,
        "zoo_budgets": list(zoo_budgets),
        "zoo_as_pgjax": ZOO_AS_PGJAX,
        "pgjax": pg,
        "pgjax_zoo_hyperparameters": pg_zoo,
        "sb3": sb3,
        "sb3_same_config": same,
    }
    return result(
        NAME,
        table,
        data,
        title="End to end: PPO on CartPole-v1, pgjax vs Stable-Baselines3",
        notes=notes,
        headline=headline,
    )


if __name__ == "__main__":
    import sys

    from benchmarks.run import main

    raise SystemExit(main([NAME, *sys.argv[1:]]))
