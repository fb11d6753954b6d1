"""Action distributions against closed forms written in plain NumPy, and sampling statistics."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

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


# ------------------------------------------------------------------------------------------
# Invalid-action masks (Huang & Ontañón, 2020)
# ------------------------------------------------------------------------------------------


def valid_action_mask(rng, shape, p_valid=0.5):
    """A random `[*B, A]` mask with at least one valid action per row (one row with exactly one)."""
    mask = rng.random(shape) < p_valid
    rows = np.ndindex(*shape[:-1])
    for index in rows:
        mask[(*index, rng.integers(shape[-1]))] = True
    mask.reshape(-1, shape[-1])[0] = np.eye(shape[-1], dtype=bool)[1]
    return mask


def with_poisoned_masked_logits(rng, logits, mask):
    """`logits` with NaN, +inf or −inf wherever the mask is off: none of it may show."""
    poison = rng.choice(np.array([np.nan, np.inf, -np.inf]), size=logits.shape)
    return np.where(mask, logits, poison)


@pytest.fixture(params=[False, True], ids=["float32", "float64"])
def precision(request):
    """(dtype, tolerance): float32 against the float64 reference to ~1e-5, and the kernel run in
    float64 (x64 on) to 1e-10, which shows the formulas, not just float32 rounding, agree."""
    if not request.param:
        yield jnp.float32, TOL
        return
    with jax.enable_x64(True):
        yield jnp.float64, {"rtol": 1e-10, "atol": 1e-10}


def test_masked_categorical_log_probs_entropy_kl_and_mode_match_the_float64_reference(
    rng, precision
):
    dtype, tol = precision
    shape = (6, 5)
    logits, other = rng.normal(size=shape) * 2, rng.normal(size=shape)
    mask = valid_action_mask(rng, shape)
    dist = pgjax.Categorical(
        jnp.asarray(with_poisoned_masked_logits(rng, logits, mask), dtype), mask
    )
    other_dist = pgjax.Categorical(
        jnp.asarray(with_poisoned_masked_logits(rng, other, mask), dtype), jnp.asarray(mask)
    )
    expected = ref.categorical_log_probs(logits, mask)
    log_probs = np.asarray(dist.log_probs_all())
    assert log_probs.dtype == dtype
    np.testing.assert_array_equal(np.isneginf(log_probs), ~mask)  # −inf exactly where masked
    np.testing.assert_allclose(log_probs[mask], expected[mask], **tol)
    valid_actions = np.array([rng.choice(np.flatnonzero(row)) for row in mask])
    np.testing.assert_allclose(
        dist.log_prob(jnp.asarray(valid_actions)), expected[range(6), valid_actions], **tol
    )
    masked_actions = np.array([np.flatnonzero(~row)[0] for row in mask])
    assert np.all(np.isneginf(np.asarray(dist.log_prob(jnp.asarray(masked_actions)))))
    np.testing.assert_allclose(dist.entropy(), ref.categorical_entropy(logits, mask), **tol)
    np.testing.assert_allclose(
        dist.kl(other_dist), ref.categorical_kl(logits, other, mask, mask), **tol
    )
    unmasked = pgjax.Categorical(jnp.asarray(other, dtype))
    np.testing.assert_allclose(dist.kl(unmasked), ref.categorical_kl(logits, other, mask), **tol)
    np.testing.assert_array_equal(dist.mode(), np.where(mask, logits, -np.inf).argmax(-1))


def test_masked_categorical_gradient_is_that_over_the_valid_actions_and_exactly_zero_elsewhere(
    rng,
):
    # Over the valid actions, with p the renormalised softmax and H its entropy:
    # ∂H/∂z_b = −p_b (log p_b + H) and ∂ log π(a)/∂z_b = 1[a = b] − p_b; masked logits get 0.
    mask = valid_action_mask(rng, (4, 6))
    logits = rng.normal(size=(4, 6))
    actions = np.array([np.flatnonzero(row)[-1] for row in mask])
    weights = rng.normal(size=4)

    def objective(z):
        dist = pgjax.Categorical(z, mask)
        return jnp.sum(weights * (dist.entropy() + dist.log_prob(jnp.asarray(actions))))

    poisoned_logits = jnp.asarray(with_poisoned_masked_logits(rng, logits, mask), jnp.float32)
    grad = np.asarray(jax.jit(jax.grad(objective))(poisoned_logits))
    log_p = ref.categorical_log_probs(logits, mask)
    p = np.exp(log_p)
    entropy = ref.categorical_entropy(logits, mask)[:, None]
    chosen = np.eye(6)[actions]
    expected = weights[:, None] * (-p * (np.where(mask, log_p, 0.0) + entropy) + chosen - p)
    assert np.all(grad[~mask] == 0.0)
    np.testing.assert_allclose(grad[mask], expected[mask], **TOL)


def test_masked_categorical_samples_never_pick_a_masked_action_and_match_the_renormalised_softmax():
    """Over 20,000 keys: not one masked action (exact zero count), although the masked logits
    include the largest one (and NaN and +inf); and per row a chi-square test of the valid
    actions' frequencies against the float64 renormalised softmax at p = 1e-6."""
    logits = np.array(
        [
            [2.0, 0.5, 9.0, -0.3, 3.0, np.nan],
            [np.inf, 1.0, 1.0, 1.0, -2.0, 0.0],
            [0.1, -1.0, 0.7, 5.0, 5.0, -0.2],
        ]
    )
    mask = np.array(
        [
            [True, True, False, True, False, False],
            [False, True, False, True, True, False],
            [True, False, True, False, False, True],
        ]
    )
    n = 20_000
    dist = pgjax.Categorical(jnp.asarray(logits, jnp.float32), jnp.asarray(mask))
    keys = jax.random.split(jax.random.key(11), n)
    samples = np.asarray(jax.jit(jax.vmap(dist.sample))(keys))
    assert samples.shape == (n, 3)
    probs = np.exp(ref.categorical_log_probs(np.where(mask, logits, 0.0), mask))
    # With 3 valid actions a row's statistic has 2 degrees of freedom, whose survival function
    # is exp(−x/2): p = 1e-6 at x = 2 ln 1e6 ≈ 27.6.
    threshold = 2 * math.log(1e6)
    for row in range(3):
        counts = np.bincount(samples[:, row], minlength=6)
        assert counts[~mask[row]].sum() == 0, counts
        expected = n * probs[row, mask[row]]
        chi_square = np.sum((counts[mask[row]] - expected) ** 2 / expected)
        assert chi_square < threshold, (row, counts, expected)


# ------------------------------------------------------------------------------------------
# Bounded actions: tanh-squashed Gaussian on [low, high] and the Beta policy
# ------------------------------------------------------------------------------------------

LOW, HIGH = np.array([-2.0, 0.0, -0.5]), np.array([1.0, 4.0, 0.5])


def interior_actions(rng, shape, low, high, margin=0.05):
    return low + (high - low) * rng.uniform(margin, 1 - margin, size=shape)


def test_bounded_tanh_gaussian_log_prob_matches_the_float64_reference(rng, precision):
    dtype, tol = precision
    mean, log_std = rng.normal(size=(6, 3)), rng.normal(scale=0.5, size=3)
    actions = interior_actions(rng, (6, 3), LOW, HIGH)
    if dtype == jnp.float64:  # on the bounds the float32 clip limit 1 − 1e-6 itself rounds
        actions[0], actions[1], actions[2, 0] = LOW, HIGH, HIGH[0]
    dist = pgjax.TanhGaussian(*(jnp.asarray(x, dtype) for x in (mean, log_std, LOW, HIGH)))
    log_prob = dist.log_prob(jnp.asarray(actions, dtype))
    assert log_prob.dtype == dtype
    np.testing.assert_allclose(
        log_prob, ref.tanh_gaussian_log_prob(actions, mean, log_std, LOW, HIGH), **tol
    )
    np.testing.assert_allclose(
        dist.mode(), (HIGH + LOW) / 2 + (HIGH - LOW) / 2 * np.tanh(mean), **tol
    )


def test_bounded_tanh_gaussian_samples_lie_in_the_bounds_with_the_reference_moments_and_log_prob():
    mean, log_std = np.array([0.3, -1.0, 2.5]), np.array([0.0, -0.5, 0.4])
    n = 50_000
    dist = pgjax.TanhGaussian(
        jnp.broadcast_to(jnp.asarray(mean, jnp.float32), (n, 3)),
        jnp.asarray(log_std, jnp.float32),
        jnp.asarray(LOW, jnp.float32),
        jnp.asarray(HIGH, jnp.float32),
    )
    actions, log_prob = jax.jit(dist.sample_and_log_prob)(jax.random.key(4))
    x = np.asarray(actions, np.float64)
    assert np.all((x >= LOW) & (x <= HIGH))
    expected_mean, expected_var = ref.tanh_gaussian_moments(mean, log_std, LOW, HIGH)
    assert np.all(np.abs(x.mean(0) - expected_mean) < 5 * np.sqrt(expected_var / n))
    np.testing.assert_allclose(x.var(0), expected_var, rtol=0.03)
    # The sample's exact log-density is that of the change of variables at the sample.
    inside = np.all(np.abs((x - (HIGH + LOW) / 2) / ((HIGH - LOW) / 2)) < 0.999, axis=-1)
    np.testing.assert_allclose(
        np.asarray(log_prob)[inside],
        ref.tanh_gaussian_log_prob(
            x[inside], np.broadcast_to(mean, x.shape)[inside], log_std, LOW, HIGH
        ),
        rtol=1e-3,
        atol=1e-3,
    )


@pytest.mark.parametrize(("mean", "log_std"), [(0.0, 0.0), (1.2, -0.5)])
def test_bounded_tanh_gaussian_density_integrates_to_one_over_the_bounds(mean, log_std):
    # ∫_low^high p(a) da = ∫ p(c + s tanh u) s (1 − tanh²u) du, midpoint rule in u.
    low, high = -3.0, 0.5
    edges = np.linspace(-12.0, 12.0, 48_001)
    u = 0.5 * (edges[1:] + edges[:-1])
    unit = np.tanh(u)
    inside = np.abs(unit) < 1 - 1e-6  # where log_prob does not clip
    centre, scale = (high + low) / 2, (high - low) / 2
    dist = pgjax.TanhGaussian(
        jnp.full((inside.sum(), 1), mean, jnp.float32),
        jnp.full(1, log_std, jnp.float32),
        jnp.float32(low),
        jnp.float32(high),
    )
    a = centre + scale * unit[inside, None]
    log_p = np.asarray(dist.log_prob(jnp.asarray(a, jnp.float32)), np.float64)
    integral = np.sum(np.exp(log_p) * scale * (1 - unit[inside] ** 2)) * (edges[1] - edges[0])
    assert integral == pytest.approx(1.0, abs=2e-3)


def beta_parameters(rng, shape):
    """α, β in [0.4, 5]: below and above 1 (U-shaped, J-shaped and unimodal densities)."""
    return rng.uniform(0.4, 5.0, size=shape), rng.uniform(0.4, 5.0, size=shape)


@pytest.mark.parametrize("bounded", [False, True], ids=["unit_interval", "bounds"])
def test_beta_log_prob_entropy_and_kl_match_the_float64_reference(rng, precision, bounded):
    dtype, tol = precision
    alpha, beta = beta_parameters(rng, (4, 3))
    alpha2, beta2 = beta_parameters(rng, (4, 3))
    low, high = (LOW, HIGH) if bounded else (0.0, 1.0)
    actions = interior_actions(rng, (4, 3), low, high)
    if dtype == jnp.float64:  # on the bounds the float32 clip limits themselves round
        actions[0], actions[1, 1:] = low, np.broadcast_to(high, (3,))[1:]
    bounds = tuple(jnp.asarray(b, dtype) for b in (LOW, HIGH)) if bounded else ()
    dist = pgjax.Beta(jnp.asarray(alpha, dtype), jnp.asarray(beta, dtype), *bounds)
    other = pgjax.Beta(jnp.asarray(alpha2, dtype), jnp.asarray(beta2, dtype), *bounds)
    log_prob = dist.log_prob(jnp.asarray(actions, dtype))
    assert log_prob.dtype == dtype
    np.testing.assert_allclose(log_prob, ref.beta_log_prob(actions, alpha, beta, low, high), **tol)
    np.testing.assert_allclose(dist.entropy(), ref.beta_entropy(alpha, beta, low, high), **tol)
    np.testing.assert_allclose(dist.kl(other), ref.beta_kl(alpha, beta, alpha2, beta2), **tol)
    np.testing.assert_allclose(dist.kl(dist), np.zeros(4), atol=tol["atol"])


def test_beta_mode_maximises_the_density_where_alpha_and_beta_exceed_one_else_is_the_mean():
    alpha = np.array([[2.0, 5.0, 0.5, 3.0, 1.0]])
    beta = np.array([[3.0, 1.5, 0.5, 0.8, 1.0]])
    mode = np.asarray(pgjax.Beta(jnp.asarray(alpha), jnp.asarray(beta), -1.0, 3.0).mode())[0]
    grid = np.linspace(1e-6, 1 - 1e-6, 400_001)
    for d in range(2):  # α, β > 1: the argmax of the float64 log-density on a fine grid
        log_density = (alpha[0, d] - 1) * np.log(grid) + (beta[0, d] - 1) * np.log1p(-grid)
        assert mode[d] == pytest.approx(-1.0 + 4.0 * grid[np.argmax(log_density)], abs=1e-4)
    mean = alpha[0, 2:] / (alpha[0, 2:] + beta[0, 2:])
    np.testing.assert_allclose(mode[2:], -1.0 + 4.0 * mean, **TOL)


def test_beta_samples_lie_in_the_bounds_with_the_reference_moments():
    alpha, beta = np.array([0.5, 2.0, 5.0]), np.array([0.5, 3.0, 1.2])
    n = 30_000
    dist = pgjax.Beta(
        jnp.broadcast_to(jnp.asarray(alpha, jnp.float32), (n, 3)),
        jnp.broadcast_to(jnp.asarray(beta, jnp.float32), (n, 3)),
        jnp.asarray(LOW, jnp.float32),
        jnp.asarray(HIGH, jnp.float32),
    )
    x = np.asarray(jax.jit(dist.sample)(jax.random.key(5)), np.float64)
    assert np.all((x >= LOW) & (x <= HIGH))
    expected_mean, expected_var = ref.beta_moments(alpha, beta, LOW, HIGH)
    assert np.all(np.abs(x.mean(0) - expected_mean) < 5 * np.sqrt(expected_var / n))
    np.testing.assert_allclose(x.var(0), expected_var, rtol=0.04)


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 3.0), (1.3, 6.0)])
def test_beta_density_integrates_to_one_over_the_bounds(alpha, beta):
    low, high = -3.0, 0.5
    edges = np.linspace(low, high, 50_001)
    a = 0.5 * (edges[1:] + edges[:-1])
    dist = pgjax.Beta(
        jnp.full((a.size, 1), alpha),
        jnp.full((a.size, 1), beta),
        jnp.float32(low),
        jnp.float32(high),
    )
    log_p = np.asarray(dist.log_prob(jnp.asarray(a[:, None], jnp.float32)), np.float64)
    assert np.sum(np.exp(log_p)) * (edges[1] - edges[0]) == pytest.approx(1.0, abs=1e-4)


def test_actions_exactly_on_a_bound_have_a_finite_log_prob_and_finite_gradients():
    """Float32 tanh and Beta samples land on a bound; their log-probability there is finite
    (no −inf), and so are its gradients with respect to the parameters and the actions."""
    low, high = jnp.asarray(LOW, jnp.float32), jnp.asarray(HIGH, jnp.float32)
    actions = jnp.stack([low, high, jnp.where(jnp.arange(3) == 1, high, low)])
    shape = actions.shape

    def tanh_log_prob(mean, log_std, actions):
        return pgjax.TanhGaussian(mean, log_std, low, high).log_prob(actions).sum()

    def beta_log_prob(alpha, beta, actions):
        return pgjax.Beta(alpha, beta, low, high).log_prob(actions).sum()

    for fn, params in (
        (tanh_log_prob, (jnp.full(shape, 0.3), jnp.full(3, -0.2))),
        (beta_log_prob, (jnp.full(shape, 0.6), jnp.full(shape, 3.0))),  # α < 1: p → ∞ at low
    ):
        value, grads = jax.jit(jax.value_and_grad(fn, argnums=(0, 1, 2)))(*params, actions)
        assert np.isfinite(float(value)), fn
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads), fn
