"""PPO learns CartPole-v1, Pendulum-v1, Acrobot-v1 and MountainCarContinuous-v0: several seeds
in one vmapped program each, split across the CPU devices conftest.py sets up (as the CLI)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pgjax.algorithms.ppo import PPO, PPOConfig, make_train
from pgjax.training.evaluation import evaluate_runs
from pgjax.training.parallel import across_devices

pytestmark = pytest.mark.learning


def train_and_evaluate(config: PPOConfig, num_seeds: int, episodes: int = 16) -> np.ndarray:
    """Final deterministic-policy returns, `[num_seeds, episodes]`."""
    keys = jax.random.split(jax.random.key(0), num_seeds)
    state, _ = across_devices(make_train(config), num_seeds)(keys)
    return np.asarray(evaluate_runs(PPO, config, state, 1, episodes)["return"])


# Thresholds: each test states the distribution of its statistic measured over 32 seeds (one
# vmapped program, 2-core AMD EPYC, jax 0.10.2) for the preset and for the same run with the
# learning rate at 1e-9 (a broken learner). XLA:CPU's float results differ between CPU models,
# so another CPU draws other trajectories from the same distributions: the assertions ask for
# "k of n seeds" and medians with margins that the correct runs clear by far and the broken
# ones cannot reach.


def test_ppo_solves_cartpole_within_500k_steps():
    # CartPole-v1 is solved at 475 (Gymnasium). Measured, deterministic policy, 16 episodes:
    # 32/32 seeds at 500. Learning rate 1e-9: median 53, max 427 (an untrained argmax policy
    # can balance a while), 0/32 at 475.
    per_seed = train_and_evaluate(
        PPOConfig.for_env("CartPole-v1", preset="classic"), num_seeds=8
    ).mean(axis=1)
    assert (per_seed >= 475).sum() >= 7, per_seed


def test_ppo_learns_pendulum():
    # Pendulum-v1 returns lie in [-1600, 0]; swinging up and holding scores about -150 to -200.
    # Measured at the preset's 3e5 steps: median -191, min -311 over 32 seeds. Learning rate
    # 1e-9: median -1235, max -1062.
    per_seed = train_and_evaluate(PPOConfig.for_env("Pendulum-v1", "classic"), num_seeds=8).mean(
        axis=1
    )
    assert np.median(per_seed) >= -300, per_seed
    assert (per_seed >= -500).sum() >= 7, per_seed


def test_ppo_solves_acrobot():
    # Acrobot-v1: -1 per step until the tip swings above the bar, at most 500 steps; -100 counts
    # as solved. Measured at the preset's 5e5 steps: median -81.5, min -93.2 over 32 seeds.
    # Learning rate 1e-9: -500 on 31 of 32 seeds, the best -106.
    per_seed = train_and_evaluate(PPOConfig.for_env("Acrobot-v1", "classic"), num_seeds=8).mean(
        axis=1
    )
    assert np.median(per_seed) >= -100, per_seed
    assert (per_seed >= -120).sum() >= 7, per_seed


def test_ppo_solves_mountain_car_continuous():
    # MountainCarContinuous-v0 pays +100 at the flag minus 0.1·a² per step; 90 counts as
    # solved, and a policy that never reaches the flag scores at most 0. Measured at the
    # preset's 1e6 steps: 32/32 seeds between 93.7 and 93.9. Learning rate 1e-9: 32/32 seeds
    # within 0.001 of 0 (never reaches the flag).
    config = PPOConfig.for_env("MountainCarContinuous-v0", "classic")
    per_seed = train_and_evaluate(config, num_seeds=4).mean(axis=1)
    assert (per_seed >= 90).sum() >= 3, per_seed
