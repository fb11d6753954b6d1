"""Language-model RL kernels (pgjax.kernels.sequence): CISPO, truncated and masked importance
sampling, REINFORCE++ advantages, DAPO's dynamic sampling and overlong penalty, against float64
references, hand-computed examples from the papers' definitions, and their properties."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference import PROPERTY, SHAPE, TOL, f32, jmask, random_mask

import pgjax

# ------------------------------------------------------------------------------------------
# CISPO
# ------------------------------------------------------------------------------------------


def test_cispo_hand_computed_example_value_and_gradient():
    # Ratios 2, 0.5, 1 with ε_low = 0.2, ε_high = 0.28: clipped weights 1.28, 0.8, 1.
    log_probs = f32(np.log([0.5, 0.2, 0.9]))
    old = f32(np.log([0.25, 0.4, 0.9]))
    adv = f32([1.0, -2.0, 0.5])

    def loss(lp):
        return pgjax.cispo_loss(lp, old, adv, clip_eps_low=0.2, clip_eps_high=0.28)

    value, grad = jax.value_and_grad(loss)(log_probs)
    expected = -(1.28 * 1.0 * math.log(0.5) + 0.8 * -2.0 * math.log(0.2) + 0.5 * math.log(0.9)) / 3
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    # −sg(weight)·Â / N: the first token keeps a gradient where PPO's clip would give none.
    np.testing.assert_allclose(grad, [-1.28 / 3, 1.6 / 3, -0.5 / 3], rtol=1e-6)
    ppo_grad = jax.grad(
        lambda lp: pgjax.ppo_clip_loss(lp, old, adv, clip_eps=0.2, clip_eps_high=0.28)
    )(log_probs)
    assert float(ppo_grad[0]) == 0.0 and float(grad[0]) != 0.0


@pytest.mark.parametrize(
    ("reduction", "mask_kind"),
    [("mean", "none"), ("mean", "random"), ("seq_mean_token_mean", "random")],
)
def test_cispo_loss_matches_reference(rng, reduction, mask_kind):
    log_probs = -rng.random(SHAPE) * 2
    old = log_probs + rng.normal(scale=0.6, size=SHAPE)
    adv = rng.normal(size=SHAPE)
    mask = random_mask(rng, SHAPE, mask_kind)
    out = pgjax.cispo_loss(
        f32(log_probs), f32(old), f32(adv), clip_eps_low=0.2, clip_eps_high=0.28,
        mask=jmask(mask), reduction=reduction,
    )  # fmt: skip
    expected = ref.cispo_loss(log_probs, old, adv, 0.2, 0.28, mask, reduction)
    np.testing.assert_allclose(out, expected, **TOL)


def test_cispo_gradient_is_minus_clipped_weight_times_advantage_and_none_into_the_rest(rng):
    log_probs, old = -rng.random(SHAPE), -rng.random(SHAPE)
    adv = rng.normal(size=SHAPE)
    grads = jax.grad(
        lambda a, b, c: pgjax.cispo_loss(a, b, c, clip_eps_low=0.1, clip_eps_high=0.3),
        argnums=(0, 1, 2),
    )(f32(log_probs), f32(old), f32(adv))
    weight = np.clip(np.exp(log_probs - old), 0.9, 1.3)
    np.testing.assert_allclose(grads[0], -weight * adv / adv.size, **TOL)
    np.testing.assert_array_equal(grads[1], 0.0)
    np.testing.assert_array_equal(grads[2], 0.0)


def test_cispo_with_trl_bounds_equals_an_upper_cap_only(rng):
    # TRL's loss_type="cispo" with epsilon_high = 5: weight min(ρ, 5), no lower bound.
    log_probs = -rng.random(SHAPE)
    old = log_probs + rng.normal(scale=2.0, size=SHAPE)
    adv = rng.normal(size=SHAPE)
    out = pgjax.cispo_loss(f32(log_probs), f32(old), f32(adv), clip_eps_low=1.0, clip_eps_high=4.0)
    weight = np.minimum(np.exp(log_probs - old), 5.0)
    assert (np.exp(log_probs - old) < 0.1).any() and (np.exp(log_probs - old) > 5).any()
    np.testing.assert_allclose(out, np.mean(-weight * adv * log_probs), **TOL)


# ------------------------------------------------------------------------------------------
# Truncated and masked importance sampling
# ------------------------------------------------------------------------------------------

TRAIN = np.log([[0.5, 0.3, 0.2]])
ROLLOUT = np.log([[0.25, 0.3, 0.4]])  # ratios 2, 1, 0.5
FIRST_TWO = np.array([[True, True, False]])


@pytest.mark.parametrize(
    ("level", "mask", "expected"),
    [
        ("token", None, [1.5, 1.0, 0.5]),
        ("sequence", None, [1.0, 1.0, 1.0]),  # 2 · 1 · 0.5 = 1
        ("sequence", FIRST_TWO, [1.5, 1.5, 0.0]),  # 2 · 1 = 2, capped at 1.5
    ],
)
def test_truncated_importance_weights_hand_computed_example(level, mask, expected):
    out = pgjax.truncated_importance_weights(
        f32(TRAIN), f32(ROLLOUT), cap=1.5, level=level, mask=jmask(mask)
    )
    np.testing.assert_allclose(out, [expected], rtol=1e-6)


@pytest.mark.parametrize(
    ("level", "mask", "expected"),
    [
        ("token", None, [False, True, False]),
        ("sequence", None, [True, True, True]),
        ("sequence", FIRST_TWO, [False, False, False]),  # product 2 > 1.8
        ("geometric", FIRST_TWO, [True, True, False]),  # √2 ≈ 1.41
    ],
)
def test_importance_ratio_mask_hand_computed_example(level, mask, expected):
    out = pgjax.importance_ratio_mask(
        f32(TRAIN), f32(ROLLOUT), low=0.6, high=1.8, level=level, mask=jmask(mask)
    )
    np.testing.assert_array_equal(out, [expected])


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize("mask_kind", ["none", "random"])
def test_truncated_importance_weights_match_reference_and_are_constants(rng, level, mask_kind):
    train = -rng.random(SHAPE)
    rollout = train + rng.normal(scale=0.3, size=SHAPE)
    mask = random_mask(rng, SHAPE, mask_kind)

    def weights(train):
        return pgjax.truncated_importance_weights(
            train, f32(rollout), cap=1.2, level=level, mask=jmask(mask)
        )

    out = weights(f32(train))
    expected = ref.truncated_importance_weights(train, rollout, 1.2, level, mask)
    np.testing.assert_allclose(out, expected, **TOL)
    assert (expected == 1.2).any() and ((expected > 0) & (expected < 1.2)).any()
    np.testing.assert_array_equal(jax.grad(lambda x: weights(x).sum())(f32(train)), 0.0)


@pytest.mark.parametrize("level", ["token", "sequence", "geometric"])
@pytest.mark.parametrize("mask_kind", ["none", "random"])
def test_importance_ratio_mask_matches_reference(rng, level, mask_kind):
    train = -rng.random(SHAPE)
    rollout = train + rng.normal(scale=0.2, size=SHAPE)
    mask = random_mask(rng, SHAPE, mask_kind)
    out = pgjax.importance_ratio_mask(
        f32(train), f32(rollout), low=0.8, high=1.25, level=level, mask=jmask(mask)
    )
    expected = ref.importance_ratio_mask(train, rollout, 0.8, 1.25, level, mask)
    np.testing.assert_array_equal(out, expected)


def test_sequence_weight_of_a_long_response_is_capped_not_overflowed():
    # Σ log ρ = 2000: exp overflows float32 (and float64); the capped weight is exactly C.
    train, rollout = jnp.full((1, 1000), -1.0), jnp.full((1, 1000), -3.0)
    weights = pgjax.truncated_importance_weights(train, rollout, cap=2.0, level="sequence")
    np.testing.assert_array_equal(weights, 2.0)
    kept = pgjax.importance_ratio_mask(train, rollout, low=0.5, high=2.0, level="geometric")
    assert not bool(kept.any())  # geometric ratio e² ≈ 7.4


def test_truncated_weights_times_advantages_weight_every_surrogate_per_token(rng):
    """w ≥ 0 is a constant, so passing w·Â equals weighting each token's loss by w (PPO with
    clip-higher and dual clip, CISPO, the plain surrogate), value and gradient."""
    log_probs = -rng.random(SHAPE)
    old = log_probs + rng.normal(scale=0.4, size=SHAPE)
    rollout = old + rng.normal(scale=0.4, size=SHAPE)
    adv = rng.normal(size=SHAPE)
    mask = random_mask(rng, SHAPE, "random")
    w = pgjax.truncated_importance_weights(f32(old), f32(rollout), cap=1.5, mask=jmask(mask))
    weights = np.asarray(w, np.float64)
    ratio = lambda lp: np.exp(lp - old)  # noqa: E731

    def per_token_ppo(lp):
        r = ratio(lp)
        objective = np.minimum(r * adv, np.clip(r, 0.8, 1.3) * adv)
        return -np.where(adv < 0, np.maximum(objective, 3.0 * adv), objective)

    losses = {
        "ppo": (
            lambda a: pgjax.ppo_clip_loss(
                f32(log_probs),
                f32(old),
                a,
                clip_eps=0.2,
                clip_eps_high=0.3,
                dual_clip=3.0,
                mask=jmask(mask),
            ),
            per_token_ppo(log_probs),
        ),
        "cispo": (
            lambda a: pgjax.cispo_loss(
                f32(log_probs),
                f32(old),
                a,
                clip_eps_low=0.2,
                clip_eps_high=0.3,
                mask=jmask(mask),
            ),
            -np.clip(ratio(log_probs), 0.8, 1.3) * adv * log_probs,
        ),
        "surrogate": (
            lambda a: pgjax.surrogate_loss(f32(log_probs), f32(old), a, jmask(mask)),
            -ratio(log_probs) * adv,
        ),
    }
    for name, (loss, per_token) in losses.items():
        out = loss(f32(adv) * w)
        np.testing.assert_allclose(
            out, ref.aggregate(weights * per_token, mask, "mean"), rtol=1e-5, err_msg=name
        )


# ------------------------------------------------------------------------------------------
# REINFORCE++
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["k1", "k3"])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("per_token", [False, True])
def test_reinforce_plus_plus_advantages_match_reference(rng, estimator, gamma, per_token):
    log_probs = -rng.random(SHAPE) * 2
    ref_lp = log_probs + rng.normal(scale=0.3, size=SHAPE)
    mask = random_mask(rng, SHAPE, "random")
    rewards = rng.normal(size=SHAPE if per_token else SHAPE[:-1])
    out = pgjax.reinforce_plus_plus_advantages(
        f32(rewards), f32(log_probs), f32(ref_lp), jmask(mask),
        kl_coef=0.1, gamma=gamma, estimator=estimator,
    )  # fmt: skip
    expected = ref.reinforce_plus_plus_advantages(
        rewards, log_probs, ref_lp, mask, 0.1, gamma, estimator
    )
    np.testing.assert_allclose(out, expected, **TOL)


def test_reinforce_plus_plus_score_goes_on_the_last_valid_token():
    # No KL: the return of every valid token is the score (γ = 1); with γ = 0.5 it is
    # discounted by the distance to the last valid token (token 2 here, token 3 is padding).
    mask = jnp.asarray([[True, True, True, False], [True, True, True, True]])
    zeros = jnp.zeros((2, 4))
    rewards = jnp.asarray([1.0, 3.0])

    def advantages(gamma):
        return pgjax.reinforce_plus_plus_advantages(
            rewards, zeros, zeros, mask, kl_coef=0.0, gamma=gamma, eps=0.0
        )

    returns = np.array([[0.25, 0.5, 1.0, 0.0], [0.375, 0.75, 1.5, 3.0]])  # γ = 0.5
    valid = returns[np.asarray(mask)]
    expected = np.where(mask, (returns - valid.mean()) / valid.std(), 0.0)
    np.testing.assert_allclose(advantages(0.5), expected, rtol=1e-5)
    flat = np.array([[1.0, 1, 1, 0], [3, 3, 3, 3]])
    expected = np.where(mask, (flat - 15 / 7) / flat[np.asarray(mask)].std(), 0.0)
    np.testing.assert_allclose(advantages(1.0), expected, rtol=1e-5)


def test_reinforce_plus_plus_advantages_are_whitened_over_the_valid_tokens(rng):
    log_probs = -rng.random(SHAPE)
    mask = random_mask(rng, SHAPE, "random")
    out = np.asarray(
        pgjax.reinforce_plus_plus_advantages(
            f32(rng.normal(size=SHAPE[0])),
            f32(log_probs),
            f32(log_probs - 0.2),
            jmask(mask),
            kl_coef=0.5,
        )
    )
    valid = out[mask]
    assert abs(valid.mean()) < 1e-6 and abs(valid.std() - 1.0) < 1e-5
    np.testing.assert_array_equal(out[~mask], 0.0)


# ------------------------------------------------------------------------------------------
# DAPO: dynamic sampling and the overlong penalty
# ------------------------------------------------------------------------------------------


def test_dynamic_sampling_mask_keeps_only_groups_with_differing_rewards():
    rewards = jnp.asarray(
        [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0], [3.3, 3.3, 3.3 + 4e-7], [2.0, 7.0, 2.0]]
    )
    mask = jnp.asarray([[True] * 3, [True] * 3, [True] * 3, [True] * 3, [True, False, True]])
    out = pgjax.dynamic_sampling_mask(rewards, mask)
    # The fourth group differs by a float32 ulp or two: kept, exactly; the last one's only
    # different reward is masked out.
    np.testing.assert_array_equal(out, [False, False, True, True, False])
    np.testing.assert_array_equal(
        pgjax.dynamic_sampling_mask(rewards), [False, False, True, True, True]
    )


@PROPERTY
@given(
    hnp.arrays(np.float64, (6, 4), elements=st.sampled_from([0.0, 1.0, 0.5, -2.0])),
    hnp.arrays(np.bool_, (6, 4)),
)
def test_dynamic_sampling_mask_matches_reference_and_grpo_zero_advantages(rewards, mask):
    out = np.asarray(pgjax.dynamic_sampling_mask(f32(rewards), jnp.asarray(mask)))
    np.testing.assert_array_equal(out, ref.dynamic_sampling_mask(rewards, mask))
    # A dropped group is exactly one whose GRPO advantages all vanish.
    advantages = np.asarray(pgjax.grpo_advantages(f32(rewards), jnp.asarray(mask)))
    np.testing.assert_array_equal(out, (advantages != 0).any(-1))


def test_overlong_penalty_is_zero_then_linear_then_minus_one():
    lengths = jnp.asarray([0, 12, 16, 17, 18, 20, 21, 100])
    out = pgjax.overlong_penalty(lengths, max_length=20, cache_length=4)
    # L_max − L_cache = 16: (16 − |y|) / 4 on (16, 20], −1 beyond 20.
    np.testing.assert_allclose(out, [0, 0, 0, -0.25, -0.5, -1.0, -1.0, -1.0])
    np.testing.assert_allclose(out, ref.overlong_penalty(np.asarray(lengths), 20, 4))


@PROPERTY
@given(hnp.arrays(np.float64, (9,), elements=st.floats(0, 300, width=32)), st.integers(1, 100))
def test_overlong_penalty_matches_reference_and_never_increases_with_length(lengths, cache):
    out = np.asarray(pgjax.overlong_penalty(f32(lengths), 200, cache))
    np.testing.assert_allclose(out, ref.overlong_penalty(lengths, 200, cache), atol=1e-6)
    order = np.argsort(lengths)
    assert np.all(np.diff(out[order]) <= 1e-6)
