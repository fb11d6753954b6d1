"""Checks every suite's adapter must pass (used by tests/envs/test_<suite>.py): truncated steps
are bootstrapped from the value of the true final observation, through the rollout and GAE the
algorithms use."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.kernels.distributions import Categorical, DiagGaussian
from pgjax.training.rollout import collect_rollout, trajectory_gae
from pgjax.training.types import EnvCarry


def known_value(obs: jax.Array, obs_ndim: int) -> jax.Array:
    """V(s) = Σ_i (i + 1) · s_i / D over the flattened observation: different observations
    (a reset one and the one an episode ended on) get different values."""
    flat = obs.reshape((*obs.shape[: obs.ndim - obs_ndim], -1)).astype(jnp.float32)
    weights = jnp.arange(1, flat.shape[-1] + 1, dtype=jnp.float32) / flat.shape[-1]
    return flat @ weights


class FixedPolicyKnownCritic:
    """A stand-in for `ActorCritic`: a fixed policy (one action almost surely, or zero-mean
    actions with σ = e⁻²⁰) and the critic `known_value`."""

    def __init__(self, spec, action: int = 0):
        self.spec = spec
        self.action = action
        self.obs_ndim = len(spec.observation_shape)

    def apply(self, params, obs, method=None):
        value = known_value(obs, self.obs_ndim)
        if method == "value":
            return value
        batch = obs.shape[: obs.ndim - self.obs_ndim]
        if self.spec.discrete:
            logits = jnp.where(jnp.arange(self.spec.action_dim) == self.action, 0.0, -1e9)
            return Categorical(jnp.broadcast_to(logits, (*batch, self.spec.action_dim))), value
        mean = jnp.zeros((*batch, self.spec.action_dim))
        return DiagGaussian(mean, jnp.full(self.spec.action_dim, -20.0)), value


def check_truncation_is_bootstrapped(env, key, num_steps: int, action: int = 0, gamma=0.9):
    """Runs `collect_rollout` on `env` (with episode statistics) and checks, at every truncated
    step, that `next_value` is V(final observation), that this differs from V of the reset
    observation the next step acts on wherever those observations differ, and that GAE with
    λ = 0 gives r + γ V(final) − V(s). Returns the number of truncated steps."""
    critic = FixedPolicyKnownCritic(env.spec, action)

    @jax.jit
    def run(key):
        obs, state = env.reset(key)
        _, trajectory = collect_rollout(env, critic, None, EnvCarry(state, obs), key, num_steps)
        advantages, _ = trajectory_gae(trajectory, gamma, 0.0)
        return trajectory, advantages

    trajectory, advantages = run(key)
    truncated = np.asarray(trajectory.truncated)
    assert truncated.any(), "no episode was truncated in the rollout"
    assert not (truncated & np.asarray(trajectory.terminated)).any()
    obs_ndim = len(env.spec.observation_shape)
    final_values = np.asarray(known_value(trajectory.next_obs, obs_ndim))
    next_value = np.asarray(trajectory.next_value)
    np.testing.assert_allclose(next_value, final_values, rtol=1e-6)

    # The observation the step after a truncation acts on is the reset one.
    reset_obs = np.asarray(trajectory.obs[1:])[truncated[:-1]]
    final_obs = np.asarray(trajectory.next_obs[:-1])[truncated[:-1]]
    differ = (reset_obs != final_obs).reshape(len(reset_obs), -1).any(-1)
    assert differ.any(), "every reset observation equals the final one; the check is void"
    reset_values = np.asarray(known_value(trajectory.obs[1:], obs_ndim))[truncated[:-1]]
    assert (next_value[:-1][truncated[:-1]][differ] != reset_values[differ]).all()

    reward, value = np.asarray(trajectory.reward), np.asarray(trajectory.value)
    expected = reward + gamma * final_values - value
    np.testing.assert_allclose(
        np.asarray(advantages)[truncated], expected[truncated], rtol=1e-5, atol=1e-5
    )
    return int(truncated.sum())
