"""The entropy bonus, written as a loss to minimise."""

from __future__ import annotations

import jax

from pgjax import _checks
from pgjax.aggregation import aggregate_loss


def entropy_loss(
    entropies: jax.Array, mask: jax.Array | None = None, reduction: str = "mean"
) -> jax.Array:
    r"""Negative mean policy entropy, the exploration regulariser of A3C and PPO.

    .. math:: L_H(\theta) = -\,\mathbb{E}\big[\mathcal H(\pi_\theta(\cdot \mid s_t))\big]

    Add `entropy_coef * entropy_loss(...)` to a loss to be minimised. Williams & Peng (1991),
    "Function optimization using connectionist reinforcement learning algorithms"; Mnih et al.
    (2016), §4. Per-state entropies come from a distribution's `entropy()` (see
    `pgjax.distributions`).

    Args:
      entropies: `[*S]` float, H(π(·|s_t)) per state.
      mask: optional `[*S]` bool.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    dtype = _checks.compute_dtype(entropies)
    entropies = _checks.as_float("entropy_loss", "entropies", entropies, dtype)
    return aggregate_loss(-entropies, mask, reduction)
