"""Synchronous advantage actor-critic, A2C (Mnih et al., 2016, "Asynchronous methods for deep
reinforcement learning", https://arxiv.org/abs/1602.01783, made synchronous as in OpenAI
Baselines).

    for each update:
        collect T steps in N environments with π_θ                  (rollout)
        Â, V̂ ← n-step returns − V(s)   or   GAE(λ)                  (advantages)
        L = policy-gradient loss(Â) + c_v · value loss(V, V̂) + c_H · entropy loss
        θ ← RMSprop or Adam(θ, ∇L)                                   (one step per rollout)

n-step targets are cut at episode ends; at a time limit and at the end of the rollout they
bootstrap from V of the true successor (`next_value`), never from a reset state. With
`n_step >= num_steps` every step bootstraps from the end of the rollout, the original A3C
update. The actor and critic share a torso with `shared_network=True`.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import ClassVar

import jax

import pgjax
from pgjax.config import OnPolicyConfig
from pgjax.rollout import collect_rollout, episode_metrics, trajectory_gae
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


@dataclasses.dataclass(frozen=True)
class A2CConfig(OnPolicyConfig):
    """A2C settings; the defaults are those of OpenAI Baselines / Stable-Baselines3."""

    num_envs: int = 8
    num_steps: int = 5
    learning_rate: float = 7e-4
    anneal_learning_rate: bool = False
    optimizer: str = "rmsprop"  # or "adam"
    advantage_estimator: str = "n_step"  # or "gae"
    n_step: int = 5
    gae_lambda: float = 1.0
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    normalize_advantages: bool = False

    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = (
        *OnPolicyConfig.HYPERPARAMETERS,
        "gae_lambda",
        "value_coef",
        "entropy_coef",
    )
    UNIT_INTERVAL: ClassVar[tuple[str, ...]] = ("gamma", "gae_lambda")
    PRESETS: ClassVar[dict[str, dict]] = {
        "CartPole-v1": {"total_steps": 200_000, "learning_rate": 2.5e-3},
    }

    def validate(self) -> None:
        super().validate()
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}.")
        if self.advantage_estimator not in ("n_step", "gae"):
            raise ValueError(
                f"advantage_estimator must be 'n_step' or 'gae', got {self.advantage_estimator!r}."
            )
        if self.n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {self.n_step}.")
        for name in ("value_coef", "entropy_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")


Config = A2CConfig


def make_train(config: A2CConfig, progress: ProgressFn | None = None):
    """Returns `train(key, hyperparams=None) -> (TrainState, metrics)`.

    `metrics` holds `[num_updates]` arrays: episode_return / episode_length (mean over the
    episodes that ended in the update, NaN if none did), episodes, loss, policy_loss,
    value_loss, entropy, learning_rate.
    """
    config.validate()
    network, _ = make_network(config)

    def train(key: jax.Array, hyperparams: dict | None = None):
        hp = config.resolve(hyperparams)
        schedule = learning_rate_schedule(
            hp["learning_rate"], config.num_updates, config.anneal_learning_rate
        )
        optimizer = make_optimizer(schedule, hp["max_grad_norm"], config.optimizer)
        env, state = init_train_state(config, network, key, hp["gamma"], optimizer.init)
        loss_fn = partial(
            actor_critic_loss,
            network,
            value_coef=hp["value_coef"],
            entropy_coef=hp["entropy_coef"],
        )

        def advantages_and_targets(trajectory):
            if config.advantage_estimator == "gae":
                return trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
            targets = pgjax.n_step_returns(
                trajectory.reward,
                trajectory.next_value,
                trajectory.terminated,
                trajectory.truncated,
                hp["gamma"],
                config.n_step,
            )
            return targets - trajectory.value, targets

        def update_step(state: TrainState, update):
            rollout_key, key = jax.random.split(state.key)
            env_carry, trajectory = collect_rollout(
                env, network, state.params, state.env, rollout_key, config.num_steps
            )
            advantages, targets = advantages_and_targets(trajectory)
            if config.normalize_advantages:
                advantages = pgjax.normalize_advantages(advantages)
            batch = PolicyGradientBatch(
                trajectory.obs, trajectory.action, advantages, targets, None
            )
            metrics = {**episode_metrics(trajectory), "learning_rate": schedule(update)}
            return actor_critic_update(loss_fn, optimizer, state, batch, env_carry, key, metrics)

        return run_updates(update_step, state, config.num_updates, progress)

    return train
