"""Generalized advantage estimation (GAE)."""

from __future__ import annotations

import jax

from pgjax import _checks
from pgjax.recurrence import reverse_linear_recurrence
from pgjax.returns import _bootstrap, _maybe_stop


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma,
    lambda_,
    *,
    method: str = "scan",
    stop_gradient: bool = True,
) -> tuple[jax.Array, jax.Array]:
    r"""Generalized advantage estimation.

    .. math::
        \delta_t = r_t + \gamma_t (1 - \text{terminated}_t)\, V(s'_t) - V(s_t)

        \hat A_t = \delta_t + \gamma_t \lambda_t c_t\, \hat A_{t+1}

    with `c_t = 1` when the episode continues from t into t+1 (neither terminated nor truncated,
    and t is not the last row). A truncated step keeps its bootstrap `V(s'_t)` = V(final
    observation) but does not carry the next episode's advantages back. The value targets are
    `advantages + values`, which equal `lambda_returns` whenever `next_values[t] = values[t+1]`
    inside an episode. λ = 1 gives bootstrapped Monte-Carlo returns minus values, λ = 0 gives TD
    errors. Schulman et al. (2016), "High-dimensional continuous control using generalized
    advantage estimation", https://arxiv.org/abs/1506.02438.

    Args:
      rewards: `[T, *B]` float, r_t.
      values: `[T, *B]` float, V(s_t).
      next_values: `[T, *B]` float, V(s'_t) of the true successor of step t (on a truncated
        step, V(final_observation)).
      terminated: `[T, *B]` bool, the episode reached a terminal state after step t.
      truncated: `[T, *B]` bool, the episode was cut (time limit) after step t.
      gamma: scalar, `B` or `[T, *B]` float in [0, 1], discount.
      lambda_: scalar, `B` or `[T, *B]` float in [0, 1], GAE trace parameter.
      method: `"scan"` (reverse `lax.scan`, default, best on CPU) or `"associative"`
        (`lax.associative_scan`, O(log T) depth for long horizons on accelerators).
      stop_gradient: return both outputs as constants (the default: they are targets).

    Returns:
      `(advantages, value_targets)`, each `[T, *B]` float.
    """
    x = _checks.trajectory(
        "gae",
        rewards,
        terminated,
        truncated,
        gamma,
        values=values,
        next_values=next_values,
        lambda_=lambda_,
    )
    deltas = x["rewards"] + _bootstrap(x) - x["values"]
    trace = x["gamma"] * x["lambda_"] * x["continues"]
    advantages = reverse_linear_recurrence(trace, deltas, method)
    targets = advantages + x["values"]
    return _maybe_stop(advantages, stop_gradient), _maybe_stop(targets, stop_gradient)
