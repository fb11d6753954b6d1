"""PPO on CartPole-v1 against PureJaxRL's own `ppo.py`, and where pgjax's time goes.

    python -m benchmarks.run purejaxrl_ppo --purejaxrl PATH   # PATH: a PureJaxRL checkout

PureJaxRL's file runs unmodified: it is imported from the checkout, and only its environment
is adapted at run time (gymnax 1.x's `step` returns `terminated` and `truncated` apart, where
PureJaxRL's wrappers expect one `done`; its `wrappers.py` also imports brax and navix, which the
CartPole script never uses, so empty stand-ins are registered for them). Nothing of it is
copied into pgjax. Without a checkout (`--purejaxrl` or `PGJAX_PUREJAXRL`), its rows are
skipped and the targets say so.

Both run the classic configuration (4 envs × 128 steps, 4 epochs × 4 minibatches, lr 2.5e-4
annealed, γ 0.99, λ 0.95, clip 0.2, entropy 0.01, value 0.5, grad norm 0.5), alternating, in
rounds, in one process:

* one seed, 5e5 steps: `jax.jit(make_train(config))` for each; compile (trace + lower + XLA)
  and run time (median of `repeats` calls after a warm-up call);
* eight seeds, 1e5 steps each: PureJaxRL's `jax.jit(jax.vmap(train))`; pgjax's
  `across_devices` (its way of running seeds, one device per core on a CPU).

Targets (issue 17): one seed ≥ 1.5× PureJaxRL's throughput and ≤ 0.6× its compile time; eight
seeds ≥ 2× its aggregate throughput.

Where the time goes (pgjax, one seed): compile split into tracing, lowering and XLA; per update
the environment alone (random actions through the same wrapped environments), the rollout
(policy forward pass + environment + GAE) and the minibatch gradient steps (the rest).
"""

from __future__ import annotations

import importlib
import os
import statistics
import sys
import time
import types
from pathlib import Path

NAME = "purejaxrl_ppo"
ONE_SEED_STEPS = 500_000
SEEDS = 8
SEED_STEPS = 100_000
PUREJAXRL_CONFIG = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "TOTAL_TIMESTEPS": ONE_SEED_STEPS,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True,
    "DEBUG": False,
}


def load_purejaxrl(checkout: str | Path, module: str = "ppo") -> types.ModuleType:
    """PureJaxRL's `purejaxrl/{module}.py` (`ppo`, `ppo_rnn`) from a checkout, with gymnax 1.x
    adapted to it; its `gymnax.make` also builds pgjax's partially observable ids
    (`pgjax.envs.partial`), so the same file runs on them."""
    import gymnax
    import jax.numpy as jnp

    from pgjax.envs.partial import PARTIALLY_OBSERVABLE

    directory = Path(checkout) / "purejaxrl"
    if not (directory / f"{module}.py").is_file():
        raise FileNotFoundError(f"{directory / module}.py does not exist: not a PureJaxRL checkout")
    for name in ("brax", "brax.envs", "brax.envs.wrappers", "brax.envs.wrappers.training"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules.setdefault("navix", types.ModuleType("navix"))
    sys.modules["brax"].envs = sys.modules["brax.envs"]
    training = sys.modules["brax.envs.wrappers.training"]
    training.EpisodeWrapper = training.AutoResetWrapper = object

    class FiveTupleStep:
        """gymnax 1.x's environment with the five-tuple step PureJaxRL's wrappers expect."""

        def __init__(self, env):
            self._env = env

        def __getattr__(self, name):
            return getattr(self._env, name)

        def step(self, key, state, action, params=None):
            obs, state, reward, terminated, truncated, info = self._env.step(
                key, state, action, params
            )
            return obs, state, reward, jnp.logical_or(terminated, truncated), info

    def make(name, **kwargs):
        if name in PARTIALLY_OBSERVABLE:
            env, params = PARTIALLY_OBSERVABLE[name]()
        else:
            env, params = gymnax.make(name, **kwargs)
        return FiveTupleStep(env), params

    sys.path.insert(0, str(directory))
    try:
        loaded = importlib.import_module(module)
    finally:
        sys.path.remove(str(directory))
    loaded.gymnax = types.SimpleNamespace(make=make)
    return loaded


def _time(fn, *args, repeats):
    """(compile s, run s median, output) of jit(fn)(*args) after one warm-up call."""
    import jax

    start = time.perf_counter()
    compiled = (fn if hasattr(fn, "lower") else jax.jit(fn)).lower(*args).compile()
    compile_s = time.perf_counter() - start
    output = jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return compile_s, statistics.median(runs), output


def _where_time_goes(config, repeats: int, updates: int = 100) -> dict:
    """Compile split and per-update split (means over `updates`) of pgjax's PPO (one seed)."""
    import jax

    from benchmarks.ppo_cartpole import random_rollout
    from pgjax.algorithms.ppo import PPO
    from pgjax.training import on_policy
    from pgjax.training.rollout import collect_rollout, trajectory_gae

    train = jax.jit(PPO.make_train(config))
    key = jax.random.key(0)
    start = time.perf_counter()
    traced = train.trace(key)
    traced_at = time.perf_counter()
    lowered = traced.lower()
    lowered_at = time.perf_counter()
    lowered.compile()
    compiled_at = time.perf_counter()
    split = {
        "trace_s": traced_at - start,
        "lower_s": lowered_at - traced_at,
        "xla_s": compiled_at - lowered_at,
    }
    state = jax.jit(lambda k: PPO.init(config, k))(key)

    def updates_only(state):
        return jax.lax.scan(lambda s, _: PPO.update(config, s), state, length=updates)[1]

    def rollouts_only(state):
        run = on_policy.setup(config, state.hyperparams)

        def one(carry, _):
            env, key = carry
            rollout_key, key = jax.random.split(key)
            env, trajectory = collect_rollout(
                run.env, run.network, state.params, env, rollout_key, config.num_steps
            )
            advantages, targets = trajectory_gae(trajectory, 0.99, 0.95)
            return (env, key), advantages.sum() + targets.sum()

        return jax.lax.scan(one, (state.env, state.key), length=updates)[1]

    env_only = random_rollout(config.env_id, config.num_envs, config.num_steps * updates)
    per_update = {
        "update_ms": _time(updates_only, state, repeats=repeats)[1] / updates * 1e3,
        "rollout_and_gae_ms": _time(rollouts_only, state, repeats=repeats)[1] / updates * 1e3,
        "environment_ms": _time(env_only, key, repeats=repeats)[1] / updates * 1e3,
    }
    per_update["policy_forward_ms"] = (
        per_update["rollout_and_gae_ms"] - per_update["environment_ms"]
    )
    per_update["minibatch_steps_ms"] = per_update["update_ms"] - per_update["rollout_and_gae_ms"]
    return {"compile": split, "per_update": per_update}


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    import jax
    import numpy as np

    from benchmarks.common import format_rate, format_seconds, markdown_table, result
    from pgjax.algorithms.ppo import PPO, PPOConfig
    from pgjax.training.parallel import across_devices

    checkout = os.environ.get("PGJAX_PUREJAXRL")
    rounds, repeats = (1, 1) if quick or smoke else (2, 3)
    # Smoke: one update everywhere (programs ppo_cartpole's smoke run compiles too).
    one_steps = 512 if smoke else 65_536 if quick else ONE_SEED_STEPS
    seed_steps = 512 if smoke else 16_384 if quick else SEED_STEPS
    num_seeds = 2 if smoke else SEEDS
    breakdown_updates = 1 if smoke else 100
    purejaxrl = load_purejaxrl(checkout) if checkout else None
    config = PPOConfig.for_env("CartPole-v1", preset="classic", total_steps=one_steps)
    seed_config = PPOConfig.for_env("CartPole-v1", preset="classic", total_steps=seed_steps)
    pj_config = {**PUREJAXRL_CONFIG, "TOTAL_TIMESTEPS": one_steps}
    pj_seed_config = {**PUREJAXRL_CONFIG, "TOTAL_TIMESTEPS": seed_steps}
    steps = config.num_updates * config.steps_per_update
    all_seed_steps = num_seeds * seed_config.num_updates * seed_config.steps_per_update
    keys = jax.random.split(jax.random.key(1), num_seeds)
    measured: dict[str, list] = {}

    def record(label, compile_s, run_s, env_steps, final_return):
        measured.setdefault(label, []).append(
            {"compile_s": compile_s, "run_s": run_s, "steps_per_s": env_steps / run_s,
             "final_return": float(final_return)}
        )  # fmt: skip

    for _ in range(rounds):
        if purejaxrl is not None:
            c, r, out = _time(purejaxrl.make_train(dict(pj_config)), jax.random.PRNGKey(30),
                              repeats=repeats)  # fmt: skip
            ret = np.asarray(out["metrics"]["returned_episode_returns"])[-1].mean()
            record("PureJaxRL, 1 seed", c, r, steps, ret)
        c, r, (_, metrics) = _time(PPO.make_train(config), jax.random.key(30), repeats=repeats)
        record("pgjax, 1 seed", c, r, steps, np.nanmean(metrics["episode_return"][-5:]))
        if purejaxrl is not None:
            train = jax.vmap(purejaxrl.make_train(dict(pj_seed_config)))
            pj_keys = jax.random.split(jax.random.PRNGKey(31), num_seeds)
            c, r, out = _time(train, pj_keys, repeats=1)
            ret = np.asarray(out["metrics"]["returned_episode_returns"])[:, -1].mean()
            record(f"PureJaxRL, {num_seeds} seeds (jit(vmap))", c, r, all_seed_steps, ret)
        seeds_program = across_devices(PPO.make_train(seed_config), num_seeds)
        c, r, (_, metrics) = _time(seeds_program, keys, repeats=1)
        ret = np.nanmean(np.asarray(metrics["episode_return"])[:, -5:])
        record(f"pgjax, {num_seeds} seeds (across {len(jax.devices())} devices)", c, r,
               all_seed_steps, ret)  # fmt: skip

    rows = []
    for label, runs in measured.items():
        rows.append(
            [
                label,
                " / ".join(format_seconds(m["compile_s"]) for m in runs),
                " / ".join(format_rate(m["steps_per_s"]) for m in runs),
                " / ".join(f"{m['final_return']:.0f}" for m in runs),
            ]
        )
    table = markdown_table(["program", "compile", "env steps/s", "final return"], rows)

    def median(label, key):
        return statistics.median(m[key] for m in measured[label])

    targets = {}
    if purejaxrl is not None:
        one = median("pgjax, 1 seed", "steps_per_s") / median("PureJaxRL, 1 seed", "steps_per_s")
        comp = median("pgjax, 1 seed", "compile_s") / median("PureJaxRL, 1 seed", "compile_s")
        pgjax_seeds = next(k for k in measured if k.startswith(f"pgjax, {num_seeds} seeds"))
        many = median(pgjax_seeds, "steps_per_s") / median(
            f"PureJaxRL, {num_seeds} seeds (jit(vmap))", "steps_per_s"
        )
        targets = {
            "one seed: throughput >= 1.5x PureJaxRL": (one, one >= 1.5),
            "one seed: compile <= 0.6x PureJaxRL": (comp, comp <= 0.6),
            f"{num_seeds} seeds: aggregate throughput >= 2x PureJaxRL": (many, many >= 2.0),
        }
    breakdown = _where_time_goes(config, repeats, breakdown_updates)
    split, per_update = breakdown["compile"], breakdown["per_update"]
    lines = [
        f"- {name}: {ratio:.2f}× — **{'met' if ok else 'NOT met'}**"
        for name, (ratio, ok) in targets.items()
    ] or ["- PureJaxRL rows skipped (no checkout given: `--purejaxrl PATH`)."]
    notes = (
        "Values per round (" + str(rounds) + " rounds, alternating). One seed: "
        f"{steps:,} steps; {num_seeds} seeds: {seed_steps:,} steps each. Final return: PureJaxRL's "
        "last logged episode returns, pgjax's training returns over the last 5 updates.\n\n"
        "Targets (ratios of medians, same run):\n\n" + "\n".join(lines) + "\n\n"
        f"Where pgjax's time goes (one seed): compile {split['trace_s']:.2f} s tracing + "
        f"{split['lower_s']:.2f} s lowering + {split['xla_s']:.2f} s XLA; per update "
        f"{per_update['update_ms']:.2f} ms = environment {per_update['environment_ms']:.2f} ms "
        f"+ policy forward pass, sampling and GAE {per_update['policy_forward_ms']:.2f} ms + "
        f"16 minibatch gradient steps {per_update['minibatch_steps_ms']:.2f} ms."
    )
    headline = ""
    if targets:
        headline = "PPO CartPole-v1 vs PureJaxRL (same run): " + "; ".join(
            f"{name.split(':')[1].split('>=')[0].split('<=')[0].strip()} {ratio:.2f}×"
            for name, (ratio, _) in targets.items()
        )
    data = {"runs": measured, "targets": {k: v[0] for k, v in targets.items()}, **breakdown}
    return result(
        NAME,
        table,
        data,
        title="PPO on CartPole-v1: pgjax vs PureJaxRL, and where the time goes",
        notes=notes,
        headline=headline,
    )
