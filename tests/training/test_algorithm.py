"""`pgjax.training.algorithm`: `make_train` is `lax.scan(update, init(key))`, a pure function of
its key and hyperparameters that vmaps over seeds and grids; the registry names every
algorithm."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.algorithms.ppo import PPO, PPOConfig, make_train
from pgjax.runs import registry
from pgjax.training.config import ConfigError, hyperparameter_grid

TINY = PPOConfig(total_steps=4 * 16 * 3, num_envs=4, num_steps=16, num_minibatches=2)


@pytest.fixture(scope="module")
def tiny_train():
    """One compiled program shared by the tests that only need to call it."""
    return jax.jit(make_train(TINY))


def test_train_is_the_scan_of_update_over_init(tiny_train):
    key = jax.random.key(3)
    state = jax.jit(lambda k: PPO.init(TINY, k))(key)
    update = jax.jit(lambda s: PPO.update(TINY, s))
    by_hand = []
    for _ in range(TINY.num_updates):
        state, metrics = update(state)
        by_hand.append(metrics)
    _, stacked = tiny_train(key)
    for name in stacked:
        np.testing.assert_allclose(
            stacked[name], [m[name] for m in by_hand], rtol=1e-5, atol=1e-6, err_msg=name
        )


def test_same_key_gives_identical_metrics(tiny_train):
    _, first = tiny_train(jax.random.key(3))
    _, second = tiny_train(jax.random.key(3))
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_vmap_over_seeds_matches_running_each_seed_alone(tiny_train):
    keys = jax.random.split(jax.random.key(4), 3)
    _, batched = jax.jit(jax.vmap(make_train(TINY)))(keys)
    for i, key in enumerate(keys):
        _, alone = tiny_train(key)
        for name in alone:
            np.testing.assert_allclose(
                batched[name][i], alone[name], rtol=1e-4, atol=1e-6, err_msg=name
            )


def test_hyperparameter_grid_is_one_vmapped_program():
    grid = hyperparameter_grid(learning_rate=[1e-4, 1e-3], clip_eps=[0.1, 0.3])
    keys = jnp.stack([jax.random.key(5)] * 4)
    state, metrics = jax.jit(jax.vmap(make_train(TINY)))(keys, grid)
    # Same key everywhere: the first rollout is identical, so any difference comes from the grid.
    np.testing.assert_allclose(metrics["learning_rate"][:, 0], grid["learning_rate"], rtol=1e-6)
    np.testing.assert_array_equal(metrics["episode_return"][:, 0], metrics["episode_return"][0, 0])
    assert metrics["value_loss"][0, -1] != metrics["value_loss"][2, -1]
    # The state carries the run's hyperparameters, so `update(state)` needs nothing else.
    np.testing.assert_allclose(state.hyperparams["clip_eps"], grid["clip_eps"])


def test_logged_learning_rate_is_the_optimiser_schedule_at_its_own_step_count(tiny_train):
    _, metrics = tiny_train(jax.random.key(6))
    steps = np.arange(TINY.num_updates) * TINY.gradient_steps_per_update
    total = TINY.num_updates * TINY.gradient_steps_per_update
    expected = TINY.learning_rate * (1 - steps / total)  # linear annealing
    np.testing.assert_allclose(metrics["learning_rate"], expected, rtol=1e-6)


def test_metrics_are_per_update_scalars_not_per_step(tiny_train):
    _, metrics = tiny_train(jax.random.key(6))
    expected = {
        "episode_return", "episode_length", "episodes", "loss", "policy_loss", "value_loss",
        "entropy", "approx_kl", "clip_fraction", "learning_rate", "grad_norm",
    }  # fmt: skip
    assert set(metrics) == expected
    for name, value in metrics.items():
        assert value.shape == (TINY.num_updates,), name


def test_every_control_algorithm_traces_init_and_update_with_its_default_config():
    for name in registry.names("control"):
        algorithm = registry.get(name)
        assert algorithm.name == name and algorithm.description
        assert registry.config_class(name) is algorithm.config_class
        config = algorithm.config_class()  # its default environment (SAC: Pendulum-v1)
        state = jax.eval_shape(lambda k, a=algorithm, c=config: a.init(c, k), jax.random.key(0))
        _, metrics = jax.eval_shape(lambda s, a=algorithm, c=config: a.update(c, s), state)
        assert all(m.shape == () for m in metrics.values()), name
    with pytest.raises(ConfigError, match="Unknown algorithm 'nope'; choose one of ppo"):
        registry.get("nope")
