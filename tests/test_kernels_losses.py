"""Loss kernels (policy gradient, PPO, value, entropy, KL, aggregation) against references."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pgjax
from pgjax.aggregation import REDUCTIONS

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True)
TOL = {"rtol": 1e-5, "atol": 1e-6}
SHAPE = (4, 6)  # [*B, L]: 4 sequences of 6 tokens

# Called eagerly on purpose: every test uses the same SHAPE, so JAX's per-op caches make eager
# calls cheap, where jitting each static variant (reduction, estimator, ...) compiles a program.
aggregate_loss = pgjax.aggregate_loss
policy_gradient_loss = pgjax.policy_gradient_loss
ppo_clip_loss = pgjax.ppo_clip_loss
value_loss = pgjax.value_loss
kl_estimate = pgjax.kl_estimate
kl_penalty_loss = pgjax.kl_penalty_loss


def f32(x):
    return jnp.asarray(x, jnp.float32)


def random_mask(rng, shape, kind):
    """None, a random mask with a fully masked row, or an all-False mask."""
    if kind == "none":
        return None
    if kind == "all_masked":
        return np.zeros(shape, bool)
    mask = rng.random(shape) < 0.6
    mask[0] = False  # a sequence with no valid token
    mask[1, 0] = True
    return mask


def jmask(mask):
    return None if mask is None else jnp.asarray(mask)


float_arrays = hnp.arrays(
    np.float64, SHAPE, elements=st.floats(-3.0, 3.0, allow_nan=False, width=32)
)
mask_arrays = hnp.arrays(np.bool_, SHAPE)


# ------------------------------------------------------------------------------------------
# Aggregation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("mask_kind", ["none", "random", "all_masked"])
def test_aggregate_loss_matches_reference(rng, reduction, mask_kind):
    losses = rng.normal(size=SHAPE)
    mask = random_mask(rng, SHAPE, mask_kind)
    normalizer = 17.0 if reduction == "constant_normalizer" else None
    out = aggregate_loss(f32(losses), jmask(mask), reduction, normalizer)
    expected = ref.aggregate(losses, mask, reduction, normalizer)
    np.testing.assert_allclose(out, expected, **TOL)
    assert np.isfinite(out)


def test_sequence_reductions_weigh_sequences_differently_from_token_mean():
    # One long sequence of loss 1 and one short sequence of loss 0: the token-mean follows the
    # long sequence, the sequence-mean of token-means weighs both equally.
    losses = jnp.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    mask = jnp.array([[True, True, True, True], [True, False, False, False]])
    assert float(pgjax.aggregate_loss(losses, mask, "mean")) == pytest.approx(0.8)
    assert float(pgjax.aggregate_loss(losses, mask, "seq_mean_token_mean")) == pytest.approx(0.5)
    assert float(pgjax.aggregate_loss(losses, mask, "seq_mean_token_sum")) == pytest.approx(2.0)
    assert float(
        pgjax.aggregate_loss(losses, mask, "constant_normalizer", normalizer=8.0)
    ) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------
# Policy gradient and PPO
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "seq_mean_token_mean"])
@pytest.mark.parametrize("mask_kind", ["none", "random"])
def test_policy_gradient_loss_matches_reference(rng, reduction, mask_kind):
    log_probs = -rng.random(SHAPE) * 3
    adv = rng.normal(size=SHAPE)
    mask = random_mask(rng, SHAPE, mask_kind)
    out = policy_gradient_loss(f32(log_probs), f32(adv), jmask(mask), reduction)
    np.testing.assert_allclose(
        out, ref.policy_gradient_loss(log_probs, adv, mask, reduction), **TOL
    )


def test_policy_gradient_gradient_is_minus_advantage_over_count_and_none_into_advantages(rng):
    log_probs, adv = f32(-rng.random(SHAPE)), f32(rng.normal(size=SHAPE))
    g_lp, g_adv = jax.grad(pgjax.policy_gradient_loss, argnums=(0, 1))(log_probs, adv)
    np.testing.assert_allclose(g_lp, -adv / adv.size, **TOL)
    np.testing.assert_array_equal(g_adv, 0.0)


PPO_VARIANTS = {
    "symmetric": {"clip_eps": 0.2},
    "asymmetric": {"clip_eps": 0.2, "clip_eps_high": 0.28},
    "dual_clip": {"clip_eps": 0.2, "dual_clip": 3.0},
    "asymmetric_dual_clip": {"clip_eps": 0.1, "clip_eps_high": 0.3, "dual_clip": 2.0},
}


@pytest.mark.parametrize("variant", list(PPO_VARIANTS))
@pytest.mark.parametrize(
    ("reduction", "mask_kind"),
    [("mean", "none"), ("mean", "random"), ("seq_mean_token_mean", "random"), ("sum", "none")],
)
def test_ppo_clip_loss_token_level_matches_reference(rng, variant, reduction, mask_kind):
    log_probs = -rng.random(SHAPE) * 2
    old_log_probs = log_probs + rng.normal(scale=0.6, size=SHAPE)  # ratios well outside clips
    adv = rng.normal(size=SHAPE) * 2
    mask = random_mask(rng, SHAPE, mask_kind)
    kwargs = PPO_VARIANTS[variant]
    out = ppo_clip_loss(
        f32(log_probs),
        f32(old_log_probs),
        f32(adv),
        mask=jmask(mask),
        reduction=reduction,
        **kwargs,
    )
    expected = ref.ppo_clip_loss(
        log_probs, old_log_probs, adv, mask=mask, reduction=reduction, **kwargs
    )
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize("mask_kind", ["none", "random"])
@pytest.mark.parametrize("variant", ["symmetric", "asymmetric_dual_clip"])
def test_ppo_clip_loss_sequence_level_gspo_matches_reference(rng, mask_kind, variant):
    log_probs = -rng.random(SHAPE) * 2
    old_log_probs = log_probs + rng.normal(scale=0.5, size=SHAPE)
    adv = rng.normal(size=SHAPE[:-1]) * 2  # one advantage per sequence
    mask = random_mask(rng, SHAPE, mask_kind)
    kwargs = PPO_VARIANTS[variant]
    out = ppo_clip_loss(
        f32(log_probs),
        f32(old_log_probs),
        f32(adv),
        sequence_level=True,
        mask=jmask(mask),
        **kwargs,
    )
    expected = ref.ppo_clip_loss(
        log_probs, old_log_probs, adv, sequence_level=True, mask=mask, **kwargs
    )
    np.testing.assert_allclose(out, expected, **TOL)
    np.testing.assert_allclose(
        pgjax.sequence_log_ratio(f32(log_probs), f32(old_log_probs), jmask(mask)),
        ref.sequence_log_ratio(log_probs, old_log_probs, mask),
        **TOL,
    )


@PROPERTY
@given(
    float_arrays,
    float_arrays,
    mask_arrays,
    st.sampled_from(["mean", "sum", "seq_mean_token_mean"]),
    st.sampled_from(list(PPO_VARIANTS)),
)
def test_ppo_loss_at_ratio_one_has_policy_gradient_loss_gradient_and_unclipped_value(
    log_probs, adv, mask, reduction, variant
):
    log_probs = f32(-np.abs(log_probs))
    adv, mask = f32(adv), jnp.asarray(mask)

    def ppo(lp):
        # old_log_probs = lp too: its gradient must be stopped inside the kernel.
        return pgjax.ppo_clip_loss(
            lp, lp, adv, mask=mask, reduction=reduction, **PPO_VARIANTS[variant]
        )

    def pg(lp):
        return pgjax.policy_gradient_loss(lp, adv, mask, reduction)

    ppo_value, ppo_grad = jax.value_and_grad(ppo)(log_probs)
    pg_grad = jax.grad(pg)(log_probs)
    np.testing.assert_allclose(ppo_grad, pg_grad, rtol=1e-5, atol=1e-6)
    # The values differ by design: the surrogate at ρ = 1 is Â, the score-function one log π · Â.
    # PPO's value is the unclipped surrogate −agg(ρ Â) = −agg(Â) there.
    expected = ref.aggregate(-np.asarray(adv, np.float64), np.asarray(mask), reduction)
    np.testing.assert_allclose(ppo_value, expected, rtol=1e-5, atol=1e-5)


@PROPERTY
@given(float_arrays, float_arrays, st.sampled_from(["symmetric", "asymmetric"]))
def test_clipped_objective_never_exceeds_unclipped_objective(log_ratio, adv, variant):
    # min(ρÂ, clip(ρ)Â) <= ρÂ elementwise, hence loss >= −mean(ρÂ).
    loss = pgjax.ppo_clip_loss(f32(log_ratio), jnp.zeros(SHAPE), f32(adv), **PPO_VARIANTS[variant])
    unclipped = -np.mean(np.exp(np.float32(log_ratio)) * np.float32(adv))
    assert float(loss) >= unclipped - 1e-5 * (1.0 + abs(unclipped))


@PROPERTY
@given(float_arrays, float_arrays)
def test_dual_clip_only_lowers_the_loss_and_only_for_negative_advantages(log_ratio, adv):
    # Dual-clip raises J to c·Â where Â < 0 (so the loss can only go down), and leaves Â >= 0 alone.
    lr, a = f32(log_ratio).reshape(-1), f32(adv).reshape(-1)
    zeros = jnp.zeros_like(lr)
    plain = np.asarray(jax.vmap(lambda x, y, z: pgjax.ppo_clip_loss(x, z, y))(lr, a, zeros))
    dual = np.asarray(
        jax.vmap(lambda x, y, z: pgjax.ppo_clip_loss(x, z, y, dual_clip=3.0))(lr, a, zeros)
    )
    assert np.all(dual <= plain + 1e-6)
    positive = np.asarray(a) >= 0
    np.testing.assert_array_equal(dual[positive], plain[positive])
    bound = -3.0 * np.asarray(a)  # the per-element loss is at most −c·Â when Â < 0
    assert np.all(dual[~positive] <= bound[~positive] + 1e-5)


@pytest.mark.parametrize(
    ("log_ratio", "adv", "clipped"),
    [
        (math.log(1.5), 1.0, True),  # Â > 0, ρ > 1 + ε: no incentive to go further
        (math.log(0.5), -1.0, True),  # Â < 0, ρ < 1 − ε
        (math.log(0.5), 1.0, False),  # Â > 0, ρ < 1 − ε: pessimistic min keeps ρ Â
        (math.log(1.5), -1.0, False),  # Â < 0, ρ > 1 + ε
        (math.log(1.1), 1.0, False),  # inside the trust region
    ],
)
def test_ppo_gradient_vanishes_exactly_where_the_ratio_is_clipped(log_ratio, adv, clipped):
    grad = jax.grad(lambda lp: pgjax.ppo_clip_loss(lp, jnp.zeros(1), jnp.array([adv])))(
        jnp.array([log_ratio], jnp.float32)
    )
    if clipped:
        assert float(grad[0]) == 0.0
    else:
        # d/d log π of −ρ Â = −ρ Â.
        np.testing.assert_allclose(grad[0], -math.exp(log_ratio) * adv, rtol=1e-5)


def test_dual_clip_bounds_the_loss_of_huge_ratios_with_negative_advantages():
    log_ratio = jnp.array([math.log(50.0)], jnp.float32)
    adv = jnp.array([-1.0])
    plain = pgjax.ppo_clip_loss(log_ratio, jnp.zeros(1), adv)
    dual = pgjax.ppo_clip_loss(log_ratio, jnp.zeros(1), adv, dual_clip=3.0)
    np.testing.assert_allclose(plain, 50.0, rtol=1e-5)
    np.testing.assert_allclose(dual, 3.0, rtol=1e-6)
    grad = jax.grad(lambda lp: pgjax.ppo_clip_loss(lp, jnp.zeros(1), adv, dual_clip=3.0))(log_ratio)
    assert float(grad[0]) == 0.0


def test_clip_higher_widens_only_the_upper_bound():
    adv = jnp.ones(2)
    log_ratio = jnp.log(jnp.array([1.25, 0.75]))
    sym = pgjax.ppo_clip_loss(log_ratio, jnp.zeros(2), adv, clip_eps=0.2, reduction="sum")
    high = pgjax.ppo_clip_loss(
        log_ratio, jnp.zeros(2), adv, clip_eps=0.2, clip_eps_high=0.3, reduction="sum"
    )
    # symmetric: min(1.25, 1.2) + min(0.75, 0.8) = 1.95; clip-higher: 1.25 + 0.75 = 2.0.
    np.testing.assert_allclose(-sym, 1.95, rtol=1e-6)
    np.testing.assert_allclose(-high, 2.0, rtol=1e-6)


@pytest.mark.parametrize("mask_kind", ["none", "random"])
def test_clip_fraction_matches_reference(rng, mask_kind):
    log_probs = -rng.random(SHAPE)
    old = log_probs + rng.normal(scale=0.3, size=SHAPE)
    mask = random_mask(rng, SHAPE, mask_kind)
    out = pgjax.clip_fraction(f32(log_probs), f32(old), clip_eps=0.2, mask=jmask(mask))
    np.testing.assert_allclose(out, ref.clip_fraction(log_probs, old, 0.2, None, mask), **TOL)
    assert 0.0 < float(out) < 1.0


# ------------------------------------------------------------------------------------------
# Value loss
# ------------------------------------------------------------------------------------------

VALUE_VARIANTS = {
    "squared": {},
    "huber": {"loss": "huber", "huber_delta": 0.5},
    "clipped_squared": {"clip_eps": 0.2},
    "clipped_huber": {"clip_eps": 0.3, "loss": "huber", "huber_delta": 1.0},
}


@pytest.mark.parametrize("variant", list(VALUE_VARIANTS))
@pytest.mark.parametrize(("reduction", "mask_kind"), [("mean", "none"), ("mean", "random")])
def test_value_loss_matches_reference(rng, variant, reduction, mask_kind):
    values = rng.normal(size=SHAPE)
    targets = values + rng.normal(scale=1.5, size=SHAPE)
    old_values = values + rng.normal(scale=0.5, size=SHAPE)
    mask = random_mask(rng, SHAPE, mask_kind)
    kwargs = dict(VALUE_VARIANTS[variant])
    clipped = "clip_eps" in kwargs
    out = value_loss(
        f32(values),
        f32(targets),
        old_values=f32(old_values) if clipped else None,
        mask=jmask(mask),
        reduction=reduction,
        **kwargs,
    )
    expected = ref.value_loss(
        values,
        targets,
        old_values=old_values if clipped else None,
        mask=mask,
        reduction=reduction,
        **kwargs,
    )
    np.testing.assert_allclose(out, expected, **TOL)


def test_huber_value_loss_gradient_is_clipped_error_and_targets_get_none(rng):
    values, targets = f32(rng.normal(size=SHAPE) * 3), f32(rng.normal(size=SHAPE))
    grads = jax.grad(
        lambda v, g: pgjax.value_loss(v, g, loss="huber", huber_delta=0.7), argnums=(0, 1)
    )(values, targets)
    expected = np.clip(np.asarray(values - targets), -0.7, 0.7) / values.size
    np.testing.assert_allclose(grads[0], expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(grads[1], 0.0)


def test_value_clipping_uses_the_pessimistic_of_clipped_and_unclipped():
    # V_old = 0, target = 1, V = 0.5, ε = 0.2: clipped value 0.2 has the larger error (0.8).
    out = pgjax.value_loss(
        jnp.array([0.5]), jnp.array([1.0]), old_values=jnp.array([0.0]), clip_eps=0.2
    )
    np.testing.assert_allclose(out, 0.5 * 0.8**2, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Entropy and KL
# ------------------------------------------------------------------------------------------


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
