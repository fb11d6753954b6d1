"""`pgjax.envs.point_mass`: the dynamics and reward the docstring states, the joint action of the
discrete twin decoded as `numpy.unravel_index` orders it, truncation at the time limit (never
termination), and the threshold: below it at random, above it going straight to the goal,
for one dimension and for many."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from environments import check_truncation_is_bootstrapped

from pgjax.envs import EpisodeStatistics, VecEnv, env_spec, make_env
from pgjax.envs.point_mass import SOLVED_RETURN, PointMass, decode_action

KEY = jax.random.key(0)


def test_the_ids_name_the_spaces_of_both_twins():
    continuous, discrete = env_spec("PointMass-d4-pgjax"), env_spec("PointMass-d4-k3-pgjax")
    assert continuous.observation_shape == discrete.observation_shape == (8,)
    assert not continuous.discrete and continuous.action_dim == 4
    np.testing.assert_array_equal(continuous.action_low, -np.ones(4))
    np.testing.assert_array_equal(continuous.action_high, np.ones(4))
    assert discrete.discrete and discrete.action_dim == 3**4
    assert env_spec("PointMass-d6-k5-pgjax").action_dim == 5**6
    assert continuous.max_episode_steps == 50


@pytest.mark.parametrize(("dim", "bins"), [(1, 3), (3, 3), (2, 5), (4, 2)])
def test_a_joint_action_decodes_to_its_unravelled_digits_spread_over_minus_one_to_one(dim, bins):
    index = np.arange(bins**dim)
    digits = np.stack(np.unravel_index(index, (bins,) * dim), axis=-1)
    expected = -1.0 + 2.0 * digits / (bins - 1)
    np.testing.assert_allclose(decode_action(jnp.asarray(index), dim, bins), expected, atol=1e-6)
    # Every joint action is a different point: no two indices collide.
    assert len({tuple(row) for row in expected}) == bins**dim


def test_a_step_moves_by_a_tenth_of_the_clipped_action_stays_in_the_arena_and_pays_rms_distance():
    dim = 3
    env = PointMass(dim)
    _, state = env.reset(KEY)
    state = state.replace(position=jnp.array([0.95, -0.5, 0.0]), goal=jnp.array([0.2, -0.4, 0.9]))
    action = jnp.array([3.0, 0.5, -0.25])  # the first entry is clipped to 1, then to the arena
    obs, state, reward, terminated, truncated, _ = env.step(KEY, state, action)
    position = np.clip(np.array([0.95, -0.5, 0.0]) + 0.1 * np.clip([3.0, 0.5, -0.25], -1, 1), -1, 1)
    goal = np.array([0.2, -0.4, 0.9])
    np.testing.assert_allclose(state.position, position, rtol=1e-6)
    np.testing.assert_allclose(position, [1.0, -0.45, -0.025], rtol=1e-6)
    np.testing.assert_allclose(reward, -np.linalg.norm(goal - position) / np.sqrt(dim), rtol=1e-6)
    np.testing.assert_allclose(obs, np.concatenate([goal - position, position]), rtol=1e-6)
    assert not terminated and not truncated


def test_the_discrete_twin_steps_as_the_continuous_task_on_the_decoded_action():
    dim, bins = 3, 3
    continuous, discrete = PointMass(dim), PointMass(dim, bins)
    _, state = continuous.reset(KEY)
    for index in (0, 13, 26, 5):
        expected = continuous.step(KEY, state, decode_action(jnp.asarray(index), dim, bins))
        got = discrete.step(KEY, state, jnp.asarray(index))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_reset_puts_the_mass_at_the_origin_and_draws_the_goal_uniformly_in_the_arena():
    env = PointMass(2)
    obs, state = jax.vmap(env.reset)(jax.random.split(KEY, 4000))
    np.testing.assert_array_equal(state.position, 0.0)
    goal = np.asarray(state.goal)
    assert goal.min() >= -1.0 and goal.max() <= 1.0
    np.testing.assert_allclose(goal.mean(0), 0.0, atol=0.05)
    np.testing.assert_allclose(goal.var(0), 1 / 3, atol=0.03)  # uniform on [-1, 1]
    np.testing.assert_array_equal(obs[:, :2], goal)


@pytest.mark.parametrize("env_id", ["PointMass-d2-pgjax", "PointMass-d2-k3-pgjax"])
def test_episodes_are_truncated_after_fifty_steps_never_terminated_and_then_reset(env_id):
    env = VecEnv(env_id, 2)
    spec = env.spec
    obs, state = env.reset(KEY)

    def step(state, key):
        action = jnp.full((2,), 8) if spec.discrete else jnp.ones((2, 2))
        obs, state, _, terminated, truncated, info = env.step(key, state, action)
        return state, (obs, terminated, truncated, info["final_observation"])

    _, (obs, terminated, truncated, final) = jax.lax.scan(step, state, jax.random.split(KEY, 120))
    truncated = np.asarray(truncated)
    assert not np.asarray(terminated).any()
    np.testing.assert_array_equal(np.nonzero(truncated[:, 0])[0], [49, 99])
    assert truncated.all(axis=1).sum() == 2  # both copies, at the same steps
    # After a truncation the observation is a new episode's (the mass back at the origin), the
    # final observation the old one's (the mass pushed to the corner (1, 1)).
    np.testing.assert_array_equal(np.asarray(obs)[truncated][:, 2:], 0.0)
    np.testing.assert_allclose(np.asarray(final)[truncated][:, 2:], 1.0)


def test_a_truncated_step_is_bootstrapped_from_its_final_observation():
    env = EpisodeStatistics(VecEnv("PointMass-d2-k3-pgjax", 2))
    assert check_truncation_is_bootstrapped(env, KEY, num_steps=60, action=0) == 2


def mean_return(env_id: str, policy, episodes: int = 64) -> float:
    """The mean return of `policy(obs, key) -> action` over `episodes` whole episodes."""
    env = make_env(env_id, episodes)

    @jax.jit
    def run(key):
        obs, state = env.reset(key)

        def step(carry, key):
            obs, state = carry
            policy_key, env_key = jax.random.split(key)
            obs, state, _, _, _, info = env.step(env_key, state, policy(obs, policy_key))
            return (obs, state), info["episode_return"]

        keys = jax.random.split(key, env.spec.max_episode_steps)
        return jax.lax.scan(step, (obs, state), keys)[1].sum(0)

    return float(run(KEY).mean())


def go_to_goal(dim: int, bins: int | None):
    """Moves straight to the goal: the action that cancels the offset g − x in one step where it
    can (continuous), or the bin nearest to it in every dimension (discrete)."""

    def policy(obs, key):
        wanted = jnp.clip(obs[:, :dim] / 0.1, -1.0, 1.0)
        if bins is None:
            return wanted
        digits = jnp.round((wanted + 1.0) * (bins - 1) / 2).astype(jnp.int32)
        return (digits * bins ** jnp.arange(dim - 1, -1, -1)).sum(-1)

    return policy


def uniformly_random(dim: int, bins: int | None):
    def policy(obs, key):
        if bins is None:
            return jax.random.uniform(key, (obs.shape[0], dim), minval=-1.0, maxval=1.0)
        return jax.random.randint(key, (obs.shape[0],), 0, bins**dim)

    return policy


@pytest.mark.parametrize("dim", [1, 4, 12])
@pytest.mark.parametrize("bins", [None, 3])
def test_going_to_the_goal_solves_the_task_and_acting_at_random_is_far_below_it(dim, bins):
    env_id = f"PointMass-d{dim}" + (f"-k{bins}" if bins else "") + "-pgjax"
    scripted = mean_return(env_id, go_to_goal(dim, bins))
    random = mean_return(env_id, uniformly_random(dim, bins))
    assert scripted > SOLVED_RETURN + 2.0, scripted
    assert random < 3 * SOLVED_RETURN, random
