"""Many training runs in one compiled program: `vmap` over seeds and hyperparameters, with the
runs split across devices.

    from pgjax.training.parallel import across_devices, use_cpu_cores

    use_cpu_cores()                            # on a CPU, before JAX computes anything
    run = across_devices(make_train(config), num_runs=64)
    states, metrics = run(jax.random.split(key, 64))          # as jax.vmap(train)(keys)

The runs are independent, so each device trains its share with no communication and the
result equals `jax.vmap(train)(keys, hyperparams)` up to floating-point rounding (a device's
smaller batch may be reduced in another order; the same layout reruns bit for bit). On one GPU
this is plain `vmap`; on a CPU it is how the runs use more than one core: XLA:CPU runs a
vmapped (batched) matmul on one thread, so `vmap` alone gains from amortising per-step
overheads but not from the other cores.
"""

from __future__ import annotations

import inspect
import math
import os
import warnings
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


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


RUNS, ENVS = "runs", "envs"  # the mesh axes: independent runs, and one run's environments


def shard_envs(tree, axis: int = 0):
    """Splits axis `axis` (environments, or the samples of a batch) of every array leaf of
    `tree` across the "envs" axis of the device mesh, when `across_devices(...,
    envs_devices=D)` traces with one; otherwise returns `tree` unchanged.

    A layout hint, never a change of values: XLA's partitioner keeps the arithmetic of the
    single-device program and adds the collectives (all-reduce, all-gather) that reductions
    over the split axis need, so a data-parallel run equals the single-device run up to the
    order of floating-point reductions. The rollout and the minibatches call it, which is what
    makes each device step its share of the environments and compute gradients on its share
    of each minibatch.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or ENVS not in mesh.axis_names or mesh.shape[ENVS] == 1:
        return tree
    spec = PartitionSpec(*([None] * axis), ENVS)
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, spec) if np.ndim(x) > axis else x, tree
    )


def make_mesh(
    num_runs: int, envs_devices: int = 1, devices: Sequence[jax.Device] | None = None
) -> Mesh:
    """A `(runs, envs)` mesh: each run's environments over `envs_devices` devices, the runs over
    as many groups of those as divide `num_runs` (gcd(R, len(devices) // envs_devices))."""
    devices = list(jax.devices() if devices is None else devices)
    if num_runs < 1:
        raise ValueError(f"num_runs must be >= 1, got {num_runs}.")
    if envs_devices < 1 or envs_devices > len(devices):
        raise ValueError(
            f"envs_devices must be in [1, {len(devices)}] (the devices there are), got "
            f"{envs_devices}."
        )
    groups = math.gcd(num_runs, len(devices) // envs_devices)
    grid = np.asarray(devices[: groups * envs_devices]).reshape(groups, envs_devices)
    return Mesh(grid, (RUNS, ENVS))


class _OnMesh:
    """A jitted function that is traced, lowered and run with its mesh set (`jax.set_mesh`),
    so `shard_envs` inside it sees the mesh."""

    def __init__(self, jitted, mesh: Mesh, check: Callable):
        self._jitted, self.mesh, self._check = jitted, mesh, check

    def __call__(self, *args):
        self._check(args)
        with jax.set_mesh(self.mesh):
            return self._jitted(*args)

    def lower(self, *args):
        self._check(args)
        with jax.set_mesh(self.mesh):
            return self._jitted.lower(*args)


def across_devices(
    fn: Callable,
    num_runs: int,
    devices: Sequence[jax.Device] | None = None,
    *,
    in_axes: int | tuple[int | None, ...] = 0,
    envs_devices: int = 1,
) -> Callable:
    """`jax.jit(jax.vmap(fn, in_axes))` for `num_runs` runs, the runs split evenly across devices,
    and with `envs_devices > 1` each run's environments too (data parallel).

    Args:
      fn: one run's function, e.g. `train(key, hyperparams=None) -> (state, metrics)` from an
        algorithm's `make_train`.
      num_runs: static int R, the leading axis of every mapped argument (the keys, every
        hyperparameter array, a batch of states).
      devices: where to run (default: `jax.devices()`, every process's under
        `jax.distributed`). The runs go to the largest number of device groups that divides R.
      in_axes: as for `jax.vmap`, 0 or None per positional argument (None: the same value for
        every run, e.g. a loop bound).
      envs_devices: devices per run. 1: each run on one device, no communication (`shard_map`;
        results equal `jax.vmap`'s). D > 1: each run's environments and minibatches split over
        D devices (see `shard_envs`), gradients and statistics reduced across them; results
        equal one device's up to the order of floating-point reductions.

    Returns:
      a jitted function of the same arguments returning the `vmap`ped outputs, every leaf with
      leading axis R. `.lower(*args).compile()` compiles it ahead of time.
    """
    mesh = make_mesh(num_runs, envs_devices, devices)
    parameters = list(inspect.signature(fn).parameters)

    def check(args):
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

    runs = PartitionSpec(RUNS)
    axes = in_axes if isinstance(in_axes, tuple) else None
    if envs_devices > 1:
        in_shardings = NamedSharding(mesh, runs)
        if axes is not None:
            in_shardings = tuple(
                NamedSharding(mesh, PartitionSpec() if a is None else runs) for a in axes
            )
        jitted = jax.jit(
            jax.vmap(fn, in_axes=in_axes, spmd_axis_name=RUNS),
            in_shardings=in_shardings,
            out_shardings=NamedSharding(mesh, runs),
        )
        return _OnMesh(jitted, mesh, check)

    batched = jax.vmap(fn, in_axes=in_axes)
    if mesh.shape[RUNS] > 1:
        in_specs = (
            runs if axes is None else tuple(PartitionSpec() if a is None else runs for a in axes)
        )
        # check_vma=False: the runs never communicate, so the varying-axes check has nothing to
        # protect, and it would ask every scan carry of every algorithm to be marked.
        batched = jax.shard_map(
            batched, mesh=mesh, in_specs=in_specs, out_specs=runs, check_vma=False
        )

    def run(*args):
        check(args)
        return batched(*args)

    return jax.jit(run)
