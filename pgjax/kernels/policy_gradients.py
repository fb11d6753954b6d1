"""Policy-gradient losses: the score-function (REINFORCE / actor-critic) loss, the importance-
weighted surrogate of TRPO, PPO's clipped surrogate and its variants, and the clip-fraction
diagnostic.

Masks select, they never multiply: every input is replaced by 0 in masked-out elements before
anything is computed from it, so NaN or ±inf there (e.g. −inf log-probabilities of padding tokens)
reaches neither the loss nor its gradient. Coefficients (`clip_eps`, `dual_clip`) are
range-checked, NaN included, when known at trace time; traced ones are not checked. A mask is bool,
or numbers that are 0/1: any other value (0.5, NaN) raises ValueError when known at trace time;
traced, it cannot be checked and every nonzero value counts as set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks
from pgjax.kernels.aggregation import aggregate_loss


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
    mask = _checks.check_mask(fn, mask, log_probs.shape, "`log_probs`")
    log_probs, advantages = _checks.select(mask, log_probs), _checks.select(mask, advantages)
    return aggregate_loss(-log_probs * advantages, mask, reduction)


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
    mask = _checks.check_mask(fn, mask, log_probs.shape, "`log_probs`")
    log_probs, old_log_probs, advantages = (
        _checks.select(mask, x) for x in (log_probs, old_log_probs, advantages)
    )
    ratio = jnp.exp(log_probs - old_log_probs)
    return aggregate_loss(-ratio * advantages, mask, reduction)


def _clip_bounds(fn: str, clip_eps, clip_eps_high):
    _checks.check_scalar(fn, "clip_eps", clip_eps, at_least=0)
    if clip_eps_high is None:
        clip_eps_high = clip_eps
    else:
        _checks.check_scalar(fn, "clip_eps_high", clip_eps_high, at_least=0)
    return 1.0 - clip_eps, 1.0 + clip_eps_high


def sequence_log_ratio(
    log_probs: jax.Array, old_log_probs: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    r"""Length-normalised sequence log-ratio (the log of GSPO's geometric-mean ratio).

    .. math::
        \log s_i = \frac{1}{|y_i|} \sum_{l} m_{il}\,
            \big(\log\pi_\theta(y_{il}) - \log\pi_{old}(y_{il})\big)

    Zheng et al. (2025), "Group sequence policy optimization", https://arxiv.org/abs/2507.18071.

    Args:
      log_probs: `[*B, L]` float, per-token log π_θ (sequence axis last).
      old_log_probs: `[*B, L]` float, per-token log π_old.
      mask: optional `[*B, L]` bool, valid tokens.

    Returns:
      `[*B]` float, log s_i (0 for a sequence with no valid token).
    """
    fn = "sequence_log_ratio"
    _checks.check_rank(fn, "log_probs", log_probs, 1, "[*B, L] with the sequence axis last")
    dtype = _checks.compute_dtype(log_probs, old_log_probs)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    _checks.check_shape(fn, "old_log_probs", old_log_probs, log_probs.shape, "`log_probs`")
    old_log_probs = _checks.as_float(fn, "old_log_probs", old_log_probs, dtype)
    mask = _checks.check_mask(fn, mask, log_probs.shape, "`log_probs`")
    tokens = jnp.ones_like(log_probs) if mask is None else mask.astype(dtype)
    log_probs = _checks.select(mask, log_probs)
    old_log_probs = _checks.select(mask, jax.lax.stop_gradient(old_log_probs))
    return (log_probs - old_log_probs).sum(-1) / jnp.maximum(tokens.sum(-1), 1.0)


def ppo_clip_loss(
    log_probs: jax.Array,
    old_log_probs: jax.Array,
    advantages: jax.Array,
    *,
    clip_eps=0.2,
    clip_eps_high=None,
    dual_clip=None,
    sequence_level: bool = False,
    mask: jax.Array | None = None,
    reduction: str = "mean",
    normalizer=None,
) -> jax.Array:
    r"""PPO's clipped surrogate loss (to minimise), with clip-higher, dual-clip and GSPO variants.

    .. math::
        \rho = \frac{\pi_\theta(a \mid s)}{\pi_{old}(a \mid s)},\qquad
        J = \min\big(\rho \hat A,\ \text{clip}(\rho, 1 - \epsilon_{low}, 1 + \epsilon_{high})
            \hat A\big),\qquad L = -\mathbb{E}[J]

    * Symmetric ε: Schulman et al. (2017), "Proximal policy optimization algorithms",
      https://arxiv.org/abs/1707.06347 (`clip_eps`).
    * Clip-higher, ε_high ≠ ε_low: Yu et al. (2025), "DAPO", https://arxiv.org/abs/2503.14476
      (`clip_eps_high`).
    * Dual-clip: for Â < 0, J ← max(J, c·Â) with c > 1 bounds the loss of very large ratios. Ye
      et al. (2020), "Mastering complex control in MOBA games with deep RL",
      https://arxiv.org/abs/1912.09729 (`dual_clip`).
    * Sequence level (GSPO): ρ_i = exp(`sequence_log_ratio`), one ratio and one advantage per
      sequence. Zheng et al. (2025).

    At ρ = 1 its gradient equals that of `policy_gradient_loss` on the same data (its value is
    then −E[Â], not −E[log π · Â]). Neither `old_log_probs` nor `advantages` receive gradients.

    Args:
      log_probs: `[*S]` float, log π_θ(a|s) (token level) or `[*B, L]` per-token (sequence level).
      old_log_probs: same shape, log π_old(a|s) recorded when acting.
      advantages: `[*S]` float (token level) or `[*B]` float, one per sequence (sequence level).
      clip_eps: scalar float ≥ 0, ε (ε_low when `clip_eps_high` is given); may be traced.
      clip_eps_high: optional scalar float ≥ 0, ε_high; may be traced.
      dual_clip: optional scalar float c > 1; may be traced.
      sequence_level: use the GSPO sequence ratio.
      mask: optional bool, `[*S]` (token level) or `[*B, L]` (sequence level: valid tokens;
        sequences with no valid token are left out).
      reduction: see `pgjax.aggregate_loss` (at sequence level it reduces over sequences).
      normalizer: the constant of reduction `"constant_normalizer"` (Dr. GRPO: sequences ×
        maximum length).

    Returns:
      scalar float.
    """
    fn = "ppo_clip_loss"
    low, high = _clip_bounds(fn, clip_eps, clip_eps_high)
    if dual_clip is not None:
        _checks.check_scalar(fn, "dual_clip", dual_clip, above=1)
    dtype = _checks.compute_dtype(log_probs, old_log_probs, advantages)
    if sequence_level:
        if mask is not None:  # checked here, so that an error names this kernel
            _checks.check_rank(fn, "log_probs", log_probs, 1, "[*B, L] with the sequence axis last")
            mask = _checks.check_mask(fn, mask, jnp.shape(log_probs), "`log_probs`")
        log_ratio = sequence_log_ratio(log_probs, old_log_probs, mask)
        mask = None if mask is None else mask.any(-1)
        expected, like = log_ratio.shape, "`log_probs` without its sequence axis, [*B]"
    else:
        log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
        _checks.check_shape(fn, "old_log_probs", old_log_probs, log_probs.shape, "`log_probs`")
        old_log_probs = _checks.as_float(fn, "old_log_probs", old_log_probs, dtype)
        mask = _checks.check_mask(fn, mask, log_probs.shape, "`log_probs`")
        log_probs = _checks.select(mask, log_probs)
        log_ratio = log_probs - _checks.select(mask, jax.lax.stop_gradient(old_log_probs))
        expected, like = log_probs.shape, "`log_probs`"
    _checks.check_shape(fn, "advantages", advantages, expected, like)
    advantages = jax.lax.stop_gradient(_checks.as_float(fn, "advantages", advantages, dtype))
    advantages = _checks.select(mask, advantages)
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, low, high) * advantages
    # A select, not jnp.minimum: the same value, and its gradient is one select instead of
    # minimum's tie-splitting (≈1.5× faster loss + gradient on large batches).
    objective = jnp.where(unclipped <= clipped, unclipped, clipped)
    if dual_clip is not None:
        objective = jnp.where(
            advantages < 0, jnp.maximum(objective, dual_clip * advantages), objective
        )
    return aggregate_loss(-objective, mask, reduction, normalizer)


def clip_fraction(
    log_probs: jax.Array,
    old_log_probs: jax.Array,
    *,
    clip_eps=0.2,
    clip_eps_high=None,
    mask: jax.Array | None = None,
) -> jax.Array:
    r"""Fraction of samples whose ratio lies outside [1 − ε_low, 1 + ε_high] (a diagnostic).

    Args:
      log_probs: `[*S]` float, log π_θ(a|s).
      old_log_probs: `[*S]` float, log π_old(a|s).
      clip_eps: scalar float, ε (ε_low when `clip_eps_high` is given).
      clip_eps_high: optional scalar float, ε_high.
      mask: optional `[*S]` bool.

    Returns:
      scalar float in [0, 1], gradient stopped.
    """
    fn = "clip_fraction"
    low, high = _clip_bounds(fn, clip_eps, clip_eps_high)
    dtype = _checks.compute_dtype(log_probs, old_log_probs)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    _checks.check_shape(fn, "old_log_probs", old_log_probs, log_probs.shape, "`log_probs`")
    old_log_probs = _checks.as_float(fn, "old_log_probs", old_log_probs, dtype)
    mask = _checks.check_mask(fn, mask, log_probs.shape, "`log_probs`")
    log_ratio = _checks.select(mask, log_probs) - _checks.select(mask, old_log_probs)
    ratio = jnp.exp(log_ratio)
    clipped = ((ratio < low) | (ratio > high)).astype(dtype)
    return jax.lax.stop_gradient(aggregate_loss(clipped, mask, "mean"))
