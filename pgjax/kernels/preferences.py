"""Learning from pairwise preferences: the Bradley-Terry loss of a reward model.

A labeller shown two responses to one prompt says which it prefers. The Bradley-Terry model
(Bradley & Terry, 1952) says the preferred one wins with probability σ(r_chosen − r_rejected),
so a reward model r is fitted by maximising the log-likelihood of the labels (Christiano et al.,
2017, "Deep reinforcement learning from human preferences", https://arxiv.org/abs/1706.03741;
Ouyang et al., 2022, "Training language models to follow instructions with human feedback",
https://arxiv.org/abs/2203.02155, eq. 1).

A mask is bool, or numbers that are 0/1: any other value (0.5, NaN) raises ValueError when known at
trace time; traced, it cannot be checked and every nonzero value counts as set.
"""

from __future__ import annotations

import jax

from pgjax.kernels import _checks
from pgjax.kernels.aggregation import aggregate_loss


def bradley_terry_loss(
    chosen: jax.Array,
    rejected: jax.Array,
    mask: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Negative log-likelihood of preference labels under the Bradley-Terry model.

    .. math:: L = -\,\mathbb{E}\big[\log \sigma\big(r(x, y_c) - r(x, y_r)\big)\big]

    computed as softplus(r_r − r_c), finite for any margin. Its gradient moves the chosen score
    up and the rejected one down by σ(r_r − r_c) each: pairs the model already ranks right by a
    wide margin contribute almost nothing. Bradley & Terry (1952), "Rank analysis of incomplete
    block designs"; Ouyang et al. (2022), "Training language models to follow instructions with
    human feedback", https://arxiv.org/abs/2203.02155, eq. (1).

    A mask selects (it never multiplies): NaN or ±inf in a masked-out pair reaches neither the
    loss nor its gradient.

    Args:
      chosen: `[*S]` float, r(x, y_c), the scores of the preferred responses.
      rejected: `[*S]` float, r(x, y_r), the scores of the others (same shape).
      mask: optional `[*S]` bool, the pairs that count.
      reduction: see `pgjax.aggregate_loss`.

    Returns:
      scalar float.
    """
    fn = "bradley_terry_loss"
    dtype = _checks.compute_dtype(chosen, rejected)
    chosen = _checks.as_float(fn, "chosen", chosen, dtype)
    _checks.check_shape(fn, "rejected", rejected, chosen.shape, "`chosen`")
    rejected = _checks.as_float(fn, "rejected", rejected, dtype)
    # Masked-out pairs are set to 0 before softplus (a select): NaN there reaches no gradient.
    mask = _checks.check_mask(fn, mask, chosen.shape, "`chosen`")
    chosen, rejected = _checks.select(mask, chosen), _checks.select(mask, rejected)
    return aggregate_loss(jax.nn.softplus(rejected - chosen), mask, reduction)
