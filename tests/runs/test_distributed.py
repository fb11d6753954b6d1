"""Beyond one device per run: data-parallel runs (`across_devices(..., envs_devices=D)`) and
runs over several processes (`pgjax.runs.distributed`, real processes on localhost)."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from pgjax import runs
from pgjax.algorithms.a2c import A2C, A2CConfig
from pgjax.algorithms.ppo import PPO, PPOConfig
from pgjax.runs import rundir
from pgjax.runs.distributed import launched_by_cluster
from pgjax.training.evaluation import evaluate_runs
from pgjax.training.parallel import across_devices

SEEDS = np.asarray([0, 1], np.uint32)


def _train(algorithm, config, envs_devices):
    keys = jax.vmap(jax.random.key)(SEEDS)
    run = across_devices(algorithm.make_train(config), len(SEEDS), envs_devices=envs_devices)
    return run(keys)


@pytest.mark.parametrize(
    ("algorithm", "config"),
    [
        (PPO, PPOConfig(total_steps=8 * 16 * 4, num_envs=8, num_steps=16, num_minibatches=2)),
        (A2C, A2CConfig(total_steps=8 * 5 * 6, normalize_advantages=True)),
    ],
)
def test_data_parallel_run_equals_the_single_device_run_up_to_reduction_order(algorithm, config):
    # Two runs × their environments split over the two devices: a (runs, envs) = (1, 2) mesh.
    alone_state, alone = _train(algorithm, config, envs_devices=1)
    split_state, split = _train(algorithm, config, envs_devices=2)
    assert len(split["loss"].sharding.device_set) == 2
    for name in alone:
        np.testing.assert_allclose(split[name], alone[name], rtol=2e-4, atol=1e-5, err_msg=name)
    leaves = zip(
        jax.tree.leaves(split_state.params), jax.tree.leaves(alone_state.params), strict=True
    )
    for a, b in leaves:
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


@pytest.mark.learning
def test_data_parallel_ppo_learns_cartpole():
    # Single-device PPO reaches 500 on 32/32 seeds with this budget (tests/algorithms/
    # test_ppo.py); splitting each run over two devices changes only the order of reductions.
    config = PPOConfig.for_env("CartPole-v1", preset="classic")
    seeds = np.arange(2, dtype=np.uint32)
    run = across_devices(PPO.make_train(config), len(seeds), envs_devices=2)
    state, _ = run(jax.vmap(jax.random.key)(seeds))
    returns = np.asarray(evaluate_runs(PPO, config, state, 1, 16)["return"]).mean(1)
    assert (returns >= 475).all(), returns


def test_cluster_detection_reads_the_launchers_environment():
    assert not launched_by_cluster({})
    assert not launched_by_cluster({"SLURM_NTASKS": "1", "SLURM_JOB_ID": "7"})
    # `salloc -n 4` or an sbatch script: one process, not a job step of four.
    assert not launched_by_cluster({"SLURM_NTASKS": "4", "SLURM_JOB_ID": "7"})
    srun = {"SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "2"}
    assert launched_by_cluster(srun)
    assert not launched_by_cluster({**srun, "PGJAX_DISTRIBUTED": "off"})
    assert launched_by_cluster({"OMPI_COMM_WORLD_SIZE": "2"})
    assert launched_by_cluster({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"})


# ------------------------------------------------------------------------------------------
# Several processes on localhost (the CPU's collectives go through gloo)
# ------------------------------------------------------------------------------------------

COMMON = ["--preset", "classic", "--total-steps", "5120", "--no-progress", "--eval-episodes", "2"]
COMMON += ["--compile-cache", "off", "--no-tensorboard"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(args, process_id=None, port=None, timeout=30):
    argv = [sys.executable, "-m", "pgjax.cli", "train", "ppo", *COMMON, *args]  # args win
    if process_id is not None:
        argv += ["--coordinator-address", f"localhost:{port}", "--num-processes", "2"]
        argv += ["--process-id", str(process_id), "--distributed-timeout", str(timeout)]
        argv += ["--cpu-devices", "1"]
    else:
        argv += ["--cpu-devices", "2"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _two_processes(args, out):
    port = _free_port()
    processes = [_launch([*args, "--out", str(out)], i, port) for i in (1, 0)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]


def _one_process(config, out, envs_devices=1):
    """The same run in this process, whose two CPU devices conftest.py set up."""
    options = runs.RunOptions(envs_devices=envs_devices, tensorboard=False)
    return runs.run(PPO, config, [0, 1], out, options=options)


def test_two_processes_give_what_one_process_with_two_devices_gives(tmp_path):
    config = PPOConfig(total_steps=5120)
    # Runs sharded over the processes: no run crosses a process, so the numbers are identical.
    _two_processes(["--seeds", "2"], tmp_path / "runs-2p")
    _one_process(config, tmp_path / "runs-1p")
    assert (tmp_path / "runs-2p" / "metrics.csv").read_bytes() == (
        tmp_path / "runs-1p" / "metrics.csv"
    ).read_bytes()
    # Each run data-parallel over both processes: equal up to the order of the all-reduces.
    _two_processes(["--seeds", "2", "--envs-devices", "2", "--num-envs", "8"], tmp_path / "dp-2p")
    one = _one_process(dataclasses.replace(config, num_envs=8), tmp_path / "dp-1p", 2).metrics
    two = rundir.MetricsLog(tmp_path / "dp-2p").read(2)
    for name in ("loss", "grad_norm", "episode_return"):
        np.testing.assert_allclose(two[name], one[name], rtol=1e-3, atol=1e-4, err_msg=name)
    # Process 0 alone wrote the run directory's files; the checkpoints hold every run.
    written = {p.name for p in (tmp_path / "dp-2p").iterdir()}
    assert written == {"config.json", "metrics.csv", "status.json", "checkpoints",
                       "learning_curve.png", "evaluation.json"}  # fmt: skip


@pytest.mark.parametrize("used_out", [False, True])
def test_a_user_error_ends_every_process_promptly_in_one_line(tmp_path, used_out):
    # Two errors found before compiling: runs that would leave process 1 idle (every process
    # finds it), and an --out already in use (process 0 alone looks; process 1 is told).
    if used_out:
        (tmp_path / "config.json").write_text("{}")
        args, first, second = ["--seeds", "2"], "is not empty", "process 0 stopped the run"
    else:
        args = ["--seeds", "1"]
        first = second = "1 seed(s) × envs_devices=1 would use only 1 of them"
    port = _free_port()
    started = time.monotonic()
    one, zero = (_launch([*args, "--out", str(tmp_path)], i, port) for i in (1, 0))
    for process, message in ((zero, first), (one, second)):
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stderr[-3000:]
        errors = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], stderr[-3000:]
        assert "Traceback" not in stderr
    assert time.monotonic() - started < 60  # not a wait for the heartbeat timeout


def test_a_process_that_dies_ends_the_others_within_the_timeout(tmp_path):
    port = _free_port()
    args = ["--seeds", "2", "--total-steps", "50000000", "--out", str(tmp_path)]
    survivor = _launch(args, 0, port, timeout=10)
    victim = _launch(args, 1, port, timeout=10)
    metrics = tmp_path / "metrics.csv"
    deadline = time.monotonic() + 180
    while not (metrics.exists() and metrics.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert survivor.poll() is None, survivor.communicate()[1][-3000:]
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    _, stderr = survivor.communicate(timeout=120)
    victim.communicate()
    assert survivor.returncode != 0
    assert time.monotonic() - killed < 60  # the 10 s heartbeat timeout, with margin
    assert any(m in stderr for m in ("lost a process", "another task died", "heartbeat")), stderr
