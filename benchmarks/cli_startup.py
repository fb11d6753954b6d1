"""How long the command line takes to answer before it computes anything: `pgjax --help` and
`pgjax train ppo --help`, each a fresh interpreter, median of several runs (wall time, the
interpreter's own start-up included; `python -c pass` alongside for scale).

Target (issue 21): under 0.5 s, which needs both to answer without importing JAX.

    python -m benchmarks.run cli_startup
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import format_seconds, markdown_table, result

NAME = "cli_startup"
TARGET_S = 0.5
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "pgjax --help": [sys.executable, "-m", "pgjax.cli", "--help"],
    "pgjax train ppo --help": [sys.executable, "-m", "pgjax.cli", "train", "ppo", "--help"],
    "pgjax rlhf grpo --help": [sys.executable, "-m", "pgjax.cli", "rlhf", "grpo", "--help"],
}


def _seconds(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; the CPU time (user + system of the child) does not
    depend on what else the machine runs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    repeats = 1 if smoke else 3 if quick else 9
    data, rows = {}, []
    for label, command in COMMANDS.items():
        _seconds(command)  # warm the file cache
        times = [_seconds(command) for _ in range(repeats)]
        median = statistics.median(wall for wall, _ in times)
        cpu = statistics.median(cpu for _, cpu in times)
        data[label] = {"median_s": median, "median_cpu_s": cpu, "runs_s": times}
        met = "—" if label.startswith("python") else ("met" if median < TARGET_S else "**not met**")
        rows.append([label, format_seconds(median), format_seconds(cpu), met])
    headers = ["command", f"median wall time ({repeats} runs)", "CPU time", "wall < 0.5 s"]
    table = markdown_table(headers, rows)
    worst = max(v["median_s"] for k, v in data.items() if not k.startswith("python"))
    return result(
        NAME,
        table,
        data,
        title="Command-line start-up",
        notes="Each command in a fresh interpreter; the help never imports JAX, NumPy or an "
        "environment suite (tests/runs/test_registry.py checks the imports).",
        headline=f"`pgjax --help` and `pgjax train ppo --help` answer in at most "
        f"{format_seconds(worst)} (target < 0.5 s: {'met' if worst < TARGET_S else 'not met'})",
    )


if __name__ == "__main__":
    from benchmarks.run import main

    sys.exit(main([NAME, *sys.argv[1:]]))
