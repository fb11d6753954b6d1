"""Importing one module of a package whose `__init__` imports far more than that module needs.

gymnax's `__init__` imports every environment it has (Pong imports matplotlib and seaborn);
tensorboardX's imports PyTorch when it is installed. Either costs seconds of a run that needs
one environment or one event-file writer.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType


def import_skipping_inits(name: str, packages: tuple[str, ...]) -> ModuleType:
    """Imports module `name` without running the `__init__` of `packages` (its parents): they
    stand as empty packages while it loads, then are forgotten, so that a later import of a
    package runs its `__init__` in full (reusing the submodules loaded here). Once a package
    is imported for real, this is a plain import. A package that is not installed raises
    ModuleNotFoundError, as a plain import would."""
    if name in sys.modules or any(package in sys.modules for package in packages):
        return importlib.import_module(name)
    stand_ins = []
    try:
        for package in packages:
            spec = importlib.util.find_spec(package)
            if spec is None:  # not installed: what a plain import would raise
                raise ModuleNotFoundError(f"No module named {package!r}", name=package)
            sys.modules[package] = importlib.util.module_from_spec(spec)
            stand_ins.append(package)
        return importlib.import_module(name)
    finally:
        for package in stand_ins:
            del sys.modules[package]
