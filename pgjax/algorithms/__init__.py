"""Training loops built from pgjax kernels: `make_train(config) -> train(key, hyperparams)`.

`get(name)` returns an algorithm's module (with `make_train` and its config class `Config`)
without importing the others.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ALGORITHMS = ("ppo", "reinforce", "a2c", "trpo")


def get(name: str) -> ModuleType:
    if name not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}.")
    return importlib.import_module(f"pgjax.algorithms.{name}")
