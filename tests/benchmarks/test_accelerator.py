"""`python -m benchmarks.accelerator`: the quick run end to end (every item measured or skipped
with its reason, RESULTS.md untouched), and the budget that decides what is measured."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks import accelerator
from benchmarks.accelerator import MARGIN, Budget, CannotRunError, Piece

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_quick_run_measures_or_skips_every_item_and_leaves_results_alone(tmp_path):
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.accelerator", "--quick", "--no-results",
         "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    assert "| # | measurement |" in process.stdout
    record = json.loads((tmp_path / "accelerator-cpu.json").read_text())
    assert record["complete"] and record["mode"] == "quick"
    items = record["data"]["items"]
    assert list(items) == list(accelerator.ITEMS)
    for item, status in items.items():
        assert status["status"] in ("measured", "skipped"), (item, status)
        if status["status"] == "skipped":
            assert status["reason"], item
        else:
            rows = [r for r in record["data"]["rows"] if r["item"] == item]
            assert rows and all("note" not in r for r in rows), (item, rows)
    assert (results.read_bytes() if results.exists() else None) == before


def _piece(compile_ref=1.0, run_ref=10.0, min_fraction=1.0, **kwargs) -> Piece:
    return Piece("ppo_cartpole", "a piece", compile_ref, run_ref, lambda f, s: [], 1.0,
                 min_fraction, **kwargs)  # fmt: skip


def test_budget_leaves_out_a_piece_predicted_past_what_is_left():
    budget = Budget(5.0)
    assert budget.fraction(_piece(run_ref=10.0), share=5.0) is None
    assert budget.fraction(_piece(run_ref=1.0), share=5.0) == 1.0


def test_budget_shrinks_a_sizable_piece_to_its_share():
    budget = Budget(1000.0)
    piece = _piece(compile_ref=2.0, run_ref=100.0, min_fraction=0.01)
    fraction = budget.fraction(piece, share=50.0)
    assert 0.01 < fraction < 1.0
    assert budget.predict(piece, fraction) == pytest.approx(50.0)
    assert budget.predict(piece, 1.0) == pytest.approx(102.0 * MARGIN)
    tiny_share = budget.fraction(piece, share=0.0)
    assert tiny_share == pytest.approx(
        0.01
    )  # never below its smallest size while that fits in what is left


def test_budget_scales_estimates_by_what_earlier_pieces_took():
    budget = Budget(1000.0)
    done = _piece(compile_ref=1.0, run_ref=10.0)
    budget.record(done, 1.0, compile_s=3.0, seconds=3.0 + 1.0)  # compile 3x, run 0.1x
    throughput, latency = _piece(), _piece(latency_bound=True)
    assert budget.predict(throughput, 1.0) == pytest.approx((3.0 + 1.0) * MARGIN)
    assert budget.predict(latency, 1.0) == pytest.approx((3.0 + 10.0) * MARGIN)
    budget = Budget(1000.0)
    budget.record(done, 1.0, compile_s=0.1, seconds=0.1)  # both faster than the reference
    assert budget.scale("compile") == 1.0  # compilation is never assumed faster
    assert budget.scale("run") == accelerator.MIN_RUN_SCALE


def test_budget_prefers_a_piece_s_own_prediction():
    budget = Budget(1000.0)
    piece = _piece(run_ref=1e6, predict=lambda fraction: 1.0 + 4.0 * fraction)
    assert budget.predict(piece, 1.0) == pytest.approx(5.0 * MARGIN)


def test_measure_all_reports_skipped_failed_and_unmeasured_pieces(monkeypatch):
    def broken(fraction, share):
        raise RuntimeError("boom")

    def fine(fraction, share):
        return [{"measurement": "ok", "compile_s": 0.0}]

    def skipped(quick):
        raise CannotRunError("an extra is missing")

    pieces = {
        "ppo_cartpole": lambda quick: [
            Piece("ppo_cartpole", "fails", 0.0, 0.0, broken),
            Piece("ppo_cartpole", "works", 0.0, 0.0, fine),
        ],
        "ppo_minatar": lambda quick: [Piece("ppo_minatar", "too big", 1e6, 0.0, fine)],
        "brax_ant": skipped,
    }
    monkeypatch.setattr(accelerator, "PIECES", pieces)
    saved = []
    data = accelerator.measure_all(True, Budget(60.0), saved.append)
    items = data["items"]
    assert items["ppo_cartpole"]["status"] == "measured"
    assert "fails (failed: RuntimeError: boom)" in items["ppo_cartpole"]["reason"]
    assert items["ppo_minatar"]["status"] == "not measured"
    assert "too big" in items["ppo_minatar"]["reason"]
    assert items["brax_ant"] == {"status": "skipped", "reason": "an extra is missing"}
    notes = [r["note"] for r in data["rows"] if "note" in r]
    assert any(n.startswith("failed: RuntimeError: boom") for n in notes)
    assert any(n.startswith("not measured: needs") for n in notes)
    assert len(saved) == 1  # after the one piece that was measured


def test_training_in_chunks_runs_all_chunks_when_they_fit_and_projects_otherwise():
    from pgjax.algorithms.ppo import PPOConfig

    config = PPOConfig.for_env(
        "CartPole-v1", num_envs=2, num_steps=8, num_minibatches=1, total_steps=16 * 16
    )
    assert config.num_updates == 16
    whole = accelerator.train_in_chunks(config, 2, seconds=1e9)
    assert not whole["projected"] and whole["chunks"] == whole["of_chunks"] == 16
    assert whole["full_steps_per_seed"] == whole["steps_per_seed"] == 16 * 16
    assert whole["full_wall_s"] == pytest.approx(whole["wall_s"])
    short = accelerator.train_in_chunks(config, 2, seconds=0.0, fraction=1 / 16)
    assert short["projected"] and short["chunks"] == 2  # at least two, to measure a rate
    assert short["full_steps_per_seed"] == 16 * 16
    assert short["steps_per_seed"] == 2 * 16  # two chunks of one update each
    assert short["full_wall_s"] > short["wall_s"]
