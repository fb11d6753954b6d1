"""Proximal policy optimisation (Schulman et al., 2017, https://arxiv.org/abs/1707.06347).

    for each update:
        collect T steps in N environments with π_old             (rollout)
        Â, V̂ ← GAE(r, V_old, V_old(s'), terminated, truncated)   (advantages)
        for each epoch, for each shuffled minibatch:
            L = clipped surrogate(π_θ/π_old, Â) + c_v · value loss + c_H · entropy loss
            θ ← Adam(θ, ∇L)                                        (update)

`make_train(config)(key, hyperparams)` runs all of it on the device; `jax.vmap` over keys
trains many seeds, over a dict of hyperparameter arrays a grid.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax

import pgjax
from pgjax.config import OnPolicyConfig
from pgjax.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training import (
    ProgressFn,
    TrainState,
    gradient_step,
    init_train_state,
    learning_rate_schedule,
    make_network,
    make_optimizer,
    run_epochs,
    run_updates,
)

_MINATAR = {
    "total_steps": 10_000_000,
    "num_envs": 64,
    "num_minibatches": 8,
    "hidden_sizes": (256, 256),
    "activation": "relu",
    "learning_rate": 5e-4,
    "anneal_learning_rate": False,
    "gamma": 0.999,
}


@dataclasses.dataclass(frozen=True)
class PPOConfig(OnPolicyConfig):
    """PPO settings; the defaults are the classic CartPole configuration."""

    num_epochs: int = 4
    num_minibatches: int = 4
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    clip_value: bool = True
    normalize_advantages: bool = True

    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = (
        *OnPolicyConfig.HYPERPARAMETERS,
        "gae_lambda",
        "clip_eps",
        "entropy_coef",
        "value_coef",
    )
    UNIT_INTERVAL: ClassVar[tuple[str, ...]] = ("gamma", "gae_lambda")
    PRESETS: ClassVar[dict[str, dict]] = {
        "CartPole-v1": {},
        # Short rollouts (many updates) as in gymnax-blines' Acrobot PPO; ≈ -80 at 5e5 steps.
        "Acrobot-v1": {
            "num_envs": 16,
            "num_steps": 32,
            "learning_rate": 5e-4,
            "entropy_coef": 0.0,
        },
        "Pendulum-v1": {
            "total_steps": 300_000,
            "num_envs": 16,
            "num_steps": 128,
            "num_epochs": 10,
            "num_minibatches": 8,
            "learning_rate": 1e-3,
            "gamma": 0.9,
            "entropy_coef": 0.0,
            "normalize_observations": True,
            "scale_rewards": True,
        },
        "MountainCarContinuous-v0": {
            "total_steps": 1_000_000,
            "num_envs": 16,
            "num_steps": 256,
            "num_epochs": 10,
            "num_minibatches": 8,
            "learning_rate": 3e-4,
            "entropy_coef": 0.0,
            "normalize_observations": True,
            "scale_rewards": True,
        },
        # MinAtar: gymnax-blines' PPO settings (γ = 0.999 matters: with 0.99 Breakout stalls
        # at a return of ≈6.5), 256×256 ReLU MLP on the flattened 10×10×c grid.
        "Breakout-MinAtar": _MINATAR,
        "SpaceInvaders-MinAtar": _MINATAR,
    }

    def validate(self) -> None:
        super().validate()
        if self.num_epochs < 1 or self.num_minibatches < 1:
            raise ValueError("num_epochs and num_minibatches must be >= 1.")
        if self.steps_per_update % self.num_minibatches:
            raise ValueError(
                f"The batch of num_envs × num_steps = {self.steps_per_update} transitions does "
                f"not split into num_minibatches={self.num_minibatches} equal minibatches: "
                f"choose num_minibatches dividing {self.steps_per_update}."
            )
        for name in ("clip_eps", "entropy_coef", "value_coef"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")


Config = PPOConfig


class Batch(NamedTuple):
    """One rollout prepared for the PPO epochs, every field `[T, N, ...]`."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # log π_old(a|s)
    value: jax.Array  # V_old(s), for value clipping
    advantages: jax.Array
    targets: jax.Array


def make_train(config: PPOConfig, progress: ProgressFn | None = None):
    """Returns `train(key, hyperparams=None) -> (TrainState, metrics)`.

    `metrics` is a dict of `[num_updates]` arrays: episode_return / episode_length (mean over
    episodes that ended in the update, NaN if none did), episodes, losses, entropy, approx_kl,
    clip_fraction, learning_rate. `progress(update, metrics)` is called on the host after every
    update when given (e.g. a progress bar); library calls leave it off.
    """
    config.validate()
    network, _ = make_network(config)
    num_gradient_steps = config.num_updates * config.num_epochs * config.num_minibatches

    def train(key: jax.Array, hyperparams: dict | None = None):
        hp = config.resolve(hyperparams)
        schedule = learning_rate_schedule(
            hp["learning_rate"], num_gradient_steps, config.anneal_learning_rate
        )
        optimizer = make_optimizer(schedule, hp["max_grad_norm"])
        env, state = init_train_state(config, network, key, hp["gamma"], optimizer.init)

        def loss_fn(params, batch):
            distribution, values = network.apply(params, batch.obs)
            log_probs = distribution.log_prob(batch.action)
            advantages = batch.advantages
            if config.normalize_advantages:
                advantages = pgjax.normalize_advantages(advantages)
            policy_loss = pgjax.ppo_clip_loss(
                log_probs, batch.log_prob, advantages, clip_eps=hp["clip_eps"]
            )
            value_loss = pgjax.value_loss(
                values,
                batch.targets,
                old_values=batch.value if config.clip_value else None,
                clip_eps=hp["clip_eps"] if config.clip_value else None,
            )
            entropy = distribution.entropy()
            loss = (
                policy_loss
                + hp["value_coef"] * value_loss
                + hp["entropy_coef"] * pgjax.entropy_loss(entropy)
            )
            return loss, {
                "loss": loss,
                "policy_loss": policy_loss,
                "value_loss": value_loss,
                "entropy": entropy.mean(),
                "approx_kl": pgjax.approx_kl(log_probs, batch.log_prob),
                "clip_fraction": pgjax.clip_fraction(
                    log_probs, batch.log_prob, clip_eps=hp["clip_eps"]
                ),
            }

        def minibatch_step(train_state, batch):
            params, opt_state, metrics = gradient_step(loss_fn, optimizer, *train_state, batch)
            return (params, opt_state), metrics

        def update_step(state: TrainState, update):
            rollout_key, epoch_key, key = jax.random.split(state.key, 3)
            env_carry, trajectory = collect_rollout(
                env, network, state.params, state.env, rollout_key, config.num_steps
            )
            advantages, targets = trajectory_gae(trajectory, hp["gamma"], hp["gae_lambda"])
            batch = Batch(
                trajectory.obs,
                trajectory.action,
                trajectory.log_prob,
                trajectory.value,
                advantages,
                targets,
            )
            (params, opt_state), loss_metrics = run_epochs(
                epoch_key,
                (state.params, state.opt_state),
                batch,
                config.num_epochs,
                config.num_minibatches,
                minibatch_step,
            )
            metrics = {
                **episode_metrics(trajectory),
                **loss_metrics,
                "learning_rate": schedule(update * config.num_epochs * config.num_minibatches),
            }
            return TrainState(params, opt_state, env_carry, key), metrics

        return run_updates(update_step, state, config.num_updates, progress)

    return train
