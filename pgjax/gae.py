"""Generalized advantage estimation (GAE)."""

from __future__ import annotations

import jax

from pgjax import _checks
from pgjax.recurrence import METHODS, solve
from pgjax.returns import _maybe_stop


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
    _checks.check_choice("gae", "method", method, METHODS)
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
    dtype = x["rewards"].dtype
    inputs = {
        "rewards": x["rewards"],
        "values": x["values"],
        "next_values": x["next_values"],
        "terminated": x["terminated"],
        "truncated": _checks.as_bool("gae", "truncated", truncated),
        # Unbroadcast (already validated): a scalar or per-batch value stays a loop constant.
        "gamma": _checks.as_float("gae", "gamma", gamma, dtype),
        "lambda_": _checks.as_float("gae", "lambda_", lambda_, dtype),
    }
    advantages = solve(_gae_terms, inputs, x["rewards"].shape, method)
    targets = advantages + x["values"]
    return _maybe_stop(advantages, stop_gradient), _maybe_stop(targets, stop_gradient)


def _gae_terms(i):
    """(γλc, δ) of Â_t = δ_t + γ_t λ_t c_t Â_{t+1}, for one time step's inputs or for all.

    c = not (terminated or truncated). The last row needs no special case: nothing follows it
    (the scan starts from Â_T = 0 and the associative scan never applies the last coefficient).
    """
    not_terminated = 1.0 - i["terminated"].astype(i["rewards"].dtype)
    deltas = i["rewards"] + i["gamma"] * not_terminated * i["next_values"] - i["values"]
    continues = (~(i["terminated"] | i["truncated"])).astype(deltas.dtype)
    return i["gamma"] * i["lambda_"] * continues, deltas
