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

import functools

import jax
import jax.numpy as jnp

import pgjax
from pgjax.algorithms.configs import SACConfig
from pgjax.envs import env_spec
from pgjax.training import off_policy
from pgjax.training.algorithm import Algorithm
from pgjax.training.networks import (
    Critic,
    SquashedGaussianActor,
    flatten_observations,
    init_network,
)
from pgjax.training.optimizers import gradient_step
from pgjax.training.types import OffPolicyState

NUM_CRITICS = 2


def networks(config: SACConfig) -> tuple[SquashedGaussianActor, Critic]:
    """The tanh-Gaussian actor and the critic (one module, its twin parameter sets stacked)."""
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
    """The actor, the twin critics and their target copies, log α, and their optimiser states."""
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
    """The off-policy state: environments, an empty replay buffer and fresh learners."""
    return off_policy.init(config, key, hyperparams, functools.partial(learners, config))


def update(config: SACConfig, state: OffPolicyState) -> tuple[OffPolicyState, dict]:
    """One SAC update: steps of the stochastic actor into the replay buffer, then the gradient
    steps."""
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
)
make_train = SAC.make_train
