"""The policy-gradient (REINFORCE / actor-critic actor) loss."""

from __future__ import annotations

import jax

from pgjax import _checks
from pgjax.aggregation import aggregate_loss


def policy_gradient_loss(
    log_probs: jax.Array,
    advantages: jax.Array,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Score-function policy-gradient loss.

    .. math:: L(\theta) = -\,\mathbb{E}\big[\log \pi_\theta(a_t \mid s_t)\, \hat A_t\big]

    Its gradient is the policy-gradient theorem's estimator, −E[∇ log π · Â]. With Â the return
    G_t this is REINFORCE (Williams, 1992); with G_t − b(s_t) REINFORCE with a baseline; with an
    advantage estimate the actor term of actor-critic / A2C (Mnih et al., 2016). `advantages`
    are constants: no gradient flows into them.

    Args:
      log_probs: `[*S]` float, log π_θ(a_t | s_t) of the actions taken.
      advantages: `[*S]` float, Â_t (same shape).
      mask: optional `[*S]` bool, valid elements.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    fn = "policy_gradient_loss"
    dtype = _checks.compute_dtype(log_probs, advantages)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    _checks.check_shape(fn, "advantages", advantages, log_probs.shape, "`log_probs`")
    advantages = jax.lax.stop_gradient(_checks.as_float(fn, "advantages", advantages, dtype))
    return aggregate_loss(-log_probs * advantages, mask, reduction)
