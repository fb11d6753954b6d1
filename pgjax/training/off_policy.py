"""What every off-policy algorithm (SAC, DQN) shares: its config fields, the initial state with
its replay buffer, and the update loop around the algorithm's own gradient step.

    for each update:
        act for T steps in N environments (uniformly random until `learning_starts` steps),
        store (s, a, r, terminated, truncated, s'_true) in the replay buffer
        once `learning_starts` steps are stored, G times:
            sample a batch uniformly; the algorithm's `learn` step on it
            every `target_update_every` steps: θ̄ ← τ θ + (1 − τ) θ̄     (target networks)

An algorithm supplies `learners` (its networks' parameters, target copies and optimiser
states), `explore` (the behaviour policy) and `learn` (its losses and optimiser steps); `update`
here runs them, so the algorithm file holds only its own math.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from pgjax.envs import EnvSpec, env_spec, make_env
from pgjax.training import replay
from pgjax.training.config import OffPolicyConfig
from pgjax.training.optimizers import learning_rate_schedule, make_optimizer
from pgjax.training.rollout import episode_metrics
from pgjax.training.types import (
    EnvCarry,
    Hyperparams,
    Metrics,
    OffPolicyState,
    Params,
    ReplayTransition,
)


class Learners(NamedTuple):
    """An algorithm's trainable state, each field a dict keyed by learner name."""

    params: dict[str, Params]
    target_params: dict[str, Params]
    opt_state: dict[str, Any]


class Episodes(NamedTuple):
    """What `pgjax.training.rollout.episode_metrics` reads, `[T, N]` each."""

    episode_done: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


# `explore(params, obs [N, ...], key, env_steps) -> actions [N, ...]` in the buffer's action
# space; `learn(params, target_params, opt_state, batch, key) -> (params, opt_state, metrics)`.
Explore = Callable[[dict, jax.Array, jax.Array, jax.Array], jax.Array]
Learn = Callable[[dict, dict, dict, ReplayTransition, jax.Array], tuple[dict, dict, Metrics]]


def make_environment(config: OffPolicyConfig):
    """The run's vectorised environments (no observation or reward normalisation: the replay
    buffer would mix transitions stored under different statistics)."""
    return make_env(config.env_id, config.num_envs)


def optimizer(config: OffPolicyConfig, hp: Hyperparams) -> optax.GradientTransformation:
    """Adam with gradient clipping at the run's constant learning rate."""
    schedule = learning_rate_schedule(hp["learning_rate"], 1, anneal=False)
    return make_optimizer(schedule, hp["max_grad_norm"], "adam")


def scale_action(spec: EnvSpec, action: jax.Array) -> jax.Array:
    """Maps actions in [−1, 1]^A (a tanh-squashed policy's) affinely onto the environment's
    bounds [low, high]^A."""
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)
    return low + 0.5 * (action + 1.0) * (high - low)


def random_actions(spec: EnvSpec, key: jax.Array, num: int) -> jax.Array:
    """`num` uniformly random actions: indices for discrete actions, points of [−1, 1]^A for
    continuous ones (the space `scale_action` maps onto the bounds)."""
    if spec.discrete:
        return jax.random.randint(key, (num,), 0, spec.action_dim)
    return jax.random.uniform(key, (num, spec.action_dim), minval=-1.0, maxval=1.0)


def init(
    config: OffPolicyConfig,
    key: jax.Array,
    hyperparams: dict | None,
    learners: Callable[[Hyperparams, jax.Array, jax.Array], Learners],
) -> OffPolicyState:
    """Resets the environments, builds the learners (`learners(hp, key, obs [N, ...])`) and an
    empty replay buffer of `buffer_size` transitions."""
    hp = config.resolve(hyperparams)
    spec = env_spec(config.env_id)
    env_key, learner_key, key = jax.random.split(key, 3)
    obs, env_state = make_environment(config).reset(env_key)
    trainable = learners(hp, learner_key, obs)
    action = jax.ShapeDtypeStruct(() if spec.discrete else (spec.action_dim,), _action_dtype(spec))
    flag = jax.ShapeDtypeStruct((), jnp.bool_)
    example = ReplayTransition(
        obs[0], action, jax.ShapeDtypeStruct((), jnp.float32), flag, flag, obs[0]
    )
    return OffPolicyState(
        *trainable,
        env=EnvCarry(env_state, obs),
        buffer=replay.init(example, config.buffer_size),
        key=key,
        hyperparams=hp,
        updates=jnp.int32(0),
    )


def _action_dtype(spec: EnvSpec):
    return jnp.int32 if spec.discrete else jnp.float32


def collect(
    config: OffPolicyConfig,
    state: OffPolicyState,
    key: jax.Array,
    explore: Explore,
    to_env: Callable[[jax.Array], jax.Array] = lambda action: action,
):
    """`num_steps` steps in every environment: uniformly random actions while fewer than
    `learning_starts` steps have been taken, `explore`'s after that. `to_env` maps a stored
    action to the environment's (e.g. `scale_action`).

    Returns:
      `(env carry, transitions [T·N, ...] in the order they happened, Episodes [T, N])`.
    """
    env, spec = make_environment(config), env_spec(config.env_id)
    first_step = state.updates * config.steps_per_update

    def step(carry: EnvCarry, inputs):
        t, step_key = inputs
        random_key, policy_key, env_key = jax.random.split(step_key, 3)
        env_steps = first_step + t * config.num_envs
        action = jnp.where(
            env_steps < config.learning_starts,
            random_actions(spec, random_key, config.num_envs),
            explore(state.params, carry.obs, policy_key, env_steps).astype(_action_dtype(spec)),
        )
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, carry.env_state, to_env(action)
        )
        if not config.bootstrap_truncation:
            terminated = terminated | truncated
        transition = ReplayTransition(
            carry.obs, action, reward, terminated, truncated, info["final_observation"]
        )
        episodes = Episodes(info["episode_done"], info["episode_return"], info["episode_length"])
        return EnvCarry(env_state, obs), (transition, episodes)

    inputs = (jnp.arange(config.num_steps), jax.random.split(key, config.num_steps))
    carry, (transitions, episodes) = jax.lax.scan(step, state.env, inputs)
    flat = jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), transitions)
    return carry, flat, episodes


def update(
    config: OffPolicyConfig, state: OffPolicyState, explore: Explore, learn: Learn, **kwargs
) -> tuple[OffPolicyState, Metrics]:
    """One update: `collect`, store, and (once `learning_starts` steps are stored)
    `gradient_steps` of `learn` with target updates. Losses are 0 before learning starts.
    `kwargs` go to `collect`."""
    hp = state.hyperparams
    collect_key, learn_key, key = jax.random.split(state.key, 3)
    env, transitions, episodes = collect(config, state, collect_key, explore, **kwargs)
    buffer = replay.add(state.buffer, transitions)
    learners = Learners(state.params, state.target_params, state.opt_state)

    def gradient_step(learners: Learners, inputs):
        index, step_key = inputs
        sample_key, learn_key = jax.random.split(step_key)
        batch = replay.sample(buffer, sample_key, config.batch_size)
        params, opt_state, metrics = learn(
            learners.params, learners.target_params, learners.opt_state, batch, learn_key
        )
        due = (index + 1) % config.target_update_every == 0
        targets = {
            name: jax.tree.map(
                lambda new, old: jnp.where(due, new, old),
                optax.incremental_update(params[name], target, hp["tau"]),
                target,
            )
            for name, target in learners.target_params.items()
        }
        return Learners(params, targets, opt_state), metrics

    def train(learners: Learners):
        first = state.updates * config.gradient_steps
        inputs = (
            first + jnp.arange(config.gradient_steps),
            jax.random.split(learn_key, config.gradient_steps),
        )
        learners, metrics = jax.lax.scan(gradient_step, learners, inputs)
        return learners, jax.tree.map(jnp.mean, metrics)

    # Computed and discarded until learning starts, rather than skipped with `lax.cond`: a cond
    # doubled the update's compile time on XLA:CPU (3.4 -> 7.1 s), and under `vmap` over seeds
    # it would run both branches anyway.
    trained, metrics = train(learners)
    ready = (state.updates + 1) * config.steps_per_update >= config.learning_starts
    learners = jax.tree.map(lambda new, old: jnp.where(ready, new, old), trained, learners)
    metrics = jax.tree.map(lambda m: jnp.where(ready, m, jnp.zeros_like(m)), metrics)
    state = OffPolicyState(*learners, env, buffer, key, hp, state.updates + 1)
    return state, {**episode_metrics(episodes), **metrics}
