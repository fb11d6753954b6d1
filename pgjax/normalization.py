"""Advantage normalisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax import _checks


def normalize_advantages(
    advantages: jax.Array, mask: jax.Array | None = None, eps: float = 1e-8
) -> jax.Array:
    r"""Standardises advantages over the valid elements of a batch.

    .. math:: \tilde A = (A - \mu_m) / (\sigma_m + \epsilon)

    with μ_m, σ_m the masked mean and (population) standard deviation, computed in two passes in
    at least float32. A batch of one element (or of equal elements) gives zeros, never NaN;
    masked-out elements are returned as 0. A common PPO implementation detail (Andrychowicz et
    al., 2021, "What matters in on-policy RL?", https://arxiv.org/abs/2006.05990).

    Args:
      advantages: `[*S]` float.
      mask: optional `[*S]` bool, the elements that count.
      eps: added to σ.

    Returns:
      `[*S]` float, normalised advantages.
    """
    fn = "normalize_advantages"
    dtype = _checks.compute_dtype(advantages)
    advantages = _checks.as_float(fn, "advantages", advantages, dtype)
    mask = _checks.check_mask(fn, mask, advantages.shape, "`advantages`")
    weights = jnp.ones_like(advantages) if mask is None else mask.astype(dtype)
    count = jnp.maximum(weights.sum(), 1.0)
    # Shift by one valid element first: equal advantages then centre to exactly 0 (a float32 mean
    # of equal values is not always exactly that value, which would normalise rounding noise).
    flat = advantages.reshape(-1)
    first_valid = 0 if mask is None or flat.size == 0 else jnp.argmax(mask.reshape(-1))
    shift = jax.lax.stop_gradient(flat[first_valid]) if flat.size else 0.0
    shifted = advantages - shift
    mean = (shifted * weights).sum() / count
    centred = (shifted - mean) * weights
    # The floor keeps the gradient finite (not 0 · ∞ = NaN) when the variance is exactly 0.
    variance = jnp.maximum(jnp.square(centred).sum() / count, jnp.finfo(dtype).tiny)
    std = jnp.sqrt(variance)
    return centred / (std + eps)
