"""V-trace: off-policy value targets and policy-gradient advantages from truncated importance
ratios (IMPALA's correction for actors whose policy lags behind the learner's)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks


def vtrace(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    log_rhos: jax.Array,
    gamma,
    lambda_=1.0,
    *,
    rho_bar=1.0,
    c_bar=1.0,
    pg_rho_bar=1.0,
    stop_gradient: bool = True,
) -> tuple[jax.Array, jax.Array]:
    r"""V-trace value targets and policy-gradient advantages.

    Acting with a behaviour policy μ while learning π, with ratios
    :math:`\rho_t = \pi(a_t|s_t) / \mu(a_t|s_t) = e^{\text{log\_rhos}_t}`:

    .. math::
        \bar\rho_t = \min(\bar\rho, \rho_t), \qquad c_t = \lambda_t \min(\bar c, \rho_t),
        \qquad \rho^{pg}_t = \min(\bar\rho^{pg}, \rho_t)

        \delta_t = \bar\rho_t \big(r_t + \gamma_t (1 - \text{terminated}_t)\, V(s'_t)
            - V(s_t)\big)

        v_t - V(s_t) = \delta_t + \gamma_t\, k_t\, c_t\, \big(v_{t+1} - V(s_{t+1})\big)

        \hat A_t = \rho^{pg}_t \Big(r_t + \gamma_t (1 - \text{terminated}_t)
            \big[V(s'_t) + k_t \lambda_t (v_{t+1} - V(s_{t+1}))\big] - V(s_t)\Big)

    where `k_t = 1` when the episode continues from t into t+1 (neither terminated nor
    truncated, and t is not the last row), else 0. So the trace is cut at every episode end
    and at the end of the rollout; a truncated step still bootstraps from `next_values[t]`,
    V of the final observation, and a terminated successor counts 0. Espeholt et al. (2018),
    "IMPALA: Scalable distributed deep-RL with importance weighted actor-learner
    architectures", https://arxiv.org/abs/1802.01561, equations (1) and (4), with λ in the
    traces (their Remark 2). The policy-gradient target mixes `v_{t+1}` with `V(s_{t+1})` by λ,
    as rlax does, so that on-policy (π = μ, ρ̄, c̄ ≥ 1) the targets are λ-returns and the
    advantages are GAE(λ); with λ = 1 the paper's `r_t + γ v_{t+1}` exactly. The paper assumes
    ρ̄ ≥ c̄: ρ̄ sets the value function V-trace converges to, c̄ only how fast.

    Episode boundaries select (`jnp.where`), never multiply: NaN or ±inf in another episode's
    steps (any input, `log_rhos` included), or in `next_values` of a terminated step, reaches
    neither result nor gradient. Every product is a double `where`, so a non-finite factor
    gives no gradient at all (not 0 · NaN = NaN) to the step's other inputs; in the episodes
    whose results are read, such a value shows as a non-finite result.

    Args:
      rewards: `[T, *B]` float, r_t.
      values: `[T, *B]` float, V(s_t) under the learner's value function.
      next_values: `[T, *B]` float, V(s'_t) of the true successor of step t (on a truncated
        step, V(final_observation)); inside an episode, `values[t+1]`.
      terminated: `[T, *B]` bool, the episode reached a terminal state after step t.
      truncated: `[T, *B]` bool, the episode was cut (time limit) after step t.
      log_rhos: `[T, *B]` float, log π(a_t|s_t) − log μ(a_t|s_t).
      gamma: scalar, `B` or `[T, *B]` float in [0, 1], discount.
      lambda_: scalar, `B` or `[T, *B]` float in [0, 1], trace parameter (1 in the paper).
      rho_bar: scalar, `B` or `[T, *B]` float >= 0, ρ̄, truncation of the ratios in δ_t
        (`inf`: none).
      c_bar: scalar, `B` or `[T, *B]` float >= 0, c̄, truncation of the trace coefficients.
      pg_rho_bar: scalar, `B` or `[T, *B]` float >= 0, ρ̄^pg, truncation of the ratio that
        weighs the policy-gradient advantage.
      stop_gradient: return both outputs as constants (the default: they are targets).

    Returns:
      `(advantages, value_targets)`, each `[T, *B]` float: Â_t and v_t.
    """
    fn = "vtrace"
    x = _checks.trajectory(
        fn,
        rewards,
        terminated,
        truncated,
        gamma,
        values=values,
        next_values=next_values,
        lambda_=lambda_,
    )
    shape = x["rewards"].shape
    dtype = x["rewards"].dtype
    _checks.check_shape(fn, "log_rhos", log_rhos, shape, "`rewards`, time-major [T, *B]")
    log_rhos = _checks.as_float(fn, "log_rhos", log_rhos, dtype)
    # exp's gradient is the cotangent times ρ: 0 · NaN (or 0 · inf at log ρ = +inf) where no
    # result reads the step. A double where keeps it out; ρ itself is exp(log ρ) everywhere.
    finite = jnp.isfinite(log_rhos)
    rhos = jnp.where(
        finite,
        jnp.exp(jnp.where(finite, log_rhos, 0.0)),
        jnp.exp(jax.lax.stop_gradient(log_rhos)),
    )
    clipped_rhos = jnp.minimum(_checks.coefficient(fn, "rho_bar", rho_bar, shape, dtype, 0.0), rhos)
    product = _checks.safe_product
    traces = product(
        x["lambda_"], jnp.minimum(_checks.coefficient(fn, "c_bar", c_bar, shape, dtype, 0.0), rhos)
    )
    pg_rhos = jnp.minimum(
        _checks.coefficient(fn, "pg_rho_bar", pg_rho_bar, shape, dtype, 0.0), rhos
    )
    terminal = x["terminated"]
    successor = jnp.where(terminal, 0.0, x["next_values"])
    # Every product below goes through `safe_product`: a step's ratio times its TD error, a trace
    # times the correction carried from the next step. Another episode's non-finite values make
    # its own results non-finite, which nobody reads, and reach no gradient (not 0 · NaN).
    deltas = product(clipped_rhos, x["rewards"] + product(x["gamma"], successor) - x["values"])

    decays = product(x["gamma"], traces)

    def step(correction_next, inputs):
        delta, decay, continues = inputs
        # Select before multiplying: 0 · NaN from the next episode would be NaN.
        correction = delta + product(decay, jnp.where(continues, correction_next, 0.0))
        return correction, correction

    continues = x["continues"] > 0
    _, corrections = jax.lax.scan(
        step, jnp.zeros(shape[1:], dtype), (deltas, decays, continues), reverse=True
    )
    value_targets = x["values"] + corrections
    next_corrections = jnp.concatenate([corrections[1:], jnp.zeros_like(corrections[:1])])
    pg_carried = product(x["lambda_"], jnp.where(continues, next_corrections, 0.0))
    bootstrap = jnp.where(terminal, 0.0, x["next_values"] + pg_carried)
    advantages = product(pg_rhos, x["rewards"] + product(x["gamma"], bootstrap) - x["values"])
    if stop_gradient:
        return jax.lax.stop_gradient(advantages), jax.lax.stop_gradient(value_targets)
    return advantages, value_targets
