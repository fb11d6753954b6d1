"""GRPO, Dr. GRPO and RLOO for RLHF: G responses to each prompt, and the group as the baseline
(no value network). They differ in the advantage, where the KL goes and how token losses are
reduced, each as its paper has it:

    for each update:
        sample G responses y_1 … y_G ~ π_old(· | x) to each of N/G fresh prompts x (rollout)
        r_i = r_φ(x, y_i)
        GRPO:     Â_i = (r_i − mean r) / (std r + ε)                         (Shao et al., 2024)
                  L = seq_mean_token_mean[clipped surrogate + β · k3(π_θ, π_ref)]
        Dr. GRPO: Â_i = r_i − mean r                                         (Liu et al., 2025)
                  L = Σ_tokens [clipped surrogate + β · k3(π_θ, π_ref)] / (responses × R)
        RLOO:     r_i ← r_i − β Σ_t k1_t(π_old, π_ref);  Â_i = r_i − mean_{j≠i} r_j
                  L = seq_mean_token_sum[clipped surrogate]              (Ahmadian et al., 2024)
        for each epoch, for each minibatch of responses: θ ← Adam(θ, ∇L)

Every token of response i gets its Â_i. GRPO's std is the unbiased one (ddof = 1) as in TRL and
verl (the paper does not say; `std_ddof=0` gives the population std). RLOO's paper is
REINFORCE, whose gradient the clipped surrogate equals at the first step (ratio 1); later
minibatch steps clip each token's ratio, where TRL clips RLOO's sequence-level ratio
exp(Σ_t log π_θ − Σ_t log π_old).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import pgjax
from pgjax.rlhf import pipeline
from pgjax.rlhf.config import DrGRPOConfig, GroupConfig, GRPOConfig, RLOOConfig
from pgjax.rlhf.evaluation import make_evaluate
from pgjax.rlhf.pipeline import RLHFState, Rollout
from pgjax.rlhf.sampling import forward
from pgjax.training.algorithm import Algorithm


class Batch(NamedTuple):
    """One rollout prepared for the epochs, every field `[N, R]` but `prompts` `[N, S]`."""

    prompts: jax.Array
    responses: jax.Array
    mask: jax.Array
    log_probs: jax.Array  # log π_old
    ref_log_probs: jax.Array  # log π_ref
    advantages: jax.Array  # Â_i on every token of response i


def sequence_rewards(config: GroupConfig, data: Rollout, kl_coef) -> jax.Array:
    """`[N]` r_φ(x, y_i), less β Σ_t k1_t for RLOO, whose KL is in the reward."""
    if config.ESTIMATOR != "rloo":
        return data.score
    kl = pgjax.kl_estimate(data.log_probs, data.ref_log_probs, "k1")
    return data.score - kl_coef * jnp.where(data.mask, kl, 0.0).sum(-1)


def advantages(config: GroupConfig, rewards: jax.Array) -> jax.Array:
    """`[N]` the estimator's advantages of `[N]` rewards, groups of G consecutive."""
    groups = rewards.reshape(-1, config.group_size)
    if config.ESTIMATOR == "grpo":
        return pgjax.grpo_advantages(groups, ddof=config.std_ddof).reshape(-1)
    if config.ESTIMATOR == "dr_grpo":
        return pgjax.dr_grpo_advantages(groups).reshape(-1)
    return pgjax.rloo_advantages(groups).reshape(-1)


def loss(config: GroupConfig, hp, kl_coef, params, batch: Batch):
    """The clipped surrogate (+ β·k3 for GRPO and Dr. GRPO), reduced as the config says."""
    now = forward(config.model(), params, batch.prompts, batch.responses, hp["temperature"])
    reduce = {"mask": batch.mask, "reduction": config.loss_aggregation}
    if config.loss_aggregation == "constant_normalizer":
        reduce["normalizer"] = batch.mask.size  # responses × R
    policy_loss = pgjax.ppo_clip_loss(
        now.log_probs, batch.log_probs, batch.advantages, clip_eps=hp["clip_eps"], **reduce
    )
    total, metrics = policy_loss, {"policy_loss": policy_loss}
    if config.ESTIMATOR != "rloo":  # GRPO and Dr. GRPO: the KL is in the loss
        kl_loss = pgjax.kl_penalty_loss(now.log_probs, batch.ref_log_probs, "k3", **reduce)
        total, metrics = total + kl_coef * kl_loss, {**metrics, "kl_loss": kl_loss}
    entropy = pgjax.Categorical(now.logits).entropy()
    return total, {
        "loss": total,
        **metrics,
        "entropy": pgjax.aggregate_loss(entropy, batch.mask),
        "approx_kl": pgjax.approx_kl(now.log_probs, batch.log_probs, batch.mask),
        "clip_fraction": pgjax.clip_fraction(
            now.log_probs, batch.log_probs, clip_eps=hp["clip_eps"], mask=batch.mask
        ),
    }


def update(config: GroupConfig, state: RLHFState) -> tuple[RLHFState, dict]:
    """One update of GRPO, Dr. GRPO or RLOO: groups of responses, their advantages, the epochs."""
    hp = state.hyperparams
    rollout_key, epoch_key, key = jax.random.split(state.key, 3)
    data, metrics = pipeline.rollout(config, state, state.params, rollout_key, config.group_size)

    rewards = sequence_rewards(config, data, state.kl_coef)
    per_token = jnp.broadcast_to(advantages(config, rewards)[:, None], data.mask.shape)
    batch = Batch(
        data.prompts, data.responses, data.mask, data.log_probs, data.ref_log_probs, per_token
    )
    params, opt_state, loss_metrics = pipeline.optimize(
        config, state, batch, lambda p, b: loss(config, hp, state.kl_coef, p, b), epoch_key
    )
    metrics = {**metrics, **loss_metrics, "kl_coef": state.kl_coef}
    return state._replace(params=params, opt_state=opt_state, key=key), metrics


def _algorithm(name: str, config_class: type[GroupConfig]) -> Algorithm:
    return Algorithm(
        name,
        config_class,
        pipeline.init,
        update,
        pipeline.act,
        evaluator=make_evaluate,
        target_metric=None,
    )


GRPO = _algorithm("rlhf-grpo", GRPOConfig)
DR_GRPO = _algorithm("rlhf-dr-grpo", DrGRPOConfig)
RLOO = _algorithm("rlhf-rloo", RLOOConfig)
