"""The machinery every on-policy training loop shares: network, environment and optimiser
construction, the actor-critic loss and gradient step, epochs of shuffled minibatches, the outer
update loop and progress reporting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import pgjax
from pgjax.envs import EnvSpec, env_spec, make_env
from pgjax.networks import ActorCritic, init_network
from pgjax.rollout import EnvCarry

ProgressFn = Callable[[int, dict], None]


class TrainState(NamedTuple):
    """What the outer loop carries: parameters, optimiser state, environments, PRNG key."""

    params: Any
    opt_state: Any
    env: EnvCarry
    key: jax.Array


def make_network(config) -> tuple[ActorCritic, EnvSpec]:
    spec = env_spec(config.env_id)
    network = ActorCritic(
        action_dim=spec.action_dim,
        discrete=spec.discrete,
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        shared=config.shared_network,
        obs_ndim=len(spec.observation_shape),
    )
    return network, spec


def init_train_state(config, network, key: jax.Array, gamma, init_optimizer):
    """Builds the config's wrapped environments, resets them and initialises the network.

    `init_optimizer(params) -> opt_state` (e.g. `optimizer.init`, or one that optimises a
    subtree). `gamma` is the (possibly traced) discount that reward scaling uses.

    Returns:
      `(env, TrainState)`.
    """
    env = make_env(
        config.env_id,
        config.num_envs,
        normalize_observations=config.normalize_observations,
        scale_rewards=config.scale_rewards,
        gamma=gamma,
    )
    init_key, env_key, key = jax.random.split(key, 3)
    obs, env_state = env.reset(env_key)
    params = init_network(network, init_key, obs)
    return env, TrainState(params, init_optimizer(params), EnvCarry(env_state, obs), key)


def learning_rate_schedule(learning_rate, num_gradient_steps: int, anneal: bool):
    """Constant, or linearly annealed to 0 over training (Schulman et al., 2017)."""
    if not anneal:
        return lambda count: learning_rate * jnp.ones_like(count, jnp.float32)
    return lambda count: learning_rate * (1.0 - count / num_gradient_steps)


def make_optimizer(
    schedule, max_grad_norm, kind: str = "adam", eps: float = 1e-5
) -> optax.GradientTransformation:
    """Gradient clipping by global norm, then Adam or RMSprop; hyperparameters may be traced.

    The parameters are updated as one flat vector (`optax.flatten`): the same arithmetic, but a
    few fused kernels instead of several per parameter array, which compiles faster on XLA:CPU.
    """
    step = {"adam": optax.adam, "rmsprop": optax.rmsprop}[kind]
    clipped = optax.chain(optax.clip_by_global_norm(max_grad_norm), step(schedule, eps=eps))
    return optax.flatten(clipped)


class PolicyGradientBatch(NamedTuple):
    """The inputs of `actor_critic_loss`, every field `[T, N, ...]`."""

    obs: jax.Array
    action: jax.Array
    advantages: jax.Array  # Â_t, constants
    targets: jax.Array  # value targets V̂_t, constants
    mask: jax.Array | None  # bool, the steps that count (None: all of them)


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
    distribution, values = network.apply(params, batch.obs)
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


def gradient_step(loss_fn, optimizer: optax.GradientTransformation, params, opt_state, *args):
    """One optimiser step on `loss_fn(params, *args) -> (loss, metrics)`.

    Returns:
      `(params, opt_state, metrics)`.
    """
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, *args)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, metrics


def actor_critic_update(
    loss_fn, optimizer, state: TrainState, batch, env: EnvCarry, key: jax.Array, metrics: dict
):
    """One gradient step of `loss_fn(params, batch)` from `state`, then the next `TrainState`
    (with the environments `env` and PRNG `key`) and `metrics` joined by the loss metrics."""
    params, opt_state, loss_metrics = gradient_step(
        loss_fn, optimizer, state.params, state.opt_state, batch
    )
    return TrainState(params, opt_state, env, key), {**metrics, **loss_metrics}


def shuffled_minibatches(key: jax.Array, batch, num_minibatches: int):
    """Flattens `[T, N, ...]` leaves to `[T·N, ...]`, permutes them and splits them into
    `[num_minibatches, T·N / num_minibatches, ...]`."""
    size = jax.tree.leaves(batch)[0].shape[0] * jax.tree.leaves(batch)[0].shape[1]
    permutation = jax.random.permutation(key, size)

    def split(x):
        x = x.reshape((size, *x.shape[2:]))[permutation]
        return x.reshape((num_minibatches, size // num_minibatches, *x.shape[1:]))

    return jax.tree.map(split, batch)


def run_epochs(key, state, batch, num_epochs: int, num_minibatches: int, minibatch_step):
    """`num_epochs` passes over `batch` in shuffled minibatches.

    `minibatch_step(state, minibatch) -> (state, metrics)`; returns the final state and the
    metrics averaged over every minibatch step.
    """

    def epoch(state, epoch_key):
        minibatches = shuffled_minibatches(epoch_key, batch, num_minibatches)
        return jax.lax.scan(minibatch_step, state, minibatches)

    state, metrics = jax.lax.scan(epoch, state, jax.random.split(key, num_epochs))
    return state, jax.tree.map(jnp.mean, metrics)


def report_progress(progress: ProgressFn | None, update: jax.Array, metrics: dict) -> None:
    """Sends `(update, metrics)` to the host from inside the jitted loop (no-op when None)."""
    if progress is not None:
        jax.debug.callback(lambda u, m: progress(int(u), m), update, metrics)


def run_updates(update_step, state, num_updates: int, progress: ProgressFn | None = None):
    """The outer loop: `num_updates` calls of `update_step(state, update) -> (state, metrics)`,
    with metrics (dicts of scalars) stacked to `[num_updates]` and reported as they are made."""

    def body(state, update):
        state, metrics = update_step(state, update)
        report_progress(progress, update, metrics)
        return state, metrics

    return jax.lax.scan(body, state, jnp.arange(num_updates))
