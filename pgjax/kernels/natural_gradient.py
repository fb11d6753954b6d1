"""TRPO's natural-gradient step: Fisher-vector products, conjugate gradient and a line search
under a KL trust region, on any parameter pytree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.sparse.linalg import cg

from pgjax.kernels import _checks

Params = Any


def _tree_vdot(a, b) -> jax.Array:
    leaves = jax.tree.leaves(jax.tree.map(lambda x, y: jnp.vdot(x, y), a, b))
    return sum(leaves, jnp.zeros((), jnp.float32))


def _tree_axpy(alpha, x, y):
    # y + alpha · x in y's dtype (a float64 alpha under x64 must not promote float32 params).
    return jax.tree.map(lambda xi, yi: (yi + alpha * xi).astype(yi.dtype), x, y)


def fisher_vector_product(
    kl_fn: Callable[[Params], jax.Array], params: Params, vector: Params, damping=0.0
) -> Params:
    r"""(F + damping·I) v, with F the Hessian of the mean KL at `params`, by autodiff.

    .. math:: F v = \nabla_\theta \big(\nabla_\theta \overline{KL}(\theta_{old}, \theta)^\top v\big)
        \big|_{\theta=\theta_{old}}

    At θ = θ_old the KL Hessian equals the Fisher information matrix of the policy; no matrix is
    ever formed (a forward-over-reverse Hessian-vector product). Schulman et al. (2015), "Trust
    region policy optimization", https://arxiv.org/abs/1502.05477, Appendix C.

    Args:
      kl_fn: params ↦ scalar mean KL(π_old ‖ π_params), with π_old fixed (= π at `params`).
      params: pytree, θ_old.
      vector: pytree like `params`, v.
      damping: scalar float ≥ 0, added as damping · v for conditioning.

    Returns:
      pytree like `params`.
    """
    _checks.check_scalar("fisher_vector_product", "damping", damping, at_least=0)
    hvp = jax.jvp(jax.grad(kl_fn), (params,), (vector,))[1]
    return _tree_axpy(damping, vector, hvp)


class NaturalGradientInfo(NamedTuple):
    """Diagnostics of one `natural_gradient_step` (all scalars)."""

    kl: jax.Array  # mean KL of the accepted parameters (0 if no step was accepted)
    improvement: jax.Array  # surrogate(new) − surrogate(old)
    step_fraction: jax.Array  # fraction of the full natural step taken (0: rejected)
    accepted: jax.Array  # bool, whether any step passed the line search


def natural_gradient_step(
    params: Params,
    surrogate_fn: Callable[[Params], jax.Array],
    kl_fn: Callable[[Params], jax.Array],
    max_kl,
    *,
    fisher_kl_fn: Callable[[Params], jax.Array] | None = None,
    cg_iterations: int = 10,
    cg_damping=0.1,
    backtrack_coef=0.8,
    max_backtracks: int = 10,
) -> tuple[Params, NaturalGradientInfo]:
    r"""One TRPO update: maximise the surrogate subject to mean KL ≤ δ.

    .. math::
        g = \nabla_\theta L(\theta),\quad x \approx F^{-1} g \ \text{(conjugate gradient)},\quad
        \Delta = \sqrt{\frac{2\delta}{x^\top F x}}\; x

    then a backtracking line search over θ + α^k Δ, k = 0 … K−1, accepting the first step that
    improves the surrogate and keeps the mean KL ≤ δ; if none does (including when the
    direction is not finite, e.g. from a singular Fisher with `cg_damping=0`), the input
    parameters are returned exactly, bit for bit. Schulman et al. (2015), "Trust region policy
    optimization", https://arxiv.org/abs/1502.05477, §6 and Appendix C. Fully jittable (CG is
    `jax.scipy.sparse.linalg.cg`, the line search a `lax.while_loop`); works on any pytree.

    Args:
      params: pytree, θ_old.
      surrogate_fn: params ↦ scalar surrogate objective to *maximise*, e.g.
        E[π_θ(a|s)/π_old(a|s) · Â].
      kl_fn: params ↦ scalar mean KL(π_old ‖ π_params) over the batch (0 at θ_old).
      max_kl: scalar float > 0, δ (may be traced; a traced δ ≤ 0 accepts no step).
      fisher_kl_fn: optional params ↦ mean KL whose Hessian gives the Fisher-vector products
        (the CG system and the step size), typically `kl_fn` on a subsample of the batch:
        OpenAI Baselines' TRPO uses every 5th sample, for a fraction of the cost. The line
        search still enforces `kl_fn` ≤ δ. Default: `kl_fn`.
      cg_iterations: static int ≥ 1, conjugate-gradient iterations.
      cg_damping: scalar float ≥ 0, Fisher damping.
      backtrack_coef: scalar float in (0, 1), α.
      max_backtracks: static int ≥ 1, K.

    `max_kl`, `cg_damping` and `backtrack_coef` are range-checked (NaN included) when known at
    trace time; traced values are not checked.

    Returns:
      `(new_params, NaturalGradientInfo)`.
    """
    fn = "natural_gradient_step"
    _checks.check_scalar(fn, "max_kl", max_kl, above=0)
    _checks.check_scalar(fn, "cg_damping", cg_damping, at_least=0)
    _checks.check_scalar(fn, "backtrack_coef", backtrack_coef, above=0, below=1)
    cg_iterations = _checks.check_count(fn, "cg_iterations", cg_iterations)
    max_backtracks = _checks.check_count(fn, "max_backtracks", max_backtracks)
    old_surrogate, gradient = jax.value_and_grad(surrogate_fn)(params)

    def fvp(v):
        return fisher_vector_product(fisher_kl_fn or kl_fn, params, v, cg_damping)

    direction, _ = cg(fvp, gradient, maxiter=cg_iterations)
    curvature = _tree_vdot(direction, fvp(direction))
    step_size = jnp.sqrt(2.0 * max_kl / jnp.maximum(curvature, 1e-12))

    def evaluate(fraction):
        candidate = _tree_axpy(fraction * step_size, direction, params)
        improvement = surrogate_fn(candidate) - old_surrogate
        kl = kl_fn(candidate)
        ok = jnp.isfinite(improvement) & jnp.isfinite(kl) & (improvement > 0) & (kl <= max_kl)
        return ok, improvement, kl

    def keep_searching(state):
        k, ok, *_ = state
        return (~ok) & (k < max_backtracks)

    # The loop carries its scalars in the default float dtype: the surrogate and KL may be float32
    # while that is float64 (under jax_enable_x64), and `while_loop` needs one carry type.
    zero = jnp.zeros((), jnp.result_type(float))

    def try_next(state):
        k, *_ = state
        fraction = backtrack_coef**k
        ok, improvement, kl = evaluate(fraction)
        as_carry = lambda x: jnp.asarray(x).astype(zero.dtype)  # noqa: E731
        return k + 1, ok, as_carry(fraction), as_carry(improvement), as_carry(kl)

    _, accepted, fraction, improvement, kl = jax.lax.while_loop(
        keep_searching, try_next, (jnp.array(0), jnp.array(False), zero, zero, zero)
    )
    fraction = jnp.where(accepted, fraction, 0.0)
    # A select, not θ + 0 · Δ: a rejected step returns θ exactly even when Δ is NaN.
    candidate = _tree_axpy(fraction * step_size, direction, params)
    new_params = jax.tree.map(lambda c, p: jnp.where(accepted, c, p), candidate, params)
    info = NaturalGradientInfo(
        kl=jnp.where(accepted, kl, 0.0),
        improvement=jnp.where(accepted, improvement, 0.0),
        step_fraction=fraction,
        accepted=accepted,
    )
    return new_params, info
