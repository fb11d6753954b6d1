"""Masked reductions (pgjax.kernels.aggregation) against references."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from reference import SHAPE, TOL, f32, jmask, random_mask

import pgjax
from pgjax.kernels.aggregation import REDUCTIONS

# Called eagerly on purpose: every test uses the same SHAPE, so JAX's per-op caches make eager
# calls cheap, where jitting each static variant (reduction, estimator, ...) compiles a program.
aggregate_loss = pgjax.aggregate_loss


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
