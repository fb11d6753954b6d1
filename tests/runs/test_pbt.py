"""Population-based training between the compiled engine's chunks: selections at fixed update
counts whatever the chunking, lineage and hyperparameters in metrics.csv, and an interrupted
population resumed (by `pgjax resume`, which also writes the sweep's table) to the bits of an
uninterrupted one."""

from __future__ import annotations

import numpy as np
from run_checks import interrupt_after_first_chunk

from pgjax import runs
from pgjax.algorithms.ppo import PPO, PPOConfig
from pgjax.cli import main
from pgjax.runs import rundir, sweep

CONFIG = PPOConfig(total_steps=4 * 16 * 10, num_envs=4, num_steps=16, num_minibatches=2)
PLAN = sweep.plan(
    CONFIG,
    seeds=[0],
    grid={"learning_rate": [1e-4, 3e-4, 1e-3, 3e-3]},
    pbt={"interval": 3, "episodes": 2, "fraction": 0.25, "perturb": 0.2},
)


def test_population_selects_every_interval_and_resumes_to_the_same_bits(tmp_path, capsys):
    options = runs.RunOptions(chunk_updates=4, chunk_seconds=1e9, checkpoint_every=100)
    whole = sweep.run(PPO, CONFIG, PLAN, tmp_path / "whole", options=options)
    assert whole.status == "completed" and whole.updates == 10

    table = rundir.MetricsLog(tmp_path / "whole").read(4)
    parents, rates = table["pbt_parent"], table["hp_learning_rate"]
    members = np.arange(4)[:, None]
    # Selections after updates 3, 6 and 9 (columns 2, 5, 8), not at the run's end, though
    # chunks of 4 updates would end at 4 and 8: chunks are cut at the selections.
    changed = np.nonzero((parents != members).any(axis=0))[0].tolist()
    assert set(changed) <= {2, 5, 8} and changed, parents
    for column in changed:
        copied = np.nonzero(parents[:, column] != np.arange(4))[0]
        assert len(copied) == 1  # a quarter of 4 members
        child, parent = int(copied[0]), int(parents[copied[0], column])
        ratio = rates[child, column + 1] / rates[parent, column]
        low, high = np.float32(PLAN.pbt["ranges"]["learning_rate"])
        at_bound = rates[child, column + 1] in (low, high)  # clipped to the search range
        assert np.isclose(ratio, 0.8) or np.isclose(ratio, 1.2) or at_bound, ratio
        # everyone else keeps their learning rate
        others = [m for m in range(4) if m != child]
        np.testing.assert_array_equal(rates[others, column + 1], rates[others, column])
    # Between selections the hyperparameters do not move.
    for column in range(9):
        if column not in changed:
            np.testing.assert_array_equal(rates[:, column + 1], rates[:, column])

    cut = sweep.run(
        PPO, CONFIG, PLAN, tmp_path / "cut", options=options,
        progress=interrupt_after_first_chunk(),
    )  # fmt: skip
    assert cut.status == "interrupted" and 0 < cut.updates < 10
    assert main(["resume", str(tmp_path / "cut"), "--no-progress", "--eval-episodes", "2"]) == 0
    assert (tmp_path / "cut" / "metrics.csv").read_bytes() == (
        tmp_path / "whole" / "metrics.csv"
    ).read_bytes()
    for name in ("sweep.md", "sweep.csv", "best.json", "sweep.png"):
        assert (tmp_path / "cut" / name).stat().st_size > 0, name
    assert "population-based training" in (tmp_path / "cut" / "sweep.md").read_text()
