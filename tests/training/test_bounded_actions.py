"""Bounded continuous actions (`OnPolicyConfig.action_bounds`): the option's validation, the
unchanged `clip` default, the tanh and Beta heads, log-probabilities of actions on a bound, the
tanh policy's KL and entropy, and end-to-end training of PPO, A2C, REINFORCE and TRPO."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax import runs
from pgjax.algorithms.a2c import A2C, A2CConfig
from pgjax.algorithms.impala import IMPALA
from pgjax.algorithms.ppo import PPO, PPOConfig
from pgjax.algorithms.reinforce import REINFORCE, REINFORCEConfig
from pgjax.algorithms.trpo import TRPO, TRPOConfig
from pgjax.envs import ClipAction, env_spec
from pgjax.training import on_policy
from pgjax.training.config import ConfigError
from pgjax.training.networks import ActorCritic, SquashedGaussianPolicy, init_network
from pgjax.training.rollout import collect_rollout
from pgjax.training.types import EnvCarry

ENV = "Pendulum-v1"  # actions in [-2, 2]


def _wrappers(env):
    chain = []
    while env is not None:
        chain.append(type(env))
        env = getattr(env, "env", None)
    return chain


def test_clip_is_the_default_and_builds_the_same_network_environment_and_record_as_before():
    config = PPOConfig.for_env(ENV)
    assert config.action_bounds == "clip" and config.clip_actions
    spec = env_spec(ENV)
    # The network pgjax built before the option existed: no bounds, a DiagGaussian head.
    assert on_policy.make_network(config) == ActorCritic(
        action_dim=spec.action_dim,
        discrete=False,
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        shared=config.shared_network,
        obs_ndim=1,
    )
    assert ClipAction in _wrappers(on_policy.setup(config, config.hyperparams()).env)
    # Records and fingerprints of clip runs stay those written before the option existed.
    assert "action_bounds" not in config.to_dict()
    assert PPOConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("option", ["tanh", "beta"])
def test_bounded_options_skip_the_environments_clip_and_are_recorded(option):
    config = PPOConfig.for_env(ENV, action_bounds=option)
    config.validate()
    assert not config.clip_actions
    assert ClipAction not in _wrappers(on_policy.setup(config, config.hyperparams()).env)
    assert config.to_dict()["action_bounds"] == option
    assert PPOConfig.from_dict(config.to_dict()) == config
    assert config.fingerprint() != PPOConfig.for_env(ENV).fingerprint()


@pytest.mark.parametrize("config_class", [PPOConfig, A2CConfig, REINFORCEConfig, TRPOConfig])
def test_bounded_option_on_discrete_actions_is_refused_before_compiling_naming_it(config_class):
    with pytest.raises(ConfigError, match=r"action_bounds='tanh'.*CartPole-v1 has discrete") as e:
        config_class(env_id="CartPole-v1", action_bounds="tanh").validate()
    assert e.value.field == "action_bounds"


def _head(option, obs_dim=3):
    """A Pendulum actor-critic with the `option` head, its parameters and observations."""
    config = PPOConfig.for_env(ENV, action_bounds=option)
    network = on_policy.make_network(config)
    obs = jax.random.normal(jax.random.key(0), (5, obs_dim))
    return network, init_network(network, jax.random.key(1), obs), obs


def test_heads_give_a_tanh_gaussian_and_a_softplus_plus_one_beta_over_the_action_box():
    network, params, obs = _head("tanh")
    policy, _ = network.apply(params, obs)
    assert isinstance(policy, SquashedGaussianPolicy)
    np.testing.assert_array_equal(policy.distribution.low, [-2.0])
    np.testing.assert_array_equal(policy.distribution.high, [2.0])
    network, params, obs = _head("beta")
    policy, _ = network.apply(params, obs)
    assert isinstance(policy, pgjax.Beta)
    assert policy.alpha.shape == policy.beta.shape == (5, 1)
    # α, β = 1 + softplus(·) > 1: unimodal, finite on the bounds (Chou et al., 2017).
    assert np.all(np.asarray(policy.alpha) > 1.0) and np.all(np.asarray(policy.beta) > 1.0)
    samples = policy.sample(jax.random.key(2))
    assert np.all((np.asarray(samples) >= -2.0) & (np.asarray(samples) <= 2.0))


@pytest.mark.parametrize("option", ["tanh", "beta"])
def test_log_probs_of_actions_exactly_on_the_bounds_are_finite_with_finite_gradients(option):
    network, params, obs = _head(option)
    for bound in (-2.0, 2.0):
        actions = jnp.full((5, 1), bound)

        def total(params, actions=actions):
            return network.apply(params, obs, method="policy").log_prob(actions).sum()

        value, grad = jax.value_and_grad(total)(params)
        assert np.isfinite(value)
        assert all(np.isfinite(g).all() for g in jax.tree.leaves(grad))


@pytest.mark.parametrize("option", ["tanh", "beta"])
def test_saturated_rollout_stores_actions_on_the_bound_with_finite_log_probs_and_unit_ratios(
    option,
):
    config = PPOConfig.for_env(ENV, action_bounds=option, num_envs=4)
    run = on_policy.setup(config, config.hyperparams())
    obs, env_state = run.env.reset(jax.random.key(0))
    params = init_network(run.network, jax.random.key(1), obs)
    # A policy pushed onto the upper bound: tanh(u) rounds to 1 in float32 (u ≈ 50), the Beta's
    # α = 1 + softplus(60) ≫ β.
    head = params["params"]["actor"]["PolicyHead_0"]
    head["policy"]["bias"] = jnp.full_like(head["policy"]["bias"], 50.0 if option == "tanh" else 60)
    _, trajectory = collect_rollout(
        run.env, run.network, params, EnvCarry(env_state, obs), jax.random.key(2), 16
    )
    actions = np.asarray(trajectory.action)
    if option == "tanh":
        assert (actions == 2.0).all()  # exactly on the bound, as float32 sampling gives
    assert actions.max() <= 2.0 and actions.min() >= -2.0
    assert np.isfinite(np.asarray(trajectory.log_prob)).all()
    # The loss's side of PPO's ratio at θ = θ_old reproduces the stored log-probability (up to
    # float32 rounding of the batched recomputation): both invert the stored action.
    policy, _ = on_policy.apply_policy(run.network, params, trajectory.obs)
    recomputed = policy.log_prob(trajectory.action)
    np.testing.assert_allclose(recomputed, trajectory.log_prob, rtol=1e-6, atol=1e-5)


def test_tanh_policy_kl_is_the_squashed_distributions_kl_by_monte_carlo():
    mean, log_std = jnp.array([[0.3, -0.5]]), jnp.array([-0.2, 0.1])
    other_mean, other_log_std = jnp.array([[-0.1, 0.2]]), jnp.array([0.1, -0.3])
    low, high = jnp.array([-2.0, 0.0]), jnp.array([2.0, 1.0])
    p = SquashedGaussianPolicy(pgjax.TanhGaussian(mean, log_std, low, high))
    q = SquashedGaussianPolicy(pgjax.TanhGaussian(other_mean, other_log_std, low, high))
    n = 200_000
    p_many = pgjax.TanhGaussian(jnp.broadcast_to(mean, (n, 2)), log_std, low, high)
    q_many = pgjax.TanhGaussian(jnp.broadcast_to(other_mean, (n, 2)), other_log_std, low, high)
    actions, log_p = p_many.sample_and_log_prob(jax.random.key(0))
    monte_carlo = np.mean(np.asarray(log_p - q_many.log_prob(actions), np.float64))
    exact = float(p.kl(q)[0])
    assert exact == pytest.approx(float(p.base().kl(q.base())[0]))
    assert monte_carlo == pytest.approx(exact, abs=0.02)


def test_tanh_policy_entropy_is_the_base_gaussians_an_upper_bound_of_the_unit_squashed_one():
    mean, log_std = jnp.full((100_000, 1), 0.7), jnp.array([0.3])
    squashed = pgjax.TanhGaussian(mean, log_std)  # onto (−1, 1): log |da/du| <= 0
    policy = SquashedGaussianPolicy(squashed)
    base = float(policy.entropy()[0])
    assert base == pytest.approx(0.5 + 0.5 * np.log(2 * np.pi) + 0.3, rel=1e-6)
    assert float(squashed.entropy(jax.random.key(0)).mean()) < base - 0.1


ALGORITHMS = {
    "ppo": (PPO, {"total_steps": 4096, "num_envs": 4, "num_steps": 128}),
    # The recurrent policy has the same head after its cell.
    "ppo_gru": (
        PPO,
        {
            "total_steps": 2048,
            "num_envs": 4,
            "num_steps": 128,
            "num_minibatches": 2,
            "policy": "gru",
            "recurrent_size": 16,
        },
    ),
    "a2c": (A2C, {"total_steps": 2000}),
    "reinforce": (REINFORCE, {"total_steps": 1600, "num_envs": 4, "num_steps": 200}),
    "trpo": (TRPO, {"total_steps": 2048, "num_envs": 4, "num_steps": 256}),
    # IMPALA builds its network and environments with the same `on_policy.setup`.
    "impala": (IMPALA, {"total_steps": 2000}),
}


@pytest.mark.parametrize("option", ["tanh", "beta"])
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_each_algorithm_trains_each_bounded_option_on_pendulum_with_finite_losses(name, option):
    algorithm, overrides = ALGORITHMS[name]
    config = algorithm.config_class.for_env(ENV, action_bounds=option, **overrides)
    state, metrics = algorithm.make_train(config)(jax.random.key(0))
    assert np.isfinite(np.asarray(metrics["policy_loss"])).all()
    assert np.isfinite(np.asarray(metrics["entropy"])).all()
    assert np.isfinite(np.asarray(metrics["episode_return"])).any()
    start = algorithm.init(config, jax.random.key(0))
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state.params, start.params)
    assert any(jax.tree.leaves(moved))
    if config.recurrent:
        carry = algorithm.initial_carry(config, state, 3)
        _, actions = algorithm.act_carried(
            config, state, carry, jnp.zeros((3, 3)), jax.random.key(1), False
        )
    else:
        actions = algorithm.act(config, state, jnp.zeros((3, 3)), jax.random.key(1), False)
    assert np.all((np.asarray(actions) >= -2.0) & (np.asarray(actions) <= 2.0))


@pytest.mark.parametrize("option", ["tanh", "beta"])
def test_ppo_with_a_bounded_option_runs_and_evaluates_through_pgjax_runs(tmp_path, option):
    config = PPOConfig.for_env(
        ENV, action_bounds=option, total_steps=2048, num_envs=4, num_steps=128
    )
    outcome = runs.run(PPO, config, [0, 1], tmp_path / "run")
    assert outcome.status == "completed"
    assert runs.restore(tmp_path / "run")[1] == config  # the option comes back from the record
    evaluation = runs.evaluate(tmp_path / "run", episodes=2)
    returns = np.asarray(evaluation["metrics"]["return"])
    assert returns.shape == (2, 2) and np.isfinite(returns).all()
