"""Many training runs in one compiled program: `vmap` over seeds and hyperparameters, with the
runs split across devices.

    from pgjax.parallel import across_devices, use_cpu_cores

    use_cpu_cores()                            # on a CPU, before JAX computes anything
    run = across_devices(make_train(config), num_runs=64)
    states, metrics = run(jax.random.split(key, 64))          # as jax.vmap(train)(keys)

The runs are independent, so each device trains its share with no communication and the
result equals `jax.vmap(train)(keys, hyperparams)`. On one GPU this is plain `vmap`; on a CPU it
is how the runs use more than one core: XLA:CPU runs a vmapped (batched) matmul on one thread,
so `vmap` alone gains from amortising per-step overheads but not from the other cores.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec


def use_cpu_cores(num_devices: int | None = None) -> int:
    """Shows the CPU to JAX as `num_devices` devices (default: one per available core), so
    `across_devices` can run training runs in parallel on them. Nothing changes for GPUs or
    TPUs, which stay the default devices.

    The CPU backend reads this once, when it starts: call it first thing, before anything
    computes (importing gymnax does: some of its environments build arrays at import). Called
    too late it warns, changes nothing, and returns the number of CPU devices JAX already has.

    Returns:
      the number of CPU devices JAX has (or will have).
    """
    if num_devices is None:
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        num_devices = len(cores) if cores else os.cpu_count() or 1
    if num_devices < 1:
        raise ValueError(f"num_devices must be >= 1, got {num_devices}.")
    try:
        jax.config.update("jax_num_cpu_devices", num_devices)
    except RuntimeError:  # the backend already started
        have = len(jax.devices("cpu"))
        if have != num_devices:
            warnings.warn(
                f"use_cpu_cores({num_devices}): JAX's CPU backend already started with {have} "
                "device(s), so that stays. Call use_cpu_cores() before anything computes "
                "(before importing gymnax or pgjax.envs).",
                stacklevel=2,
            )
        return have
    return num_devices


def across_devices(
    train: Callable, num_runs: int, devices: Sequence[jax.Device] | None = None
) -> Callable:
    """`jax.jit(jax.vmap(train))` for `num_runs` runs, the runs split evenly across devices.

    Args:
      train: `train(key, hyperparams=None) -> (state, metrics)`, e.g. from an algorithm's
        `make_train`.
      num_runs: static int R, the leading axis of the keys (and of every hyperparameter array).
      devices: where to run (default: `jax.devices()`). The runs go to the largest number of
        them that divides R, gcd(R, len(devices)).

    Returns:
      a jitted `run(keys [R], hyperparams=None)` returning the `vmap`ped `(states, metrics)`,
      every leaf with leading axis R. `run.lower(keys).compile()` compiles it ahead of time.
    """
    if num_runs < 1:
        raise ValueError(f"num_runs must be >= 1, got {num_runs}.")
    devices = list(jax.devices() if devices is None else devices)
    num_devices = math.gcd(num_runs, len(devices))
    batched = jax.vmap(train)
    if num_devices > 1:
        mesh = Mesh(np.asarray(devices[:num_devices]), ("runs",))
        runs = PartitionSpec("runs")
        # check_vma=False: the runs never communicate, so the varying-axes check has nothing to
        # protect, and it would ask every scan carry of every algorithm to be marked.
        batched = jax.shard_map(batched, mesh=mesh, in_specs=runs, out_specs=runs, check_vma=False)

    def run(keys: jax.Array, hyperparams: dict | None = None):
        for name, leaf in [("keys", keys), *_named_leaves(hyperparams)]:
            if np.ndim(leaf) < 1 or np.shape(leaf)[0] != num_runs:
                raise ValueError(
                    f"{name} must have a leading axis of num_runs={num_runs} runs, got shape "
                    f"{np.shape(leaf)}."
                )
        return batched(keys, hyperparams)

    return jax.jit(run)


def _named_leaves(hyperparams: dict | None) -> list[tuple[str, object]]:
    if hyperparams is None:
        return []
    return [(f"hyperparams[{name!r}]", value) for name, value in hyperparams.items()]
