"""What every on-policy algorithm (PPO, A2C, REINFORCE, TRPO) shares: its config fields, the
preamble that builds network, environments, schedule and optimiser from a config, the initial
state, the actor-critic loss, and acting with the trained policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import pgjax
from pgjax.envs import EnvSpec, env_spec, make_env, normalize_observation, observation_moments
from pgjax.training.config import OnPolicyConfig
from pgjax.training.networks import (
    ActionBounds,
    ActorCritic,
    RecurrentActorCritic,
    init_network,
    initial_carry,
    with_action_mask,
)
from pgjax.training.optimizers import learning_rate_schedule, make_optimizer
from pgjax.training.recurrent import run_sequence
from pgjax.training.types import EnvCarry, Hyperparams, OnPolicyState, PolicyGradientBatch


class Setup(NamedTuple):
    """What `init` and `update` build from the config and the run's hyperparameters."""

    network: ActorCritic | RecurrentActorCritic
    spec: EnvSpec
    env: object  # the wrapped, vectorised environment (`pgjax.envs.make_env`)
    schedule: Callable[[jax.Array], jax.Array]  # optimiser step count ↦ learning rate
    optimizer: optax.GradientTransformation


def action_bounds(config: OnPolicyConfig, spec: EnvSpec) -> ActionBounds | None:
    """The bounded policy head `config.action_bounds` asks for over the environment's action
    box; None for "clip" (a Gaussian, the environment clips) and for discrete actions."""
    if config.action_bounds == "clip" or spec.discrete:
        return None
    low, high = (tuple(float(x) for x in b) for b in (spec.action_low, spec.action_high))
    return ActionBounds(config.action_bounds, low, high)


def make_network(config: OnPolicyConfig) -> ActorCritic | RecurrentActorCritic:
    """The config's policy network: an `ActorCritic` (policy "mlp") or a `RecurrentActorCritic`
    (its `hidden_sizes` the torso before the cell), with the head `action_bounds` gives."""
    spec = env_spec(config.env_id)
    bounds = action_bounds(config, spec)
    if config.recurrent:
        return RecurrentActorCritic(
            action_dim=spec.action_dim,
            discrete=spec.discrete,
            cell=config.policy,
            recurrent_size=config.recurrent_size,
            hidden_sizes=tuple(config.hidden_sizes),
            activation=config.activation,
            obs_ndim=len(spec.observation_shape),
            action_bounds=bounds,
        )
    return ActorCritic(
        action_dim=spec.action_dim,
        discrete=spec.discrete,
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        shared=config.shared_network,
        obs_ndim=len(spec.observation_shape),
        action_bounds=bounds,
    )


def setup(config: OnPolicyConfig, hyperparams: Hyperparams) -> Setup:
    """The network, the environments, the schedule and the optimiser of a run. Pure Python over
    static settings and (possibly traced) hyperparameters: `init` and `update` both call it."""
    schedule = learning_rate_schedule(
        hyperparams["learning_rate"],
        config.num_updates * config.gradient_steps_per_update,
        config.anneal_learning_rate,
    )
    env = make_env(
        config.env_id,
        config.num_envs,
        normalize_observations=config.normalize_observations,
        scale_rewards=config.scale_rewards,
        gamma=hyperparams["gamma"],
        clip_actions=config.clip_actions,
    )
    optimizer = make_optimizer(schedule, hyperparams["max_grad_norm"], config.optimizer)
    return Setup(make_network(config), env_spec(config.env_id), env, schedule, optimizer)


def init(
    config: OnPolicyConfig,
    key: jax.Array,
    hyperparams: dict | None = None,
    optimized: Callable = lambda params: params,
) -> OnPolicyState:
    """Resets the config's environments and initialises the network and the optimiser.

    Args:
      config: the algorithm's config (validated by the caller).
      key: PRNG key of the run.
      hyperparams: overrides of the config's hyperparameters (arrays may be traced).
      optimized: the part of the parameters the optimiser steps (e.g. the critic alone).
    """
    hp = config.resolve(hyperparams)
    run = setup(config, hp)
    init_key, env_key, key = jax.random.split(key, 3)
    obs, env_state = run.env.reset(env_key)
    policy_carry = policy_initial_carry(config, config.num_envs)
    inputs = (obs,) if policy_carry is None else (policy_carry, obs)
    params = init_network(run.network, init_key, *inputs)
    opt_state = run.optimizer.init(optimized(params))
    return OnPolicyState(params, opt_state, EnvCarry(env_state, obs, policy_carry), key, hp)


def policy_initial_carry(config: OnPolicyConfig, num_envs: int):
    """The state a recurrent policy starts an episode from, leaves `[num_envs, ...]`; None for
    the MLP."""
    if not config.recurrent:
        return None
    return initial_carry(config.policy, config.recurrent_size, (num_envs,))


def apply_policy(network, params, obs, carry=None, episode_done=None, action_mask=None):
    """`(π, V)` on rollout steps `[T, N, ...]`: the MLP step by step, or a recurrent network
    re-run over each environment's sequence from `carry[0]` (the state stored with the
    rollout), reset after every `episode_done` (`pgjax.training.recurrent.run_sequence`).
    With `action_mask` `[T, N, A]` (`Transition.action_mask`) π is restricted to the actions
    valid at each step, the distribution the rollout sampled from."""
    if carry is None:
        distribution, values = network.apply(params, obs)
    else:
        distribution, values, _ = run_sequence(network, params, obs, carry, episode_done)
    return with_action_mask(distribution, action_mask, "apply_policy"), values


def _observations(state: OnPolicyState, obs):
    moments = observation_moments(state.env.env_state)
    return obs if moments is None else normalize_observation(moments, obs)


def act(
    config: OnPolicyConfig,
    state: OnPolicyState,
    obs,
    key,
    deterministic: bool,
    action_mask=None,
):
    """The trained policy's action for raw environment observations `obs` `[N, *obs_shape]`:
    its mode (`deterministic`) or a sample. Observations are normalised with the run's frozen
    statistics when it normalised them in training. A recurrent policy acts with
    `act_carried` (this raises: it would forget everything between steps).

    `action_mask` `[N, num_actions]` bool: the actions valid in each observation, for an
    environment whose spec has `action_mask` (read it with `pgjax.envs.action_mask(env_state)`
    or `info["action_mask"]`); a masked action is then never chosen. None: every action. A mask
    of the wrong shape raises ValueError naming `action_mask`; a row with no valid action raises
    when the mask is known at trace time, and under `jit` acts uniformly over all actions.
    """
    if config.recurrent:
        raise ValueError(
            f"act: policy={config.policy!r} carries a state between steps; use "
            "act_carried(config, state, carry, obs, key, deterministic) from initial_carry."
        )
    distribution = make_network(config).apply(
        state.params, _observations(state, obs), method="policy"
    )
    distribution = with_action_mask(distribution, action_mask, "act")
    return distribution.mode() if deterministic else distribution.sample(key)


def fresh_carry(config: OnPolicyConfig, state: OnPolicyState, num_envs: int):
    """`Algorithm.initial_carry`: the zero state of `num_envs` fresh episodes (None: MLP)."""
    return policy_initial_carry(config, num_envs)


def act_carried(
    config: OnPolicyConfig, state: OnPolicyState, carry, obs, key, deterministic, action_mask=None
):
    """`Algorithm.act_carried`: `(carry, actions)`, the policy's action for `obs`
    `[N, *obs_shape]` from its state `carry`, and the state after the step (the caller resets
    it where an episode ended). `action_mask` as for `act`."""
    network = make_network(config)
    carry, distribution, _ = network.apply(state.params, carry, _observations(state, obs))
    distribution = with_action_mask(distribution, action_mask, "act_carried")
    return carry, distribution.mode() if deterministic else distribution.sample(key)


def actor_critic_loss(network, params, batch: PolicyGradientBatch, value_coef, entropy_coef):
    r"""The policy-gradient loss with a value-regression term and an entropy bonus.

    .. math::
        L = \frac{1}{T N} \sum_{t,i} m_{t,i} \big[-\log\pi(a_{t,i} | s_{t,i})\, \hat A_{t,i}
            + c_v \tfrac12 (V(s_{t,i}) - \hat V_{t,i})^2 - c_H \mathcal H(\pi(\cdot | s_{t,i}))\big]

    Each term is a pgjax kernel summed over the valid steps, divided by the constant buffer size
    T·N: for an unmasked rollout (A2C) the plain mean; for REINFORCE's masked episode buffers
    Williams' per-episode sum averaged over the N episodes (and divided by T), an unbiased
    gradient estimate however long the episodes are. `value_coef=None` leaves V out.

    Returns:
      `(loss, metrics)`; the metrics policy_loss, value_loss (when fitted) and entropy are means
      over the valid steps.
    """
    distribution, values = apply_policy(
        network, params, batch.obs, batch.carry, batch.episode_done, batch.action_mask
    )
    log_probs = distribution.log_prob(batch.action)
    entropies = distribution.entropy()
    policy_sum = pgjax.policy_gradient_loss(log_probs, batch.advantages, batch.mask, "sum")
    entropy_sum = pgjax.entropy_loss(entropies, batch.mask, "sum")
    total = policy_sum + entropy_coef * entropy_sum
    count = batch.advantages.size if batch.mask is None else jnp.maximum(batch.mask.sum(), 1)
    metrics = {"policy_loss": policy_sum / count, "entropy": -entropy_sum / count}
    if value_coef is not None:
        value_sum = pgjax.value_loss(values, batch.targets, mask=batch.mask, reduction="sum")
        total = total + value_coef * value_sum
        metrics["value_loss"] = value_sum / count
    loss = total / batch.advantages.size
    return loss, {"loss": loss, **metrics}
