"""Trace-time input validation shared by every kernel.

Shapes are static under `jit`, so every check here runs while tracing and costs nothing at run
time. Messages name the kernel, the argument, what it got and what it expected.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def compute_dtype(*arrays) -> jnp.dtype:
    """The float dtype to compute in: float32 at least (bfloat16/float16 accumulate in float32)."""
    dtypes = [jnp.asarray(a).dtype for a in arrays if a is not None]
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.floating)]
    return jnp.result_type(jnp.float32, *floats)


def as_float(fn: str, name: str, x, dtype) -> jax.Array:
    """Converts `x` to the float compute dtype; bool and integer inputs are accepted as numbers."""
    x = jnp.asarray(x)
    if not (
        jnp.issubdtype(x.dtype, jnp.floating)
        or jnp.issubdtype(x.dtype, jnp.integer)
        or x.dtype == jnp.bool_
    ):
        raise TypeError(f"{fn}: `{name}` must be a real number array, got dtype {x.dtype}.")
    return x.astype(dtype)


def as_bool(fn: str, name: str, x) -> jax.Array:
    """Converts an episode-boundary flag to bool; floats must be 0/1 flags (nonzero means set)."""
    x = jnp.asarray(x)
    if x.dtype == jnp.bool_:
        return x
    if jnp.issubdtype(x.dtype, jnp.integer) or jnp.issubdtype(x.dtype, jnp.floating):
        return x != 0
    raise TypeError(f"{fn}: `{name}` must be a bool (or 0/1) array, got dtype {x.dtype}.")


def check_rank(fn: str, name: str, x, min_rank: int, what: str) -> None:
    if jnp.ndim(x) < min_rank:
        raise ValueError(
            f"{fn}: `{name}` must have rank >= {min_rank} ({what}), got shape {jnp.shape(x)}."
        )


def check_shape(fn: str, name: str, x, expected: Sequence[int], like: str) -> None:
    """Exact shape match: never silently broadcast a `[T]` against a `[T, B]`."""
    if tuple(jnp.shape(x)) != tuple(expected):
        raise ValueError(
            f"{fn}: `{name}` has shape {tuple(jnp.shape(x))}, expected {tuple(expected)} "
            f"(the shape of {like})."
        )


def _concrete(x):
    """The value of `x` if it is known at trace time, else None."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def coefficient(
    fn: str,
    name: str,
    x,
    full_shape: Sequence[int],
    dtype,
    low: float | None = None,
    high: float | None = None,
) -> jax.Array:
    """A scalar or per-element coefficient such as `gamma` or `lambda_`.

    Accepted shapes: `()` (one value for everything, possibly a traced hyperparameter), the batch
    shape `B` (one value per trajectory, broadcast over time) or the full `[T, *B]`. When the value
    is known at trace time it must lie in `[low, high]`.
    """
    x = as_float(fn, name, x, dtype)
    full_shape = tuple(full_shape)
    batch_shape = full_shape[1:]
    if x.shape not in ((), batch_shape, full_shape):
        raise ValueError(
            f"{fn}: `{name}` has shape {x.shape}, expected a scalar, the batch shape "
            f"{batch_shape} or the full shape {full_shape}."
        )
    value = _concrete(x)
    if value is not None and value.size:
        if low is not None and np.any(value < low):
            raise ValueError(f"{fn}: `{name}` must be >= {low}, got {value.min()}.")
        if high is not None and np.any(value > high):
            raise ValueError(f"{fn}: `{name}` must be <= {high}, got {value.max()}.")
    return jnp.broadcast_to(x, full_shape)


def check_choice(fn: str, name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{fn}: `{name}` must be one of {tuple(choices)}, got {value!r}.")


def check_mask(fn: str, mask, shape: Sequence[int], like: str) -> jax.Array | None:
    if mask is None:
        return None
    check_shape(fn, "mask", mask, shape, like)
    return as_bool(fn, "mask", mask)


def trajectory(
    fn: str,
    rewards,
    terminated,
    truncated,
    gamma,
    *,
    values=None,
    next_values=None,
    lambda_=None,
):
    """Validates and converts the time-major inputs of a return/advantage kernel.

    Returns a dict with float `rewards`, optional float `values` / `next_values`, bool
    `terminated`, float `continues` (1 where the recursion carries from t+1 into t: neither
    terminated nor truncated, and not the last row), and `gamma` / `lambda_` broadcast to
    `[T, *B]`.
    """
    check_rank(fn, "rewards", rewards, 1, "time-major [T, *B]")
    shape = tuple(jnp.shape(rewards))
    like = "`rewards`, time-major [T, *B]"
    for name, x in (
        ("values", values),
        ("next_values", next_values),
        ("terminated", terminated),
        ("truncated", truncated),
    ):
        if x is not None:
            check_shape(fn, name, x, shape, like)
    dtype = compute_dtype(rewards, values, next_values)
    terminated = as_bool(fn, "terminated", terminated)
    truncated = as_bool(fn, "truncated", truncated)
    not_last = jnp.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1)) < shape[0] - 1
    continues = ~(terminated | truncated) & not_last
    out = {
        "rewards": as_float(fn, "rewards", rewards, dtype),
        "terminated": terminated,
        "continues": continues.astype(dtype),
        "gamma": coefficient(fn, "gamma", gamma, shape, dtype, 0.0, 1.0),
    }
    if values is not None:
        out["values"] = as_float(fn, "values", values, dtype)
    if next_values is not None:
        out["next_values"] = as_float(fn, "next_values", next_values, dtype)
    if lambda_ is not None:
        out["lambda_"] = coefficient(fn, "lambda_", lambda_, shape, dtype, 0.0, 1.0)
    return out
