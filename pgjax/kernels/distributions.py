"""Action distributions: categorical, diagonal Gaussian and tanh-squashed Gaussian.

Each is a `NamedTuple` of arrays, hence a pytree: it can be returned from a jitted function,
vmapped, and passed through `lax.scan`. Methods are pure. The last axis is the event axis
(actions for `Categorical`, action dimensions for the Gaussians); any leading batch shape works.

Invalid input: every method checks shapes, naming the argument. Values are checked where they
are known at trace time (eager calls): NaN or infinite parameters, a categorical row with no
possible action and actions outside the support are errors. Under `jit`/`vmap` values cannot
be checked; there each method documents what such an input gives (NaN log-probabilities, never
a silently wrong action's value).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.kernels import _checks

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _check_logits(where: str, logits) -> None:
    """`[*B, A]` logits; when known at trace time, no NaN or +inf and a possible action in
    every row."""
    if jnp.ndim(logits) < 1:
        raise ValueError(f"{where}: `logits` must be [*B, A], got shape {jnp.shape(logits)}.")
    _checks.as_array(where, "logits", logits)
    value = _checks.concrete_value(logits)
    if value is None or not value.size:
        return
    if np.isnan(value).any() or np.isposinf(value).any():
        raise ValueError(
            f"{where}: `logits` must not be NaN or +inf (−inf marks an impossible action)."
        )
    impossible = np.isneginf(value).all(axis=-1)
    if impossible.any():
        row = tuple(int(i) for i in np.argwhere(impossible)[0])
        raise ValueError(
            f"{where}: `logits` row {row} has no possible action (every logit is −inf)."
        )


def _check_gaussian(where: str, mean, log_std) -> None:
    """`mean: [*B, D]`, `log_std: [*B, D]` or anything that broadcasts to it with last axis D
    (e.g. `[D]`); when known at trace time, both finite."""
    shape, std_shape = jnp.shape(mean), jnp.shape(log_std)
    if len(shape) < 1:
        raise ValueError(f"{where}: `mean` must be [*B, D], got shape {shape}.")
    broadcasts = len(std_shape) <= len(shape) and all(
        s in (1, m) for s, m in zip(std_shape[::-1], shape[::-1], strict=False)
    )
    if not (std_shape and std_shape[-1] == shape[-1] and broadcasts):
        raise ValueError(
            f"{where}: `log_std` has shape {std_shape}, expected {shape} (the shape of `mean`, "
            f"[*B, D]) or ({shape[-1]},) (one per action dimension, [D])."
        )
    for name, x in (("mean", mean), ("log_std", log_std)):
        _checks.as_array(where, name, x)
        value = _checks.concrete_value(x)
        if value is not None and not np.isfinite(value).all():
            raise ValueError(
                f"{where}: `{name}` must be finite, got {value[~np.isfinite(value)][0]}."
            )


class Categorical(NamedTuple):
    r"""Categorical distribution over `A` actions, π(a) = softmax(logits)_a.

    Degenerate logits: NaN or +inf logits, or a row whose every logit is −inf (no possible
    action), raise ValueError when the logits are known at trace time. Traced, such a row gives
    NaN log-probabilities, entropy and KL (so a loss built from them is NaN, which the driver's
    divergence check reports), and `sample` and `mode` return 0 for it. A mask applied to the
    log-probabilities afterwards hides the NaN value but not the NaN gradient with respect to
    such a row's logits: give padding rows a possible action (e.g. `jnp.where`) first.

    Attributes:
      logits: `[*B, A]` float, unnormalised log-probabilities (−inf marks an impossible action).
    """

    logits: jax.Array

    def log_probs_all(self) -> jax.Array:
        """`[*B, A]` log π(a) for every action."""
        _check_logits("Categorical.log_probs_all", self.logits)
        return self._log_probs_all()

    def _log_probs_all(self) -> jax.Array:
        # logits − logsumexp rather than jax.nn.log_softmax: under jit(vmap(...)) XLA:CPU
        # miscompiles second derivatives of log_softmax (TRPO's Fisher-vector products came
        # out inf), while this form is exact there too. Same values, same −inf handling.
        return self.logits - jax.nn.logsumexp(self.logits, axis=-1, keepdims=True)

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B]` int32 sampled actions."""
        _check_logits("Categorical.sample", self.logits)
        return jax.random.categorical(key, self.logits, axis=-1)

    def log_prob(self, actions: jax.Array) -> jax.Array:
        """`[*B]` log π(actions); `actions`: `[*B]` int in [0, A).

        An action outside [0, A) raises ValueError when known at trace time; traced, its
        log-probability is NaN (never another action's: −1 does not wrap around), which a mask
        over padding contains (`pgjax.aggregate_loss` and the losses select).
        """
        fn = "Categorical.log_prob"
        _check_logits(fn, self.logits)
        if jnp.shape(actions) != self.logits.shape[:-1]:
            raise ValueError(
                f"{fn}: `actions` has shape {jnp.shape(actions)}, expected "
                f"{self.logits.shape[:-1]} (the logits' batch shape)."
            )
        actions = _checks.as_array(fn, "actions", actions)
        if not (jnp.issubdtype(actions.dtype, jnp.integer) or actions.dtype == jnp.bool_):
            raise TypeError(f"{fn}: `actions` must be integers, got dtype {actions.dtype}.")
        index, valid = _checks.action_indices(fn, actions, self.logits.shape[-1])
        log_p = jnp.take_along_axis(self._log_probs_all(), index[..., None], axis=-1)[..., 0]
        return jnp.where(valid, log_p, jnp.nan)

    def entropy(self) -> jax.Array:
        r"""`[*B]` H = −Σ_a π(a) log π(a) (impossible actions contribute 0, not NaN)."""
        _check_logits("Categorical.entropy", self.logits)
        log_p = self._log_probs_all()
        # `!= −inf`, not `> −inf`: a row with no possible action (NaN) stays NaN.
        possible = log_p != -jnp.inf
        # Where the masked branch reads a safe 0, not −inf, so the gradient stays finite too.
        log_p = jnp.where(possible, log_p, 0.0)
        return -jnp.sum(jnp.where(possible, jnp.exp(log_p) * log_p, 0.0), axis=-1)

    def kl(self, other: Categorical) -> jax.Array:
        r"""`[*B]` KL(self ‖ other) = Σ_a π(a) (log π(a) − log π'(a))."""
        fn = "Categorical.kl"
        _check_other(fn, self, other, self.logits, "logits")
        _check_logits(fn, self.logits)
        _check_logits(fn, other.logits)
        log_p, log_q = self._log_probs_all(), other._log_probs_all()
        possible = log_p != -jnp.inf
        log_p, log_q = jnp.where(possible, log_p, 0.0), jnp.where(possible, log_q, 0.0)
        terms = jnp.where(possible, jnp.exp(log_p) * (log_p - log_q), 0.0)
        return jnp.sum(terms, axis=-1)

    def mode(self) -> jax.Array:
        """`[*B]` int32, the most likely action."""
        _check_logits("Categorical.mode", self.logits)
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


def _check_other(where: str, dist, other, array, name: str) -> None:
    """`other` is a distribution of the same kind whose `name` has the same shape."""
    if type(other) is not type(dist):
        raise TypeError(
            f"{where}: `other` must be a {type(dist).__name__}, got {type(other).__name__}."
        )
    if jnp.shape(getattr(other, name)) != jnp.shape(array):
        raise ValueError(
            f"{where}: `other.{name}` has shape {jnp.shape(getattr(other, name))}, expected "
            f"{jnp.shape(array)} (the shape of `{name}`)."
        )


class DiagGaussian(NamedTuple):
    r"""Gaussian with diagonal covariance, N(mean, diag(exp(log_std)²)).

    A `log_std` that does not broadcast to `mean` (wrong last axis) raises ValueError naming it.
    NaN or infinite `mean`/`log_std` (and actions) raise ValueError when known at trace time;
    traced, they give NaN or infinite results.

    Attributes:
      mean: `[*B, D]` float.
      log_std: `[*B, D]` float, or `[D]` (state-independent, broadcast over the batch).
    """

    mean: jax.Array
    log_std: jax.Array

    def _log_std(self, where: str) -> jax.Array:
        _check_gaussian(where, self.mean, self.log_std)
        return jnp.broadcast_to(self.log_std, jnp.shape(self.mean))

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B, D]` reparameterised sample mean + std · ε."""
        log_std = self._log_std("DiagGaussian.sample")
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + jnp.exp(log_std) * noise

    def log_prob(self, actions: jax.Array) -> jax.Array:
        r"""`[*B]` Σ_d [−½((x−μ)/σ)² − log σ − ½ log 2π]; `actions`: `[*B, D]` finite."""
        fn = "DiagGaussian.log_prob"
        log_std = self._log_std(fn)
        _check_actions(fn, actions, self.mean)
        return _gaussian_log_prob(actions, self.mean, log_std)

    def entropy(self) -> jax.Array:
        r"""`[*B]` Σ_d (½ + ½ log 2π + log σ_d)."""
        return jnp.sum(0.5 + _HALF_LOG_2PI + self._log_std("DiagGaussian.entropy"), axis=-1)

    def kl(self, other: DiagGaussian) -> jax.Array:
        r"""`[*B]` KL(self ‖ other) = Σ_d [log σ'/σ + (σ² + (μ−μ')²)/(2σ'²) − ½]."""
        fn = "DiagGaussian.kl"
        _check_other(fn, self, other, self.mean, "mean")
        log_std, other_log_std = self._log_std(fn), other._log_std(fn + " (other)")
        variance_ratio = jnp.exp(2.0 * (log_std - other_log_std))
        mean_term = jnp.square((self.mean - other.mean) * jnp.exp(-other_log_std))
        return jnp.sum(other_log_std - log_std + 0.5 * (variance_ratio + mean_term) - 0.5, axis=-1)

    def mode(self) -> jax.Array:
        """`[*B, D]` the mean."""
        self._log_std("DiagGaussian.mode")
        return self.mean


def _gaussian_log_prob(x, mean, log_std):
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * jnp.square(z) - log_std - _HALF_LOG_2PI, axis=-1)


def _check_actions(where: str, actions, mean, low=None, high=None) -> None:
    """`actions` has the mean's shape and, when known at trace time, finite values (in
    [low, high] when given)."""
    if jnp.shape(actions) != jnp.shape(mean):
        raise ValueError(
            f"{where}: `actions` has shape {jnp.shape(actions)}, expected {jnp.shape(mean)} "
            "(the mean's shape)."
        )
    _checks.as_array(where, "actions", actions)
    value = _checks.concrete_value(actions)
    if value is None:
        return
    bad = ~np.isfinite(value)
    if low is not None:
        bad |= (value < low) | (value > high)
    if bad.any():
        support = "finite" if low is None else f"in [{low}, {high}]"
        raise ValueError(f"{where}: `actions` must be {support}, got {value[bad][0]}.")


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
    `log_prob(actions)` must invert tanh and clips actions to ±(1 − 1e-6) first. Shapes and
    non-finite parameters are checked as in `DiagGaussian`; actions outside [−1, 1] or NaN
    raise ValueError when known at trace time, and are clipped (NaN stays NaN) when traced.

    Attributes:
      mean: `[*B, D]` float, mean of the pre-tanh Gaussian.
      log_std: `[*B, D]` or `[D]` float.
    """

    mean: jax.Array
    log_std: jax.Array

    def _log_std(self, where: str) -> jax.Array:
        _check_gaussian(where, self.mean, self.log_std)
        return jnp.broadcast_to(self.log_std, jnp.shape(self.mean))

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(`[*B, D]` actions in (−1, 1), `[*B]` their log-densities), reparameterised."""
        log_std = self._log_std("TanhGaussian.sample_and_log_prob")
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        pre_tanh = self.mean + jnp.exp(log_std) * noise
        log_prob = _gaussian_log_prob(pre_tanh, self.mean, log_std)
        return jnp.tanh(pre_tanh), log_prob - _log_det_tanh_jacobian(pre_tanh)

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B, D]` actions in (−1, 1)."""
        return self.sample_and_log_prob(key)[0]

    def log_prob(self, actions: jax.Array) -> jax.Array:
        """`[*B]` log π(actions); `actions`: `[*B, D]` in [−1, 1]."""
        fn = "TanhGaussian.log_prob"
        log_std = self._log_std(fn)
        _check_actions(fn, actions, self.mean, -1.0, 1.0)
        limit = 1.0 - 1e-6
        pre_tanh = jnp.arctanh(jnp.clip(actions, -limit, limit))
        log_prob = _gaussian_log_prob(pre_tanh, self.mean, log_std)
        return log_prob - _log_det_tanh_jacobian(pre_tanh)

    def entropy(self, key: jax.Array) -> jax.Array:
        """`[*B]` single-sample estimate −log π(a), a ~ π (tanh-Gaussian entropy has no closed
        form)."""
        return -self.sample_and_log_prob(key)[1]

    def mode(self) -> jax.Array:
        """`[*B, D]` tanh(mean)."""
        self._log_std("TanhGaussian.mode")
        return jnp.tanh(self.mean)
