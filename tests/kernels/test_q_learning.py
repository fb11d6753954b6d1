"""Q-learning kernels (pgjax.kernels.q_learning) against the float64 references, with episode
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

SHAPES = ((7,), (4, 3))  # [B] sampled from a buffer, [T, N] time-major
A = 3


def batch(rng, shape, p_terminated=0.3):
    return {
        "rewards": rng.normal(size=shape),
        "next_q": rng.normal(size=(*shape, A)) * 2,
        "selector": rng.normal(size=(*shape, A)),
        "terminated": rng.random(shape) < p_terminated,
    }


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("gamma_kind", ["scalar", "per_transition"])
def test_q_learning_targets_match_reference(rng, shape, double, gamma_kind):
    d = batch(rng, shape)
    gamma = 0.9 if gamma_kind == "scalar" else rng.uniform(0.5, 1.0, size=shape)
    selector = d["selector"] if double else None
    out = pgjax.q_learning_targets(
        f32(d["rewards"]),
        f32(d["next_q"]),
        jnp.asarray(d["terminated"]),
        f32(gamma),
        next_q_selector=None if selector is None else f32(selector),
    )
    expected = ref.q_learning_targets(d["rewards"], d["next_q"], d["terminated"], gamma, selector)
    np.testing.assert_allclose(out, expected, **TOL)


def test_a_terminal_successor_contributes_nothing_even_if_non_finite(rng):
    d = batch(rng, (8,), p_terminated=0.5)
    poisoned = np.where(d["terminated"][:, None], np.nan, d["next_q"])
    poisoned[np.flatnonzero(d["terminated"])[0], 0] = np.inf

    def targets(next_q):
        return pgjax.q_learning_targets(
            f32(d["rewards"]),
            next_q,
            jnp.asarray(d["terminated"]),
            0.9,
            next_q_selector=next_q,
            stop_gradient=False,
        )

    out = targets(f32(poisoned))
    expected = ref.q_learning_targets(d["rewards"], d["next_q"], d["terminated"], 0.9, d["next_q"])
    np.testing.assert_allclose(out, expected, **TOL)
    grad = jax.grad(lambda q: targets(q).sum())(f32(poisoned))
    assert np.isfinite(np.asarray(grad)).all()
    np.testing.assert_array_equal(np.asarray(grad)[d["terminated"]], 0.0)


def test_targets_are_constants_by_default(rng):
    d = batch(rng, (6,), p_terminated=0.0)

    def total(next_q, stop):
        y = pgjax.q_learning_targets(
            f32(d["rewards"]), next_q, jnp.zeros(6, bool), 0.9, stop_gradient=stop
        )
        return y.sum()

    np.testing.assert_array_equal(jax.grad(total)(f32(d["next_q"]), True), 0.0)
    # Without the stop, γ flows into the maximising action of each row only.
    grad = np.asarray(jax.grad(total)(f32(d["next_q"]), False))
    expected = 0.9 * np.eye(A)[np.argmax(d["next_q"], axis=-1)]
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


q_rows = hnp.arrays(np.float64, (5, A), elements=st.floats(-5, 5, width=32))


@PROPERTY
@given(next_q=q_rows, selector=q_rows)
def test_double_q_target_never_exceeds_the_max_target_and_equals_it_when_selector_agrees(
    next_q, selector
):
    rewards, never = jnp.zeros(5), jnp.zeros(5, bool)
    plain = pgjax.q_learning_targets(rewards, f32(next_q), never, 1.0)
    double = pgjax.q_learning_targets(
        rewards, f32(next_q), never, 1.0, next_q_selector=f32(selector)
    )
    assert np.all(np.asarray(double) <= np.asarray(plain) + 1e-6)
    same = pgjax.q_learning_targets(rewards, f32(next_q), never, 1.0, next_q_selector=f32(next_q))
    np.testing.assert_array_equal(same, plain)


@pytest.mark.parametrize("loss", ["huber", "squared"])
@pytest.mark.parametrize("masked", [False, True])
def test_q_value_loss_matches_reference(rng, loss, masked):
    q = rng.normal(size=(4, 6, A)) * 2
    actions = rng.integers(0, A, size=(4, 6))
    targets = rng.normal(size=(4, 6)) * 2
    mask = rng.random((4, 6)) < 0.6 if masked else None
    out = pgjax.q_value_loss(
        f32(q),
        jnp.asarray(actions),
        f32(targets),
        loss=loss,
        huber_delta=0.7,
        mask=None if mask is None else jnp.asarray(mask),
    )
    expected = ref.q_value_loss(q, actions, targets, loss, 0.7, mask)
    np.testing.assert_allclose(out, expected, **TOL)


def test_q_value_loss_gradient_is_the_clipped_td_error_at_the_taken_actions_only(rng):
    q = f32(rng.normal(size=(8, A)) * 3)
    actions = jnp.asarray(rng.integers(0, A, size=8))
    targets = f32(rng.normal(size=8))
    grad = np.asarray(jax.grad(pgjax.q_value_loss)(q, actions, targets))
    chosen = np.asarray(q)[np.arange(8), np.asarray(actions)]
    expected = np.zeros((8, A))
    expected[np.arange(8), np.asarray(actions)] = np.clip(chosen - np.asarray(targets), -1, 1) / 8
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_q_value_loss_ignores_non_finite_values_in_masked_slots_and_untaken_actions(rng):
    q = rng.normal(size=(6, A))
    actions = rng.integers(0, A, size=6)
    targets = rng.normal(size=6)
    mask = np.array([True, False, True, True, False, True])
    poisoned_q, poisoned_targets = q.copy(), targets.copy()
    poisoned_q[~mask] = np.nan
    poisoned_targets[~mask] = np.inf
    untaken = (actions + 1) % A
    poisoned_q[np.arange(6), untaken] = np.nan

    def loss(q, targets):
        return pgjax.q_value_loss(q, jnp.asarray(actions), targets, mask=jnp.asarray(mask))

    out = loss(f32(poisoned_q), f32(poisoned_targets))
    np.testing.assert_allclose(out, ref.q_value_loss(q, actions, targets, mask=mask), **TOL)
    grad = np.asarray(jax.grad(loss)(f32(poisoned_q), f32(poisoned_targets)))
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[~mask], 0.0)


def test_q_value_loss_of_out_of_range_actions_traced_is_nan_never_another_actions_value():
    """As `Categorical.log_prob`: −1 does not wrap around to the last action, A does not read
    past the end; known at trace time they are refused (tests/test_bad_input.py)."""
    q = f32([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    loss = jax.jit(lambda actions: pgjax.q_value_loss(q, actions, jnp.zeros(2), loss="squared"))
    for bad in (-1, A, 7):
        assert np.isnan(loss(jnp.asarray([0, bad]))), bad
    np.testing.assert_allclose(loss(jnp.asarray([0, 2])), (0.5 * 1.0 + 0.5 * 36.0) / 2)


@pytest.mark.parametrize("traced", [False, True])
def test_q_value_loss_of_out_of_range_actions_in_masked_slots_is_that_of_any_valid_padding(
    rng, traced
):
    q = f32(rng.normal(size=(6, A)))
    targets = f32(rng.normal(size=6))
    mask = jnp.asarray([True, False, True, False, True, False])
    padded = np.where(mask, rng.integers(0, A, size=6), [0, -1, 0, A, 0, -1])

    def loss_and_grad(actions):
        return jax.value_and_grad(pgjax.q_value_loss)(q, actions, targets, mask=mask)

    run = jax.jit(loss_and_grad) if traced else loss_and_grad
    dirty = run(jnp.asarray(padded))
    clean = run(jnp.asarray(np.where(mask, padded, 0)))
    assert np.isfinite(dirty[0])
    for a, b in zip(dirty, clean, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 1.0, "per_state"])
def test_epsilon_greedy_probabilities_match_reference(rng, epsilon):
    q = rng.normal(size=(4, 5, A))
    q[0, 0] = [1.0, 1.0, 0.0]  # a tie goes to the first maximal action
    eps = rng.uniform(0, 1, size=(4, 5)) if epsilon == "per_state" else epsilon
    policy = pgjax.epsilon_greedy(f32(q), f32(eps))
    probs = np.exp(np.asarray(policy.log_probs_all(), np.float64))
    np.testing.assert_allclose(probs, ref.epsilon_greedy_probs(q, eps), rtol=1e-5, atol=1e-7)
    if epsilon != 1.0:  # at ε = 1 every action is equally likely
        np.testing.assert_array_equal(policy.mode(), np.argmax(q, axis=-1))
    if epsilon == 0.0:  # greedy: the other actions are impossible, not merely unlikely
        assert np.isneginf(np.asarray(policy.log_probs_all())).sum() == 4 * 5 * (A - 1)
        np.testing.assert_allclose(policy.entropy(), 0.0, atol=1e-7)


def test_epsilon_greedy_samples_explore_at_rate_epsilon():
    q = jnp.tile(jnp.array([0.0, 2.0, 1.0]), (20_000, 1))
    actions = np.asarray(pgjax.epsilon_greedy(q, 0.3).sample(jax.random.key(0)))
    frequencies = np.bincount(actions, minlength=3) / actions.size
    # 0.1 for each action by exploration, plus 0.7 greedy; 4 standard errors ≈ 0.013.
    np.testing.assert_allclose(frequencies, [0.1, 0.8, 0.1], atol=0.015)


@pytest.mark.parametrize("count", [0, 10, 499, 500, 2_000])
def test_linear_schedule_matches_reference_and_accepts_traced_counts(count):
    out = jax.jit(pgjax.linear_schedule)(jnp.int32(count), 1.0, 0.05, 500)
    np.testing.assert_allclose(out, ref.linear_schedule(count, 1.0, 0.05, 500), rtol=1e-6)
    np.testing.assert_allclose(pgjax.linear_schedule(count, 1.0, 0.05, 0), 0.05, rtol=1e-6)


@pytest.mark.parametrize("argument", ["start", "end", "duration"])
def test_linear_schedule_with_a_traced_nan_setting_is_nan_never_silently_end(argument):
    settings = {"start": 1.0, "end": 0.05, "duration": 500.0, argument: jnp.float32(jnp.nan)}
    schedule = jax.jit(lambda count, s: pgjax.linear_schedule(count, **s))
    for count in (0, 250, 500, 10_000):
        assert np.isnan(schedule(count, settings)), count


@pytest.mark.parametrize(
    ("thunk", "message"),
    [
        (
            lambda: pgjax.q_learning_targets(jnp.zeros(4), jnp.zeros((4,)), jnp.zeros(4), 0.9),
            r"q_learning_targets: `next_q_values` must have rank >= 2",
        ),
        (
            lambda: pgjax.q_learning_targets(jnp.zeros(4), jnp.zeros((5, 2)), jnp.zeros(4), 0.9),
            r"q_learning_targets: `next_q_values` has shape \(5, 2\), expected \(4, 2\)",
        ),
        (
            lambda: pgjax.q_learning_targets(
                jnp.zeros(4),
                jnp.zeros((4, 2)),
                jnp.zeros(4),
                0.9,
                next_q_selector=jnp.zeros((4, 3)),
            ),
            r"q_learning_targets: `next_q_selector` has shape \(4, 3\), expected \(4, 2\)",
        ),
        (
            lambda: pgjax.q_learning_targets(jnp.zeros(4), jnp.zeros((4, 2)), jnp.zeros(4), 1.5),
            r"q_learning_targets: `gamma` must be <= 1.0, got 1.5",
        ),
        (
            lambda: pgjax.q_value_loss(jnp.zeros((4, 2)), jnp.zeros(3, int), jnp.zeros(4)),
            r"q_value_loss: `actions` has shape \(3,\), expected \(4,\)",
        ),
        (
            lambda: pgjax.epsilon_greedy(jnp.zeros((4, 2)), 1.2),
            r"epsilon_greedy: `epsilon` must be <= 1.0, got 1.2",
        ),
        (
            lambda: pgjax.linear_schedule(jnp.zeros(2), 1.0, 0.1, 10),
            r"linear_schedule: `count` must be a scalar, got shape \(2,\)",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(thunk, message):
    with pytest.raises(ValueError, match=message):
        thunk()


def test_float_actions_are_rejected():
    with pytest.raises(TypeError, match=r"q_value_loss: `actions` must be an int array"):
        pgjax.q_value_loss(jnp.zeros((4, 2)), jnp.zeros(4), jnp.zeros(4))
