"""The learning curve of a run directory (`RUN_DIR/learning_curve.png`)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from pgjax.runs.rundir import MetricsLog, write_atomic


def no_episode_finished(metrics: dict[str, np.ndarray]) -> bool:
    """True when no update of any run logged a finished episode."""
    returns = metrics.get("episode_return")
    return returns is None or bool(np.isnan(returns).all())


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """Each NaN (an update in which no episode ended) replaced by the return before it."""
    out = values.copy()
    for i in range(1, out.size):
        if np.isnan(out[i]):
            out[i] = out[i - 1]
    return out


def learning_curve(run_dir: Path, title: str, num_runs: int) -> Path:
    """Episode return vs environment steps: mean ± std over the runs, each run's returns
    carried forward over updates in which no episode ended. Says so when none ended."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = MetricsLog(run_dir).read(num_runs)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    if no_episode_finished(table):
        ax.text(
            0.5, 0.5, "no episode finished during training", ha="center", transform=ax.transAxes
        )
    else:
        curves = np.array([_forward_fill(r) for r in table["episode_return"]])
        with np.errstate(invalid="ignore"):
            mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
        steps = table["env_steps"][0]
        ax.plot(steps, mean, label=f"mean over {num_runs} seed(s)")
        ax.fill_between(steps, mean - std, mean + std, alpha=0.3, label="± 1 std")
        ax.legend(loc="lower right")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png")
    plt.close(fig)
    path = Path(run_dir) / "learning_curve.png"
    write_atomic(path, image.getvalue())
    return path
