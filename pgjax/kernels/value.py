"""Value-function regression loss.

A mask is bool, or numbers that are 0/1: any other value (0.5, NaN) raises ValueError when known at
trace time; traced, it cannot be checked and every nonzero value counts as set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks
from pgjax.kernels.aggregation import aggregate_loss


def _elementwise(errors: jax.Array, loss: str, huber_delta) -> jax.Array:
    if loss == "squared":
        return 0.5 * jnp.square(errors)
    abs_errors = jnp.abs(errors)
    quadratic = jnp.minimum(abs_errors, huber_delta)
    return 0.5 * jnp.square(quadratic) + huber_delta * (abs_errors - quadratic)


def value_loss(
    values: jax.Array,
    targets: jax.Array,
    *,
    old_values: jax.Array | None = None,
    clip_eps=None,
    loss: str = "squared",
    huber_delta=1.0,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Regression of V_θ(s_t) onto constant targets, optionally clipped as in PPO.

    .. math::
        \ell(e) = \tfrac12 e^2 \ \text{(squared)}\quad\text{or}\quad
        \text{Huber}_\delta(e),\qquad e = V_\theta(s_t) - \hat V_t

    With `old_values` and `clip_eps` (the PPO2 value clipping of Dhariwal et al., 2017, OpenAI
    Baselines; see Engstrom et al., 2020, "Implementation matters in deep policy gradients"):

    .. math::
        \max\big(\ell(V_\theta - \hat V),\ \ell(V_{old} + \text{clip}(V_\theta - V_{old},
        -\epsilon, \epsilon) - \hat V)\big)

    Args:
      values: `[*S]` float, V_θ(s_t) (gradients flow here).
      targets: `[*S]` float, regression targets (constants), e.g. GAE value targets.
      old_values: optional `[*S]` float, the values recorded when acting (for clipping).
      clip_eps: optional scalar float ≥ 0; clipping is on when both this and `old_values` are set.
      loss: `"squared"` or `"huber"`.
      huber_delta: scalar float > 0, the Huber transition point (used by `"huber"` only).
      mask: optional `[*S]` bool. It selects: NaN or ±inf in a masked-out element of any input
        reaches neither the loss nor its gradient.
      reduction: see `pgjax.aggregate_loss`.

    `clip_eps` and `huber_delta` are range-checked (NaN included) when known at trace time;
    traced values are not checked.

    Returns:
      scalar float.
    """
    fn = "value_loss"
    _checks.check_choice(fn, "loss", loss, ("squared", "huber"))
    if (old_values is None) != (clip_eps is None):
        raise ValueError(
            f"{fn}: value clipping needs both `old_values` and `clip_eps`; got "
            f"old_values={'set' if old_values is not None else None}, clip_eps={clip_eps!r}."
        )
    if clip_eps is not None:
        _checks.check_scalar(fn, "clip_eps", clip_eps, at_least=0)
    if loss == "huber":
        _checks.check_scalar(fn, "huber_delta", huber_delta, above=0)
    dtype = _checks.compute_dtype(values, targets, old_values)
    values = _checks.as_float(fn, "values", values, dtype)
    _checks.check_shape(fn, "targets", targets, values.shape, "`values`")
    targets = jax.lax.stop_gradient(_checks.as_float(fn, "targets", targets, dtype))
    mask = _checks.check_mask(fn, mask, values.shape, "`values`")
    values, targets = _checks.select(mask, values), _checks.select(mask, targets)
    per_element = _elementwise(values - targets, loss, huber_delta)
    if old_values is not None:
        _checks.check_shape(fn, "old_values", old_values, values.shape, "`values`")
        old_values = jax.lax.stop_gradient(_checks.as_float(fn, "old_values", old_values, dtype))
        old_values = _checks.select(mask, old_values)
        clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
        per_element = jnp.maximum(per_element, _elementwise(clipped - targets, loss, huber_delta))
    return aggregate_loss(per_element, mask, reduction)
