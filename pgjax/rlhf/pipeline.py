"""What every RL algorithm of the RLHF pipeline shares: its config, its state, the stages before
RL (in `init`), the rollout, the evaluation and the epochs of minibatch steps.

    init:    pretrain the reference π_ref on the base distribution       (pgjax.rlhf.pretraining)
             fit the reward model r_φ to labelled pairs                  (pgjax.rlhf.reward_model)
             (not for a verifiable task: its reward is an exact check)   (pgjax.rlhf.verifiable)
             the policy starts as π_ref
    update:  rollout: sample responses, score them with r_φ (or the check), log-probs under π_θ
             and π_ref
             the algorithm's advantages and loss                         (ppo.py, grpo.py)

The stages are jitted functions of the run's key, so a run (`init` then `update`s) vmaps over
seeds and hyperparameters and runs under `pgjax.runs` like every other algorithm.
The hidden true reward of the task appears only in the metrics, never in a loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import pgjax
from pgjax.rlhf import verifiable
from pgjax.rlhf.config import RLHFConfig
from pgjax.rlhf.pretraining import pretrain
from pgjax.rlhf.reward_model import train_reward_model
from pgjax.rlhf.sampling import Responses, forward, generate
from pgjax.rlhf.task import (
    Task,
    response_lengths,
    sample_prompts,
    token_scores,
    true_reward,
)
from pgjax.training.optimizers import gradient_step, make_optimizer, run_epochs
from pgjax.training.types import Hyperparams, Metrics, Params


class RLHFState(NamedTuple):
    """Everything an RLHF run needs to continue (checkpointed whole)."""

    params: Params  # the policy π_θ; its scalar head is PPO's per-token value
    opt_state: Any
    reference: Params  # π_ref, the pretrained policy (frozen)
    reward_model: Params | None  # r_φ (frozen); None for a verifiable task
    kl_coef: jax.Array  # β, float32 (adapted by PPO's controller)
    key: jax.Array
    hyperparams: Hyperparams
    # The sampler's last k parameter sets, oldest first, when it lags k updates behind (grpo.py).
    lagged: Params | None = None


def optimizer(hp: Hyperparams) -> optax.GradientTransformation:
    """Adam at the run's learning rate, with gradients clipped to `max_grad_norm`."""
    return make_optimizer(lambda count: hp["learning_rate"], hp["max_grad_norm"])


def init(config: RLHFConfig, key: jax.Array, hyperparams: dict | None = None) -> RLHFState:
    """Stages 1-3: pretrains the reference, fits the reward model (none for a verifiable task),
    and starts RL from the reference (`start`). Keys are split the same way for every
    algorithm, so one seed gives every algorithm the same reference and reward model."""
    hp = config.resolve(hyperparams)
    task, model = config.task_spec(), config.model()
    pretrain_key, reward_key, key = jax.random.split(key, 3)
    reference, _ = pretrain(
        model,
        task,
        pretrain_key,
        steps=config.pretrain_steps,
        batch_size=config.pretrain_batch_size,
        learning_rate=hp["pretrain_learning_rate"],
        max_grad_norm=hp["max_grad_norm"],
    )
    if config.verifiable:
        return start(config, key, reference, None, hp)
    reward_model, _ = train_reward_model(
        model,
        task,
        reference,
        reward_key,
        num_pairs=config.preference_pairs,
        epochs=config.reward_model_epochs,
        batch_size=config.reward_model_batch_size,
        learning_rate=hp["reward_model_learning_rate"],
        max_grad_norm=hp["max_grad_norm"],
        noise=hp["preference_noise"],
    )
    return start(config, key, reference, reward_model, hp)


def start(config: RLHFConfig, key, reference, reward_model, hyperparams=None) -> RLHFState:
    """The state RL starts from: the policy is the reference, β the config's `kl_coef`."""
    hp = config.resolve(hyperparams)
    opt_state = optimizer(hp).init(reference)
    return RLHFState(reference, opt_state, reference, reward_model, hp["kl_coef"], key, hp)


def act(config: RLHFConfig, state: RLHFState, obs: jax.Array, key, deterministic: bool):
    """Responses `[N, R]` of the policy to prompts `obs` `[N, S]` (greedy when
    `deterministic`)."""
    model, hp = config.model(), state.hyperparams
    R = config.response_length
    return generate(model, state.params, obs, key, R, hp["temperature"], deterministic).tokens


def response_metrics(task: Task, prompts, responses: Responses, logits, ref_logits, score):
    """What the evaluation reports about a batch of responses (means over it): the reward
    model's score, the hidden true reward, KL(π ‖ π_ref) per response and per token (exact at
    every step, Σ_v π log π/π_ref, summed over the generated slots), the share of response
    tokens that are prompt digits, the response length and the share cut at the maximum
    length."""
    kl = pgjax.Categorical(logits).kl(pgjax.Categorical(ref_logits))
    kl_sequence = jnp.where(responses.mask, kl, 0.0).sum(-1)
    lengths = response_lengths(responses.tokens)
    on_topic = (token_scores(task, prompts, responses.tokens) == 1).sum()
    return {
        "rm_score": score.mean(),
        "true_reward": true_reward(task, prompts, responses.tokens).mean(),
        "on_topic": on_topic / jnp.maximum(lengths.sum(), 1),
        "kl_sequence": kl_sequence.mean(),
        "kl_token": kl_sequence.sum() / jnp.maximum(responses.mask.sum(), 1),
        "response_length": lengths.mean(),
        "truncated": (lengths == task.response_length).mean(),
    }


class Rollout(NamedTuple):
    """A batch of sampled responses and what the algorithms need of them (`[N, R]` unless
    stated; groups of G responses to one prompt are consecutive)."""

    prompts: jax.Array  # [N, S]
    responses: jax.Array  # int32, PAD after EOS
    mask: jax.Array  # bool, the generated slots
    log_probs: jax.Array  # log π_old(y_t | x, y_<t)
    ref_log_probs: jax.Array  # log π_ref(y_t | x, y_<t)
    values: jax.Array  # π_old's scalar head, V(x, y_<t)
    score: jax.Array  # [N], r_φ(x, y), or the verifiable reward


def rollout(
    config: RLHFConfig, state: RLHFState, params, key: jax.Array, group_size: int = 1
) -> tuple[Rollout, Metrics]:
    """Samples `group_size` responses of `params` to each of `responses_per_update /
    group_size` fresh prompts and scores them (by the reward model, or exactly for a verifiable
    task); the metrics are `response_metrics` (`verifiable.response_metrics`)."""
    task, model, hp = config.task_spec(), config.model(), state.hyperparams
    prompt_key, sample_key = jax.random.split(key)
    prompts = sample_prompts(task, prompt_key, config.responses_per_update // group_size)
    prompts = jnp.repeat(prompts, group_size, axis=0)
    responses = generate(
        model, params, prompts, sample_key, config.response_length, hp["temperature"]
    )
    policy = forward(model, params, prompts, responses.tokens, hp["temperature"])
    reference = forward(model, state.reference, prompts, responses.tokens, hp["temperature"])
    if config.verifiable:
        score = verifiable.reward(task, prompts, responses.tokens)
        metrics = verifiable.response_metrics(
            task, prompts, responses, policy.logits, reference.logits
        )
    else:
        score = forward(model, state.reward_model, prompts, responses.tokens).score
        metrics = response_metrics(task, prompts, responses, policy.logits, reference.logits, score)
    data = Rollout(
        prompts,
        responses.tokens,
        responses.mask,
        policy.log_probs,
        reference.log_probs,
        policy.values,
        score,
    )
    return data, metrics


def optimize(
    config: RLHFConfig,
    state: RLHFState,
    batch,
    loss: Callable[[Params, Any], tuple[jax.Array, Metrics]],
    key: jax.Array,
) -> tuple[Params, Any, Metrics]:
    """`num_epochs` passes of `num_minibatches` Adam steps on `loss(params, minibatch)` over
    `batch` (leaves `[N, ...]`, shuffled by response). Returns the new parameters, optimiser
    state and the metrics averaged over the steps."""
    adam = optimizer(state.hyperparams)

    def step(carry, minibatch):
        params, opt_state, metrics = gradient_step(loss, adam, *carry, minibatch)
        return (params, opt_state), metrics

    rows = jax.tree.map(lambda x: x[None], batch)  # run_epochs shuffles `[T, N, ...]` leaves
    carry = (state.params, state.opt_state)
    (params, opt_state), metrics = run_epochs(
        key, carry, rows, config.num_epochs, config.num_minibatches, step
    )
    return params, opt_state, metrics
