"""Baselines, group-relative advantages (GRPO, Dr. GRPO, RLOO) and advantage normalisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pgjax

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True)
TOL = {"rtol": 1e-5, "atol": 1e-5}
GROUPS = (3, 5)  # [*B, G]: 3 prompts, 5 samples each

rewards_arrays = hnp.arrays(np.float64, GROUPS, elements=st.floats(-10, 10, width=32))
mask_arrays = hnp.arrays(np.bool_, GROUPS)


def f32(x):
    return jnp.asarray(x, jnp.float32)


def group_mask(rng):
    """Random validity with one group of a single valid sample and one fully valid group."""
    mask = rng.random(GROUPS) < 0.6
    mask[0] = [False, False, True, False, False]
    mask[1] = True
    return mask


@pytest.mark.parametrize("use_mask", [False, True])
def test_batch_mean_baseline_matches_reference(rng, use_mask):
    returns = rng.normal(size=(6, 4))
    mask = rng.random((6, 4)) < 0.5 if use_mask else None
    out = pgjax.batch_mean_baseline(f32(returns), None if mask is None else jnp.asarray(mask))
    np.testing.assert_allclose(out, ref.batch_mean_baseline(returns, mask), **TOL)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("use_mask", [False, True])
def test_leave_one_out_baseline_matches_reference(rng, axis, use_mask):
    returns = rng.normal(size=(4, 5))
    mask = rng.random((4, 5)) < 0.6 if use_mask else None
    out = pgjax.leave_one_out_baseline(
        f32(returns), None if mask is None else jnp.asarray(mask), axis=axis
    )
    np.testing.assert_allclose(out, ref.leave_one_out_baseline(returns, mask, axis), **TOL)


@PROPERTY
@given(rewards_arrays, mask_arrays, st.integers(0, GROUPS[1] - 1), st.floats(-100, 100))
def test_leave_one_out_baseline_of_a_sample_does_not_depend_on_that_sample(
    returns, mask, index, new_value
):
    before = np.asarray(pgjax.leave_one_out_baseline(f32(returns), jnp.asarray(mask)))
    changed = returns.copy()
    changed[:, index] = new_value
    after = np.asarray(pgjax.leave_one_out_baseline(f32(changed), jnp.asarray(mask)))
    np.testing.assert_allclose(after[:, index], before[:, index], rtol=1e-5, atol=1e-4)
    # ... while it does move the baselines of the other valid samples of its group (the test
    # would pass vacuously if the baseline ignored every sample).
    for row in range(GROUPS[0]):
        delta = abs(new_value - returns[row, index])
        others = [j for j in range(GROUPS[1]) if j != index and mask[row, j]]
        if mask[row, index] and delta > 1.0 and others:
            assert np.any(np.abs(after[row, others] - before[row, others]) > 1e-3)


@pytest.mark.parametrize("use_mask", [False, True])
def test_grpo_advantages_match_reference(rng, use_mask):
    rewards = rng.normal(size=GROUPS)
    mask = group_mask(rng) if use_mask else None
    out = pgjax.grpo_advantages(f32(rewards), None if mask is None else jnp.asarray(mask))
    np.testing.assert_allclose(out, ref.grpo_advantages(rewards, mask), **TOL)


@pytest.mark.parametrize("use_mask", [False, True])
def test_grpo_advantages_with_the_unbiased_std_match_reference(rng, use_mask):
    # ddof=1, as TRL and verl; group_mask has a group of one valid sample, which gets 0.
    rewards = rng.normal(size=GROUPS)
    mask = group_mask(rng) if use_mask else None
    out = pgjax.grpo_advantages(f32(rewards), None if mask is None else jnp.asarray(mask), ddof=1)
    np.testing.assert_allclose(out, ref.grpo_advantages(rewards, mask, ddof=1), **TOL)
    assert np.all(np.isfinite(out))


@PROPERTY
@given(rewards_arrays)
def test_unbiased_grpo_advantages_are_the_population_ones_shrunk_by_sqrt_g_minus_one_over_g(
    rewards,
):
    # s_1 = s_0 · √(G/(G−1)) with no ε: the advantages scale by √((G−1)/G) exactly.
    size = GROUPS[1]
    population = np.asarray(pgjax.grpo_advantages(f32(rewards), eps=1e-30))
    unbiased = np.asarray(pgjax.grpo_advantages(f32(rewards), eps=1e-30, ddof=1))
    shrunk = population * np.sqrt((size - 1) / size)
    np.testing.assert_allclose(unbiased, shrunk, rtol=1e-4, atol=1e-4)


@PROPERTY
@given(
    st.floats(-1e4, 1e4, width=32),
    hnp.arrays(bool, (3, 8)),
    st.sampled_from([0, 1]),
)
@example(2.9, np.ones((3, 8), bool), 1)
def test_a_group_of_equal_rewards_gets_exactly_zero_advantages(value, mask, ddof):
    # Not merely small: GRPO divides r − mean by a std of the same rounding error, which once
    # gave |A| ≈ 0.2 for eight rewards of 2.9. Masked-out slots hold NaN and must not matter.
    rewards = jnp.where(jnp.asarray(mask), jnp.float32(value), jnp.nan)
    for advantages in (
        pgjax.grpo_advantages(rewards, jnp.asarray(mask), ddof=ddof),
        pgjax.dr_grpo_advantages(rewards, jnp.asarray(mask)),
    ):
        np.testing.assert_array_equal(np.asarray(advantages), 0.0)
    # RLOO too, but for a lone valid sample: with no peer its baseline is 0, its advantage r.
    lone = mask & (mask.sum(-1, keepdims=True) == 1)
    rloo = pgjax.rloo_advantages(rewards, jnp.asarray(mask))
    np.testing.assert_array_equal(np.asarray(rloo), np.where(lone, np.float32(value), 0.0))


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("loc", [0.0, 1e30, -1e30])
def test_advantages_of_values_near_1e30_match_float64_not_an_overflowed_variance(
    rng, use_mask, loc
):
    # (1e30)² overflows float32: a variance computed as such is inf and every advantage 0.
    values = np.asarray(f32(loc + 1e30 * rng.normal(size=GROUPS)), np.float64)
    mask = group_mask(rng) if use_mask else None
    jmask = None if mask is None else jnp.asarray(mask)
    for ddof in (0, 1):
        out = pgjax.grpo_advantages(f32(values), jmask, ddof=ddof)
        np.testing.assert_allclose(out, ref.grpo_advantages(values, mask, ddof=ddof), **TOL)
    out = pgjax.normalize_advantages(f32(values), jmask)
    np.testing.assert_allclose(out, ref.normalize(values, mask), **TOL)
    np.testing.assert_allclose(np.asarray(out)[mask if use_mask else ...].std(), 1.0, rtol=1e-5)


def test_grpo_ddof_must_be_zero_or_one():
    with pytest.raises(ValueError, match="grpo_advantages: `ddof` must be one of"):
        pgjax.grpo_advantages(jnp.zeros((2, 3)), ddof=2)


@pytest.mark.parametrize("use_mask", [False, True])
def test_dr_grpo_advantages_match_reference(rng, use_mask):
    rewards = rng.normal(size=GROUPS)
    mask = group_mask(rng) if use_mask else None
    out = pgjax.dr_grpo_advantages(f32(rewards), None if mask is None else jnp.asarray(mask))
    np.testing.assert_allclose(out, ref.dr_grpo_advantages(rewards, mask), **TOL)


@pytest.mark.parametrize("use_mask", [False, True])
def test_rloo_advantages_match_reference(rng, use_mask):
    rewards = rng.normal(size=GROUPS)
    mask = group_mask(rng) if use_mask else None
    out = pgjax.rloo_advantages(f32(rewards), None if mask is None else jnp.asarray(mask))
    np.testing.assert_allclose(out, ref.rloo_advantages(rewards, mask), **TOL)


@PROPERTY
@given(rewards_arrays)
def test_rloo_advantages_are_dr_grpo_advantages_scaled_by_g_over_g_minus_one(rewards):
    # r_i − mean_{j≠i} r_j = G/(G−1) · (r_i − mean_j r_j) for an unmasked group of size G.
    size = GROUPS[1]
    rloo = np.asarray(pgjax.rloo_advantages(f32(rewards)))
    dr = np.asarray(pgjax.dr_grpo_advantages(f32(rewards)))
    np.testing.assert_allclose(rloo, size / (size - 1) * dr, rtol=1e-4, atol=1e-4)


def test_group_advantages_of_equal_rewards_are_zero_and_masked_samples_get_zero():
    rewards = jnp.array([[1.0, 1.0, 1.0], [0.0, 1.0, 5.0]])
    mask = jnp.array([[True, True, True], [True, True, False]])
    for fn in (pgjax.grpo_advantages, pgjax.dr_grpo_advantages, pgjax.rloo_advantages):
        out = np.asarray(fn(rewards, mask))
        np.testing.assert_array_equal(out[0], 0.0, err_msg=fn.__name__)
        assert out[1, 2] == 0.0, fn.__name__
        assert np.all(np.isfinite(out))
    # GRPO on [0, 1]: mean 0.5, population std 0.5 -> ±1 (up to eps).
    np.testing.assert_allclose(pgjax.grpo_advantages(rewards, mask)[1, :2], [-1.0, 1.0], 1e-5)


def test_group_advantages_and_baselines_are_constants_for_autodiff(rng):
    rewards = f32(rng.normal(size=GROUPS))
    for fn in (
        pgjax.grpo_advantages,
        pgjax.dr_grpo_advantages,
        pgjax.rloo_advantages,
        pgjax.batch_mean_baseline,
        pgjax.leave_one_out_baseline,
    ):
        grad = jax.grad(lambda r, fn=fn: jnp.sum(fn(r) * r))(rewards)
        # Only the explicit `* r` contributes: d/dr sum(A(r) r) = A(r) with A stopped.
        np.testing.assert_allclose(grad, fn(rewards), **TOL, err_msg=fn.__name__)


# ------------------------------------------------------------------------------------------
# Advantage normalisation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_mask", [False, True])
def test_normalize_advantages_matches_reference(rng, use_mask):
    adv = rng.normal(loc=3.0, scale=2.0, size=(7, 4))
    mask = rng.random((7, 4)) < 0.5 if use_mask else None
    out = pgjax.normalize_advantages(f32(adv), None if mask is None else jnp.asarray(mask))
    np.testing.assert_allclose(out, ref.normalize(adv, mask), **TOL)


@PROPERTY
@given(
    hnp.arrays(np.float64, (6, 5), elements=st.floats(-1e3, 1e3, width=32)),
    hnp.arrays(np.bool_, (6, 5)),
)
def test_normalized_advantages_have_zero_mean_unit_std_over_the_mask(adv, mask):
    out = np.asarray(pgjax.normalize_advantages(f32(adv), jnp.asarray(mask)), np.float64)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[~mask], 0.0)
    valid = out[mask]
    if valid.size:
        assert abs(valid.mean()) < 1e-4
    spread = adv[mask].std() if mask.any() else 0.0
    if spread > 1e-2:
        np.testing.assert_allclose(valid.std(), 1.0, rtol=1e-4)


@pytest.mark.parametrize(
    ("adv", "mask"),
    [
        ([5.0], None),  # a single element
        ([2.0, 2.0, 2.0], None),  # all equal
        ([1.0, 7.0, 3.0], [False, True, False]),  # one valid element
        ([1.0, 7.0], [False, False]),  # nothing valid
    ],
)
def test_normalize_advantages_degenerate_batches_give_zeros_not_nan(adv, mask):
    out = pgjax.normalize_advantages(jnp.asarray(adv), None if mask is None else jnp.asarray(mask))
    np.testing.assert_array_equal(out, np.zeros(len(adv)))


def test_normalize_advantages_gradient_is_finite_for_a_constant_batch():
    grad = jax.jit(jax.grad(lambda a: jnp.sum(pgjax.normalize_advantages(a) * jnp.arange(4.0))))(
        jnp.full(4, 1.7)
    )
    assert np.all(np.isfinite(np.asarray(grad)))
