"""The machinery every on-policy training loop shares: network and optimiser construction,
epochs of shuffled minibatches, the outer update loop and progress reporting."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from pgjax.envs import EnvSpec, env_spec
from pgjax.networks import ActorCritic

ProgressFn = Callable[[int, dict], None]


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


def learning_rate_schedule(learning_rate, num_gradient_steps: int, anneal: bool):
    """Constant, or linearly annealed to 0 over training (Schulman et al., 2017)."""
    if not anneal:
        return lambda count: learning_rate * jnp.ones_like(count, jnp.float32)
    return lambda count: learning_rate * (1.0 - count / num_gradient_steps)


def make_optimizer(
    schedule, max_grad_norm, kind: str = "adam", eps: float = 1e-5
) -> optax.GradientTransformation:
    """Gradient clipping by global norm, then Adam or RMSprop; hyperparameters may be traced."""
    step = {"adam": optax.adam, "rmsprop": optax.rmsprop}[kind]
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), step(schedule, eps=eps))


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
