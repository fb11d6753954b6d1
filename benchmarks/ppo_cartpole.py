"""PPO on CartPole-v1, classic configuration: compile time, steady-state throughput, the raw
env-stepping ceiling at the same num_envs, and vmapped seeds.

    python -m benchmarks.ppo_cartpole [--quick]

Classic configuration: 4 envs × 128 steps, 4 epochs × 4 minibatches, 5e5 steps (the
`PPOConfig` defaults). Targets (issue 4, 2-core CPU): compile < 5 s; training throughput
≥ 30% of the raw env ceiling at 4 envs; 64 vmapped seeds ≥ 2× the aggregate throughput of 1.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import jax

from benchmarks.common import (
    format_rate,
    format_seconds,
    markdown_table,
    result,
    time_compile_and_run,
)
from pgjax.training.parallel import across_devices, use_cpu_cores

# pgjax.envs and pgjax.algorithms import gymnax, which starts JAX's backend: they are imported
# inside the functions, so `main` can call `use_cpu_cores` first.

NAME = "ppo_cartpole"


def random_rollout(env_id: str, num_envs: int, num_steps: int):
    """The raw env-stepping ceiling: uniformly random actions through the same wrapped,
    vectorised environment the training loop uses, `lax.scan` over steps."""
    from pgjax.envs import make_env

    env = make_env(env_id, num_envs)

    def rollout(key):
        obs, state = env.reset(key)

        def step(carry, step_key):
            state, _ = carry
            action_key, env_key = jax.random.split(step_key)
            action = jax.random.randint(action_key, (num_envs,), 0, env.spec.action_dim)
            obs, state, reward, *_ = env.step(env_key, state, action)
            return (state, obs), reward.sum()

        return jax.lax.scan(step, (state, obs), jax.random.split(key, num_steps))[1].sum()

    return rollout


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    from pgjax.algorithms.ppo import PPO, PPOConfig

    config = PPOConfig.for_env("CartPole-v1", preset="classic")
    if quick or smoke:  # smoke: one update, the program scaling and purejaxrl_ppo compile too
        steps = config.steps_per_update if smoke else 65_536
        config = dataclasses.replace(config, total_steps=steps)
    steps = config.num_updates * config.steps_per_update
    repeats = 1 if quick or smoke else 3

    train = time_compile_and_run(PPO.make_train(config), jax.random.key(0), repeats=repeats)
    ceiling = time_compile_and_run(
        random_rollout(config.env_id, config.num_envs, steps // config.num_envs),
        jax.random.key(0),
        repeats=repeats,
    )
    train_rate, ceiling_rate = steps / train.run_s, steps / ceiling.run_s
    rows = [
        ["PPO, 1 seed", format_seconds(train.compile_s), format_seconds(train.run_s),
         format_rate(train_rate), f"{train_rate / ceiling_rate:.0%}"],
        ["random actions (ceiling)", format_seconds(ceiling.compile_s),
         format_seconds(ceiling.run_s), format_rate(ceiling_rate), "100%"],
    ]  # fmt: skip

    # Seeds: fewer steps per seed (throughput per step does not depend on the budget). Each
    # count runs as plain `jax.vmap` on one device and, where JAX sees several devices (on a CPU:
    # `use_cpu_cores`), split across them with `across_devices`, the way the CLI runs seeds.
    seed_budget = config.total_steps if smoke else 16_384 if quick else 32_768
    seed_config = dataclasses.replace(config, total_steps=seed_budget)
    seed_steps = seed_config.num_updates * seed_config.steps_per_update
    seed_train = PPO.make_train(seed_config)
    num_devices = len(jax.devices())
    seed_rates = {}
    for num_seeds in (1, 2) if smoke else (1, 8) if quick else (1, 8, 64):
        keys = jax.random.split(jax.random.key(1), num_seeds)
        programs = {"vmap, 1 device": jax.jit(jax.vmap(seed_train))}
        if num_devices > 1 and num_seeds > 1:
            programs[f"across {num_devices} devices"] = across_devices(seed_train, num_seeds)
        for label, program in programs.items():
            timing = time_compile_and_run(program, keys, repeats=1)
            rate = num_seeds * seed_steps / timing.run_s
            seed_rates[num_seeds, label] = rate
            rows.append([
                f"PPO, {num_seeds} seed{'s' * (num_seeds > 1)} ({label})",
                format_seconds(timing.compile_s),
                format_seconds(timing.run_s), format_rate(rate),
                f"{rate / seed_rates[1, 'vmap, 1 device']:.1f}× 1 seed",
            ])  # fmt: skip

    table = markdown_table(
        ["program", "compile", "run (median)", "env steps/s", "vs ceiling / 1 seed"], rows
    )
    largest = max(n for n, _ in seed_rates)
    best_label, best_rate = max(
        ((label, rate) for (n, label), rate in seed_rates.items() if n == largest),
        key=lambda item: item[1],
    )
    one_seed = seed_rates[1, "vmap, 1 device"]
    targets = {
        "compile_under_5s": train.compile_s < 5.0,
        "training_at_least_30pct_of_ceiling": train_rate >= 0.3 * ceiling_rate,
        f"{largest}_seeds_at_least_2x_one_seed": best_rate >= 2 * one_seed,
    }
    notes = (
        f"Classic configuration: {config.num_envs} envs × {config.num_steps} steps, "
        f"{config.num_epochs} epochs × {config.num_minibatches} minibatches, {steps:,} env "
        f"steps per seed for the first two rows; the vmapped-seed rows train {seed_steps:,} "
        "steps per seed. Compile = tracing + lowering + XLA compilation; run = median of "
        f"{repeats} calls of the compiled program after a warm-up call (one call for the "
        "vmapped-seed rows). Targets: "
        + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in targets.items())
        + "."
    )
    data = {
        "train": train.as_dict(),
        "ceiling": ceiling.as_dict(),
        "train_steps_per_s": train_rate,
        "ceiling_steps_per_s": ceiling_rate,
        "seed_steps_per_s": {f"{n} seeds, {label}": r for (n, label), r in seed_rates.items()},
        "devices": num_devices,
        "targets": targets,
    }
    headline = (
        f"PPO CartPole-v1 (4 envs): compile {train.compile_s:.1f} s, "
        f"{format_rate(train_rate)} env steps/s = {train_rate / ceiling_rate:.0%} of the raw "
        f"env ceiling; {largest} vmapped seeds ({best_label}): {best_rate / one_seed:.1f}× "
        "the aggregate throughput of one."
    )
    print(table)
    print(notes)
    return result(NAME, table, data, title="PPO on CartPole-v1", notes=notes, headline=headline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets")
    use_cpu_cores()
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
