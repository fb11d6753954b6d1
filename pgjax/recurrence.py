"""The backward linear recurrence behind every return and advantage estimator.

Discounted returns, λ-returns and GAE all have the form

    y_t = b_t + a_t · y_{t+1},    y_T = 0,

read backwards in time, with `a_t` the (discount × trace × not-done) coefficient and `b_t` the
one-step term. This module solves it two ways that give the same numbers: a reverse `lax.scan`
(T sequential steps, cheapest on CPU) and `lax.associative_scan` (O(log T) depth, for long
horizons on accelerators).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax import _checks

METHODS = ("scan", "associative")


def _compose(later, earlier):
    # Composes y ↦ b_e + a_e · (b_l + a_l · y): the earlier step applied after the later one.
    a_later, b_later = later
    a_earlier, b_earlier = earlier
    return a_earlier * a_later, b_earlier + a_earlier * b_later


def reverse_linear_recurrence(
    coefficients: jax.Array, offsets: jax.Array, method: str = "scan"
) -> jax.Array:
    """Solves y_t = offsets_t + coefficients_t · y_{t+1} backwards in time, with y_T = 0.

    Args:
      coefficients: `[T, *B]` float, a_t.
      offsets: `[T, *B]` float, b_t.
      method: `"scan"` (a plain reverse `lax.scan`; the default, fastest on CPU and never
        unrolled: on XLA:CPU unrolling this scan makes it many times slower) or `"associative"`
        (`lax.associative_scan`, O(log T) depth, worth it for long T on GPU/TPU).

    Returns:
      `[T, *B]` float, y_t.
    """
    fn = "reverse_linear_recurrence"
    _checks.check_choice(fn, "method", method, METHODS)
    _checks.check_shape(fn, "offsets", offsets, jnp.shape(coefficients), "`coefficients`")
    if method == "associative":
        _, ys = jax.lax.associative_scan(_compose, (coefficients, offsets), reverse=True)
        return ys

    def step(carry, ab):
        a, b = ab
        y = b + a * carry
        return y, y

    _, ys = jax.lax.scan(step, jnp.zeros_like(offsets[0]), (coefficients, offsets), reverse=True)
    return ys
