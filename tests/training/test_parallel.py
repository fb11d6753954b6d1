"""`pgjax.training.parallel`: runs split across devices give what `jax.vmap` gives.

conftest.py shows the CPU as two devices, so on a CPU-only machine these tests really split the
runs (one device per core is what the CLI and benchmarks use).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.algorithms.ppo import PPOConfig, make_train
from pgjax.training.parallel import across_devices, use_cpu_cores

CONFIG = dataclasses.replace(
    PPOConfig.for_env("CartPole-v1", preset="classic"), total_steps=2048, num_minibatches=2
)


@pytest.fixture(scope="module")
def train():
    return make_train(CONFIG)


def _assert_same(actual, expected):
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-6, atol=1e-6, err_msg=name)


def test_split_runs_equal_vmap_over_seeds_and_hyperparameters(train):
    keys = jax.random.split(jax.random.key(0), 4)
    grid = {"learning_rate": jnp.array([1e-4, 3e-4, 1e-3, 3e-3]), "clip_eps": jnp.full(4, 0.1)}
    expected_state, expected = jax.jit(jax.vmap(train))(keys, grid)
    state, metrics = across_devices(train, 4)(keys, grid)
    _assert_same(metrics, expected)
    assert metrics["loss"].shape == (4, CONFIG.num_updates)
    np.testing.assert_allclose(
        jax.tree.leaves(state.params)[0], jax.tree.leaves(expected_state.params)[0], atol=1e-6
    )
    if jax.default_backend() == "cpu":  # conftest.py asked for two CPU devices
        assert len(metrics["loss"].sharding.device_set) == 2


def test_run_count_not_divisible_by_devices_uses_fewer_devices(train):
    keys = jax.random.split(jax.random.key(1), 3)
    _, metrics = across_devices(train, 3)(keys)
    _, expected = jax.jit(jax.vmap(train))(keys)
    _assert_same(metrics, expected)


def test_leading_axis_must_be_the_number_of_runs(train):
    run = across_devices(train, 4)
    with pytest.raises(ValueError, match=r"key must have a leading axis of num_runs=4 .*\(3,\)"):
        run(jax.random.split(jax.random.key(0), 3))
    with pytest.raises(ValueError, match=r"hyperparams\['gamma'\] .* got shape \(2,\)"):
        run(jax.random.split(jax.random.key(0), 4), {"gamma": jnp.full(2, 0.9)})
    with pytest.raises(ValueError, match="num_runs must be >= 1"):
        across_devices(train, 0)


def test_use_cpu_cores_after_start_warns_and_reports_the_devices_there_are():
    jnp.zeros(1).block_until_ready()
    with pytest.warns(UserWarning, match="already started with 2 device"):
        assert use_cpu_cores(7) == len(jax.devices("cpu")) == 2
    with pytest.raises(ValueError, match="num_devices must be >= 1"):
        use_cpu_cores(0)
