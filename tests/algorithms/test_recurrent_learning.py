"""A recurrent policy solves what a feed-forward one cannot: GRU PPO on velocity-masked
CartPole (positions only), against the MLP at the same budget, several seeds in one vmapped
program each (split across the CPU devices conftest.py sets up)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pgjax.algorithms.ppo import PPO, PPOConfig
from pgjax.training.evaluation import episode_returns
from pgjax.training.parallel import across_devices

pytestmark = pytest.mark.learning

SEEDS, EPISODES = 8, 16


def final_returns(config: PPOConfig) -> np.ndarray:
    """Mean deterministic-policy return of `EPISODES` fresh episodes per seed, `[SEEDS]`;
    training and evaluation in one program."""
    evaluate = episode_returns(PPO, config, EPISODES)

    def one(key):
        state, _ = PPO.make_train(config)(key)
        return evaluate(state, jax.random.fold_in(key, 1))

    keys = jax.random.split(jax.random.key(0), SEEDS)
    return np.asarray(across_devices(one, SEEDS)(keys)).mean(axis=1)


def masked_cartpole(policy: str) -> PPOConfig:
    return PPOConfig(
        env_id="CartPole-v1-masked",
        policy=policy,
        recurrent_size=32 if policy != "mlp" else 128,
        hidden_sizes=(64,),
        total_steps=100_000,
        num_envs=16,
        num_steps=64,
        num_minibatches=4,
        learning_rate=2.5e-3,
    )


def test_gru_ppo_solves_velocity_masked_cartpole_where_the_mlp_cannot():
    # Measured (8 seeds, 2-core AMD EPYC, jax 0.10.2, this config), mean of 16 deterministic
    # episodes per seed: GRU 155, 164, 319, 458, 482, 495, 496, 500 (lr 1e-3 at 1.5e5 steps:
    # 67-316); MLP 40-45 (lr 1e-3: 38-47); a policy that sees no velocity can only react to
    # the angle, which keeps the pole up for ≈45 steps. The bar of 100 is 2× the MLP's best and
    # below the GRU's worst; asking 6 of 8 GRU seeds and 0 of 8 MLP seeds leaves a wide margin.
    gru = final_returns(masked_cartpole("gru"))
    assert (gru >= 100).sum() >= 6, gru
    mlp = final_returns(masked_cartpole("mlp"))
    assert (mlp >= 100).sum() == 0, mlp
