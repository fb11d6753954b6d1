"""The importance-weighted surrogate objective of conservative policy iteration and TRPO."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax import _checks
from pgjax.aggregation import aggregate_loss


def surrogate_loss(
    log_probs: jax.Array,
    old_log_probs: jax.Array,
    advantages: jax.Array,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""The (unclipped) importance-weighted surrogate, as a loss to minimise.

    .. math::
        L(\theta) = -\,\mathbb{E}_{a_t \sim \pi_{old}}\Big[
            \frac{\pi_\theta(a_t \mid s_t)}{\pi_{old}(a_t \mid s_t)}\, \hat A_t\Big]

    The local approximation to the improvement of π_θ over π_old from samples of π_old: at
    θ = θ_old its gradient is `policy_gradient_loss`'s. TRPO maximises −L subject to a KL trust
    region (see `pgjax.natural_gradient_step`); PPO clips the ratio instead
    (`pgjax.ppo_clip_loss`). Kakade & Langford (2002), "Approximately optimal approximate
    reinforcement learning"; Schulman et al. (2015), "Trust region policy optimization",
    https://arxiv.org/abs/1502.05477, eq. (14).

    Args:
      log_probs: `[*S]` float, log π_θ(a_t | s_t) (gradients flow here).
      old_log_probs: `[*S]` float, log π_old(a_t | s_t) recorded when acting (a constant).
      advantages: `[*S]` float, Â_t (a constant).
      mask: optional `[*S]` bool, valid elements.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    fn = "surrogate_loss"
    dtype = _checks.compute_dtype(log_probs, old_log_probs, advantages)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    _checks.check_shape(fn, "old_log_probs", old_log_probs, log_probs.shape, "`log_probs`")
    _checks.check_shape(fn, "advantages", advantages, log_probs.shape, "`log_probs`")
    old_log_probs = jax.lax.stop_gradient(
        _checks.as_float(fn, "old_log_probs", old_log_probs, dtype)
    )
    advantages = jax.lax.stop_gradient(_checks.as_float(fn, "advantages", advantages, dtype))
    ratio = jnp.exp(log_probs - old_log_probs)
    return aggregate_loss(-ratio * advantages, mask, reduction)
