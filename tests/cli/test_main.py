"""`pgjax train`, `resume` and `evaluate` end to end, with small budgets; Ctrl-C on a real
process."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from pgjax import runs
from pgjax.algorithms.ppo import PPO, PPOConfig
from pgjax.cli import main


def test_train_writes_every_promised_file_and_evaluate_reloads_it(tmp_path, capsys):
    run_dir = tmp_path / "cartpole"
    code = main(
        [
            "train", "ppo", "--env", "CartPole-v1", "--preset", "classic", "--seeds", "2",
            "--total-steps", "2048",
            "--num-minibatches", "2", "--out", str(run_dir), "--eval-episodes", "3",
        ]
    )  # fmt: skip
    assert code == 0
    for name in ("config.json", "metrics.csv", "learning_curve.png", "status.json"):
        assert (run_dir / name).stat().st_size > 0, name
    assert [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()] == ["4"]

    record = json.loads((run_dir / "config.json").read_text())
    assert record["algorithm"] == "ppo" and record["env_id"] == "CartPole-v1"
    assert record["seeds"] == [0, 1]
    assert record["config"]["total_steps"] == 2048
    assert record["config"]["num_minibatches"] == 2
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"

    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 4  # 2 seeds × (2048 // (4 envs × 128 steps)) updates
    assert {"seed", "update", "env_steps", "episode_return", "approx_kl"} <= set(rows[0])
    assert (run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--episodes", "5"]) == 0
    assert "mean return" in capsys.readouterr().out
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["episodes_per_seed"] == 5
    assert set(evaluation["per_seed"]) == {"0", "1"}
    # A barely trained CartPole policy balances for at least a few steps and at most 500.
    assert 5 <= evaluation["mean_return"] <= 500


def test_stochastic_evaluation_samples_the_policy_in_the_report_and_in_evaluate(tmp_path, capsys):
    # The short corridor's best policy is stochastic: its mode goes right forever and meets the
    # 1000-step time limit in every episode (-1000); sampling reaches the goal (J* ≈ -11.7).
    run_dir = tmp_path / "corridor"
    args = ["train", "ppo", "--env", "ShortCorridor-pgjax", "--total-steps", "2048"]
    assert main([*args, "--out", str(run_dir), "--stochastic-evaluation"]) == 0
    assert "stochastic policy" in capsys.readouterr().out
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["deterministic"] is False and evaluation["mean_return"] > -1000
    record = json.loads((run_dir / "config.json").read_text())
    assert record["options"]["stochastic_evaluation"] is True

    assert main(["evaluate", str(run_dir), "--episodes", "4"]) == 0
    assert "stochastic policy" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "mode")]) == 0
    assert json.loads((tmp_path / "mode" / "evaluation.json").read_text())["mean_return"] == -1000


def _pgjax(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "pgjax.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_ctrl_c_checkpoints_exits_promptly_and_resume_gives_the_uninterrupted_run(tmp_path):
    args = [
        "--preset",
        "classic",
        "--total-steps",
        "1000000",
        "--seeds",
        "2",
        "--no-progress",
        "--eval-episodes",
        "2",
    ]
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    process = _pgjax("train", "ppo", *args, "--out", str(cut))
    metrics = cut / "metrics.csv"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until training is under way (compiled, first chunk written)
    assert process.poll() is None, process.communicate()
    signalled = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert time.monotonic() - signalled < 15, "a stop request should be served within seconds"
    assert f"pgjax resume {cut}" in out
    status = json.loads((cut / "status.json").read_text())
    assert status["status"] == "interrupted" and 0 < status["updates"] < 1953

    resumed = _pgjax("resume", str(cut), "--no-progress", "--eval-episodes", "2")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, (out, err)
    # The same run uninterrupted, in this process (the CLI's own driver, same devices).
    runs.run(PPO, PPOConfig(total_steps=1_000_000), [0, 1], whole)
    assert (cut / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()
    states = [runs.restore(d)[3:] for d in (cut, whole)]
    assert states[0][1] == states[1][1] == 1953
    for a, b in zip(*(jax.tree.leaves(s.params) for s, _ in states), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_diverging_run_stops_with_a_message_and_a_non_zero_exit(tmp_path, capsys):
    argv = ["train", "ppo", "--out", str(tmp_path), "--learning-rate", "1e30"]
    assert main([*argv, "--max-grad-norm", "1e30", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "training diverged at update 0 (seed 0)" in err and "is not finite" in err
    assert not (tmp_path / "evaluation.json").exists()


def test_out_holding_a_run_is_refused_before_anything_compiles(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["train", "ppo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not empty" in err and "--overwrite" in err


def test_console_script_help_lists_config_fields():
    out = subprocess.run(
        [sys.executable, "-m", "pgjax.cli", "train", "ppo", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for option in ("--env", "--seeds", "--total-steps", "--clip-eps", "--hidden-sizes"):
        assert option in out
    assert "hyperparameter" in out and "static" in out


def test_envs_lists_every_suite_with_its_extra_and_refuses_an_unknown_one(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for expected in ("CartPole-v1", "brax/", "xminigrid/", "jumanji/"):
        assert expected in out
    assert main(["envs", "gymnax"]) == 0
    assert "brax/" not in capsys.readouterr().out
    assert main(["envs", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'nope'" in err and "gymnax" in err
