"""A replay buffer in device memory: a ring of transitions, pure functions, uniform sampling.

    buffer = replay.init(example, capacity)         # example: one ReplayTransition, no batch axis
    buffer = replay.add(buffer, transitions)        # transitions: [N, ...], e.g. one env step
    batch = replay.sample(buffer, key, batch_size)  # [batch_size, ...], uniform with replacement

The buffer is a `ReplayBuffer` pytree (`pgjax.training.types`), so it jits, vmaps over seeds and
is part of an algorithm's state: the driver checkpoints and resumes it with the rest. Each
stored transition carries its own `next_obs`, the true successor (`info["final_observation"]`
on the step an episode ended), and `terminated` apart from `truncated`: a time limit is
bootstrapped from the state the episode reached, never from the reset state and never as a
terminal state. Buffers that store observations once and pair consecutive slots cannot do that
at an episode boundary.

Why not a library: flashbax (0.1.3, the maintained JAX replay library) has a flat buffer that
pairs consecutive steps (s_t, s_{t+1}), which is the reset state after a time limit, and an
item buffer that would store our transitions but routes them through its trajectory buffer
(sequence and period bookkeeping) and makes chex and tensorstore (for its on-disk Vault)
dependencies of pgjax. The ring buffer below is three short functions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.training.types import ReplayBuffer, ReplayTransition


def capacity(buffer: ReplayBuffer) -> int:
    """The number of slots (static)."""
    return jax.tree.leaves(buffer.storage)[0].shape[0]


def init(example: ReplayTransition, capacity: int) -> ReplayBuffer:
    """An empty buffer of `capacity` slots for transitions shaped like `example` (one
    transition, no leading axis; arrays or `jax.ShapeDtypeStruct` specs)."""
    if not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"replay.init: `capacity` must be an int >= 1, got {capacity!r}.")
    storage = jax.tree.map(lambda x: jnp.zeros((capacity, *x.shape), x.dtype), example)
    return ReplayBuffer(storage, jnp.int32(0), jnp.int32(0))


def add(buffer: ReplayBuffer, transitions: ReplayTransition) -> ReplayBuffer:
    """Writes `transitions` (every leaf `[N, ...]`, N ≤ capacity, in the order they happened)
    after the newest ones, overwriting the oldest once the buffer is full.

    Raises:
      ValueError: (while tracing) a field whose shape or dtype differs from the buffer's, or
        N > capacity.
    """
    slots = capacity(buffer)
    count = jax.tree.leaves(transitions)[0].shape[0]
    if count > slots:
        raise ValueError(
            f"replay.add: {count} transitions do not fit in a buffer of capacity {slots}; "
            "make the buffer at least as large as one update's transitions."
        )
    for name, stored, new in zip(
        ReplayTransition._fields, buffer.storage, transitions, strict=True
    ):
        if stored.shape[1:] != new.shape[1:] or new.shape[0] != count or stored.dtype != new.dtype:
            raise ValueError(
                f"replay.add: `{name}` has shape {new.shape} and dtype {new.dtype}, expected "
                f"[{count}, *{stored.shape[1:]}] {stored.dtype} (the buffer's)."
            )
    index = (buffer.position + jnp.arange(count)) % slots
    storage = jax.tree.map(
        lambda s, x: s.at[index].set(x, unique_indices=True), buffer.storage, transitions
    )
    position = (buffer.position + count) % slots
    return ReplayBuffer(storage, position, jnp.minimum(buffer.size + count, slots))


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> ReplayTransition:
    """`batch_size` transitions drawn uniformly, with replacement, from the filled slots
    (`[batch_size, ...]` leaves). An empty buffer returns its zero-filled first slot; callers
    start learning once it holds enough transitions."""
    index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda s: s[index], buffer.storage)
