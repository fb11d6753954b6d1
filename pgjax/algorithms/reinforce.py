"""REINFORCE (Williams, 1992, "Simple statistical gradient-following algorithms for
connectionist reinforcement learning"), with a choice of baselines.

    for each update:
        reset N environments, act H steps with π_θ             (one whole episode each, masked)
        G_t ← discounted return of the rest of the episode      (returns)
        b_t ← none | batch mean | leave-one-out | V_φ(s_t)      (baseline)
        L = −Σ_t m_t log π_θ(a_t|s_t)(G_t − b_t) / (N·H)
            + c_v · value loss(V_φ, G) + c_H · entropy loss     (masked to the episodes)
        θ, φ ← Adam(∇L)                                         (update)

Episodes are complete and collected on the device: every update resets the environments and
runs a fixed buffer of H ≥ time-limit steps (`pgjax.rollout.collect_episodes`), counting each
environment's first episode only, so they are independent draws from π_θ.

Time limits: with the learned baseline (`baseline="value"`) a truncated episode's return is
bootstrapped with V_φ(final observation), estimating the infinite-horizon discounted return
the critic learns. Without it nothing is bootstrapped: G_t is the Monte-Carlo return of the
time-limited episode, exactly the objective of the time-limited task (whose state lacks the
time left, so that objective is not quite Markov; CartPole's 500-step cap makes the
difference small).

Baselines at step t (Greensmith et al., 2004; Kool et al., 2019): `"batch_mean"`, the mean
of G_t over the batch's episodes still running at t (includes the episode itself: biased by
O(1/N)); `"leave_one_out"`, the same mean over the *other* episodes (unbiased); `"value"`,
a learned V_φ(s_t) regressed on G_t. V_φ is only fitted for `"value"`.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp

import pgjax
from pgjax.config import OnPolicyConfig
from pgjax.envs import env_spec
from pgjax.rollout import collect_episodes, episode_metrics
from pgjax.training import (
    PolicyGradientBatch,
    ProgressFn,
    TrainState,
    actor_critic_loss,
    actor_critic_update,
    init_train_state,
    learning_rate_schedule,
    make_network,
    make_optimizer,
    run_updates,
)

BASELINES = ("none", "batch_mean", "leave_one_out", "value")


@dataclasses.dataclass(frozen=True)
class REINFORCEConfig(OnPolicyConfig):
    """REINFORCE settings. `num_envs` is the number of episodes per update and `num_steps` the
    episode buffer H (at least the environment's time limit); `total_steps` counts buffer
    steps, H·N per update, whether or not an episode was still running."""

    num_envs: int = 8
    num_steps: int = 500
    baseline: str = "value"
    learning_rate: float = 3e-3
    anneal_learning_rate: bool = False
    max_grad_norm: float = 1.0
    value_coef: float = 0.5
    entropy_coef: float = 0.0

    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = (
        *OnPolicyConfig.HYPERPARAMETERS,
        "value_coef",
        "entropy_coef",
    )
    PRESETS: ClassVar[dict[str, dict]] = {
        "CartPole-v1": {"total_steps": 400_000},
    }

    def validate(self) -> None:
        super().validate()
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}.")
        limit = env_spec(self.env_id).max_episode_steps
        if self.num_steps < limit:
            raise ValueError(
                f"num_steps={self.num_steps} is shorter than {self.env_id}'s time limit of "
                f"{limit} steps, so episodes could be cut: set num_steps >= {limit}."
            )
        if self.normalize_observations or self.scale_rewards:
            raise ValueError(
                "REINFORCE resets the environments every update, which would restart the "
                "running statistics: set normalize_observations and scale_rewards to false."
            )
        for name in ("value_coef", "entropy_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")


Config = REINFORCEConfig


def baseline_values(kind: str, returns: jax.Array, values: jax.Array, mask: jax.Array):
    """b_t for returns `[T, N]` of N episodes (`mask`: their steps), as listed in the module
    docstring; batch means are over the episodes at the same step t."""
    if kind == "value":
        return values
    if kind == "batch_mean":
        return jax.vmap(pgjax.batch_mean_baseline)(returns, mask)
    if kind == "leave_one_out":
        return pgjax.leave_one_out_baseline(returns, mask, axis=1)
    return jnp.zeros_like(returns)


def episode_returns(trajectory, gamma, bootstrap: bool) -> jax.Array:
    """G_t within each episode; a truncated one bootstrapped with V(final obs) if `bootstrap`."""
    return pgjax.discounted_returns(
        trajectory.reward,
        trajectory.terminated,
        trajectory.truncated,
        gamma,
        next_values=trajectory.next_value if bootstrap else None,
    )


def make_train(config: REINFORCEConfig, progress: ProgressFn | None = None):
    """Returns `train(key, hyperparams=None) -> (TrainState, metrics)`.

    `metrics` holds `[num_updates]` arrays: episode_return / episode_length (the update's N
    episodes), episodes, loss, policy_loss, value_loss (learned baseline only), entropy,
    learning_rate.
    """
    config.validate()
    network, _ = make_network(config)
    learned = config.baseline == "value"

    def train(key: jax.Array, hyperparams: dict | None = None):
        hp = config.resolve(hyperparams)
        schedule = learning_rate_schedule(
            hp["learning_rate"], config.num_updates, config.anneal_learning_rate
        )
        optimizer = make_optimizer(schedule, hp["max_grad_norm"])
        env, state = init_train_state(config, network, key, hp["gamma"], optimizer.init)
        loss_fn = partial(
            actor_critic_loss,
            network,
            value_coef=hp["value_coef"] if learned else None,
            entropy_coef=hp["entropy_coef"],
        )

        def update_step(state: TrainState, update):
            episode_key, key = jax.random.split(state.key)
            env_carry, trajectory, mask = collect_episodes(
                env, network, state.params, episode_key, config.num_steps
            )
            returns = episode_returns(trajectory, hp["gamma"], bootstrap=learned)
            baseline = baseline_values(config.baseline, returns, trajectory.value, mask)
            batch = PolicyGradientBatch(
                trajectory.obs, trajectory.action, returns - baseline, returns, mask
            )
            metrics = {**episode_metrics(trajectory, mask), "learning_rate": schedule(update)}
            return actor_critic_update(loss_fn, optimizer, state, batch, env_carry, key, metrics)

        return run_updates(update_step, state, config.num_updates, progress)

    return train
