"""Stage 2 of the pipeline: the reference policy, pretrained on the base distribution by maximum
likelihood (what supervised fine-tuning is in InstructGPT).

Every step draws a fresh batch of prompts and base responses (the task's `base_responses`:
`pgjax.rlhf.task`, `pgjax.rlhf.verifiable`) and takes one
Adam step on the mean negative log-likelihood of the response tokens (EOS included; PAD after it
masked out). One `lax.scan`; jittable and vmappable over seeds.
"""

from __future__ import annotations

import jax

import pgjax
from pgjax.rlhf.model import Transformer, init_params
from pgjax.rlhf.sampling import forward
from pgjax.rlhf.task import Task, response_mask, sample_prompts
from pgjax.rlhf.verifiable import SortTask
from pgjax.training.optimizers import gradient_step, learning_rate_schedule, make_optimizer


def language_model_loss(model: Transformer, params, prompts, responses):
    r"""Mean negative log-likelihood of the response tokens given the prompt.

    .. math:: L = -\frac{1}{\sum m} \sum_{i,t} m_{it} \log \pi(y_{it} \mid x_i, y_{i,<t})

    Returns:
      `(loss, {"loss": loss})`.
    """
    log_probs = forward(model, params, prompts, responses).log_probs
    loss = pgjax.aggregate_loss(-log_probs, response_mask(responses), "mean")
    return loss, {"loss": loss}


def pretrain(
    model: Transformer,
    task: Task | SortTask,
    key: jax.Array,
    *,
    steps: int,
    batch_size: int,
    learning_rate,
    max_grad_norm,
):
    """Initialises `model` and fits it to the base distribution.

    Args:
      steps, batch_size: static; Adam steps and sequences per step.
      learning_rate: peak learning rate, annealed linearly to 0 (may be traced).
      max_grad_norm: gradient clipping (may be traced).

    Returns:
      `(params, metrics)`: the reference policy's parameters and the loss of every step
      `{"loss": [steps]}`.
    """
    init_key, key = jax.random.split(key)
    params = init_params(model, init_key)
    optimizer = make_optimizer(learning_rate_schedule(learning_rate, steps, True), max_grad_norm)

    def step(carry, step_key):
        params, opt_state = carry
        prompt_key, response_key = jax.random.split(step_key)
        prompts = sample_prompts(task, prompt_key, batch_size)
        responses = task.base_responses(response_key, prompts)
        params, opt_state, metrics = gradient_step(
            lambda p: language_model_loss(model, p, prompts, responses),
            optimizer,
            params,
            opt_state,
        )
        return (params, opt_state), {"loss": metrics["loss"]}

    carry = (params, optimizer.init(params))
    (params, _), metrics = jax.lax.scan(step, carry, jax.random.split(key, steps))
    return params, metrics
