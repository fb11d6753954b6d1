"""Shared pytest setup: makes `tests/reference.py` importable as `reference`, and shows the CPU
to JAX as two devices (before anything computes) so runs split across devices are tested."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

from pgjax.training.parallel import use_cpu_cores

use_cpu_cores(2)

_TESTS = str(pathlib.Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded NumPy generator per test (deterministic data)."""
    return np.random.default_rng(0)
