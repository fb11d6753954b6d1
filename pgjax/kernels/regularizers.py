"""Regularisers of the policy: the entropy bonus, and the KL to a reference or old policy (sample
estimators, the penalty, PPO's approx-KL diagnostic and the adaptive coefficient).

Only log-probabilities of the sampled actions/tokens are available in most RL and RLHF code, so
KL(π ‖ π_ref) is estimated from samples a ~ π with r = π_ref(a) / π(a) (Schulman, 2020,
"Approximating KL divergence", http://joschu.net/blog/kl-approx.html):

* k1 = −log r: unbiased, high variance, can be negative per sample.
* k2 = ½ (log r)²: biased, low variance, always ≥ 0.
* k3 = (r − 1) − log r: unbiased, low variance, always ≥ 0.

An unbiased estimate of the KL's value is not an unbiased estimate of its gradient. With
d = log π_θ(a) − log π_ref(a) and samples a ~ π_θ (on-policy), the gradient of the penalty
depends on where it goes: "as a loss" (`kl_penalty_loss`: differentiated through log π_θ(a),
the samples held fixed) or "in the reward" (r ← r − β·sg(k), whose score-function gradient is
E[sg(k) ∇log π_θ]). In expectation, for one sampled token (exact on a categorical, tested):

===================  ============  ========================  ==============================
estimator            E[value]      E[∇] as a loss            E[∇] in the reward
===================  ============  ========================  ==============================
k1 = d               KL(π‖π_ref)   0, since E[∇log π] = 0    ∇KL(π‖π_ref), unbiased
k2 = ½ d²            biased        ∇KL(π‖π_ref), unbiased    ∇E[k2] − ∇KL(π‖π_ref), biased
k3 = e^(−d) − 1 + d  KL(π‖π_ref)   ∇KL(π_ref‖π), reversed    ∇KL(π‖π_ref) − ∇KL(π_ref‖π)
k3_value_k2_grad     KL(π‖π_ref)   ∇KL(π‖π_ref), unbiased    (meant for the loss only)
===================  ============  ========================  ==============================

So "k1 in the reward" (PPO-RLHF, REINFORCE++) and "k2 as a loss" give the gradient of the
reverse KL; GRPO's "k3 as a loss" gives the gradient of the forward KL(π_ref‖π), close to it
only while π ≈ π_ref; `"k3_value_k2_grad"` reports k3's unbiased value and differentiates k2
(a straight-through estimate: value k3, gradient of k2). Tang & Munos (2025), "On a few
pitfalls in KL divergence gradient estimation for RL", https://arxiv.org/abs/2506.09477; Liu et
al. (2025), "Rethinking KL regularization in RLHF: from value estimation to gradient
optimization", https://arxiv.org/abs/2510.01555. Off-policy samples (a ~ π_old, several
epochs) need the importance weight π_θ/π_old on top. For a whole sequence the gradient of
the sequence KL also credits earlier tokens with later tokens' KL (Tang & Munos), which
the per-token loss does not and the reward form does through the returns.

Masks select, they never multiply: NaN or ±inf in a masked-out element reaches neither a loss nor
its gradient. A mask is bool, or numbers that are 0/1: any other value (0.5, NaN) raises ValueError
when known at trace time; traced, it cannot be checked and every nonzero value counts as set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks
from pgjax.kernels.aggregation import aggregate_loss

ESTIMATORS = ("k1", "k2", "k3", "k3_value_k2_grad")


def entropy_loss(
    entropies: jax.Array, mask: jax.Array | None = None, reduction: str = "mean"
) -> jax.Array:
    r"""Negative mean policy entropy, the exploration regulariser of A3C and PPO.

    .. math:: L_H(\theta) = -\,\mathbb{E}\big[\mathcal H(\pi_\theta(\cdot \mid s_t))\big]

    Add `entropy_coef * entropy_loss(...)` to a loss to be minimised. Williams & Peng (1991),
    "Function optimization using connectionist reinforcement learning algorithms"; Mnih et al.
    (2016), §4. Per-state entropies come from a distribution's `entropy()` (see
    `pgjax.kernels.distributions`).

    Args:
      entropies: `[*S]` float, H(π(·|s_t)) per state.
      mask: optional `[*S]` bool.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    fn = "entropy_loss"
    dtype = _checks.compute_dtype(entropies)
    entropies = _checks.as_float(fn, "entropies", entropies, dtype)
    mask = _checks.check_mask(fn, mask, entropies.shape, "`entropies`")
    return aggregate_loss(-_checks.select(mask, entropies), mask, reduction)


def kl_estimate(log_probs: jax.Array, ref_log_probs: jax.Array, estimator: str = "k3") -> jax.Array:
    r"""Per-sample estimate of KL(π ‖ π_ref) from samples drawn from π.

    With :math:`\log r = \log\pi_{ref}(a) - \log\pi(a)`:
    k1 = −log r, k2 = ½ (log r)², k3 = exp(log r) − 1 − log r. `"k3_value_k2_grad"` has k3's
    value and k2's gradient, k2 + sg(k3 − k2): verl's `kl_penalty="k3+"` (`"low_var_kl+"`). What
    each one's gradient estimates is in this module's docstring.

    Args:
      log_probs: `[*S]` float, log π(a) of samples a ~ π (the sampling policy).
      ref_log_probs: `[*S]` float, log π_ref(a) of the same samples.
      estimator: `"k1"`, `"k2"`, `"k3"` or `"k3_value_k2_grad"`.

    Returns:
      `[*S]` float, per-sample estimates (their mean estimates the KL).
    """
    fn = "kl_estimate"
    _checks.check_choice(fn, "estimator", estimator, ESTIMATORS)
    dtype = _checks.compute_dtype(log_probs, ref_log_probs)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    _checks.check_shape(fn, "ref_log_probs", ref_log_probs, log_probs.shape, "`log_probs`")
    log_ratio = _checks.as_float(fn, "ref_log_probs", ref_log_probs, dtype) - log_probs
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return 0.5 * jnp.square(log_ratio)
    k3 = jnp.expm1(log_ratio) - log_ratio
    if estimator == "k3":
        return k3
    k2 = 0.5 * jnp.square(log_ratio)
    return k2 + jax.lax.stop_gradient(k3 - k2)


def kl_penalty_loss(
    log_probs: jax.Array,
    ref_log_probs: jax.Array,
    estimator: str = "k3",
    mask: jax.Array | None = None,
    reduction: str = "mean",
    normalizer=None,
) -> jax.Array:
    r"""KL penalty to a reference policy, as added to a policy loss in RLHF / GRPO.

    .. math:: L_{KL} = \mathbb{E}_{a\sim\pi_\theta}\big[k(\log\pi_\theta(a), \log\pi_{ref}(a))\big]

    Gradients flow through `log_probs` only; `ref_log_probs` is a constant. Used with β as in
    Ouyang et al. (2022) and with k3 in GRPO (Shao et al., 2024, "DeepSeekMath",
    https://arxiv.org/abs/2402.03300). As a loss, on-policy, k2 and `"k3_value_k2_grad"` give
    an unbiased estimate of ∇KL(π_θ‖π_ref), k3 one of ∇KL(π_ref‖π_θ) and k1 zero in expectation
    (the table in `pgjax.kernels.regularizers`); `"k3_value_k2_grad"` reports k3's value.

    Args:
      log_probs: `[*S]` float, log π_θ of the sampled actions/tokens.
      ref_log_probs: `[*S]` float, log π_ref of the same.
      estimator: `"k1"`, `"k2"`, `"k3"` or `"k3_value_k2_grad"` (see `kl_estimate`).
      mask: optional `[*S]` bool.
      reduction: see `pgjax.aggregate_loss`.
      normalizer: the constant of reduction `"constant_normalizer"`.

    Returns:
      scalar float.
    """
    log_probs, ref_log_probs = _masked_pair(
        "kl_penalty_loss", log_probs, "ref_log_probs", ref_log_probs, mask
    )
    per_sample = kl_estimate(log_probs, jax.lax.stop_gradient(ref_log_probs), estimator)
    return aggregate_loss(per_sample, mask, reduction, normalizer)


def _masked_pair(fn: str, log_probs, name: str, other, mask):
    """Both log-probability arrays with masked-out elements set to 0 (a select), so that the
    estimators never see a NaN or ±inf there."""
    if mask is None:
        return log_probs, other
    _checks.check_shape(fn, name, other, jnp.shape(log_probs), "`log_probs`")
    mask = _checks.check_mask(fn, mask, jnp.shape(log_probs), "`log_probs`")
    return _checks.select(mask, log_probs), _checks.select(mask, other)


def approx_kl(
    log_probs: jax.Array,
    old_log_probs: jax.Array,
    mask: jax.Array | None = None,
) -> jax.Array:
    r"""The "approx KL" diagnostic of PPO: KL(π_old ‖ π_θ) with the k3 estimator.

    Actions were sampled from π_old, so :math:`\log r = \log\pi_\theta - \log\pi_{old}` and the
    estimate is the masked mean of exp(log r) − 1 − log r ≥ 0. A diagnostic: its gradient is
    stopped.

    Args:
      log_probs: `[*S]` float, log π_θ(a) under the current parameters.
      old_log_probs: `[*S]` float, log π_old(a) recorded when acting.
      mask: optional `[*S]` bool.

    Returns:
      scalar float.
    """
    log_probs, old_log_probs = _masked_pair(
        "approx_kl", log_probs, "old_log_probs", old_log_probs, mask
    )
    per_sample = kl_estimate(old_log_probs, log_probs, "k3")
    return jax.lax.stop_gradient(aggregate_loss(per_sample, mask, "mean"))


def adaptive_kl_coefficient(
    beta,
    kl,
    target,
    *,
    rule: str = "ppo",
    gain: float = 0.1,
) -> jax.Array:
    r"""Updates a KL-penalty coefficient β towards a target KL.

    * `"ppo"` (Schulman et al., 2017, §4): β' = β/2 if KL < target/1.5, 2β if KL > 1.5·target,
      else β.
    * `"proportional"` (Ziegler et al., 2019, "Fine-tuning language models from human
      preferences", https://arxiv.org/abs/1909.08593): β' = β · (1 + gain · clip(KL/target − 1,
      −0.2, 0.2)).

    Pure and jittable: β, KL and target may be traced. Values known at trace time are checked
    (NaN included); traced ones are not.

    Args:
      beta: scalar float > 0, the current coefficient.
      kl: scalar float (not NaN), the KL measured after the last update.
      target: scalar float > 0, the desired KL.
      rule: `"ppo"` or `"proportional"`.
      gain: scalar float ≥ 0, proportional-controller gain (`K_β · n_steps / horizon` in
        Ziegler et al.).

    Returns:
      scalar float, the new β.
    """
    fn = "adaptive_kl_coefficient"
    _checks.check_choice(fn, "rule", rule, ("ppo", "proportional"))
    _checks.check_scalar(fn, "beta", beta, above=0)
    _checks.check_scalar(fn, "kl", kl)
    _checks.check_scalar(fn, "target", target, above=0)
    _checks.check_scalar(fn, "gain", gain, at_least=0)
    dtype = _checks.compute_dtype(beta, kl, target)
    beta = jnp.asarray(beta, dtype)
    kl = jnp.asarray(kl, dtype)
    target = jnp.asarray(target, dtype)
    if rule == "ppo":
        return jnp.where(kl < target / 1.5, beta / 2, jnp.where(kl > target * 1.5, beta * 2, beta))
    error = jnp.clip(kl / target - 1.0, -0.2, 0.2)
    return beta * (1.0 + gain * error)
