"""One run over several devices: PPO's throughput with each run's environments and minibatches
split over 1, 2, … devices (`across_devices(..., envs_devices=D)`), and the scaling efficiency
(throughput on D devices / (D × throughput on 1)).

PPO on CartPole-v1 with 64 and 256 environments × 128 steps, 4 epochs × 4 minibatches (so
minibatches of 2048 and 8192 samples: big enough to split), one seed, compilation excluded,
median of `repeats` runs; the device counts alternate within each round. On a CPU the devices
are its cores (`use_cpu_cores`); on a machine with GPUs, its GPUs.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

ENVS = (64, 256)


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    import jax
    import numpy as np

    from benchmarks.common import format_rate, format_seconds, markdown_table, result
    from pgjax.algorithms.ppo import PPO, PPOConfig
    from pgjax.training.parallel import across_devices

    repeats = 1 if smoke else 2 if quick else 5
    device_counts = [d for d in (1, 2, 4, 8) if d <= len(jax.devices())]
    keys = jax.vmap(jax.random.key)(np.zeros(1, np.uint32))
    rows, data = [], {}
    # Smoke: 8 environments × 8 steps, split over up to 8 devices, one update.
    num_steps = 8 if smoke else 128
    for num_envs in (8,) if smoke else ENVS:
        updates = 1 if smoke else 2 if quick else 8
        config = PPOConfig.for_env(
            "CartPole-v1",
            num_envs=num_envs,
            num_steps=num_steps,
            total_steps=num_envs * num_steps * updates,
        )
        compiled = {}
        for d in device_counts:
            fn = across_devices(PPO.make_train(config), 1, envs_devices=d)
            start = time.perf_counter()
            compiled[d] = fn.lower(keys).compile()
            jax.block_until_ready(compiled[d](keys))
            data[f"{num_envs}/{d}/compile_s"] = time.perf_counter() - start
        times = {d: [] for d in device_counts}
        for _ in range(repeats):
            for d in device_counts:
                start = time.perf_counter()
                jax.block_until_ready(compiled[d](keys))
                times[d].append(time.perf_counter() - start)
        steps = config.num_updates * config.steps_per_update
        base = steps / statistics.median(times[1])
        for d in device_counts:
            rate = steps / statistics.median(times[d])
            efficiency = rate / (d * base)
            data[f"{num_envs}/{d}"] = {
                "run_s": times[d],
                "steps_per_s": rate,
                "efficiency": efficiency,
            }
            rows.append(
                [
                    str(num_envs),
                    str(d),
                    format_seconds(statistics.median(times[d])),
                    format_rate(rate),
                    f"{rate / base:.2f}×",
                    f"{efficiency:.0%}",
                ]
            )
    table = markdown_table(
        ["envs", "devices", "run (median)", "env steps/s", "speed-up", "efficiency"], rows
    )
    split = [
        (v["steps_per_s"] / data[f"{k.split('/')[0]}/1"]["steps_per_s"], k)
        for k, v in data.items()
        if isinstance(v, dict) and not k.endswith("/1")
    ]
    best = max(split) if split else (1.0, f"{ENVS[-1]}/1")
    notes = (
        "PPO on CartPole-v1, one seed, 128 steps per environment per update, 4 epochs × 4 "
        f"minibatches; median of {repeats} runs, compilation excluded. Efficiency = throughput "
        "on D devices / (D × throughput on one)."
    )
    headline = (
        f"One PPO run split over devices: {best[0]:.2f}× the throughput of one device at "
        f"{best[1].split('/')[0]} envs on {best[1].split('/')[1]} devices"
    )
    return result(
        "data_parallel",
        table,
        data,
        title="Data-parallel single run: throughput on 1 vs several devices",
        notes=notes,
        headline=headline,
    )


if __name__ == "__main__":
    import sys

    from benchmarks.run import main

    sys.exit(main(["data_parallel", *sys.argv[1:]]))
