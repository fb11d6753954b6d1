"""V-trace (pgjax/kernels/vtrace.py) against a float64 reference, rlax, and its identities."""

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
KEYS = ("rewards", "values", "next_values", "terminated", "truncated")

vtrace = jax.jit(pgjax.vtrace, static_argnames=("stop_gradient",))


def as_jax(data):
    return {
        k: jnp.asarray(v, jnp.float32 if v.dtype.kind == "f" else None) for k, v in data.items()
    }


def call(data, log_rhos, gamma, lam, **thresholds):
    """`pgjax.vtrace` (jitted) on float32 copies of float64 test data."""
    j = as_jax(data)
    thresholds = {k: jnp.asarray(v, jnp.float32) for k, v in thresholds.items()}
    log_rhos = jnp.asarray(log_rhos, jnp.float32)
    return vtrace(*(j[k] for k in KEYS), log_rhos, gamma, lam, **thresholds)


def expected(data, log_rhos, gamma, lam, **thresholds):
    """The float64 reference on the same data."""
    return ref.vtrace(*(data[k] for k in KEYS), log_rhos, gamma, lam, **thresholds)


# ------------------------------------------------------------------------------------------
# Against the float64 reference: random terminations, truncations, ratios and thresholds
# ------------------------------------------------------------------------------------------

CASES = [  # shape, γ form, λ form, (ρ̄, c̄, ρ̄^pg)
    ((9,), "scalar", "full", (1.0, 1.0, 1.0)),
    ((9, 3), "batch", "scalar", (2.0, 0.5, np.inf)),
    ((9, 2, 3), "full", "batch", ("batch", "full", "scalar")),
]


@pytest.mark.parametrize(("shape", "gamma_kind", "lambda_kind", "bars"), CASES)
def test_vtrace_matches_reference(rng, shape, gamma_kind, lambda_kind, bars):
    data = ref.random_trajectory(rng, shape, p_terminated=0.2, p_truncated=0.2)
    first = (0,) * (len(shape) - 1)
    data["terminated"][(2, *first)], data["truncated"][(5, *first)] = True, True
    log_rhos = rng.normal(scale=0.8, size=shape)
    gamma = ref.random_coefficient(rng, gamma_kind, shape)
    lam = ref.random_coefficient(rng, lambda_kind, shape)
    bars = [
        b if not isinstance(b, str) else ref.random_coefficient(rng, b, shape, 0, 2) for b in bars
    ]
    thresholds = dict(zip(("rho_bar", "c_bar", "pg_rho_bar"), bars, strict=True))
    advantages, targets = call(data, log_rhos, gamma, lam, **thresholds)
    expected_advantages, expected_targets = expected(data, log_rhos, gamma, lam, **thresholds)
    assert advantages.shape == targets.shape == shape
    np.testing.assert_allclose(advantages, expected_advantages, **TOL)
    np.testing.assert_allclose(targets, expected_targets, **TOL)


def test_vtrace_in_float64_matches_reference_to_1e_10(rng):
    data = ref.random_trajectory(rng, (12, 4), 0.2, 0.2)
    log_rhos = rng.normal(size=(12, 4))
    with jax.enable_x64(True):
        out = jax.jit(pgjax.vtrace)(
            *(jnp.asarray(data[k]) for k in KEYS), jnp.asarray(log_rhos), 0.95, 0.9, rho_bar=1.5
        )
    for leaf, exp in zip(out, expected(data, log_rhos, 0.95, 0.9, rho_bar=1.5), strict=True):
        assert leaf.dtype == jnp.float64
        np.testing.assert_allclose(leaf, exp, rtol=1e-10, atol=1e-10)


def test_truncated_step_bootstraps_from_its_final_observation_and_cuts_the_trace():
    # T = 3, truncated after step 1: steps 0-1 are one episode, step 2 the next.
    r, v = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.25, 4.0])
    nv = np.array([0.25, 10.0, 7.0])  # V(s'_0) = V(s_1); V(final observation) = 10
    no = np.zeros(3, bool)
    truncated = np.array([False, True, False])
    log_rhos = np.log([2.0, 0.5, 3.0])
    gamma, lam = 0.9, 1.0
    data = {"rewards": r, "values": v, "next_values": nv, "terminated": no, "truncated": truncated}
    advantages, targets = call(data, log_rhos, gamma, lam)  # ρ̄ = c̄ = ρ̄^pg = 1
    delta1 = 0.5 * (2.0 + 0.9 * 10.0 - 0.25)  # ρ_1 = 0.5, bootstrapped from V(final obs)
    v1 = 0.25 + delta1
    delta0 = 1.0 * (1.0 + 0.9 * 0.25 - 0.5)  # ρ_0 = 2 clipped to 1
    v0 = 0.5 + delta0 + 0.9 * 1.0 * (v1 - 0.25)  # c_0 = min(1, 2) = 1
    v2 = 4.0 + 1.0 * (3.0 + 0.9 * 7.0 - 4.0)  # the next episode: nothing carried back
    np.testing.assert_allclose(targets, [v0, v1, v2], rtol=1e-6)
    a0 = 1.0 * (1.0 + 0.9 * (0.25 + 1.0 * (v1 - 0.25)) - 0.5)
    a1 = 0.5 * (2.0 + 0.9 * 10.0 - 0.25)
    np.testing.assert_allclose(advantages[:2], [a0, a1], rtol=1e-6)


# ------------------------------------------------------------------------------------------
# rlax, where the semantics coincide: no truncation, next_values[t] = values[t+1], c̄ = 1
# ------------------------------------------------------------------------------------------


def test_vtrace_matches_rlax_vtrace_td_error_and_advantage(rng):
    rlax = pytest.importorskip("rlax")
    T, B = 15, 4
    data = ref.random_trajectory(rng, (T, B), 0.2, 0.0, consistent_next_values=True)
    log_rhos = rng.normal(scale=0.8, size=(T, B))
    gamma = rng.uniform(0.8, 1.0, (T, B))
    lam = 0.9
    j = as_jax(data)

    @jax.jit
    def both(j, rhos, gamma):
        discount = gamma * (1.0 - j["terminated"])
        theirs = jax.vmap(
            lambda *a: rlax.vtrace_td_error_and_advantage(
                *a, lambda_=lam, clip_rho_threshold=1.5, clip_pg_rho_threshold=0.8
            ),
            in_axes=1,
            out_axes=1,
        )(j["values"], j["next_values"], j["rewards"], discount, rhos)
        ours = pgjax.vtrace(
            *(j[k] for k in KEYS), jnp.log(rhos), gamma, lam, rho_bar=1.5, pg_rho_bar=0.8
        )
        return ours, theirs

    (advantages, targets), theirs = both(j, jnp.exp(jnp.asarray(log_rhos, jnp.float32)), gamma)
    np.testing.assert_allclose(targets, theirs.errors + j["values"], **TOL)
    np.testing.assert_allclose(advantages, theirs.pg_advantage, **TOL)


# ------------------------------------------------------------------------------------------
# Identities (hypothesis)
# ------------------------------------------------------------------------------------------


@st.composite
def trajectories(draw):
    """A random trajectory (one of two shapes, so examples reuse compiled programs) with random
    terminations and truncations, next_values[t] = values[t+1] inside episodes, and γ, λ."""
    shape = draw(st.sampled_from([(7, 2, 3), (1, 3)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p_terminated = draw(st.sampled_from([0.0, 0.2, 0.6]))
    p_truncated = draw(st.sampled_from([0.0, 0.2, 0.6]))
    data = ref.random_trajectory(rng, shape, p_terminated, p_truncated, True)
    gamma = ref.full(ref.random_coefficient(rng, "full", shape), shape)
    lam = ref.full(ref.random_coefficient(rng, "batch", shape), shape)
    return data, gamma, lam, rng


def _bars(rng, shape, low):
    """ρ̄, c̄, ρ̄^pg each >= `low`, some infinite."""
    return {
        name: np.where(rng.random(shape) < 0.3, np.inf, rng.uniform(low, low + 2.0, shape))
        for name in ("rho_bar", "c_bar", "pg_rho_bar")
    }


@PROPERTY
@given(trajectories())
def test_on_policy_vtrace_is_lambda_returns_and_gae(case):
    # π = μ and untruncated ratios (ρ̄, c̄ >= 1): every ρ = c/λ = 1.
    data, gamma, lam, rng = case
    j = as_jax(data)
    zeros = np.zeros(data["rewards"].shape)
    advantages, targets = call(data, zeros, gamma, lam, **_bars(rng, zeros.shape, 1.0))
    returns = pgjax.lambda_returns(
        j["rewards"], j["next_values"], j["terminated"], j["truncated"], gamma, lam
    )
    gae_advantages, gae_targets = pgjax.gae(*(j[k] for k in KEYS), gamma, lam)
    np.testing.assert_allclose(targets, returns, **TOL)
    np.testing.assert_allclose(targets, gae_targets, **TOL)
    np.testing.assert_allclose(advantages, gae_advantages, **TOL)


@PROPERTY
@given(trajectories())
def test_on_policy_vtrace_with_lambda_one_is_bootstrapped_n_step_returns(case):
    data, gamma, _, rng = case
    j = as_jax(data)
    shape = data["rewards"].shape
    advantages, targets = call(data, np.zeros(shape), gamma, 1.0, **_bars(rng, shape, 1.0))
    n_step = pgjax.n_step_returns(
        j["rewards"], j["next_values"], j["terminated"], j["truncated"], gamma, shape[0]
    )
    np.testing.assert_allclose(targets, n_step, **TOL)
    np.testing.assert_allclose(advantages, n_step - j["values"], **TOL)


@PROPERTY
@given(trajectories())
def test_zero_traces_leave_the_one_step_importance_weighted_td_target(case):
    # c̄ = 0 (any π, μ): v_t = V(s_t) + min(ρ̄, ρ_t) δ_t, nothing carried from t + 1.
    data, gamma, lam, rng = case
    shape = data["rewards"].shape
    log_rhos = rng.normal(size=shape)
    bars = {**_bars(rng, shape, 0.0), "c_bar": 0.0}
    _, targets = call(data, log_rhos, gamma, lam, **bars)
    td = ref.td_errors(
        data["rewards"], data["values"], data["next_values"], data["terminated"], gamma
    )
    rho = np.minimum(bars["rho_bar"], np.exp(log_rhos))
    np.testing.assert_allclose(targets, data["values"] + rho * td, **TOL)


# ------------------------------------------------------------------------------------------
# Containment, gradients, validation
# ------------------------------------------------------------------------------------------


def test_non_finite_values_in_other_episodes_reach_neither_result_nor_gradient(rng):
    T, B = 8, 3
    data = ref.random_trajectory(rng, (T, B), 0.0, 0.0)
    # Episode ends after step 3 in every column: terminated in column 0, truncated in 1 and 2.
    data["terminated"][3, 0] = True
    data["truncated"][3, 1:] = True
    log_rhos = rng.normal(size=(T, B))
    poisoned = {k: v.copy() for k, v in data.items()}
    bad_log_rhos = log_rhos.copy()
    for x in (poisoned["rewards"], poisoned["values"], poisoned["next_values"], bad_log_rhos):
        x[4:] = np.nan  # the next episode
    poisoned["next_values"][3, 0] = np.inf  # V of a terminal successor, never used
    poisoned["values"][4:, 2] = np.inf

    def first_episode(d, lr):
        j = as_jax(d)

        def loss(values, log_rhos):
            adv, targets = pgjax.vtrace(
                j["rewards"], values, *(j[k] for k in KEYS[2:]), log_rhos, 0.9, 0.95,
                stop_gradient=False,
            )  # fmt: skip
            return jnp.sum((adv + targets)[:4])

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(j["values"], jnp.asarray(lr))

    value, grads = first_episode(data, log_rhos)
    poisoned_value, poisoned_grads = first_episode(poisoned, bad_log_rhos)
    assert np.isfinite(poisoned_value) and np.isfinite(value)
    np.testing.assert_allclose(poisoned_value, value, rtol=1e-6)
    for g, pg in zip(grads, poisoned_grads, strict=True):
        # The first episode's inputs get the same finite gradient (the poisoned steps' own
        # partial derivatives are theirs: NaN times a zero cotangent).
        np.testing.assert_allclose(pg[:4], g[:4], rtol=1e-6)
        assert np.any(np.asarray(g)[:4] != 0.0)


def test_targets_are_constants_by_default(rng):
    data = as_jax(ref.random_trajectory(rng, (6, 2), 0.2, 0.2))

    def total(values, stop):
        out = pgjax.vtrace(
            data["rewards"], values, *(data[k] for k in KEYS[2:]), jnp.zeros((6, 2)), 0.9,
            stop_gradient=stop,
        )  # fmt: skip
        return sum(jnp.sum(x) for x in out)

    grad = jax.jit(jax.grad(total), static_argnums=1)
    np.testing.assert_array_equal(grad(data["values"], True), 0.0)
    assert np.any(np.asarray(grad(data["values"], False)) != 0.0)


R, F = jnp.zeros((6, 3)), jnp.zeros((6, 3), bool)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"log_rhos": jnp.zeros(6)}, r"vtrace: `log_rhos` has shape \(6,\), expected \(6, 3\)"),
        ({"rho_bar": -1.0}, r"vtrace: `rho_bar` must be >= 0.0, got -1.0"),
        ({"c_bar": jnp.ones(4)}, r"vtrace: `c_bar` has shape \(4,\), expected a scalar"),
        ({"lambda_": 1.5}, r"vtrace: `lambda_` must be <= 1.0, got 1.5"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, message):
    args = {"log_rhos": R, "lambda_": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        pgjax.vtrace(R, R, R, F, F, args.pop("log_rhos"), 0.9, args.pop("lambda_"), **args)
