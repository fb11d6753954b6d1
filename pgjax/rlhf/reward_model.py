"""Stage 3 of the pipeline: a reward model fitted to preference labels (Bradley-Terry).

As in InstructGPT (Ouyang et al., 2022), the reward model is the reference's transformer with a
scalar head, initialised from the reference, and reads r(x, y) at the response's last token. It
is trained for a few epochs on a fixed set of labelled pairs (`pgjax.rlhf.task.sample_preferences`:
base responses, labels with Bradley-Terry noise) by minimising `pgjax.bradley_terry_loss`. Its
accuracy is measured on fresh pairs against the noiseless true preference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import pgjax
from pgjax.rlhf.model import Transformer
from pgjax.rlhf.sampling import forward
from pgjax.rlhf.task import Preferences, Task, sample_preferences, true_reward
from pgjax.training.optimizers import gradient_step, make_optimizer, run_epochs


def score(model: Transformer, params, prompts, responses) -> jax.Array:
    """`[N]` r(x, y), the scalar head at each response's last generated token."""
    return forward(model, params, prompts, responses).score


def reward_model_loss(model: Transformer, params, pairs: Preferences):
    """The Bradley-Terry loss of a batch of pairs, and the share the model ranks as labelled."""
    prompts = jnp.concatenate([pairs.prompts, pairs.prompts])
    scores = score(model, params, prompts, jnp.concatenate([pairs.chosen, pairs.rejected]))
    chosen, rejected = jnp.split(scores, 2)
    loss = pgjax.bradley_terry_loss(chosen, rejected)
    return loss, {"loss": loss, "label_accuracy": (chosen > rejected).mean()}


def train_reward_model(
    model: Transformer,
    task: Task,
    reference,
    key: jax.Array,
    *,
    num_pairs: int,
    epochs: int,
    batch_size: int,
    learning_rate,
    max_grad_norm,
    noise,
):
    """Fits a reward model, starting from the reference's parameters.

    Args:
      reference: the pretrained parameters it starts from (its scalar head is still zero).
      num_pairs, epochs, batch_size: static; the labelled pairs, passes over them, pairs per step
        (`batch_size` divides `num_pairs`).
      learning_rate, max_grad_norm: Adam's, constant (may be traced).
      noise: τ of the labels' Bradley-Terry noise (may be traced).

    Returns:
      `(params, metrics)`, the metrics averaged over every step.
    """
    data_key, epoch_key = jax.random.split(key)
    pairs = sample_preferences(task, data_key, num_pairs, noise)
    optimizer = make_optimizer(lambda count: learning_rate, max_grad_norm)

    def minibatch_step(carry, minibatch):
        params, opt_state, metrics = gradient_step(
            lambda p: reward_model_loss(model, p, minibatch), optimizer, *carry
        )
        return (params, opt_state), metrics

    batch = jax.tree.map(lambda x: x[None], pairs)  # run_epochs shuffles `[T, N, ...]` leaves
    carry = (reference, optimizer.init(reference))
    (params, _), metrics = run_epochs(
        epoch_key, carry, batch, epochs, num_pairs // batch_size, minibatch_step
    )
    return params, metrics


def preference_accuracy(model: Transformer, params, task: Task, key, num_pairs: int) -> jax.Array:
    """Held-out pairwise accuracy: on `num_pairs` fresh pairs whose true rewards differ, the
    share the reward model orders as the true reward does (0.5 is chance)."""
    pairs = sample_preferences(task, key, num_pairs, 1.0)
    true_margin = true_reward(task, pairs.prompts, pairs.chosen) - true_reward(
        task, pairs.prompts, pairs.rejected
    )
    margin = score(model, params, pairs.prompts, pairs.chosen) - score(
        model, params, pairs.prompts, pairs.rejected
    )
    counted = true_margin != 0
    agree = jnp.sign(margin) == jnp.sign(true_margin)
    return jnp.where(counted, agree, False).sum() / jnp.maximum(counted.sum(), 1)
