"""SAC kernels (pgjax.kernels.soft_actor_critic) against the float64 references, with episode
ends, masks and non-finite values where they must not matter."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference import PROPERTY, TOL, f32

import pgjax

K = 2  # twin critics


def batch(rng, shape):
    return {
        "rewards": rng.normal(size=shape),
        "q": rng.normal(size=(K, *shape)) * 3,
        "log_probs": rng.normal(size=shape) - 1,
        "terminated": rng.random(shape) < 0.3,
        "mask": rng.random(shape) < 0.6,
    }


@pytest.mark.parametrize("shape", [(7,), (4, 3)])
@pytest.mark.parametrize("gamma_kind", ["scalar", "per_transition"])
def test_soft_q_targets_match_reference(rng, shape, gamma_kind):
    d = batch(rng, shape)
    gamma = 0.99 if gamma_kind == "scalar" else rng.uniform(0.5, 1.0, size=shape)
    out = pgjax.soft_q_targets(
        f32(d["rewards"]), f32(d["q"]), f32(d["log_probs"]), jnp.asarray(d["terminated"]),
        f32(gamma), 0.2,
    )  # fmt: skip
    expected = ref.soft_q_targets(d["rewards"], d["q"], d["log_probs"], d["terminated"], gamma, 0.2)
    np.testing.assert_allclose(out, expected, **TOL)


def test_soft_q_targets_contain_a_terminal_successors_non_finite_values(rng):
    d = batch(rng, (8,))
    terminal = d["terminated"]
    q, log_probs = d["q"].copy(), d["log_probs"].copy()
    q[:, terminal], log_probs[terminal] = np.nan, -np.inf

    def targets(q, log_probs):
        return pgjax.soft_q_targets(
            f32(d["rewards"]), q, log_probs, jnp.asarray(terminal), 0.9, 0.5, stop_gradient=False
        )

    out = targets(f32(q), f32(log_probs))
    expected = ref.soft_q_targets(d["rewards"], d["q"], d["log_probs"], terminal, 0.9, 0.5)
    np.testing.assert_allclose(out, expected, **TOL)
    grads = jax.grad(lambda q, lp: targets(q, lp).sum(), argnums=(0, 1))(f32(q), f32(log_probs))
    for grad in grads:
        assert np.isfinite(np.asarray(grad)).all()
    # Without the stop: γ into the smaller critic, −γα into log π, nothing at terminal steps.
    expected_q = 0.9 * (np.argmin(d["q"], axis=0) == np.arange(K)[:, None]) * ~terminal
    np.testing.assert_allclose(grads[0], expected_q, rtol=1e-6)
    np.testing.assert_allclose(grads[1], -0.45 * ~terminal, rtol=1e-6)
    default = jax.grad(
        lambda q: pgjax.soft_q_targets(
            f32(d["rewards"]), q, f32(d["log_probs"]), jnp.asarray(terminal), 0.9, 0.5
        ).sum()
    )(f32(d["q"]))
    np.testing.assert_array_equal(default, 0.0)


@pytest.mark.parametrize("masked", [False, True])
def test_critic_actor_and_temperature_losses_match_reference(rng, masked):
    d = batch(rng, (4, 6))
    targets = rng.normal(size=(4, 6))
    mask = d["mask"] if masked else None
    jmask = None if mask is None else jnp.asarray(mask)
    np.testing.assert_allclose(
        pgjax.twin_q_loss(f32(d["q"]), f32(targets), mask=jmask),
        ref.twin_q_loss(d["q"], targets, mask),
        **TOL,
    )
    np.testing.assert_allclose(
        pgjax.sac_actor_loss(f32(d["log_probs"]), f32(d["q"]), 0.3, mask=jmask),
        ref.sac_actor_loss(d["log_probs"], d["q"], 0.3, mask),
        **TOL,
    )
    np.testing.assert_allclose(
        pgjax.sac_temperature_loss(f32(-0.7), f32(d["log_probs"]), -1.0, mask=jmask),
        ref.sac_temperature_loss(-0.7, d["log_probs"], -1.0, mask),
        **TOL,
    )


def test_losses_ignore_non_finite_values_in_masked_out_transitions(rng):
    d = batch(rng, (10,))
    mask = d["mask"]
    q, log_probs, targets = d["q"].copy(), d["log_probs"].copy(), rng.normal(size=10)
    clean_targets = targets.copy()
    q[:, ~mask], log_probs[~mask], targets[~mask] = np.nan, np.inf, -np.inf
    jm = jnp.asarray(mask)

    def losses(q, log_probs, log_temperature):
        return (
            pgjax.twin_q_loss(q, f32(targets), mask=jm)
            + pgjax.sac_actor_loss(log_probs, q, 0.3, mask=jm)
            + pgjax.sac_temperature_loss(log_temperature, log_probs, -1.0, mask=jm)
        )

    out = losses(f32(q), f32(log_probs), f32(0.1))
    expected = (
        ref.twin_q_loss(d["q"], clean_targets, mask)
        + ref.sac_actor_loss(d["log_probs"], d["q"], 0.3, mask)
        + ref.sac_temperature_loss(0.1, d["log_probs"], -1.0, mask)
    )
    np.testing.assert_allclose(out, expected, **TOL)
    grads = jax.grad(losses, argnums=(0, 1, 2))(f32(q), f32(log_probs), f32(0.1))
    for grad in grads:
        assert np.isfinite(np.asarray(grad)).all()
    np.testing.assert_array_equal(np.asarray(grads[0])[:, ~mask], 0.0)
    np.testing.assert_array_equal(np.asarray(grads[1])[~mask], 0.0)


def test_actor_loss_gradient_goes_to_the_smaller_critic_and_never_to_the_temperature(rng):
    d = batch(rng, (6,))
    grad_lp, grad_q, grad_alpha = jax.grad(pgjax.sac_actor_loss, argnums=(0, 1, 2))(
        f32(d["log_probs"]), f32(d["q"]), f32(0.3)
    )
    np.testing.assert_allclose(grad_lp, 0.3 / 6, rtol=1e-6)
    smaller = np.argmin(d["q"], axis=0) == np.arange(K)[:, None]
    np.testing.assert_allclose(grad_q, -smaller.astype(float) / 6, rtol=1e-6)
    assert float(grad_alpha) == 0.0


log_prob_rows = hnp.arrays(np.float64, (8,), elements=st.floats(-6, 3, width=32))


@PROPERTY
@given(log_probs=log_prob_rows, log_temperature=st.floats(-3, 1), target=st.floats(-3, 1))
def test_temperature_descends_when_entropy_is_above_target_and_rises_when_below(
    log_probs, log_temperature, target
):
    # dJ/dlog α = −α · mean(log π + H̄): gradient descent raises α exactly when the policy's
    # entropy estimate −mean(log π) is below the target H̄, and log π gets no gradient.
    grad_alpha, grad_lp = jax.grad(pgjax.sac_temperature_loss, argnums=(0, 1))(
        f32(log_temperature), f32(log_probs), f32(target)
    )
    excess = np.mean(np.asarray(f32(log_probs), np.float64)) + np.float32(target)
    np.testing.assert_allclose(
        grad_alpha, -np.exp(np.float32(log_temperature)) * excess, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_array_equal(grad_lp, 0.0)


@PROPERTY
@given(q=hnp.arrays(np.float64, (K, 8), elements=st.floats(-5, 5, width=32)))
def test_twin_q_loss_is_the_sum_of_single_critic_value_losses_and_zero_at_the_target(q):
    targets = f32(q[0] * 0.5)
    total = pgjax.twin_q_loss(f32(q), targets)
    singles = sum(pgjax.value_loss(f32(q[k]), targets) for k in range(K))
    np.testing.assert_allclose(total, singles, rtol=1e-5, atol=1e-6)
    at_target = jnp.stack([targets, targets])
    assert float(pgjax.twin_q_loss(at_target, targets)) == 0.0


@pytest.mark.parametrize(
    ("thunk", "message"),
    [
        (
            lambda: pgjax.soft_q_targets(
                jnp.zeros(4), jnp.zeros(4), jnp.zeros(4), jnp.zeros(4), 0.9, 0.1
            ),
            r"soft_q_targets: `next_q_values` must have rank >= 2 \(\[K, \*S\]",
        ),
        (
            lambda: pgjax.soft_q_targets(
                jnp.zeros(4), jnp.zeros((2, 5)), jnp.zeros(4), jnp.zeros(4), 0.9, 0.1
            ),
            r"soft_q_targets: `next_q_values` has shape \(2, 5\), expected \(2, 4\)",
        ),
        (
            lambda: pgjax.soft_q_targets(
                jnp.zeros(4), jnp.zeros((2, 4)), jnp.zeros(4), jnp.zeros(4), 0.9, -0.1
            ),
            r"soft_q_targets: `temperature` must be >= 0, got -0.1",
        ),
        (
            lambda: pgjax.twin_q_loss(jnp.zeros((2, 4)), jnp.zeros(4), mask=jnp.ones(3, bool)),
            r"twin_q_loss: `mask` has shape \(3,\), expected \(4,\)",
        ),
        (
            lambda: pgjax.sac_actor_loss(jnp.zeros(4), jnp.zeros((2, 4)), jnp.ones(4)),
            r"sac_actor_loss: `temperature` must be a scalar, got shape \(4,\)",
        ),
        (
            lambda: pgjax.sac_temperature_loss(jnp.zeros(2), jnp.zeros(4), -1.0),
            r"sac_temperature_loss: `log_temperature` and `target_entropy` must be scalars",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(thunk, message):
    with pytest.raises(ValueError, match=message):
        thunk()
