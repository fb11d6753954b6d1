"""Value regression (pgjax.kernels.value) against references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from reference import SHAPE, TOL, f32, jmask, random_mask

import pgjax

# Called eagerly on purpose: every test uses the same SHAPE, so JAX's per-op caches make eager
# calls cheap, where jitting each static variant (reduction, estimator, ...) compiles a program.
value_loss = pgjax.value_loss


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
