"""The figures libraries are compared by, measured on whatever device JAX finds, within a
wall-clock budget: one prepared command for a short accelerator slot.

    python -m benchmarks.accelerator                       # full settings, 480 s budget
    python -m benchmarks.accelerator --budget-seconds 300 --out DIR
    python -m benchmarks.accelerator --quick --no-results  # tiny sizes: a smoke test

It prints a markdown table, writes `OUT/accelerator-BACKEND.json` (default OUT:
`benchmarks/out/`, rewritten after every measurement, so a slot cut short still leaves what
was measured) and rewrites its section of `benchmarks/RESULTS.md` (one per JAX backend,
naming the device, the NVIDIA driver and the versions; `--no-results` leaves it alone).

Items, in order of importance:

1. PPO on CartPole-v1, the classic configuration (`PPOConfig.for_env("CartPole-v1", "classic")`: 4
   envs × 128 steps, 4 epochs × 4 minibatches, 5e5 steps per seed), 1, 64, 512 and 2048 seeds in one
   program (`across_devices`; on one GPU, plain `vmap`): compile time, aggregate env steps/s, wall
   time of the whole batch (compile + run). PureJaxRL's README plots 2048 agents in ≈98 s on an A100
   (its "Vectorised Cartpole" figure, read off the plot, compile included; its `ppo.py` trains 5e5
   steps per agent in this configuration, which the README does not restate), the same 1.02e9 steps
   as our 2048-seed row.
2. PPO on MinAtar Breakout (`PPOConfig.for_env("Breakout-MinAtar")`), 64 seeds × 1e6 steps.
3. PPO on Brax's ant (`PPOConfig.for_env("brax/ant")`, pgjax's preset) for a short fixed
   budget: env steps/s and return, beside Brax's own trainer (`brax.training.agents.ppo`) at
   Brax's published ant settings on the same budget. Skipped while `brax` is not installed or
   pgjax does not know `brax/ant`.
4. RLHF: tokens/s of sampling and of one PPO update at widths 64, 256 and 1024
   (`benchmarks.rlhf_throughput.measure_point`).
5. `pgjax.chunked_log_probs` against the naive log-softmax at V = 128k (131,072), 4096
   positions of width 1024: peak memory (XLA's memory analysis of the compiled program) and
   time of the value and gradient (`benchmarks.token_log_probs.measure_point`). Skipped while
   pgjax has no `chunked_log_probs`.
6. SAC on Pendulum-v1 (its preset, 1e4 steps), 16 seeds: wall time to an evaluation return of
   -200 (`benchmarks.pg_vs_q.train_with_curves`).

The budget. Each measurement (a "piece": one seed count, one width, ...) carries a
conservative estimate of its compile and run time at full size on the reference machine (the
2-core CPU of the other benchmarks). Before a piece, its estimate is scaled by what the pieces
before it took against their estimates (compile and run apart; the run scale is at least 0.05,
and at least 1 for a latency-bound piece, one small network stepping sequentially, which an
accelerator does not speed up) and by a margin of 1.3; a piece of item 1 is instead predicted
from the previous seed count's measured rate. A piece that does not fit in what is left, at its
smallest, is not measured, and the table says so. Each piece gets a share of what is left, in
proportion to its weight among the pieces still to run. A training run (items 1-3) is 16 or
more calls of one compiled chunk of updates, as the driver runs it, a chunk about an eighth of
what is predicted to fit: chunks run while the next one fits in the share (at least 2, of one
update each at the smallest), and when not all of them ran, the full run's wall time is projected as
compile + its env steps / the measured rate, marked "projected" (every chunk is the same
program, so the rate does not depend on how many ran). The token batch of item 5 shrinks to
fit its share instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import (
    format_rate,
    format_seconds,
    markdown_table,
    patch_brax_for_jax,
    result,
    write_json,
)

NAME = "accelerator"
TITLE = "Accelerator summary: the headline figures within one time budget"
HERE = Path(__file__).resolve().parent
DEFAULT_BUDGET_S = 480.0
MARGIN = 1.3
MIN_RUN_SCALE = 0.05
CHUNKS = 16  # a training run is at least this many calls of one compiled chunk of updates
# --quick: XLA:CPU without its expensive LLVM passes. The quick run is nearly all compilation;
# measured on the 2-core CPU, the whole of it took 48 s of CPU time with these flags and 83 s
# without (with one more CartPole seed count then).
QUICK_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"

# PureJaxRL's README, figure "Vectorised Cartpole" (docs/cartpole_plot_parallel.png): 2048 PPO
# agents in ≈98 s on an NVIDIA A100, read off the plot; 5e5 steps per agent (its ppo.py).
PUREJAXRL_2048_A100_S = 98.0
CARTPOLE_SEEDS, QUICK_CARTPOLE_SEEDS = (1, 64, 512, 2048), (4,)
MINATAR_SEEDS, MINATAR_STEPS = 64, 1_000_000
BRAX_ENV = "brax/ant"
BRAX_STEPS = 5_000_000
# Brax's published PPO settings for ant (its notebooks/training.ipynb), but the step budget.
BRAX_ANT_SETTINGS = {
    "num_evals": 2,
    "reward_scaling": 10,
    "episode_length": 1000,
    "normalize_observations": True,
    "action_repeat": 1,
    "unroll_length": 5,
    "num_minibatches": 32,
    "num_updates_per_batch": 4,
    "discounting": 0.97,
    "learning_rate": 3e-4,
    "entropy_cost": 1e-2,
    "num_envs": 4096,
    "batch_size": 2048,
    "seed": 1,
}
RLHF_WIDTHS, QUICK_RLHF_WIDTHS, RLHF_LENGTH = (64, 256, 1024), (32,), 16
VOCAB = 131_072
LOG_PROB_SHAPE, LOG_PROB_WIDTH = (1024, 4), 1024  # (T, B): N = 4096 positions
QUICK_LOG_PROB_SHAPE, QUICK_LOG_PROB_WIDTH = (16, 4), 32
SAC_SEEDS, SAC_STEPS, SAC_EVALUATIONS, SAC_THRESHOLD = 16, 10_000, 20, -200.0

ITEMS = {
    "ppo_cartpole": "PPO on CartPole-v1, 1 to 2048 seeds",
    "ppo_minatar": "PPO on MinAtar Breakout, 64 seeds × 1e6 steps",
    "brax_ant": "PPO on Brax ant, beside Brax's trainer",
    "rlhf": "RLHF tokens/s, widths 64 / 256 / 1024",
    "token_log_probs": "chunked token log-probs vs naive, V = 128k",
    "sac_pendulum": "SAC on Pendulum-v1 to -200, 16 seeds",
}


class CannotRunError(Exception):
    """An item that cannot run here (an extra not installed, an API not there yet)."""


@dataclasses.dataclass
class Piece:
    """One measurement of an item.

    `compile_ref` and `run_ref` are conservative seconds on the reference 2-core CPU, the run at
    full size; `measure(fraction, share)` runs at that fraction of the full size (a training
    run instead trains chunk after chunk while they fit in `share` seconds) and returns table
    rows (each a dict with at least `measurement`; `compile_s` when it compiled something;
    `data["fraction"]` when it ran another fraction); `predict(fraction)`, when given and not
    None, predicts real seconds from measurements already made (it replaces the reference
    estimate).
    """

    item: str
    label: str
    compile_ref: float
    run_ref: float
    measure: Callable[[float, float], list[dict]]
    weight: float = 1.0
    min_fraction: float = 1.0  # 1: the piece runs at full size or not at all
    latency_bound: bool = False
    predict: Callable[[float], float | None] | None = None


class Budget:
    """The wall-clock budget: what is left, and how long a piece is predicted to take."""

    def __init__(self, seconds: float, start: float | None = None):
        self.seconds = seconds
        self.start = time.perf_counter() if start is None else start
        self.reference = {"compile": 0.0, "run": 0.0}
        self.taken = {"compile": 0.0, "run": 0.0}

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)

    def scale(self, part: str, latency_bound: bool = False) -> float:
        """Measured over estimated seconds of the pieces so far (1 before any)."""
        ratio = self.taken[part] / self.reference[part] if self.reference[part] > 0 else 1.0
        floor = 1.0 if part == "compile" or latency_bound else MIN_RUN_SCALE
        return max(ratio, floor)

    def predict(self, piece: Piece, fraction: float) -> float:
        own = piece.predict(fraction) if piece.predict else None
        if own is None:
            own = piece.compile_ref * self.scale("compile") + (
                fraction * piece.run_ref * self.scale("run", piece.latency_bound)
            )
        return own * MARGIN

    def fraction(self, piece: Piece, share: float) -> float | None:
        """The largest fraction of `piece` whose prediction fits `share` (at least its
        `min_fraction`), or None when even that does not fit in what is left."""
        smallest = self.predict(piece, piece.min_fraction)
        if smallest > self.left():
            return None
        if piece.min_fraction >= 1.0:
            return 1.0
        fixed = self.predict(piece, 0.0)
        per_fraction = self.predict(piece, 1.0) - fixed
        if per_fraction <= 0:
            return 1.0
        fraction = (max(share, smallest) - fixed) / per_fraction
        return float(min(1.0, max(piece.min_fraction, fraction)))

    def record(self, piece: Piece, fraction: float, compile_s: float, seconds: float) -> None:
        self.reference["compile"] += piece.compile_ref
        self.reference["run"] += fraction * piece.run_ref
        self.taken["compile"] += compile_s
        self.taken["run"] += max(seconds - compile_s, 0.0)


# --------------------------------------------------------------------------------------------
# The items: each returns its pieces, or raises CannotRunError.


def train_in_chunks(config, num_seeds: int, seconds: float, fraction: float = 1.0) -> dict:
    """PPO on `config`, `num_seeds` seeds in one program (`across_devices`: on one GPU, plain
    `vmap`), the run cut into calls of one compiled chunk of updates (as the driver runs it),
    chunk after chunk while the next one fits in `seconds` with the compilation (at least 2
    chunks). A chunk is at most 1/`CHUNKS` of the run, and about an eighth of the `fraction`
    of it expected to fit (a number of updates dividing the run's).

    Returns:
      compile and run seconds, the aggregate env steps per second, and the wall time of the
      whole run (compile + run): measured when every chunk ran, else compile + its env steps /
      the measured rate (`projected`); the mean return of the last chunk's training episodes.
    """
    import jax

    from pgjax.algorithms.ppo import PPO
    from pgjax.training.algorithm import scan_updates
    from pgjax.training.parallel import across_devices

    config.validate()
    target = max(1.0, min(config.num_updates / CHUNKS, fraction * config.num_updates / 8))
    per_chunk = max(d for d in range(1, int(target) + 1) if config.num_updates % d == 0)
    chunks = config.num_updates // per_chunk
    keys = jax.random.split(jax.random.key(0), num_seeds)
    init = across_devices(functools.partial(PPO.init, config), num_seeds)
    chunk = across_devices(lambda state: scan_updates(PPO, config, state, per_chunk), num_seeds)
    start = time.perf_counter()
    state = jax.block_until_ready(init(keys))
    compiled = chunk.lower(state).compile()
    compile_s = time.perf_counter() - start
    run_s, done, metrics = 0.0, 0, None
    while done < chunks and (done < 2 or compile_s + run_s * (done + 1) / done <= seconds):
        began = time.perf_counter()
        state, metrics = jax.block_until_ready(compiled(state))
        run_s += time.perf_counter() - began
        done += 1
    steps_per_chunk = per_chunk * config.steps_per_update
    rate = num_seeds * done * steps_per_chunk / run_s
    returns = np.asarray(metrics["episode_return"])
    return {
        "seeds": num_seeds,
        "chunks": done,
        "of_chunks": chunks,
        "fraction": done / chunks,
        "steps_per_seed": done * steps_per_chunk,
        "full_steps_per_seed": chunks * steps_per_chunk,
        "compile_s": compile_s,
        "run_s": run_s,
        "steps_per_s": rate,
        "wall_s": compile_s + run_s,
        "full_wall_s": compile_s + num_seeds * chunks * steps_per_chunk / rate,
        "projected": done < chunks,
        "final_return": float(np.nanmean(returns)) if np.isfinite(returns).any() else None,
    }


def _steps(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k"


def _training_row(label: str, run: dict, reference: str = "") -> dict:
    ran = "" if not run["projected"] else f" (ran {_steps(run['steps_per_seed'])} steps/seed)"
    wall = format_seconds(run["full_wall_s"]) + (" projected" if run["projected"] else "")
    outcome = f"{format_rate(run['steps_per_s'])} env steps/s"
    if not run["projected"] and run["final_return"] is not None:
        outcome += f", return {run['final_return']:.0f}"
    return {
        "measurement": f"{label}{ran}",
        "compile_s": run["compile_s"],
        "wall": wall,
        "result": outcome,
        "reference": reference,
        "data": run,
    }


def cartpole_pieces(quick: bool) -> list[Piece]:
    from pgjax.algorithms.ppo import PPOConfig

    config = PPOConfig.for_env("CartPole-v1", preset="classic")
    if quick:
        config = dataclasses.replace(config, total_steps=4 * config.steps_per_update)
    full = config.num_updates * config.steps_per_update
    seen: list[dict] = []  # the runs so far: the next seed count is predicted from the last

    def piece(num_seeds: int, weight: float, compile_ref: float, rate_ref: float) -> Piece:
        def measure(fraction: float, share: float) -> list[dict]:
            run = train_in_chunks(config, num_seeds, share, fraction)
            seen.append(run)
            reference = ""
            if num_seeds == 2048:
                ratio = run["full_wall_s"] / PUREJAXRL_2048_A100_S
                times = f"{ratio:.2f}" if ratio < 10 else f"{ratio:,.0f}"
                reference = f"PureJaxRL, A100: ≈{PUREJAXRL_2048_A100_S:.0f} s; ours {times}× that"
            label = f"CartPole-v1, {num_seeds} seed{'s' * (num_seeds > 1)} × {_steps(full)}"
            return [_training_row(label, run, reference)]

        def predict(fraction: float) -> float | None:
            # More seeds never lower the aggregate rate (a GPU fills up; a CPU stays level).
            if not seen:
                return None
            last = seen[-1]
            return 1.5 * last["compile_s"] + fraction * num_seeds * full / last["steps_per_s"]

        return Piece(
            "ppo_cartpole",
            f"CartPole-v1, {num_seeds} seed{'s' * (num_seeds > 1)}",
            compile_ref,
            num_seeds * full / rate_ref,
            measure,
            weight=weight,
            min_fraction=min(1.0, 2 / config.num_updates),
            latency_bound=num_seeds == 1,
            predict=predict,
        )

    # Reference rates: benchmarks/RESULTS.md's ppo_cartpole section, 2-core CPU, halved.
    if quick:
        return [piece(n, 1.0, 8.0, 1e5) for n in QUICK_CARTPOLE_SEEDS]
    return [
        piece(1, 1.0, 5.0, 1.2e5),
        piece(64, 1.0, 6.0, 3e5),
        piece(512, 2.0, 8.0, 3e5),
        piece(2048, 3.0, 10.0, 3e5),
    ]


def minatar_pieces(quick: bool) -> list[Piece]:
    from pgjax.algorithms.ppo import PPOConfig

    seeds = 2 if quick else MINATAR_SEEDS
    config = PPOConfig.for_env("Breakout-MinAtar", total_steps=MINATAR_STEPS)
    if quick:
        config = dataclasses.replace(
            config, num_envs=4, num_steps=16, hidden_sizes=(32, 32), total_steps=2 * 4 * 16
        )

    def measure(fraction: float, share: float) -> list[dict]:
        run = train_in_chunks(config, seeds, share, fraction)
        label = f"MinAtar Breakout, {seeds} seeds × {_steps(run['full_steps_per_seed'])}"
        return [_training_row(label, run)]

    return [
        Piece(
            "ppo_minatar",
            f"MinAtar Breakout, {seeds} seeds",
            10.0,
            seeds * config.num_updates * config.steps_per_update / 5e4,
            measure,
            weight=2.0,
            min_fraction=min(1.0, 2 / config.num_updates),
        )
    ]


def brax_pieces(quick: bool) -> list[Piece]:
    if importlib.util.find_spec("brax") is None:
        raise CannotRunError("brax is not installed (pip install brax)")
    from pgjax.algorithms.ppo import PPOConfig
    from pgjax.training.config import ConfigError

    try:
        config = PPOConfig.for_env(BRAX_ENV, total_steps=BRAX_STEPS)
        config.validate()
    except ConfigError as error:
        first = str(error).split(". ")[0].splitlines()[0][:160]
        raise CannotRunError(f"pgjax does not know {BRAX_ENV!r} yet ({first})") from None
    if quick:  # one update of a few environments
        config = dataclasses.replace(config, num_envs=config.num_minibatches)
        config = dataclasses.replace(config, total_steps=config.steps_per_update)
    preset = BRAX_ENV in PPOConfig.PRESETS
    task, _, pipeline = BRAX_ENV.partition("/")[2].partition(":")

    def ours(fraction: float, share: float) -> list[dict]:
        run = train_in_chunks(config, 1, share, fraction)
        label = f"pgjax PPO, {BRAX_ENV}, 1 seed × {_steps(run['full_steps_per_seed'])}"
        row = _training_row(label, run)
        row["reference"] = "pgjax's preset" if preset else "no brax/ant preset: pgjax defaults"
        row["data"]["config"] = config.to_dict()
        return [row]

    def theirs(fraction: float, share: float) -> list[dict]:
        steps = max(int(fraction * BRAX_STEPS), 1)
        return [brax_trainer_row(task, pipeline, steps, BRAX_ANT_SETTINGS)]

    pieces = [
        Piece(
            "brax_ant",
            f"pgjax PPO on {BRAX_ENV}",
            60.0,
            BRAX_STEPS / 2e4,
            ours,
            weight=2.0,
            min_fraction=0.02,
        )
    ]
    if not quick:  # Brax's trainer compiles for minutes on a CPU: not in the smoke test
        pieces.append(
            Piece(
                "brax_ant",
                "Brax's own PPO trainer on ant",
                120.0,
                BRAX_STEPS / 2e4,
                theirs,
                weight=2.0,
                min_fraction=0.1,
            )
        )
    return pieces


def brax_trainer_row(task: str, pipeline: str, steps: int, settings: dict) -> dict:
    """Brax's own PPO trainer on `brax.envs` task `task` (physics `pipeline`, "" for the
    task's default) for `steps` env steps with `settings`: the wall time of the whole call
    (compilation and evaluations included), its own `training/sps` and last evaluation return."""
    from brax import envs
    from brax.training.agents.ppo import train as brax_ppo

    patch_brax_for_jax()
    env = envs.get_environment(task, **({"backend": pipeline} if pipeline else {}))
    logged = []
    start = time.perf_counter()
    brax_ppo.train(
        environment=env,
        num_timesteps=steps,
        progress_fn=lambda step, metrics: logged.append((step, dict(metrics))),
        **settings,
    )
    wall = time.perf_counter() - start
    step, metrics = logged[-1]
    sps = float(metrics.get("training/sps", math.nan))
    returned = float(metrics.get("eval/episode_reward", math.nan))
    return {
        "measurement": f"Brax's own PPO trainer, {task}, {_steps(step)} steps",
        "wall": format_seconds(wall),
        "result": f"{format_rate(sps)} env steps/s (its training/sps), eval return {returned:.0f}",
        "reference": "Brax's published ant settings; wall includes compile and its evaluations",
        "data": {"steps": step, "wall_s": wall, "metrics": metrics},
    }


def rlhf_pieces(quick: bool) -> list[Piece]:
    from benchmarks.rlhf_throughput import measure_point

    widths = QUICK_RLHF_WIDTHS if quick else RLHF_WIDTHS
    length = 8 if quick else RLHF_LENGTH
    repeats = 1 if quick else 3

    def piece(width: int) -> Piece:
        def measure(fraction: float, share: float) -> list[dict]:
            d = measure_point("ppo", width, length, repeats)
            return [
                {
                    "measurement": f"RLHF PPO, width {width} ({d['parameters']:,} parameters), "
                    f"64 × {length} tokens",
                    "compile_s": d["sample_compile_s"] + d["update_compile_s"],
                    "wall": f"{format_seconds(d['sample_s'])} sampling, "
                    f"{format_seconds(d['update_s'])} update",
                    "result": f"{format_rate(d['sample_tokens_per_s'])} tokens/s sampling, "
                    f"{format_rate(d['update_tokens_per_s'])} tokens/s update",
                    "reference": "",
                    "data": d,
                }
            ]

        # Reference: RESULTS.md's rlhf_throughput (2-core CPU); the update grows ≈ width².
        update_s = 0.05 * (width / 64) ** 2
        return Piece("rlhf", f"RLHF, width {width}", 12.0, (1 + repeats) * update_s * 1.5, measure)

    return [piece(w) for w in widths]


def log_prob_pieces(quick: bool) -> list[Piece]:
    import pgjax

    if not hasattr(pgjax, "chunked_log_probs"):
        raise CannotRunError("pgjax.chunked_log_probs does not exist yet")
    from benchmarks.token_log_probs import CHUNK, measure_point

    length, batch = QUICK_LOG_PROB_SHAPE if quick else LOG_PROB_SHAPE
    width = QUICK_LOG_PROB_WIDTH if quick else LOG_PROB_WIDTH

    def measure(fraction: float, share: float) -> list[dict]:
        point = measure_point(max(1, int(fraction * length)), batch, width, VOCAB, repeats=3)
        rows = []
        for name in ("naive", "chunked"):
            d = point[name]
            rows.append(
                {
                    "measurement": f"token log-probs, {name}: N = {point['N']:,} positions, "
                    f"D = {width}, V = {VOCAB:,}, value and gradient",
                    "compile_s": d["compile_s"],
                    "wall": format_seconds(d["run_s"]),
                    "result": f"{d['peak_bytes'] / 2**20:,.0f} MiB peak (XLA temp + output)",
                    "reference": ""
                    if name == "naive"
                    else f"chunk {CHUNK}; {point['time_ratio']:.2f}× naive's time",
                    "data": point if name == "chunked" else d,
                }
            )
        return rows

    # A value and gradient costs ≈ 8·N·D·V flops (the chunked one recomputes the logits), both
    # programs, warm-up and 3 calls; the reference CPU does ≈ 2e10 flop/s.
    run_ref = 2 * 4 * 8 * length * batch * width * VOCAB / 2e10
    return [
        Piece(
            "token_log_probs",
            "token log-probs, naive and chunked",
            10.0,
            run_ref,
            measure,
            min_fraction=1 / 64,
        )
    ]


def sac_pieces(quick: bool) -> list[Piece]:
    from benchmarks.pg_vs_q import first_reach, train_with_curves

    seeds = 1 if quick else SAC_SEEDS
    steps = 500 if quick else SAC_STEPS
    evaluations = 2 if quick else SAC_EVALUATIONS

    def measure(fraction: float, share: float) -> list[dict]:
        _, curves, grid, compile_s, run_s = train_with_curves(
            "sac", "Pendulum-v1", {"total_steps": steps}, seeds, evaluations
        )
        index = first_reach(curves, SAC_THRESHOLD)
        reached = index >= 0
        # A seed's wait: compile, then the run's share up to its first evaluation at -200.
        waits = np.where(reached, compile_s + run_s * grid[index] / grid[-1], np.inf)
        if reached.all():
            wall = f"{format_seconds(float(np.median(waits)))} median, "
            wall += f"{format_seconds(float(waits.max()))} slowest seed"
        elif reached.any():
            wall = f"{format_seconds(float(waits[reached].min()))} first seed"
        else:
            wall = f"not reached in {format_seconds(compile_s + run_s)}"
        return [
            {
                "measurement": f"SAC Pendulum-v1, {seeds} seeds × {_steps(grid[-1])} steps "
                f"(evaluated every {_steps(grid[0])})",
                "compile_s": compile_s,
                "wall": wall,
                "result": f"{int(reached.sum())}/{seeds} reached -200; run {format_seconds(run_s)}",
                "reference": "",
                "data": {
                    "compile_s": compile_s,
                    "run_s": run_s,
                    "evaluation_steps": grid,
                    "curves": curves,
                    "wait_s": waits,
                },
            }
        ]

    # Reference: benchmarks/RESULTS.md's pg_vs_q (16 seeds, 2e4 steps, 2-core CPU), doubled.
    return [
        Piece(
            "sac_pendulum",
            f"SAC Pendulum-v1, {seeds} seed{'s' * (seeds > 1)}",
            30.0,
            (seeds / 16) * (steps / 1e4) * 80.0,
            measure,
            weight=2.0,
            latency_bound=True,
        )
    ]


PIECES = {
    "ppo_cartpole": cartpole_pieces,
    "ppo_minatar": minatar_pieces,
    "brax_ant": brax_pieces,
    "rlhf": rlhf_pieces,
    "token_log_probs": log_prob_pieces,
    "sac_pendulum": sac_pieces,
}


# --------------------------------------------------------------------------------------------
# Running and reporting


def measure_all(quick: bool, budget: Budget, save: Callable[[dict], None]) -> dict:
    """Every item's pieces in order, within `budget`; calls `save(data)` after each piece."""
    items, pieces = {}, []
    for item, make in PIECES.items():
        try:
            made = make(quick)
        except CannotRunError as reason:
            items[item] = {"status": "skipped", "reason": str(reason)}
            continue
        items[item] = {"status": "pending", "reason": ""}
        pieces += made
    rows = []
    data = {"items": items, "rows": rows, "budget_s": budget.seconds}
    for index, piece in enumerate(pieces):
        weights = sum(p.weight for p in pieces[index:])
        share = budget.left() * piece.weight / weights
        fraction = budget.fraction(piece, share)
        status = items[piece.item]
        name = f"{piece.item} ({piece.label})"
        if fraction is None:
            need = budget.predict(piece, piece.min_fraction)
            reason = f"not measured: needs ≈{need:.0f} s, {max(budget.left(), 0):.0f} s left"
            print(f"{name}: {reason}", flush=True)
            rows.append({"item": piece.item, "measurement": piece.label, "note": reason})
            status["not_measured"] = [*status.get("not_measured", []), piece.label]
            continue
        predicted = budget.predict(piece, fraction)
        print(f"{name}: share {share:.0f} s, predicted {predicted:.0f} s", flush=True)
        start = time.perf_counter()
        try:
            made = piece.measure(fraction, share)
        except Exception as error:  # one broken piece must not lose the slot's other figures
            traceback.print_exc()
            reason = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
            rows.append({"item": piece.item, "measurement": piece.label, "note": reason})
            status["failed"] = [*status.get("failed", []), f"{piece.label} ({reason})"]
            continue
        seconds = time.perf_counter() - start
        ran = made[0].get("data", {}).get("fraction", fraction) if made else fraction
        budget.record(piece, ran, sum(r.get("compile_s", 0.0) for r in made), seconds)
        for row in made:
            row.update(item=piece.item, seconds=seconds, predicted_s=predicted)
        rows += made
        status["measured"] = [*status.get("measured", []), piece.label]
        print(f"{name}: took {seconds:.0f} s; {budget.left():.0f} s left", flush=True)
        save(data)
    for status in items.values():
        if status["status"] == "pending":
            status["status"] = "measured" if status.get("measured") else "not measured"
            reasons = []
            if status.get("not_measured"):
                reasons.append(f"not measured: {', '.join(status['not_measured'])}")
            if status.get("failed"):
                reasons.append(", ".join(status["failed"]))
            status["reason"] = "; ".join(reasons)
            if status.get("failed") and not status.get("measured"):
                status["status"] = "failed"
    return data


def report(data: dict, info: dict, quick: bool) -> dict:
    """The table, notes and headline of `measure_all`'s data (`result(...)`)."""
    rows = []
    for number, item in enumerate(ITEMS, 1):
        status = data["items"][item]
        if status["status"] == "skipped":
            rows.append([number, ITEMS[item], "—", "—", "—", f"skipped: {status['reason']}"])
        for row in (r for r in data["rows"] if r["item"] == item):
            compile_s = row.get("compile_s")
            rows.append(
                [
                    number,
                    row["measurement"],
                    format_seconds(compile_s) if compile_s is not None else "—",
                    row.get("wall", "—"),
                    row.get("result", "—"),
                    row.get("reference") or row.get("note", ""),
                ]
            )
    table = markdown_table(
        ["#", "measurement", "compile", "wall time", "result", "reference / note"],
        rows,
        align="rlrrll",
    )
    unmeasured = [
        f"{ITEMS[item]} ({status['reason'] or status['status']})"
        for item, status in data["items"].items()
        if status["status"] != "measured" or status["reason"]
    ]
    notes = (
        f"One command, `python -m benchmarks.accelerator`, within a {data['budget_s']:.0f} s "
        "budget; items in order of importance. Wall time = compile + run of the whole batch "
        "of seeds in one program (`across_devices`: plain `vmap` on one device), called once "
        'per chunk of updates (16 or more) as the driver runs it; "projected": the budget let '
        "fewer chunks run, and the full run's time is compile + its env steps / the measured "
        "rate. Returns: the training episodes that ended in the last chunk, mean over seeds. "
        "PureJaxRL's figure is read off its README's plot "
        "(2048 agents × 5e5 steps, A100, compile included). SAC: wall time to the first "
        "evaluation (10 episodes, deterministic policy) at -200, compile included, all seeds in "
        "one program. "
        "Token log-probs: peak = temp + output bytes of the compiled value-and-gradient "
        "program (XLA's memory analysis; the outputs include the [D, V] gradient), time the "
        "median of 3 calls."
    )
    if unmeasured:
        notes += "\n\nNot (fully) measured: " + "; ".join(unmeasured) + "."
    headline = ""
    if info["jax_backend"] != "cpu" and not quick:  # on a CPU the other benchmarks have them
        cartpole = [r for r in data["rows"] if r["item"] == "ppo_cartpole" and "data" in r]
        if cartpole:
            largest = cartpole[-1]["data"]
            headline = (
                f"PPO CartPole-v1, {largest['seeds']} seeds × "
                f"{_steps(largest['full_steps_per_seed'])} steps in one program: "
                f"{format_seconds(largest['full_wall_s'])}"
                f"{' (projected)' if largest['projected'] else ''} compile included, "
                f"{format_rate(largest['steps_per_s'])} env steps/s"
            )
    return result(NAME, table, data, title=TITLE, notes=notes, headline=headline)


def run(
    quick: bool = False,
    out_dir: Path | None = None,
    smoke: bool = False,
    budget_seconds: float = DEFAULT_BUDGET_S,
    start: float | None = None,
) -> dict:
    """Measures every item within `budget_seconds` (counted from `start`, default now) and
    returns `benchmarks.common.result(...)`; writes `OUT/accelerator-BACKEND.json` as it goes
    (`out_dir` None: not written). `smoke` (the `benchmarks.run` contract) is `quick`: its
    sizes are already the smallest that go through every item."""
    import jax

    from benchmarks.common import machine_info

    quick = quick or smoke

    info = machine_info()
    budget = Budget(budget_seconds, start)
    path = None if out_dir is None else Path(out_dir) / f"{NAME}-{jax.default_backend()}.json"

    def save(data: dict, final: dict | None = None) -> None:
        if path is not None:
            record = final or {"name": NAME, "data": data, "complete": False}
            write_json(path, {**record, "mode": "quick" if quick else "full", "machine": info})

    data = measure_all(quick, budget, save)
    output = report(data, info, quick)
    output["machine"] = info
    save(data, {**output, "complete": True, "seconds": budget.seconds - budget.left()})
    return output


def main(argv: list[str] | None = None) -> int:
    start = time.perf_counter()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accelerator", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=DEFAULT_BUDGET_S,
        help=f"wall-clock budget, start-up included (default {DEFAULT_BUDGET_S:.0f})",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where the JSON goes")
    parser.add_argument("--no-results", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args(argv)
    if args.budget_seconds <= 0:
        parser.error(f"--budget-seconds must be positive, got {args.budget_seconds}.")
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    if args.quick:  # a smoke test, whose figures mean nothing: compile faster
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {QUICK_XLA_FLAGS}".strip()

    from benchmarks.common import device_label
    from pgjax.training.parallel import use_cpu_cores

    use_cpu_cores()  # on a CPU, one JAX device per core, as the CLI runs seeds
    output = run(args.quick, args.out, budget_seconds=args.budget_seconds, start=start)
    info = output.pop("machine")
    seconds = time.perf_counter() - start
    mode = "quick" if args.quick else "full"
    print(f"\n# pgjax on {device_label(info)} ({mode}, {seconds:.0f} s)\n")
    print(output["table"] + "\n\n" + output["notes"] + "\n")
    backend = info["jax_backend"]
    print(f"JSON: {args.out / f'{NAME}-{backend}.json'}")
    if not args.no_results:
        from benchmarks.run import publish

        publish(output, info, mode, seconds, command="python -m benchmarks.accelerator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
