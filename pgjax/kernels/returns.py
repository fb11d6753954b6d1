"""Return and advantage estimators: TD errors, Monte-Carlo / bootstrapped, n-step and λ-returns,
and generalized advantage estimation (GAE).

Conventions shared by every kernel here:

* Inputs are time-major, `[T, *B]`, with any trailing batch shape.
* `terminated[t]` and `truncated[t]` describe the transition out of step t. `next_values[t]` is
  V of the true successor of step t: on a truncated step that is V(final_observation), not V of
  the state the environment reset to.
* On `terminated[t]` the successor is worth 0. On `truncated[t]` it is bootstrapped with
  `next_values[t]`. On either, the recursion does not carry across into the next episode.
* The last row bootstraps from `next_values[T-1]` (the rollout was cut, not the episode).
* Episode boundaries select, they never multiply: a terminated step's `next_values` is never
  read, and the recursion does not carry back across a boundary, so NaN or ±inf there or in
  another episode reaches neither the result nor its gradient (with respect to `rewards`,
  `values` and `next_values`).
* `gamma`, `lambda_`: a scalar (possibly traced, e.g. under `vmap` over hyperparameters), the
  batch shape `B`, or the full `[T, *B]`, in [0, 1]: checked (NaN included) when known at trace
  time, unchecked when traced.
* `terminated` and `truncated` are bool, or numbers that are 0/1: any other value (0.5, NaN)
  raises ValueError when known at trace time; traced, every nonzero value counts as set.
* Results are targets: gradients are stopped unless `stop_gradient=False`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks
from pgjax.kernels.recurrence import METHODS, solve


def _maybe_stop(x: jax.Array, stop_gradient: bool) -> jax.Array:
    return jax.lax.stop_gradient(x) if stop_gradient else x


def _bootstrap(i, unused=None) -> jax.Array:
    """γ_t (1 − terminated_t) V(s'_t): the discounted value of the true successor, exactly 0 on
    a terminated step (and wherever `unused` holds) whatever `next_values` holds there."""
    not_terminated = 1.0 - i["terminated"].astype(i["rewards"].dtype)
    # The select keeps a non-finite V(s') that is not read out of the value and the gradient.
    # The 0/1 factor is then redundant, but it keeps the arithmetic that of the multiplying
    # formula: with a bare select, XLA compiled PPO's update with different rounding inside
    # the driver's chunk loop than inside `make_train`'s scan (measured: 1e-10 differences in
    # tests/training/test_driver.py), and those must be the same bits.
    read = jnp.where(i["terminated"] if unused is None else unused, 0.0, i["next_values"])
    return i["gamma"] * not_terminated * read


def td_errors(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    gamma,
    *,
    stop_gradient: bool = True,
) -> jax.Array:
    r"""One-step temporal-difference errors.

    .. math:: \delta_t = r_t + \gamma_t (1 - \text{terminated}_t)\, V(s'_t) - V(s_t)

    Truncation needs no flag here: a truncated step bootstraps, which `next_values[t]` (the value
    of the final observation) already does. Sutton (1988), "Learning to predict by the methods of
    temporal differences".

    Args:
      rewards: `[T, *B]` float, r_t.
      values: `[T, *B]` float, V(s_t).
      next_values: `[T, *B]` float, V(s'_t) of the true successor of step t.
      terminated: `[T, *B]` bool, the episode ended in a terminal state after step t.
      gamma: scalar, `B` or `[T, *B]` float in [0, 1], discount.
      stop_gradient: stop gradients through `next_values` (the bootstrap target).

    Returns:
      `[T, *B]` float, δ_t (gradients flow into `values` only, unless `stop_gradient=False`).
    """
    x = _checks.trajectory(
        "td_errors",
        rewards,
        terminated,
        jnp.zeros(jnp.shape(rewards), bool),
        gamma,
        values=values,
        next_values=next_values,
    )
    target = x["rewards"] + _bootstrap(x)
    return _maybe_stop(target, stop_gradient) - x["values"]


def lambda_returns(
    rewards: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma,
    lambda_,
    *,
    method: str = "scan",
    stop_gradient: bool = True,
) -> jax.Array:
    r"""TD(λ) returns: an exponentially weighted mix of n-step returns.

    .. math::
        G^\lambda_t = r_t + \gamma_t (1 - \text{terminated}_t)
            \big[(1 - \lambda_t c_t)\, V(s'_t) + \lambda_t c_t\, G^\lambda_{t+1}\big]

    where `c_t = 1` when the episode continues from t into t+1 (neither terminated nor truncated,
    and t is not the last row) and 0 otherwise, so a truncated or final row bootstraps fully from
    `next_values`. λ = 1 gives the bootstrapped Monte-Carlo return, λ = 0 the one-step TD target.
    Sutton & Barto (2018), "Reinforcement Learning: An Introduction", §12.1.

    Args:
      rewards: `[T, *B]` float, r_t.
      next_values: `[T, *B]` float, V(s'_t) of the true successor of step t.
      terminated: `[T, *B]` bool.
      truncated: `[T, *B]` bool, the episode was cut (time limit) after step t.
      gamma: scalar, `B` or `[T, *B]` float in [0, 1].
      lambda_: scalar, `B` or `[T, *B]` float in [0, 1].
      method: `"scan"` or `"associative"`; see `pgjax.reverse_linear_recurrence`.
      stop_gradient: treat the result as a constant target.

    Returns:
      `[T, *B]` float, G^λ_t.
    """
    return _lambda_returns(
        "lambda_returns",
        rewards,
        next_values,
        terminated,
        truncated,
        gamma,
        lambda_,
        method,
        stop_gradient,
    )


def _lambda_returns(
    fn, rewards, next_values, terminated, truncated, gamma, lambda_, method, stop_gradient
):
    # `fn` names the public kernel in validation errors (discounted_returns delegates here).
    _checks.check_choice(fn, "method", method, METHODS)
    x = _checks.trajectory(
        fn,
        rewards,
        terminated,
        truncated,
        gamma,
        next_values=next_values,
        lambda_=lambda_,
    )
    dtype = x["rewards"].dtype
    shape = x["rewards"].shape
    inputs = {
        "rewards": x["rewards"],
        "terminated": x["terminated"],
        "truncated": _checks.as_bool(fn, "truncated", truncated),
        # 1 except on the last row, which bootstraps fully from next_values[T-1].
        "not_last": (jnp.arange(shape[0]) < shape[0] - 1).reshape((-1,) + (1,) * (len(shape) - 1)),
        # Unbroadcast (already validated): a scalar or per-batch value stays a loop constant.
        "gamma": _checks.as_float(fn, "gamma", gamma, dtype),
        "lambda_": _checks.as_float(fn, "lambda_", lambda_, dtype),
        "next_values": x["next_values"] if next_values is not None else jnp.zeros((), dtype),
    }
    return _maybe_stop(solve(_lambda_terms, inputs, shape, method), stop_gradient)


def _lambda_terms(i):
    """(γλc, r + γ(1 − terminated)V' (1 − λc)) of G^λ_t, for one time step's inputs or all.

    V' is not read where its weight (1 − terminated)(1 − λc) is 0: on terminated steps, and
    inside an episode when λ = 1 (so `discounted_returns` reads it only where the episode was
    cut)."""
    continues = ~(i["terminated"] | i["truncated"]) & i["not_last"]
    trace = jnp.where(continues, i["lambda_"], 0.0)
    bootstrap = _bootstrap(i, i["terminated"] | (trace == 1))
    return i["gamma"] * trace, i["rewards"] + bootstrap * (1.0 - trace)


def discounted_returns(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma,
    next_values: jax.Array | None = None,
    *,
    method: str = "scan",
    stop_gradient: bool = True,
) -> jax.Array:
    r"""Discounted reward-to-go within each episode segment.

    .. math::
        G_t = r_t + \gamma_t \big[c_t\, G_{t+1}
              + (1 - c_t)(1 - \text{terminated}_t)\, V(s'_t)\big]

    with `c_t` as in `lambda_returns` (this is `lambda_returns` with λ = 1). Without
    `next_values` it is the pure Monte-Carlo return of REINFORCE (Williams, 1992, "Simple
    statistical gradient-following algorithms for connectionist reinforcement learning"): nothing
    is bootstrapped, so a truncated or unfinished episode counts the rewards it saw and no more.

    Args:
      rewards: `[T, *B]` float.
      terminated: `[T, *B]` bool.
      truncated: `[T, *B]` bool.
      gamma: scalar, `B` or `[T, *B]` float in [0, 1].
      next_values: optional `[T, *B]` float, V(s'_t), used where the episode was cut.
      method: `"scan"` or `"associative"`.
      stop_gradient: treat the result as a constant target.

    Returns:
      `[T, *B]` float, G_t.

    Examples:
      >>> import jax.numpy as jnp, pgjax
      >>> rewards, no = jnp.ones(3), jnp.zeros(3, bool)
      >>> pgjax.discounted_returns(rewards, no, no, gamma=0.5)
      Array([1.75, 1.5 , 1.  ], dtype=float32)
    """
    return _lambda_returns(
        "discounted_returns",
        rewards,
        next_values,
        terminated,
        truncated,
        gamma,
        1.0,
        method,
        stop_gradient,
    )


def n_step_returns(
    rewards: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma,
    n: int,
    *,
    stop_gradient: bool = True,
) -> jax.Array:
    r"""n-step bootstrapped returns, cut at episode and segment boundaries.

    .. math::
        G^{(n)}_t = \sum_{k=0}^{m-1} \Big(\prod_{j<k} \gamma_{t+j}\Big) r_{t+k}
            + \Big(\prod_{j<m} \gamma_{t+j}\Big)(1 - \text{terminated}_{t+m-1})\, V(s'_{t+m-1})

    where m ≤ n is the number of steps until the episode ends (terminated or truncated) or the
    segment ends, whichever comes first. Watkins (1989); Mnih et al. (2016), "Asynchronous
    methods for deep reinforcement learning" (A3C uses these targets).

    Args:
      rewards: `[T, *B]` float.
      next_values: `[T, *B]` float, V(s'_t).
      terminated: `[T, *B]` bool.
      truncated: `[T, *B]` bool.
      gamma: scalar, `B` or `[T, *B]` float in [0, 1].
      n: static positive int, the number of steps before bootstrapping.
      stop_gradient: treat the result as a constant target.

    Returns:
      `[T, *B]` float, G^(n)_t.
    """
    fn = "n_step_returns"
    n = _checks.check_count(fn, "n", n)
    x = _checks.trajectory(fn, rewards, terminated, truncated, gamma, next_values=next_values)
    num_steps = x["rewards"].shape[0]

    def ahead(a, k):
        # a[t + k], padded past the end; padding is never read because `alive` is False there.
        pad = jnp.zeros((k, *a.shape[1:]), a.dtype)
        return jnp.concatenate([a[k:], pad], axis=0)

    bootstrap = _bootstrap(x)
    continues = x["continues"] > 0
    returns = jnp.zeros_like(x["rewards"])
    discount = jnp.ones_like(x["rewards"])
    alive = jnp.ones(x["rewards"].shape, bool)
    # Selects, not products with 0/1 flags: a step past the episode's end (possibly NaN) is
    # never added, so it reaches neither the return nor its gradient.
    for k in range(min(n, num_steps)):
        continues_k = ahead(continues, k)
        stops_here = alive & ~continues_k if k < n - 1 else alive
        returns = jnp.where(alive, returns + discount * ahead(x["rewards"], k), returns)
        returns = jnp.where(stops_here, returns + discount * ahead(bootstrap, k), returns)
        discount = discount * ahead(x["gamma"], k)
        alive = alive & continues_k
    return _maybe_stop(returns, stop_gradient)


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

    Examples:
      An episode that terminates after its second step (V = 0 everywhere):

      >>> import jax.numpy as jnp, pgjax
      >>> rewards, values, no = jnp.ones(2), jnp.zeros(2), jnp.zeros(2, bool)
      >>> terminated = jnp.array([False, True])
      >>> pgjax.gae(rewards, values, values, terminated, no, gamma=0.5, lambda_=1.0)[0]
      Array([1.5, 1. ], dtype=float32)

      Truncated after the first step instead, with V(final observation) = 2: the first step
      is bootstrapped from it and the second step's advantage is not carried back.

      >>> next_values, truncated = jnp.array([2.0, 0.0]), jnp.array([True, False])
      >>> pgjax.gae(rewards, values, next_values, no, truncated, gamma=0.5, lambda_=1.0)[0]
      Array([2., 1.], dtype=float32)
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
    deltas = i["rewards"] + _bootstrap(i) - i["values"]
    continues = ~(i["terminated"] | i["truncated"])
    return jnp.where(continues, i["gamma"] * i["lambda_"], 0.0), deltas
