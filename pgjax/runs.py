"""Run directories: what `pgjax train` writes and `pgjax evaluate` reads.

RUN_DIR/config.json          algorithm, resolved config, seeds, versions
RUN_DIR/metrics.csv          one row per (seed, update): env_steps and every logged metric
RUN_DIR/learning_curve.png   episode return vs environment steps, mean ± std over seeds
RUN_DIR/checkpoint.msgpack   final parameters of every seed (flax.serialization msgpack:
                             {"params": pytree with a leading seed axis,
                              "obs_moments": running observation statistics or None})
RUN_DIR/evaluation.json      returns of the final policies (written by `evaluate`)
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import jax
import numpy as np
from flax import serialization

import pgjax
from pgjax import algorithms
from pgjax.envs import RunningMoments


def write_config(run_dir: Path, algorithm: str, config, seeds: list[int]) -> None:
    record = {
        "algorithm": algorithm,
        "seeds": seeds,
        "config": config.to_dict(),
        "versions": {"pgjax": pgjax.__version__, "jax": jax.__version__},
    }
    (run_dir / "config.json").write_text(json.dumps(record, indent=2) + "\n")


def read_config(run_dir: Path):
    record = json.loads((Path(run_dir) / "config.json").read_text())
    module = algorithms.get(record["algorithm"])
    fields = dict(record["config"])
    fields["hidden_sizes"] = tuple(fields["hidden_sizes"])
    return record, module.Config(**fields)


def write_metrics(run_dir: Path, metrics: dict, steps_per_update: int, seeds: list[int]) -> None:
    """`metrics`: dict of `[num_seeds, num_updates]` arrays."""
    names = sorted(metrics)
    arrays = {name: np.asarray(metrics[name]) for name in names}
    num_updates = arrays[names[0]].shape[1]
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "update", "env_steps", *names])
        for i, seed in enumerate(seeds):
            for u in range(num_updates):
                row = [float(arrays[n][i, u]) for n in names]
                writer.writerow([seed, u, (u + 1) * steps_per_update, *row])


def read_metrics(run_dir: Path) -> dict[str, np.ndarray]:
    with (Path(run_dir) / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def plot_learning_curve(run_dir: Path, title: str) -> Path:
    """Episode return vs environment steps: mean ± std over seeds (episode returns carried
    forward over updates in which no episode ended)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = read_metrics(run_dir)
    seeds = np.unique(table["seed"])
    curves = []
    for seed in seeds:
        returns = table["episode_return"][table["seed"] == seed]
        curves.append(_forward_fill(returns))
    curves = np.array(curves)
    steps = table["env_steps"][table["seed"] == seeds[0]]
    mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(steps, mean, label=f"mean over {len(seeds)} seed(s)")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.3, label="± 1 std")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = run_dir / "learning_curve.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _forward_fill(values: np.ndarray) -> np.ndarray:
    out, last = values.copy(), math.nan
    for i, v in enumerate(out):
        if math.isnan(v):
            out[i] = last
        else:
            last = v
    return out


def save_checkpoint(run_dir: Path, params, obs_moments: RunningMoments | None) -> None:
    state = {
        "params": jax.device_get(params),
        "obs_moments": None if obs_moments is None else jax.device_get(obs_moments.__dict__),
    }
    (run_dir / "checkpoint.msgpack").write_bytes(serialization.msgpack_serialize(state))


def load_checkpoint(run_dir: Path):
    """Returns `(params, obs_moments)` with a leading seed axis on every leaf."""
    state = serialization.msgpack_restore((Path(run_dir) / "checkpoint.msgpack").read_bytes())
    moments = state.get("obs_moments")
    return state["params"], None if moments is None else RunningMoments(**moments)
