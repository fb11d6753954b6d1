"""Policy-gradient losses (pgjax.kernels.policy_gradients): the score-function loss, the
surrogate and PPO's clipped surrogate, against references and their identities."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given
from hypothesis import strategies as st
from reference import PROPERTY, SHAPE, TOL, f32, float_arrays, jmask, mask_arrays, random_mask

import pgjax

# Called eagerly on purpose: every test uses the same SHAPE, so JAX's per-op caches make eager
# calls cheap, where jitting each static variant (reduction, estimator, ...) compiles a program.
policy_gradient_loss = pgjax.policy_gradient_loss
ppo_clip_loss = pgjax.ppo_clip_loss


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


def test_surrogate_loss_is_the_importance_weighted_advantage(rng):
    log_probs, old_log_probs = rng.normal(size=(2, 6, 3)) * 0.3
    advantages = rng.normal(size=(6, 3))
    mask = rng.random((6, 3)) > 0.3
    ratio = np.exp(log_probs - old_log_probs)
    expected = -(ratio * advantages)[mask].mean()
    got = pgjax.surrogate_loss(
        jnp.asarray(log_probs), jnp.asarray(old_log_probs), jnp.asarray(advantages), mask
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_surrogate_gradient_at_the_old_policy_is_the_policy_gradient(rng):
    old_log_probs = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    advantages = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    surrogate = jax.grad(lambda lp: pgjax.surrogate_loss(lp, old_log_probs, advantages))
    policy_gradient = jax.grad(lambda lp: pgjax.policy_gradient_loss(lp, advantages))
    np.testing.assert_allclose(surrogate(old_log_probs), policy_gradient(old_log_probs), rtol=1e-6)


def test_surrogate_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="advantages"):
        pgjax.surrogate_loss(jnp.zeros((4, 2)), jnp.zeros((4, 2)), jnp.zeros(4))


def test_gspo_hand_computed_example_value_and_gradient():
    # Sequence 0: 2 valid tokens, ratios 1.44 and 1: s = √1.44 = 1.2, clipped to 1.1 (ε = 0.1
    # above), Â = 2 > 0, so J = 2.2 and no gradient. Sequence 1: 3 tokens of ratio 0.9: s = 0.9,
    # inside [1 − 0.2, 1.1], Â = −1, so J = −0.9 and ∂(−J)/∂log π_t = −Â·s/3 = 0.3 per
    # token, halved by the mean over the 2 sequences.
    old = jnp.zeros((2, 3))
    log_probs = f32([[math.log(1.44), 0.0, 5.0], [math.log(0.9)] * 3])
    mask = jnp.asarray([[True, True, False], [True, True, True]])
    adv = f32([2.0, -1.0])

    def loss(lp):
        return pgjax.ppo_clip_loss(
            lp, old, adv, clip_eps=0.2, clip_eps_high=0.1, sequence_level=True, mask=mask
        )

    value, grad = jax.value_and_grad(loss)(log_probs)
    np.testing.assert_allclose(value, (-2.2 + 0.9) / 2, rtol=1e-6)
    np.testing.assert_allclose(grad, [[0.0, 0.0, 0.0], [0.15, 0.15, 0.15]], rtol=1e-5, atol=1e-7)
