"""pgjax: pure, jittable policy-gradient kernels and on-device training loops in JAX.

The package's folders are its layers, each importing only those above it in this list:

    pgjax.kernels     pure math on arrays (jax, numpy); re-exported here: pgjax.gae, ...
    pgjax.envs        environments behind one interface (gymnax, Brax, XLand-MiniGrid, Jumanji)
    pgjax.training    the blocks algorithms are built from: configs, networks, rollouts,
                      optimisers, the algorithm interface, evaluation, many runs on devices
    pgjax.algorithms  one file per control algorithm, each on the interface
    pgjax.rlhf        RLHF in miniature, its algorithms on the same interface
    pgjax.runs        what runs algorithms: the registry, run directories, checkpoints, the
                      session and its engines (compiled chunks, actor-learner threads)
    pgjax.cli         the command line

`pgjax.imports` (importing one module of a package without its heavy `__init__`) stands
outside the layers: any of them may use it.

The kernels are loaded on first use (`pgjax.gae`, `from pgjax import gae`), so that the
command line can answer `--help` without importing JAX.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"


_SUBPACKAGES = ("kernels", "envs", "training", "algorithms", "rlhf", "runs", "cli")


def __getattr__(name: str):
    if name in _SUBPACKAGES:  # `pgjax.kernels` before anything imported it
        return importlib.import_module(f"pgjax.{name}")
    kernels = importlib.import_module("pgjax.kernels")
    if name == "__all__":
        return list(kernels.__all__)
    if name in kernels.__all__:
        return getattr(kernels, name)
    raise AttributeError(f"module 'pgjax' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *importlib.import_module("pgjax.kernels").__all__])
