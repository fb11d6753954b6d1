"""The presets re-derived for the fewest environment steps (issue 27) do what their comments
claim: on 8 seeds in one vmapped program, the training return reaches the task's threshold
within the preset's budget, and the deterministic policy is at or above it at the end.

Each case states what was measured on 16 seeds that the search never saw (2-core AMD EPYC,
jax 0.10.2), where the search is in `docs/guides/algorithms.md`. Another CPU draws other
trajectories from the same distributions, so the assertions ask for 5 of 8 seeds where 15 or
16 of 16 were measured: a seed that reaches the threshold with probability 15/16 fails that
one time in 700, and a learner that does not learn (random play: CartPole ≈ 22, Acrobot
≈ -500, Pendulum ≈ -1200) never passes it.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pgjax.algorithms.a2c import A2C
from pgjax.algorithms.impala import IMPALA
from pgjax.algorithms.ppo import PPO
from pgjax.algorithms.reinforce import REINFORCE
from pgjax.algorithms.sac import SAC
from pgjax.algorithms.trpo import TRPO
from pgjax.runs.sweep import steps_to_threshold
from pgjax.training.evaluation import evaluate_runs
from pgjax.training.parallel import across_devices

pytestmark = pytest.mark.learning

SEEDS = 8
# (algorithm, environment, threshold): measured on 16 fresh seeds at the preset's budget.
CASES = {
    # 15 of 16 reached 475 by 24k steps, all 16 by 26k; 15 of 16 ≥ 475 at the end (5e4).
    "ppo-CartPole-v1": (PPO, "CartPole-v1", 475.0),
    # 15 of 16 by 25k steps, all by 27k; 15 of 16 ≥ 475 at the end, the 16th 447 (5e4).
    "a2c-CartPole-v1": (A2C, "CartPole-v1", 475.0),
    # 15 of 16 by 33k steps, all by 39k; 16 of 16 ≥ 477 at the end (5e4).
    "trpo-CartPole-v1": (TRPO, "CartPole-v1", 475.0),
    # 15 of 16 by 172k steps (never within 2e5 on the 16th); 15 of 16 ≥ 475 at the end (2e5).
    "reinforce-CartPole-v1": (REINFORCE, "CartPole-v1", 475.0),
    # 15 of 16 by 30.5k steps, all by 38k; 16 of 16 ≥ 497 at the end (1e5, annealed).
    "impala-CartPole-v1": (IMPALA, "CartPole-v1", 475.0),
    # 15 of 16 reached -200 by 3.2k steps, all by 4k; 15 of 16 ≥ -200 at the end, the 16th
    # -204 (1e4).
    "sac-Pendulum-v1": (SAC, "Pendulum-v1", -200.0),
    # 15 of 16 reached -100 by 19.5k steps, all by 25k; 16 of 16 ≥ -96 at the end (6e4).
    "ppo-Acrobot-v1": (PPO, "Acrobot-v1", -100.0),
    # 15 of 16 by 8.7k steps, all by 10.3k; 15 of 16 ≥ -100 at the end, the 16th -103 (3e4).
    "impala-Acrobot-v1": (IMPALA, "Acrobot-v1", -100.0),
    # 15 of 16 reached -200 by 72k steps, all by 82k; 15 of 16 ≥ -200 at the end, the 16th
    # -220 (1.5e5).
    "ppo-Pendulum-v1": (PPO, "Pendulum-v1", -200.0),
    # 15 of 16 reached 90 by 111k steps, all by 119k; 16 of 16 ≥ 90.8 at the end (2e5).
    "ppo-MountainCarContinuous-v0": (PPO, "MountainCarContinuous-v0", 90.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_preset_reaches_its_threshold_within_its_budget_and_ends_there(case):
    algorithm, env_id, threshold = CASES[case]
    config = algorithm.config_class.for_env(env_id)
    keys = jax.random.split(jax.random.key(0), SEEDS)
    state, metrics = across_devices(algorithm.make_train(config), SEEDS)(keys)
    returns = np.asarray(metrics["episode_return"], np.float64)
    updates = np.arange(1, returns.shape[1] + 1) * config.steps_per_update
    steps = steps_to_threshold(
        {"episode_return": returns, "env_steps": np.broadcast_to(updates, returns.shape)},
        threshold,
    )
    assert np.isfinite(steps).sum() >= 5, steps
    final = np.asarray(evaluate_runs(algorithm, config, state, 1, 10)["return"]).mean(axis=1)
    assert (final >= threshold).sum() >= 5, final
