"""Language-model RL: CISPO's loss, rollout / trainer mismatch corrections, REINFORCE++'s
advantages and DAPO's dynamic-sampling filter and soft overlong penalty.

Token data is `[*B, T]` with the sequence (token) axis last, as in `pgjax.sequence_log_ratio`
and the sequence reductions of `pgjax.aggregate_loss`; group data is `[*B, G]` with the group
axis last, as in `pgjax.grpo_advantages`.

Masks select, they never multiply: every input is replaced by a constant in masked-out elements
before anything is computed from it, so NaN or ±inf there (−inf log-probabilities of padding,
NaN rewards of an unfinished sample) reaches no result and no gradient. Coefficients are
range-checked, NaN included, when known at trace time; traced ones are not checked.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks
from pgjax.kernels.advantages import normalize_advantages
from pgjax.kernels.aggregation import aggregate_loss
from pgjax.kernels.recurrence import reverse_linear_recurrence
from pgjax.kernels.regularizers import kl_estimate

LEVELS = ("token", "sequence")
MASK_LEVELS = ("token", "sequence", "geometric")


def _token_pair(fn: str, name: str, log_probs, other_name: str, other, mask):
    """Validated `[*B, T]` float log-probability pair (masked-out slots 0) and the bool mask."""
    _checks.check_rank(fn, name, log_probs, 1, "[*B, T] with the sequence axis last")
    dtype = _checks.compute_dtype(log_probs, other)
    log_probs = _checks.as_float(fn, name, log_probs, dtype)
    _checks.check_shape(fn, other_name, other, log_probs.shape, f"`{name}`")
    other = _checks.as_float(fn, other_name, other, dtype)
    mask = _checks.check_mask(fn, mask, log_probs.shape, f"`{name}`")
    return _checks.select(mask, log_probs), _checks.select(mask, other), mask


def cispo_loss(
    log_probs: jax.Array,
    old_log_probs: jax.Array,
    advantages: jax.Array,
    *,
    clip_eps_low,
    clip_eps_high,
    mask: jax.Array | None = None,
    reduction: str = "mean",
    normalizer=None,
) -> jax.Array:
    r"""CISPO: the REINFORCE loss weighted by the clipped, stop-gradient importance ratio.

    .. math::
        \rho = \frac{\pi_\theta(a \mid s)}{\pi_{old}(a \mid s)},\qquad
        L(\theta) = -\,\mathbb{E}\big[\operatorname{sg}\big(\text{clip}(\rho,\,
            1 - \epsilon_{low},\, 1 + \epsilon_{high})\big)\, \hat A\, \log\pi_\theta(a \mid s)\big]

    Chen et al. (MiniMax, 2025), "MiniMax-M1: scaling test-time compute efficiently with
    lightning attention", https://arxiv.org/abs/2506.13585 (the CISPO objective). Unlike PPO, whose
    clipped tokens get no gradient at all, every token keeps the gradient −sg(ρ̂)·Â·∇log π: only
    its weight is bounded. The paper sets no lower bound (ε_low large; any `clip_eps_low` ≥ 1
    does that, since ρ > 0) and tunes ε_high; its token-level normalisation over all tokens of
    the batch is `reduction="mean"`.

    Conventions compared: verl's `compute_policy_loss_cispo` clips to the same
    [1 − ε_low, 1 + ε_high] (and clamps log ρ to ±20 first, which pgjax does not: the clip
    bounds ρ already, and exp overflows only beyond log ρ ≈ 88). TRL's `loss_type="cispo"`
    bounds ρ above by `epsilon_high` itself (ε_max, e.g. 5.0, not 1 + ε_high) and not below: the
    same loss as `clip_eps_high=epsilon_high - 1, clip_eps_low=1.0` here.

    Args:
      log_probs: `[*S]` float, log π_θ(a|s) (gradients flow here).
      old_log_probs: `[*S]` float, log π_old(a|s) recorded when sampling (a constant).
      advantages: `[*S]` float, Â (a constant).
      clip_eps_low: scalar float ≥ 0, ε_low; may be traced.
      clip_eps_high: scalar float ≥ 0, ε_high; may be traced.
      mask: optional `[*S]` bool, valid tokens.
      reduction: see `pgjax.aggregate_loss`.
      normalizer: the constant of reduction `"constant_normalizer"`.

    Returns:
      scalar float.
    """
    fn = "cispo_loss"
    _checks.check_scalar(fn, "clip_eps_low", clip_eps_low, at_least=0)
    _checks.check_scalar(fn, "clip_eps_high", clip_eps_high, at_least=0)
    dtype = _checks.compute_dtype(log_probs, old_log_probs, advantages)
    log_probs = _checks.as_float(fn, "log_probs", log_probs, dtype)
    _checks.check_shape(fn, "old_log_probs", old_log_probs, log_probs.shape, "`log_probs`")
    _checks.check_shape(fn, "advantages", advantages, log_probs.shape, "`log_probs`")
    old_log_probs = _checks.as_float(fn, "old_log_probs", old_log_probs, dtype)
    advantages = _checks.as_float(fn, "advantages", advantages, dtype)
    mask = _checks.check_mask(fn, mask, log_probs.shape, "`log_probs`")
    log_probs, old_log_probs, advantages = (
        _checks.select(mask, x) for x in (log_probs, old_log_probs, advantages)
    )
    ratio = jnp.exp(log_probs - old_log_probs)
    weight = jnp.clip(ratio, 1.0 - clip_eps_low, 1.0 + clip_eps_high)
    weight = jax.lax.stop_gradient(weight * advantages)
    return aggregate_loss(-weight * log_probs, mask, reduction, normalizer)


def truncated_importance_weights(
    train_log_probs: jax.Array,
    rollout_log_probs: jax.Array,
    *,
    cap,
    level: str = "token",
    mask: jax.Array | None = None,
) -> jax.Array:
    r"""Truncated importance weights that correct for the sampler / trainer mismatch.

    .. math::
        w_t = \min\Big(\frac{\pi_{train}(y_t)}{\pi_{rollout}(y_t)},\ C\Big)\ \text{(token)},\qquad
        w_{i} = \min\Big(\prod_{t} \frac{\pi_{train}(y_{it})}{\pi_{rollout}(y_{it})},\ C\Big)
        \ \text{(sequence, the same for every token of sequence i)}

    The sampling engine (vLLM, SGLang, another precision) computes other log-probabilities than
    the trainer for the same weights, so the rollout is slightly off-policy. Yao et al. (2025),
    "Your efficient RL framework secretly brings you off-policy RL training",
    https://fengyao.notion.site/off-policy-rl; truncated importance sampling after Ionides (2008),
    "Truncated importance sampling", J. Comput. Graph. Stat. 17(2). Token weights bound the
    variance but are biased; the sequence weight is the importance weight of the whole
    response, unbiased up to the truncation and of higher variance.

    Composes with every surrogate through the advantages: w ≥ 0 and is a constant, so
    w · min(ρÂ, clip(ρ)Â) = min(ρ(wÂ), clip(ρ)(wÂ)), and likewise for the dual clip, CISPO,
    `pgjax.surrogate_loss` and `pgjax.policy_gradient_loss`: pass `advantages * w` (for a
    sequence-level surrogate such as GSPO, one weight per sequence, `w.max(-1)`). This weights
    the per-token losses as verl's rollout correction (`rollout_is="token"` / `"sequence"`,
    `rollout_is_threshold=C`) and TRL's `vllm_importance_sampling_mode="token_truncate"` /
    `"sequence_truncate"` do. The sequence product is exp of the sum of log-ratios, as in both;
    pgjax takes the minimum in log space, exp(min(Σ log ρ, log C)), so a long response never
    overflows (verl clamps Σ log ρ to ±20 instead; TRL can also clamp from below,
    `vllm_importance_sampling_clip_min`, which pgjax does not offer).

    Args:
      train_log_probs: `[*B, T]` float, log π_train(y_t) from the trainer.
      rollout_log_probs: `[*B, T]` float, log π_rollout(y_t) reported by the sampler.
      cap: scalar float > 0, C; may be traced.
      level: `"token"` or `"sequence"`.
      mask: optional `[*B, T]` bool, valid tokens (the sequence product runs over them).

    Returns:
      `[*B, T]` float weights, 0 where masked out; gradient stopped.
    """
    fn = "truncated_importance_weights"
    _checks.check_choice(fn, "level", level, LEVELS)
    _checks.check_scalar(fn, "cap", cap, above=0)
    train, rollout, mask = _token_pair(
        fn, "train_log_probs", train_log_probs, "rollout_log_probs", rollout_log_probs, mask
    )
    log_ratio = jax.lax.stop_gradient(train - rollout)
    if level == "sequence":
        log_ratio = jnp.broadcast_to(log_ratio.sum(-1, keepdims=True), log_ratio.shape)
    weights = jnp.exp(jnp.minimum(log_ratio, jnp.log(jnp.asarray(cap, log_ratio.dtype))))
    return _checks.select(mask, weights)


def importance_ratio_mask(
    train_log_probs: jax.Array,
    rollout_log_probs: jax.Array,
    *,
    low,
    high,
    level: str = "token",
    mask: jax.Array | None = None,
) -> jax.Array:
    r"""Masked importance sampling: keeps the tokens (or sequences) whose ratio lies in a band.

    .. math::
        m'_t = m_t \wedge \big(l \le \rho_t \le h\big),\qquad
        \rho_t = \frac{\pi_{train}(y_t)}{\pi_{rollout}(y_t)}\ \text{(token)},\quad
        \prod_t \rho_t\ \text{(sequence)},\quad
        \Big(\prod_t \rho_t\Big)^{1/|y|}\ \text{(geometric)}

    The rejection variant of `pgjax.truncated_importance_weights`: instead of shrinking the
    weight of a token whose sampler and trainer disagree, drop it (or its whole sequence) from
    the loss. Liu, Li et al. (2025), "When speed kills stability: demystifying RL collapse from
    the training-inference mismatch", https://richardli.xyz/rl-collapse. The geometric level
    (the per-token geometric mean, exp of `pgjax.sequence_log_ratio`) does not reject long
    responses merely for being long.

    Composes with every loss as its `mask` (it already includes `mask`). Bounds are inclusive,
    as TRL's `vllm_importance_sampling_mode="token_mask"` / `"sequence_mask"` (bounds
    `vllm_importance_sampling_clip_min` / `_max`) and verl's `rollout_rs="token_k1"` /
    `"seq_sum_k1"` / `"seq_mean_k1"` (`rollout_rs_threshold="low_high"`) have them. Compared in
    log space, so a long sequence's product never overflows.

    Args:
      train_log_probs: `[*B, T]` float, log π_train(y_t) from the trainer.
      rollout_log_probs: `[*B, T]` float, log π_rollout(y_t) reported by the sampler.
      low: scalar float ≥ 0, l; may be traced.
      high: scalar float > 0, h ≥ l; may be traced.
      level: `"token"`, `"sequence"` or `"geometric"`.
      mask: optional `[*B, T]` bool, valid tokens.

    Returns:
      `[*B, T]` bool, the valid tokens that are kept.
    """
    fn = "importance_ratio_mask"
    _checks.check_choice(fn, "level", level, MASK_LEVELS)
    _checks.check_scalar(fn, "low", low, at_least=0)
    _checks.check_scalar(fn, "high", high, above=0)
    _checks.check_not_above(fn, "low", low, "high", high)
    train, rollout, mask = _token_pair(
        fn, "train_log_probs", train_log_probs, "rollout_log_probs", rollout_log_probs, mask
    )
    log_ratio = jax.lax.stop_gradient(train - rollout)
    if level != "token":
        log_ratio = log_ratio.sum(-1, keepdims=True)
        if level == "geometric":
            tokens = jnp.ones_like(train) if mask is None else mask.astype(train.dtype)
            log_ratio = log_ratio / jnp.maximum(tokens.sum(-1, keepdims=True), 1.0)
        log_ratio = jnp.broadcast_to(log_ratio, train.shape)
    log_low = jnp.log(jnp.asarray(low, log_ratio.dtype))
    log_high = jnp.log(jnp.asarray(high, log_ratio.dtype))
    keep = (log_ratio >= log_low) & (log_ratio <= log_high)
    return keep if mask is None else keep & mask


def reinforce_plus_plus_advantages(
    rewards: jax.Array,
    log_probs: jax.Array,
    ref_log_probs: jax.Array,
    mask: jax.Array | None = None,
    *,
    kl_coef,
    gamma=1.0,
    estimator: str = "k1",
    eps: float = 1e-8,
) -> jax.Array:
    r"""REINFORCE++ advantages: the KL folded into per-token rewards, discounted returns over the
    tokens, then whitened over every valid token of the batch.

    .. math::
        r_t = \mathbb 1[t = t_{last}]\, R - \beta\, k(\log\pi(y_t), \log\pi_{ref}(y_t)),\qquad
        G_t = \sum_{t' \ge t} \gamma^{t' - t}\, m_{t'}\, r_{t'},\qquad
        A_t = \frac{G_t - \mu_m(G)}{\sigma_m(G) + \epsilon}

    with t_last the last valid token of each response and μ_m, σ_m the mean and (population)
    standard deviation over all valid tokens of the batch (`pgjax.normalize_advantages`). Hu et
    al. (2025), "REINFORCE++: a simple and efficient approach for aligning large language
    models", https://arxiv.org/abs/2501.03262 (its token reward r(s_t, a_t) and the global
    advantage normalisation). No critic, no group: every token's advantage is its return to go,
    whitened over the global batch.

    Conventions compared: as OpenRLHF (`compute_reward`, `get_cumulative_returns`, estimator
    `"reinforce"`), the score goes on the last valid token, the KL estimate defaults to k1 of
    the sampling policy against the reference, and a masked token adds no reward but the return
    runs through it; OpenRLHF divides by √max(σ², 1e-8) instead of σ + ε. verl's
    `compute_reinforce_plus_plus_outcome_advantage` takes the token rewards (KL already folded
    in), cuts the return at a masked token (the same for right padding, not for masked tokens
    inside a response) and whitens with the unbiased variance (larger by n/(n − 1) over n
    tokens).

    Args:
      rewards: `[*B]` float, one score per response, credited to its last valid token; or
        `[*B, T]` float per-token rewards, used as given.
      log_probs: `[*B, T]` float, log π(y_t) of the policy that sampled (π_old).
      ref_log_probs: `[*B, T]` float, log π_ref(y_t).
      mask: optional `[*B, T]` bool, valid (response) tokens.
      kl_coef: scalar float ≥ 0, β; may be traced.
      gamma: scalar float in [0, 1], γ; may be traced.
      estimator: the KL estimate k, `"k1"`, `"k2"` or `"k3"` (see `pgjax.kl_estimate`).
      eps: scalar float ≥ 0, added to σ.

    Returns:
      `[*B, T]` float advantages, 0 where masked out; gradient stopped.
    """
    fn = "reinforce_plus_plus_advantages"
    _checks.check_scalar(fn, "kl_coef", kl_coef, at_least=0)
    _checks.check_scalar(fn, "gamma", gamma, at_least=0, at_most=1)
    _checks.check_choice(fn, "estimator", estimator, ("k1", "k2", "k3"))
    _checks.check_scalar(fn, "eps", eps, at_least=0)
    log_probs, ref_log_probs, mask = _token_pair(
        fn, "log_probs", log_probs, "ref_log_probs", ref_log_probs, mask
    )
    shape = log_probs.shape
    if jnp.shape(rewards) not in (shape, shape[:-1]):
        raise ValueError(
            f"{fn}: `rewards` has shape {jnp.shape(rewards)}, expected {shape[:-1]} (one score "
            f"per response) or {shape} (per-token rewards), from `log_probs` {shape}."
        )
    dtype = log_probs.dtype
    rewards = jax.lax.stop_gradient(_checks.as_float(fn, "rewards", rewards, dtype))
    if rewards.shape != shape:
        num_tokens = shape[-1]
        valid = jnp.ones(shape, bool) if mask is None else mask
        last = num_tokens - 1 - jnp.argmax(valid[..., ::-1], axis=-1)
        is_last = (jnp.arange(num_tokens) == last[..., None]) & valid
        # Selected, not multiplied: a NaN score of a sequence with no valid token stays out.
        rewards = jnp.where(is_last, rewards[..., None], 0.0)
    penalty = kl_estimate(log_probs, ref_log_probs, estimator)
    token_rewards = jax.lax.stop_gradient(_checks.select(mask, rewards - kl_coef * penalty))
    discount = jnp.broadcast_to(jnp.asarray(gamma, dtype), shape)
    returns = reverse_linear_recurrence(
        jnp.moveaxis(discount, -1, 0), jnp.moveaxis(token_rewards, -1, 0)
    )
    returns = jnp.moveaxis(returns, 0, -1)
    return jax.lax.stop_gradient(normalize_advantages(returns, mask, eps))


def dynamic_sampling_mask(group_rewards: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    r"""DAPO's dynamic sampling: keeps the groups whose rewards are not all equal.

    .. math:: \text{keep}_b = \exists\, i, j \text{ valid}: r_{bi} \ne r_{bj}

    Yu et al. (2025), "DAPO: an open-source LLM reinforcement learning system at scale",
    https://arxiv.org/abs/2503.14476 (the constraint 0 < |{o_i correct}| < G of its
    objective). A group that is all right or all wrong has zero group-relative advantage
    everywhere (`pgjax.grpo_advantages`), so it only dilutes the batch; DAPO over-samples prompts
    and keeps the others. Under jit the batch shape is fixed, so use the result as a mask (`mask &
    keep[..., None]`) or to choose which groups to keep outside.

    The comparison is exact (each valid reward against the group's first valid one), not a
    float standard deviation > 0, which can be an ulp above 0 for equal rewards; NaN in a
    masked-out slot is never read. verl's DAPO recipe (`filter_groups`) keeps a group of a
    single sample; here a group needs two valid samples that differ.

    Args:
      group_rewards: `[*B, G]` float, one reward per sample of each group.
      mask: optional `[*B, G]` bool, valid samples.

    Returns:
      `[*B]` bool, True for the groups to keep.
    """
    fn = "dynamic_sampling_mask"
    _checks.check_rank(fn, "group_rewards", group_rewards, 1, "[*B, G] with the group axis last")
    dtype = _checks.compute_dtype(group_rewards)
    rewards = jax.lax.stop_gradient(_checks.as_float(fn, "group_rewards", group_rewards, dtype))
    mask = _checks.check_mask(fn, mask, rewards.shape, "`group_rewards`")
    rewards = _checks.select(mask, rewards)
    if mask is None:
        first = rewards[..., :1]
        differs = rewards != first
    else:
        first = jnp.take_along_axis(rewards, jnp.argmax(mask, -1)[..., None], -1)
        differs = (rewards != first) & mask
    return differs.any(-1)


def overlong_penalty(lengths: jax.Array, max_length, cache_length) -> jax.Array:
    r"""DAPO's soft overlong punishment, a length-dependent reward added to the task reward.

    .. math::
        R_{length}(|y|) = \begin{cases}
            0, & |y| \le L_{max} - L_{cache} \\
            \frac{(L_{max} - L_{cache}) - |y|}{L_{cache}}, & L_{max} - L_{cache} < |y| \le L_{max}
            \\
            -1, & L_{max} < |y|
        \end{cases}

    Yu et al. (2025), "DAPO", https://arxiv.org/abs/2503.14476 (soft overlong punishment): a
    linear penalty over the last L_cache tokens of the budget instead of a cliff at L_max. verl's
    DAPO reward manager (`overlong_buffer`) computes min(−(|y| − (L_max − L_cache)) / L_cache, 0)
    times a factor, without the floor at −1 (its responses cannot exceed L_max); scale the
    result here for a factor.

    Args:
      lengths: `[*B]` int or float, |y|, the response lengths in tokens.
      max_length: scalar > 0, L_max; may be traced.
      cache_length: scalar, 0 < L_cache ≤ L_max; may be traced.

    Returns:
      `[*B]` float in [−1, 0], a reward: gradient stopped.
    """
    fn = "overlong_penalty"
    _checks.check_scalar(fn, "max_length", max_length, above=0)
    _checks.check_scalar(fn, "cache_length", cache_length, above=0)
    _checks.check_not_above(fn, "cache_length", cache_length, "max_length", max_length)
    dtype = _checks.compute_dtype(lengths, max_length, cache_length)
    lengths = jax.lax.stop_gradient(_checks.as_float(fn, "lengths", lengths, dtype))
    max_length = jnp.asarray(max_length, dtype)
    cache_length = jnp.asarray(cache_length, dtype)
    expected = max_length - cache_length
    ramp = (expected - lengths) / cache_length
    return jnp.where(lengths <= expected, 0.0, jnp.where(lengths <= max_length, ramp, -1.0))
