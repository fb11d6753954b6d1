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
    """The float dtype to compute in: float32 at least (bfloat16/float16 accumulate in float32).

    Non-numeric inputs are skipped here; their own conversion (`as_float`, `as_bool`) refuses
    them by name."""
    dtypes = [jnp.asarray(a).dtype for a in arrays if a is not None and _non_numeric(a) is None]
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.floating)]
    return jnp.result_type(jnp.float32, *floats)


def _non_numeric(x):
    """The dtype of `x` if it is an array (or array-like) of something other than numbers or
    bools, e.g. strings or objects; None otherwise, and for what NumPy cannot read (a list of
    tracers, which JAX converts itself)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(x).dtype
        except (jax.errors.JAXTypeError, TypeError, ValueError):
            return None
    try:
        numeric = jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)
    except TypeError:  # not a dtype at all
        numeric = False
    return None if numeric else dtype


def as_array(fn: str, name: str, x) -> jax.Array:
    """`x` as a JAX array of numbers or bools. Strings, objects and anything else JAX cannot read
    raise TypeError naming the kernel and the argument; checked before JAX converts `x`, whose
    own error names neither."""
    dtype = _non_numeric(x)
    if dtype is not None:
        raise TypeError(f"{fn}: `{name}` must be an array of numbers, got dtype {dtype}.")
    try:
        return jnp.asarray(x)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{fn}: `{name}` must be an array of numbers: {error}") from None


def as_float(fn: str, name: str, x, dtype) -> jax.Array:
    """Converts `x` to the float compute dtype; bool and integer inputs are accepted as numbers."""
    x = as_array(fn, name, x)
    if not (
        jnp.issubdtype(x.dtype, jnp.floating)
        or jnp.issubdtype(x.dtype, jnp.integer)
        or x.dtype == jnp.bool_
    ):
        raise TypeError(f"{fn}: `{name}` must be a real number array, got dtype {x.dtype}.")
    return x.astype(dtype)


def as_bool(fn: str, name: str, x) -> jax.Array:
    """Converts a mask or an episode-boundary flag to bool.

    Integer and float flags must be 0/1. Known at trace time (an eager call, a constant), any
    other value (0.5, NaN, 2) raises ValueError naming the kernel and the argument. Traced (an
    argument of a jitted or vmapped function) the values cannot be checked: every nonzero value,
    NaN included, then counts as set.
    """
    x = as_array(fn, name, x)
    if x.dtype == jnp.bool_:
        return x
    if not (jnp.issubdtype(x.dtype, jnp.integer) or jnp.issubdtype(x.dtype, jnp.floating)):
        raise TypeError(f"{fn}: `{name}` must be a bool (or 0/1) array, got dtype {x.dtype}.")
    value = concrete_value(x)
    if value is not None:
        bad = (value != 0) & (value != 1)
        if bad.any():
            where = "" if value.ndim == 0 else f" (one of its {value.size} values)"
            raise ValueError(
                f"{fn}: `{name}` must hold bools or 0/1, got {value[bad][0]}{where}; a traced "
                "one counts every nonzero value as set."
            )
    return x != 0


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


def concrete_value(x) -> np.ndarray | None:
    """The value of `x` as a NumPy array if it is known at trace time, else None (a tracer)."""
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
    check_range(fn, name, x, at_least=low, at_most=high)
    return jnp.broadcast_to(x, full_shape)


def check_range(fn: str, name: str, x, *, at_least=None, above=None, at_most=None, below=None):
    """Raises ValueError when `x` is known at trace time and any of its values is NaN or out of
    range (`above`/`below` strict, `at_least`/`at_most` inclusive). A traced value (a vmapped
    hyperparameter, an argument of a jitted function) cannot be checked and passes unchecked."""
    value = concrete_value(x)
    if value is None or not value.size:
        return
    value = value.astype(np.float64)
    bounds = [
        (f">= {at_least}", at_least, np.greater_equal),
        (f"> {above}", above, np.greater),
        (f"<= {at_most}", at_most, np.less_equal),
        (f"< {below}", below, np.less),
    ]
    bounds = [(text, bound, holds) for text, bound, holds in bounds if bound is not None]
    where = "" if value.ndim == 0 else f" (one of its {value.size} values)"
    nan = np.isnan(value)
    if nan.any():
        wanted = " and ".join(text for text, _, _ in bounds)
        wanted = f"a number {wanted}" if wanted else "a number"
        raise ValueError(f"{fn}: `{name}` must be {wanted}, got nan{where}.")
    for text, bound, holds in bounds:
        bad = ~holds(value, bound)
        if bad.any():
            got = value.reshape(-1)[np.argmax(bad.reshape(-1))]
            raise ValueError(f"{fn}: `{name}` must be {text}, got {got}{where}.")


def check_finite(fn: str, name: str, x) -> None:
    """Raises ValueError when `x` is known at trace time and any of its values is NaN or ±inf. A
    traced value cannot be checked and passes unchecked."""
    value = concrete_value(x)
    if value is None or not value.size:
        return
    bad = ~np.isfinite(value.astype(np.float64))
    if bad.any():
        where = "" if value.ndim == 0 else f" (one of its {value.size} values)"
        raise ValueError(f"{fn}: `{name}` must be finite, got {value[bad][0]}{where}.")


def check_not_above(fn: str, name: str, x, other_name: str, other) -> None:
    """Raises ValueError when `x` > `other` and both are known at trace time (traced values pass
    unchecked), e.g. a lower bound above its upper bound."""
    x_value, other_value = concrete_value(x), concrete_value(other)
    if x_value is None or other_value is None:
        return
    if np.any(x_value.astype(np.float64) > other_value.astype(np.float64)):
        raise ValueError(
            f"{fn}: `{name}` must be <= `{other_name}`, got {name}={x_value} and "
            f"{other_name}={other_value}."
        )


def check_scalar(fn: str, name: str, x, **bounds):
    """A scalar setting such as `clip_eps` or `max_kl`: shape `()`, and in range when known at
    trace time (see `check_range`; traced values are not checked). Returns `x` unchanged."""
    if x is None or isinstance(x, bool) or not _is_number(x):
        raise TypeError(f"{fn}: `{name}` must be a real number, got {x!r}.")
    if jnp.ndim(x) != 0:
        raise ValueError(f"{fn}: `{name}` must be a scalar, got shape {jnp.shape(x)}.")
    check_range(fn, name, x, **bounds)
    return x


def check_count(fn: str, name: str, n, at_least: int = 1) -> int:
    """A static int setting (a number of steps, iterations, backtracks): a Python or NumPy int
    >= `at_least`, known at trace time."""
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < at_least:
        raise ValueError(f"{fn}: `{name}` must be a static int >= {at_least}, got {n!r}.")
    return int(n)


def _is_number(x) -> bool:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return isinstance(x, int | float | np.number)
    return jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)


def select(mask, x, fill=0.0):
    """`x` where `mask` is set and `fill` elsewhere (`x` itself when there is no mask).

    A select, never a product: 0 · NaN is NaN, but a select's masked-out slots hold `fill`
    whatever `x` held there, and its derivative is again a select, so no NaN or ±inf in a
    masked-out slot reaches a result or a gradient. Kernels apply it to their inputs first, so
    every later operation (exp, log, ratios, products) only ever sees `fill` there: the
    double-`where` pattern, done once at the entrance.
    """
    return x if mask is None else jnp.where(mask, x, fill)


def safe_product(a, b):
    """`a · b`, whose gradient reaches neither factor where either is NaN or ±inf.

    The gradient of a product with respect to one factor is the cotangent times the other, and
    0 · NaN is NaN: a result nobody reads (another episode's, a masked-out one) has a zero
    cotangent, yet its non-finite factor would still put NaN into the gradient of the finite one.
    The double `where`: both factors are replaced by 0 wherever either is non-finite before they
    are multiplied, and there the product of the raw factors is selected as a constant. The value
    is `a · b` everywhere, non-finite ones included; the gradient is exact wherever both factors
    are finite and 0 elsewhere.
    """
    finite = jnp.isfinite(a) & jnp.isfinite(b)
    product = jnp.where(finite, a, 0.0) * jnp.where(finite, b, 0.0)
    return jnp.where(finite, product, jax.lax.stop_gradient(a * b))


def action_indices(fn: str, actions, num_actions: int, valid=None):
    """`(indices, in_range)` of integer `actions` into an axis of `num_actions` (`[*B]` each).

    An action outside [0, A) raises ValueError when it is known at trace time (where `valid` is
    set, if a `valid` mask is given; a traced mask hides which actions count, so none is refused).
    Traced, such an action gets index 0 and `in_range` False: the caller turns it into NaN, never
    another action's value (−1 must not wrap around to the last action).
    """
    value = concrete_value(actions)
    if value is not None:
        bad = (value < 0) | (value >= num_actions)
        if valid is not None:
            valid = concrete_value(valid)
            bad &= np.zeros_like(bad) if valid is None else valid.astype(bool)
        if bad.any():
            got = value[bad][0]
            raise ValueError(f"{fn}: `actions` must lie in [0, {num_actions}), got {got}.")
    in_range = (actions >= 0) & (actions < num_actions)
    return jnp.where(in_range, actions, 0).astype(jnp.int32), in_range


def check_choice(fn: str, name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{fn}: `{name}` must be one of {tuple(choices)}, got {value!r}.")


def check_mask(fn: str, mask, shape: Sequence[int], like: str) -> jax.Array | None:
    """`mask` (of exactly `shape`) as bool, or None. A bool mask is the norm; a 0/1 integer or
    float mask is accepted and checked when known at trace time (see `as_bool`: traced, every
    nonzero value counts as set)."""
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
