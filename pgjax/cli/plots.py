"""The figures of a run directory: the learning curve (`RUN_DIR/learning_curve.png`) and a
sweep's return against its hyperparameters (`RUN_DIR/sweep.png`)."""

from __future__ import annotations

import importlib
import io
import threading
from pathlib import Path

import numpy as np

from pgjax.runs.rundir import MetricsLog, write_atomic


def prefetch() -> None:
    """Imports matplotlib in a background thread, for the figure a run ends with: the run's
    first seconds go to XLA (compiling, then training), which releases the GIL, so the import
    (a few tenths of a second of a command that takes a few seconds) is done by the time the
    figure needs it."""

    def load():
        for module in ("matplotlib.figure", "matplotlib.backends.backend_agg"):  # Figure, PNG
            importlib.import_module(module)

    threading.Thread(target=load, name="pgjax-matplotlib-import", daemon=True).start()


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
    # A Figure without pyplot, whose import (its backends and state machine) costs a few
    # tenths of a second of a command that takes a few seconds.
    from matplotlib.figure import Figure

    table = MetricsLog(run_dir).read(num_runs)
    fig = Figure(figsize=(6, 4), dpi=120)
    ax = fig.subplots()
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
    path = Path(run_dir) / "learning_curve.png"
    write_atomic(path, image.getvalue())
    return path


def sweep_figure(run_dir: Path, title: str, sweep, final_returns: np.ndarray) -> Path:
    """`sweep.png`: the final return against each swept hyperparameter, one panel per
    hyperparameter: every run a dot, every configuration's median over its seeds a cross
    (logarithmic axis where the search drew log-uniformly)."""
    from matplotlib.figure import Figure

    from pgjax.runs.sweep import log_uniform

    names, k = sweep.names, len(sweep.seeds)
    returns = np.asarray(final_returns, np.float64).reshape(-1, k)
    columns = min(len(names), 3)
    rows = -(-len(names) // columns)
    fig = Figure(figsize=(4 * columns, 3.2 * rows), dpi=110)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        values = np.array([c[name] for c in sweep.configurations])
        ax.scatter(np.repeat(values, k), returns.ravel(), s=8, alpha=0.35, label="run")
        ax.scatter(values, np.median(returns, axis=1), marker="x", color="k", label="median")
        # A log axis where the search drew log-uniformly (a grid: where it spans ≥ 10x).
        low, high = sweep.search.get("ranges", {}).get(name) or (values.min(), values.max())
        if log_uniform(low, high):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("final return")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png")
    path = Path(run_dir) / "sweep.png"
    write_atomic(path, image.getvalue())
    return path
