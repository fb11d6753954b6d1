"""SAC on Brax's inverted_pendulum: pgjax against Brax's own SAC trainer, in one run.

    python -m benchmarks.run brax_sac             # needs `pip install 'pgjax[brax]'`

Both train on the same environment (`brax.envs` inverted_pendulum, generalized pipeline,
1000-step episodes) with the same settings, sized for a CPU: `num_envs` environments stepped
together, then `gradient_steps` gradient steps on `batch_size` transitions (Brax:
`grad_updates_per_step`), `learning_starts` transitions before learning (Brax:
`min_replay_size`), a replay buffer as large as the budget, Adam at `LEARNING_RATE` for the
actor, the critics and the temperature, γ 0.99, τ 0.005, two 64×64 ReLU critics and a
tanh-squashed Gaussian actor with a state-dependent σ on both sides, the temperature learned
towards an entropy of −0.5 per action dimension (Brax's fixed choice; pgjax's
`target_entropy_per_action` set to it), raw observations and rewards (Brax:
`normalize_observations=False`, `reward_scaling=1`). What stays different: Brax fills its
first `min_replay_size` transitions with its initial policy, pgjax with uniformly random
actions; Brax resets every episode to the first state its environment ever had, pgjax's adapter
from a fresh key.

Measured per library and seed: compile time, environment steps per second of training (Brax:
its own `training/sps` of the epochs after the first, which includes compilation; pgjax: the
steps of the jitted `make_train` over its run time after compilation), and the return of
deterministic evaluation episodes after the budget. The table gives the median over the seeds.
Target (issue 23): pgjax's throughput ≥ Brax's at the same return.

Brax 0.14's trainer calls `jax.device_put_replicated`, which jax 0.10 removed: the benchmark
puts a stand-in on `jax` at run time (`benchmarks.common.patch_brax_for_jax`), changing nothing
in Brax's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

NAME = "brax_sac"
ENV = "inverted_pendulum"
HIDDEN = (64, 64)
LEARNING_RATE = 1e-3
GAMMA = 0.99
TARGET_ENTROPY_PER_ACTION = -0.5


class Sizes(NamedTuple):
    num_envs: int
    gradient_steps: int
    batch_size: int
    learning_starts: int
    budget: int  # environment steps
    seeds: int
    eval_episodes: int


FULL = Sizes(16, 8, 256, 1024, 24_576, 3, 16)
QUICK = Sizes(16, 8, 256, 1024, 6_144, 1, 16)
SMOKE = Sizes(4, 1, 16, 24, 96, 1, 2)


def pgjax_config(sizes: Sizes):
    from pgjax.algorithms.sac import SACConfig

    return SACConfig(
        env_id=f"brax/{ENV}",
        total_steps=sizes.budget,
        num_envs=sizes.num_envs,
        num_steps=1,
        gradient_steps=sizes.gradient_steps,
        batch_size=sizes.batch_size,
        learning_starts=sizes.learning_starts,
        buffer_size=sizes.budget,
        hidden_sizes=HIDDEN,
        learning_rate=LEARNING_RATE,
        gamma=GAMMA,
        tau=0.005,
        target_entropy_per_action=TARGET_ENTROPY_PER_ACTION,
    )


def run_pgjax(sizes: Sizes) -> list[dict]:
    from benchmarks.common import run_pgjax_trainer
    from pgjax.algorithms.sac import SAC

    return run_pgjax_trainer(SAC, pgjax_config(sizes), sizes.seeds, sizes.eval_episodes)


def run_brax(sizes: Sizes) -> list[dict]:
    import functools

    from brax import envs
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac

    from benchmarks.common import run_brax_trainer

    network_factory = functools.partial(sac_networks.make_sac_networks, hidden_layer_sizes=HIDDEN)
    return run_brax_trainer(
        sac.train,
        sizes.budget,
        sizes.seeds,
        sizes.eval_episodes,
        environment=envs.get_environment(ENV),
        episode_length=1000,
        num_envs=sizes.num_envs,
        learning_rate=LEARNING_RATE,
        discounting=GAMMA,
        batch_size=sizes.batch_size,
        normalize_observations=False,
        reward_scaling=1.0,
        tau=0.005,
        min_replay_size=sizes.learning_starts,
        max_replay_size=sizes.budget,
        grad_updates_per_step=sizes.gradient_steps,
        network_factory=network_factory,
    )


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    from benchmarks.common import brax_comparison

    sizes = SMOKE if smoke else QUICK if quick else FULL
    return brax_comparison(
        NAME,
        lambda: {"pgjax": run_pgjax(sizes), "Brax": run_brax(sizes)},
        algorithm="SAC",
        env=ENV,
        budget=sizes.budget,
        notes=__doc__.split("\n\n", 2)[2]
        + f"\n\nSizes: {sizes.num_envs} environments, {sizes.gradient_steps} gradient steps of "
        f"{sizes.batch_size} transitions per step of all environments, {sizes.learning_starts} "
        f"transitions before learning, {sizes.budget:,} steps, {sizes.seeds} seed(s).",
    )
