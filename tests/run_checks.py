"""What the run-layer tests share: a progress callback that interrupts a run as a user's
Ctrl-C would, and the bit-for-bit comparison of two runs' states and metrics."""

from __future__ import annotations

import os
import signal

import jax
import numpy as np


def interrupt_after_first_chunk():
    """A `progress` callback that sends this process SIGINT after the first chunk."""
    calls = []

    def progress(updates, metrics):
        calls.append(updates)
        if len(calls) == 2:  # the first call reports the start, the second the first chunk
            os.kill(os.getpid(), signal.SIGINT)

    return progress


def assert_same_bits(state, expected_state, metrics=None, expected_metrics=None) -> None:
    """Every leaf of `state` equals `expected_state`'s bit for bit (keys by their data), and
    `metrics[name]` equals `expected_metrics[name]` for every name of `expected_metrics`."""
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(expected_state), strict=True):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(a, b)
    for name, value in (expected_metrics or {}).items():
        np.testing.assert_array_equal(metrics[name], value, err_msg=name)
