"""`pgjax rlhf` end to end on a tiny pipeline: the run directory, `evaluate` and `resume` of an
RLHF run, and the usage errors."""

from __future__ import annotations

import csv
import json

import pytest

from pgjax.cli import main, rlhf, session

# A 1-block, width-16 transformer, 3 updates of 8 responses: a smoke test of the plumbing.
TINY = [
    "--num-blocks", "1", "--width", "16", "--num-heads", "2", "--prompt-length", "3",
    "--response-length", "6", "--target-length", "3", "--pretrain-steps", "30",
    "--preference-pairs", "64", "--reward-model-batch-size", "32",
    "--reward-model-epochs", "1", "--responses-per-update", "8", "--group-size", "4",
    "--num-epochs", "1", "--num-minibatches", "2", "--num-updates", "3",
    "--eval-prompts", "16", "--no-progress", "--no-tensorboard",
]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("rlhf") / "grpo"
    assert main(["rlhf", "grpo", "--seeds", "2", "--out", str(path), *TINY]) == 0
    return path


def test_a_run_writes_metrics_curves_evaluation_and_samples(run_dir):
    for name in ("config.json", "metrics.csv", "status.json", "evaluation.json", "samples.md"):
        assert (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "rlhf_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((run_dir / "config.json").read_text())
    assert record["algorithm"] == "rlhf-grpo" and record["env_id"] == "digits"
    assert record["config"]["group_size"] == 4 and record["seeds"] == [0, 1]
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3  # 2 seeds × 3 updates
    expected = {"rm_score", "true_reward", "kl_sequence", "kl_token", "response_length", "loss"}
    assert expected <= set(rows[0])
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert set(evaluation["per_seed"]) == {"0", "1"}
    assert evaluation["algorithm"] == "rlhf-grpo" and evaluation["episodes_per_seed"] == 16
    for seed in evaluation["per_seed"].values():
        assert 0.0 <= seed["reward_model_accuracy"] <= 1.0
        assert seed["reference/kl_sequence"] == 0.0 and seed["policy/kl_sequence"] >= 0
    samples = (run_dir / "samples.md").read_text()
    assert "reference (seed 0)" in samples and "policy, seed 1" in samples
    assert samples.count("\n| `^") == 8  # one row per prompt


def test_evaluate_restores_an_rlhf_run_and_reports_it_as_rlhf(run_dir, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--episodes", "24"]) == 0
    out = capsys.readouterr().out
    assert "reference:" in out and "policy   :" in out and "held-out accuracy" in out
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["episodes_per_seed"] == 24 and evaluation["updates"] == 3
    assert set(evaluation["per_seed"]) == {"0", "1"}


def test_resume_of_an_rlhf_run_goes_through_the_rlhf_report(run_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(session, "drive", lambda *args: calls.append(args) or 0)
    assert main(["resume", str(run_dir), "--no-progress"]) == 0
    (_, algorithm, _, record, path, _, report) = calls[0]
    assert algorithm.name == "rlhf-grpo" and report is rlhf.REPORT and path == run_dir
    assert record["options"]["eval_episodes"] == 16  # the run's own, recorded


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rlhf"], "usage: pgjax rlhf {ppo,grpo,dr-grpo,rloo,dapo,gspo,cispo}"),
        (["rlhf", "sac"], "unknown algorithm 'sac'; choose one of ppo, grpo, dr-grpo, rloo, dapo"),
        (["rlhf", "dapo", "--task", "sort", "--preference-pairs", "64"], "has no reward model"),
        (["rlhf", "grpo", "--is-cap", "3"], "is_cap=3.0 has no effect: rollout_correction"),
        (["rlhf", "grpo", "--group-size", "5"], "group_size=5 must divide responses_per_update=64"),
        (["rlhf", "ppo", "--width", "0"], "width must be >= 1, got 0. (option --width)"),
        (["rlhf", "ppo", "--num-heads", "3"], "num_heads=3 must divide the width 64"),
        (["rlhf", "rloo", "--kl-coef", "-1"], "kl_coef must be >= 0, got -1.0"),
        (["rlhf", "ppo", "--kl-coef", "0"], "kl_coef=0 with adaptive_kl: the controller"),
        (["train", "rlhf-ppo"], "rlhf-ppo trains on its own task: `pgjax rlhf ppo [options]`"),
    ],
)
def test_bad_options_are_one_line_errors_before_anything_compiles(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


# The sort task has no reward-model stage, so none of its options.
SORT_TINY = [
    "--task", "sort", "--num-blocks", "1", "--width", "16", "--num-heads", "2",
    "--prompt-length", "3", "--response-length", "6", "--pretrain-steps", "30",
    "--responses-per-update", "8", "--group-size", "4", "--num-epochs", "1",
    "--num-minibatches", "2", "--num-updates", "3", "--eval-prompts", "16",
    "--no-progress", "--no-tensorboard",
]  # fmt: skip


def test_help_offers_the_verifiable_task_and_the_new_losses_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["rlhf", "dapo", "--task", "sort", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--task",
        "sort",
        "--clip-eps-high",
        "--dynamic-sampling",
        "--overlong-buffer",
        "--rollout-lag",
        "--rollout-correction",
        "--is-cap",
    ):
        assert option in out, option


def test_dapo_on_the_sort_task_runs_with_a_lagged_sampler_from_the_command_line(tmp_path):
    path = tmp_path / "dapo"
    argv = ["rlhf", "dapo", *SORT_TINY, "--rollout-lag", "2", "--rollout-correction", "mask"]
    assert main([*argv, "--out", str(path)]) == 0
    record = json.loads((path / "config.json").read_text())
    assert record["algorithm"] == "rlhf-dapo" and record["env_id"] == "sort"
    assert record["config"]["rollout_lag"] == 2 and record["config"]["dynamic_sampling"]
    with (path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert {"accuracy", "kept_groups", "kept_tokens", "behaviour_kl", "entropy"} <= set(rows[0])
    assert "rm_score" not in rows[0]
    evaluation = json.loads((path / "evaluation.json").read_text())
    seed = evaluation["per_seed"]["0"]
    assert 0.0 <= seed["policy/accuracy"] <= 1.0 and "reward_model_accuracy" not in seed
    assert (path / "rlhf_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = (path / "samples.md").read_text()
    assert "right ✓ or wrong ✗" in samples and samples.count("\n| `^") == 8
