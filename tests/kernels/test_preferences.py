"""The Bradley-Terry loss of a reward model: against the float64 reference, its gradient and
its identities."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pgjax

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True)
TOL = {"rtol": 1e-5, "atol": 1e-6}
scores = hnp.arrays(np.float64, (4, 3), elements=st.floats(-30, 30, width=32))


def f32(x):
    return jnp.asarray(x, jnp.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "seq_mean_token_mean"])
@pytest.mark.parametrize("use_mask", [False, True])
def test_bradley_terry_loss_matches_reference(rng, reduction, use_mask):
    chosen, rejected = rng.normal(size=(2, 5, 4)) * 3
    mask = rng.random((5, 4)) < 0.6 if use_mask else None
    out = pgjax.bradley_terry_loss(
        f32(chosen), f32(rejected), None if mask is None else jnp.asarray(mask), reduction
    )
    expected = ref.bradley_terry_loss(chosen, rejected, mask, reduction)
    np.testing.assert_allclose(out, expected, **TOL)


def test_its_gradient_moves_each_score_by_the_probability_of_the_wrong_order():
    # d/dr_c softplus(r_r − r_c) = −σ(r_r − r_c), d/dr_r = +σ(r_r − r_c): pairs ranked right by
    # a wide margin barely move, pairs ranked wrong move by almost 1.
    chosen, rejected = f32([3.0, 0.0, -4.0]), f32([-3.0, 0.0, 4.0])
    grad_c, grad_r = jax.grad(pgjax.bradley_terry_loss, argnums=(0, 1))(
        chosen, rejected, None, "sum"
    )
    wrong = jax.nn.sigmoid(rejected - chosen)
    np.testing.assert_allclose(grad_c, -wrong, rtol=1e-6)
    np.testing.assert_allclose(grad_r, wrong, rtol=1e-6)
    np.testing.assert_allclose(wrong, [0.0024726, 0.5, 0.9996646], rtol=1e-5)


@PROPERTY
@given(scores, scores, st.floats(-50, 50))
def test_it_depends_on_the_margin_only_and_is_finite_for_any_margin(chosen, rejected, shift):
    base = pgjax.bradley_terry_loss(f32(chosen), f32(rejected))
    shifted = pgjax.bradley_terry_loss(f32(chosen + shift), f32(rejected + shift))
    np.testing.assert_allclose(shifted, base, rtol=1e-4, atol=1e-4)
    far = pgjax.bradley_terry_loss(f32(chosen * 1e3), f32(rejected * 1e3))
    assert np.isfinite(far) and float(far) >= 0.0


@PROPERTY
@given(scores, scores)
def test_swapping_chosen_and_rejected_is_the_loss_of_the_negated_margin(chosen, rejected):
    # softplus(x) − softplus(−x) = x: L(c, r) − L(r, c) = mean(r − c).
    forward = pgjax.bradley_terry_loss(f32(chosen), f32(rejected))
    backward = pgjax.bradley_terry_loss(f32(rejected), f32(chosen))
    expected = np.mean(rejected.astype(np.float32) - chosen.astype(np.float32))
    np.testing.assert_allclose(forward - backward, expected, rtol=1e-4, atol=1e-4)


def test_nan_in_a_masked_out_pair_reaches_neither_loss_nor_gradient():
    chosen, rejected = f32([1.0, jnp.nan, 2.0]), f32([0.0, 5.0, jnp.inf])
    mask = jnp.array([True, False, False])
    value, grad = jax.value_and_grad(pgjax.bradley_terry_loss)(chosen, rejected, mask)
    np.testing.assert_allclose(value, np.log1p(np.exp(-1.0)), rtol=1e-6)
    assert np.all(np.isfinite(grad)) and float(grad[1]) == 0.0 and float(grad[2]) == 0.0


def test_a_shape_mismatch_is_refused_naming_the_argument():
    with pytest.raises(ValueError, match="bradley_terry_loss: `rejected` has shape"):
        pgjax.bradley_terry_loss(jnp.zeros(3), jnp.zeros(4))
