"""Optimisers and gradient steps: the schedule, the clipped Adam/RMSprop, one step on a loss,
and epochs of shuffled minibatches."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from pgjax.training.parallel import shard_envs


def learning_rate_schedule(learning_rate, num_gradient_steps: int, anneal: bool):
    """Constant, or linearly annealed to 0 over `num_gradient_steps` (Schulman et al., 2017).
    `learning_rate` may be traced."""
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


def steps_taken(opt_state) -> jax.Array:
    """The number of steps an optimiser from `make_optimizer` has taken (int32 scalar): the
    count its schedule reads, so `schedule(steps_taken(opt_state))` is the learning rate of its
    next step."""
    (schedule_state,) = [
        s
        for s in jax.tree.leaves(
            opt_state, is_leaf=lambda x: isinstance(x, optax.ScaleByScheduleState)
        )
        if isinstance(s, optax.ScaleByScheduleState)
    ]
    return schedule_state.count


def gradient_step(loss_fn, optimizer: optax.GradientTransformation, params, opt_state, *args):
    """One optimiser step on `loss_fn(params, *args) -> (loss, metrics)`.

    Returns:
      `(params, opt_state, metrics)`, the metrics joined by `grad_norm`, the global norm of the
      gradient before clipping.
    """
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, *args)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
    metrics = {**metrics, "grad_norm": norm}
    return optax.apply_updates(params, updates), opt_state, metrics


def shuffled_minibatches(key: jax.Array, batch, num_minibatches: int):
    """Flattens `[T, N, ...]` leaves to `[T·N, ...]`, permutes them and splits them into
    `[num_minibatches, T·N / num_minibatches, ...]` (in a data-parallel run each device holds
    its share of every minibatch: `pgjax.training.parallel.shard_envs`)."""
    size = jax.tree.leaves(batch)[0].shape[0] * jax.tree.leaves(batch)[0].shape[1]
    permutation = jax.random.permutation(key, size)

    def split(x):
        x = x.reshape((size, *x.shape[2:]))[permutation]
        return x.reshape((num_minibatches, size // num_minibatches, *x.shape[1:]))

    return shard_envs(jax.tree.map(split, batch), axis=1)


def shuffled_env_minibatches(key: jax.Array, batch, num_minibatches: int):
    """Permutes the environments (axis 1) of `[T, N, ...]` leaves and splits them into
    `[num_minibatches, T, N / num_minibatches, ...]`: each minibatch holds whole sequences, as
    a recurrent policy's learner re-runs them (truncated backpropagation through time over the
    rollout)."""
    num_envs = jax.tree.leaves(batch)[0].shape[1]
    permutation = jax.random.permutation(key, num_envs)

    def split(x):
        x = x[:, permutation]
        x = x.reshape((x.shape[0], num_minibatches, num_envs // num_minibatches, *x.shape[2:]))
        return jnp.swapaxes(x, 0, 1)

    return shard_envs(jax.tree.map(split, batch), axis=2)


def run_epochs(
    key, carry, batch, num_epochs: int, num_minibatches: int, minibatch_step, by_env=False
):
    """`num_epochs` passes over `batch` in shuffled minibatches (of steps; of whole
    environments with `by_env`, `shuffled_env_minibatches`).

    `minibatch_step(carry, minibatch) -> (carry, metrics)`; returns the final carry and the
    metrics averaged over every minibatch step.
    """
    shuffle = shuffled_env_minibatches if by_env else shuffled_minibatches

    def epoch(carry, epoch_key):
        minibatches = shuffle(epoch_key, batch, num_minibatches)
        return jax.lax.scan(minibatch_step, carry, minibatches)

    carry, metrics = jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
    return carry, jax.tree.map(jnp.mean, metrics)
