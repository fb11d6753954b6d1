"""Flax actor and critic MLPs with categorical or Gaussian policy heads.

`ActorCritic(...)(obs)` returns `(distribution, value)`: a `pgjax.Categorical` or
`pgjax.DiagGaussian` over actions and V(s), for a batch of observations `[*B, *obs_shape]`
(observations are flattened after the batch axes). The actor and critic are separate MLPs by
default (`shared=False`, parameters under `"actor"` and `"critic"`), or share a torso.
Initialisation follows common PPO practice (orthogonal, gain √2 in hidden layers, 0.01 for the
policy output, 1 for the value output; Andrychowicz et al., 2021).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.distributions import Categorical, DiagGaussian

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "elu": nn.elu, "gelu": nn.gelu}


def _orthogonal(gain: float):
    """Flax's orthogonal initializer, run one QR per key when vmapped over seeds.

    Under `vmap` the QR decomposition becomes a batched LAPACK call that, on XLA:CPU with few
    cores, can wait forever for a worker thread the rest of the program holds (seen on 2 cores:
    `jit(vmap(train))` hung on its first call). A sequential vmap avoids the batched QR; it is
    only used at initialisation, and it also compiles faster.
    """
    init = nn.initializers.orthogonal(gain)

    def sequential(key, shape, dtype=jnp.float32):
        return jax.custom_batching.sequential_vmap(lambda k: init(k, shape, dtype))(key)

    return sequential


def _dense(features: int, gain: float, name: str | None = None) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=_orthogonal(gain),
        bias_init=nn.initializers.zeros,
        name=name,
    )


class MLP(nn.Module):
    """Hidden layers only: `[*B, D_in] -> [*B, hidden_sizes[-1]]`."""

    hidden_sizes: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](_dense(size, jnp.sqrt(2.0))(x))
        return x


class PolicyHead(nn.Module):
    """Features → a categorical (logits) or diagonal-Gaussian (mean, state-independent log σ)
    distribution."""

    action_dim: int
    discrete: bool

    @nn.compact
    def __call__(self, features: jax.Array):
        out = _dense(self.action_dim, 0.01)(features)
        if self.discrete:
            return Categorical(out)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return DiagGaussian(out, log_std)


class Actor(nn.Module):
    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, features: jax.Array):
        hidden = MLP(self.hidden_sizes, self.activation)(features)
        return PolicyHead(self.action_dim, self.discrete)(hidden)


class Critic(nn.Module):
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        hidden = MLP(self.hidden_sizes, self.activation)(features)
        return _dense(1, 1.0)(hidden)[..., 0]


class ActorCritic(nn.Module):
    """π(·|s) and V(s) from observations `[*B, *obs_shape]`, with `batch_dims` leading axes."""

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    shared: bool = False
    obs_ndim: int = 1  # rank of one observation; the rest of the leading axes are batch

    def _features(self, obs: jax.Array) -> jax.Array:
        batch_shape = obs.shape[: obs.ndim - self.obs_ndim]
        return obs.reshape((*batch_shape, -1)).astype(jnp.float32)

    def setup(self):
        if self.shared:
            self.torso = MLP(self.hidden_sizes, self.activation)
            self.policy_head = PolicyHead(self.action_dim, self.discrete)
            self.value_head = _dense(1, 1.0)
        else:
            self.actor = Actor(self.action_dim, self.discrete, self.hidden_sizes, self.activation)
            self.critic = Critic(self.hidden_sizes, self.activation)

    def __call__(self, obs: jax.Array):
        features = self._features(obs)
        if self.shared:
            hidden = self.torso(features)
            return self.policy_head(hidden), self.value_head(hidden)[..., 0]
        return self.actor(features), self.critic(features)

    def value(self, obs: jax.Array) -> jax.Array:
        """V(s) alone (skips the policy head when the networks are separate)."""
        features = self._features(obs)
        if self.shared:
            return self.value_head(self.torso(features))[..., 0]
        return self.critic(features)

    def policy(self, obs: jax.Array):
        """π(·|s) alone."""
        features = self._features(obs)
        if self.shared:
            return self.policy_head(self.torso(features))
        return self.actor(features)
