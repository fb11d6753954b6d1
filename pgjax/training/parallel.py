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

import inspect
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
    fn: Callable,
    num_runs: int,
    devices: Sequence[jax.Device] | None = None,
    *,
    in_axes: int | tuple[int | None, ...] = 0,
) -> Callable:
    """`jax.jit(jax.vmap(fn, in_axes))` for `num_runs` runs, the runs split evenly across devices.

    Args:
      fn: one run's function, e.g. `train(key, hyperparams=None) -> (state, metrics)` from an
        algorithm's `make_train`.
      num_runs: static int R, the leading axis of every mapped argument (the keys, every
        hyperparameter array, a batch of states).
      devices: where to run (default: `jax.devices()`). The runs go to the largest number of
        them that divides R, gcd(R, len(devices)).
      in_axes: as for `jax.vmap`, 0 or None per positional argument (None: the same value for
        every run, e.g. a loop bound).

    Returns:
      a jitted function of the same arguments returning the `vmap`ped outputs, every leaf with
      leading axis R. `.lower(*args).compile()` compiles it ahead of time.
    """
    if num_runs < 1:
        raise ValueError(f"num_runs must be >= 1, got {num_runs}.")
    devices = list(jax.devices() if devices is None else devices)
    num_devices = math.gcd(num_runs, len(devices))
    parameters = list(inspect.signature(fn).parameters)
    batched = jax.vmap(fn, in_axes=in_axes)
    if num_devices > 1:
        mesh = Mesh(np.asarray(devices[:num_devices]), ("runs",))
        runs = PartitionSpec("runs")
        in_specs = runs
        if isinstance(in_axes, tuple):
            in_specs = tuple(PartitionSpec() if axis is None else runs for axis in in_axes)
        # check_vma=False: the runs never communicate, so the varying-axes check has nothing to
        # protect, and it would ask every scan carry of every algorithm to be marked.
        batched = jax.shard_map(
            batched, mesh=mesh, in_specs=in_specs, out_specs=runs, check_vma=False
        )

    def run(*args):
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
        for index, (arg, axis) in enumerate(zip(args, axes, strict=False)):
            if axis is None:
                continue
            name = parameters[index] if index < len(parameters) else f"argument {index}"
            for path, leaf in jax.tree_util.tree_leaves_with_path(arg):
                if np.ndim(leaf) < 1 or np.shape(leaf)[0] != num_runs:
                    raise ValueError(
                        f"{name}{jax.tree_util.keystr(path)} must have a leading axis of "
                        f"num_runs={num_runs} runs, got shape {np.shape(leaf)}."
                    )
        return batched(*args)

    return jax.jit(run)
