"""Action distributions: categorical (with an optional mask of valid actions), diagonal Gaussian,
tanh-squashed Gaussian and Beta (both optionally mapped onto bounds [low, high]).

Each is a `NamedTuple` of arrays, hence a pytree: it can be returned from a jitted function,
vmapped, and passed through `lax.scan`. Methods are pure. The last axis is the event axis
(actions for `Categorical`, action dimensions for the others); any leading batch shape works.

Invalid input: every method checks shapes, naming the argument. Values are checked where they
are known at trace time (eager calls): NaN or infinite parameters, a categorical row with no
possible action, a mask row with no valid action, Beta parameters <= 0, bounds with
`low >= high` and actions outside the support are errors. Under `jit`/`vmap` values cannot be
checked; there each method documents what such an input gives (NaN log-probabilities, never a
silently wrong action's value; a masked row with no valid action is the one exception, see
`Categorical`).

Actions on a bound: `TanhGaussian.log_prob` and `Beta.log_prob` evaluate the density at the
action moved inside the support by `BOUND_EPS` (of the unit interval the distribution lives on
before its affine map), so an action exactly on a bound, which float32 sampling produces, gets a
finite log-probability with a finite gradient instead of −inf.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betaln, digamma

from pgjax.kernels import _checks

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

BOUND_EPS = 1e-6
"""How far inside a bound `log_prob` moves an action: tanh-Gaussian actions are clipped to
±(1 − BOUND_EPS) before arctanh (pre-image |u| <= 7.25), Beta actions to
[BOUND_EPS, 1 − BOUND_EPS] of the unit interval, both before the affine map onto [low, high]."""


def _check_logit_values(where: str, value: np.ndarray, masked: bool) -> None:
    """Concrete `[*B, A]` logits, −inf where masked: no NaN or +inf, a possible action per row."""
    if np.isnan(value).any() or np.isposinf(value).any():
        raise ValueError(
            f"{where}: `logits` must not be NaN or +inf"
            + (" where `mask` is set" if masked else " (−inf marks an impossible action)")
            + "."
        )
    impossible = np.isneginf(value).all(axis=-1)
    if impossible.any():
        row = tuple(int(i) for i in np.argwhere(impossible)[0])
        which = "every valid action's logit" if masked else "every logit"
        raise ValueError(f"{where}: `logits` row {row} has no possible action ({which} is −inf).")


def _check_categorical(where: str, logits, mask) -> jax.Array | None:
    """`logits: [*B, A]` and `mask: [*B, A]` (or None); when known at trace time, a valid action
    in every mask row and, where the mask is set, no NaN or +inf logits and a possible action
    per row. Returns the mask as bool."""
    if jnp.ndim(logits) < 1:
        raise ValueError(f"{where}: `logits` must be [*B, A], got shape {jnp.shape(logits)}.")
    _checks.as_array(where, "logits", logits)
    mask = _checks.check_mask(where, mask, jnp.shape(logits), "`logits`, [*B, A]")
    value = _checks.concrete_value(logits)
    if mask is None:
        if value is not None and value.size:
            _check_logit_values(where, value, masked=False)
        return None
    mask_value = _checks.concrete_value(mask)
    if mask_value is None or not mask_value.size:
        return mask
    no_valid = ~mask_value.any(axis=-1)
    if no_valid.any():
        row = tuple(int(i) for i in np.argwhere(no_valid)[0])
        raise ValueError(f"{where}: `mask` row {row} has no valid action (every entry is False).")
    if value is not None:
        _check_logit_values(where, np.where(mask_value, value, -np.inf), masked=True)
    return mask


class Categorical(NamedTuple):
    r"""Categorical distribution over `A` actions, π(a) = softmax(logits)_a, optionally restricted
    to the valid actions of `mask`.

    .. math::

        π(a) = \frac{m_a \exp(z_a)}{\sum_b m_b \exp(z_b)}

    with `m = mask` (all ones without one). This is invalid-action masking: Huang & Ontañón
    (2020), "A closer look at invalid action masking in policy gradient algorithms",
    https://arxiv.org/abs/2006.14171. A masked action has probability exactly 0: it is never
    sampled nor the mode, its log-probability is −inf (the only place one is), and entropy and
    KL sum over the valid actions only. The mask selects (`jnp.where`) the logits before any
    arithmetic, so a NaN or ±inf logit of a masked action reaches no value and no gradient, and
    the gradient with respect to a masked logit is exactly 0.

    Degenerate logits: NaN or +inf logits (where the mask is set), or a row whose every
    (valid) logit is −inf, raise ValueError when the logits and the mask are known at trace time.
    Traced, such a row gives NaN log-probabilities, entropy and KL (so a loss built from them is
    NaN, which the driver's divergence check reports), and `sample` and `mode` return 0 for it.
    A mask applied to the log-probabilities afterwards hides the NaN value but not the NaN
    gradient with respect to such a row's logits: give padding rows a possible action (e.g.
    `jnp.where`) first.

    A mask row with no valid action raises ValueError naming `mask` when the mask is known at
    trace time. Traced, such a row (e.g. a terminal state whose environment allows nothing) is
    the uniform distribution over all `A` actions, whatever its logits: `log_prob` is −log A for
    every action, `entropy` log A, `kl` 0 against another such row, `sample` uniform, `mode` 0,
    and its logits get a zero gradient. Finite and contained, so a padding step that a loss
    masks out costs nothing.

    Attributes:
      logits: `[*B, A]` float, unnormalised log-probabilities (−inf marks an impossible action).
      mask: `[*B, A]` bool (or 0/1), True where an action is valid; None (default): all valid.
    """

    logits: jax.Array
    mask: jax.Array | None = None

    def _masked_logits(self, where: str) -> jax.Array:
        mask = _check_categorical(where, self.logits, self.mask)
        if mask is None:
            return self.logits
        logits = jnp.asarray(self.logits)
        # A row with no valid action becomes all zeros (uniform): finite and independent of
        # its logits, instead of the NaN of a row of −inf.
        any_valid = jnp.any(mask, axis=-1, keepdims=True)
        fill = jnp.where(any_valid, -jnp.inf, 0.0).astype(logits.dtype)
        return jnp.where(mask, logits, fill)

    def log_probs_all(self) -> jax.Array:
        """`[*B, A]` log π(a) for every action (−inf for masked actions)."""
        return _log_softmax(self._masked_logits("Categorical.log_probs_all"))

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B]` int32 sampled actions (never a masked one)."""
        logits = self._masked_logits("Categorical.sample")
        return jax.random.categorical(key, logits, axis=-1)

    def log_prob(self, actions: jax.Array) -> jax.Array:
        """`[*B]` log π(actions); `actions`: `[*B]` int in [0, A) (−inf for a masked action).

        An action outside [0, A) raises ValueError when known at trace time; traced, its
        log-probability is NaN (never another action's: −1 does not wrap around), which a mask
        over padding contains (`pgjax.aggregate_loss` and the losses select).
        """
        fn = "Categorical.log_prob"
        logits = self._masked_logits(fn)
        if jnp.shape(actions) != logits.shape[:-1]:
            raise ValueError(
                f"{fn}: `actions` has shape {jnp.shape(actions)}, expected "
                f"{logits.shape[:-1]} (the logits' batch shape)."
            )
        actions = _checks.as_array(fn, "actions", actions)
        if not (jnp.issubdtype(actions.dtype, jnp.integer) or actions.dtype == jnp.bool_):
            raise TypeError(f"{fn}: `actions` must be integers, got dtype {actions.dtype}.")
        index, valid = _checks.action_indices(fn, actions, logits.shape[-1])
        log_p = jnp.take_along_axis(_log_softmax(logits), index[..., None], axis=-1)[..., 0]
        return jnp.where(valid, log_p, jnp.nan)

    def entropy(self) -> jax.Array:
        r"""`[*B]` H = −Σ_a π(a) log π(a) (impossible and masked actions contribute 0, not NaN)."""
        log_p = _log_softmax(self._masked_logits("Categorical.entropy"))
        # `!= −inf`, not `> −inf`: a row with no possible action (NaN) stays NaN.
        possible = log_p != -jnp.inf
        # Where the masked branch reads a safe 0, not −inf, so the gradient stays finite too.
        log_p = jnp.where(possible, log_p, 0.0)
        return -jnp.sum(jnp.where(possible, jnp.exp(log_p) * log_p, 0.0), axis=-1)

    def kl(self, other: Categorical) -> jax.Array:
        r"""`[*B]` KL(self ‖ other) = Σ_a π(a) (log π(a) − log π'(a)), over the actions `self`
        makes possible (+inf if `other` rules out one of them, e.g. masks it)."""
        fn = "Categorical.kl"
        _check_other(fn, self, other, self.logits, "logits")
        log_p = _log_softmax(self._masked_logits(fn))
        log_q = _log_softmax(other._masked_logits(fn + " (other)"))
        possible = log_p != -jnp.inf
        log_p, log_q = jnp.where(possible, log_p, 0.0), jnp.where(possible, log_q, 0.0)
        terms = jnp.where(possible, jnp.exp(log_p) * (log_p - log_q), 0.0)
        return jnp.sum(terms, axis=-1)

    def mode(self) -> jax.Array:
        """`[*B]` int32, the most likely action (never a masked one)."""
        logits = self._masked_logits("Categorical.mode")
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def _log_softmax(logits: jax.Array) -> jax.Array:
    # logits − logsumexp rather than jax.nn.log_softmax: under jit(vmap(...)) XLA:CPU
    # miscompiles second derivatives of log_softmax (TRPO's Fisher-vector products came
    # out inf), while this form is exact there too. Same values, same −inf handling.
    return logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)


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


def _broadcasts(small: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return len(small) <= len(shape) and all(
        s in (1, m) for s, m in zip(small[::-1], shape[::-1], strict=False)
    )


def _check_gaussian(where: str, mean, log_std) -> None:
    """`mean: [*B, D]`, `log_std: [*B, D]` or anything that broadcasts to it with last axis D
    (e.g. `[D]`); when known at trace time, both finite."""
    shape, std_shape = jnp.shape(mean), jnp.shape(log_std)
    if len(shape) < 1:
        raise ValueError(f"{where}: `mean` must be [*B, D], got shape {shape}.")
    if not (std_shape and std_shape[-1] == shape[-1] and _broadcasts(std_shape, shape)):
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


class _Bounds(NamedTuple):
    """[low, high] broadcast to the event shape, and their concrete values (None if traced)."""

    low: jax.Array
    high: jax.Array
    low_value: np.ndarray | None
    high_value: np.ndarray | None


def _bounds(where: str, low, high, shape, dtype, default: tuple[float, float]) -> _Bounds:
    """`low`, `high`: both None (the `default` support) or both given, each `()`, `[D]` or
    anything broadcasting to `shape`; when known at trace time, finite with low < high."""
    if (low is None) != (high is None):
        missing = "high" if high is None else "low"
        raise ValueError(f"{where}: `{missing}` is None; give both `low` and `high` or neither.")
    if low is None:
        low, high = default
    arrays = []
    for name, x in (("low", low), ("high", high)):
        x = _checks.as_float(where, name, x, dtype)
        if not _broadcasts(x.shape, tuple(shape)):
            raise ValueError(
                f"{where}: `{name}` has shape {x.shape}, expected one that broadcasts to "
                f"{tuple(shape)}: a scalar, ({shape[-1]},) or {tuple(shape)}."
            )
        value = _checks.concrete_value(x)
        if value is not None and not np.isfinite(value).all():
            raise ValueError(
                f"{where}: `{name}` must be finite, got {value[~np.isfinite(value)][0]}."
            )
        arrays.append((jnp.broadcast_to(x, shape), value))
    (low, low_value), (high, high_value) = arrays
    if low_value is not None and high_value is not None:
        low_value, high_value = np.broadcast_arrays(low_value, high_value)
        empty = ~(high_value > low_value)
        if empty.any():
            raise ValueError(
                f"{where}: `high` must be greater than `low`, got low = {low_value[empty][0]}, "
                f"high = {high_value[empty][0]}."
            )
    return _Bounds(low, high, low_value, high_value)


def _check_actions(where: str, actions, shape, like: str, bounds: _Bounds | None = None) -> None:
    """`actions` has the event shape and, when known at trace time, finite values (within
    `bounds` when given and known)."""
    if jnp.shape(actions) != tuple(shape):
        raise ValueError(
            f"{where}: `actions` has shape {jnp.shape(actions)}, expected {tuple(shape)} ({like})."
        )
    _checks.as_array(where, "actions", actions)
    value = _checks.concrete_value(actions)
    if value is None:
        return
    bad = ~np.isfinite(value)
    if bad.any():
        raise ValueError(f"{where}: `actions` must be finite, got {value[bad][0]}.")
    if bounds is None or bounds.low_value is None or bounds.high_value is None:
        return
    low, high = np.broadcast_to(bounds.low_value, shape), np.broadcast_to(bounds.high_value, shape)
    bad = (value < low) | (value > high)
    if bad.any():
        raise ValueError(
            f"{where}: `actions` must lie in [low, high], got {value[bad][0]} outside "
            f"[{low[bad][0]}, {high[bad][0]}]."
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
        _check_actions(fn, actions, jnp.shape(self.mean), "the mean's shape")
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


def _log_det_tanh_jacobian(pre_tanh: jax.Array) -> jax.Array:
    # log(1 − tanh(u)²) = 2 (log 2 − u − softplus(−2u)): exact and finite for any u, unlike
    # log(1 − tanh(u)²), which is log(0) = −inf once tanh(u) rounds to ±1.
    return jnp.sum(2.0 * (math.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh)), axis=-1)


class TanhGaussian(NamedTuple):
    r"""A diagonal Gaussian squashed by tanh into (−1, 1)^D, as in SAC, optionally mapped onto
    [low, high]^D.

    .. math::

        a = c + s \tanh(u),\quad u \sim N(μ, σ^2),\quad c = (high + low) / 2,\quad
        s = (high − low) / 2

        \log π(a) = \log N(u; μ, σ) − \sum_d \log(1 − \tanh^2 u_d) − \sum_d \log s_d

    (c = 0, s = 1 without bounds). Haarnoja et al. (2018), "Soft actor-critic",
    https://arxiv.org/abs/1801.01290, Appendix C.

    Prefer `sample_and_log_prob`, which evaluates the density at the pre-tanh sample and is exact;
    `log_prob(actions)` must invert the map and clips (a − c)/s to ±(1 − `BOUND_EPS`) first, so an
    action exactly on a bound (float32 tanh returns ±1 from |u| ≈ 8 on XLA:CPU) has a finite
    log-density and a finite gradient, the density at the pre-image u = ±7.25. The two agree away
    from the bounds; a ratio of probabilities (PPO, TRPO) should take both sides from
    `log_prob(actions)`.
    Shapes and non-finite parameters are checked as in `DiagGaussian`; actions outside
    [low, high] or NaN raise ValueError when known at trace time; traced, they are clipped, and a
    NaN action gives a NaN log-probability that a mask over the result contains, value and
    gradient. Bounds with low >= high or non-finite raise ValueError when known.

    Attributes:
      mean: `[*B, D]` float, mean of the pre-tanh Gaussian.
      log_std: `[*B, D]` or `[D]` float.
      low: `[D]`, `[*B, D]` or scalar float lower bound; None (with `high`): −1.
      high: the same for the upper bound; None (with `low`): 1.
    """

    mean: jax.Array
    log_std: jax.Array
    low: jax.Array | None = None
    high: jax.Array | None = None

    def _log_std(self, where: str) -> jax.Array:
        _check_gaussian(where, self.mean, self.log_std)
        return jnp.broadcast_to(self.log_std, jnp.shape(self.mean))

    def _bounds(self, where: str) -> _Bounds:
        dtype = jnp.result_type(self.mean, jnp.float32)
        return _bounds(where, self.low, self.high, jnp.shape(self.mean), dtype, (-1.0, 1.0))

    def _squash(self, pre_tanh: jax.Array, bounds: _Bounds) -> jax.Array:
        if self.low is None:
            return jnp.tanh(pre_tanh)
        centre, scale = 0.5 * (bounds.high + bounds.low), 0.5 * (bounds.high - bounds.low)
        # Clipped because c + s·tanh(u) may round one ulp past a bound.
        return jnp.clip(centre + scale * jnp.tanh(pre_tanh), bounds.low, bounds.high)

    def _log_scale(self, bounds: _Bounds) -> jax.Array | float:
        if self.low is None:
            return 0.0
        return jnp.sum(jnp.log(0.5 * (bounds.high - bounds.low)), axis=-1)

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(`[*B, D]` actions in [low, high], `[*B]` their log-densities), reparameterised."""
        fn = "TanhGaussian.sample_and_log_prob"
        log_std, bounds = self._log_std(fn), self._bounds(fn)
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        pre_tanh = self.mean + jnp.exp(log_std) * noise
        log_prob = _gaussian_log_prob(pre_tanh, self.mean, log_std)
        log_prob = log_prob - _log_det_tanh_jacobian(pre_tanh) - self._log_scale(bounds)
        return self._squash(pre_tanh, bounds), log_prob

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B, D]` actions in [low, high] ((−1, 1) without bounds)."""
        return self.sample_and_log_prob(key)[0]

    def log_prob(self, actions: jax.Array) -> jax.Array:
        """`[*B]` log π(actions); `actions`: `[*B, D]` in [low, high] (a bound gives a finite
        value)."""
        fn = "TanhGaussian.log_prob"
        log_std, bounds = self._log_std(fn), self._bounds(fn)
        _check_actions(fn, actions, jnp.shape(self.mean), "the mean's shape", bounds)
        actions = jnp.asarray(actions)
        # A NaN action (padding) is replaced before any arithmetic and its NaN selected at the
        # end: a mask over the result then hides it from the parameters' gradient too.
        unknown = jnp.isnan(actions)
        unit = jnp.where(unknown, 0.0, actions)
        if self.low is not None:
            centre, scale = 0.5 * (bounds.high + bounds.low), 0.5 * (bounds.high - bounds.low)
            unit = (unit - centre) / scale
        limit = 1.0 - BOUND_EPS
        pre_tanh = jnp.arctanh(jnp.clip(unit, -limit, limit))
        log_prob = _gaussian_log_prob(pre_tanh, self.mean, log_std)
        log_prob = log_prob - _log_det_tanh_jacobian(pre_tanh) - self._log_scale(bounds)
        return jnp.where(jnp.any(unknown, axis=-1), jnp.nan, log_prob)

    def entropy(self, key: jax.Array) -> jax.Array:
        """`[*B]` single-sample estimate −log π(a), a ~ π (tanh-Gaussian entropy has no closed
        form)."""
        return -self.sample_and_log_prob(key)[1]

    def mode(self) -> jax.Array:
        """`[*B, D]` c + s·tanh(mean) (tanh(mean) without bounds)."""
        fn = "TanhGaussian.mode"
        self._log_std(fn)
        return self._squash(self.mean, self._bounds(fn))


def _check_beta(where: str, alpha, beta) -> None:
    """`alpha: [*B, D]`, `beta` of the same shape; when known at trace time, finite and > 0."""
    if jnp.ndim(alpha) < 1:
        raise ValueError(f"{where}: `alpha` must be [*B, D], got shape {jnp.shape(alpha)}.")
    _checks.check_shape(where, "beta", beta, jnp.shape(alpha), "`alpha`, [*B, D]")
    for name, x in (("alpha", alpha), ("beta", beta)):
        _checks.as_array(where, name, x)
        value = _checks.concrete_value(x)
        if value is None:
            continue
        bad = ~(np.isfinite(value) & (value > 0))
        if bad.any():
            raise ValueError(f"{where}: `{name}` must be finite and > 0, got {value[bad][0]}.")


class Beta(NamedTuple):
    r"""A Beta distribution per action dimension, mapped onto [low, high]^D: the Beta policy.

    .. math::

        a = low + (high − low)\, x,\quad x \sim \mathrm{Beta}(α, β)

        \log π(a) = \sum_d \big[(α_d − 1) \log x_d + (β_d − 1) \log(1 − x_d) − \log B(α_d, β_d)
        − \log(high_d − low_d)\big]

    Chou, Maturana & Scherer (2017), "Improving stochastic policy gradients in continuous control
    with deep reinforcement learning using the Beta distribution", ICML,
    https://proceedings.mlr.press/v70/chou17a.html. Its support is the action box itself, so no
    probability mass is clipped away (the bias of clipping a Gaussian). A network typically
    produces α = 1 + softplus(·) and β = 1 + softplus(·), which keeps the density unimodal and
    bounded.

    `log_prob` clips x into [`BOUND_EPS`, 1 − `BOUND_EPS`] first, so an action exactly on a bound
    (which `sample` returns when float32 rounds, for small α or β) has a finite log-probability
    and a finite gradient. α or β <= 0 (or non-finite) raise ValueError when known at trace time;
    traced, every result of such a row (log-probability, entropy, KL, sample, mode) is NaN, and
    its parameters get a zero gradient from a loss that masks the row out. Actions outside
    [low, high] raise ValueError when known; traced, they are clipped, and a NaN action gives a
    NaN log-probability that a mask over the result contains, value and gradient.

    Attributes:
      alpha: `[*B, D]` float, α > 0.
      beta: `[*B, D]` float, β > 0.
      low: `[D]`, `[*B, D]` or scalar float lower bound; None (with `high`): 0.
      high: the same for the upper bound; None (with `low`): 1.
    """

    alpha: jax.Array
    beta: jax.Array
    low: jax.Array | None = None
    high: jax.Array | None = None

    def _parameters(self, where: str):
        """(α, β with invalid entries replaced by 1, `[*B, D]` validity, bounds)."""
        _check_beta(where, self.alpha, self.beta)
        dtype = _checks.compute_dtype(self.alpha, self.beta)
        alpha = _checks.as_float(where, "alpha", self.alpha, dtype)
        beta = _checks.as_float(where, "beta", self.beta, dtype)
        valid = (alpha > 0) & (beta > 0) & jnp.isfinite(alpha) & jnp.isfinite(beta)
        # Invalid parameters are replaced before any arithmetic, so only the NaN selected at the
        # end marks them and their gradient is a clean 0.
        alpha, beta = jnp.where(valid, alpha, 1.0), jnp.where(valid, beta, 1.0)
        bounds = _bounds(where, self.low, self.high, alpha.shape, dtype, (0.0, 1.0))
        return alpha, beta, valid, bounds

    def _to_actions(self, unit: jax.Array, bounds: _Bounds) -> jax.Array:
        # Clipped because low + (high − low)·x may round one ulp past a bound.
        return jnp.clip(bounds.low + (bounds.high - bounds.low) * unit, bounds.low, bounds.high)

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B, D]` actions in [low, high] (reparameterised through the Gamma samples)."""
        alpha, beta, valid, bounds = self._parameters("Beta.sample")
        unit = jax.random.beta(key, alpha, beta, alpha.shape, alpha.dtype)
        row_valid = jnp.all(valid, axis=-1, keepdims=True)
        return jnp.where(row_valid, self._to_actions(unit, bounds), jnp.nan)

    def log_prob(self, actions: jax.Array) -> jax.Array:
        r"""`[*B]` log π(actions); `actions`: `[*B, D]` in [low, high] (a bound gives a finite
        value)."""
        fn = "Beta.log_prob"
        alpha, beta, valid, bounds = self._parameters(fn)
        _check_actions(fn, actions, alpha.shape, "the shape of `alpha`", bounds)
        actions = _checks.as_float(fn, "actions", actions, alpha.dtype)
        # A NaN action (padding) is replaced before any arithmetic, as invalid parameters are.
        known = ~jnp.isnan(actions)
        valid = valid & known
        width = bounds.high - bounds.low
        unit = jnp.where(known, (actions - bounds.low) / width, 0.5)
        unit = jnp.clip(unit, BOUND_EPS, 1.0 - BOUND_EPS)
        log_p = (
            (alpha - 1.0) * jnp.log(unit)
            + (beta - 1.0) * jnp.log1p(-unit)
            - betaln(alpha, beta)
            - jnp.log(width)
        )
        return jnp.where(jnp.all(valid, axis=-1), jnp.sum(log_p, axis=-1), jnp.nan)

    def entropy(self) -> jax.Array:
        r"""`[*B]` Σ_d [log B(α, β) − (α−1)ψ(α) − (β−1)ψ(β) + (α+β−2)ψ(α+β) + log(high − low)]
        (ψ the digamma function)."""
        alpha, beta, valid, bounds = self._parameters("Beta.entropy")
        terms = (
            betaln(alpha, beta)
            - (alpha - 1.0) * digamma(alpha)
            - (beta - 1.0) * digamma(beta)
            + (alpha + beta - 2.0) * digamma(alpha + beta)
            + jnp.log(bounds.high - bounds.low)
        )
        return jnp.where(jnp.all(valid, axis=-1), jnp.sum(terms, axis=-1), jnp.nan)

    def kl(self, other: Beta) -> jax.Array:
        r"""`[*B]` KL(self ‖ other) = Σ_d [log B(α', β') − log B(α, β) + (α − α')ψ(α)
        + (β − β')ψ(β) + (α' − α + β' − β)ψ(α + β)].

        Both must have the same bounds (the affine map's log-determinants cancel); different
        bounds known at trace time raise ValueError naming `other.low` or `other.high`.
        """
        fn = "Beta.kl"
        _check_other(fn, self, other, self.alpha, "alpha")
        alpha, beta, valid, bounds = self._parameters(fn)
        alpha2, beta2, valid2, bounds2 = other._parameters(fn + " (other)")
        for name in ("low", "high"):
            mine, theirs = getattr(bounds, f"{name}_value"), getattr(bounds2, f"{name}_value")
            if (
                mine is not None
                and theirs is not None
                and not np.array_equal(*np.broadcast_arrays(mine, theirs))
            ):
                raise ValueError(f"{fn}: `other.{name}` differs from `{name}`.")
        terms = (
            betaln(alpha2, beta2)
            - betaln(alpha, beta)
            + (alpha - alpha2) * digamma(alpha)
            + (beta - beta2) * digamma(beta)
            + (alpha2 - alpha + beta2 - beta) * digamma(alpha + beta)
        )
        both = jnp.all(valid & valid2, axis=-1)
        return jnp.where(both, jnp.sum(terms, axis=-1), jnp.nan)

    def mode(self) -> jax.Array:
        r"""`[*B, D]` the mode (α−1)/(α+β−2) mapped onto [low, high] where α > 1 and β > 1;
        elsewhere (α <= 1 or β <= 1: the density is monotone, flat or U-shaped, its maximum on
        a bound or nowhere) the mean α/(α+β) instead."""
        alpha, beta, valid, bounds = self._parameters("Beta.mode")
        unimodal = (alpha > 1.0) & (beta > 1.0)
        # The unused branch divides by a safe 1, not by α + β − 2 = 0 at α = β = 1.
        denominator = jnp.where(unimodal, alpha + beta - 2.0, 1.0)
        unit = jnp.where(unimodal, (alpha - 1.0) / denominator, alpha / (alpha + beta))
        row_valid = jnp.all(valid, axis=-1, keepdims=True)
        return jnp.where(row_valid, self._to_actions(unit, bounds), jnp.nan)
