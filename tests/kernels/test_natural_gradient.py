"""Fisher-vector products and the TRPO natural-gradient step on a tiny linear-softmax policy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import pgjax

NUM_STATES, NUM_FEATURES, NUM_ACTIONS = 6, 3, 3


def make_problem(seed=0):
    """A linear-softmax policy on random features, with a KL to the policy at `params0`."""
    rng = np.random.default_rng(seed)
    features = jnp.asarray(rng.normal(size=(NUM_STATES, NUM_FEATURES)), jnp.float32)
    params0 = {
        "w": jnp.asarray(rng.normal(scale=0.3, size=(NUM_FEATURES, NUM_ACTIONS)), jnp.float32),
        "b": jnp.asarray(rng.normal(scale=0.3, size=(NUM_ACTIONS,)), jnp.float32),
    }
    actions = jnp.asarray(rng.integers(0, NUM_ACTIONS, size=NUM_STATES))
    advantages = jnp.asarray(rng.normal(size=NUM_STATES), jnp.float32)

    def log_policy(params):
        return jax.nn.log_softmax(features @ params["w"] + params["b"], axis=-1)

    old_log_p = jax.lax.stop_gradient(log_policy(params0))

    def kl_fn(params):
        return jnp.mean(jnp.sum(jnp.exp(old_log_p) * (old_log_p - log_policy(params)), -1))

    def surrogate_fn(params):
        taken = jnp.arange(NUM_STATES), actions
        ratio = jnp.exp(log_policy(params)[taken] - old_log_p[taken])
        return jnp.mean(ratio * advantages)

    return params0, kl_fn, surrogate_fn, log_policy


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0], np.float64)


@pytest.mark.parametrize("damping", [0.0, 0.1])
def test_fisher_vector_product_equals_explicit_kl_hessian_times_vector(damping):
    params0, kl_fn, _, _ = make_problem()
    theta0, unravel = ravel_pytree(params0)
    hessian = np.asarray(jax.jit(jax.hessian(lambda th: kl_fn(unravel(th))))(theta0), np.float64)
    fvp = jax.jit(lambda p, v: pgjax.fisher_vector_product(kl_fn, p, v, damping))
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = jnp.asarray(rng.normal(size=theta0.shape), jnp.float32)
        out = fvp(params0, unravel(v))
        assert jax.tree.structure(out) == jax.tree.structure(params0)
        expected = hessian @ np.asarray(v, np.float64) + damping * np.asarray(v, np.float64)
        np.testing.assert_allclose(flat(out), expected, rtol=1e-4, atol=1e-5)


def test_kl_hessian_at_old_params_is_the_fisher_information_of_the_policy():
    # F = mean_s sum_a π(a|s) ∇log π(a|s) ∇log π(a|s)^T, built from per-action score vectors.
    params0, kl_fn, _, log_policy = make_problem(seed=2)
    theta0, unravel = ravel_pytree(params0)
    scores = np.asarray(jax.jit(jax.jacobian(lambda th: log_policy(unravel(th))))(theta0))
    scores = scores.astype(np.float64)
    probs = np.exp(np.asarray(log_policy(params0), np.float64))
    fisher = np.zeros((theta0.size, theta0.size))
    for s in range(NUM_STATES):
        for a in range(NUM_ACTIONS):
            fisher += probs[s, a] * np.outer(scores[s, a], scores[s, a]) / NUM_STATES
    v = np.random.default_rng(3).normal(size=theta0.size)
    out = jax.jit(pgjax.fisher_vector_product, static_argnums=0)(
        kl_fn, params0, unravel(jnp.asarray(v, jnp.float32))
    )
    np.testing.assert_allclose(flat(out), fisher @ v, rtol=1e-4, atol=1e-5)


def _trpo_step(params0, features, actions, advantages, max_kl, cg_damping, penalty):
    """One step on the linear-softmax problem, surrogate − penalty · ‖θ − θ0‖² (module level and
    data-as-arguments, so every test below shares one compiled program)."""
    taken = jnp.arange(NUM_STATES), actions

    def log_policy(params):
        return jax.nn.log_softmax(features @ params["w"] + params["b"], axis=-1)

    old_log_p = jax.lax.stop_gradient(log_policy(params0))

    def kl_fn(params):
        return jnp.mean(jnp.sum(jnp.exp(old_log_p) * (old_log_p - log_policy(params)), -1))

    def surrogate_fn(params):
        ratio = jnp.exp(log_policy(params)[taken] - old_log_p[taken])
        distance = sum(
            jnp.sum((p - q) ** 2)
            for p, q in zip(jax.tree.leaves(params), jax.tree.leaves(params0), strict=True)
        )
        return jnp.mean(ratio * advantages) - penalty * distance

    new_params, info = pgjax.natural_gradient_step(
        params0, surrogate_fn, kl_fn, max_kl, cg_iterations=20, cg_damping=cg_damping
    )
    return new_params, info, surrogate_fn(new_params) - surrogate_fn(params0), kl_fn(new_params)


trpo_step = jax.jit(_trpo_step)


def problem_data(seed=0):
    rng = np.random.default_rng(seed)
    features = jnp.asarray(rng.normal(size=(NUM_STATES, NUM_FEATURES)), jnp.float32)
    params0 = {
        "w": jnp.asarray(rng.normal(scale=0.3, size=(NUM_FEATURES, NUM_ACTIONS)), jnp.float32),
        "b": jnp.asarray(rng.normal(scale=0.3, size=(NUM_ACTIONS,)), jnp.float32),
    }
    actions = jnp.asarray(rng.integers(0, NUM_ACTIONS, size=NUM_STATES))
    advantages = jnp.asarray(rng.normal(size=NUM_STATES), jnp.float32)
    return params0, features, actions, advantages


@pytest.mark.parametrize("seed", [0, 1])
def test_accepted_natural_gradient_step_respects_the_trust_region_and_improves(seed):
    max_kl = 0.01
    params0, features, actions, advantages = problem_data(seed)
    new_params, info, improvement, kl = trpo_step(
        params0, features, actions, advantages, max_kl, 0.1, 0.0
    )
    assert bool(info.accepted)
    assert 0.0 < float(kl) <= max_kl * (1 + 1e-5)
    assert float(improvement) > 0.0
    np.testing.assert_allclose(info.improvement, improvement, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(info.kl, kl, rtol=1e-4, atol=1e-8)
    assert 0.0 < float(info.step_fraction) <= 1.0
    assert jax.tree.structure(new_params) == jax.tree.structure(params0)


def test_natural_gradient_step_direction_solves_the_damped_fisher_system_with_kl_step_size():
    params0, kl_fn, surrogate_fn, _ = make_problem(seed=4)
    params0_, features, actions, advantages = problem_data(seed=4)
    damping, max_kl = 0.1, 0.005
    theta0, unravel = ravel_pytree(params0)
    fisher = np.asarray(jax.jit(jax.hessian(lambda th: kl_fn(unravel(th))))(theta0), np.float64)
    grad = flat(jax.jit(jax.grad(surrogate_fn))(params0))
    damped = fisher + damping * np.eye(theta0.size)
    x = np.linalg.solve(damped, grad)
    new_params, info, _, _ = trpo_step(
        params0_, features, actions, advantages, max_kl, damping, 0.0
    )
    assert bool(info.accepted)
    step = flat(new_params) - flat(params0)
    cosine = step @ x / (np.linalg.norm(step) * np.linalg.norm(x))
    assert cosine > 0.999
    # The full step has ½ Δᵀ (F + λI) Δ = δ; a backtracked one is scaled by the step fraction.
    quadratic_kl = 0.5 * step @ damped @ step
    np.testing.assert_allclose(quadratic_kl, max_kl * float(info.step_fraction) ** 2, rtol=1e-3)


@pytest.mark.parametrize(
    ("advantage_scale", "penalty"),
    [(1.0, 1e5), (0.0, 1.0)],
    ids=["steep_penalty_defeats_the_gradient", "already_at_the_maximum"],
)
def test_step_is_rejected_and_params_unchanged_when_the_surrogate_cannot_improve(
    advantage_scale, penalty
):
    # steep: the gradient at θ0 is the real surrogate's, but a sharp concave penalty around θ0
    # makes every line-search step lose. at the maximum: zero advantages, so the surrogate is
    # −‖θ − θ0‖², maximal at θ0 (zero gradient).
    params0, features, actions, advantages = problem_data()
    new_params, info, _, _ = trpo_step(
        params0, features, actions, advantage_scale * advantages, 0.01, 0.1, penalty
    )
    assert not bool(info.accepted)
    assert float(info.step_fraction) == 0.0
    assert float(info.improvement) == 0.0 and float(info.kl) == 0.0
    np.testing.assert_array_equal(flat(new_params), flat(params0))


def test_natural_gradient_step_keeps_float32_params_under_x64():
    params0, features, actions, advantages = problem_data()
    with jax.enable_x64(True):
        new_params, info, _, _ = jax.jit(_trpo_step)(
            params0, features, actions, advantages, 0.01, 0.1, 0.0
        )
    assert bool(info.accepted)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(new_params))


def trust_region_problem(quartic):
    """Linear surrogate gᵀθ; KL = ½‖θ‖² + quartic·‖θ‖⁴, whose Hessian at θ_old = 0 (the Fisher
    the step is sized with) is I: the quartic term makes the true KL of the full natural step
    exceed δ, by an amount the quadratic model cannot see."""
    gradient = jnp.array([1.0, 0.5])

    def surrogate(params):
        return gradient @ params["w"]

    def kl(params):
        squared = params["w"] @ params["w"]
        return 0.5 * squared + quartic * squared**2

    return {"w": jnp.zeros(2)}, surrogate, kl, gradient


def test_line_search_backtracks_from_a_step_that_breaks_the_kl_bound():
    max_kl = 0.01
    params, surrogate, kl, gradient = trust_region_problem(quartic=1.0)
    new_params, info = pgjax.natural_gradient_step(params, surrogate, kl, max_kl, cg_damping=0.0)
    full_step = {"w": gradient * jnp.sqrt(2 * max_kl / (gradient @ gradient))}
    assert float(kl(full_step)) > max_kl  # the full natural step breaks the bound ...
    assert bool(info.accepted)  # ... so a shorter one is taken, which keeps it
    np.testing.assert_allclose(info.step_fraction, 0.8)
    np.testing.assert_allclose(new_params["w"], 0.8 * full_step["w"], rtol=1e-5)
    np.testing.assert_allclose(info.kl, kl(new_params), rtol=1e-5)
    assert float(info.kl) <= max_kl


def test_line_search_rejects_every_step_when_all_break_the_kl_bound():
    max_kl = 0.01
    params, surrogate, kl, _ = trust_region_problem(quartic=1e6)
    new_params, info = pgjax.natural_gradient_step(params, surrogate, kl, max_kl, cg_damping=0.0)
    assert not bool(info.accepted)
    assert float(info.step_fraction) == 0.0 and float(info.kl) == 0.0
    np.testing.assert_array_equal(new_params["w"], params["w"])
