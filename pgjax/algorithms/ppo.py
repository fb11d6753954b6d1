"""Proximal policy optimisation (Schulman et al., 2017, https://arxiv.org/abs/1707.06347).

for each update:
    collect T steps in N environments with π_old             (rollout)
    Â, V̂ ← GAE(r, V_old, V_old(s'), terminated, truncated)   (advantages)
    for each epoch, for each shuffled minibatch:
        L = clipped surrogate(π_θ/π_old, Â) + c_v · value loss + c_H · entropy loss
        θ ← Adam(θ, ∇L)                                        (update)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax

import pgjax
from pgjax.training import on_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import ConfigError, hyperparameter, static
from pgjax.training.optimizers import gradient_step, run_epochs, steps_taken
from pgjax.training.rollout import collect_rollout, episode_metrics, trajectory_gae
from pgjax.training.types import OnPolicyState

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


def _brax(
    num_timesteps, num_envs, batch_size, num_minibatches, unroll_length, epochs, gamma, lr, entropy
):
    """A PPO preset from Brax's published settings: the `train_fn` table of
    `notebooks/training.ipynb` in google/brax ("We determined some reasonable hyperparameters
    offline and share them here"), argument for argument:

    num_timesteps → total_steps, num_envs → num_envs, num_minibatches → num_minibatches,
    num_updates_per_batch → num_epochs, discounting → gamma, learning_rate → learning_rate,
    entropy_cost → entropy_coef; Brax collects batch_size · num_minibatches sequences of
    unroll_length steps per update, so num_steps = batch_size · num_minibatches ·
    unroll_length / num_envs steps per environment (the same transitions per update and per
    minibatch). From `brax.training.agents.ppo.train`'s defaults (0.14): clip ε 0.3, GAE λ 0.95,
    value coefficient 0.5 (Brax's value loss is ½ · mean squared error · coefficient, as
    pgjax's), a constant learning rate, no value clipping, advantages normalised; the table's
    normalize_observations=True.

    Not the same as Brax: its constant `reward_scaling` is replaced by pgjax's running-return
    scaling (`scale_rewards`), its tanh-squashed Gaussian with a state-dependent σ by pgjax's
    Gaussian with a state-independent σ and clipped actions, its 4×32 policy and 5×256 value
    swish MLPs by one 64×64 tanh MLP each, and gradients are clipped at a norm of 0.5 (Brax:
    not clipped). Its GAE runs over each `unroll_length` segment, pgjax's over `num_steps`.
    """
    return {
        "total_steps": num_timesteps,
        "num_envs": num_envs,
        "num_steps": batch_size * num_minibatches * unroll_length // num_envs,
        "num_minibatches": num_minibatches,
        "num_epochs": epochs,
        "gamma": gamma,
        "learning_rate": lr,
        "entropy_coef": entropy,
        "clip_eps": 0.3,
        "gae_lambda": 0.95,
        "clip_value": False,
        "anneal_learning_rate": False,
        "normalize_observations": True,
        "scale_rewards": True,
    }


# XLand-MiniGrid's single-task PPO (`training/train_single_task.py` in corl-team/xland-minigrid,
# `TrainConfig`: MiniGrid-Empty-6x6, 1M steps, 16 steps, 1 epoch of 16 minibatches, lr 1e-3
# annealed, clip 0.2, γ 0.99, λ 0.95, entropy 0.01, value 0.5, gradient norm 0.5) with 256
# environments instead of its 8192 (a CPU-sized batch; more updates for the same steps) and
# pgjax's MLP on the flattened symbolic view instead of its embedding + GRU.
_XMINIGRID = {
    "total_steps": 1_000_000,
    "num_envs": 256,
    "num_steps": 16,
    "num_epochs": 1,
    "num_minibatches": 16,
    "learning_rate": 1e-3,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "entropy_coef": 0.01,
}


@dataclasses.dataclass(frozen=True)
class PPOConfig(on_policy.OnPolicyConfig):
    """PPO settings; the defaults are the classic CartPole configuration."""

    num_epochs: int = static(4, "passes over each rollout", at_least=1)
    num_minibatches: int = static(4, "minibatches per epoch", at_least=1)
    clip_value: bool = static(True, "clip the value loss around the old values")
    normalize_advantages: bool = static(True, "standardise advantages per minibatch")
    gae_lambda: float = hyperparameter(0.95, "GAE λ", at_least=0, at_most=1)
    clip_eps: float = hyperparameter(0.2, "clip ε of the ratio (and of the value)", at_least=0)
    entropy_coef: float = hyperparameter(0.01, "entropy bonus coefficient", at_least=0)
    value_coef: float = hyperparameter(0.5, "value loss coefficient", at_least=0)

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
        # Brax locomotion: see `_brax` for where every number comes from. Brax's reacher
        # (action_repeat 4) is left out: pgjax does not repeat actions. Its hopper and walker2d
        # settings are SAC's (`pgjax.algorithms.sac`).
        "brax/inverted_pendulum": _brax(2_000_000, 2048, 1024, 32, 5, 4, 0.97, 3e-4, 1e-2),
        "brax/inverted_double_pendulum": _brax(20_000_000, 2048, 1024, 32, 5, 4, 0.97, 3e-4, 1e-2),
        "brax/ant": _brax(50_000_000, 4096, 2048, 32, 5, 4, 0.97, 3e-4, 1e-2),
        "brax/humanoid": _brax(50_000_000, 2048, 1024, 32, 10, 8, 0.97, 3e-4, 1e-3),
        "brax/humanoidstandup": _brax(100_000_000, 2048, 1024, 32, 15, 8, 0.97, 6e-4, 1e-2),
        "brax/halfcheetah": _brax(50_000_000, 2048, 512, 32, 20, 8, 0.95, 3e-4, 1e-3),
        "brax/pusher": _brax(50_000_000, 2048, 512, 16, 30, 8, 0.95, 3e-4, 1e-2),
        "xminigrid/MiniGrid-Empty-5x5": _XMINIGRID,
        "xminigrid/MiniGrid-Empty-6x6": _XMINIGRID,
        # Jumanji's own Snake training config (`jumanji/training/configs/env/snake.yaml`: A2C
        # with 128 environments, 20-step rollouts, γ 0.997, λ 0.95, entropy 0.01, lr 3e-4)
        # as PPO's rollout, with PPO's epochs and minibatches; 10M of its 128M steps.
        "jumanji/Snake-v1": {
            "total_steps": 10_000_000,
            "num_envs": 128,
            "num_steps": 20,
            "num_minibatches": 4,
            "gamma": 0.997,
            "gae_lambda": 0.95,
            "entropy_coef": 0.01,
            "learning_rate": 3e-4,
            "anneal_learning_rate": False,
        },
    }

    @property
    def gradient_steps_per_update(self) -> int:
        return self.num_epochs * self.num_minibatches

    def check(self) -> None:
        super().check()
        if self.steps_per_update % self.num_minibatches:
            raise ConfigError(
                f"The batch of num_envs × num_steps = {self.steps_per_update} transitions does "
                f"not split into num_minibatches={self.num_minibatches} equal minibatches: "
                f"choose num_minibatches dividing {self.steps_per_update}.",
                "num_minibatches",
            )


class Batch(NamedTuple):
    """One rollout prepared for the PPO epochs, every field `[T, N, ...]`."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array  # log π_old(a|s)
    value: jax.Array  # V_old(s), for value clipping
    advantages: jax.Array
    targets: jax.Array


def loss(config: PPOConfig, network, hp, params, batch: Batch):
    """The clipped surrogate, the (clipped) value loss and the entropy bonus on a minibatch."""
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
    total = (
        policy_loss
        + hp["value_coef"] * value_loss
        + hp["entropy_coef"] * pgjax.entropy_loss(entropy)
    )
    return total, {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy.mean(),
        "approx_kl": pgjax.approx_kl(log_probs, batch.log_prob),
        "clip_fraction": pgjax.clip_fraction(log_probs, batch.log_prob, clip_eps=hp["clip_eps"]),
    }


def update(config: PPOConfig, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    hp = state.hyperparams
    run = on_policy.setup(config, hp)
    rollout_key, epoch_key, key = jax.random.split(state.key, 3)
    env, trajectory = collect_rollout(
        run.env, run.network, state.params, state.env, rollout_key, config.num_steps
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

    def minibatch_step(carry, minibatch):
        params, opt_state, metrics = gradient_step(
            lambda p, b: loss(config, run.network, hp, p, b), run.optimizer, *carry, minibatch
        )
        return (params, opt_state), metrics

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
        "learning_rate": run.schedule(steps_taken(state.opt_state)),
    }
    return OnPolicyState(params, opt_state, env, key, hp), metrics


PPO = Algorithm(
    "ppo",
    PPOConfig,
    on_policy.init,
    update,
    on_policy.act,
    "clipped surrogate, GAE, epochs × minibatches (Schulman et al., 2017)",
    data_parallel=True,
)
make_train = PPO.make_train
