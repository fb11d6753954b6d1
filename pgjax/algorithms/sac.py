"""Soft actor-critic (Haarnoja et al., 2018, "Soft actor-critic algorithms and applications",
https://arxiv.org/abs/1812.05905): twin Q critics with Polyak-averaged targets, a tanh-squashed
Gaussian actor and an automatically tuned temperature α.

    for each update:
        act ã ~ π(·|s) in N environments for T steps (uniform before learning_starts), store
        (s, a, r, terminated, truncated, s'_true) in the replay buffer       (off_policy.update)
        G times, on a uniformly sampled batch:
            y = r + γ(1 − terminated)(min_k Q̄_k(s', a') − α log π(a'|s')), a' ~ π(·|s')
            φ ← Adam(φ, ∇ Σ_k ½(Q_k(s, a) − y)²)                              (critics)
            θ ← Adam(θ, ∇ α log π(ã|s) − min_k Q_k(s, ã)), ã ~ π(·|s)         (actor)
            log α ← Adam(log α, ∇ −α(log π(ã|s) + H̄)), H̄ = −dim(A) by default (temperature)
            φ̄ ← τφ + (1 − τ)φ̄                                                 (targets)

Actions live in [−1, 1]^A (log-probabilities of the pre-tanh sample, `TanhGaussian`) and are
scaled onto the environment's bounds only when stepping it. A time limit is bootstrapped from
the final observation the buffer stores, never treated as terminal. The K = 2 critics are one
network applied with stacked parameters (`jax.vmap`), so both run as one batched matmul.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp

import pgjax
from pgjax.envs import env_spec
from pgjax.training import off_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import ConfigError, hyperparameter, static
from pgjax.training.networks import (
    Critic,
    SquashedGaussianActor,
    flatten_observations,
    init_network,
)
from pgjax.training.optimizers import gradient_step
from pgjax.training.types import OffPolicyState

NUM_CRITICS = 2


def _brax(num_timesteps, num_envs, batch_size, grad_updates_per_step, lr):
    """A SAC preset from Brax's published settings (the `train_fn` table of
    `notebooks/training.ipynb` in google/brax): num_timesteps → total_steps, num_envs,
    batch_size, grad_updates_per_step → gradient_steps (after each step of all environments),
    learning_rate, discounting 0.997 → gamma, max_replay_size 1048576 → buffer_size,
    min_replay_size 8192 → learning_starts; τ 0.005 and 256×256 networks are
    `brax.training.agents.sac.train`'s defaults. Not carried over: its `reward_scaling` and
    `normalize_observations` (pgjax's off-policy runs store raw transitions)."""
    return {
        "total_steps": num_timesteps,
        "num_envs": num_envs,
        "num_steps": 1,
        "batch_size": batch_size,
        "gradient_steps": grad_updates_per_step,
        "learning_rate": lr,
        "gamma": 0.997,
        "buffer_size": 1_048_576,
        "learning_starts": 8192,
        "tau": 0.005,
        "hidden_sizes": (256, 256),
    }


@dataclasses.dataclass(frozen=True)
class SACConfig(off_policy.OffPolicyConfig):
    """SAC settings; the defaults are Stable-Baselines3's (one environment, one gradient step
    per environment step, 256×256 MLPs, batch 256, τ = 0.005, lr 3e-4, 100 random steps) but
    for a 1e5-transition buffer and gradient clipping at a global norm of 1000."""

    env_id: str = static("Pendulum-v1", "environment id, continuous actions (`pgjax envs`)")
    total_steps: int = static(100_000, "environment steps per seed", at_least=1)
    hidden_sizes: tuple[int, ...] = static((256, 256), "hidden layer widths of the MLPs")
    learning_starts: int = static(
        100, "environment steps of uniformly random actions before learning starts", at_least=0
    )
    max_grad_norm: float = hyperparameter(1e3, "gradient clipping (global norm)", above=0)
    tau: float = hyperparameter(0.005, "target update φ̄ ← τφ + (1 − τ)φ̄", above=0, at_most=1)
    initial_temperature: float = hyperparameter(1.0, "α at the start", above=0)
    target_entropy_per_action: float = hyperparameter(
        -1.0, "target entropy H̄ per action dimension (H̄ = this × dim(A))"
    )

    PRESETS: ClassVar[dict[str, dict]] = {
        # 4 environments, 2 gradient steps per vector step (replay ratio 0.5), a 64×64 MLP and
        # lr 1e-3 (rl-zoo's): -200 after ≈ 7k steps. Measured: tests/algorithms/test_sac.py.
        "Pendulum-v1": {
            "total_steps": 20_000,
            "num_envs": 4,
            "gradient_steps": 2,
            "hidden_sizes": (64, 64),
            "learning_rate": 1e-3,
        },
        "brax/hopper": _brax(6_553_600, 128, 512, 64, 6e-4),
        "brax/walker2d": _brax(7_864_320, 128, 128, 32, 6e-4),
    }

    def check(self) -> None:
        super().check()
        if env_spec(self.env_id).discrete:
            raise ConfigError(
                f"SAC needs continuous actions; {self.env_id} has discrete ones (try "
                "Pendulum-v1, or DQN for discrete actions).",
                "env_id",
            )


def networks(config: SACConfig) -> tuple[SquashedGaussianActor, Critic]:
    spec = env_spec(config.env_id)
    actor = SquashedGaussianActor(
        spec.action_dim, config.hidden_sizes, config.activation, len(spec.observation_shape)
    )
    return actor, Critic(config.hidden_sizes, config.activation)


def critic_features(config: SACConfig, obs, action) -> jax.Array:
    """The critics' input: flattened observations and actions, `[*B, D + A]`."""
    features = flatten_observations(obs, len(env_spec(config.env_id).observation_shape))
    return jnp.concatenate([features, action], axis=-1)


def q_values(config: SACConfig, critic_params, obs, action) -> jax.Array:
    """`[K, *B]` Q_k(s, a) of the K critics (parameters stacked on a leading axis)."""
    critic = networks(config)[1]
    features = critic_features(config, obs, action)
    return jax.vmap(critic.apply, in_axes=(0, None))(critic_params, features)


def learners(config: SACConfig, hp, key, obs) -> off_policy.Learners:
    actor, critic = networks(config)
    actor_key, critic_key = jax.random.split(key)
    no_action = jnp.zeros((obs.shape[0], env_spec(config.env_id).action_dim))
    features = critic_features(config, obs, no_action)
    critic_params = jax.vmap(lambda k: init_network(critic, k, features))(
        jax.random.split(critic_key, NUM_CRITICS)
    )
    params = {
        "actor": init_network(actor, actor_key, obs),
        "critic": critic_params,
        "log_temperature": jnp.log(hp["initial_temperature"]),
    }
    optimizer = off_policy.optimizer(config, hp)
    opt_state = {name: optimizer.init(p) for name, p in params.items()}
    return off_policy.Learners(params, {"critic": critic_params}, opt_state)


def learn(config: SACConfig, hp, params, target_params, opt_state, batch, key):
    """One gradient step of the critics, then the actor, then the temperature."""
    actor = networks(config)[0]
    optimizer = off_policy.optimizer(config, hp)
    target_key, actor_key = jax.random.split(key)
    temperature = jnp.exp(params["log_temperature"])

    next_action, next_log_prob = actor.apply(params["actor"], batch.next_obs).sample_and_log_prob(
        target_key
    )
    targets = pgjax.soft_q_targets(
        batch.reward,
        q_values(config, target_params["critic"], batch.next_obs, next_action),
        next_log_prob,
        batch.terminated,
        hp["gamma"],
        temperature,
    )

    def critic_loss(critic_params):
        q = q_values(config, critic_params, batch.obs, batch.action)
        loss = pgjax.twin_q_loss(q, targets)
        return loss, {"loss": loss, "q": q.mean()}

    critic_params, critic_opt, critic_metrics = gradient_step(
        critic_loss, optimizer, params["critic"], opt_state["critic"]
    )

    def actor_loss(actor_params):
        action, log_prob = actor.apply(actor_params, batch.obs).sample_and_log_prob(actor_key)
        q = q_values(config, critic_params, batch.obs, action)
        loss = pgjax.sac_actor_loss(log_prob, q, temperature)
        return loss, {"loss": loss, "log_prob": log_prob}

    actor_params, actor_opt, actor_metrics = gradient_step(
        actor_loss, optimizer, params["actor"], opt_state["actor"]
    )
    log_prob = actor_metrics.pop("log_prob")
    target_entropy = hp["target_entropy_per_action"] * env_spec(config.env_id).action_dim

    def temperature_loss(log_temperature):
        loss = pgjax.sac_temperature_loss(log_temperature, log_prob, target_entropy)
        return loss, {"loss": loss}

    log_temperature, temperature_opt, temperature_metrics = gradient_step(
        temperature_loss, optimizer, params["log_temperature"], opt_state["log_temperature"]
    )
    params = {"actor": actor_params, "critic": critic_params, "log_temperature": log_temperature}
    opt_state = {"actor": actor_opt, "critic": critic_opt, "log_temperature": temperature_opt}
    metrics = {
        **{f"critic_{k}": v for k, v in critic_metrics.items()},
        **{f"actor_{k}": v for k, v in actor_metrics.items()},
        **{f"temperature_{k}": v for k, v in temperature_metrics.items()},
        "entropy": -log_prob.mean(),
        "temperature": temperature,
    }
    return params, opt_state, metrics


def explore(config: SACConfig, params, obs, key, env_steps):
    """A sample of the current policy, in [−1, 1]^A."""
    return networks(config)[0].apply(params["actor"], obs).sample(key)


def init(config: SACConfig, key: jax.Array, hyperparams: dict | None = None) -> OffPolicyState:
    return off_policy.init(config, key, hyperparams, functools.partial(learners, config))


def update(config: SACConfig, state: OffPolicyState) -> tuple[OffPolicyState, dict]:
    return off_policy.update(
        config,
        state,
        functools.partial(explore, config),
        functools.partial(learn, config, state.hyperparams),
        to_env=functools.partial(off_policy.scale_action, env_spec(config.env_id)),
    )


def act(config: SACConfig, state: OffPolicyState, obs, key, deterministic: bool):
    """tanh(mean) (`deterministic`) or a sample, scaled onto the action bounds."""
    policy = networks(config)[0].apply(state.params["actor"], obs)
    action = policy.mode() if deterministic else policy.sample(key)
    return off_policy.scale_action(env_spec(config.env_id), action)


SAC = Algorithm(
    "sac",
    SACConfig,
    init,
    update,
    act,
    "twin soft Q critics, tanh-Gaussian actor, learned temperature (Haarnoja et al., 2018)",
)
make_train = SAC.make_train
