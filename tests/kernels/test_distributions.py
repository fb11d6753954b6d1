"""Action distributions against closed forms written in plain NumPy, and sampling statistics."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax

TOL = {"rtol": 1e-5, "atol": 1e-5}
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def np_log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def np_gaussian_log_prob(x, mean, log_std):
    std = np.exp(log_std)
    return np.sum(-0.5 * ((x - mean) / std) ** 2 - log_std - HALF_LOG_2PI, axis=-1)


# ------------------------------------------------------------------------------------------
# Categorical
# ------------------------------------------------------------------------------------------


def test_categorical_log_prob_entropy_and_kl_match_numpy(rng):
    logits = rng.normal(size=(5, 4)) * 2
    other = rng.normal(size=(5, 4))
    actions = rng.integers(0, 4, size=5)
    dist = pgjax.Categorical(jnp.asarray(logits, jnp.float32))
    log_p, log_q = np_log_softmax(logits), np_log_softmax(other)
    p = np.exp(log_p)
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(actions)), log_p[range(5), actions], **TOL)
    np.testing.assert_allclose(dist.log_probs_all(), log_p, **TOL)
    np.testing.assert_allclose(dist.entropy(), -(p * log_p).sum(-1), **TOL)
    np.testing.assert_allclose(
        dist.kl(pgjax.Categorical(jnp.asarray(other, jnp.float32))),
        (p * (log_p - log_q)).sum(-1),
        **TOL,
    )
    np.testing.assert_array_equal(dist.mode(), logits.argmax(-1))


def test_categorical_impossible_actions_give_finite_entropy_kl_and_gradients():
    logits = jnp.array([[0.0, 1.0, -jnp.inf], [2.0, -jnp.inf, -jnp.inf]])
    p = np.exp(np_log_softmax([[0.0, 1.0], [2.0, -50.0]]))
    expected_entropy = [-(p[0] * np.log(p[0])).sum(), 0.0]
    dist = pgjax.Categorical(logits)
    np.testing.assert_allclose(dist.entropy(), expected_entropy, **TOL)
    uniform = pgjax.Categorical(jnp.zeros((2, 3)))
    np.testing.assert_allclose(
        dist.kl(uniform), [(p[0] * (np.log(p[0]) + np.log(3))).sum(), np.log(3)], **TOL
    )
    grads = jax.jit(
        lambda lg: (
            jax.grad(lambda x: pgjax.Categorical(x).entropy().sum())(lg),
            jax.grad(lambda x: pgjax.Categorical(x).kl(uniform).sum())(lg),
        )
    )(logits)
    for grad in grads:
        assert np.all(np.isfinite(np.asarray(grad))), grad
    # KL to a distribution that rules out a possible action is infinite, as it should be.
    assert np.isinf(float(uniform.kl(dist)[0]))


def test_categorical_sample_frequencies_match_probabilities():
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    n = 40_000
    dist = pgjax.Categorical(jnp.broadcast_to(jnp.log(jnp.asarray(probs)), (n, 4)))
    samples = np.asarray(dist.sample(jax.random.key(0)))
    assert samples.shape == (n,)
    freq = np.bincount(samples, minlength=4) / n
    stderr = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) < 5 * stderr), (freq, probs)


# ------------------------------------------------------------------------------------------
# Diagonal Gaussian
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state_independent_std", [False, True])
def test_diag_gaussian_log_prob_entropy_and_kl_match_closed_forms(rng, state_independent_std):
    mean, mean2 = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    log_std = rng.normal(scale=0.5, size=(3,) if state_independent_std else (6, 3))
    log_std2 = rng.normal(scale=0.5, size=(6, 3))
    x = rng.normal(size=(6, 3))
    dist = pgjax.DiagGaussian(jnp.asarray(mean, jnp.float32), jnp.asarray(log_std, jnp.float32))
    other = pgjax.DiagGaussian(jnp.asarray(mean2, jnp.float32), jnp.asarray(log_std2, jnp.float32))
    ls = np.broadcast_to(log_std, mean.shape)
    np.testing.assert_allclose(
        dist.log_prob(jnp.asarray(x, jnp.float32)), np_gaussian_log_prob(x, mean, ls), **TOL
    )
    np.testing.assert_allclose(
        dist.entropy(), np.sum(0.5 * np.log(2 * np.pi * np.e * np.exp(2 * ls)), -1), **TOL
    )
    var, var2 = np.exp(2 * ls), np.exp(2 * log_std2)
    expected_kl = np.sum(
        0.5 * (np.log(var2 / var) + (var + (mean - mean2) ** 2) / var2 - 1.0), axis=-1
    )
    np.testing.assert_allclose(dist.kl(other), expected_kl, **TOL)
    np.testing.assert_array_equal(dist.mode(), np.asarray(mean, np.float32))


def test_diag_gaussian_samples_have_the_right_moments_and_monte_carlo_kl_matches():
    mean = jnp.array([1.0, -2.0])
    log_std = jnp.log(jnp.array([0.5, 2.0]))
    n = 50_000
    dist = pgjax.DiagGaussian(jnp.broadcast_to(mean, (n, 2)), log_std)
    x = np.asarray(dist.sample(jax.random.key(1)), np.float64)
    stderr = np.array([0.5, 2.0]) / math.sqrt(n)
    assert np.all(np.abs(x.mean(0) - np.asarray(mean)) < 5 * stderr)
    np.testing.assert_allclose(x.std(0), [0.5, 2.0], rtol=0.02)
    other = pgjax.DiagGaussian(jnp.broadcast_to(jnp.array([0.0, 0.0]), (n, 2)), jnp.zeros(2))
    log_ratio = np.asarray(
        dist.log_prob(jnp.asarray(x, jnp.float32)) - other.log_prob(jnp.asarray(x, jnp.float32)),
        np.float64,
    )
    exact = float(dist.kl(other)[0])
    assert abs(log_ratio.mean() - exact) < 5 * log_ratio.std() / math.sqrt(n)


# ------------------------------------------------------------------------------------------
# Tanh-squashed Gaussian
# ------------------------------------------------------------------------------------------


def test_tanh_gaussian_sample_and_log_prob_equals_log_prob_of_the_sample():
    mean = jnp.array([[0.3, -0.5], [0.0, 1.0], [-1.0, 0.2]])
    key = jax.random.key(2)

    @jax.jit
    def run(mean):
        dist = pgjax.TanhGaussian(mean, jnp.full(2, -0.7))
        actions, log_prob = dist.sample_and_log_prob(key)
        return (
            actions,
            log_prob,
            dist.log_prob(actions),
            dist.sample(key),
            dist.entropy(key),
            dist.mode(),
        )

    actions, log_prob, log_prob_again, sampled, entropy, mode = run(mean)
    assert np.all(np.abs(np.asarray(actions)) < 0.999)  # away from saturation
    np.testing.assert_allclose(log_prob_again, log_prob, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(actions, sampled, **TOL)
    np.testing.assert_allclose(entropy, -log_prob, **TOL)
    np.testing.assert_allclose(mode, np.tanh(np.asarray(mean)), **TOL)


def test_tanh_gaussian_log_prob_is_finite_and_exact_for_huge_means():
    # tanh(20) rounds to 1 in float32; log(1 − tanh²) would be −inf. Compare with float64 maths
    # on the same pre-tanh sample: log N(u) − Σ log(1 − tanh²u), log(1 − tanh²u) = −2 log cosh u.
    mean = jnp.array([[20.0, -20.0], [20.0, 3.0]])
    log_std = jnp.zeros(2)
    key = jax.random.key(3)

    @jax.jit
    def run(mean):
        actions, log_prob = pgjax.TanhGaussian(mean, log_std).sample_and_log_prob(key)
        pre_tanh = pgjax.DiagGaussian(mean, log_std).sample(key)
        grad = jax.grad(lambda m: pgjax.TanhGaussian(m, log_std).sample_and_log_prob(key)[1].sum())(
            mean
        )
        return actions, log_prob, pre_tanh, grad

    actions, log_prob, u, grad = run(mean)
    u = np.asarray(u, np.float64)
    log_cosh = np.abs(u) + np.log1p(np.exp(-2 * np.abs(u))) - np.log(2.0)
    expected = np_gaussian_log_prob(u, np.asarray(mean), 0.0) + np.sum(2 * log_cosh, -1)
    assert np.all(np.isfinite(np.asarray(log_prob)))
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5)
    assert np.all(np.abs(np.asarray(actions)) <= 1.0)
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize(("mean", "log_std"), [(0.0, 0.0), (0.8, -0.5), (-1.5, 0.3)])
def test_tanh_gaussian_density_integrates_to_one_in_one_dimension(mean, log_std):
    # Midpoint rule on a = tanh(u) with a uniform grid in u (dense near ±1 in a), i.e.
    # ∫ p(a) da = ∫ p(tanh u) (1 − tanh²u) du.
    edges = np.linspace(-12.0, 12.0, 48_001)
    u = 0.5 * (edges[1:] + edges[:-1])
    a = np.tanh(u)
    inside = np.abs(a) < 1 - 1e-6  # where log_prob does not clip
    dist = pgjax.TanhGaussian(
        jnp.full((inside.sum(), 1), mean, jnp.float32), jnp.full(1, log_std, jnp.float32)
    )
    log_p = np.asarray(dist.log_prob(jnp.asarray(a[inside, None], jnp.float32)), np.float64)
    integral = np.sum(np.exp(log_p) * (1 - a[inside] ** 2)) * (edges[1] - edges[0])
    assert integral == pytest.approx(1.0, abs=2e-3)
