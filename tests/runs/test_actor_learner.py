"""The asynchronous actor-learner engine (pgjax/runs/actor_learner.py): actors and learner
on different devices, the lag recorded, no resume, and every thread stopped and joined on
Ctrl-C (in process, and a real `pgjax train impala --async` sent SIGINT) and on an error on
either side."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

from pgjax import runs
from pgjax.algorithms.impala import IMPALA, IMPALAConfig
from pgjax.runs import actor_learner, rundir
from pgjax.runs.checkpoints import Checkpoints

# 40 steps per update (8 envs × 5 steps), 60 updates; every test shares the compiled programs.
CONFIG = IMPALAConfig.for_env("CartPole-v1", "classic", total_steps=8 * 5 * 60)
SEEDS = [0, 1]
FAST = runs.RunOptions(chunk_seconds=0.02, checkpoint_every=3, tensorboard=False)


def actor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pgjax-actor")]


def run(run_dir, async_options=None, **kwargs):
    kwargs = {"options": FAST, **kwargs}
    async_options = async_options or runs.AsyncOptions()
    return runs.run(IMPALA, CONFIG, SEEDS, run_dir, async_options=async_options, **kwargs)


def test_actors_and_learner_on_two_devices_record_every_update_and_the_lag(tmp_path):
    queue_size = 2
    options = runs.AsyncOptions(queue_size=queue_size)
    result = run(tmp_path, async_options=options)
    assert result.status == "completed" and result.updates == CONFIG.num_updates == 60
    assert not actor_threads()
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["learner_device"] == str(jax.devices()[0])
    assert status["actor_devices"] == [str(jax.devices()[1])]  # conftest shows 2 CPU devices
    table = rundir.MetricsLog(tmp_path).read(len(SEEDS))
    lag = table["policy_lag"]
    assert lag.shape == (2, 60) and (lag[0] == lag[1]).all()
    # The first rollout is θ_0's, learnt from at once; after that one actor is at most the
    # queue plus the rollout it holds ahead of the learner.
    assert lag[0, 0] == 0 and lag.min() >= 0 and lag.max() <= queue_size + 1
    assert status["policy_lag"]["mean"] == pytest.approx(lag[0].mean())
    assert np.isfinite(table["loss"]).all() and np.isfinite(table["behaviour_kl"]).all()
    assert result.metrics["policy_lag"].shape == (2, 60)

    with pytest.raises(rundir.RunDirectoryError, match=r"trained with --async, which cannot"):
        runs.resume(tmp_path)
    checkpoints = Checkpoints(tmp_path)  # what `pgjax evaluate` restores
    assert checkpoints.latest() == 60
    checkpoints.close()


@pytest.mark.parametrize(
    ("side", "method", "error"),
    [
        # ParameterBoard.latest runs in the actor threads, .publish in the learner only.
        ("actor", "latest", actor_learner.ActorError),
        ("learner", "publish", RuntimeError),
    ],
)
def test_an_error_on_either_side_stops_and_joins_every_thread(
    tmp_path, monkeypatch, side, method, error
):
    calls = itertools.count()
    original = getattr(actor_learner.ParameterBoard, method)

    def failing(self, *args):
        if next(calls) == 6:
            raise RuntimeError(f"the {side} broke")
        return original(self, *args)

    monkeypatch.setattr(actor_learner.ParameterBoard, method, failing)
    options = runs.AsyncOptions(actors=2)
    with pytest.raises(error, match=f"the {side} broke"):
        run(tmp_path, async_options=options)
    assert not actor_threads()
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and f"the {side} broke" in status["message"]


def test_ctrl_c_stops_the_learner_joins_the_actors_and_keeps_every_update(tmp_path):
    calls = []

    def progress(updates, metrics):
        calls.append(updates)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    result = run(tmp_path, progress=progress)
    assert result.status == "interrupted" and 0 < result.updates < 60
    assert not actor_threads()
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "interrupted" and status["signal"] == "SIGINT"
    assert len(rundir.MetricsLog(tmp_path).read(len(SEEDS))["update"][0]) == result.updates
    checkpoints = Checkpoints(tmp_path)
    assert checkpoints.latest() == result.updates
    checkpoints.close()


def test_cli_async_run_stops_on_sigint_and_refuses_resume(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "pgjax.cli", "train", "impala", "--async", "--seeds", "2"]
    args = ["--total-steps", "100000000", "--no-progress", "--out", str(out)]
    process = subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        metrics = out / "metrics.csv"
        deadline = time.monotonic() + 180
        while not (metrics.exists() and metrics.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.05)  # compiled, actors running, a chunk recorded
        assert process.poll() is None, process.communicate()
        signalled = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (stdout, stderr)
    assert time.monotonic() - signalled < 15
    assert "cannot be resumed" in stdout and f"pgjax evaluate {out}" in stdout
    assert json.loads((out / "status.json").read_text())["status"] == "interrupted"

    refused = subprocess.run(
        [sys.executable, "-m", "pgjax.cli", "resume", str(out)], capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--async" in refused.stderr, refused.stderr
