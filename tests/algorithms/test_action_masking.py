"""PPO with invalid-action masking learns CellSelect-pgjax (60 of 64 actions invalid in every
state) in a few seconds of training: several seeds in one vmapped program."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pgjax.algorithms.ppo import PPO, PPOConfig, make_train
from pgjax.training.evaluation import evaluate_runs
from pgjax.training.parallel import across_devices

pytestmark = pytest.mark.learning

# The benchmark's settings (benchmarks/action_masking.py) at a small budget: 16 updates.
CONFIG = PPOConfig(
    env_id="CellSelect-pgjax",
    num_envs=16,
    num_steps=32,
    total_steps=8192,
    learning_rate=3e-3,
    entropy_coef=0.01,
)


def final_returns(config: PPOConfig, num_seeds: int) -> np.ndarray:
    """Each seed's mean deterministic-policy return over 32 episodes, `[num_seeds]`."""
    keys = jax.random.split(jax.random.key(0), num_seeds)
    state, _ = across_devices(make_train(config), num_seeds)(keys)
    return np.asarray(evaluate_runs(PPO, config, state, 1, 32)["return"]).mean(axis=1)


def test_masked_ppo_learns_cell_select_in_8k_steps():
    # The optimum averages 0.8. Measured over 16 seeds (one vmapped program, 2-core AMD EPYC,
    # jax 0.10.2): median 0.798, min 0.733. Learning rate 1e-9 (a broken learner, whose
    # argmax policy mostly cycles between two cells): 0 on 13 of 16 seeds, max 0.061.
    per_seed = final_returns(CONFIG, num_seeds=8)
    assert np.median(per_seed) >= 0.6, per_seed
    assert (per_seed >= 0.4).sum() >= 7, per_seed
