"""`pgjax train` and `pgjax evaluate` end to end, with a small budget."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from pgjax.cli import main


def test_train_writes_every_promised_file_and_evaluate_reloads_it(tmp_path, capsys):
    run_dir = tmp_path / "cartpole"
    code = main(
        [
            "train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--total-steps", "2048",
            "--num-minibatches", "2", "--out", str(run_dir), "--eval-episodes", "3",
        ]
    )  # fmt: skip
    assert code == 0
    for name in ("config.json", "metrics.csv", "learning_curve.png", "checkpoint.msgpack"):
        assert (run_dir / name).stat().st_size > 0, name

    record = json.loads((run_dir / "config.json").read_text())
    assert record["algorithm"] == "ppo"
    assert record["seeds"] == [0, 1]
    assert record["config"]["total_steps"] == 2048
    assert record["config"]["num_minibatches"] == 2

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
    assert set(evaluation["per_seed_mean_return"]) == {"0", "1"}
    # A barely trained CartPole policy balances for at least a few steps and at most 500.
    assert 5 <= evaluation["mean_return"] <= 500


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "ppo", "--num-minibatches", "3"], "choose num_minibatches dividing 512"),
        (["train", "ppo", "--env", "Nope-v0"], "Unknown environment id 'Nope-v0'"),
        (["train", "ppo", "--learning-rate", "-1"], "learning_rate must be > 0"),
        (["train", "sac"], "Unknown algorithm 'sac'"),
    ],
)
def test_invalid_arguments_exit_2_with_the_reason(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)] if argv[1] == "ppo" else argv) == 2
    assert message in capsys.readouterr().err


def test_console_script_help_lists_config_fields():
    out = subprocess.run(
        [sys.executable, "-m", "pgjax.cli", "train", "ppo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--env", "--seeds", "--total-steps", "--clip-eps", "--hidden-sizes"):
        assert option in out
