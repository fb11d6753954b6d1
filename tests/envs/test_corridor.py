"""`pgjax.envs.corridor`: the short corridor moves as Sutton & Barto's Example 13.1 says (S1's
actions switched), shows one observation everywhere, truncates at its time limit, and its
episodes' mean return under π(right) = p is the closed form J(p), whose maximum is p* = 2 − √2."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.envs import EpisodeStatistics, VecEnv, env_spec, make_env
from pgjax.envs.corridor import (
    ENV_ID,
    LEFT,
    OPTIMAL_RETURN,
    OPTIMAL_RIGHT_PROBABILITY,
    RIGHT,
    TIME_LIMIT,
    ShortCorridor,
    epsilon_greedy_returns,
    expected_return,
)

# The book's corridor, written out by hand: (state, action) -> next state (3 = the goal G).
BOOK_MOVES = {
    (0, LEFT): 0,  # the left wall
    (0, RIGHT): 1,
    (1, LEFT): 2,  # switched
    (1, RIGHT): 0,  # switched
    (2, LEFT): 1,
    (2, RIGHT): 3,
}


def bellman_value(p: float) -> float:
    """v(S0) solving the three Bellman equations v = −1 + P v as a linear system (no closed
    form): an independent check of `expected_return`."""
    transitions = np.zeros((3, 3))
    for (state, action), successor in BOOK_MOVES.items():
        if successor < 3:
            transitions[state, successor] += p if action == RIGHT else 1 - p
    return float(np.linalg.solve(np.eye(3) - transitions, -np.ones(3))[0])


@pytest.mark.parametrize(("state", "action"), sorted(BOOK_MOVES))
def test_each_move_is_the_books_and_the_switched_state_reverses_the_actions(state, action):
    env = ShortCorridor()
    _, start = env.reset(jax.random.key(0))
    here = start._replace(position=jnp.int32(state), time=jnp.int32(5))
    obs, after, reward, terminated, truncated, info = env.step(
        jax.random.key(1), here, jnp.int32(action)
    )
    successor = BOOK_MOVES[(state, action)]
    assert float(reward) == -1.0
    assert bool(terminated) == (successor == 3)
    assert not bool(truncated)
    # The goal ends the episode: the next one starts in S0 at time 0.
    assert int(after.position) == (0 if successor == 3 else successor)
    assert int(after.time) == (0 if successor == 3 else 6)
    np.testing.assert_array_equal(obs, info["final_observation"])


def test_every_state_shows_the_same_observation():
    env = ShortCorridor()
    obs, state = env.reset(jax.random.key(0))
    seen = [np.asarray(obs)]
    for action in (RIGHT, LEFT, LEFT):  # S0 -> S1 -> S2 -> S1
        obs, state, *_ = env.step(jax.random.key(0), state, jnp.int32(action))
        seen.append(np.asarray(obs))
    assert int(state.position) == 1
    np.testing.assert_array_equal(np.stack(seen), np.ones((4, 1), np.float32))


def test_the_shortest_episode_is_right_left_right_with_return_minus_3():
    env = EpisodeStatistics(VecEnv(ENV_ID, 1))
    _, state = env.reset(jax.random.key(0))
    for step, action in enumerate((RIGHT, LEFT, RIGHT)):
        _, state, _, terminated, _, info = env.step(
            jax.random.key(step), state, jnp.array([action])
        )
    assert bool(terminated[0]) and bool(info["episode_done"][0])
    assert float(info["episode_return"][0]) == -3.0


def test_always_right_never_arrives_and_is_truncated_at_the_time_limit():
    # A deterministic policy bounces between S0 and S1 forever: the time limit ends it.
    env = EpisodeStatistics(VecEnv(ENV_ID, 2))
    _, state = env.reset(jax.random.key(0))

    def step(state, key):
        _, state, _, terminated, truncated, info = env.step(key, state, jnp.full(2, RIGHT))
        return state, (terminated, truncated, info["episode_return"])

    keys = jax.random.split(jax.random.key(1), 2 * TIME_LIMIT + 3)
    _, (terminated, truncated, returns) = jax.jit(lambda s: jax.lax.scan(step, s, keys))(state)
    truncated = np.asarray(truncated)
    assert not np.asarray(terminated).any()
    # Steps TIME_LIMIT and 2 · TIME_LIMIT (1-based) end the first two episodes, nothing else.
    ends = np.flatnonzero(truncated[:, 0]) + 1
    np.testing.assert_array_equal(ends, [TIME_LIMIT, 2 * TIME_LIMIT])
    assert truncated[:, 1].sum() == 2
    assert float(returns[TIME_LIMIT - 1, 0]) == -float(TIME_LIMIT)


def test_the_id_is_a_gymnax_id_with_two_actions_one_observation_and_the_time_limit():
    spec = env_spec(ENV_ID)
    assert spec.discrete and spec.action_dim == 2
    assert spec.observation_shape == (1,)
    assert spec.max_episode_steps == TIME_LIMIT
    obs, _ = make_env(ENV_ID, 3).reset(jax.random.key(0))
    assert obs.shape == (3, 1)


@pytest.mark.parametrize("p", [0.1, 0.3, OPTIMAL_RIGHT_PROBABILITY, 0.8, 0.95])
def test_the_closed_form_solves_the_bellman_equations(p):
    np.testing.assert_allclose(expected_return(p), bellman_value(p), rtol=1e-12)


def test_the_optimum_is_two_minus_root_two_and_epsilon_greedy_gives_the_books_values():
    grid = np.linspace(1e-3, 1 - 1e-3, 200_001)
    values = np.array([bellman_value(p) for p in grid[::1000]])  # coarse, independent
    assert abs(grid[::1000][values.argmax()] - OPTIMAL_RIGHT_PROBABILITY) < 0.005
    fine = expected_return(grid)
    assert abs(grid[fine.argmax()] - OPTIMAL_RIGHT_PROBABILITY) < 1e-5
    np.testing.assert_allclose(fine.max(), OPTIMAL_RETURN, rtol=1e-9)
    assert round(OPTIMAL_RETURN, 2) == -11.66
    # Book, Example 13.1: "ε-greedy right" ≈ −44, "ε-greedy left" ≈ −82 at ε = 0.1.
    right, left = epsilon_greedy_returns(0.1)
    assert (round(float(right)), round(float(left))) == (-44, -82)


@pytest.mark.parametrize("p", [0.3, OPTIMAL_RIGHT_PROBABILITY, 0.9])
def test_monte_carlo_returns_of_the_env_match_the_closed_form(p):
    # 4096 first episodes per p; the tolerance is 4 standard errors of their mean.
    num_envs, steps = 4096, 600
    env = EpisodeStatistics(VecEnv(ENV_ID, num_envs))

    def rollout(key):
        reset_key, key = jax.random.split(key)
        _, state = env.reset(reset_key)

        def step(carry, key):
            state, returns, finished = carry
            action_key, env_key = jax.random.split(key)
            action = jnp.where(jax.random.uniform(action_key, (num_envs,)) < p, RIGHT, LEFT)
            _, state, _, _, _, info = env.step(env_key, state, action)
            first = info["episode_done"] & ~finished
            returns = jnp.where(first, info["episode_return"], returns)
            return (state, returns, finished | info["episode_done"]), None

        carry = (state, jnp.zeros(num_envs), jnp.zeros(num_envs, bool))
        (_, returns, finished), _ = jax.lax.scan(step, carry, jax.random.split(key, steps))
        return returns, finished

    returns, finished = jax.jit(rollout)(jax.random.key(7))
    returns = np.asarray(returns, np.float64)
    assert np.asarray(finished).all()
    error = 4 * returns.std(ddof=1) / np.sqrt(num_envs)
    assert abs(returns.mean() - expected_return(p)) < error, (returns.mean(), expected_return(p))
