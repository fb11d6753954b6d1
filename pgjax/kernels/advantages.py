"""Advantage processing: baselines for REINFORCE, group-relative advantages (GRPO, Dr. GRPO,
RLOO) and advantage normalisation.

Subtracting a baseline b that does not depend on the sample's own action keeps the policy
gradient unbiased, E[∇ log π(a|s) · b] = 0, and can cut its variance a lot (Williams, 1992;
Greensmith et al., 2004, "Variance reduction techniques for gradient estimates in RL"). A batch
mean uses the sample itself and so is biased by O(1/N); the leave-one-out mean is not.

Group functions take `[*B, G]` with the group axis last: G samples (responses) for the same
prompt/state, as in LLM fine-tuning.

Masks select, they never multiply: NaN or ±inf in a masked-out element reaches no result and no
gradient. A mask is bool, or numbers that are 0/1: any other value (0.5, NaN) raises ValueError
when known at trace time; traced, it cannot be checked and every nonzero value counts as set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks


def _masked(fn: str, name: str, x, mask):
    """`(x with masked-out elements set to 0, gradient stopped; valid: bool or None; weights:
    0/1 float counts)`."""
    dtype = _checks.compute_dtype(x)
    x = jax.lax.stop_gradient(_checks.as_float(fn, name, x, dtype))
    mask = _checks.check_mask(fn, mask, x.shape, f"`{name}`")
    weights = jnp.ones_like(x) if mask is None else mask.astype(dtype)
    return _checks.select(mask, x), mask, weights


def batch_mean_baseline(returns: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    r"""b = masked mean of all returns in the batch, broadcast to every element.

    .. math:: b = \frac{\sum_i m_i G_i}{\sum_i m_i}

    Args:
      returns: `[*S]` float, G.
      mask: optional `[*S]` bool, the samples that count.

    Returns:
      `[*S]` float, the baseline (a constant: gradient stopped).
    """
    returns, _, weights = _masked("batch_mean_baseline", "returns", returns, mask)
    mean = returns.sum() / jnp.maximum(weights.sum(), 1.0)
    return jnp.broadcast_to(mean, returns.shape)


def leave_one_out_baseline(
    returns: jax.Array, mask: jax.Array | None = None, axis: int = -1
) -> jax.Array:
    r"""b_i = mean of the *other* samples along `axis`: independent of sample i, so unbiased.

    .. math:: b_i = \frac{\sum_{j \ne i} m_j G_j}{\sum_{j \ne i} m_j}

    A sample with no valid peer gets b_i = 0. Kool et al. (2019), "Buy 4 REINFORCE samples, get a
    baseline for free!"

    Args:
      returns: `[*S]` float.
      mask: optional `[*S]` bool.
      axis: the axis whose samples share a baseline (e.g. the batch axis of `[T, B]` returns,
        or the group axis of `[*B, G]` rewards).

    Returns:
      `[*S]` float, the baseline (gradient stopped).
    """
    fn = "leave_one_out_baseline"
    returns, _, weights = _masked(fn, "returns", returns, mask)
    if not isinstance(axis, int) or not -returns.ndim <= axis < returns.ndim:
        raise ValueError(f"{fn}: `axis` {axis!r} is out of range for shape {returns.shape}.")
    total = returns.sum(axis, keepdims=True) - returns
    others = weights.sum(axis, keepdims=True) - weights
    return jnp.where(others > 0, total / jnp.maximum(others, 1.0), 0.0)


def _groups(fn: str, rewards, mask):
    """`(rewards, mask, weights, shifted)` of `[*B, G]` groups: `shifted` is each reward minus its
    group's first valid one (0 where masked out).

    Shifting first makes a group of equal rewards centre to exactly 0 (a float32 mean of equal
    values is off by an ulp, which GRPO's division by a std of the same ulp blew up to |A| ≈ 0.2
    for rewards near 3)."""
    _checks.check_rank(fn, "rewards", rewards, 1, "[*B, G] with the group axis last")
    if jnp.shape(rewards)[-1] == 0:
        raise ValueError(
            f"{fn}: `rewards` has an empty group axis, shape {jnp.shape(rewards)}; a group "
            "([*B, G], the group axis last) needs at least one sample."
        )
    rewards, mask, weights = _masked(fn, "rewards", rewards, mask)
    first = rewards[..., :1] if mask is None else _first_valid(rewards, mask)
    return rewards, mask, weights, _checks.select(mask, rewards - first)


def _group_stats(fn: str, rewards, mask):
    rewards, mask, weights, shifted = _groups(fn, rewards, mask)
    count = jnp.maximum(weights.sum(-1, keepdims=True), 1.0)
    mean = shifted.sum(-1, keepdims=True) / count
    return rewards, mask, _checks.select(mask, shifted - mean), count


def _spread(centred: jax.Array, count, axis=None) -> jax.Array:
    """√(Σ centred² / count) over `axis` (kept), computed without overflow: (1e30)² is inf in
    float32, so the squares are those of centred / max|centred| (at most 1), and that scale, a
    constant to autodiff (the root is homogeneous in it), multiplies back after the root."""
    scale = jnp.max(jnp.abs(centred), axis=axis, keepdims=True, initial=0.0)
    scale = jax.lax.stop_gradient(jnp.where(scale > 0, scale, 1.0))
    mean_square = jnp.square(centred / scale).sum(axis, keepdims=True) / count
    # The floor keeps the gradient finite (not 0 · ∞ = NaN) when the spread is exactly 0; it never
    # binds otherwise (the largest term alone is 1 / count).
    return scale * jnp.sqrt(jnp.maximum(mean_square, jnp.finfo(centred.dtype).tiny))


def _first_valid(x: jax.Array, mask: jax.Array) -> jax.Array:
    """`[*B, 1]` each row's first element where `mask` holds (the first element if none)."""
    return jnp.take_along_axis(x, jnp.argmax(mask, -1)[..., None], -1)


def grpo_advantages(
    rewards: jax.Array, mask: jax.Array | None = None, eps: float = 1e-6, ddof: int = 0
) -> jax.Array:
    r"""GRPO's group-normalised advantages.

    .. math::
        A_i = \frac{r_i - \bar r}{s + \epsilon},\qquad
        \bar r = \frac{1}{n}\sum_j r_j,\qquad
        s = \sqrt{\frac{1}{n - \text{ddof}}\sum_j (r_j - \bar r)^2}

    over the n valid samples of the group. Shao et al. (2024), "DeepSeekMath",
    https://arxiv.org/abs/2402.03300, §4.1.2, write std(r) without saying which estimate. `ddof=0`
    (the default) is the population std; `ddof=1` the unbiased sample estimate that TRL's
    `GRPOTrainer` and verl's `compute_grpo_outcome_advantage` compute (torch's `std`): larger by
    √(n / (n − 1)), e.g. 7% for groups of 8, so the advantages are that much smaller. A group
    whose rewards are all equal gets zeros, and so does a group of n ≤ ddof samples. The std is
    computed from deviations scaled by the group's largest one, so rewards near ±1e30 (whose
    squares overflow float32) are normalised correctly.

    Args:
      rewards: `[*B, G]` float, one scalar reward per sample of each group, G ≥ 1.
      mask: optional `[*B, G]` bool, valid samples.
      eps: scalar float > 0, added to the std (checked when known at trace time).
      ddof: static int, 0 or 1: the std divides by n − ddof.

    Returns:
      `[*B, G]` float (0 where masked out).
    """
    fn = "grpo_advantages"
    _checks.check_scalar(fn, "eps", eps, above=0)
    _checks.check_choice(fn, "ddof", ddof, (0, 1))
    _, _, centred, count = _group_stats(fn, rewards, mask)
    return centred / (_spread(centred, jnp.maximum(count - ddof, 1.0), axis=-1) + eps)


def dr_grpo_advantages(rewards: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    r"""Dr. GRPO's advantages: the group mean is subtracted, the std is not divided out.

    .. math:: A_i = r_i - \text{mean}_g(r)

    Liu et al. (2025), "Understanding R1-Zero-like training", https://arxiv.org/abs/2503.20783:
    dividing by the std over-weights groups that are almost all right or all wrong.

    Args:
      rewards: `[*B, G]` float, G ≥ 1 samples per group.
      mask: optional `[*B, G]` bool.

    Returns:
      `[*B, G]` float (0 where masked out).
    """
    return _group_stats("dr_grpo_advantages", rewards, mask)[2]


def rloo_advantages(rewards: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    r"""REINFORCE leave-one-out advantages within each group.

    .. math:: A_i = r_i - \frac{1}{G-1}\sum_{j\ne i} r_j

    Kool et al. (2019); Ahmadian et al. (2024), "Back to basics: revisiting REINFORCE style
    optimization for learning from human feedback in LLMs", https://arxiv.org/abs/2402.14740.
    A group of equal rewards gets exactly 0; a sample with no valid peer has baseline 0, so its
    advantage is its reward (as `leave_one_out_baseline`).

    Args:
      rewards: `[*B, G]` float, G ≥ 1 samples per group.
      mask: optional `[*B, G]` bool.

    Returns:
      `[*B, G]` float (0 where masked out).
    """
    rewards, mask, weights, shifted = _groups("rloo_advantages", rewards, mask)
    # r_i − mean_{j≠i} r_j is unchanged by the shift, which makes equal rewards give exactly 0.
    peers = weights.sum(-1, keepdims=True) - weights
    baseline = (shifted.sum(-1, keepdims=True) - shifted) / jnp.maximum(peers, 1.0)
    return _checks.select(mask, jnp.where(peers > 0, shifted - baseline, rewards))


def normalize_advantages(
    advantages: jax.Array, mask: jax.Array | None = None, eps: float = 1e-8
) -> jax.Array:
    r"""Standardises advantages over the valid elements of a batch.

    .. math:: \tilde A = (A - \mu_m) / (\sigma_m + \epsilon)

    with μ_m, σ_m the masked mean and (population) standard deviation, computed in two passes in
    at least float32, σ from deviations scaled by the largest one (so advantages near ±1e30,
    whose squares overflow float32, are normalised correctly rather than to zeros). A batch of
    one element (or of equal elements) gives zeros, never NaN;
    masked-out elements are returned as 0. A common PPO implementation detail (Andrychowicz et
    al., 2021, "What matters in on-policy RL?", https://arxiv.org/abs/2006.05990).

    Args:
      advantages: `[*S]` float.
      mask: optional `[*S]` bool, the elements that count.
      eps: scalar float ≥ 0, added to σ (checked when known at trace time).

    Returns:
      `[*S]` float, normalised advantages.
    """
    fn = "normalize_advantages"
    _checks.check_scalar(fn, "eps", eps, at_least=0)
    dtype = _checks.compute_dtype(advantages)
    advantages = _checks.as_float(fn, "advantages", advantages, dtype)
    mask = _checks.check_mask(fn, mask, advantages.shape, "`advantages`")
    weights = jnp.ones_like(advantages) if mask is None else mask.astype(dtype)
    count = jnp.maximum(weights.sum(), 1.0)
    advantages = _checks.select(mask, advantages)
    # Shift by one valid element first: equal advantages then centre to exactly 0 (a float32 mean
    # of equal values is not always exactly that value, which would normalise rounding noise).
    flat = advantages.reshape(-1)
    first_valid = 0 if mask is None or flat.size == 0 else jnp.argmax(mask.reshape(-1))
    shift = jax.lax.stop_gradient(flat[first_valid]) if flat.size else 0.0
    shifted = advantages - shift
    mean = _checks.select(mask, shifted).sum() / count
    centred = _checks.select(mask, shifted - mean)
    return centred / (_spread(centred, count) + eps)
