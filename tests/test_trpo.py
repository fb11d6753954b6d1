"""TRPO (pgjax.algorithms.trpo) and its pieces: the surrogate loss, the trust-region line
search, natural-gradient steps under vmap, and learning on CartPole-v1 and Pendulum-v1."""

from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import pgjax
from pgjax.algorithms import trpo
from pgjax.evaluation import evaluate_seeds
from pgjax.parallel import across_devices
from pgjax.training import make_network

KEY = jax.random.key(0, impl="rbg")  # compiles faster than threefry (see test_reinforce.py)


# ------------------------------------------------------------------------------------------
# The surrogate loss kernel
# ------------------------------------------------------------------------------------------


def test_surrogate_loss_is_the_importance_weighted_advantage(rng):
    log_probs, old_log_probs = rng.normal(size=(2, 6, 3)) * 0.3
    advantages = rng.normal(size=(6, 3))
    mask = rng.random((6, 3)) > 0.3
    ratio = np.exp(log_probs - old_log_probs)
    expected = -(ratio * advantages)[mask].mean()
    got = pgjax.surrogate_loss(
        jnp.asarray(log_probs), jnp.asarray(old_log_probs), jnp.asarray(advantages), mask
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_surrogate_gradient_at_the_old_policy_is_the_policy_gradient(rng):
    old_log_probs = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    advantages = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    surrogate = jax.grad(lambda lp: pgjax.surrogate_loss(lp, old_log_probs, advantages))
    policy_gradient = jax.grad(lambda lp: pgjax.policy_gradient_loss(lp, advantages))
    np.testing.assert_allclose(surrogate(old_log_probs), policy_gradient(old_log_probs), rtol=1e-6)


def test_surrogate_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="advantages"):
        pgjax.surrogate_loss(jnp.zeros((4, 2)), jnp.zeros((4, 2)), jnp.zeros(4))


# ------------------------------------------------------------------------------------------
# The trust region: steps that break the KL bound are not taken
# ------------------------------------------------------------------------------------------


def trust_region_problem(quartic):
    """Linear surrogate gᵀθ; KL = ½‖θ‖² + quartic·‖θ‖⁴, whose Hessian at θ_old = 0 (the Fisher
    the step is sized with) is I: the quartic term makes the true KL of the full natural step
    exceed δ, by an amount the quadratic model cannot see."""
    gradient = jnp.array([1.0, 0.5])

    def surrogate(params):
        return gradient @ params["w"]

    def kl(params):
        squared = params["w"] @ params["w"]
        return 0.5 * squared + quartic * squared**2

    return {"w": jnp.zeros(2)}, surrogate, kl, gradient


def test_line_search_backtracks_from_a_step_that_breaks_the_kl_bound():
    max_kl = 0.01
    params, surrogate, kl, gradient = trust_region_problem(quartic=1.0)
    new_params, info = pgjax.natural_gradient_step(params, surrogate, kl, max_kl, cg_damping=0.0)
    full_step = {"w": gradient * jnp.sqrt(2 * max_kl / (gradient @ gradient))}
    assert float(kl(full_step)) > max_kl  # the full natural step breaks the bound ...
    assert bool(info.accepted)  # ... so a shorter one is taken, which keeps it
    np.testing.assert_allclose(info.step_fraction, 0.8)
    np.testing.assert_allclose(new_params["w"], 0.8 * full_step["w"], rtol=1e-5)
    np.testing.assert_allclose(info.kl, kl(new_params), rtol=1e-5)
    assert float(info.kl) <= max_kl


def test_line_search_rejects_every_step_when_all_break_the_kl_bound():
    max_kl = 0.01
    params, surrogate, kl, _ = trust_region_problem(quartic=1e6)
    new_params, info = pgjax.natural_gradient_step(params, surrogate, kl, max_kl, cg_damping=0.0)
    assert not bool(info.accepted)
    assert float(info.step_fraction) == 0.0 and float(info.kl) == 0.0
    np.testing.assert_array_equal(new_params["w"], params["w"])


def test_fisher_vector_products_of_an_mlp_policy_are_the_same_under_jit_and_vmap():
    # Regression: XLA:CPU miscompiles second derivatives of jax.nn.log_softmax under
    # jit(vmap(...)) (jax 0.10.2), and the Fisher-vector products of a vmapped TRPO came out inf.
    network, _ = make_network(trpo.Config())
    obs = jax.random.normal(jax.random.key(1), (2, 2048, 4))
    keys = jax.random.split(jax.random.key(2))

    def fvp(key, obs):  # params and data both batched, as in vmapped training
        actor = network.init(key, obs)["params"]["actor"]

        def policy(actor):
            return network.apply({"params": {"actor": actor}}, obs, method="policy")

        old = jax.lax.stop_gradient(policy(actor))
        vector = jax.tree.map(jnp.ones_like, actor)
        product = pgjax.fisher_vector_product(lambda a: old.kl(policy(a)).mean(), actor, vector)
        # vᵀ F v, the curvature TRPO sizes its step with (it must be positive).
        return jax.flatten_util.ravel_pytree(product)[0] @ jax.flatten_util.ravel_pytree(vector)[0]

    batched = jax.jit(jax.vmap(fvp))(keys, obs)
    for i in range(2):
        single = jax.jit(fvp)(keys[i], obs[i])
        np.testing.assert_allclose(batched[i], single, rtol=1e-3, atol=1e-7)


def test_invalid_configs_are_rejected_before_compiling():
    with pytest.raises(ValueError, match="shared_network"):
        trpo.make_train(trpo.Config.for_env("CartPole-v1", shared_network=True))
    with pytest.raises(ValueError, match="value_minibatches"):
        trpo.make_train(trpo.Config.for_env("CartPole-v1", value_minibatches=3))


# ------------------------------------------------------------------------------------------
# Learning, and the KL bound in the training loop
# ------------------------------------------------------------------------------------------


@pytest.mark.learning
def test_trpo_solves_cartpole_and_every_accepted_step_keeps_the_kl_bound():
    # 8 seeds at the preset's δ and 2 with a tiny δ, in one vmapped program.
    config = trpo.Config.for_env("CartPole-v1", total_steps=120_000)
    max_kl = np.array([config.max_kl] * 8 + [1e-6] * 2, np.float32)
    train = across_devices(trpo.make_train(config), len(max_kl))
    state, metrics = train(jax.random.split(KEY, len(max_kl)), {"max_kl": max_kl})
    kl, accepted = np.asarray(metrics["kl"]), np.asarray(metrics["accepted"])
    # The constraint, on the KL logged for every update (rejected updates log 0).
    assert (kl <= max_kl[:, None] * (1 + 1e-5)).all(), (kl / max_kl[:, None]).max(1)
    assert (kl[accepted] > 0).all() and accepted[:8].mean() > 0.9
    # The stochastic training policy's returns over the last 5 updates. Measured over 32 seeds:
    # at the preset's δ, median 474, min 281; at δ = 1e-6, 23 to 27 (it barely moves).
    training = np.nanmean(np.asarray(metrics["episode_return"])[:, -5:], axis=1)
    assert (training[8:] < 50).all(), training
    assert np.median(training[:8]) >= 300, training
    assert (training[:8] >= 150).sum() >= 7, training
    # The deterministic policy on 20 fresh episodes per seed. Measured over 32 seeds: median
    # 500, min 372. (At δ = 1e-6 it still scores 220 to 384: an argmax over a barely trained
    # policy balances a while, which is why the training returns above are the sharper test.)
    params = jax.tree.map(lambda x: x[:8], state.params)
    final = np.asarray(evaluate_seeds(config, params, None, KEY, num_episodes=20)).mean(1)
    assert np.median(final) >= 350, final


@pytest.mark.learning
def test_trpo_learns_pendulum():
    config = trpo.Config.for_env("Pendulum-v1", total_steps=100_000)
    _, metrics = across_devices(trpo.make_train(config), 8)(jax.random.split(KEY, 8))
    assert (np.asarray(metrics["kl"]) <= config.max_kl * (1 + 1e-5)).all()
    # The training policy's returns over the last 5 updates (~50 episodes per seed). A policy
    # that swings the pendulum up and holds it scores about -150 to -250. Measured over 32
    # seeds: median -242, 10th percentile -305, min -536; with δ = 1e-7 (no learning), -1345
    # to -1131.
    final = np.nanmean(np.asarray(metrics["episode_return"])[:, -5:], axis=1)
    assert np.median(final) >= -400, final
    assert (final >= -700).sum() >= 6, final
