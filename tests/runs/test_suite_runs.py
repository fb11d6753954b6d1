"""The run layer on the environment suites beyond gymnax: a Brax, an XLand-MiniGrid and a
Jumanji run interrupted after its first chunk and resumed equals the uninterrupted run bit for
bit (the suites' states, Brax's physics included, are checkpointed and restored whole); a run
split over two devices per seed (`envs_devices`) trains; the asynchronous engine steps a suite
with valid-action masks."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from run_checks import assert_same_bits, interrupt_after_first_chunk

from pgjax import runs
from pgjax.algorithms.impala import IMPALA, IMPALAConfig
from pgjax.algorithms.ppo import PPO, PPOConfig

SEEDS = [1, 2]
SMALL = {"num_envs": 4, "num_steps": 8, "num_minibatches": 2, "hidden_sizes": (16,)}
SUITES = [
    pytest.param("brax/inverted_pendulum", "brax", id="brax"),
    pytest.param("xminigrid/MiniGrid-Empty-5x5", "xminigrid", id="xminigrid"),
    pytest.param("jumanji/Maze-v0", "jumanji", id="jumanji"),
]


def _config(env_id: str, updates: int = 6) -> PPOConfig:
    return PPOConfig.for_env(env_id, total_steps=4 * 8 * updates, **SMALL)


@pytest.mark.parametrize(("env_id", "package"), SUITES)
def test_an_interrupted_and_resumed_run_equals_the_uninterrupted_one(tmp_path, env_id, package):
    pytest.importorskip(package)
    config = _config(env_id)
    options = runs.RunOptions(chunk_updates=2, chunk_seconds=1e9, checkpoint_every=1)
    whole = runs.run(PPO, config, SEEDS, tmp_path / "whole", options=options)
    interrupt = interrupt_after_first_chunk()
    first = runs.run(PPO, config, SEEDS, tmp_path / "cut", options=options, progress=interrupt)
    assert first.status == "interrupted" and 0 < first.updates < config.num_updates
    second = runs.resume(tmp_path / "cut")
    assert second.status == "completed"
    assert_same_bits(second.state, whole.state)
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == (
        tmp_path / "whole" / "metrics.csv"
    ).read_bytes()


@pytest.mark.parametrize(("env_id", "package"), SUITES[1:])
def test_a_run_split_over_two_devices_per_seed_trains(tmp_path, env_id, package):
    pytest.importorskip(package)
    if len(jax.devices()) < 2:
        pytest.skip("needs two devices (conftest.py shows the CPU as two)")
    config = _config(env_id, updates=2)
    options = runs.RunOptions(envs_devices=2)
    result = runs.run(PPO, config, [0], tmp_path, options=options)
    assert result.status == "completed"
    assert np.isfinite(np.asarray(result.metrics["loss"])).all()


def test_the_asynchronous_engine_acts_on_a_masked_suite(tmp_path):
    pytest.importorskip("jumanji")
    config = IMPALAConfig.for_env(
        "jumanji/Maze-v0", total_steps=4 * 8 * 8, num_envs=4, num_steps=8, hidden_sizes=(16,)
    )
    result = runs.run(IMPALA, config, [0], tmp_path, async_options=runs.AsyncOptions(actors=1))
    assert result.status == "completed"
    assert np.isfinite(np.asarray(result.metrics["loss"])).all()
