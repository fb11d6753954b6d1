"""`pgjax.envs.selection`: CellSelect's mask is exactly the agent's 4-neighbours, a valid action
moves there and an invalid one is a no-op, the episode ends at the corner (terminated, with the
documented reward) or after 32 steps (truncated), the shortest path returns the documented 0.8;
through the gymnax adapter the mask is exposed for the observation returned, and the penalty
variant hides it and charges invalid actions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.envs import VecEnv, action_mask, env_spec, make_env
from pgjax.envs.selection import INVALID_PENALTY, CellSelect, CellSelectState

SIZE, CELLS, LIMIT = 8, 64, 32
GOAL = CELLS - 1


def neighbours(cell: int) -> set[int]:
    """The reference: the cells one row or one column away, inside the grid."""
    row, column = divmod(cell, SIZE)
    moves = ((row - 1, column), (row + 1, column), (row, column - 1), (row, column + 1))
    return {r * SIZE + c for r, c in moves if 0 <= r < SIZE and 0 <= c < SIZE}


def state(agent: int, time: int = 0) -> CellSelectState:
    return CellSelectState(jnp.int32(agent), jnp.int32(time))


def test_the_mask_is_the_set_of_cells_next_to_the_agent():
    env = CellSelect()
    masks = np.asarray(jax.vmap(lambda a: env.action_mask(state(a)))(jnp.arange(CELLS)))
    assert masks.shape == (CELLS, CELLS) and masks.dtype == bool
    for cell in range(CELLS):
        assert set(np.flatnonzero(masks[cell])) == neighbours(cell), cell
    # Most actions are invalid everywhere: 2 (corners) to 4 valid of 64.
    assert masks.sum(1).min() == 2 and masks.sum(1).max() == 4


@pytest.mark.parametrize("agent", [0, 9, 27, 56])
def test_a_valid_action_moves_the_agent_and_an_invalid_one_is_a_no_op(agent):
    env = CellSelect()
    actions = jnp.arange(-2, CELLS + 2)  # every cell, and indices outside [0, 64)
    step = jax.vmap(lambda a: env.step(jax.random.key(0), state(agent, 3), a))
    obs, after, reward, terminated, truncated, info = step(actions)
    for action, moved_to, r, term, trunc in zip(
        np.asarray(actions),
        np.asarray(after.agent),
        np.asarray(reward),
        terminated,
        truncated,
        strict=True,
    ):
        assert moved_to == (action if action in neighbours(agent) else agent), action
        assert r == 0.0 and not term and not trunc
    np.testing.assert_array_equal(after.time, 4)
    np.testing.assert_array_equal(obs, jax.nn.one_hot(after.agent, CELLS))
    np.testing.assert_array_equal(info["final_observation"], obs)


@pytest.mark.parametrize("time", [0, 10, 30])
def test_reaching_the_corner_terminates_with_the_documented_reward_and_resets(time):
    env = CellSelect()
    obs, after, reward, terminated, truncated, info = env.step(
        jax.random.key(1), state(GOAL - 1, time), jnp.int32(GOAL)
    )
    assert bool(terminated) and not bool(truncated)
    np.testing.assert_allclose(reward, 1.0 - 0.9 * (time + 1) / LIMIT, rtol=1e-6)
    np.testing.assert_array_equal(info["final_observation"], np.eye(CELLS)[GOAL])
    assert int(after.time) == 0 and int(after.agent) != GOAL
    np.testing.assert_array_equal(obs, np.eye(CELLS)[int(after.agent)])


def test_the_time_limit_truncates_after_32_steps_without_reward():
    env = CellSelect()

    def step(carry, key):
        s, _ = carry
        _, s, reward, terminated, truncated, _ = env.step(key, s, jnp.int32(-1))  # a no-op
        return (s, 0), (reward, terminated, truncated)

    _, (reward, terminated, truncated) = jax.lax.scan(
        step, (state(0), 0), jax.random.split(jax.random.key(2), LIMIT + 5)
    )
    truncated = np.asarray(truncated)
    assert np.flatnonzero(truncated).tolist() == [LIMIT - 1]
    assert not np.asarray(terminated).any() and not np.asarray(reward).any()


def test_the_shortest_path_returns_the_documented_optimum_of_0_8():
    env = CellSelect()
    cells = jnp.arange(CELLS)
    closeness = cells // SIZE + cells % SIZE  # larger = nearer the corner

    def episode_return(start):
        def step(carry, key):
            s, total, done = carry
            action = jnp.argmax(jnp.where(env.action_mask(s), closeness, -1))
            _, s, reward, terminated, truncated, _ = env.step(key, s, action)
            total = total + jnp.where(done, 0.0, reward)
            return (s, total, done | terminated | truncated), None

        keys = jax.random.split(jax.random.key(3), LIMIT)
        return jax.lax.scan(step, (state(start), 0.0, False), keys)[0][1]

    returns = jax.vmap(episode_return)(jnp.arange(CELLS - 1))
    distance = np.array([(SIZE - 1 - c // SIZE) + (SIZE - 1 - c % SIZE) for c in range(GOAL)])
    np.testing.assert_allclose(returns, 1.0 - 0.9 * distance / LIMIT, rtol=1e-6)
    np.testing.assert_allclose(np.mean(returns), 0.8, rtol=1e-6)


def test_resets_start_anywhere_but_the_goal():
    starts = jax.vmap(lambda k: CellSelect().reset(k)[1].agent)(
        jax.random.split(jax.random.key(4), 4000)
    )
    counts = np.bincount(np.asarray(starts), minlength=CELLS)
    assert counts[GOAL] == 0 and (counts[:GOAL] > 0).all()


def test_the_adapter_exposes_the_mask_of_the_observation_it_returns():
    spec = env_spec("CellSelect-pgjax")
    assert spec.action_mask and spec.discrete and spec.action_dim == CELLS
    assert spec.observation_shape == (CELLS,) and spec.max_episode_steps == LIMIT
    env = make_env("CellSelect-pgjax", 8)
    obs, env_state = env.reset(jax.random.key(5))

    def mask_of(obs):  # the reference, from the agent's one-hot cell
        rows = [np.isin(np.arange(CELLS), list(neighbours(int(c)))) for c in np.argmax(obs, -1)]
        return np.stack(rows)

    np.testing.assert_array_equal(action_mask(env_state), mask_of(obs))
    done = 0
    for key in jax.random.split(jax.random.key(6), 80):
        action_key, env_key = jax.random.split(key)
        valid = np.asarray(action_mask(env_state))
        # Mostly valid moves (so episodes end at the goal too), some invalid ones.
        action = jax.random.categorical(action_key, jnp.where(valid, 2.0, 0.0))
        obs, env_state, _, terminated, truncated, info = env.step(env_key, env_state, action)
        done += int((terminated | truncated).sum())
        np.testing.assert_array_equal(info["action_mask"], mask_of(obs))
        np.testing.assert_array_equal(action_mask(env_state), info["action_mask"])
    assert done > 0  # masks were checked after resets too


def test_the_penalty_variant_hides_the_mask_and_charges_invalid_actions():
    spec = env_spec("CellSelect-penalty-pgjax")
    assert not spec.action_mask
    assert spec._replace(env_id="CellSelect-pgjax", action_mask=True) == env_spec(
        "CellSelect-pgjax"
    )
    masked, penalised = VecEnv("CellSelect-pgjax", 16), VecEnv("CellSelect-penalty-pgjax", 16)
    key = jax.random.key(7)
    obs, masked_state = masked.reset(key)
    obs_p, penalised_state = penalised.reset(key)
    np.testing.assert_array_equal(obs, obs_p)
    assert action_mask(penalised_state) is None
    for step_key in jax.random.split(jax.random.key(8), 40):
        action_key, env_key = jax.random.split(step_key)
        valid = action_mask(masked_state)
        action = jax.random.categorical(action_key, jnp.where(valid, 3.0, 0.0))
        invalid = ~np.take_along_axis(np.asarray(valid), np.asarray(action)[:, None], -1)[:, 0]
        obs, masked_state, reward, *_ = masked.step(env_key, masked_state, action)
        obs_p, penalised_state, reward_p, *_, info = penalised.step(
            env_key, penalised_state, action
        )
        assert "action_mask" not in info
        np.testing.assert_array_equal(obs, obs_p)
        np.testing.assert_allclose(reward_p, np.asarray(reward) - INVALID_PENALTY * invalid)
