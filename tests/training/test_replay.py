"""`pgjax.training.replay`: a ring buffer that keeps the newest transitions in order, samples
uniformly from what it holds, vmaps over seeds, and refuses what does not fit."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.training import replay
from pgjax.training.types import ReplayTransition

OBS = 3


def transitions(start: int, count: int) -> ReplayTransition:
    """`count` transitions numbered from `start`: every field encodes the number."""
    n = np.arange(start, start + count)
    return ReplayTransition(
        obs=jnp.asarray(np.repeat(n[:, None], OBS, 1), jnp.float32),
        action=jnp.asarray(n % 5, jnp.int32),
        reward=jnp.asarray(-n, jnp.float32),
        terminated=jnp.asarray(n % 3 == 0),
        truncated=jnp.asarray(n % 7 == 0),
        next_obs=jnp.asarray(np.repeat(n[:, None] + 0.5, OBS, 1), jnp.float32),
    )


def example() -> ReplayTransition:
    return jax.tree.map(lambda x: x[0], transitions(0, 1))


def stored_numbers(buffer) -> list[int]:
    """The transition numbers in the buffer's filled slots, oldest first."""
    size, position = int(buffer.size), int(buffer.position)
    capacity = replay.capacity(buffer)
    order = range(size) if size < capacity else [(position + i) % capacity for i in range(size)]
    obs = np.asarray(buffer.storage.obs)
    return [int(obs[i, 0]) for i in order]


def test_the_buffer_keeps_the_newest_capacity_transitions_in_order_like_a_deque():
    capacity = 10
    buffer = replay.init(example(), capacity)
    expected = collections.deque(maxlen=capacity)
    add = jax.jit(replay.add)
    start = 0
    for count in (3, 4, 1, 6, 10, 2, 7):  # wraps around several times, once by a full buffer
        buffer = add(buffer, transitions(start, count))
        expected.extend(range(start, start + count))
        start += count
        assert int(buffer.size) == len(expected)
        assert stored_numbers(buffer) == list(expected)
    # Every field of a slot belongs to the same transition.
    numbers = np.asarray(buffer.storage.obs)[:, 0]
    np.testing.assert_array_equal(buffer.storage.action, numbers % 5)
    np.testing.assert_array_equal(buffer.storage.reward, -numbers)
    np.testing.assert_array_equal(buffer.storage.terminated, numbers % 3 == 0)
    np.testing.assert_array_equal(buffer.storage.truncated, numbers % 7 == 0)
    np.testing.assert_array_equal(buffer.storage.next_obs[:, 0], numbers + 0.5)


def test_samples_are_uniform_over_the_filled_slots_only():
    buffer = replay.add(replay.init(example(), 16), transitions(100, 7))
    batch = jax.jit(replay.sample, static_argnums=2)(buffer, jax.random.key(0), 14_000)
    numbers = np.asarray(batch.obs[:, 0]).astype(int)
    counts = np.bincount(numbers - 100, minlength=7)
    assert counts.sum() == 14_000 and counts.size == 7  # never an empty (zero) slot
    # 2000 expected per slot, standard deviation ≈ 41: 5 standard deviations either way.
    assert np.all(np.abs(counts - 2000) < 210), counts
    np.testing.assert_array_equal(batch.next_obs[:, 0], numbers + 0.5)


def test_buffers_vmap_over_seeds_like_a_loop():
    def one_seed(new, key):  # fill past capacity (wrapping), then sample
        buffer = replay.init(example(), 8)
        buffer = replay.add(replay.add(buffer, new), new)
        return buffer, replay.sample(buffer, key, 4)

    seeds = 3
    per_seed = [transitions(100 * s, 5) for s in range(seeds)]
    keys = jax.random.split(jax.random.key(1), seeds)
    batched = jax.jit(jax.vmap(one_seed))(jax.tree.map(lambda *xs: jnp.stack(xs), *per_seed), keys)
    single = jax.jit(one_seed)
    for s in range(seeds):
        for a, b in zip(
            jax.tree.leaves(batched), jax.tree.leaves(single(per_seed[s], keys[s])), strict=True
        ):
            np.testing.assert_array_equal(a[s], b)


def test_what_does_not_fit_is_refused_naming_the_problem():
    buffer = replay.init(example(), 4)
    with pytest.raises(ValueError, match=r"5 transitions do not fit in a buffer of capacity 4"):
        replay.add(buffer, transitions(0, 5))
    wrong = transitions(0, 2)._replace(obs=jnp.zeros((2, OBS + 1)))
    with pytest.raises(ValueError, match=r"`obs` has shape \(2, 4\) and dtype float32, expected"):
        replay.add(buffer, wrong)
    with pytest.raises(ValueError, match=r"`action` has shape \(2,\) and dtype float32"):
        replay.add(buffer, transitions(0, 2)._replace(action=jnp.zeros(2)))
    with pytest.raises(ValueError, match=r"`capacity` must be an int >= 1, got 0"):
        replay.init(example(), 0)
