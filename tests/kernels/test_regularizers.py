"""Entropy and KL terms (pgjax.kernels.regularizers) against references and their identities."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given
from reference import PROPERTY, SHAPE, TOL, f32, float_arrays, jmask, random_mask

import pgjax

# Called eagerly on purpose: every test uses the same SHAPE, so JAX's per-op caches make eager
# calls cheap, where jitting each static variant (reduction, estimator, ...) compiles a program.
kl_estimate = pgjax.kl_estimate
kl_penalty_loss = pgjax.kl_penalty_loss


@pytest.mark.parametrize("mask_kind", ["none", "random"])
def test_entropy_loss_is_minus_masked_mean_entropy(rng, mask_kind):
    entropies = rng.random(SHAPE) * 2
    mask = random_mask(rng, SHAPE, mask_kind)
    out = pgjax.entropy_loss(f32(entropies), jmask(mask))
    np.testing.assert_allclose(out, ref.aggregate(-entropies, mask, "mean"), **TOL)


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_kl_estimate_matches_reference(rng, estimator):
    log_probs = -rng.random(SHAPE) * 3
    ref_log_probs = -rng.random(SHAPE) * 3
    out = kl_estimate(f32(log_probs), f32(ref_log_probs), estimator)
    np.testing.assert_allclose(out, ref.kl_estimate(log_probs, ref_log_probs, estimator), **TOL)


@PROPERTY
@given(float_arrays, float_arrays)
def test_k2_and_k3_estimates_are_nonnegative_per_sample(log_probs, ref_log_probs):
    for estimator in ("k2", "k3"):
        out = np.asarray(kl_estimate(f32(log_probs), f32(ref_log_probs), estimator))
        assert np.all(out >= 0.0), estimator


def test_k1_and_k3_are_unbiased_estimates_of_the_categorical_kl():
    rng = np.random.default_rng(1)
    p = np.array([0.5, 0.25, 0.15, 0.1])
    q = np.array([0.2, 0.3, 0.1, 0.4])
    exact = float(np.sum(p * np.log(p / q)))
    actions = rng.choice(4, size=200_000, p=p)
    log_p, log_q = f32(np.log(p)[actions]), f32(np.log(q)[actions])
    for estimator in ("k1", "k3"):
        samples = np.asarray(pgjax.kl_estimate(log_p, log_q, estimator), np.float64)
        stderr = samples.std() / math.sqrt(samples.size)
        assert abs(samples.mean() - exact) < 5 * stderr + 1e-6, estimator
    # k2 is biased here: its mean is measurably off, which shows the tolerance above is tight.
    k2 = np.asarray(pgjax.kl_estimate(log_p, log_q, "k2"), np.float64)
    assert abs(k2.mean() - exact) > 10 * k2.std() / math.sqrt(k2.size)


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_kl_penalty_loss_matches_reference_and_only_log_probs_get_gradients(rng, estimator):
    log_probs, ref_lp = -rng.random(SHAPE) * 2, -rng.random(SHAPE) * 2
    mask = random_mask(rng, SHAPE, "random")
    out = kl_penalty_loss(f32(log_probs), f32(ref_lp), estimator, jmask(mask))
    expected = ref.aggregate(ref.kl_estimate(log_probs, ref_lp, estimator), mask, "mean")
    np.testing.assert_allclose(out, expected, **TOL)
    g_lp, g_ref = jax.grad(
        lambda a, b: pgjax.kl_penalty_loss(a, b, estimator, jmask(mask)), argnums=(0, 1)
    )(f32(log_probs), f32(ref_lp))
    np.testing.assert_array_equal(g_ref, 0.0)
    assert np.any(np.asarray(g_lp) != 0.0)


def test_approx_kl_is_k3_of_new_over_old_ratio_with_stopped_gradient(rng):
    log_probs, old = -rng.random(SHAPE), -rng.random(SHAPE)
    out = pgjax.approx_kl(f32(log_probs), f32(old))
    log_r = log_probs - old  # π_θ / π_old, samples from π_old
    np.testing.assert_allclose(out, np.mean(np.exp(log_r) - 1 - log_r), **TOL)
    grad = jax.grad(lambda lp: pgjax.approx_kl(lp, f32(old)))(f32(log_probs))
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize(
    ("kl", "expected"),
    [(0.001, 0.5), (0.0066, 0.5), (0.0067, 1.0), (0.0149, 1.0), (0.0151, 2.0), (0.5, 2.0)],
)
def test_adaptive_kl_coefficient_ppo_rule_halves_keeps_or_doubles(kl, expected):
    # target 0.01: halve below 0.01 / 1.5 = 0.00667, double above 1.5 · 0.01 = 0.015.
    out = pgjax.adaptive_kl_coefficient(1.0, kl, 0.01)
    assert float(out) == pytest.approx(expected)


@pytest.mark.parametrize("kl", [0.0, 0.009, 0.011, 1.0])
def test_adaptive_kl_coefficient_proportional_rule_matches_formula(kl):
    out = jax.jit(
        lambda b, k, t: pgjax.adaptive_kl_coefficient(b, k, t, rule="proportional", gain=0.1)
    )(0.3, kl, 0.01)
    error = min(max(kl / 0.01 - 1.0, -0.2), 0.2)
    assert float(out) == pytest.approx(0.3 * (1.0 + 0.1 * error), rel=1e-6)


# ------------------------------------------------------------------------------------------
# What each estimator's gradient estimates: exact expectations on a small categorical
# ------------------------------------------------------------------------------------------

LOGITS = np.array([0.3, -1.2, 0.8, 0.0, -0.4])
REF_PROBS = np.array([0.05, 0.4, 0.1, 0.15, 0.3])


def _analytic():
    """π, and the float64 analytic gradients w.r.t. the logits of π = softmax(θ)."""
    p = np.exp(LOGITS - LOGITS.max())
    p /= p.sum()
    d = np.log(p) - np.log(REF_PROBS)
    kl = float(np.sum(p * d))
    k2 = 0.5 * d**2
    return {
        "p": p,
        "kl": kl,
        "grad_kl": p * (d - kl),  # ∇KL(π‖π_ref)
        "grad_reverse_kl": p - REF_PROBS,  # ∇KL(π_ref‖π) = −Σ π_ref ∇log π
        "reward_k2": p * (k2 - np.sum(p * k2)),  # E[sg(k2) ∇log π]
    }


def _expected_value_and_gradient(estimator, form):
    """E_{a~π}[k] and the expected gradient, summed exactly over the 5 actions with the sampling
    weights π(a) held constant: the gradient a sample a ~ π contributes in expectation."""
    log_ref = f32(np.log(REF_PROBS))

    def objective(logits):
        log_p = jax.nn.log_softmax(logits)
        weights = jax.lax.stop_gradient(jnp.exp(log_p))
        k = pgjax.kl_estimate(log_p, log_ref, estimator)
        value = jnp.sum(weights * jax.lax.stop_gradient(k))
        if form == "loss":
            return jnp.sum(weights * k), value
        # In the reward, r = −k: the score-function loss −Σ log π · (−w·sg(k)).
        advantages = -weights * jax.lax.stop_gradient(k)
        return pgjax.policy_gradient_loss(log_p, advantages, reduction="sum"), value

    grad, value = jax.grad(objective, has_aux=True)(f32(LOGITS))
    return float(value), np.asarray(grad, np.float64)


EXPECTED_GRADIENTS = {
    ("k1", "loss"): lambda a: np.zeros(5),
    ("k2", "loss"): lambda a: a["grad_kl"],
    ("k3", "loss"): lambda a: a["grad_reverse_kl"],
    ("k3_value_k2_grad", "loss"): lambda a: a["grad_kl"],
    ("k1", "reward"): lambda a: a["grad_kl"],
    ("k2", "reward"): lambda a: a["reward_k2"],
    ("k3", "reward"): lambda a: a["grad_kl"] - a["grad_reverse_kl"],
}


@pytest.mark.parametrize(("estimator", "form"), list(EXPECTED_GRADIENTS))
def test_kl_estimator_expected_gradient_as_loss_or_in_reward_matches_the_analytic_one(
    estimator, form
):
    analytic = _analytic()
    value, grad = _expected_value_and_gradient(estimator, form)
    np.testing.assert_allclose(grad, EXPECTED_GRADIENTS[estimator, form](analytic), atol=1e-6)
    if estimator != "k2":  # k1, k3 and the straight-through k3 are unbiased for the value
        np.testing.assert_allclose(value, analytic["kl"], rtol=1e-5)
    else:
        assert abs(value - analytic["kl"]) > 1e-3


def test_the_documented_gradients_differ_so_the_table_is_not_vacuous():
    a = _analytic()
    assert np.abs(a["grad_kl"] - a["grad_reverse_kl"]).max() > 0.05
    assert np.abs(a["grad_kl"]).max() > 0.05
    # k2 in the reward is ∇E_π[k2] − ∇KL(π‖π_ref), ∇E_π[k2] the full derivative.
    log_ref = np.log(REF_PROBS)

    def expected_k2(logits):
        log_p = jax.nn.log_softmax(logits)
        return jnp.sum(jnp.exp(log_p) * 0.5 * jnp.square(log_p - log_ref))

    full = np.asarray(jax.grad(expected_k2)(f32(LOGITS)), np.float64)
    np.testing.assert_allclose(a["reward_k2"], full - a["grad_kl"], atol=1e-6)


def test_k3_value_k2_grad_has_k3_values_and_k2_gradients_per_sample(rng):
    log_probs, ref_lp = f32(-rng.random(SHAPE) * 2), f32(-rng.random(SHAPE) * 2)
    mask = jmask(random_mask(rng, SHAPE, "random"))
    np.testing.assert_array_equal(
        kl_estimate(log_probs, ref_lp, "k3_value_k2_grad"), kl_estimate(log_probs, ref_lp, "k3")
    )

    def loss(estimator):
        return lambda lp: pgjax.kl_penalty_loss(lp, ref_lp, estimator, mask)

    np.testing.assert_allclose(loss("k3_value_k2_grad")(log_probs), loss("k3")(log_probs), **TOL)
    np.testing.assert_allclose(
        jax.grad(loss("k3_value_k2_grad"))(log_probs), jax.grad(loss("k2"))(log_probs), **TOL
    )
