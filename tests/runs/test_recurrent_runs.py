"""Recurrent policies through the run layer: the carried state is part of the checkpointed
state, so a resumed run equals an uninterrupted one bit for bit; a checkpoint of another policy
network is refused in one line naming both; evaluation and target stops act with the carried
state; IMPALA's asynchronous engine carries it through its actors."""

from __future__ import annotations

import shutil

import jax
import numpy as np
import pytest
from run_checks import assert_same_bits, interrupt_after_first_chunk

from pgjax import runs
from pgjax.algorithms.impala import IMPALA, IMPALAConfig
from pgjax.algorithms.ppo import PPO, PPOConfig
from pgjax.runs import rundir
from pgjax.training.parallel import across_devices

SEEDS = [3, 4]
SMALL = {"num_envs": 4, "num_steps": 16, "num_minibatches": 2, "hidden_sizes": (16,)}
GRU = PPOConfig(
    env_id="CartPole-v1-masked", policy="gru", recurrent_size=8, total_steps=4 * 16 * 8, **SMALL
)


def test_a_resumed_recurrent_run_equals_the_uninterrupted_run_and_the_single_scan(tmp_path):
    options = runs.RunOptions(chunk_updates=3, chunk_seconds=1e9, checkpoint_every=100)
    whole = runs.run(PPO, GRU, SEEDS, tmp_path / "whole", options=options)
    keys = jax.vmap(jax.random.key)(np.asarray(SEEDS, np.uint32))
    state, metrics = across_devices(PPO.make_train(GRU), len(SEEDS))(keys)
    assert_same_bits(whole.state, state, whole.metrics, metrics)
    assert np.abs(np.asarray(state.env.policy_carry)).sum() > 0  # the carry is in the state
    first = runs.run(
        PPO, GRU, SEEDS, tmp_path / "cut", options=options, progress=interrupt_after_first_chunk()
    )
    assert first.status == "interrupted" and 0 < first.updates < GRU.num_updates
    second = runs.resume(tmp_path / "cut")
    assert second.status == "completed"
    assert_same_bits(second.state, whole.state, second.metrics, whole.metrics)
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == (
        tmp_path / "whole" / "metrics.csv"
    ).read_bytes()
    # `pgjax evaluate` acts with the carried state.
    evaluation = runs.evaluate(tmp_path / "cut", episodes=3)
    returns = np.asarray(evaluation["metrics"]["return"])
    assert returns.shape == (2, 3) and (returns >= 1).all()


def test_resuming_from_a_checkpoint_of_another_policy_network_is_refused_naming_both(tmp_path):
    mlp = PPOConfig(env_id="CartPole-v1-masked", total_steps=GRU.total_steps, **SMALL)
    runs.run(PPO, GRU, SEEDS, tmp_path / "gru")
    runs.run(PPO, mlp, SEEDS, tmp_path / "mlp")
    shutil.rmtree(tmp_path / "mlp" / "checkpoints")
    shutil.copytree(tmp_path / "gru" / "checkpoints", tmp_path / "mlp" / "checkpoints")
    with pytest.raises(rundir.RunDirectoryError) as caught:
        runs.resume(tmp_path / "mlp")
    message = str(caught.value)
    assert "\n" not in message
    assert "was written for policy='gru', but config.json says 'mlp'" in message


def test_a_target_return_is_checked_with_the_carried_policy(tmp_path):
    result = runs.run(PPO, GRU, SEEDS, tmp_path, options=runs.RunOptions(target_return=-1.0))
    assert result.status == "target_reached" and result.updates == 1


def test_impala_async_engine_carries_a_recurrent_state_through_its_actors(tmp_path):
    config = IMPALAConfig(
        env_id="CartPole-v1-masked",
        policy="lstm",
        recurrent_size=8,
        hidden_sizes=(16,),
        total_steps=8 * 5 * 12,
    )
    options = runs.RunOptions(chunk_seconds=0.02, checkpoint_every=4, tensorboard=False)
    result = runs.run(
        IMPALA, config, SEEDS, tmp_path, options=options, async_options=runs.AsyncOptions()
    )
    assert result.status == "completed" and result.updates == config.num_updates
    table = rundir.MetricsLog(tmp_path).read(len(SEEDS))
    assert np.isfinite(table["loss"]).all() and np.isfinite(table["behaviour_kl"]).all()
    c, h = result.state.env.policy_carry
    assert c.shape == h.shape == (2, 8, 8)
