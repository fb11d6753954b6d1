"""`pgjax.training.driver`: chunks that never change the numbers, checkpoints that resume to
the same bits, stops on request, on divergence and at a target, and run directories that refuse
what does not fit them."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from run_checks import assert_same_bits, interrupt_after_first_chunk

from pgjax import runs
from pgjax.algorithms.ppo import PPO, PPOConfig
from pgjax.algorithms.sac import SAC, SACConfig
from pgjax.algorithms.trpo import TRPO, TRPOConfig
from pgjax.runs import rundir
from pgjax.runs.record import read_run
from pgjax.training.config import ConfigError
from pgjax.training.parallel import across_devices

SEEDS = [3, 4]
PPO_CONFIG = PPOConfig(total_steps=4 * 16 * 10, num_envs=4, num_steps=16, num_minibatches=2)
TRPO_CONFIG = TRPOConfig(total_steps=8 * 32 * 7, num_steps=32, value_epochs=2)


def _single_scan(algorithm, config, seeds=SEEDS):
    keys = jax.vmap(jax.random.key)(np.asarray(seeds, np.uint32))
    return across_devices(algorithm.make_train(config), len(seeds))(keys)


@pytest.mark.parametrize(
    ("algorithm", "config", "options"),
    [
        # chunks of 1 update each; chunks of 4, 4 and 2
        (PPO, PPO_CONFIG, runs.RunOptions(chunk_updates=4, chunk_seconds=1e-9)),
        (PPO, PPO_CONFIG, runs.RunOptions(chunk_updates=4, chunk_seconds=1e9)),
        (TRPO, TRPO_CONFIG, runs.RunOptions(chunk_updates=3, chunk_seconds=1e9)),
    ],
)
def test_chunked_run_equals_the_single_scan_bit_for_bit(tmp_path, algorithm, config, options):
    state, metrics = _single_scan(algorithm, config)
    result = runs.run(algorithm, config, SEEDS, tmp_path / "run", options=options)
    assert result.status == "completed" and result.updates == config.num_updates
    assert_same_bits(result.state, state, result.metrics, metrics)
    # metrics.csv holds the same numbers, exactly (floats are written with repr).
    table = rundir.MetricsLog(tmp_path / "run").read(len(SEEDS))
    for name, value in metrics.items():
        np.testing.assert_array_equal(table[name], np.asarray(value, np.float64), err_msg=name)


def _tensorboard_scalars(folder):
    """{tag: {step: value}} as TensorBoard reads the event files in `folder`: files in name
    order, TFRecord framing (length, its CRC, the Event proto, its CRC), and a session START at
    step s dropping the points at steps ≥ s read before it."""
    from tensorboardX.proto.event_pb2 import Event, SessionLog

    scalars = {}
    for path in sorted(folder.iterdir()):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            length = int.from_bytes(data[offset : offset + 8], "little")
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            if event.session_log.status == SessionLog.START:
                for points in scalars.values():
                    for step in [s for s in points if s >= event.step]:
                        del points[step]
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def _assert_tensorboard_holds(run_dir, result, config):
    for run, seed in enumerate(SEEDS):
        scalars = _tensorboard_scalars(run_dir / rundir.TENSORBOARD / f"seed_{seed}")
        assert set(scalars) == set(result.metrics) - {"env_steps"}
        for name, points in scalars.items():
            values = result.metrics[name][run]
            steps = (np.nonzero(np.isfinite(values))[0] + 1) * config.steps_per_update
            assert sorted(points) == steps.tolist(), name  # NaN (no episode ended): no point
            np.testing.assert_array_equal(
                [points[s] for s in sorted(points)],
                values[np.isfinite(values)].astype(np.float32),
                err_msg=name,
            )


def test_tensorboard_gets_every_finite_metric_of_every_update_and_no_nan(tmp_path):
    pytest.importorskip("tensorboardX")
    config = PPO_CONFIG
    result = runs.run(PPO, config, SEEDS, tmp_path, options=runs.RunOptions(chunk_updates=3))
    _assert_tensorboard_holds(tmp_path, result, config)
    assert np.isnan(result.metrics["episode_return"]).any()  # the test covers skipped points


def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(tmp_path):
    options = runs.RunOptions(chunk_updates=3, chunk_seconds=1e9, checkpoint_every=100)
    whole = runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path / "whole", options=options)
    first = runs.run(
        PPO, PPO_CONFIG, SEEDS, tmp_path / "cut", options=options,
        progress=interrupt_after_first_chunk(),
    )  # fmt: skip
    # The run stops at the boundary after the chunk running when the signal came.
    assert first.status == "interrupted" and 0 < first.updates < PPO_CONFIG.num_updates
    status = json.loads((tmp_path / "cut" / "status.json").read_text())
    assert status["status"] == "interrupted" and status["signal"] == "SIGINT"
    assert status["updates"] == first.updates
    # A crash after the checkpoint leaves rows that resume must drop, not duplicate.
    with (tmp_path / "cut" / "metrics.csv").open("a") as f:
        f.write(f"{first.updates},0,3,128,0.1,0.2\n{first.updates},1,")
    stale = rundir.TensorBoardLog.open(tmp_path / "cut", SEEDS)  # and TensorBoard points
    if stale is not None:
        bogus = {"loss": np.full((2, PPO_CONFIG.num_updates), 1e9)}  # some past the run's end
        stale.write(first.updates, bogus, PPO_CONFIG.steps_per_update)
        stale.close()
    second = runs.resume(tmp_path / "cut")
    assert second.status == "completed"
    assert second.session_updates == PPO_CONFIG.num_updates - first.updates
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == (
        tmp_path / "whole" / "metrics.csv"
    ).read_bytes()
    assert_same_bits(second.state, whole.state, second.metrics, whole.metrics)
    if stale is not None:
        _assert_tensorboard_holds(tmp_path / "cut", whole, PPO_CONFIG)
    # The checkpoints hold the state the driver returned.
    restored, updates = runs.restore(tmp_path / "cut")[3:]
    assert updates == PPO_CONFIG.num_updates
    leaves = zip(jax.tree.leaves(restored.params), jax.tree.leaves(whole.state.params), strict=True)
    for a, b in leaves:
        np.testing.assert_array_equal(a, b)


def test_a_diverging_run_stops_naming_update_and_metric_and_saves_nothing(tmp_path):
    with pytest.raises(runs.DivergenceError, match=r"at update 0 \(seed 3\): \w+ is not finite"):
        runs.run(
            PPO, PPO_CONFIG, SEEDS, tmp_path, hyperparams={
                "learning_rate": np.full(2, 1e30, np.float32),
                "max_grad_norm": np.full(2, 1e30, np.float32),
            },
        )  # fmt: skip
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "diverged" and "no checkpoint" in status["message"]
    assert not list((tmp_path / "checkpoints").glob("[0-9]*"))
    with pytest.raises(rundir.RunDirectoryError, match="holds no checkpoint"):
        runs.restore(tmp_path)[3:]


def test_target_return_stops_the_run_and_records_why(tmp_path):
    # Any return beats -1: the run stops at the first chunk boundary, after one update.
    options = runs.RunOptions(target_return=-1.0)
    result = runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path, options=options)
    assert result.status == "target_reached" and result.updates == 1
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "target_reached" and status["target_return"] == -1.0
    assert status["last_evaluation"]["updates"] == 1
    assert status["last_evaluation"]["mean_return"] >= 1  # CartPole pays 1 per step
    assert status["env_steps"] == PPO_CONFIG.steps_per_update


def test_a_non_empty_run_directory_is_refused_unless_overwritten(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(rundir.RunDirectoryError, match=r"is not empty.*--overwrite"):
        runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path)
    runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"  # overwrite removes pgjax's files only
    assert (tmp_path / "config.json").exists()


def test_resume_refuses_a_run_directory_whose_files_disagree(tmp_path):
    runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path)
    path = tmp_path / "config.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "seeds": [3, 5]}))
    with pytest.raises(rundir.RunDirectoryError, match=r"was written for seeds=\[3, 4\]"):
        runs.resume(tmp_path)
    record["config"]["clip_eps"] = 0.3
    path.write_text(json.dumps(record))
    with pytest.raises(rundir.RunDirectoryError, match="does not match its fingerprint"):
        runs.resume(tmp_path)
    path.write_text("{not json")
    with pytest.raises(rundir.RunDirectoryError, match=r"config\.json is not readable JSON"):
        runs.resume(tmp_path)


def test_bad_seeds_options_and_configs_are_refused_before_compiling(tmp_path):
    for seeds, message in (([], "non-empty"), ([1, 1], "distinct"), ([-1], r"\[0, 2\*\*32\)")):
        with pytest.raises(ConfigError, match=message):
            runs.run(PPO, PPO_CONFIG, seeds, tmp_path)
    with pytest.raises(ConfigError, match=r"checkpoint_every must be an int in \[1,"):
        runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path, options=runs.RunOptions(checkpoint_every=0))
    with pytest.raises(ConfigError, match="ppo takes a PPOConfig, got TRPOConfig"):
        runs.run(PPO, TRPO_CONFIG, SEEDS, tmp_path)
    with pytest.raises(ConfigError, match="envs_devices=99 is more than the 2 device"):
        runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path, options=runs.RunOptions(envs_devices=99))
    with pytest.raises(ConfigError, match="sac does not split a run over devices"):
        two = runs.RunOptions(envs_devices=2)
        runs.run(SAC, SACConfig(total_steps=1000), SEEDS, tmp_path, options=two)
    assert not any(tmp_path.iterdir())


def test_a_run_trained_on_more_devices_than_here_is_still_read_and_restored(tmp_path):
    options = runs.RunOptions(envs_devices=2, tensorboard=False)
    result = runs.run(PPO, PPO_CONFIG, SEEDS, tmp_path, options=options)
    record = json.loads((tmp_path / rundir.CONFIG).read_text())
    record["options"]["envs_devices"] = 8  # as if trained on a machine with 8 devices
    (tmp_path / rundir.CONFIG).write_text(json.dumps(record))
    read_run(tmp_path)  # still a valid record
    state, updates = runs.restore(tmp_path)[3:]
    assert updates == PPO_CONFIG.num_updates
    assert_same_bits(result.state, state)
    with pytest.raises(ConfigError, match="envs_devices=8 is more than the 2 device"):
        runs.resume(tmp_path)
