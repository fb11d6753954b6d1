"""The backward linear recurrence behind every return and advantage estimator.

Discounted returns, λ-returns and GAE all have the form

    y_t = b_t + a_t · y_{t+1},    y_T = 0,

read backwards in time, with `a_t` the (discount × trace × not-done) coefficient and `b_t` the
one-step term. This module solves it two ways that give the same numbers: a reverse `lax.scan`
(T sequential steps, cheapest on CPU) and `lax.associative_scan` (O(log T) depth, for long
horizons on accelerators).

A zero coefficient cuts the recursion: `y_t = b_t` exactly, whatever `y_{t+1}` holds. Episode
boundaries set `a_t = 0`, so NaN or ±inf in a later episode reaches neither an earlier
episode's values nor their gradients (`a_t · y_{t+1}` alone would be 0 · NaN = NaN).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks

METHODS = ("scan", "associative")


def _apply(a, b, y):
    """b + a · y, and exactly b where a = 0 (y is selected away first, so neither the value nor
    the gradient ever multiplies 0 by a non-finite y)."""
    return b + a * jnp.where(a != 0, y, 0.0)


def _compose(later, earlier):
    # Composes y ↦ b_e + a_e · (b_l + a_l · y): the earlier step applied after the later one.
    a_later, b_later = later
    a_earlier, b_earlier = earlier
    return a_earlier * a_later, _apply(a_earlier, b_earlier, b_later)


def _step(carry, ab):
    # Module level (not a closure) so that eager calls hit JAX's trace and compile caches.
    a, b = ab
    y = _apply(a, b, carry)
    return y, y


def reverse_linear_recurrence(
    coefficients: jax.Array, offsets: jax.Array, method: str = "scan"
) -> jax.Array:
    """Solves y_t = offsets_t + coefficients_t · y_{t+1} backwards in time, with y_T = 0.

    A zero coefficient cuts the recursion: there y_t = offsets_t exactly, even where y_{t+1} is
    NaN or infinite, in the value and in the gradient.

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

    _, ys = jax.lax.scan(_step, jnp.zeros_like(offsets[0]), (coefficients, offsets), reverse=True)
    return ys


# Up to this many steps, the "scan" method computes each step's (a_t, b_t) inside the loop body
# from the kernel's raw inputs (see `solve`). Measured on XLA:CPU (2 cores, jax 0.10): ~25% faster
# than precomputing a_t, b_t for [T=128, B=2048]; for long horizons with small batches (T = 4096,
# B = 32..64) the larger loop body was up to 2x slower, so those keep the plain two-array scan.
FUSED_MAX_STEPS = 1024


def solve(terms, inputs: dict, shape, method: str) -> jax.Array:
    """Solves y_t = b_t + a_t · y_{t+1} (y_T = 0) with (a_t, b_t) = `terms(inputs)`.

    `terms` is an elementwise function of a dict of inputs: `[T, *B]` arrays (or `[T, 1, ...]`),
    and loop constants of shape `()` or `B` (e.g. γ, λ), so it applies to one time step's slices
    as well as to whole arrays. With `method="scan"` and T <= `FUSED_MAX_STEPS` it runs inside a
    reverse `lax.scan` over the raw inputs, which avoids writing a_t and b_t to memory and
    reading them back, and never broadcasts the constants to `[T, *B]`. Otherwise a_t and b_t are
    computed first and `reverse_linear_recurrence` solves the recursion. Both give the same
    numbers up to float rounding.
    """
    shape = tuple(shape)
    if method == "scan" and shape[0] <= FUSED_MAX_STEPS:
        scanned = {k: v for k, v in inputs.items() if jnp.ndim(v) == len(shape)}
        constants = {k: v for k, v in inputs.items() if jnp.ndim(v) != len(shape)}
        init = (jnp.zeros(shape[1:], _result_dtype(inputs)), constants)
        _, ys = jax.lax.scan(_fused_step(terms), init, scanned, reverse=True)
        return ys
    coefficients, offsets = terms(inputs)
    return reverse_linear_recurrence(
        jnp.broadcast_to(coefficients, shape), jnp.broadcast_to(offsets, shape), method
    )


def _result_dtype(inputs: dict):
    return jnp.result_type(*[v for v in inputs.values() if jnp.issubdtype(v.dtype, jnp.floating)])


@functools.cache
def _fused_step(terms):
    # One step function per `terms` (cached, not a fresh closure per call) so that eager calls
    # hit JAX's trace and compile caches.
    def step(carry, x):
        y, constants = carry
        coefficient, offset = terms({**constants, **x})
        y = _apply(coefficient, offset, y)
        return (y, constants), y

    return step
