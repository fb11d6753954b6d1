"""The types that cross module boundaries in training, each field with its shape.

Shapes: `N` environments of one run, `T` steps of a rollout, `A` actions; under `jax.vmap`
over seeds every leaf gains a leading seed axis.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

Params = Any  # a flax parameter pytree
Metrics = dict[str, jax.Array]  # scalars per update (stacked to `[num_updates]` by a scan)
Hyperparams = dict[str, jax.Array]  # float32 scalars (or `[R]` for R vmapped runs)


class EnvCarry(NamedTuple):
    """What persists between rollouts: the environments and the observations they show."""

    env_state: Any  # the wrapped environments' state (a pytree with leading axis N)
    obs: jax.Array  # [N, *obs_shape]
    policy_carry: Any = None  # a recurrent policy's state for `obs`, leaves [N, ...] (else None)


class Transition(NamedTuple):
    """One rollout, every field time-major `[T, N, ...]`."""

    obs: jax.Array  # s_t
    action: jax.Array  # a_t: [T, N] int (discrete) or [T, N, A] float
    log_prob: jax.Array  # log π_old(a_t | s_t)
    value: jax.Array  # V_old(s_t)
    reward: jax.Array  # r_t (after any reward scaling)
    terminated: jax.Array  # bool
    truncated: jax.Array  # bool
    next_obs: jax.Array  # true successor s'_t: the final observation when the episode ended
    next_value: jax.Array  # V_old(s'_t), what truncated and last steps bootstrap from
    episode_done: jax.Array  # bool, an episode ended at this step
    episode_return: jax.Array  # undiscounted raw return of that episode (0 elsewhere)
    episode_length: jax.Array  # int32, its length (0 elsewhere)
    carry: Any = None  # a recurrent policy's state each step acted from, leaves [T, N, ...]
    action_mask: jax.Array | None = None  # [T, N, A] bool, the valid actions at s_t (else None)


class OnPolicyState(NamedTuple):
    """Everything an on-policy run needs to continue (checkpointed whole)."""

    params: Params  # the ActorCritic's parameters
    opt_state: Any  # the optimiser's state (its step count drives the schedule)
    env: EnvCarry
    key: jax.Array  # PRNG key for the next update
    hyperparams: Hyperparams  # the run's numeric hyperparameters (constants of the run)


class PolicyGradientBatch(NamedTuple):
    """The inputs of `pgjax.training.on_policy.actor_critic_loss`, every field `[T, N, ...]`."""

    obs: jax.Array
    action: jax.Array
    advantages: jax.Array  # Â_t, constants
    targets: jax.Array  # value targets V̂_t, constants
    mask: jax.Array | None  # bool, the steps that count (None: all of them)
    carry: Any = None  # a recurrent policy's stored states (`Transition.carry`), else None
    episode_done: jax.Array | None = None  # bool, where its state resets (recurrent only)
    action_mask: jax.Array | None = None  # [T, N, A] bool, the valid actions (masked envs only)


class ReplayTransition(NamedTuple):
    """Transitions as a replay buffer stores and returns them; every field has the same leading
    axes `[*S]` (`[N]` for one step of N environments, `[B]` for a sampled batch, `[capacity]`
    inside the buffer)."""

    obs: jax.Array  # s [*S, *obs_shape]
    action: jax.Array  # a: [*S] int (discrete) or [*S, A] float
    reward: jax.Array  # r [*S] float
    terminated: jax.Array  # [*S] bool: s' is terminal, worth 0
    truncated: jax.Array  # [*S] bool: a time limit ended the episode at s' (bootstrapped)
    next_obs: jax.Array  # s' [*S, *obs_shape], the true successor (the final observation)


class ReplayBuffer(NamedTuple):
    """A ring buffer of transitions (`pgjax.training.replay`)."""

    storage: ReplayTransition  # every leaf [capacity, ...]
    position: jax.Array  # int32, the slot the next transition goes to
    size: jax.Array  # int32, slots filled so far (at most capacity)


class OffPolicyState(NamedTuple):
    """Everything an off-policy run needs to continue (checkpointed whole, replay included)."""

    params: dict[str, Params]  # the learners, by name (e.g. "actor", "critic", "q")
    target_params: dict[str, Params]  # their slowly updated copies (Polyak or periodic)
    opt_state: dict[str, Any]  # one optimiser state per learner
    env: EnvCarry
    buffer: ReplayBuffer
    key: jax.Array  # PRNG key for the next update
    hyperparams: Hyperparams
    updates: jax.Array  # int32, updates done (drives warm-up and exploration schedules)
