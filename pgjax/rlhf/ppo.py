"""PPO for RLHF, as in InstructGPT (Ouyang et al., 2022, https://arxiv.org/abs/2203.02155) and
Ziegler et al. (2019, "Fine-tuning language models from human preferences",
https://arxiv.org/abs/1909.08593): every response token is an action, the reward model pays
at the last token, and the KL to the reference is a per-token penalty folded into the reward.

    for each update:
        sample responses y ~ π_old(· | x) to fresh prompts x                   (rollout)
        r_t = −β · k1_t,   k1_t = log π_old(y_t | ·) − log π_ref(y_t | ·),
              + r_φ(x, y) at the last generated token                       (shaped reward)
        Â, V̂ ← GAE(r, V_old) over the tokens, terminal at the last token        (advantages)
        for each epoch, for each minibatch of responses:
            L = clipped surrogate(π_θ/π_old, Â) + c_v · clipped value loss     (update)
        β ← proportional controller towards the target KL per response         (adaptive KL)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import pgjax
from pgjax.rlhf import pipeline
from pgjax.rlhf.config import PPOConfig
from pgjax.rlhf.evaluation import make_evaluate
from pgjax.rlhf.pipeline import RLHFState, Rollout
from pgjax.rlhf.sampling import forward
from pgjax.training.algorithm import Algorithm


class Batch(NamedTuple):
    """One rollout prepared for the PPO epochs, every field `[N, R]` but `prompts` `[N, S]`."""

    prompts: jax.Array
    responses: jax.Array
    mask: jax.Array
    log_probs: jax.Array  # log π_old
    values: jax.Array  # V_old, for value clipping
    advantages: jax.Array
    targets: jax.Array


def loss(config: PPOConfig, hp, params, batch: Batch):
    """The clipped surrogate and the clipped value loss, token means over the valid tokens."""
    now = forward(config.model(), params, batch.prompts, batch.responses, hp["temperature"])
    policy_loss = pgjax.ppo_clip_loss(
        now.log_probs, batch.log_probs, batch.advantages, clip_eps=hp["clip_eps"], mask=batch.mask
    )
    value_loss = pgjax.value_loss(
        now.values,
        batch.targets,
        old_values=batch.values,
        clip_eps=hp["clip_eps"],
        mask=batch.mask,
    )
    total = policy_loss + hp["value_coef"] * value_loss
    entropy = pgjax.Categorical(now.logits).entropy()
    return total, {
        "loss": total,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": pgjax.aggregate_loss(entropy, batch.mask),
        "approx_kl": pgjax.approx_kl(now.log_probs, batch.log_probs, batch.mask),
        "clip_fraction": pgjax.clip_fraction(
            now.log_probs, batch.log_probs, clip_eps=hp["clip_eps"], mask=batch.mask
        ),
    }


def token_advantages(data: Rollout, kl_coef, gamma, lambda_):
    """GAE over the response tokens of the KL-shaped reward.

    Returns:
      `(advantages, value targets, k1)`, each `[N, R]`; only the generated slots mean anything
      (the masks select: NaN or ±inf past a response's end reaches none of them).
    """
    kl = pgjax.kl_estimate(data.log_probs, data.ref_log_probs, "k1")
    last = jnp.arange(data.mask.shape[1]) == data.mask.sum(-1, keepdims=True) - 1
    rewards = jnp.where(data.mask, -kl_coef * kl, 0.0)
    rewards = rewards + jnp.where(last, data.score[:, None], 0.0)
    next_values = jnp.where(data.mask & ~last, jnp.roll(data.values, -1, axis=1), 0.0)
    advantages, targets = pgjax.gae(  # time-major: the tokens along axis 0
        rewards.T, data.values.T, next_values.T, last.T, jnp.zeros_like(last.T), gamma, lambda_
    )
    return advantages.T, targets.T, kl


def update(config: PPOConfig, state: RLHFState) -> tuple[RLHFState, dict]:
    """One PPO update on responses: a rollout, GAE over the tokens, the clipped epochs, β
    adapted."""
    hp = state.hyperparams
    rollout_key, epoch_key, key = jax.random.split(state.key, 3)
    data, metrics = pipeline.rollout(config, state, state.params, rollout_key)
    advantages, targets, kl = token_advantages(data, state.kl_coef, hp["gamma"], hp["gae_lambda"])
    batch = Batch(
        data.prompts,
        data.responses,
        data.mask,
        data.log_probs,
        data.values,
        pgjax.normalize_advantages(advantages, data.mask),
        targets,
    )
    params, opt_state, loss_metrics = pipeline.optimize(
        config, state, batch, lambda p, b: loss(config, hp, p, b), epoch_key
    )
    kl_coef = state.kl_coef
    if config.adaptive_kl:
        kl_coef = pgjax.adaptive_kl_coefficient(
            kl_coef,
            jnp.where(data.mask, kl, 0.0).sum(-1).mean(),
            hp["target_kl"],
            rule="proportional",
            gain=config.responses_per_update / hp["kl_horizon"],
        )
    metrics = {**metrics, **loss_metrics, "kl_coef": state.kl_coef}
    return state._replace(params=params, opt_state=opt_state, kl_coef=kl_coef, key=key), metrics


PPO = Algorithm(
    "rlhf-ppo",
    PPOConfig,
    pipeline.init,
    update,
    pipeline.act,
    evaluator=make_evaluate,
    target_metric=None,
)
make_train = PPO.make_train
