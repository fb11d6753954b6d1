"""`pgjax sweep` end to end at a small size: one program for every configuration × seed, the
table, the figure and best.json, which `pgjax train --config` reruns with the same numbers;
Ctrl-C and `pgjax resume` rewrite the sweep's own outputs."""

from __future__ import annotations

import csv
import json

import jax
import numpy as np

from pgjax import runs
from pgjax.cli import main
from pgjax.runs.rundir import MetricsLog

SMALL = ["--env", "CartPole-v1", "--total-steps", "4096", "--num-minibatches", "2"]
SMALL += ["--eval-episodes", "3", "--no-progress", "--compile-cache", "off"]


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_sweep_ranks_configurations_and_best_json_reruns_the_best_bit_for_bit(tmp_path, capsys):
    sweep_dir, train_dir = tmp_path / "sweep", tmp_path / "train"
    # Two configurations × one seed over the two test devices: one run per device, as the
    # single-seed rerun below has (XLA:CPU's batched matmuls round differently per batch size).
    grid = ["--grid", "learning_rate=3e-4,3e-3", "--threshold", "30"]
    assert main(["sweep", "ppo", *SMALL, *grid, "--out", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "ranked (2 configurations × 1 seeds" in out

    record = json.loads((sweep_dir / "config.json").read_text())
    assert record["seeds"] == [0, 0]  # every configuration sees the same seeds
    assert record["hyperparams"]["learning_rate"] == [np.float32(3e-4), np.float32(3e-3)]
    table = _rows(sweep_dir / "sweep.csv")
    assert [int(r["rank"]) for r in table] == [1, 2]
    assert {float(r["learning_rate"]) for r in table} == {
        float(np.float32(3e-4)),
        float(np.float32(3e-3)),
    }
    evaluation = json.loads((sweep_dir / "evaluation.json").read_text())
    returns = [v["return"] for v in evaluation["per_seed"].values()]
    assert sorted(float(r["return_median"]) for r in table) == sorted(returns)
    assert float(table[0]["return_median"]) == max(returns)  # ranked by return
    assert "| rank |" in (sweep_dir / "sweep.md").read_text()
    assert (sweep_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    best = json.loads((sweep_dir / "best.json").read_text())
    assert best["algorithm"] == "ppo" and best["seeds"] == [0]
    assert best["config"]["learning_rate"] == float(table[0]["learning_rate"])
    best_run = int(table[0]["configuration"])

    assert main(["train", "ppo", "--config", str(sweep_dir / "best.json"), *SMALL[4:],
                 "--out", str(train_dir)]) == 0  # fmt: skip
    swept, rerun = MetricsLog(sweep_dir).read(2), MetricsLog(train_dir).read(1)
    for name, values in rerun.items():
        np.testing.assert_array_equal(values[0], swept[name][best_run], err_msg=name)
    # The final parameters too (the evaluations differ: a run's evaluation key folds in its
    # index among the runs).
    swept_state, rerun_state = runs.restore(sweep_dir)[3], runs.restore(train_dir)[3]
    swept_leaves = jax.tree.leaves(swept_state.params)
    rerun_leaves = jax.tree.leaves(rerun_state.params)
    for swept_leaf, rerun_leaf in zip(swept_leaves, rerun_leaves, strict=True):
        np.testing.assert_array_equal(swept_leaf[best_run], rerun_leaf[0])


def test_train_config_from_another_algorithm_exits_2_before_compiling(tmp_path, capsys):
    config = tmp_path / "best.json"
    config.write_text(json.dumps({"algorithm": "a2c", "config": {"learning_rate": 1e-3}}))
    capsys.readouterr()
    assert main(["train", "ppo", "--config", str(config), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a2c" in err and not (tmp_path / "r").exists()


def test_train_config_fields_apply_and_the_command_line_overrides_them(tmp_path, capsys):
    config = tmp_path / "fields.json"
    config.write_text(json.dumps({"learning_rate": 1e-3, "gamma": 0.9, "total_steps": 1024}))
    run_dir = tmp_path / "run"
    argv = ["train", "ppo", "--config", str(config), "--gamma", "0.95", "--out", str(run_dir)]
    assert main([*argv, "--num-minibatches", "2", "--eval-episodes", "1", "--no-progress"]) == 0
    fields = json.loads((run_dir / "config.json").read_text())["config"]
    assert (fields["learning_rate"], fields["gamma"], fields["total_steps"]) == (1e-3, 0.95, 1024)
