"""PPO on Brax's inverted_pendulum: pgjax against Brax's own trainer, in one run.

    python -m benchmarks.run brax_ppo             # needs `pip install 'pgjax[brax]'`

Both train on the same environment (`brax.envs` inverted_pendulum, generalized pipeline,
1000-step episodes) with the same hyperparameters: Brax's published inverted_pendulum settings
(google/brax `notebooks/training.ipynb`: γ 0.97, lr 3e-4 constant, entropy 1e-2, 4 epochs,
observation normalisation; clip ε 0.3 and GAE λ 0.95 from `ppo.train`'s defaults, value
coefficient 0.5) at a CPU-sized batch: `num_envs` environments × `unroll` steps per update,
`minibatches` minibatches (Brax: `batch_size · num_minibatches = num_envs` sequences of
`unroll_length = unroll` steps per update, so both see the same transitions per update and per
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
deterministic evaluation episodes after `budget` steps (`Sizes`). The table gives the median
over the seeds. Target (issue 23): pgjax's throughput ≥ Brax's at the same return.

Brax 0.14's trainer calls `jax.device_put_replicated`, which jax 0.10 removed: the benchmark
puts a stand-in on `jax` at run time (`benchmarks.common.patch_brax_for_jax`), changing nothing
in Brax's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

NAME = "brax_ppo"
ENV = "inverted_pendulum"
EPOCHS = 4


class Sizes(NamedTuple):
    num_envs: int
    unroll: int
    minibatches: int
    budget: int  # environment steps: 3k updates, Brax's 3 training epochs
    seeds: int
    eval_episodes: int


FULL = Sizes(128, 32, 4, 98_304, 3, 16)  # 24 updates of 128 × 32 steps
QUICK = Sizes(128, 32, 4, 128 * 32 * 3, 1, 16)
SMOKE = Sizes(8, 8, 2, 8 * 8 * 3, 1, 2)


def pgjax_config(sizes: Sizes):
    from pgjax.algorithms.ppo import PPOConfig

    return PPOConfig.for_env(
        f"brax/{ENV}",
        total_steps=sizes.budget,
        num_envs=sizes.num_envs,
        num_steps=sizes.unroll,
        num_minibatches=sizes.minibatches,
        num_epochs=EPOCHS,
        hidden_sizes=(64, 64),
        activation="tanh",
    )


def run_pgjax(sizes: Sizes) -> list[dict]:
    from benchmarks.common import run_pgjax_trainer
    from pgjax.algorithms.ppo import PPO

    return run_pgjax_trainer(PPO, pgjax_config(sizes), sizes.seeds, sizes.eval_episodes)


def run_brax(sizes: Sizes) -> list[dict]:
    import functools

    import flax.linen as nn
    from brax import envs
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    from benchmarks.common import run_brax_trainer

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
    return run_brax_trainer(
        ppo.train,
        sizes.budget,
        sizes.seeds,
        sizes.eval_episodes,
        environment=envs.get_environment(ENV),
        episode_length=1000,
        num_envs=sizes.num_envs,
        batch_size=sizes.num_envs // sizes.minibatches,
        num_minibatches=sizes.minibatches,
        unroll_length=sizes.unroll,
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
    )


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    from benchmarks.common import brax_comparison

    sizes = SMOKE if smoke else QUICK if quick else FULL
    return brax_comparison(
        NAME,
        lambda: {"pgjax": run_pgjax(sizes), "Brax": run_brax(sizes)},
        algorithm="PPO",
        env=ENV,
        budget=sizes.budget,
        notes=__doc__.split("\n\n", 2)[2]
        + f"\n\nSizes: {sizes.num_envs} environments × {sizes.unroll} steps, "
        f"{sizes.minibatches} minibatches, {EPOCHS} epochs, {sizes.budget:,} steps, "
        f"{sizes.seeds} seed(s).",
    )
