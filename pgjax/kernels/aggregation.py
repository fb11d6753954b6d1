"""Reducing per-element losses to a scalar, with masks: token and sequence aggregation.

RL data is `[T, *B]` and usually reduced with a masked mean over everything. Language-model
fine-tuning data is `[*B, L]` (sequence axis last) where the choice of reduction changes the
objective: a token-mean weighs long answers more than a sequence-mean of token-means does, and
dividing a token-sum by a constant (Dr. GRPO) removes the length bias of both.

A mask is bool, or numbers that are 0/1: any other value (0.5, NaN) raises ValueError when known at
trace time; traced, it cannot be checked and every nonzero value counts as set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks

REDUCTIONS = (
    "mean",
    "sum",
    "seq_mean_token_mean",
    "seq_mean_token_sum",
    "constant_normalizer",
)


def _safe_divide(numerator, denominator):
    return numerator / jnp.maximum(denominator, 1.0)


def aggregate_loss(
    losses: jax.Array,
    mask: jax.Array | None = None,
    reduction: str = "mean",
    normalizer: float | None = None,
) -> jax.Array:
    r"""Reduces per-element losses to a scalar over the valid (`mask`) elements.

    With m the mask and ℓ the losses (for the sequence reductions the last axis is the sequence
    axis, ℓ: `[*B, L]`, and i runs over the sequences that have at least one valid token):

    * `"mean"` (token-mean): Σ m ℓ / Σ m.
    * `"sum"`: Σ m ℓ.
    * `"seq_mean_token_mean"`: mean_i (Σ_l m_il ℓ_il / Σ_l m_il)  (GRPO, Shao et al. 2024).
    * `"seq_mean_token_sum"`: mean_i Σ_l m_il ℓ_il.
    * `"constant_normalizer"`: Σ m ℓ / `normalizer` (Dr. GRPO, Liu et al. 2025,
      "Understanding R1-Zero-like training", https://arxiv.org/abs/2503.20783).

    An all-masked input reduces to 0, never NaN. The mask selects (it never multiplies): NaN or
    ±inf in a masked-out element reaches neither the result nor its gradient.

    Args:
      losses: `[*S]` float, any shape (rank >= 1 for the sequence reductions).
      mask: optional `[*S]` bool, True where the element counts.
      reduction: one of the names above.
      normalizer: scalar float > 0, the constant of `"constant_normalizer"` (e.g. batch size ×
        max length); only that reduction takes it. Checked when known at trace time, not when
        traced.

    Returns:
      scalar float.
    """
    fn = "aggregate_loss"
    _checks.check_choice(fn, "reduction", reduction, REDUCTIONS)
    if reduction == "constant_normalizer":
        if normalizer is None:
            raise ValueError(
                f"{fn}: reduction 'constant_normalizer' needs a positive `normalizer`, got None."
            )
        _checks.check_scalar(fn, "normalizer", normalizer, above=0)
    elif normalizer is not None:
        raise ValueError(
            f"{fn}: `normalizer` is only used by reduction 'constant_normalizer', got "
            f"reduction={reduction!r} and normalizer={normalizer!r}."
        )
    dtype = _checks.compute_dtype(losses)
    losses = _checks.as_float(fn, "losses", losses, dtype)
    mask = _checks.check_mask(fn, mask, losses.shape, "`losses`")
    counts = jnp.ones_like(losses) if mask is None else mask.astype(dtype)
    losses = _checks.select(mask, losses)
    if reduction == "mean":
        return _safe_divide(losses.sum(), counts.sum())
    if reduction == "sum":
        return losses.sum()
    if reduction == "constant_normalizer":
        return losses.sum() / normalizer
    _checks.check_rank(fn, "losses", losses, 1, "[*B, L] with the sequence axis last")
    tokens = counts.sum(-1)
    per_sequence = losses.sum(-1)
    if reduction == "seq_mean_token_mean":
        per_sequence = _safe_divide(per_sequence, tokens)
    has_tokens = tokens > 0
    per_sequence = jnp.where(has_tokens, per_sequence, 0.0)
    return _safe_divide(per_sequence.sum(), has_tokens.sum().astype(dtype))
