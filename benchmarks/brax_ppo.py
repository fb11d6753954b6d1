"""PPO on Brax's inverted_pendulum: pgjax against Brax's own trainer, in one run.

    python -m benchmarks.run brax_ppo             # needs `pip install 'pgjax[brax]'`

Both train on the same environment (`brax.envs` inverted_pendulum, generalized pipeline,
1000-step episodes) with the same hyperparameters: Brax's published inverted_pendulum settings
(google/brax `notebooks/training.ipynb`: γ 0.97, lr 3e-4 constant, entropy 1e-2, 4 epochs,
observation normalisation; clip ε 0.3 and GAE λ 0.95 from `ppo.train`'s defaults, value
coefficient 0.5) at a CPU-sized batch: `NUM_ENVS` environments × `UNROLL` steps per update,
`MINIBATCHES` minibatches (Brax: `batch_size · num_minibatches = num_envs` sequences of
`unroll_length = UNROLL` steps per update, so both see the same transitions per update and per
minibatch), gradients clipped at a norm of 0.5 on both sides, and the same network sizes
(64×64 tanh policy and value MLPs). Brax's policy is set to what pgjax's is: a Gaussian
(`distribution_type="normal"`) with a state-independent log σ starting at 0. What stays
different: Brax multiplies rewards by its published `reward_scaling` 10, pgjax divides them by
the running std of the return (the preset's `scale_rewards`); Brax computes GAE within each
`unroll_length` segment exactly as pgjax does within its `num_steps` (here the same length);
Brax's environment resets every episode to the first state its environment ever had, pgjax's
adapter from a fresh key (one more reset computed per step).

Measured per library and seed: compile time, environment steps per second of training (Brax:
its own `training/sps` of the epochs after the first, which includes compilation; pgjax: the
steps of the jitted `make_train` over its run time after compilation), and the return of 16
deterministic evaluation episodes after `BUDGET` steps. The table gives the median over
`SEEDS` seeds. Target (issue 23): pgjax's throughput ≥ Brax's at the same return.

Brax 0.14's trainer calls `jax.device_put_replicated`, which jax 0.10 removed; the benchmark
puts a stand-in on `jax` at run time (stacking the value once per device, what the removed
function returned), changing nothing in Brax's files.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

NAME = "brax_ppo"
ENV = "inverted_pendulum"
NUM_ENVS = 128
UNROLL = 32
MINIBATCHES = 4
EPOCHS = 4
BUDGET = 98_304  # 24 updates of 128 × 32 steps
SEEDS = 3
EVAL_EPISODES = 16


def _patch_device_put_replicated() -> None:
    import jax
    import jax.numpy as jnp

    if hasattr(jax, "device_put_replicated"):
        return

    def device_put_replicated(value, devices):
        stacked = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * len(devices)), value)
        return jax.device_put(stacked, devices[0]) if len(devices) == 1 else stacked

    jax.device_put_replicated = device_put_replicated


def pgjax_config(budget: int):
    from pgjax.algorithms.ppo import PPOConfig

    return PPOConfig.for_env(
        f"brax/{ENV}",
        total_steps=budget,
        num_envs=NUM_ENVS,
        num_steps=UNROLL,
        num_minibatches=MINIBATCHES,
        num_epochs=EPOCHS,
        hidden_sizes=(64, 64),
        activation="tanh",
    )


def run_pgjax(budget: int, seeds: int) -> list[dict]:
    import jax
    import numpy as np

    from pgjax.algorithms.ppo import PPO
    from pgjax.training.evaluation import evaluate_runs

    config = pgjax_config(budget)
    steps = config.num_updates * config.steps_per_update
    start = time.perf_counter()
    train = jax.jit(PPO.make_train(config)).lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - start
    runs = []
    for seed in range(seeds):
        start = time.perf_counter()
        state, _ = jax.block_until_ready(train(jax.random.key(seed)))
        run_s = time.perf_counter() - start
        states = jax.tree.map(lambda x: x[None], state)
        returns = evaluate_runs(PPO, config, states, seed + 100, EVAL_EPISODES)
        runs.append(
            {
                "compile_s": compile_s if seed == 0 else None,
                "run_s": run_s,
                "steps": steps,
                "steps_per_s": steps / run_s,
                "return": float(np.mean(np.asarray(returns))),
            }
        )
    return runs


def run_brax(budget: int, seeds: int) -> list[dict]:
    import functools

    import flax.linen as nn
    from brax import envs
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    _patch_device_put_replicated()
    network_factory = functools.partial(
        ppo_networks.make_ppo_networks,
        policy_hidden_layer_sizes=(64, 64),
        value_hidden_layer_sizes=(64, 64),
        activation=nn.tanh,
        distribution_type="normal",
        noise_std_type="log",
        init_noise_std=1.0,
        state_dependent_std=False,
    )
    updates = budget // (NUM_ENVS * UNROLL)
    runs = []
    for seed in range(seeds):
        epochs: list[dict] = []
        evals: list[float] = []

        def progress(step, metrics, epochs=epochs, evals=evals):
            if "training/sps" in metrics:
                epochs.append({"sps": float(metrics["training/sps"])})
            evals.append(float(metrics["eval/episode_reward"]))

        start = time.perf_counter()
        ppo.train(
            environment=envs.get_environment(ENV),
            num_timesteps=budget,
            # One training epoch of `updates // 3` updates per evaluation: the first epoch's
            # time includes compiling it, the next two are the steady state.
            num_evals=4,
            episode_length=1000,
            num_envs=NUM_ENVS,
            batch_size=NUM_ENVS // MINIBATCHES,
            num_minibatches=MINIBATCHES,
            unroll_length=UNROLL,
            num_updates_per_batch=EPOCHS,
            discounting=0.97,
            learning_rate=3e-4,
            entropy_cost=1e-2,
            clipping_epsilon=0.3,
            gae_lambda=0.95,
            vf_loss_coefficient=0.5,
            max_grad_norm=0.5,
            reward_scaling=10.0,
            normalize_observations=True,
            network_factory=network_factory,
            num_eval_envs=EVAL_EPISODES,
            deterministic_eval=True,
            max_devices_per_host=1,
            seed=seed,
            progress_fn=progress,
        )
        total_s = time.perf_counter() - start
        per_epoch = budget / 3 if updates % 3 == 0 else None
        first = per_epoch / epochs[0]["sps"] if per_epoch else None
        steady = statistics.median(e["sps"] for e in epochs[1:])
        runs.append(
            {
                "compile_s": first - per_epoch / steady if first else None,
                "total_s": total_s,
                "steps": budget,
                "steps_per_s": steady,
                "return": evals[-1],
            }
        )
    return runs


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    if smoke:  # it has no setting small enough for the smoke test yet
        from benchmarks.common import skipped

        return skipped(NAME, "no smoke setting yet; its quick mode takes minutes")
    from benchmarks.common import format_rate, format_seconds, markdown_table, result, skipped

    try:
        import brax  # noqa: F401
    except ImportError:
        return skipped(NAME, "brax is not installed (pip install 'pgjax[brax]')")
    budget, seeds = (NUM_ENVS * UNROLL * 3, 1) if quick else (BUDGET, SEEDS)
    measured = {"pgjax": run_pgjax(budget, seeds), "Brax": run_brax(budget, seeds)}

    def median(label, key):
        values = [r[key] for r in measured[label] if r[key] is not None]
        return statistics.median(values) if values else float("nan")

    rows = [
        [
            label,
            format_seconds(median(label, "compile_s")),
            format_rate(median(label, "steps_per_s")),
            f"{median(label, 'return'):.0f}",
            " / ".join(f"{r['return']:.0f}" for r in measured[label]),
        ]
        for label in measured
    ]
    table = markdown_table(
        ["trainer", "compile", "env steps/s", f"return at {budget:,} steps", "per seed"], rows
    )
    ratio = median("pgjax", "steps_per_s") / median("Brax", "steps_per_s")
    same_return = median("pgjax", "return") >= 0.9 * median("Brax", "return")
    met = ratio >= 1.0 and same_return
    headline = (
        f"PPO on Brax inverted_pendulum: pgjax {ratio:.2f}× Brax's trainer's environment steps "
        f"per second (return {median('pgjax', 'return'):.0f} vs "
        f"{median('Brax', 'return'):.0f} at {budget:,} steps, median of {seeds} seeds); "
        f"target ≥ 1× at the same return {'met' if met else 'not met'}"
    )
    notes = (
        __doc__.split("\n\n", 2)[2]
        + f"\n\nSizes: {NUM_ENVS} environments × {UNROLL} steps, {MINIBATCHES} minibatches, "
        f"{EPOCHS} epochs, {budget:,} steps, {seeds} seed(s). 'Same return' means pgjax's "
        "median return is at least 0.9× Brax's."
    )
    return result(NAME, table, {"measured": measured, "ratio": ratio, "met": met},
                  title="PPO on Brax: pgjax vs Brax's trainer", notes=notes,
                  headline=headline)  # fmt: skip
