"""Soft actor-critic: the soft TD target, the twin-Q critic loss, the actor loss and the
temperature loss (Haarnoja et al., 2018, "Soft actor-critic: off-policy maximum entropy deep
reinforcement learning with a stochastic actor", https://arxiv.org/abs/1801.01290, and
"Soft actor-critic algorithms and applications", https://arxiv.org/abs/1812.05905).

Shapes: a batch of transitions `[*S]` (e.g. `[B]` sampled from a replay buffer); the values of
K critics stacked on a leading axis, `[K, *S]` (K = 2 for twin Q; the min over them is the
clipped double-Q estimate of Fujimoto et al., 2018, https://arxiv.org/abs/1802.09477). α > 0 is
the temperature. `terminated` marks a terminal successor; a time limit needs no flag, because
`next_q_values` and `next_log_probs` are evaluated at the true successor s' (the final
observation), which a truncated transition bootstraps from.

A mask or `terminated` flag is bool, or numbers that are 0/1: any other value (0.5, NaN) raises
ValueError when known at trace time; traced, it cannot be checked and every nonzero value counts as
set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks
from pgjax.kernels.aggregation import aggregate_loss


def _ensemble(fn: str, name: str, x, shape, dtype) -> jax.Array:
    """`[K, *S]` values of K ≥ 1 critics."""
    _checks.check_rank(fn, name, x, len(shape) + 1, "[K, *S], one row per critic")
    _checks.check_shape(fn, name, x, (jnp.shape(x)[0], *shape), "K critics × the batch")
    return _checks.as_float(fn, name, x, dtype)


def _valid(fn: str, mask, shape) -> jax.Array | None:
    return _checks.check_mask(fn, mask, shape, "the batch")


def _select(mask, x: jax.Array) -> jax.Array:
    """`x` (`[*S]` or `[K, *S]`) with masked-out elements replaced by 0 before any arithmetic,
    so that non-finite values there reach neither the loss nor its gradient."""
    return x if mask is None else jnp.where(mask, x, 0.0)


def soft_q_targets(
    rewards: jax.Array,
    next_q_values: jax.Array,
    next_log_probs: jax.Array,
    terminated: jax.Array,
    gamma,
    temperature,
    *,
    stop_gradient: bool = True,
) -> jax.Array:
    r"""Soft Bellman targets of the twin critics.

    .. math::
        y = r + \gamma\, (1 - \text{terminated})
            \Big(\min_k \bar Q_k(s', a') - \alpha \log \pi(a' \mid s')\Big),
        \qquad a' \sim \pi(\cdot \mid s')

    Haarnoja et al. (2018), https://arxiv.org/abs/1812.05905, eqs. (3) and (5), with the min over
    target critics of Fujimoto et al. (2018). A terminated transition's target is r alone: the
    bootstrap is selected away (non-finite values of a terminal s' do not reach y); a truncated
    one bootstraps like any other, from s'.

    Args:
      rewards: `[*S]` float, r.
      next_q_values: `[K, *S]` float, Q̄_k(s', a') of the K target critics.
      next_log_probs: `[*S]` float, log π(a' | s') of the fresh action a'.
      terminated: `[*S]` bool, s' is terminal.
      gamma: scalar or `[*S]` float in [0, 1], discount.
      temperature: scalar float ≥ 0, α.
      stop_gradient: stop gradients through the target (default).

    Returns:
      `[*S]` float, y.
    """
    fn = "soft_q_targets"
    shape = jnp.shape(rewards)
    dtype = _checks.compute_dtype(rewards, next_q_values, next_log_probs)
    rewards = _checks.as_float(fn, "rewards", rewards, dtype)
    next_q_values = _ensemble(fn, "next_q_values", next_q_values, shape, dtype)
    _checks.check_shape(fn, "next_log_probs", next_log_probs, shape, "`rewards`")
    next_log_probs = _checks.as_float(fn, "next_log_probs", next_log_probs, dtype)
    _checks.check_shape(fn, "terminated", terminated, shape, "`rewards`")
    terminated = _checks.as_bool(fn, "terminated", terminated)
    gamma = _checks.coefficient(fn, "gamma", gamma, shape, dtype, 0.0, 1.0)
    temperature = _temperature(fn, temperature, dtype)
    # Selected before any arithmetic: min's gradient is NaN at a NaN even when its cotangent is 0.
    next_q_values = jnp.where(terminated, 0.0, next_q_values)
    next_log_probs = jnp.where(terminated, 0.0, next_log_probs)
    soft_value = next_q_values.min(axis=0) - temperature * next_log_probs
    targets = rewards + jnp.where(terminated, 0.0, gamma * soft_value)
    return jax.lax.stop_gradient(targets) if stop_gradient else targets


def twin_q_loss(
    q_values: jax.Array,
    targets: jax.Array,
    *,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""The critics' soft Bellman residual, summed over the K critics.

    .. math::
        J_Q = \sum_k \mathbb{E}\Big[\tfrac12 \big(Q_k(s, a) - y\big)^2\Big]

    Haarnoja et al. (2018), https://arxiv.org/abs/1812.05905, eq. (5), one term per critic.
    `targets` are constants (e.g. `pgjax.soft_q_targets`).

    Args:
      q_values: `[K, *S]` float, Q_k(s, a) of the K online critics at the stored actions.
      targets: `[*S]` float, y.
      mask: optional `[*S]` bool, valid transitions.
      reduction: see `pgjax.aggregate_loss` (applied per critic).

    Returns:
      scalar float.
    """
    fn = "twin_q_loss"
    shape = jnp.shape(targets)
    dtype = _checks.compute_dtype(q_values, targets)
    q_values = _ensemble(fn, "q_values", q_values, shape, dtype)
    targets = jax.lax.stop_gradient(_checks.as_float(fn, "targets", targets, dtype))
    mask = _valid(fn, mask, shape)
    q_values, targets = _select(mask, q_values), _select(mask, targets)
    per_critic = [aggregate_loss(0.5 * jnp.square(q - targets), mask, reduction) for q in q_values]
    return sum(per_critic[1:], per_critic[0])


def sac_actor_loss(
    log_probs: jax.Array,
    q_values: jax.Array,
    temperature,
    *,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""The policy's KL to the critics' Boltzmann policy, up to a constant.

    .. math::
        J_\pi = \mathbb{E}_{s,\ \tilde a \sim \pi(\cdot \mid s)}
            \Big[\alpha \log \pi(\tilde a \mid s) - \min_k Q_k(s, \tilde a)\Big]

    Haarnoja et al. (2018), https://arxiv.org/abs/1812.05905, eq. (7), with ã = tanh(μ + σ ε)
    reparameterised (eq. 11), so the gradient flows through `log_probs` and, via ã, through
    `q_values` into the policy (differentiate with respect to the actor's parameters only). α is
    a constant here.

    Args:
      log_probs: `[*S]` float, log π(ã | s) of the reparameterised actions.
      q_values: `[K, *S]` float, Q_k(s, ã) of the online critics.
      temperature: scalar float ≥ 0, α.
      mask: optional `[*S]` bool, valid states.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    fn = "sac_actor_loss"
    shape = jnp.shape(log_probs)
    dtype = _checks.compute_dtype(log_probs, q_values)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    q_values = _ensemble(fn, "q_values", q_values, shape, dtype)
    temperature = jax.lax.stop_gradient(_temperature(fn, temperature, dtype))
    mask = _valid(fn, mask, shape)
    log_probs, q_values = _select(mask, log_probs), _select(mask, q_values)
    return aggregate_loss(temperature * log_probs - q_values.min(axis=0), mask, reduction)


def sac_temperature_loss(
    log_temperature,
    log_probs: jax.Array,
    target_entropy,
    *,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Automatic temperature adjustment: α rises while the policy's entropy is below target.

    .. math::
        J(\alpha) = \mathbb{E}_{\tilde a \sim \pi}\Big[-\alpha \big(\log \pi(\tilde a \mid s)
            + \bar{\mathcal H}\big)\Big], \qquad \alpha = e^{\log \alpha}

    Haarnoja et al. (2018), https://arxiv.org/abs/1812.05905, eq. (18); the usual target is
    H̄ = −dim(A). The temperature is learned as log α (α stays positive); `log_probs` are
    constants here.

    Args:
      log_temperature: scalar float, log α (gradients flow here).
      log_probs: `[*S]` float, log π(ã | s) of fresh actions.
      target_entropy: scalar float, H̄.
      mask: optional `[*S]` bool, valid states.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    fn = "sac_temperature_loss"
    if jnp.ndim(log_temperature) != 0 or jnp.ndim(target_entropy) != 0:
        raise ValueError(
            f"{fn}: `log_temperature` and `target_entropy` must be scalars, got shapes "
            f"{jnp.shape(log_temperature)} and {jnp.shape(target_entropy)}."
        )
    dtype = _checks.compute_dtype(log_temperature, log_probs)
    log_temperature = _checks.as_float(fn, "log_temperature", log_temperature, dtype)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    target = _checks.as_float(fn, "target_entropy", target_entropy, dtype)
    mask = _valid(fn, mask, log_probs.shape)
    excess = jax.lax.stop_gradient(_select(mask, log_probs) + target)
    return aggregate_loss(-jnp.exp(log_temperature) * excess, mask, reduction)


def _temperature(fn: str, temperature, dtype) -> jax.Array:
    if jnp.ndim(temperature) != 0:
        raise ValueError(
            f"{fn}: `temperature` must be a scalar, got shape {jnp.shape(temperature)}."
        )
    temperature = _checks.as_float(fn, "temperature", temperature, dtype)
    value = _checks.concrete_value(temperature)
    if value is not None and not value >= 0:
        raise ValueError(f"{fn}: `temperature` must be >= 0, got {value}.")
    return temperature
