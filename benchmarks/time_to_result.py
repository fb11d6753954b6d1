"""Time to a result: wall time from process start until PPO on CartPole-v1 has reached an
evaluation return of 475 and the process has exited, pgjax's command line against
Stable-Baselines3's PPO, same machine, same run.

* pgjax, cold: `pgjax train ppo --target-return 475` with an empty compilation cache;
* pgjax, warm: the same command again (another seed), the cache now holding its programs;
* Stable-Baselines3: PPO with rl-baselines3-zoo's tuned CartPole-v1 hyperparameters (n_envs 8,
  n_steps 32, batch 256, 20 epochs, γ 0.98, λ 0.8, lr and clip lin_0.001 / lin_0.2), one torch
  thread, evaluated every 2,048 steps, stopping at the first evaluation ≥ 475.

Both evaluate the deterministic policy on 10 fresh episodes and stop at the first mean ≥ 475
(pgjax at chunk boundaries, every ≈0.25 s of training); each is a fresh Python process, timed
by this one from launch to exit, so interpreter start-up, imports, compilation, evaluation and
the writing of results all count. The order of the three alternates seed by seed.

Where pgjax's seconds go, per run: imports (every module the main thread imported, from a
separate run of the same command under `python -X importtime`; matplotlib, imported by a thread
of its own while the command compiles, apart), compilation (the training
programs and the target's evaluation, as the command reports it), training (the session's run
time), the final evaluation's compilation, and the rest (interpreter start-up, writing results,
the final evaluation and the figure).

Targets (issue 27): warm ≤ 0.5× Stable-Baselines3's time, cold ≤ 1.0×.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = "time_to_result"
THRESHOLD = 475.0
SB3_MAX_STEPS = 500_000  # SB3 stops there if it has not reached the threshold (pgjax: its
# CartPole-v1 configuration's total_steps)
SMOKE_STEPS = 1_024  # smoke mode: both stop after this many steps

# Run as `python -c`, so that SB3's process is timed like pgjax's: from interpreter start.
SB3_SCRIPT = """
import sys, json, time
import torch
torch.set_num_threads(1)
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

seed, max_steps = int(sys.argv[1]), int(sys.argv[2])

class StopAtThreshold(BaseCallback):
    def __init__(self, eval_env):
        super().__init__()
        self.eval_env, self.next_eval, self.result = eval_env, 2048, None

    def _on_rollout_start(self):
        if self.num_timesteps >= self.next_eval:
            self.next_eval += 2048
            returns, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10,
                                         deterministic=True, return_episode_rewards=True)
            if sum(returns) / len(returns) >= THRESHOLD:
                self.result = self.num_timesteps

    def _on_step(self):
        return self.result is None

linear = lambda start: (lambda remaining: remaining * start)
env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
            n_epochs=20, ent_coef=0.0, learning_rate=linear(0.001), clip_range=linear(0.2),
            seed=seed, device="cpu", verbose=0)
callback = StopAtThreshold(make_vec_env("CartPole-v1", n_envs=10, seed=10_000 + seed))
model.learn(total_timesteps=max_steps, callback=callback)
print(json.dumps({"reached": callback.result is not None, "env_steps": callback.result}))
""".replace("THRESHOLD", str(THRESHOLD))


def _timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - start, done


def _pgjax(seed: int, cache: Path, out: Path, max_steps: int | None) -> dict:
    argv = [
        sys.executable, "-m", "pgjax.cli", "train", "ppo", "--target-return", str(THRESHOLD),
        "--seed", str(seed), "--out", str(out), "--compile-cache", str(cache),
        "--no-progress", "--no-tensorboard", "--eval-episodes", "10",
    ]  # fmt: skip
    if max_steps is not None:
        argv += ["--total-steps", str(max_steps)]
    seconds, done = _timed(argv)
    if done.returncode != 0:
        raise RuntimeError(f"pgjax failed: {done.stderr[-2000:]}")
    status = json.loads((out / "status.json").read_text())
    session = re.search(r"compile ([\d.]+) s, run ([\d.]+) s", done.stdout)
    evaluation = re.search(r"evaluation \(.*compile ([\d.]+) s\)", done.stdout)
    return {
        "wall_s": seconds,
        "reached": status["status"] == "target_reached",
        "env_steps": status["env_steps"],
        "run_s": status["run_seconds"],
        "compile_s": float(session.group(1)) if session else None,
        "eval_compile_s": float(evaluation.group(1)) if evaluation else None,
    }


def _import_seconds(seed: int, cache: Path, out: Path) -> tuple[float, float]:
    """The seconds the command spends importing: the top-level entries of `-X importtime`
    (each includes what it imported), in a run of its own (not timed); as `(main thread,
    background)`, the background being matplotlib, which the command imports in a thread of
    its own while it compiles and trains."""
    argv = [
        sys.executable, "-X", "importtime", "-m", "pgjax.cli", "train", "ppo",
        "--target-return", str(THRESHOLD), "--seed", str(seed), "--out", str(out),
        "--compile-cache", str(cache), "--no-progress", "--no-tensorboard",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    main, background = 0, 0
    for line in done.stderr.splitlines():
        fields = line.split("|")
        top_level = len(fields) == 3 and fields[2][1:2] != " "  # names are indented by depth
        if line.startswith("import time:") and top_level and fields[1].strip().isdigit():
            if fields[2].strip().startswith("matplotlib"):
                background += int(fields[1])
            else:
                main += int(fields[1])
    return main / 1e6, background / 1e6


def _sb3(seed: int, max_steps: int) -> dict:
    seconds, done = _timed([sys.executable, "-c", SB3_SCRIPT, str(seed), str(max_steps)])
    if done.returncode != 0:
        raise RuntimeError(f"Stable-Baselines3 failed: {done.stderr[-2000:]}")
    return {"wall_s": seconds, **json.loads(done.stdout.strip().splitlines()[-1])}


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    from benchmarks.common import format_seconds, markdown_table, result, skipped

    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        return skipped(NAME, "Stable-Baselines3 is not installed (pip install -e '.[bench]')")
    seeds = [0] if smoke else [0, 1] if quick else [0, 1, 2, 3, 4]
    pgjax_steps, sb3_steps = (SMOKE_STEPS, SMOKE_STEPS) if smoke else (None, SB3_MAX_STEPS)
    runs: dict[str, list[dict]] = {"pgjax, cold": [], "pgjax, warm": [], "Stable-Baselines3": []}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for seed in seeds:
            cache = scratch / f"cache-{seed}"  # empty: cold
            order = ["cold", "warm", "sb3"] if seed % 2 == 0 else ["sb3", "cold", "warm"]
            for kind in order:
                if kind == "sb3":
                    runs["Stable-Baselines3"].append(_sb3(seed, sb3_steps))
                else:  # warm: a second seed's run on the cache the cold run filled
                    trial = seed if kind == "cold" else seed + 1000
                    out = scratch / f"{kind}-{seed}"
                    runs[f"pgjax, {kind}"].append(_pgjax(trial, cache, out, pgjax_steps))
        # Imports, in a run of each kind of its own (the cache of the first seed now warm);
        # not in a smoke run, which only checks that the benchmark runs.
        imports = {"pgjax, cold": 0.0, "pgjax, warm": 0.0}
        background = dict(imports)
        if not smoke:
            for label, seed in (("pgjax, cold", 99), ("pgjax, warm", 98)):
                out = scratch / f"imports-{seed}"
                seconds = _import_seconds(seed, scratch / "cache-imports", out)
                imports[label], background[label] = seconds
    medians = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
    split_rows = []
    for label in ("pgjax, cold", "pgjax, warm"):
        trials = runs[label]
        part = {
            key: statistics.median(r[key] or 0.0 for r in trials)
            for key in ("compile_s", "run_s", "eval_compile_s")
        }
        rest = medians[label] - imports[label] - sum(part.values())
        split_rows.append(
            [label, format_seconds(medians[label]), format_seconds(imports[label])]
            + [format_seconds(part[k]) for k in ("compile_s", "run_s", "eval_compile_s")]
            + [format_seconds(rest)]
        )
    rows = []
    for label, trials in runs.items():
        reached = sum(r["reached"] for r in trials)
        steps = [r["env_steps"] for r in trials if r["reached"]]
        rows.append(
            [
                label,
                format_seconds(medians[label]),
                f"{min(r['wall_s'] for r in trials):.1f}-{max(r['wall_s'] for r in trials):.1f} s",
                f"{statistics.median(steps):,.0f}" if steps else "—",
                f"{reached}/{len(trials)}",
                f"{medians[label] / medians['Stable-Baselines3']:.2f}×",
            ]
        )
    table = markdown_table(
        ["program", "time to 475 (median)", "range", "env steps", "reached", "vs SB3"], rows
    )
    split = markdown_table(
        ["pgjax", "total", "imports", "compile (training + target evaluation)", "training",
         "final evaluation compile", "rest"],
        split_rows,
    )  # fmt: skip
    table = f"{table}\n\nWhere pgjax's seconds go (medians):\n\n{split}"
    cold = medians["pgjax, cold"] / medians["Stable-Baselines3"]
    warm = medians["pgjax, warm"] / medians["Stable-Baselines3"]
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    fastest = min(r["wall_s"] for r in runs["Stable-Baselines3"])
    notes = (
        f"{len(seeds)} seeds each, wall time from process launch to exit. Targets (issue 27): "
        f"cold ≤ 1.0× SB3: {cold:.2f}× ({verdict(cold <= 1.0)}); warm ≤ 0.5× SB3: "
        f"{warm:.2f}× ({verdict(warm <= 0.5)}). SB3's time depends on how many steps its seed "
        f"needs, so its median moves from run to run of this benchmark; against its fastest "
        f"run here ({fastest:.1f} s): cold {medians['pgjax, cold'] / fastest:.2f}×, warm "
        f"{medians['pgjax, warm'] / fastest:.2f}×. Imports: the main thread's; matplotlib "
        f"({background['pgjax, warm']:.2f} s warm), imported by a thread of its own while the "
        "command compiles and trains, is not counted."
    )
    headline = (
        f"Time to a CartPole-v1 return of 475 from process start: pgjax "
        f"{medians['pgjax, cold']:.1f} s cold, {medians['pgjax, warm']:.1f} s warm (compilation "
        f"cache), Stable-Baselines3 {medians['Stable-Baselines3']:.1f} s ({cold:.2f}× and "
        f"{warm:.2f}×)"
    )
    return result(
        NAME,
        table,
        {
            "runs": runs,
            "medians": medians,
            "imports": imports,
            "background_imports": background,
            "cold_ratio": cold,
            "warm_ratio": warm,
        },
        title="Time to result: PPO on CartPole-v1 to 475, pgjax vs Stable-Baselines3",
        notes=notes,
        headline=headline,
    )
