"""The group algorithms for RLHF: G responses to each prompt, and the group as the baseline (no
value network). GRPO, Dr. GRPO, RLOO, DAPO, GSPO and CISPO differ in the advantage, the policy
loss, where the KL goes and how token losses are reduced, each as its paper has it:

    for each update:
        sample G responses y_1 … y_G ~ μ(· | x) to each of N/G fresh prompts x       (rollout)
        r_i = r_φ(x, y_i), or the verifiable reward (1 if y_i is right)
        GRPO:     Â_i = (r_i − mean r) / (std r + ε)                             (Shao et al., 2024)
                  L = seq_mean_token_mean[clipped surrogate + β · k3(π_θ, π_ref)]
        Dr. GRPO: Â_i = r_i − mean r                                             (Liu et al., 2025)
                  L = Σ_tokens [clipped surrogate + β · k3(π_θ, π_ref)] / (responses × R)
        RLOO:     r_i ← r_i − β Σ_t k1_t(π_old, π_ref);  Â_i = r_i − mean_{j≠i} r_j
                  L = seq_mean_token_sum[clipped surrogate]          (Ahmadian et al., 2024)
        DAPO:     r_i ← r_i + R_length(|y_i|) (soft overlong penalty);  GRPO's Â   (Yu et al., 2025)
                  groups with equal rewards masked out (dynamic sampling)
                  L = token mean[surrogate clipped to [1 − ε_low, 1 + ε_high]], no KL
        GSPO:     GRPO's Â;  s_i = exp(mean_t log π_θ/π_old), one ratio per response (Zheng et al.,
                  L = mean_i[clipped surrogate of s_i], no KL                       2025)
        CISPO:    GRPO's Â;  L = token mean[−sg(clip(ρ_t)) Â_i log π_θ], no KL       (MiniMax, 2025)
        for each epoch, for each minibatch of responses: θ ← Adam(θ, ∇L)

Every token of response i gets its Â_i. GRPO's std is the unbiased one (ddof = 1) as in TRL and
verl (the paper does not say; `std_ddof=0` gives the population std). RLOO's paper is
REINFORCE, whose gradient the clipped surrogate equals at the first step (ratio 1); later
minibatch steps clip each token's ratio, where TRL clips RLOO's sequence-level ratio
exp(Σ_t log π_θ − Σ_t log π_old). DAPO's pieces are fields of every group config, so any of
these algorithms can take clip-higher, dynamic sampling or the overlong penalty.

Dynamic sampling under jit. DAPO keeps sampling prompts until the batch holds N/G groups whose
rewards vary (`pgjax.dynamic_sampling_mask`), so every update learns from a full batch; the
number of samples it draws is random. A jitted update has fixed shapes, so here a group whose
rewards are all equal is masked out of the loss instead: the update learns from fewer responses
when many groups are solved (or hopeless), and the token mean divides by the kept tokens only
(the same per-token weights DAPO's full batch would give those groups). `kept_groups` reports
the share kept.

Stale rollouts. With `rollout_lag = k` the responses are sampled by μ = π_{θ_{u−k}}, the policy
of k updates ago, kept in a ring of the last k parameter sets in the state (IMPALA's
deterministic lag, `pgjax.algorithms.impala`), so the update stays one jittable, resumable
function. The learner recomputes π_old = π_θ on the sampled tokens (the ratio of the surrogate
is π_θ/π_old, as when verl recomputes the old log-probs), and `rollout_correction` says what it
does about μ ≠ π_old: nothing, truncated importance weights min(π_old/μ, C) on the advantages
(`pgjax.truncated_importance_weights`), or masking the tokens whose ratio is outside
[mask_low, mask_high] (`pgjax.importance_ratio_mask`); GSPO takes both at the sequence level.
`behaviour_kl` is the k3 estimate of KL(μ ‖ π_old) per token on the samples.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import pgjax
from pgjax.rlhf import pipeline
from pgjax.rlhf.config import (
    CISPOConfig,
    DAPOConfig,
    DrGRPOConfig,
    GroupConfig,
    GRPOConfig,
    GSPOConfig,
    RLOOConfig,
)
from pgjax.rlhf.evaluation import make_evaluate
from pgjax.rlhf.pipeline import RLHFState, Rollout
from pgjax.rlhf.sampling import forward
from pgjax.rlhf.task import response_lengths
from pgjax.training.algorithm import Algorithm


class Batch(NamedTuple):
    """One rollout prepared for the epochs, every field `[N, R]` but `prompts` `[N, S]`."""

    prompts: jax.Array
    responses: jax.Array
    mask: jax.Array  # the generated slots the loss counts
    log_probs: jax.Array  # log π_old
    ref_log_probs: jax.Array  # log π_ref
    advantages: jax.Array  # Â_i on every token of response i (times the IS weight, if any)


def sequence_rewards(config: GroupConfig, data: Rollout, kl_coef) -> jax.Array:
    """`[N]` r_φ(x, y_i) (or the verifiable reward), less β Σ_t k1_t for RLOO, whose KL is in
    the reward, plus DAPO's soft overlong penalty when `overlong_buffer` > 0 (over the longest
    answer before EOS, R − 1 tokens; a response cut at R gets −1)."""
    rewards = data.score
    if config.ESTIMATOR == "rloo":
        kl = pgjax.kl_estimate(data.log_probs, data.ref_log_probs, "k1")
        rewards = rewards - kl_coef * jnp.where(data.mask, kl, 0.0).sum(-1)
    if config.overlong_buffer:
        lengths = response_lengths(data.responses)
        R = config.response_length
        rewards = rewards + pgjax.overlong_penalty(lengths, R - 1, config.overlong_buffer)
    return rewards


def advantages(config: GroupConfig, rewards: jax.Array) -> jax.Array:
    """`[N]` the estimator's advantages of `[N]` rewards, groups of G consecutive."""
    groups = rewards.reshape(-1, config.group_size)
    if config.ESTIMATOR == "grpo":
        return pgjax.grpo_advantages(groups, ddof=config.std_ddof).reshape(-1)
    if config.ESTIMATOR == "dr_grpo":
        return pgjax.dr_grpo_advantages(groups).reshape(-1)
    return pgjax.rloo_advantages(groups).reshape(-1)


def kept_groups(config: GroupConfig, scores: jax.Array) -> jax.Array:
    """`[N]` bool: response i's group has task rewards `scores` `[N]` that are not all equal
    (`pgjax.dynamic_sampling_mask`, broadcast to the group's responses)."""
    keep = pgjax.dynamic_sampling_mask(scores.reshape(-1, config.group_size))
    return jnp.repeat(keep, config.group_size)


def policy_loss(config: GroupConfig, hp, log_probs, batch: Batch, reduce: dict):
    """The config's surrogate: PPO's clipped ratio per token (with clip-higher), GSPO's clipped
    sequence ratio, or CISPO's clipped stop-gradient weight."""
    if config.SURROGATE == "cispo":
        return pgjax.cispo_loss(
            log_probs,
            batch.log_probs,
            batch.advantages,
            clip_eps_low=hp["clip_eps"],
            clip_eps_high=hp["clip_eps_high"],
            **reduce,
        )
    sequence = config.SURROGATE == "gspo"
    return pgjax.ppo_clip_loss(
        log_probs,
        batch.log_probs,
        batch.advantages[:, 0] if sequence else batch.advantages,  # Â_i is on every token
        clip_eps=hp["clip_eps"],
        clip_eps_high=hp["clip_eps_high"],
        sequence_level=sequence,
        **reduce,
    )


def loss(config: GroupConfig, hp, kl_coef, params, batch: Batch):
    """The policy loss (+ β·k3 but for RLOO), reduced as the config says."""
    now = forward(config.model(), params, batch.prompts, batch.responses, hp["temperature"])
    reduce = {"mask": batch.mask, "reduction": config.loss_aggregation}
    if config.loss_aggregation == "constant_normalizer":
        reduce["normalizer"] = batch.mask.size  # responses × R
    surrogate = policy_loss(config, hp, now.log_probs, batch, reduce)
    total, metrics = surrogate, {"policy_loss": surrogate}
    if config.ESTIMATOR != "rloo":  # the KL is in the loss (β = 0 for DAPO, GSPO, CISPO)
        kl_loss = pgjax.kl_penalty_loss(now.log_probs, batch.ref_log_probs, "k3", **reduce)
        total, metrics = total + kl_coef * kl_loss, {**metrics, "kl_loss": kl_loss}
    entropy = pgjax.Categorical(now.logits).entropy()
    clip = {"clip_eps": hp["clip_eps"], "clip_eps_high": hp["clip_eps_high"], "mask": batch.mask}
    return total, {
        "loss": total,
        **metrics,
        "entropy": pgjax.aggregate_loss(entropy, batch.mask),
        "approx_kl": pgjax.approx_kl(now.log_probs, batch.log_probs, batch.mask),
        "clip_fraction": pgjax.clip_fraction(now.log_probs, batch.log_probs, **clip),
    }


def lagged(config: GroupConfig, state: RLHFState):
    """(the sampler's parameters θ_{u−k}, the ring after θ_u joins it); (θ_u, None) for k = 0."""
    if not config.rollout_lag:
        return state.params, None
    oldest = jax.tree.map(lambda ring: ring[0], state.lagged)
    ring = jax.tree.map(
        lambda ring, p: jnp.concatenate([ring[1:], p[None]]), state.lagged, state.params
    )
    return oldest, ring


def with_lag_ring(config: GroupConfig, state: RLHFState) -> RLHFState:
    """`state` with the ring of k copies of its parameters a lagging sampler starts from."""
    if not config.rollout_lag:
        return state
    stack = jax.tree.map(lambda p: jnp.stack([p] * config.rollout_lag), state.params)
    return state._replace(lagged=stack)


def init(config: GroupConfig, key: jax.Array, hyperparams: dict | None = None) -> RLHFState:
    """`pipeline.init`, with the sampler's ring when `rollout_lag` > 0."""
    return with_lag_ring(config, pipeline.init(config, key, hyperparams))


def start(config: GroupConfig, key, reference, reward_model, hyperparams=None) -> RLHFState:
    """`pipeline.start`, with the sampler's ring when `rollout_lag` > 0."""
    state = pipeline.start(config, key, reference, reward_model, hyperparams)
    return with_lag_ring(config, state)


def correct(config: GroupConfig, hp, data: Rollout, behaviour_log_probs, mask, per_token):
    """The mask and per-token advantages after `rollout_correction` of μ ≠ π_old."""
    level = "sequence" if config.SURROGATE == "gspo" else "token"
    if config.rollout_correction == "truncated_is":
        weights = pgjax.truncated_importance_weights(
            data.log_probs, behaviour_log_probs, cap=hp["is_cap"], level=level, mask=mask
        )
        return mask, per_token * weights
    if config.rollout_correction == "mask":
        low, high = hp["mask_low"], hp["mask_high"]
        kept = pgjax.importance_ratio_mask(
            data.log_probs, behaviour_log_probs, low=low, high=high, level=level, mask=mask
        )
        return kept, per_token
    return mask, per_token


def update(config: GroupConfig, state: RLHFState) -> tuple[RLHFState, dict]:
    """One update of GRPO, Dr. GRPO or RLOO: groups of responses, their advantages, the epochs."""
    hp = state.hyperparams
    rollout_key, epoch_key, key = jax.random.split(state.key, 3)
    sampler, ring = lagged(config, state)
    data, metrics = pipeline.rollout(config, state, sampler, rollout_key, config.group_size)
    behaviour = data.log_probs  # log μ
    if config.rollout_lag:  # π_old: the learner's current policy on the sampled tokens
        now = forward(config.model(), state.params, data.prompts, data.responses, hp["temperature"])
        data = data._replace(log_probs=now.log_probs)

    rewards = sequence_rewards(config, data, state.kl_coef)
    per_token = jnp.broadcast_to(advantages(config, rewards)[:, None], data.mask.shape)
    mask = data.mask
    if config.dynamic_sampling:
        keep = kept_groups(config, data.score)
        mask = mask & keep[:, None]
        metrics = {**metrics, "kept_groups": keep.mean()}
    mask, per_token = correct(config, hp, data, behaviour, mask, per_token)
    behaviour_kl = pgjax.kl_estimate(behaviour, data.log_probs, "k3")
    metrics = {
        **metrics,
        "behaviour_kl": pgjax.aggregate_loss(behaviour_kl, data.mask),
        "kept_tokens": mask.sum() / jnp.maximum(data.mask.sum(), 1),
    }
    batch = Batch(data.prompts, data.responses, mask, data.log_probs, data.ref_log_probs, per_token)
    params, opt_state, loss_metrics = pipeline.optimize(
        config, state, batch, lambda p, b: loss(config, hp, state.kl_coef, p, b), epoch_key
    )
    metrics = {**metrics, **loss_metrics, "kl_coef": state.kl_coef}
    state = state._replace(params=params, opt_state=opt_state, key=key, lagged=ring)
    return state, metrics


def _algorithm(name: str, config_class: type[GroupConfig]) -> Algorithm:
    return Algorithm(
        name,
        config_class,
        init,
        update,
        pipeline.act,
        evaluator=make_evaluate,
        target_metric=None,
    )


GRPO = _algorithm("rlhf-grpo", GRPOConfig)
DR_GRPO = _algorithm("rlhf-dr-grpo", DrGRPOConfig)
RLOO = _algorithm("rlhf-rloo", RLOOConfig)
DAPO = _algorithm("rlhf-dapo", DAPOConfig)
GSPO = _algorithm("rlhf-gspo", GSPOConfig)
CISPO = _algorithm("rlhf-cispo", CISPOConfig)
