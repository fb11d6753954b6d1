"""`pgjax.training.on_policy`: the shared actor-critic loss is the sum of the kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import pgjax
from pgjax.algorithms.a2c import A2CConfig
from pgjax.training.on_policy import actor_critic_loss, make_network
from pgjax.training.types import PolicyGradientBatch


def test_actor_critic_loss_is_the_sum_of_the_kernels():
    network = make_network(A2CConfig())
    obs = jax.random.normal(jax.random.key(1), (5, 3, 4))
    params = jax.jit(network.init)(jax.random.key(2), obs)
    actions = jnp.arange(15).reshape(5, 3) % 2
    advantages = jax.random.normal(jax.random.key(3), (5, 3))
    targets = jax.random.normal(jax.random.key(4), (5, 3))
    batch = PolicyGradientBatch(obs, actions, advantages, targets, None)

    @jax.jit
    def both(params):
        loss, metrics = actor_critic_loss(network, params, batch, 0.5, entropy_coef=0.01)
        distribution, values = network.apply(params, obs)
        expected = (
            pgjax.policy_gradient_loss(distribution.log_prob(actions), advantages)
            + 0.5 * pgjax.value_loss(values, targets)
            + 0.01 * pgjax.entropy_loss(distribution.entropy())
        )
        return loss, expected, metrics["entropy"], distribution.entropy().mean()

    loss, expected, entropy, expected_entropy = both(params)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(entropy, expected_entropy, rtol=1e-5)
