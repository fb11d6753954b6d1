"""Invalid-action masks through the on-policy machinery, on CellSelect-pgjax (60 of its 64
actions invalid in every state): a rollout never takes a masked action and stores the masks it
acted with, the update rebuilds the very distribution the rollout sampled from, every masked
algorithm's loss and gradient stay finite, an all-true mask changes nothing, `act` and the
evaluation act on valid actions only, and bad masks fail naming `action_mask`."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.algorithms import ppo
from pgjax.algorithms.configs import PPOConfig
from pgjax.envs import make_env
from pgjax.runs import registry
from pgjax.training import on_policy
from pgjax.training.algorithm import scan_updates
from pgjax.training.evaluation import episode_returns
from pgjax.training.rollout import collect_rollout, trajectory_gae

ENV_ID, CELLS, SIZE, LIMIT = "CellSelect-pgjax", 64, 8, 32


def neighbour_masks(obs) -> np.ndarray:
    """The reference masks `[..., 64]` of one-hot observations: the agent's 4-neighbours."""
    agent = np.argmax(np.asarray(obs), -1)[..., None]
    cells = np.arange(CELLS)
    rows, columns = divmod(agent, SIZE)
    return np.abs(cells // SIZE - rows) + np.abs(cells % SIZE - columns) == 1


def config(policy: str = "mlp", **overrides) -> PPOConfig:
    return PPOConfig(
        env_id=ENV_ID, num_envs=8, num_steps=32, total_steps=8 * 32 * 2, policy=policy, **overrides
    )


def rollout(cfg: PPOConfig, key=0):
    state = on_policy.init(cfg, jax.random.key(key))
    run = on_policy.setup(cfg, state.hyperparams)

    @jax.jit
    def collect(state):
        return collect_rollout(run.env, run.network, state.params, state.env, state.key, 32)[1]

    return state, run, collect(state)


@pytest.mark.parametrize("policy", ["mlp", "gru"])
def test_a_rollout_never_takes_a_masked_action_and_stores_the_masks_it_acted_with(policy):
    _, _, trajectory = rollout(config(policy))
    mask = np.asarray(trajectory.action_mask)
    assert mask.shape == (32, 8, CELLS) and mask.dtype == bool
    np.testing.assert_array_equal(mask, neighbour_masks(trajectory.obs))
    taken = np.take_along_axis(mask, np.asarray(trajectory.action)[..., None], -1)[..., 0]
    assert taken.all()  # an untrained policy without the mask: about 94% invalid
    assert np.isfinite(np.asarray(trajectory.log_prob)).all()
    # Over ≤ 4 valid actions, never the ≈ log(1/64) of all 64.
    assert np.asarray(trajectory.log_prob).min() >= np.log(1 / 4) - 0.1


def test_an_unmasked_environment_stores_no_mask():
    cfg = PPOConfig(env_id="CartPole-v1", num_envs=2, num_steps=4, total_steps=8)
    state = on_policy.init(cfg, jax.random.key(0))
    run = on_policy.setup(cfg, state.hyperparams)
    _, trajectory = collect_rollout(run.env, run.network, state.params, state.env, state.key, 4)
    assert trajectory.action_mask is None


@pytest.mark.parametrize("policy", ["mlp", "gru"])
def test_the_update_rebuilds_the_distribution_the_rollout_sampled_from(policy):
    cfg = config(policy)
    state, run, trajectory = rollout(cfg)
    episode_done = trajectory.episode_done if cfg.recurrent else None
    distribution, _ = on_policy.apply_policy(
        run.network,
        state.params,
        trajectory.obs,
        trajectory.carry,
        episode_done,
        trajectory.action_mask,
    )
    np.testing.assert_allclose(
        distribution.log_prob(trajectory.action), trajectory.log_prob, rtol=1e-5, atol=1e-5
    )
    unmasked, _ = on_policy.apply_policy(
        run.network, state.params, trajectory.obs, trajectory.carry, episode_done
    )
    # The check can fail: without the mask the log-probabilities are over 64 actions.
    assert np.all(np.asarray(unmasked.log_prob(trajectory.action)) < trajectory.log_prob - 1.0)


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("ppo", "mlp"),
        ("ppo", "gru"),
        ("a2c", "mlp"),
        ("reinforce", "mlp"),
        ("trpo", "mlp"),
        ("impala", "mlp"),
    ],
)
def test_every_masked_algorithm_updates_with_a_finite_loss_and_finite_parameters(name, policy):
    algorithm = registry.get(name)
    cfg = algorithm.config_class(env_id=ENV_ID, num_envs=4, policy=policy, total_steps=10**6)
    if name == "reinforce":
        cfg = dataclasses.replace(cfg, num_steps=LIMIT)
    else:
        cfg = dataclasses.replace(cfg, num_steps=16)
    state = algorithm.init(cfg, jax.random.key(0))
    state, metrics = jax.jit(lambda s: scan_updates(algorithm, cfg, s, 2))(state)
    for key, value in metrics.items():
        if key not in ("episode_return", "episode_length"):  # NaN when no episode ended
            assert np.isfinite(np.asarray(value)).all(), key
    assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(state.params))


def test_the_masked_loss_gradient_is_finite_and_an_all_true_mask_changes_nothing():
    cfg = config()
    state, run, trajectory = rollout(cfg)
    hp = state.hyperparams
    advantages, targets = trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
    batch = ppo.Batch(
        trajectory.obs,
        trajectory.action,
        trajectory.log_prob,
        trajectory.value,
        advantages,
        targets,
        action_mask=trajectory.action_mask,
    )

    def loss_and_grad(batch):
        return jax.value_and_grad(lambda p: ppo.loss(cfg, run.network, hp, p, batch)[0])(
            state.params
        )

    loss, grad = loss_and_grad(batch)
    assert np.isfinite(float(loss))
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grad))
    all_true = batch._replace(action_mask=jnp.ones_like(trajectory.action_mask))
    none = batch._replace(action_mask=None)
    (loss_true, grad_true), (loss_none, grad_none) = loss_and_grad(all_true), loss_and_grad(none)
    np.testing.assert_allclose(loss_true, loss_none, rtol=1e-6)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8), grad_true, grad_none
    )
    assert not np.isclose(float(loss), float(loss_none))  # the real mask does change it


def test_act_with_a_mask_never_chooses_a_masked_action_and_an_all_true_mask_is_no_mask():
    cfg = config()
    state = on_policy.init(cfg, jax.random.key(1))
    env = make_env(ENV_ID, 256)
    obs, _ = env.reset(jax.random.key(2))
    mask = neighbour_masks(obs)
    key = jax.random.key(3)
    for deterministic in (True, False):
        action = on_policy.act(cfg, state, obs, key, deterministic, action_mask=mask)
        assert np.take_along_axis(mask, np.asarray(action)[:, None], -1).all()
        plain = on_policy.act(cfg, state, obs, key, deterministic)
        all_true = on_policy.act(cfg, state, obs, key, deterministic, action_mask=mask | True)
        np.testing.assert_array_equal(plain, all_true)
    unmasked = on_policy.act(cfg, state, obs, key, False)
    assert not np.take_along_axis(mask, np.asarray(unmasked)[:, None], -1).all()


def test_act_carried_with_a_mask_never_chooses_a_masked_action():
    cfg = config("gru")
    state = on_policy.init(cfg, jax.random.key(1))
    obs, _ = make_env(ENV_ID, 128).reset(jax.random.key(2))
    mask = neighbour_masks(obs)
    carry = on_policy.fresh_carry(cfg, state, 128)
    _, action = on_policy.act_carried(
        cfg, state, carry, obs, jax.random.key(3), False, action_mask=mask
    )
    assert np.take_along_axis(mask, np.asarray(action)[:, None], -1).all()


def test_bad_masks_raise_naming_action_mask_and_a_traced_empty_row_stays_in_range():
    cfg = config()
    state = on_policy.init(cfg, jax.random.key(1))
    obs, _ = make_env(ENV_ID, 4).reset(jax.random.key(2))
    key = jax.random.key(3)
    with pytest.raises(ValueError, match=r"act: `action_mask` has shape \(4, 63\)"):
        on_policy.act(cfg, state, obs, key, False, action_mask=np.ones((4, 63), bool))
    with pytest.raises(ValueError, match=r"`action_mask` has shape \(64,\)"):
        on_policy.act(cfg, state, obs, key, False, action_mask=np.ones(64, bool))
    empty = neighbour_masks(obs)
    empty[2] = False
    with pytest.raises(ValueError, match="row \\(2,\\) has no valid action"):
        on_policy.act(cfg, state, obs, key, False, action_mask=empty)
    # Traced, the documented result: the empty row acts uniformly over all actions, the others
    # on their valid ones.
    act = jax.jit(lambda mask: on_policy.act(cfg, state, obs, key, False, action_mask=mask))
    action = np.asarray(act(jnp.asarray(empty)))
    assert 0 <= action[2] < CELLS
    assert np.take_along_axis(empty, action[:, None], -1)[[0, 1, 3]].all()


def test_evaluation_acts_on_the_valid_actions_of_each_observation():
    # A stand-in `act` that goes to the valid cell nearest the far corner, knowing nothing but
    # the mask: with the right mask at every step it plays the shortest path, so every episode
    # returns 1 - 0.9 d / 32 for a start at distance d >= 1. A missing or stale mask (e.g. the
    # previous step's) would send it to a non-neighbour, a no-op, and off that value.
    cells = jnp.arange(CELLS)

    def greedy(config, state, obs, key, deterministic, action_mask=None):
        return jnp.argmax(jnp.where(action_mask, cells // SIZE + cells % SIZE, -1), axis=-1)

    algorithm = dataclasses.replace(ppo.PPO, act=greedy)
    cfg = config()
    state = on_policy.init(cfg, jax.random.key(0))
    returns = np.asarray(jax.jit(episode_returns(algorithm, cfg, 32))(state, jax.random.key(1)))
    distances = (1.0 - returns) * LIMIT / 0.9
    np.testing.assert_allclose(distances, np.round(distances), atol=1e-4)
    assert (np.round(distances) >= 1).all() and (np.round(distances) <= 14).all()


def test_evaluation_gives_no_mask_to_an_algorithm_that_takes_none():
    def first_action(config, state, obs, key, deterministic):  # no `action_mask` argument
        return jnp.zeros(obs.shape[0], jnp.int32)

    algorithm = dataclasses.replace(ppo.PPO, act=first_action, action_masks=False)
    cfg = config()
    state = on_policy.init(cfg, jax.random.key(0))
    returns = np.asarray(episode_returns(algorithm, cfg, 8)(state, jax.random.key(1)))
    # Cell 0 is the corner away from the goal: the agent reaches it at best and stays there.
    np.testing.assert_array_equal(returns, np.zeros(8))
