"""Return and advantage kernels (returns.py, gae.py, recurrence.py) against float64 references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import pgjax

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)
TOL = {"rtol": 2e-5, "atol": 2e-5}

SHAPES = [(9,), (9, 3), (9, 2, 3)]
METHODS = ["scan", "associative"]
COEFFICIENT_KINDS = ["scalar", "batch", "full"]
# Every shape with both methods, and every form of γ and of λ with each method (the full
# cartesian product would compile three times as many programs for no extra code path).
SHAPES_AND_KINDS = [
    ((9,), "scalar", "full"),
    ((9, 3), "batch", "scalar"),
    ((9, 2, 3), "full", "batch"),
]


# Jitted once per module: XLA:CPU compiles cost far more than these tiny runs, and a jitted kernel
# compiles one program per input shape where an eager call compiles every op separately.
gae = jax.jit(pgjax.gae, static_argnames=("method", "stop_gradient"))
lambda_returns = jax.jit(pgjax.lambda_returns, static_argnames=("method", "stop_gradient"))
discounted_returns = jax.jit(pgjax.discounted_returns, static_argnames=("method", "stop_gradient"))
n_step_returns = jax.jit(pgjax.n_step_returns, static_argnames=("n", "stop_gradient"))
td_errors = jax.jit(pgjax.td_errors, static_argnames=("stop_gradient",))
reverse_linear_recurrence = jax.jit(pgjax.reverse_linear_recurrence, static_argnames=("method",))


def as_jax(data):
    """float32 arrays for the kernels; flags stay bool."""
    return {
        k: jnp.asarray(v, jnp.float32 if v.dtype.kind == "f" else None) for k, v in data.items()
    }


def coefficient(rng, kind, shape, low=0.0, high=1.0):
    value = ref.random_coefficient(rng, kind, shape, low, high)
    return value, jnp.asarray(value, jnp.float32)


@st.composite
def trajectories(draw, consistent_next_values=False):
    """A random trajectory with random terminations and truncations, and γ, λ.

    γ and λ are drawn as a scalar, a per-batch `B` array or a full `[T, *B]` array, then passed
    broadcast to `[T, *B]`, so that every example of a shape reuses one compiled program (the
    forms themselves are covered against the reference above). Shapes come from a small set for
    the same reason: the content (flags, values, γ, λ) is what varies.
    """
    shape = draw(st.sampled_from([(6, 2, 3), (1, 3)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p_terminated = draw(st.sampled_from([0.0, 0.2, 0.6]))
    p_truncated = draw(st.sampled_from([0.0, 0.2, 0.6]))
    data = ref.random_trajectory(rng, shape, p_terminated, p_truncated, consistent_next_values)
    gamma = ref.random_coefficient(rng, draw(st.sampled_from(COEFFICIENT_KINDS)), shape)
    lambda_ = ref.random_coefficient(rng, draw(st.sampled_from(COEFFICIENT_KINDS)), shape)
    return data, ref.full(gamma, shape), ref.full(lambda_, shape)


# ------------------------------------------------------------------------------------------
# Each kernel against its reference, for every batch shape, method and coefficient form
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "gamma_kind", "lambda_kind"), SHAPES_AND_KINDS)
@pytest.mark.parametrize("method", METHODS)
def test_gae_advantages_and_targets_match_reference(rng, shape, method, gamma_kind, lambda_kind):
    data = ref.random_trajectory(rng, shape)
    gamma, gamma_j = coefficient(rng, gamma_kind, shape)
    lam, lam_j = coefficient(rng, lambda_kind, shape)
    j = as_jax(data)
    adv, targets = gae(
        j["rewards"],
        j["values"],
        j["next_values"],
        j["terminated"],
        j["truncated"],
        gamma_j,
        lam_j,
        method=method,
    )
    expected_adv, expected_targets = ref.gae(
        data["rewards"],
        data["values"],
        data["next_values"],
        data["terminated"],
        data["truncated"],
        gamma,
        lam,
    )
    assert adv.shape == shape and targets.shape == shape
    np.testing.assert_allclose(adv, expected_adv, **TOL)
    np.testing.assert_allclose(targets, expected_targets, **TOL)


@pytest.mark.parametrize(("shape", "gamma_kind", "lambda_kind"), SHAPES_AND_KINDS)
@pytest.mark.parametrize("method", METHODS)
def test_lambda_returns_match_reference_mixture_of_n_step_returns(
    rng, shape, method, gamma_kind, lambda_kind
):
    data = ref.random_trajectory(rng, shape)
    gamma, gamma_j = coefficient(rng, gamma_kind, shape)
    lam, lam_j = coefficient(rng, lambda_kind, shape)
    j = as_jax(data)
    out = lambda_returns(
        j["rewards"],
        j["next_values"],
        j["terminated"],
        j["truncated"],
        gamma_j,
        lam_j,
        method=method,
    )
    expected = ref.lambda_returns(
        data["rewards"],
        data["next_values"],
        data["terminated"],
        data["truncated"],
        gamma,
        lam,
    )
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize(
    ("shape", "kind", "method", "bootstrap"),
    [
        ((9,), "scalar", "scan", False),
        ((9,), "full", "associative", True),
        ((9, 3), "batch", "associative", False),
        ((9, 3), "scalar", "scan", True),
        ((9, 2, 3), "full", "scan", False),
        ((9, 2, 3), "batch", "associative", True),
    ],
)
def test_discounted_returns_match_reference(rng, shape, method, kind, bootstrap):
    data = ref.random_trajectory(rng, shape)
    gamma, gamma_j = coefficient(rng, kind, shape)
    j = as_jax(data)
    out = discounted_returns(
        j["rewards"],
        j["terminated"],
        j["truncated"],
        gamma_j,
        j["next_values"] if bootstrap else None,
        method=method,
    )
    expected = ref.discounted_returns(
        data["rewards"],
        data["terminated"],
        data["truncated"],
        gamma,
        data["next_values"] if bootstrap else None,
    )
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize(
    ("shape", "kind", "n"),
    [
        ((9,), "scalar", 3),
        ((9, 3), "batch", 1),
        ((9, 3), "full", 20),
        ((9, 2, 3), "full", 3),
        ((9, 2, 3), "batch", 9),
    ],
)
def test_n_step_returns_match_reference(rng, shape, kind, n):
    data = ref.random_trajectory(rng, shape)
    gamma, gamma_j = coefficient(rng, kind, shape)
    j = as_jax(data)
    out = n_step_returns(
        j["rewards"], j["next_values"], j["terminated"], j["truncated"], gamma_j, n
    )
    expected = ref.n_step_returns(
        data["rewards"],
        data["next_values"],
        data["terminated"],
        data["truncated"],
        gamma,
        n,
    )
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize(("shape", "kind"), list(zip(SHAPES, COEFFICIENT_KINDS, strict=True)))
def test_td_errors_match_reference(rng, shape, kind):
    data = ref.random_trajectory(rng, shape)
    gamma, gamma_j = coefficient(rng, kind, shape)
    j = as_jax(data)
    out = td_errors(j["rewards"], j["values"], j["next_values"], j["terminated"], gamma_j)
    expected = ref.td_errors(
        data["rewards"], data["values"], data["next_values"], data["terminated"], gamma
    )
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("method", METHODS)
def test_reverse_linear_recurrence_matches_explicit_sum(rng, shape, method):
    a = rng.uniform(-1.0, 1.0, size=shape)
    b = rng.normal(size=shape)
    out = reverse_linear_recurrence(
        jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), method
    )
    np.testing.assert_allclose(out, ref.reverse_linear_recurrence(a, b), **TOL)


def test_long_horizon_scan_path_matches_reference(rng):
    # Past `FUSED_MAX_STEPS`, method="scan" precomputes (a_t, b_t) and runs the two-array scan
    # instead of computing them in the loop body: check that path too.
    shape = (pgjax.kernels.recurrence.FUSED_MAX_STEPS + 6, 2)
    data = ref.random_trajectory(rng, shape, 0.1, 0.1)
    gamma, gamma_j = coefficient(rng, "batch", shape)
    lam, lam_j = coefficient(rng, "full", shape)
    j = as_jax(data)
    adv, targets = gae(
        j["rewards"],
        j["values"],
        j["next_values"],
        j["terminated"],
        j["truncated"],
        gamma_j,
        lam_j,
    )
    expected_adv, expected_targets = ref.gae(
        data["rewards"],
        data["values"],
        data["next_values"],
        data["terminated"],
        data["truncated"],
        gamma,
        lam,
    )
    np.testing.assert_allclose(adv, expected_adv, **TOL)
    np.testing.assert_allclose(targets, expected_targets, **TOL)
    out = lambda_returns(
        j["rewards"], j["next_values"], j["terminated"], j["truncated"], gamma_j, lam_j
    )
    expected = ref.lambda_returns(
        data["rewards"], data["next_values"], data["terminated"], data["truncated"], gamma, lam
    )
    np.testing.assert_allclose(out, expected, **TOL)


# ------------------------------------------------------------------------------------------
# Episode-boundary semantics, checked directly
# ------------------------------------------------------------------------------------------


def test_single_episode_constant_reward_gives_geometric_sums():
    # No flags: G_t = sum_{k<T-t} γ^k + γ^{T-t} V_boot, in closed form.
    num_steps, gamma, boot = 6, 0.9, 2.0
    rewards = jnp.ones(num_steps)
    next_values = jnp.full(num_steps, boot)
    flags = jnp.zeros(num_steps, bool)
    out = discounted_returns(rewards, flags, flags, gamma, next_values)
    remaining = num_steps - np.arange(num_steps)
    expected = (1 - gamma**remaining) / (1 - gamma) + gamma**remaining * boot
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_terminated_successor_value_is_ignored_and_truncated_one_is_used(rng, method):
    shape = (10, 4)
    data = ref.random_trajectory(rng, shape, 0.3, 0.3)
    j = as_jax(data)
    term, trunc = data["terminated"], data["truncated"]

    def run(next_values):
        return gae(
            j["rewards"],
            j["values"],
            next_values,
            j["terminated"],
            j["truncated"],
            0.95,
            0.9,
            method=method,
        )[0]

    base = run(j["next_values"])
    bump_terminated = j["next_values"] + 100.0 * jnp.asarray(term, jnp.float32)
    np.testing.assert_allclose(run(bump_terminated), base, **TOL)
    # Truncated-but-not-terminated steps bootstrap: their next value moves their advantage.
    only_truncated = trunc & ~term
    assert only_truncated.any()
    bumped = run(j["next_values"] + 100.0 * jnp.asarray(only_truncated, jnp.float32))
    moved = np.abs(np.asarray(bumped - base)) > 1.0
    np.testing.assert_array_equal(moved[only_truncated], True)


@pytest.mark.parametrize(
    "kernel", ["gae", "lambda_returns", "discounted_returns", "n_step_returns"]
)
def test_recursion_does_not_carry_across_a_truncation(kernel):
    # A truncation after step 2: rewards of the next episode (steps 3..) must not leak back.
    num_steps = 6
    truncated = jnp.zeros(num_steps, bool).at[2].set(True)
    terminated = jnp.zeros(num_steps, bool)
    values = jnp.zeros(num_steps)
    next_values = jnp.ones(num_steps)

    def run(rewards):
        if kernel == "gae":
            return gae(rewards, values, next_values, terminated, truncated, 0.9, 0.8)[0]
        if kernel == "lambda_returns":
            return lambda_returns(rewards, next_values, terminated, truncated, 0.9, 0.8)
        if kernel == "discounted_returns":
            return discounted_returns(rewards, terminated, truncated, 0.9, next_values)
        return n_step_returns(rewards, next_values, terminated, truncated, 0.9, 5)

    base = run(jnp.zeros(num_steps))
    changed = run(jnp.zeros(num_steps).at[3:].set(50.0))
    np.testing.assert_allclose(changed[:3], base[:3], atol=1e-6)
    assert np.all(np.abs(np.asarray(changed[3:] - base[3:])) > 1.0)
    # ... and step 2 bootstraps from V(final observation) = 1: G_2 = 0 + 0.9 * 1.
    if kernel != "gae":
        np.testing.assert_allclose(base[2], 0.9, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ------------------------------------------------------------------------------------------


def _gae(data, gamma, lam, method="scan"):
    j = as_jax(data)
    return gae(
        j["rewards"],
        j["values"],
        j["next_values"],
        j["terminated"],
        j["truncated"],
        jnp.asarray(gamma, jnp.float32),
        jnp.asarray(lam, jnp.float32),
        method=method,
    )


@PROPERTY
@given(trajectories(consistent_next_values=True))
def test_gae_with_lambda_one_equals_bootstrapped_returns_minus_values(case):
    # Telescoping needs next_values[t] = values[t+1] inside an episode.
    data, gamma, _ = case
    adv, _ = _gae(data, gamma, np.ones_like(gamma))
    j = as_jax(data)
    returns = discounted_returns(
        j["rewards"],
        j["terminated"],
        j["truncated"],
        jnp.asarray(gamma, jnp.float32),
        j["next_values"],
    )
    np.testing.assert_allclose(adv, returns - j["values"], **TOL)


@PROPERTY
@given(trajectories())
def test_gae_with_lambda_zero_equals_td_errors(case):
    data, gamma, _ = case
    adv, _ = _gae(data, gamma, np.zeros_like(gamma))
    j = as_jax(data)
    deltas = td_errors(
        j["rewards"],
        j["values"],
        j["next_values"],
        j["terminated"],
        jnp.asarray(gamma, jnp.float32),
    )
    np.testing.assert_allclose(adv, deltas, **TOL)


@PROPERTY
@given(trajectories(consistent_next_values=True))
def test_gae_targets_equal_lambda_returns_when_next_values_are_next_step_values(case):
    data, gamma, lam = case
    _, targets = _gae(data, gamma, lam)
    j = as_jax(data)
    returns = lambda_returns(
        j["rewards"],
        j["next_values"],
        j["terminated"],
        j["truncated"],
        jnp.asarray(gamma, jnp.float32),
        jnp.asarray(lam, jnp.float32),
    )
    np.testing.assert_allclose(targets, returns, **TOL)


@PROPERTY
@given(trajectories())
def test_scan_and_associative_methods_agree(case):
    data, gamma, lam = case
    j = as_jax(data)
    g, lm = jnp.asarray(gamma, jnp.float32), jnp.asarray(lam, jnp.float32)
    for name in ("gae", "lambda_returns", "discounted_returns"):
        outs = []
        for method in METHODS:
            if name == "gae":
                out = _gae(data, gamma, lam, method)
            elif name == "lambda_returns":
                out = lambda_returns(
                    j["rewards"],
                    j["next_values"],
                    j["terminated"],
                    j["truncated"],
                    g,
                    lm,
                    method=method,
                )
            else:
                out = discounted_returns(
                    j["rewards"],
                    j["terminated"],
                    j["truncated"],
                    g,
                    j["next_values"],
                    method=method,
                )
            outs.append(out)
        np.testing.assert_allclose(outs[0], outs[1], err_msg=name, **TOL)


@PROPERTY
@given(trajectories(), st.sampled_from([0, 3]))
def test_n_step_with_n_at_least_horizon_equals_bootstrapped_discounted_returns(case, extra):
    data, gamma, _ = case
    j = as_jax(data)
    g = jnp.asarray(gamma, jnp.float32)
    n = data["rewards"].shape[0] + extra
    out = n_step_returns(j["rewards"], j["next_values"], j["terminated"], j["truncated"], g, n)
    returns = discounted_returns(j["rewards"], j["terminated"], j["truncated"], g, j["next_values"])
    np.testing.assert_allclose(out, returns, **TOL)


@PROPERTY
@given(trajectories())
def test_one_step_return_is_the_td_target(case):
    data, gamma, _ = case
    j = as_jax(data)
    out = n_step_returns(
        j["rewards"],
        j["next_values"],
        j["terminated"],
        j["truncated"],
        jnp.asarray(gamma, jnp.float32),
        1,
    )
    gamma_full = ref.full(gamma, data["rewards"].shape)
    expected = data["rewards"] + gamma_full * (1.0 - data["terminated"]) * data["next_values"]
    np.testing.assert_allclose(out, expected, **TOL)


@PROPERTY
@given(trajectories())
def test_lambda_returns_interpolate_between_td_target_and_monte_carlo(case):
    data, gamma, _ = case
    j = as_jax(data)
    g = jnp.asarray(gamma, jnp.float32)
    args = (j["rewards"], j["next_values"], j["terminated"], j["truncated"], g)
    np.testing.assert_allclose(
        lambda_returns(*args, jnp.zeros_like(g)), n_step_returns(*args, 1), **TOL
    )
    np.testing.assert_allclose(
        lambda_returns(*args, jnp.ones_like(g)),
        discounted_returns(j["rewards"], j["terminated"], j["truncated"], g, j["next_values"]),
        **TOL,
    )
