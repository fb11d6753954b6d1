"""Training machinery: the algorithm interface, networks, rollouts, optimisers, evaluation, the
driver with its run directories and checkpoints, and running many runs across devices.

    from pgjax.training import run, resume           # the driver (pgjax.training.driver)

`run` and `resume` are imported on first use, so `pgjax.training.parallel.use_cpu_cores` can
still configure the CPU devices before gymnax (which the driver imports) starts JAX's backend.
"""

from __future__ import annotations

import importlib

_LAZY = {"run": "driver", "resume": "driver", "RunOptions": "driver", "Algorithm": "algorithm"}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"pgjax.training.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'pgjax.training' has no attribute {name!r}")
