"""The sequence machinery of recurrent policies: a cell scanned over time with its state reset
where episodes begin, and the rollout view the learner re-runs it from.

    carry, outputs = scan_with_resets(cell, carry, inputs, resets, initial)

A reset *selects* the initial state (`jnp.where`), it never multiplies the old one by zero, so
NaN or ±inf left in a finished episode's state (a diverged step, a poisoned observation) can
reach neither the next episode's outputs nor their gradients: 0 · NaN would be NaN.

A rollout stores the state every step acted from (`Transition.carry`, post-reset), so the
learner re-runs the network over each environment's whole sequence from `carry[0]`, resetting
after every step where an episode ended (terminated or truncated): `resets_after(episode_done)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def reset_carry(carry, reset: jax.Array, initial):
    """`initial` where `reset` `[*B]` is True, `carry` elsewhere, leaf by leaf (leaves
    `[*B, ...]`, `initial` of the same shapes). A selection: non-finite values in the replaced
    state do not reach the result, nor its gradient."""

    def select(start, old):
        mask = reset.reshape(reset.shape + (1,) * (old.ndim - reset.ndim))
        return jnp.where(mask, start, old)

    return jax.tree.map(select, initial, carry)


def scan_with_resets(
    cell: Callable[[Any, jax.Array], tuple[Any, Any]],
    carry,
    inputs,
    resets: jax.Array,
    initial,
):
    r"""Runs `cell` over time, restarting its state from `initial` where `resets` says.

    .. math::
        h_t' = \begin{cases} h_0 & \text{if reset}_t \\ h_{t-1} & \text{otherwise}
        \end{cases}, \qquad (h_t, y_t) = \mathrm{cell}(h_t', x_t)

    Args:
      cell: `(carry, x_t) -> (carry, y_t)`, e.g. a bound flax `GRUCell`.
      carry: the state before step 0, leaves `[*B, ...]`.
      inputs: `x`, leaves `[T, *B, ...]`, time-major.
      resets: `[T, *B]` bool, True where `x_t` starts a new episode (the state is replaced by
        `initial` before the cell sees `x_t`).
      initial: the state an episode starts from, leaves `[*B, ...]` like `carry`.

    Returns:
      `(carry, y)`: the state after the last step and the outputs, leaves `[T, *B, ...]`.

    Raises:
      ValueError: `resets` not bool, or not `[T, *B]` for the inputs' `T`.
    """
    steps = jax.tree.leaves(inputs)[0].shape[0]
    if resets.dtype != jnp.bool_:
        raise ValueError(f"scan_with_resets: resets must be bool, got {resets.dtype}.")
    if resets.ndim < 1 or resets.shape[0] != steps:
        raise ValueError(
            f"scan_with_resets: resets must be [T, *B] with T={steps} (the inputs' time axis), "
            f"got shape {resets.shape}."
        )

    def step(carry, x_and_reset):
        x, reset = x_and_reset
        return cell(reset_carry(carry, reset, initial), x)

    return jax.lax.scan(step, carry, (inputs, resets))


def resets_after(episode_done: jax.Array) -> jax.Array:
    """`[T, N]` bool, True at step t when an episode ended at step t − 1 (step 0: False, since
    a rollout's stored state is already the one step 0 acts from)."""
    return jnp.concatenate([jnp.zeros_like(episode_done[:1]), episode_done[:-1]], axis=0)


def run_sequence(network, params, obs: jax.Array, carry: Any, episode_done: jax.Array):
    """A `RecurrentActorCritic` re-run over rollouts, as the learner sees them.

    Args:
      network: a `pgjax.training.networks.RecurrentActorCritic`.
      params: its parameters.
      obs: `[T, N, *obs_shape]` observations.
      carry: the state each step acted from, leaves `[T, N, ...]`; the re-run starts from
        `carry[0]` and uses the rest only through `episode_done`.
      episode_done: `[T, N]` bool, an episode ended at the step.

    Returns:
      `(distribution [T, N], values [T, N], states [T, N, ...])`, `states[t]` the cell's state
      after step t, before any reset: what the value of step t's successor is computed from.
    """
    start = jax.tree.map(lambda x: x[0], carry)
    initial = jax.tree.map(jnp.zeros_like, start)
    features = network.apply(params, obs, method="embed")

    def cell(state, x):
        state, output = network.apply(params, state, x, method="recur")
        return state, (output, state)

    _, (outputs, states) = scan_with_resets(
        cell, start, features, resets_after(episode_done), initial
    )
    distribution, values = network.apply(params, outputs, method="heads")
    return distribution, values, states


def successor_values(network, params, states: Any, next_obs: jax.Array) -> jax.Array:
    """V of each step's true successor `next_obs` `[T, N, *obs_shape]`, one cell step on from
    the state `states` `[T, N, ...]` reached after the step, before any reset: a truncated
    episode is bootstrapped from the state it had, never from a fresh one."""
    features = network.apply(params, next_obs, method="embed")
    _, output = network.apply(params, states, features, method="recur")
    return network.apply(params, output, method="value")
