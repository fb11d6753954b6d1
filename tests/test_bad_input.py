"""Bad input gets a clear error: kernels, configurations and the command line.

Every case names one distinct bad input and asserts the error's type and that its message names
the argument, field, option or file at fault (the command line: exit status 2, one line on
stderr, no traceback). Kernel cases run eagerly, where values are known and checked; what
traced values do instead is asserted at the end (and in tests/kernels/test_containment.py).
The command-line cases that need a run directory share one tiny run of PPO on MountainCar-v0
in which no episode finishes, which also covers what such a run says and writes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax import runs
from pgjax.algorithms.a2c import A2CConfig
from pgjax.algorithms.ppo import PPOConfig
from pgjax.algorithms.trpo import TRPOConfig
from pgjax.cli import main
from pgjax.runs import registry, rundir
from pgjax.runs.rundir import RunDirectoryError
from pgjax.training.config import ConfigError

R = jnp.zeros((6, 3))  # [T, B] trajectories
F = jnp.zeros((6, 3), bool)
L = jnp.zeros((3, 4))  # [B, L] log-probabilities
NAN, INF = float("nan"), float("inf")


def _quadratic():
    params = {"w": jnp.zeros(2)}
    return params, lambda p: p["w"].sum(), lambda p: 0.5 * jnp.sum(p["w"] ** 2)


def _ngs(**kwargs):
    params, surrogate, kl = _quadratic()
    kwargs = {"max_kl": 0.01, **kwargs}
    return pgjax.natural_gradient_step(params, surrogate, kl, kwargs.pop("max_kl"), **kwargs)


# ------------------------------------------------------------------------------------------
# Kernels: (thunk, error type, the argument the message must name)
# ------------------------------------------------------------------------------------------

KERNEL_CASES = {
    # Coefficients: NaN, out of range, given as arrays, non-scalar, non-numeric.
    "gamma_nan": (lambda: pgjax.gae(R, R, R, F, F, NAN, 0.9), ValueError, "gamma"),
    "gamma_array_with_nan": (
        lambda: pgjax.td_errors(R, R, R, F, jnp.array([0.9, NAN, 0.9])),
        ValueError,
        "gamma",
    ),
    "lambda_nan": (lambda: pgjax.lambda_returns(R, R, F, F, 0.9, NAN), ValueError, "lambda_"),
    "n_step_gamma_negative_array": (
        lambda: pgjax.n_step_returns(R, R, F, F, -jnp.ones(3), 2),
        ValueError,
        "gamma",
    ),
    "n_is_bool": (lambda: pgjax.n_step_returns(R, R, F, F, 0.9, True), ValueError, "n"),
    "clip_eps_negative_array": (
        lambda: pgjax.ppo_clip_loss(L, L, L, clip_eps=jnp.array(-0.1)),
        ValueError,
        "clip_eps",
    ),
    "clip_eps_nan": (lambda: pgjax.ppo_clip_loss(L, L, L, clip_eps=NAN), ValueError, "clip_eps"),
    "clip_eps_not_scalar": (
        lambda: pgjax.ppo_clip_loss(L, L, L, clip_eps=jnp.array([0.1, 0.2])),
        ValueError,
        "clip_eps",
    ),
    "clip_eps_string": (
        lambda: pgjax.ppo_clip_loss(L, L, L, clip_eps="0.2"),
        TypeError,
        "clip_eps",
    ),
    "clip_eps_high_negative": (
        lambda: pgjax.ppo_clip_loss(L, L, L, clip_eps_high=-0.2),
        ValueError,
        "clip_eps_high",
    ),
    "dual_clip_below_one_array": (
        lambda: pgjax.ppo_clip_loss(L, L, L, dual_clip=np.float32(0.5)),
        ValueError,
        "dual_clip",
    ),
    "clip_fraction_clip_eps_negative": (
        lambda: pgjax.clip_fraction(L, L, clip_eps=-0.1),
        ValueError,
        "clip_eps",
    ),
    "huber_delta_negative": (
        lambda: pgjax.value_loss(L, L, loss="huber", huber_delta=-1.0),
        ValueError,
        "huber_delta",
    ),
    "huber_delta_zero": (
        lambda: pgjax.value_loss(L, L, loss="huber", huber_delta=0.0),
        ValueError,
        "huber_delta",
    ),
    "value_clip_eps_negative": (
        lambda: pgjax.value_loss(L, L, old_values=L, clip_eps=-0.2),
        ValueError,
        "clip_eps",
    ),
    "normalizer_zero": (
        lambda: pgjax.aggregate_loss(L, reduction="constant_normalizer", normalizer=0),
        ValueError,
        "normalizer",
    ),
    "normalizer_nan": (
        lambda: pgjax.aggregate_loss(L, reduction="constant_normalizer", normalizer=NAN),
        ValueError,
        "normalizer",
    ),
    "normalizer_without_its_reduction": (
        lambda: pgjax.aggregate_loss(L, reduction="mean", normalizer=12.0),
        ValueError,
        "normalizer",
    ),
    "adaptive_kl_target_zero": (
        lambda: pgjax.adaptive_kl_coefficient(1.0, 0.01, 0.0),
        ValueError,
        "target",
    ),
    "adaptive_kl_beta_negative": (
        lambda: pgjax.adaptive_kl_coefficient(-1.0, 0.01, 0.01),
        ValueError,
        "beta",
    ),
    "adaptive_kl_kl_nan": (
        lambda: pgjax.adaptive_kl_coefficient(1.0, NAN, 0.01),
        ValueError,
        "kl",
    ),
    "adaptive_kl_gain_negative": (
        lambda: pgjax.adaptive_kl_coefficient(1.0, 0.01, 0.01, rule="proportional", gain=-0.1),
        ValueError,
        "gain",
    ),
    "grpo_eps_zero": (lambda: pgjax.grpo_advantages(L, eps=0.0), ValueError, "eps"),
    **{
        f"{kernel.__name__}_empty_group{'_masked' if masked else ''}": (
            lambda kernel=kernel, masked=masked: kernel(
                jnp.zeros((3, 0)), jnp.zeros((3, 0), bool) if masked else None
            ),
            ValueError,
            "rewards",
        )
        for kernel in (pgjax.grpo_advantages, pgjax.dr_grpo_advantages, pgjax.rloo_advantages)
        for masked in (False, True)
    },
    "normalize_eps_negative": (
        lambda: pgjax.normalize_advantages(L, eps=-1e-8),
        ValueError,
        "eps",
    ),
    "loo_axis_float": (
        lambda: pgjax.leave_one_out_baseline(L, axis=1.0),
        ValueError,
        "axis",
    ),
    # Q-learning: actions outside [0, A) in a valid transition, as Categorical.log_prob.
    "q_value_loss_action_minus_one": (
        lambda: pgjax.q_value_loss(jnp.zeros((2, 3)), jnp.array([0, -1]), jnp.zeros(2)),
        ValueError,
        "actions",
    ),
    "q_value_loss_action_too_large": (
        lambda: pgjax.q_value_loss(
            jnp.zeros((2, 3)), jnp.array([3, 0]), jnp.zeros(2), mask=jnp.array([True, False])
        ),
        ValueError,
        "actions",
    ),
    # Schedules: a NaN or infinite setting would anneal to NaN, or silently to `end`.
    "linear_schedule_start_nan": (
        lambda: pgjax.linear_schedule(0, NAN, 0.1, 10),
        ValueError,
        "start",
    ),
    "linear_schedule_end_inf": (lambda: pgjax.linear_schedule(0, 1.0, INF, 10), ValueError, "end"),
    "linear_schedule_duration_nan": (
        lambda: pgjax.linear_schedule(0, 1.0, 0.1, NAN),
        ValueError,
        "duration",
    ),
    "linear_schedule_duration_inf_array": (
        lambda: pgjax.linear_schedule(0, 1.0, 0.1, jnp.array(INF)),
        ValueError,
        "duration",
    ),
    "linear_schedule_count_nan": (
        lambda: pgjax.linear_schedule(NAN, 1.0, 0.1, 10),
        ValueError,
        "count",
    ),
    "linear_schedule_start_string": (
        lambda: pgjax.linear_schedule(0, "1.0", 0.1, 10),
        TypeError,
        "start",
    ),
    # Natural gradient: impossible settings.
    "max_kl_zero": (lambda: _ngs(max_kl=0.0), ValueError, "max_kl"),
    "max_kl_negative": (lambda: _ngs(max_kl=-0.01), ValueError, "max_kl"),
    "backtrack_coef_above_one": (lambda: _ngs(backtrack_coef=1.5), ValueError, "backtrack_coef"),
    "backtrack_coef_zero": (lambda: _ngs(backtrack_coef=0.0), ValueError, "backtrack_coef"),
    "cg_damping_negative": (lambda: _ngs(cg_damping=-0.1), ValueError, "cg_damping"),
    "cg_iterations_zero": (lambda: _ngs(cg_iterations=0), ValueError, "cg_iterations"),
    "max_backtracks_float": (lambda: _ngs(max_backtracks=2.5), ValueError, "max_backtracks"),
    "fvp_damping_negative": (
        lambda: pgjax.fisher_vector_product(lambda p: p.sum(), jnp.ones(2), jnp.ones(2), -1.0),
        ValueError,
        "damping",
    ),
    # Masks and shapes.
    "kl_penalty_ref_shape_with_mask": (
        lambda: pgjax.kl_penalty_loss(L, L[:, :1], mask=L > -1),
        ValueError,
        "ref_log_probs",
    ),
    "value_loss_mask_shape": (
        lambda: pgjax.value_loss(L, L, mask=jnp.ones(4, bool)),
        ValueError,
        "mask",
    ),
    "sequence_log_ratio_mask_shape": (
        lambda: pgjax.sequence_log_ratio(L, L, mask=jnp.ones((4, 3), bool)),
        ValueError,
        "mask",
    ),
    # Masks and episode flags given as numbers must be 0/1 when known (traced: nonzero = set).
    "mask_one_half": (
        lambda: pgjax.aggregate_loss(L, mask=jnp.full(L.shape, 0.5)),
        ValueError,
        "mask",
    ),
    "mask_nan": (
        lambda: pgjax.policy_gradient_loss(L, L, mask=jnp.full(L.shape, NAN)),
        ValueError,
        "mask",
    ),
    "mask_int_two": (
        lambda: pgjax.value_loss(L, L, mask=np.full(L.shape, 2)),
        ValueError,
        "mask",
    ),
    "mask_one_half_sequence_level": (
        lambda: pgjax.ppo_clip_loss(L, L, L[:, 0], sequence_level=True, mask=L + 0.5),
        ValueError,
        "mask",
    ),
    "terminated_one_half": (
        lambda: pgjax.gae(R, R, R, R + 0.5, F, 0.9, 0.9),
        ValueError,
        "terminated",
    ),
    # Non-numeric arrays (strings, objects) are refused naming the argument, not by JAX's
    # generic conversion error.
    "log_probs_strings": (
        lambda: pgjax.policy_gradient_loss(np.full((3, 4), "-0.5"), L),
        TypeError,
        "log_probs",
    ),
    "old_log_probs_strings": (
        lambda: pgjax.ppo_clip_loss(L, np.full((3, 4), "x"), L),
        TypeError,
        "old_log_probs",
    ),
    "rewards_objects": (
        lambda: pgjax.gae(np.full((6, 3), None), R, R, F, F, 0.9, 0.9),
        TypeError,
        "rewards",
    ),
    "log_rhos_strings": (
        lambda: pgjax.vtrace(R, R, R, F, F, np.full((6, 3), "0"), 0.9),
        TypeError,
        "log_rhos",
    ),
    "gamma_string_array": (
        lambda: pgjax.td_errors(R, R, R, F, np.array("0.9")),
        TypeError,
        "gamma",
    ),
    "mask_strings": (
        lambda: pgjax.aggregate_loss(L, mask=np.full((3, 4), "1")),
        TypeError,
        "mask",
    ),
    "terminated_strings": (
        lambda: pgjax.td_errors(R, R, R, np.full((6, 3), "no"), 0.9),
        TypeError,
        "terminated",
    ),
    "actions_strings": (
        lambda: pgjax.q_value_loss(jnp.zeros((2, 3)), np.array(["0", "1"]), jnp.zeros(2)),
        TypeError,
        "actions",
    ),
    "chosen_strings_in_a_list": (
        lambda: pgjax.bradley_terry_loss(["1.0", "2.0"], jnp.zeros(2)),
        TypeError,
        "chosen",
    ),
    # Distributions: invalid actions, degenerate parameters, shapes.
    "categorical_action_minus_one": (
        lambda: pgjax.Categorical(jnp.zeros((2, 3))).log_prob(jnp.array([0, -1])),
        ValueError,
        "actions",
    ),
    "categorical_action_too_large": (
        lambda: pgjax.Categorical(jnp.zeros((2, 3))).log_prob(jnp.array([3, 0])),
        ValueError,
        "actions",
    ),
    "categorical_float_actions": (
        lambda: pgjax.Categorical(jnp.zeros((2, 3))).log_prob(jnp.array([0.0, 1.7])),
        TypeError,
        "actions",
    ),
    "categorical_no_possible_action": (
        lambda: pgjax.Categorical(jnp.array([[0.0, 1.0], [-INF, -INF]])).sample(jax.random.key(0)),
        ValueError,
        "logits",
    ),
    "categorical_nan_logits": (
        lambda: pgjax.Categorical(jnp.array([[0.0, NAN]])).entropy(),
        ValueError,
        "logits",
    ),
    "categorical_scalar_logits": (
        lambda: pgjax.Categorical(jnp.zeros(())).mode(),
        ValueError,
        "logits",
    ),
    "categorical_kl_other_kind": (
        lambda: pgjax.Categorical(jnp.zeros((2, 3))).kl(pgjax.DiagGaussian(L, L)),
        TypeError,
        "other",
    ),
    "categorical_kl_other_shape": (
        lambda: pgjax.Categorical(jnp.zeros((2, 3))).kl(pgjax.Categorical(jnp.zeros((2, 4)))),
        ValueError,
        "other.logits",
    ),
    "categorical_mask_row_with_no_valid_action": (
        lambda: pgjax.Categorical(
            jnp.zeros((2, 3)), jnp.array([[True, False, True], [False] * 3])
        ).log_prob(jnp.array([0, 1])),
        ValueError,
        "mask",
    ),
    "categorical_mask_shape": (
        lambda: pgjax.Categorical(jnp.zeros((2, 3)), jnp.ones((2, 4), bool)).entropy(),
        ValueError,
        "mask",
    ),
    "categorical_mask_batch_shape": (
        lambda: pgjax.Categorical(jnp.zeros((2, 3)), jnp.ones(3, bool)).mode(),
        ValueError,
        "mask",
    ),
    "categorical_nan_logit_of_a_valid_action": (
        lambda: pgjax.Categorical(
            jnp.array([[0.0, NAN, INF]]), jnp.array([[True, True, False]])
        ).sample(jax.random.key(0)),
        ValueError,
        "logits",
    ),
    "categorical_every_valid_logit_minus_inf": (
        lambda: pgjax.Categorical(jnp.array([[0.0, -INF]]), jnp.array([[False, True]])).entropy(),
        ValueError,
        "logits",
    ),
    "categorical_kl_other_mask_row_with_no_valid_action": (
        lambda: pgjax.Categorical(jnp.zeros((1, 2))).kl(
            pgjax.Categorical(jnp.zeros((1, 2)), jnp.zeros((1, 2), bool))
        ),
        ValueError,
        "mask",
    ),
    "categorical_string_logits": (
        lambda: pgjax.Categorical(np.full((2, 3), "0.0")).entropy(),
        TypeError,
        "logits",
    ),
    "gaussian_object_log_std": (
        lambda: pgjax.DiagGaussian(jnp.zeros((5, 2)), np.full(2, None)).entropy(),
        TypeError,
        "log_std",
    ),
    "tanh_gaussian_string_actions": (
        lambda: pgjax.TanhGaussian(jnp.zeros((1, 2)), jnp.zeros(2)).log_prob(np.full((1, 2), "0")),
        TypeError,
        "actions",
    ),
    "gaussian_log_std_wrong_last_axis": (
        lambda: pgjax.DiagGaussian(jnp.zeros((5, 2)), jnp.zeros(3)).log_prob(jnp.zeros((5, 2))),
        ValueError,
        "log_std",
    ),
    "gaussian_log_std_extra_axis": (
        lambda: pgjax.DiagGaussian(jnp.zeros((5, 2)), jnp.zeros((4, 5, 2))).entropy(),
        ValueError,
        "log_std",
    ),
    "gaussian_log_std_minus_inf": (
        lambda: pgjax.DiagGaussian(jnp.zeros((5, 2)), jnp.full(2, -INF)).sample(jax.random.key(0)),
        ValueError,
        "log_std",
    ),
    "gaussian_mean_nan": (
        lambda: pgjax.DiagGaussian(jnp.full((5, 2), NAN), jnp.zeros(2)).entropy(),
        ValueError,
        "mean",
    ),
    "gaussian_actions_nan": (
        lambda: pgjax.DiagGaussian(jnp.zeros((1, 2)), jnp.zeros(2)).log_prob(
            jnp.array([[0.0, NAN]])
        ),
        ValueError,
        "actions",
    ),
    "gaussian_scalar_mean": (
        lambda: pgjax.DiagGaussian(jnp.zeros(()), jnp.zeros(())).mode(),
        ValueError,
        "mean",
    ),
    "tanh_gaussian_action_outside_support": (
        lambda: pgjax.TanhGaussian(jnp.zeros((1, 2)), jnp.zeros(2)).log_prob(
            jnp.array([[0.5, 1.5]])
        ),
        ValueError,
        "actions",
    ),
    "tanh_gaussian_log_std_wrong_shape": (
        lambda: pgjax.TanhGaussian(jnp.zeros((1, 2)), jnp.zeros(3)).sample_and_log_prob(
            jax.random.key(0)
        ),
        ValueError,
        "log_std",
    ),
    "tanh_gaussian_action_outside_bounds": (
        lambda: pgjax.TanhGaussian(jnp.zeros((1, 2)), jnp.zeros(2), -2.0, 2.0).log_prob(
            jnp.array([[1.5, 2.5]])
        ),
        ValueError,
        "actions",
    ),
    "tanh_gaussian_low_without_high": (
        lambda: pgjax.TanhGaussian(jnp.zeros((1, 2)), jnp.zeros(2), low=-2.0).mode(),
        ValueError,
        "high",
    ),
    "tanh_gaussian_high_not_above_low": (
        lambda: pgjax.TanhGaussian(
            jnp.zeros((1, 2)), jnp.zeros(2), jnp.array([0.0, 1.0]), jnp.array([1.0, 1.0])
        ).sample(jax.random.key(0)),
        ValueError,
        "high",
    ),
    "tanh_gaussian_bounds_shape": (
        lambda: pgjax.TanhGaussian(
            jnp.zeros((1, 2)), jnp.zeros(2), jnp.zeros(3), jnp.ones(3)
        ).mode(),
        ValueError,
        "low",
    ),
    "tanh_gaussian_infinite_bound": (
        lambda: pgjax.TanhGaussian(jnp.zeros((1, 2)), jnp.zeros(2), 0.0, INF).mode(),
        ValueError,
        "high",
    ),
    "beta_alpha_zero": (
        lambda: pgjax.Beta(jnp.array([[0.0, 1.0]]), jnp.ones((1, 2))).entropy(),
        ValueError,
        "alpha",
    ),
    "beta_beta_negative": (
        lambda: pgjax.Beta(jnp.ones((1, 2)), jnp.array([[2.0, -0.5]])).sample(jax.random.key(0)),
        ValueError,
        "beta",
    ),
    "beta_alpha_nan": (
        lambda: pgjax.Beta(jnp.array([[NAN]]), jnp.ones((1, 1))).mode(),
        ValueError,
        "alpha",
    ),
    "beta_beta_infinite": (
        lambda: pgjax.Beta(jnp.ones((1, 1)), jnp.array([[INF]])).log_prob(jnp.full((1, 1), 0.5)),
        ValueError,
        "beta",
    ),
    "beta_beta_shape": (
        lambda: pgjax.Beta(jnp.ones((3, 2)), jnp.ones(2)).entropy(),
        ValueError,
        "beta",
    ),
    "beta_scalar_alpha": (
        lambda: pgjax.Beta(jnp.ones(()), jnp.ones(())).entropy(),
        ValueError,
        "alpha",
    ),
    "beta_action_above_high": (
        lambda: pgjax.Beta(jnp.ones((1, 2)), jnp.ones((1, 2)), -1.0, 1.0).log_prob(
            jnp.array([[0.0, 1.01]])
        ),
        ValueError,
        "actions",
    ),
    "beta_action_below_unit_interval": (
        lambda: pgjax.Beta(jnp.ones((1, 1)), jnp.ones((1, 1))).log_prob(jnp.array([[-0.1]])),
        ValueError,
        "actions",
    ),
    "beta_action_nan": (
        lambda: pgjax.Beta(jnp.ones((1, 1)), jnp.ones((1, 1))).log_prob(jnp.array([[NAN]])),
        ValueError,
        "actions",
    ),
    "beta_actions_shape": (
        lambda: pgjax.Beta(jnp.ones((2, 1)), jnp.ones((2, 1))).log_prob(jnp.full((1, 2), 0.5)),
        ValueError,
        "actions",
    ),
    "beta_high_below_low": (
        lambda: pgjax.Beta(jnp.ones((1, 1)), jnp.ones((1, 1)), 1.0, -1.0).entropy(),
        ValueError,
        "high",
    ),
    "beta_kl_other_bounds": (
        lambda: pgjax.Beta(jnp.ones((1, 1)), jnp.ones((1, 1))).kl(
            pgjax.Beta(jnp.ones((1, 1)), jnp.ones((1, 1)), -1.0, 1.0)
        ),
        ValueError,
        "other.low",
    ),
    "beta_kl_other_kind": (
        lambda: pgjax.Beta(jnp.ones((1, 1)), jnp.ones((1, 1))).kl(
            pgjax.TanhGaussian(jnp.ones((1, 1)), jnp.ones((1, 1)))
        ),
        TypeError,
        "other",
    ),
}


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_kernel_bad_input_raises_naming_the_argument(case):
    thunk, error, argument = KERNEL_CASES[case]
    with pytest.raises(error, match=re.escape(f"`{argument}`")):
        thunk()


def test_traced_coefficients_are_documented_as_unchecked_and_not_refused():
    """Under jit a value is unknown while tracing: no error, the arithmetic proceeds."""
    gae = jax.jit(lambda g: pgjax.gae(R, R, R, F, F, g, 0.9)[0])
    assert np.isnan(gae(NAN)).all()
    ppo = jax.jit(lambda eps: pgjax.ppo_clip_loss(L, L, L, clip_eps=eps))
    assert np.isfinite(ppo(-0.5))
    # ... and the docstrings say so.
    for kernel in (pgjax.gae, pgjax.ppo_clip_loss, pgjax.natural_gradient_step, pgjax.value_loss):
        text = " ".join((kernel.__doc__ + (sys.modules[kernel.__module__].__doc__ or "")).split())
        assert "traced" in text and ("not checked" in text or "unchecked" in text), kernel


def test_traced_masks_count_every_nonzero_value_as_set_and_say_so():
    """A traced float mask cannot be checked: 0.5 and NaN count as set, as documented."""
    losses = jnp.arange(12.0).reshape(3, 4)
    loss = jax.jit(lambda mask: pgjax.aggregate_loss(losses, mask))
    mask = np.array([[1.0, 0.0, 0.5, NAN]] * 3, np.float32)
    np.testing.assert_array_equal(loss(mask), loss((mask != 0).astype(np.float32)))
    assert loss(mask) != loss((mask == 1).astype(np.float32))
    for kernel in (pgjax.aggregate_loss, pgjax.policy_gradient_loss, pgjax.grpo_advantages):
        text = " ".join((kernel.__doc__ + (sys.modules[kernel.__module__].__doc__ or "")).split())
        assert "traced" in text and "nonzero" in text, kernel


# ------------------------------------------------------------------------------------------
# Configurations and the training API: (thunk, the field the ConfigError names)
# ------------------------------------------------------------------------------------------


def _validate(config_class=PPOConfig, env_id="CartPole-v1", **fields):
    return lambda: config_class.for_env(env_id, **fields).validate()


def _run(tmp_path, **kwargs):
    algorithm = registry.get("ppo")
    config = kwargs.pop("config", PPOConfig(total_steps=512))
    return runs.run(algorithm, config, kwargs.pop("seeds", [0, 1]), tmp_path / "run", **kwargs)


CONFIG_CASES = {
    "gamma_nan": (_validate(gamma=NAN), "gamma"),
    "learning_rate_inf": (_validate(learning_rate=INF), "learning_rate"),
    "clip_eps_negative": (_validate(clip_eps=-0.1), "clip_eps"),
    "gae_lambda_above_one": (_validate(gae_lambda=1.5), "gae_lambda"),
    "num_envs_zero": (_validate(num_envs=0), "num_envs"),
    "num_envs_float": (_validate(num_envs=4.0), "num_envs"),
    "activation_unknown": (_validate(activation="sigmoidx"), "activation"),
    "hidden_sizes_zero": (_validate(hidden_sizes=(0,)), "hidden_sizes"),
    "hidden_sizes_list": (_validate(hidden_sizes=[64]), "hidden_sizes"),
    "minibatches_do_not_divide": (_validate(num_minibatches=3), "num_minibatches"),
    "total_steps_below_one_update": (_validate(total_steps=100), "total_steps"),
    "env_unknown": (_validate(env_id="Nope-v0"), "env_id", "environment id 'Nope-v0'"),
    "policy_unknown_cell": (_validate(policy="rnn"), "policy", "mlp, gru, lstm; got 'rnn'"),
    "recurrent_size_zero": (_validate(policy="gru", recurrent_size=0), "recurrent_size"),
    "recurrent_size_with_mlp": (_validate(recurrent_size=32), "recurrent_size", "no effect"),
    "recurrent_shared_network": (
        _validate(policy="lstm", shared_network=True),
        "shared_network",
    ),
    "recurrent_minibatches_split_environments": (
        _validate(policy="gru", num_envs=4, num_steps=6, num_minibatches=8),
        "num_minibatches",
        "whole sequences of environments",
    ),
    "trpo_recurrent_policy": (
        _validate(TRPOConfig, policy="gru"),
        "policy",
        "policy='gru': TRPO cannot carry a recurrent state",
    ),
    "action_bounds_unknown": (
        _validate(env_id="Pendulum-v1", action_bounds="squash"),
        "action_bounds",
        "clip, tanh, beta; got 'squash'",
    ),
    "action_bounds_on_discrete_actions": (
        _validate(A2CConfig, action_bounds="beta"),
        "action_bounds",
        "CartPole-v1 has discrete ones",
    ),
    "trpo_max_kl_zero": (_validate(TRPOConfig, max_kl=0.0), "max_kl"),
    "trpo_backtrack_coef_one": (_validate(TRPOConfig, backtrack_coef=1.0), "backtrack_coef"),
    "from_dict_hidden_sizes_int": (
        lambda: PPOConfig.from_dict({"hidden_sizes": 64}),
        "hidden_sizes",
    ),
    "run_options_checkpoint_every_zero": (
        lambda: runs.RunOptions(checkpoint_every=0).validate(),
        "checkpoint_every",
    ),
    "run_options_chunk_updates_zero": (
        lambda: runs.RunOptions(chunk_updates=0).validate(),
        "chunk_updates",
    ),
    "run_options_target_return_inf": (
        lambda: runs.RunOptions(target_return=INF).validate(),
        "target_return",
    ),
    "resolve_hyperparameter_nan_array": (
        lambda: PPOConfig().resolve({"clip_eps": np.array([0.2, NAN])}),
        "clip_eps",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_bad_input_raises_config_error_naming_the_field(case):
    thunk, field, *named = CONFIG_CASES[case]
    with pytest.raises(ConfigError, match=re.escape(named[0] if named else field)) as caught:
        thunk()
    assert caught.value.field in (field, None)


RUN_CASES = {
    "hyperparams_one_value_for_two_seeds": ({"hyperparams": {"clip_eps": [0.2]}}, "clip_eps"),
    "hyperparams_unknown_name": ({"hyperparams": {"num_envs": [4, 4]}}, "num_envs"),
    "hyperparams_not_numbers": ({"hyperparams": {"gamma": ["x", "y"]}}, "hyperparams"),
    "seeds_repeated": ({"seeds": [3, 3]}, "seeds"),
    "seeds_negative": ({"seeds": [-1]}, "seeds"),
    "config_of_another_algorithm": ({"config": TRPOConfig(total_steps=512)}, "PPOConfig"),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_driver_refuses_bad_runs_before_touching_the_run_directory(tmp_path, case):
    kwargs, named = RUN_CASES[case]
    with pytest.raises(ConfigError, match=re.escape(named)):
        _run(tmp_path, **kwargs)
    assert not (tmp_path / "run").exists()


def test_an_environment_that_cannot_be_built_offline_is_a_config_error(monkeypatch):
    """MNISTBandit-bsuite downloads MNIST when it is built; offline that fails."""
    from pgjax.envs import gymnax as gymnax_suite
    from pgjax.envs import vector

    def offline(env_id, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(gymnax_suite.gymnax, "make", offline)
    vector.env_spec.cache_clear()
    try:
        with pytest.raises(ConfigError, match="MNISTBandit-bsuite") as caught:
            PPOConfig.for_env("MNISTBandit-bsuite").validate()
    finally:
        vector.env_spec.cache_clear()
    assert caught.value.field == "env_id" and "Name or service not known" in str(caught.value)


# ------------------------------------------------------------------------------------------
# The command line: exit status 2, one line on stderr that names the option or the file
# ------------------------------------------------------------------------------------------


def _usage_error(capsys, argv, named):
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and named in err, err
    return out


TRAIN_CASES = {
    "seeds_zero": (["--seeds", "0"], "--seeds"),
    "eval_episodes_zero": (["--eval-episodes", "0"], "--eval-episodes"),
    "seed_negative": (["--seed", "-1"], "--seed"),
    "activation_unknown": (["--activation", "sigmoidx"], "--activation"),
    "gamma_nan": (["--gamma", "nan"], "--gamma"),
    "learning_rate_inf": (["--learning-rate", "inf"], "--learning-rate"),
    "hidden_sizes_empty_entry": (["--hidden-sizes", "64,,64"], "--hidden-sizes"),
    "total_steps_not_an_int": (["--total-steps", "1e6"], "--total-steps"),
    "env_unknown": (["--env", "Nope-v0"], "Nope-v0"),
    "chunk_updates_zero": (["--chunk-updates", "0"], "--chunk-updates"),
    "target_return_nan": (["--target-return", "nan"], "--target-return"),
    "keep_checkpoints_zero": (["--keep-checkpoints", "0"], "--keep-checkpoints"),
    "unknown_option": (["--bogus", "1"], "--bogus"),
    "policy_unknown_cell": (["--policy", "rnn"], "--policy"),
    "recurrent_size_zero": (["--policy", "gru", "--recurrent-size", "0"], "--recurrent-size"),
    "total_steps_huge": (["--total-steps", "100000000000000000000"], "--total-steps"),
    "chunk_updates_huge": (["--chunk-updates", "1000000000000"], "--chunk-updates"),
    "coordinator_not_an_address": (["--coordinator-address", "not_an_address"], "HOST:PORT"),
    "coordinator_bad_port": (["--coordinator-address", "host:99999"], "--coordinator-address"),
}

# Settings that would be silently ignored: refused, naming the option and why.
IGNORED_CASES = {
    "impala_actors_without_async": (["impala", "--actors", "0"], "--actors"),
    "impala_queue_without_async": (["impala", "--queue-size", "-5"], "--queue-size"),
    "impala_async_zero_actors": (["impala", "--async", "--actors", "0"], "actors"),
    "a2c_lambda_with_n_step": (["a2c", "--gae-lambda", "0.9"], "--gae-lambda"),
    "a2c_n_step_with_gae": (["a2c", "--advantage-estimator", "gae", "--n-step", "3"], "--n-step"),
    "dqn_huber_delta_with_squared": (
        ["dqn", "--loss", "squared", "--huber-delta", "2"],
        "--huber-delta",
    ),
    "impala_clip_eps_with_vtrace": (["impala", "--clip-eps", "0.1"], "--clip-eps"),
    "reinforce_value_coef_without_value": (
        ["reinforce", "--baseline", "none", "--value-coef", "1"],
        "--value-coef",
    ),
    "sac_envs_devices": (["sac", "--envs-devices", "2"], "--envs-devices"),
    "trpo_recurrent_policy": (["trpo", "--policy", "gru"], "TRPO"),
    "sac_has_no_recurrent_policy": (["sac", "--policy", "gru"], "--policy"),
    "ppo_recurrent_size_without_cell": (["ppo", "--recurrent-size", "16"], "--recurrent-size"),
    "rlhf_target_return": (["rlhf-ppo"], "rlhf"),
}


@pytest.mark.parametrize("case", list(IGNORED_CASES))
def test_meaningless_combinations_exit_2_before_anything_starts(tmp_path, capsys, case):
    argv, named = IGNORED_CASES[case]
    out = _usage_error(capsys, ["train", *argv, "--out", str(tmp_path / "run")], named)
    assert out == "" and not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_option_errors_exit_2_with_one_line_before_anything_is_written(
    tmp_path, capsys, case
):
    argv, named = TRAIN_CASES[case]
    out = _usage_error(capsys, ["train", "ppo", "--out", str(tmp_path / "run"), *argv], named)
    assert out == "" and not (tmp_path / "run").exists()


def test_train_out_that_is_a_file_or_under_a_file_names_it(tmp_path, capsys):
    file = tmp_path / "file.txt"
    file.write_text("not a directory")
    _usage_error(capsys, ["train", "ppo", "--out", str(file)], str(file))
    _usage_error(capsys, ["train", "ppo", "--out", str(file / "run")], str(file / "run"))


def test_unknown_algorithm_exits_2_naming_it(capsys):
    _usage_error(capsys, ["train", "sarsa"], "sarsa")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real run directory: PPO on MountainCar-v0 for one update of 512 steps, in which no
    episode (200 steps each) finishes; with its printed output."""
    run_dir = tmp_path_factory.mktemp("bad_input") / "mountaincar"
    argv = ["train", "ppo", "--env", "MountainCar-v0", "--total-steps", "512"]
    argv += ["--out", str(run_dir), "--no-progress", "--eval-episodes", "1", "--no-tensorboard"]
    from contextlib import redirect_stdout
    from io import StringIO

    printed = StringIO()
    with redirect_stdout(printed):
        assert main(argv) == 0
    return run_dir, printed.getvalue()


def _copy(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    return copy


def _rewrite_config(path, change):
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


CONFIG_JSON_CASES = {
    "empty": lambda p: p.write_text(""),
    "not_an_object": lambda p: p.write_text("[1, 2]"),
    "not_utf8": lambda p: p.write_bytes(b"\xff\xfe"),
    "gamma_nan": lambda p: _rewrite_config(p, lambda r: r["config"].update(gamma=NAN)),
    "unknown_algorithm": lambda p: _rewrite_config(p, lambda r: r.update(algorithm="sarsa")),
    "config_null": lambda p: _rewrite_config(p, lambda r: r.update(config=None)),
    "hidden_sizes_int": lambda p: _rewrite_config(p, lambda r: r["config"].update(hidden_sizes=5)),
    "unknown_option": lambda p: _rewrite_config(p, lambda r: r["options"].update(bogus=1)),
    "option_out_of_range": lambda p: _rewrite_config(
        p, lambda r: r["options"].update(checkpoint_every=0)
    ),
    "hyperparams_not_numbers": lambda p: _rewrite_config(
        p, lambda r: r.update(hyperparams={"gamma": ["x"]})
    ),
    "edited_without_fingerprint": lambda p: _rewrite_config(
        p, lambda r: r["config"].update(gamma=0.5)
    ),
    "missing": lambda p: p.unlink(),
}


@pytest.mark.parametrize("command", ["evaluate", "resume"])
@pytest.mark.parametrize("case", list(CONFIG_JSON_CASES))
def test_a_bad_config_json_exits_2_naming_the_file(finished_run, tmp_path, capsys, case, command):
    run_dir = _copy(finished_run[0], tmp_path)
    CONFIG_JSON_CASES[case](run_dir / "config.json")
    out = _usage_error(capsys, [command, str(run_dir)], str(run_dir / "config.json"))
    assert out == ""  # refused before anything is announced or compiled


CHECKPOINT_CASES = {
    "no_checkpoints_directory": lambda d: shutil.rmtree(d / "checkpoints"),
    "empty_checkpoints_directory": lambda d: [shutil.rmtree(p) for p in d.glob("checkpoints/*")],
    "truncated_meta": lambda d: (d / "checkpoints/1/meta/metadata").write_text('{"alg'),
    "truncated_array_data": lambda d: [
        p.write_bytes(p.read_bytes()[:10]) for p in d.glob("checkpoints/1/state/d/*")
    ],
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_a_missing_or_corrupt_checkpoint_exits_2_naming_it(finished_run, tmp_path, capsys, case):
    run_dir = _copy(finished_run[0], tmp_path)
    CHECKPOINT_CASES[case](run_dir)
    _usage_error(capsys, ["evaluate", str(run_dir), "--episodes", "1"], str(run_dir))


def test_resume_without_a_checkpoint_starts_again_and_recomputes_the_same_run(
    finished_run, tmp_path
):
    # A run killed before its first checkpoint (kill -9 while compiling, say) is not stuck:
    # resume starts it again from its seeds, which gives the same numbers.
    run_dir = _copy(finished_run[0], tmp_path)
    before = (run_dir / "metrics.csv").read_bytes()
    shutil.rmtree(run_dir / "checkpoints")
    assert main(["resume", str(run_dir), "--no-progress"]) == 0
    assert (run_dir / "metrics.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--episodes", "0"], "--episodes"),
        (["--seed", "-1"], "--seed"),
        (["--seed", str(2**40)], "--seed"),
    ],
)
def test_evaluate_option_errors_exit_2(finished_run, capsys, argv, named):
    _usage_error(capsys, ["evaluate", str(finished_run[0]), *argv], named)


def test_evaluate_a_directory_that_is_not_a_run_names_its_config_json(tmp_path, capsys):
    _usage_error(capsys, ["evaluate", str(tmp_path)], str(tmp_path / "config.json"))


def test_a_corrupt_checkpoint_in_a_real_process_prints_one_line_and_no_traceback(
    finished_run, tmp_path
):
    """orbax abandons the other reads of a damaged checkpoint; their failures used to print
    dozens of tracebacks ("Event loop is closed") around the one-line error."""
    run_dir = _copy(finished_run[0], tmp_path)
    CHECKPOINT_CASES["truncated_array_data"](run_dir)
    process = subprocess.run(
        [sys.executable, "-m", "pgjax.cli", "evaluate", str(run_dir), "--episodes", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 2, process.stderr
    assert process.stderr.count("\n") == 1 and str(run_dir / "checkpoints") in process.stderr


# ------------------------------------------------------------------------------------------
# A run in which no episode finished says so; every JSON file pgjax writes is strict JSON
# ------------------------------------------------------------------------------------------


def _strict_json(path):
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_a_run_where_no_episode_finished_says_so_and_writes_strict_json(finished_run):
    run_dir, printed = finished_run
    assert "no episode finished during training" in printed
    metrics = rundir.MetricsLog(run_dir).read(1)
    assert np.isnan(metrics["episode_return"]).all()  # recorded as missing, not as 0
    assert (run_dir / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    files = [run_dir / n for n in ("config.json", "status.json", "evaluation.json")]
    files += sorted(run_dir.glob("checkpoints/*/meta/metadata"))
    assert len(files) == 4
    for path in files:
        _strict_json(path)
    evaluation = _strict_json(run_dir / "evaluation.json")
    assert evaluation["mean_return"] == -200.0  # evaluation runs whole episodes


def test_write_json_turns_non_finite_numbers_into_null(tmp_path):
    path = tmp_path / "record.json"
    rundir.write_json(path, {"mean": NAN, "runs": np.array([1.0, INF]), "n": np.int64(3)})
    assert _strict_json(path) == {"mean": None, "runs": [1.0, None], "n": 3}
    with pytest.raises(RunDirectoryError, match=re.escape(str(tmp_path / "missing.json"))):
        rundir.read_json(tmp_path / "missing.json")


SWEEP_CASES = {
    "unknown_hyperparameter": (["--grid", "learning_rat=1e-3,1e-4"], "learning_rat"),
    "value_out_of_range": (["--grid", "gamma=0.9,1.5"], "gamma"),
    "grid_of_one_value": (["--grid", "clip_eps=0.2"], "two distinct"),
    "grid_of_repeated_value": (["--grid", "clip_eps=0.2,0.2"], "two distinct"),
    "grid_over_static": (["--grid", "num_envs=4,8"], "static"),
    "random_over_static": (["--random", "4", "--range", "num_envs=2,8"], "static"),
    "range_out_of_range": (["--random", "4", "--range", "learning_rate=0,1"], "learning_rate"),
    "range_without_random": (["--grid", "clip_eps=0.1,0.2", "--range", "gamma=0.9,1"], "--random"),
    "grid_not_numbers": (["--grid", "clip_eps=a,b"], "--grid"),
    "no_search": ([], "--grid"),
    "random_negative": (["--random", "-1"], "--random"),
    "population_too_small": (["--grid", "clip_eps=0.1,0.2", "--pbt"], "--pbt"),
    "pbt_option_without_pbt": (["--random", "4", "--pbt-interval", "3"], "--pbt-interval"),
    "pbt_fraction_out_of_range": (["--random", "8", "--pbt", "--pbt-fraction", "0.9"], "fraction"),
    "threshold_nan": (["--random", "4", "--threshold", "nan"], "--threshold"),
}


@pytest.mark.parametrize("case", list(SWEEP_CASES))
def test_sweep_errors_exit_2_with_one_line_before_anything_is_written(tmp_path, capsys, case):
    argv, named = SWEEP_CASES[case]
    out = _usage_error(capsys, ["sweep", "ppo", "--out", str(tmp_path / "run"), *argv], named)
    assert out == "" and not (tmp_path / "run").exists()
