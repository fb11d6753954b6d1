"""Entropy and KL terms (pgjax.kernels.regularizers) against references and their identities."""

from __future__ import annotations

import math

import jax
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
