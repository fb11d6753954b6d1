"""Q-learning: (double) Q-learning targets, the Huber TD loss on the actions taken, ε-greedy
exploration and the linear schedule that anneals ε.

Shapes: a batch of transitions `[*S]` (e.g. `[B]` sampled from a replay buffer, or `[T, N]`),
action values `[*S, A]` over A discrete actions. `terminated` marks a terminal successor (worth
0); a time limit needs no flag here, because `next_q_values` are those of the true successor
s' (the final observation), which a truncated transition bootstraps from.

A mask or `terminated` flag is bool, or numbers that are 0/1: any other value (0.5, NaN) raises
ValueError when known at trace time; traced, it cannot be checked and every nonzero value counts as
set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks
from pgjax.kernels.distributions import Categorical
from pgjax.kernels.value import value_loss


def q_learning_targets(
    rewards: jax.Array,
    next_q_values: jax.Array,
    terminated: jax.Array,
    gamma,
    *,
    next_q_selector: jax.Array | None = None,
    stop_gradient: bool = True,
) -> jax.Array:
    r"""One-step Q-learning targets, plain or double.

    .. math::
        y = r + \gamma\, (1 - \text{terminated})\,
            \bar Q\big(s', \arg\max_{a'} Q_{\text{sel}}(s', a')\big)

    With `next_q_selector=None` the target network both selects and evaluates (Q_sel = Q̄, the
    max of DQN: Mnih et al., 2015, "Human-level control through deep reinforcement learning",
    https://doi.org/10.1038/nature14236). With the online network's values as the selector it is
    double Q-learning, which removes most of max's overestimation (van Hasselt et al., 2016,
    "Deep reinforcement learning with double Q-learning", https://arxiv.org/abs/1509.06461).
    A terminated transition's target is r alone: the bootstrap is selected away, so non-finite
    values of a terminal s' never reach the target.

    Args:
      rewards: `[*S]` float, r.
      next_q_values: `[*S, A]` float, Q̄(s', ·) of the target network at the true successor.
      terminated: `[*S]` bool, s' is terminal.
      gamma: scalar or `[*S]` float in [0, 1], discount.
      next_q_selector: optional `[*S, A]` float, Q(s', ·) of the online network (double DQN).
      stop_gradient: stop gradients through the target (default).

    Returns:
      `[*S]` float, y.
    """
    fn = "q_learning_targets"
    shape = jnp.shape(rewards)
    dtype = _checks.compute_dtype(rewards, next_q_values, next_q_selector)
    rewards = _checks.as_float(fn, "rewards", rewards, dtype)
    _checks.check_rank(fn, "next_q_values", next_q_values, len(shape) + 1, "[*S, A]")
    expected = (*shape, jnp.shape(next_q_values)[-1])
    _checks.check_shape(fn, "next_q_values", next_q_values, expected, "`rewards` plus actions")
    next_q_values = _checks.as_float(fn, "next_q_values", next_q_values, dtype)
    _checks.check_shape(fn, "terminated", terminated, shape, "`rewards`")
    terminated = _checks.as_bool(fn, "terminated", terminated)
    gamma = _checks.coefficient(fn, "gamma", gamma, shape, dtype, 0.0, 1.0)
    selector = next_q_values
    if next_q_selector is not None:
        _checks.check_shape(fn, "next_q_selector", next_q_selector, expected, "`next_q_values`")
        selector = _checks.as_float(fn, "next_q_selector", next_q_selector, dtype)
    best = jnp.argmax(jax.lax.stop_gradient(selector), axis=-1)
    next_value = jnp.take_along_axis(next_q_values, best[..., None], axis=-1)[..., 0]
    targets = rewards + jnp.where(terminated, 0.0, gamma * next_value)
    return jax.lax.stop_gradient(targets) if stop_gradient else targets


def q_value_loss(
    q_values: jax.Array,
    actions: jax.Array,
    targets: jax.Array,
    *,
    loss: str = "huber",
    huber_delta=1.0,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""TD regression of the taken actions' values onto constant targets, Huber by default.

    .. math::
        L = \mathbb{E}\big[\ell\big(Q(s, a) - y\big)\big], \qquad
        \ell = \text{Huber}_\delta \ \text{or}\ \tfrac12 e^2

    The Huber loss is DQN's clipping of the TD error to [−δ, δ] in the gradient (Mnih et al.,
    2015, "Human-level control through deep reinforcement learning",
    https://doi.org/10.1038/nature14236, Methods). Gradients reach Q(s, a) of the taken actions
    only; `targets` are constants (see `pgjax.value_loss`, which this reduces to).

    Args:
      q_values: `[*S, A]` float, Q(s, ·) of the online network.
      actions: `[*S]` int in [0, A), the actions a taken. One outside [0, A) in a valid
        transition raises ValueError when known at trace time; traced, its Q(s, a) is NaN
        (never another action's value: −1 does not wrap around), which the mask contains.
      targets: `[*S]` float, y (e.g. `pgjax.q_learning_targets`).
      loss: `"huber"` or `"squared"`.
      huber_delta: scalar float > 0, the Huber transition point δ.
      mask: optional `[*S]` bool, valid transitions.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    fn = "q_value_loss"
    shape = jnp.shape(targets)
    _checks.check_rank(fn, "q_values", q_values, len(shape) + 1, "[*S, A]")
    _checks.check_shape(fn, "q_values", q_values, (*shape, jnp.shape(q_values)[-1]), "`targets`")
    _checks.check_shape(fn, "actions", actions, shape, "`targets`")
    actions = _checks.as_array(fn, "actions", actions)
    if not jnp.issubdtype(actions.dtype, jnp.integer):
        raise TypeError(f"{fn}: `actions` must be an int array, got dtype {actions.dtype}.")
    mask = _checks.check_mask(fn, mask, shape, "`targets`")
    index, in_range = _checks.action_indices(fn, actions, jnp.shape(q_values)[-1], mask)
    chosen = jnp.take_along_axis(q_values, index[..., None], axis=-1)[..., 0]
    chosen = jnp.where(in_range, chosen, jnp.nan)
    if mask is not None:  # select before any arithmetic: masked-out NaNs stay out of gradients
        chosen, targets = jnp.where(mask, chosen, 0.0), jnp.where(mask, targets, 0.0)
    return value_loss(
        chosen, targets, loss=loss, huber_delta=huber_delta, mask=mask, reduction=reduction
    )


def epsilon_greedy(q_values: jax.Array, epsilon) -> Categorical:
    r"""The ε-greedy policy of action values, as a categorical distribution.

    .. math::
        \pi(a \mid s) = \frac{\epsilon}{A} + (1 - \epsilon)\,
            [a = \arg\max_{a'} Q(s, a')]

    (Sutton & Barto, 2018, "Reinforcement learning: an introduction", §2.2.) Ties go to the
    first maximal action. At ε = 0 the other actions get log-probability −inf, which
    `pgjax.Categorical` treats as impossible. `sample` explores, `mode` is greedy.

    Args:
      q_values: `[*S, A]` float, Q(s, ·).
      epsilon: scalar or `[*S]` float in [0, 1] (may be traced, e.g. from `linear_schedule`).

    Returns:
      a `pgjax.Categorical` with logits `[*S, A]`.
    """
    fn = "epsilon_greedy"
    _checks.check_rank(fn, "q_values", q_values, 1, "[*S, A]")
    dtype = _checks.compute_dtype(q_values)
    q_values = jax.lax.stop_gradient(_checks.as_float(fn, "q_values", q_values, dtype))
    shape, num_actions = q_values.shape[:-1], q_values.shape[-1]
    epsilon = _checks.coefficient(fn, "epsilon", epsilon, shape, dtype, 0.0, 1.0)[..., None]
    greedy = jax.nn.one_hot(jnp.argmax(q_values, axis=-1), num_actions, dtype=dtype)
    probs = epsilon / num_actions + (1.0 - epsilon) * greedy
    return Categorical(jnp.where(probs > 0, jnp.log(jnp.where(probs > 0, probs, 1.0)), -jnp.inf))


def linear_schedule(count, start, end, duration) -> jax.Array:
    r"""A value annealed linearly from `start` to `end` over `duration` counts, then held.

    .. math:: v(c) = \text{start} + (\text{end} - \text{start}) \min(c / \text{duration}, 1)

    DQN's exploration schedule, ε from 1 to a floor over the first part of training (Mnih et
    al., 2015, https://doi.org/10.1038/nature14236, Methods). `count` may be traced; `duration`
    ≤ 0 gives `end` from the start.

    Every argument known at trace time must be finite: NaN or ±inf raises ValueError naming it.
    Traced values (a vmapped hyperparameter, an argument of a jitted function) are not checked;
    NaN in any of them gives NaN, never silently `start` or `end`.

    Args:
      count: scalar int or float, e.g. environment steps taken.
      start: scalar float, v(0).
      end: scalar float, v(c) for c ≥ duration.
      duration: scalar, counts to anneal over.

    Returns:
      scalar float.
    """
    fn = "linear_schedule"
    arguments = {"count": count, "start": start, "end": end, "duration": duration}
    for name, value in arguments.items():
        if jnp.ndim(value) != 0:
            raise ValueError(f"{fn}: `{name}` must be a scalar, got shape {jnp.shape(value)}.")
    dtype = _checks.compute_dtype(start, end)
    for name, value in arguments.items():
        arguments[name] = _checks.as_float(fn, name, value, dtype)
        _checks.check_finite(fn, name, arguments[name])
    count, start, end, duration = arguments.values()
    # Tested as `<= 0`: with `> 0` a NaN duration would select the held value `end`.
    ramp = jnp.clip(count / jnp.maximum(duration, 1e-12), 0, 1)
    progress = jnp.where(duration <= 0, 1.0, ramp)
    return start + (end - start) * progress
