"""Action distributions: categorical, diagonal Gaussian and tanh-squashed Gaussian.

Each is a `NamedTuple` of arrays, hence a pytree: it can be returned from a jitted function,
vmapped, and passed through `lax.scan`. Methods are pure. The last axis is the event axis
(actions for `Categorical`, action dimensions for the Gaussians); any leading batch shape works.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class Categorical(NamedTuple):
    r"""Categorical distribution over `A` actions, π(a) = softmax(logits)_a.

    Attributes:
      logits: `[*B, A]` float, unnormalised log-probabilities (−inf marks an impossible action).
    """

    logits: jax.Array

    def log_probs_all(self) -> jax.Array:
        """`[*B, A]` log π(a) for every action."""
        # logits − logsumexp rather than jax.nn.log_softmax: under jit(vmap(...)) XLA:CPU
        # miscompiles second derivatives of log_softmax (TRPO's Fisher-vector products came
        # out inf), while this form is exact there too. Same values, same −inf handling.
        return self.logits - jax.nn.logsumexp(self.logits, axis=-1, keepdims=True)

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B]` int32 sampled actions."""
        return jax.random.categorical(key, self.logits, axis=-1)

    def log_prob(self, actions: jax.Array) -> jax.Array:
        """`[*B]` log π(actions); `actions`: `[*B]` int."""
        if jnp.shape(actions) != self.logits.shape[:-1]:
            raise ValueError(
                f"Categorical.log_prob: `actions` has shape {jnp.shape(actions)}, expected "
                f"{self.logits.shape[:-1]} (the logits' batch shape)."
            )
        log_p = self.log_probs_all()
        index = jnp.asarray(actions).astype(jnp.int32)[..., None]
        return jnp.take_along_axis(log_p, index, axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        r"""`[*B]` H = −Σ_a π(a) log π(a) (impossible actions contribute 0, not NaN)."""
        log_p = self.log_probs_all()
        possible = log_p > -jnp.inf
        # Where the masked branch reads a safe 0, not −inf, so the gradient stays finite too.
        log_p = jnp.where(possible, log_p, 0.0)
        return -jnp.sum(jnp.where(possible, jnp.exp(log_p) * log_p, 0.0), axis=-1)

    def kl(self, other: Categorical) -> jax.Array:
        r"""`[*B]` KL(self ‖ other) = Σ_a π(a) (log π(a) − log π'(a))."""
        log_p, log_q = self.log_probs_all(), other.log_probs_all()
        possible = log_p > -jnp.inf
        log_p, log_q = jnp.where(possible, log_p, 0.0), jnp.where(possible, log_q, 0.0)
        terms = jnp.where(possible, jnp.exp(log_p) * (log_p - log_q), 0.0)
        return jnp.sum(terms, axis=-1)

    def mode(self) -> jax.Array:
        """`[*B]` int32, the most likely action."""
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


class DiagGaussian(NamedTuple):
    r"""Gaussian with diagonal covariance, N(mean, diag(exp(log_std)²)).

    Attributes:
      mean: `[*B, D]` float.
      log_std: `[*B, D]` float, or `[D]` (state-independent, broadcast over the batch).
    """

    mean: jax.Array
    log_std: jax.Array

    def _log_std(self) -> jax.Array:
        return jnp.broadcast_to(self.log_std, self.mean.shape)

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B, D]` reparameterised sample mean + std · ε."""
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + jnp.exp(self._log_std()) * noise

    def log_prob(self, actions: jax.Array) -> jax.Array:
        r"""`[*B]` Σ_d [−½((x−μ)/σ)² − log σ − ½ log 2π]; `actions`: `[*B, D]`."""
        if jnp.shape(actions) != self.mean.shape:
            raise ValueError(
                f"DiagGaussian.log_prob: `actions` has shape {jnp.shape(actions)}, expected "
                f"{self.mean.shape} (the mean's shape)."
            )
        log_std = self._log_std()
        z = (actions - self.mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * jnp.square(z) - log_std - _HALF_LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        r"""`[*B]` Σ_d (½ + ½ log 2π + log σ_d)."""
        return jnp.sum(0.5 + _HALF_LOG_2PI + self._log_std(), axis=-1)

    def kl(self, other: DiagGaussian) -> jax.Array:
        r"""`[*B]` KL(self ‖ other) = Σ_d [log σ'/σ + (σ² + (μ−μ')²)/(2σ'²) − ½]."""
        log_std, other_log_std = self._log_std(), other._log_std()
        variance_ratio = jnp.exp(2.0 * (log_std - other_log_std))
        mean_term = jnp.square((self.mean - other.mean) * jnp.exp(-other_log_std))
        return jnp.sum(other_log_std - log_std + 0.5 * (variance_ratio + mean_term) - 0.5, axis=-1)

    def mode(self) -> jax.Array:
        """`[*B, D]` the mean."""
        return self.mean


def _log_det_tanh_jacobian(pre_tanh: jax.Array) -> jax.Array:
    # log(1 − tanh(u)²) = 2 (log 2 − u − softplus(−2u)): exact and finite for any u, unlike
    # log(1 − tanh(u)²), which is log(0) = −inf once tanh(u) rounds to ±1.
    return jnp.sum(2.0 * (math.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh)), axis=-1)


class TanhGaussian(NamedTuple):
    r"""A diagonal Gaussian squashed by tanh into (−1, 1)^D, as in SAC.

    a = tanh(u), u ~ N(mean, σ²):
    log π(a) = log N(u; μ, σ) − Σ_d log(1 − tanh(u_d)²). Haarnoja et al. (2018), "Soft
    actor-critic", https://arxiv.org/abs/1801.01290, Appendix C.

    Prefer `sample_and_log_prob`, which evaluates the density at the pre-tanh sample and is exact;
    `log_prob(actions)` must invert tanh and clips actions to ±(1 − 1e-6) first.

    Attributes:
      mean: `[*B, D]` float, mean of the pre-tanh Gaussian.
      log_std: `[*B, D]` or `[D]` float.
    """

    mean: jax.Array
    log_std: jax.Array

    def _base(self) -> DiagGaussian:
        return DiagGaussian(self.mean, self.log_std)

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(`[*B, D]` actions in (−1, 1), `[*B]` their log-densities), reparameterised."""
        pre_tanh = self._base().sample(key)
        log_prob = self._base().log_prob(pre_tanh) - _log_det_tanh_jacobian(pre_tanh)
        return jnp.tanh(pre_tanh), log_prob

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B, D]` actions in (−1, 1)."""
        return jnp.tanh(self._base().sample(key))

    def log_prob(self, actions: jax.Array) -> jax.Array:
        """`[*B]` log π(actions); `actions`: `[*B, D]` in [−1, 1]."""
        limit = 1.0 - 1e-6
        pre_tanh = jnp.arctanh(jnp.clip(actions, -limit, limit))
        return self._base().log_prob(pre_tanh) - _log_det_tanh_jacobian(pre_tanh)

    def entropy(self, key: jax.Array) -> jax.Array:
        """`[*B]` single-sample estimate −log π(a), a ~ π (tanh-Gaussian entropy has no closed
        form)."""
        return -self.sample_and_log_prob(key)[1]

    def mode(self) -> jax.Array:
        """`[*B, D]` tanh(mean)."""
        return jnp.tanh(self.mean)
