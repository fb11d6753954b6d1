"""Slow, plainly written float64 NumPy references for the pgjax kernels, and test-data helpers.

Every reference here is written from the maths in the kernel docstrings, not ported from the
vectorised code: returns and advantages are explicit forward sums over the steps of each episode
segment (the kernels solve a backward recursion), one batch element at a time; losses are
per-element Python loops. They are slow on purpose and only meant for small inputs.

Conventions (the same as pgjax): arrays are time-major `[T, *B]`; `terminated[t]` /
`truncated[t]` describe the transition out of step t; `next_values[t]` is V of the true successor
of step t; a terminated successor is worth 0; a truncated one is bootstrapped; the last row
bootstraps from `next_values[T-1]`.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def full(coef, shape) -> np.ndarray:
    """A scalar, `B`-shaped or `[T, *B]` coefficient as a float64 `[T, *B]` array."""
    return np.array(np.broadcast_to(f64(coef), shape))


def batch_indices(shape):
    """Every batch index of a `[T, *B]` array (the empty tuple when there is no batch axis)."""
    return list(np.ndindex(*shape[1:]))


def column(x, index):
    """The length-T trajectory `x[:, *index]` as a 1-D float64 array."""
    return f64(x)[(slice(None), *index)]


def segment_end(terminated, truncated, t) -> int:
    """The last step of the episode segment that contains step t (inclusive)."""
    num_steps = len(terminated)
    j = t
    while j < num_steps - 1 and not terminated[j] and not truncated[j]:
        j += 1
    return j


def continues(terminated, truncated, t) -> bool:
    """Whether the recursion carries from t + 1 into t (same episode, not the last row)."""
    return (not terminated[t]) and (not truncated[t]) and t < len(terminated) - 1


# --------------------------------------------------------------------------------------------
# Returns and advantages (one trajectory at a time, then looped over the batch)
# --------------------------------------------------------------------------------------------


def _td_errors_1d(r, v, nv, term, gamma):
    out = np.zeros(len(r))
    for t in range(len(r)):
        successor = 0.0 if term[t] else nv[t]
        out[t] = r[t] + gamma[t] * successor - v[t]
    return out


def _discounted_returns_1d(r, term, trunc, gamma, nv):
    """G_t = sum_{k=t}^{e} (prod_{i=t}^{k-1} g_i) r_k + (prod_{i=t}^{e} g_i) (1 - term_e) nv_e."""
    num_steps = len(r)
    out = np.zeros(num_steps)
    for t in range(num_steps):
        end = segment_end(term, trunc, t)
        total = 0.0
        discount = 1.0
        for k in range(t, end + 1):
            total += discount * r[k]
            discount *= gamma[k]
        if not term[end] and nv is not None:
            total += discount * nv[end]
        out[t] = total
    return out


def _n_step_at(r, nv, term, trunc, gamma, n, t):
    """Sum up to n rewards within the segment, then bootstrap from the last step's successor."""
    end = min(segment_end(term, trunc, t), t + n - 1)
    total = 0.0
    discount = 1.0
    for k in range(t, end + 1):
        total += discount * r[k]
        discount *= gamma[k]
    if not term[end]:
        total += discount * nv[end]
    return total


def _n_step_1d(r, nv, term, trunc, gamma, n):
    return np.array([_n_step_at(r, nv, term, trunc, gamma, n, t) for t in range(len(r))])


def _lambda_returns_1d(r, nv, term, trunc, gamma, lam):
    """The λ-return as an explicit weighted mix of n-step returns.

    G^λ_t = sum_k w_k G^(k+1)_t with w_k = (prod_{i<k} λ_{t+i} c_{t+i}) (1 − λ_{t+k} c_{t+k}):
    the weights telescope to 1 because c = 0 at the end of the segment.
    """
    num_steps = len(r)
    out = np.zeros(num_steps)
    for t in range(num_steps):
        end = segment_end(term, trunc, t)
        total = 0.0
        weight_so_far = 1.0
        for k in range(end - t + 1):
            c = 1.0 if continues(term, trunc, t + k) else 0.0
            trace = lam[t + k] * c
            n_step = _n_step_at(r, nv, term, trunc, gamma, k + 1, t)
            total += weight_so_far * (1.0 - trace) * n_step
            weight_so_far *= trace
        out[t] = total
    return out


def _gae_1d(r, v, nv, term, trunc, gamma, lam):
    """Â_t = sum_{k=t}^{e} (prod_{i=t}^{k-1} γ_i λ_i) δ_k over the rest of the segment."""
    deltas = _td_errors_1d(r, v, nv, term, gamma)
    num_steps = len(r)
    out = np.zeros(num_steps)
    for t in range(num_steps):
        end = segment_end(term, trunc, t)
        weight = 1.0
        for k in range(t, end + 1):
            out[t] += weight * deltas[k]
            weight *= gamma[k] * lam[k]
    return out


def _per_trajectory(fn, shape, arrays, *extra):
    out = np.zeros(shape)
    for index in batch_indices(shape):
        cols = [None if a is None else column(a, index) for a in arrays]
        out[(slice(None), *index)] = fn(*cols, *extra)
    return out


def td_errors(rewards, values, next_values, terminated, gamma):
    shape = np.shape(rewards)
    arrays = (rewards, values, next_values, terminated, full(gamma, shape))
    return _per_trajectory(_td_errors_1d, shape, arrays)


def discounted_returns(rewards, terminated, truncated, gamma, next_values=None):
    shape = np.shape(rewards)
    arrays = (rewards, terminated, truncated, full(gamma, shape), next_values)
    return _per_trajectory(_discounted_returns_1d, shape, arrays)


def n_step_returns(rewards, next_values, terminated, truncated, gamma, n):
    shape = np.shape(rewards)
    arrays = (rewards, next_values, terminated, truncated, full(gamma, shape))
    return _per_trajectory(_n_step_1d, shape, arrays, n)


def lambda_returns(rewards, next_values, terminated, truncated, gamma, lambda_):
    shape = np.shape(rewards)
    arrays = (
        rewards,
        next_values,
        terminated,
        truncated,
        full(gamma, shape),
        full(lambda_, shape),
    )
    return _per_trajectory(_lambda_returns_1d, shape, arrays)


def gae(rewards, values, next_values, terminated, truncated, gamma, lambda_):
    """(advantages, value targets = advantages + values)."""
    shape = np.shape(rewards)
    arrays = (
        rewards,
        values,
        next_values,
        terminated,
        truncated,
        full(gamma, shape),
        full(lambda_, shape),
    )
    advantages = _per_trajectory(_gae_1d, shape, arrays)
    return advantages, advantages + f64(values)


def _vtrace_1d(r, v, nv, term, trunc, log_rho, gamma, lam, rho_bar, c_bar, pg_rho_bar, output):
    """v_s = V(s_s) + sum_{t=s}^{e} (prod_{i=s}^{t-1} γ_i c_i) δ_t over the rest of the segment
    (Espeholt et al., 2018, eq. 1), then Â_s = ρ^pg_s (r_s + γ_s q_s − V(s_s)) with q_s = 0
    after a termination, V(s'_s) at a segment end, V(s'_s) + λ_s (v_{s+1} − V(s_{s+1})) inside."""
    num_steps = len(r)
    rho = [math.exp(x) for x in log_rho]
    targets = np.zeros(num_steps)
    for s in range(num_steps):
        total, weight = v[s], 1.0
        for t in range(s, segment_end(term, trunc, t=s) + 1):
            successor = 0.0 if term[t] else nv[t]
            total += weight * min(rho_bar[t], rho[t]) * (r[t] + gamma[t] * successor - v[t])
            weight *= gamma[t] * lam[t] * min(c_bar[t], rho[t])
        targets[s] = total
    if output == "targets":
        return targets
    advantages = np.zeros(num_steps)
    for s in range(num_steps):
        if term[s]:
            q = 0.0
        elif continues(term, trunc, s):
            q = nv[s] + lam[s] * (targets[s + 1] - v[s + 1])
        else:
            q = nv[s]
        advantages[s] = min(pg_rho_bar[s], rho[s]) * (r[s] + gamma[s] * q - v[s])
    return advantages


def vtrace(
    rewards,
    values,
    next_values,
    terminated,
    truncated,
    log_rhos,
    gamma,
    lambda_=1.0,
    rho_bar=1.0,
    c_bar=1.0,
    pg_rho_bar=1.0,
):
    """(advantages, value targets), as `pgjax.vtrace`."""
    shape = np.shape(rewards)
    arrays = (
        rewards,
        values,
        next_values,
        terminated,
        truncated,
        log_rhos,
        *(full(c, shape) for c in (gamma, lambda_, rho_bar, c_bar, pg_rho_bar)),
    )
    return tuple(
        _per_trajectory(_vtrace_1d, shape, arrays, output) for output in ("advantages", "targets")
    )


def reverse_linear_recurrence(coefficients, offsets):
    """y_t = sum_{k>=t} (prod_{i=t}^{k-1} a_i) b_k (the solution of y_t = b_t + a_t y_{t+1})."""
    a, b = f64(coefficients), f64(offsets)
    shape = a.shape
    out = np.zeros(shape)
    for index in batch_indices(shape):
        ac, bc = column(a, index), column(b, index)
        for t in range(shape[0]):
            weight = 1.0
            total = 0.0
            for k in range(t, shape[0]):
                total += weight * bc[k]
                weight *= ac[k]
            out[(t, *index)] = total
    return out


# --------------------------------------------------------------------------------------------
# Reductions and losses
# --------------------------------------------------------------------------------------------


def _mask_or_ones(mask, shape):
    return np.ones(shape, bool) if mask is None else np.asarray(mask, bool)


def aggregate(losses, mask=None, reduction="mean", normalizer=None) -> float:
    losses = f64(losses)
    mask = _mask_or_ones(mask, losses.shape)
    flat_l, flat_m = losses.reshape(-1), mask.reshape(-1)
    if reduction in ("mean", "sum", "constant_normalizer"):
        total = 0.0
        count = 0
        for value, valid in zip(flat_l, flat_m, strict=True):
            if valid:
                total += value
                count += 1
        if reduction == "sum":
            return total
        if reduction == "constant_normalizer":
            return total / normalizer
        return total / count if count else 0.0
    # Sequence reductions: the last axis is the sequence axis.
    rows_l = losses.reshape(-1, losses.shape[-1])
    rows_m = mask.reshape(-1, losses.shape[-1])
    per_sequence = []
    for row_l, row_m in zip(rows_l, rows_m, strict=True):
        tokens = [value for value, valid in zip(row_l, row_m, strict=True) if valid]
        if not tokens:
            continue
        if reduction == "seq_mean_token_mean":
            per_sequence.append(sum(tokens) / len(tokens))
        elif reduction == "seq_mean_token_sum":
            per_sequence.append(sum(tokens))
        else:
            raise ValueError(reduction)
    return sum(per_sequence) / len(per_sequence) if per_sequence else 0.0


def policy_gradient_loss(log_probs, advantages, mask=None, reduction="mean") -> float:
    per = -f64(log_probs) * f64(advantages)
    return aggregate(per, mask, reduction)


def _clipped_objective(ratio, advantage, low, high, dual_clip):
    clipped_ratio = min(max(ratio, low), high)
    objective = min(ratio * advantage, clipped_ratio * advantage)
    if dual_clip is not None and advantage < 0:
        objective = max(objective, dual_clip * advantage)
    return objective


def sequence_log_ratio(log_probs, old_log_probs, mask=None):
    lp, olp = f64(log_probs), f64(old_log_probs)
    mask = _mask_or_ones(mask, lp.shape)
    out = np.zeros(lp.shape[:-1])
    for index in np.ndindex(*lp.shape[:-1]):
        diffs = [
            lp[(*index, i)] - olp[(*index, i)] for i in range(lp.shape[-1]) if mask[(*index, i)]
        ]
        out[index] = sum(diffs) / len(diffs) if diffs else 0.0
    return out


def ppo_clip_loss(
    log_probs,
    old_log_probs,
    advantages,
    clip_eps=0.2,
    clip_eps_high=None,
    dual_clip=None,
    sequence_level=False,
    mask=None,
    reduction="mean",
) -> float:
    low = 1.0 - clip_eps
    high = 1.0 + (clip_eps if clip_eps_high is None else clip_eps_high)
    adv = f64(advantages)
    if sequence_level:
        log_ratio = sequence_log_ratio(log_probs, old_log_probs, mask)
        mask = None if mask is None else np.asarray(mask, bool).any(-1)
    else:
        log_ratio = f64(log_probs) - f64(old_log_probs)
    per = np.zeros(adv.shape)
    for index in np.ndindex(*adv.shape):
        ratio = math.exp(log_ratio[index])
        per[index] = -_clipped_objective(ratio, adv[index], low, high, dual_clip)
    return aggregate(per, mask, reduction)


def clip_fraction(log_probs, old_log_probs, clip_eps=0.2, clip_eps_high=None, mask=None):
    high = 1.0 + (clip_eps if clip_eps_high is None else clip_eps_high)
    low = 1.0 - clip_eps
    ratio = np.exp(f64(log_probs) - f64(old_log_probs))
    outside = np.zeros(ratio.shape)
    for index in np.ndindex(*ratio.shape):
        outside[index] = float(ratio[index] < low or ratio[index] > high)
    return aggregate(outside, mask, "mean")


def _value_element(error, loss, delta):
    if loss == "squared":
        return 0.5 * error * error
    if abs(error) <= delta:
        return 0.5 * error * error
    return delta * (abs(error) - 0.5 * delta)


def value_loss(
    values,
    targets,
    old_values=None,
    clip_eps=None,
    loss="squared",
    huber_delta=1.0,
    mask=None,
    reduction="mean",
) -> float:
    v, g = f64(values), f64(targets)
    per = np.zeros(v.shape)
    for index in np.ndindex(*v.shape):
        unclipped = _value_element(v[index] - g[index], loss, huber_delta)
        if old_values is not None:
            old = f64(old_values)[index]
            clipped_value = old + min(max(v[index] - old, -clip_eps), clip_eps)
            clipped = _value_element(clipped_value - g[index], loss, huber_delta)
            unclipped = max(unclipped, clipped)
        per[index] = unclipped
    return aggregate(per, mask, reduction)


def kl_estimate(log_probs, ref_log_probs, estimator="k3"):
    lp, rlp = f64(log_probs), f64(ref_log_probs)
    out = np.zeros(lp.shape)
    for index in np.ndindex(*lp.shape):
        ratio = math.exp(rlp[index] - lp[index])  # r = π_ref(a) / π(a)
        if estimator == "k1":
            out[index] = -math.log(ratio)
        elif estimator == "k2":
            out[index] = 0.5 * math.log(ratio) ** 2
        else:
            out[index] = (ratio - 1.0) - math.log(ratio)
    return out


# --------------------------------------------------------------------------------------------
# Baselines and normalisation
# --------------------------------------------------------------------------------------------


def batch_mean_baseline(returns, mask=None):
    g = f64(returns)
    mask = _mask_or_ones(mask, g.shape)
    valid = [value for value, ok in zip(g.reshape(-1), mask.reshape(-1), strict=True) if ok]
    mean = sum(valid) / len(valid) if valid else 0.0
    return np.full(g.shape, mean)


def _move_last(x, axis):
    return np.moveaxis(x, axis, -1)


def leave_one_out_baseline(returns, mask=None, axis=-1):
    g = _move_last(f64(returns), axis)
    m = _move_last(_mask_or_ones(mask, np.shape(returns)), axis)
    out = np.zeros(g.shape)
    size = g.shape[-1]
    for index in np.ndindex(*g.shape[:-1]):
        for i in range(size):
            others = [g[(*index, j)] for j in range(size) if j != i and m[(*index, j)]]
            out[(*index, i)] = sum(others) / len(others) if others else 0.0
    return np.moveaxis(out, -1, axis)


def _group_rows(rewards, mask):
    r = f64(rewards)
    m = _mask_or_ones(mask, r.shape)
    return r, m


def grpo_advantages(rewards, mask=None, eps=1e-6, ddof=0):
    r, m = _group_rows(rewards, mask)
    out = np.zeros(r.shape)
    for index in np.ndindex(*r.shape[:-1]):
        group = [r[(*index, i)] for i in range(r.shape[-1]) if m[(*index, i)]]
        if not group:
            continue
        mean = sum(group) / len(group)
        squares = sum((x - mean) ** 2 for x in group)
        std = math.sqrt(squares / (len(group) - ddof)) if len(group) > ddof else 0.0
        for i in range(r.shape[-1]):
            if m[(*index, i)]:
                out[(*index, i)] = (r[(*index, i)] - mean) / (std + eps)
    return out


def bradley_terry_loss(chosen, rejected, mask=None, reduction="mean"):
    """−log σ(r_c − r_r) = log(1 + e^(r_r − r_c)) per pair (computed as max(x, 0) +
    log(1 + e^(−|x|)), exact for any margin), reduced like `aggregate`."""
    x = (f64(rejected) - f64(chosen)).reshape(-1)
    losses = [max(v, 0.0) + math.log1p(math.exp(-abs(v))) for v in x]
    return aggregate(np.asarray(losses).reshape(np.shape(chosen)), mask, reduction)


def dr_grpo_advantages(rewards, mask=None):
    r, m = _group_rows(rewards, mask)
    out = np.zeros(r.shape)
    for index in np.ndindex(*r.shape[:-1]):
        group = [r[(*index, i)] for i in range(r.shape[-1]) if m[(*index, i)]]
        if not group:
            continue
        mean = sum(group) / len(group)
        for i in range(r.shape[-1]):
            if m[(*index, i)]:
                out[(*index, i)] = r[(*index, i)] - mean
    return out


def rloo_advantages(rewards, mask=None):
    r, m = _group_rows(rewards, mask)
    out = np.zeros(r.shape)
    size = r.shape[-1]
    for index in np.ndindex(*r.shape[:-1]):
        for i in range(size):
            if not m[(*index, i)]:
                continue
            others = [r[(*index, j)] for j in range(size) if j != i and m[(*index, j)]]
            baseline = sum(others) / len(others) if others else 0.0
            out[(*index, i)] = r[(*index, i)] - baseline
    return out


def normalize(advantages, mask=None, eps=1e-8):
    a = f64(advantages)
    m = _mask_or_ones(mask, a.shape)
    valid = [x for x, ok in zip(a.reshape(-1), m.reshape(-1), strict=True) if ok]
    out = np.zeros(a.shape)
    if not valid:
        return out
    mean = sum(valid) / len(valid)
    std = math.sqrt(sum((x - mean) ** 2 for x in valid) / len(valid))
    for index in np.ndindex(*a.shape):
        if m[index]:
            out[index] = (a[index] - mean) / (std + eps)
    return out


# --------------------------------------------------------------------------------------------
# Off-policy targets and losses: one transition at a time over `[*S]`, critics over `[K, *S]`
# --------------------------------------------------------------------------------------------


def q_learning_targets(rewards, next_q_values, terminated, gamma, next_q_selector=None):
    """y = r, or r + γ Q̄(s', a*) with a* the first maximiser of the selector (Q̄ itself for
    plain Q-learning, the online Q for double Q-learning)."""
    r, q = f64(rewards), f64(next_q_values)
    selector = q if next_q_selector is None else f64(next_q_selector)
    g = full(gamma, r.shape)
    out = np.zeros(r.shape)
    for index in np.ndindex(*r.shape):
        if terminated[index]:
            out[index] = r[index]
            continue
        best = 0
        for a in range(q.shape[-1]):
            if selector[(*index, a)] > selector[(*index, best)]:
                best = a
        out[index] = r[index] + g[index] * q[(*index, best)]
    return out


def q_value_loss(q_values, actions, targets, loss="huber", huber_delta=1.0, mask=None):
    """The masked mean over transitions of ℓ(Q(s, a) − y)."""
    q, y = f64(q_values), f64(targets)
    per = np.zeros(y.shape)
    for index in np.ndindex(*y.shape):
        per[index] = _value_element(q[(*index, int(actions[index]))] - y[index], loss, huber_delta)
    return aggregate(per, mask)


def epsilon_greedy_probs(q_values, epsilon):
    """[*S, A] ε/A everywhere plus 1 − ε on the first maximal action."""
    q = f64(q_values)
    eps = full(epsilon, q.shape[:-1])
    out = np.zeros(q.shape)
    for index in np.ndindex(*q.shape[:-1]):
        best = 0
        for a in range(q.shape[-1]):
            out[(*index, a)] = eps[index] / q.shape[-1]
            if q[(*index, a)] > q[(*index, best)]:
                best = a
        out[(*index, best)] += 1.0 - eps[index]
    return out


def linear_schedule(count, start, end, duration):
    if duration <= 0 or count >= duration:
        return float(end)
    return start + (end - start) * max(count, 0) / duration


def soft_q_targets(rewards, next_q_values, next_log_probs, terminated, gamma, temperature):
    """y = r + γ (min_k Q̄_k(s', a') − α log π(a'|s')), or r after a termination."""
    r, q, lp = f64(rewards), f64(next_q_values), f64(next_log_probs)
    g = full(gamma, r.shape)
    out = np.zeros(r.shape)
    for index in np.ndindex(*r.shape):
        out[index] = r[index]
        if not terminated[index]:
            smallest = min(q[(k, *index)] for k in range(q.shape[0]))
            out[index] += g[index] * (smallest - temperature * lp[index])
    return out


def twin_q_loss(q_values, targets, mask=None):
    q, y = f64(q_values), f64(targets)
    total = 0.0
    for k in range(q.shape[0]):
        per = np.zeros(y.shape)
        for index in np.ndindex(*y.shape):
            per[index] = 0.5 * (q[(k, *index)] - y[index]) ** 2
        total += aggregate(per, mask)
    return total


def sac_actor_loss(log_probs, q_values, temperature, mask=None):
    lp, q = f64(log_probs), f64(q_values)
    per = np.zeros(lp.shape)
    for index in np.ndindex(*lp.shape):
        smallest = min(q[(k, *index)] for k in range(q.shape[0]))
        per[index] = temperature * lp[index] - smallest
    return aggregate(per, mask)


def sac_temperature_loss(log_temperature, log_probs, target_entropy, mask=None):
    lp = f64(log_probs)
    per = np.zeros(lp.shape)
    for index in np.ndindex(*lp.shape):
        per[index] = -math.exp(log_temperature) * (lp[index] + target_entropy)
    return aggregate(per, mask)


# --------------------------------------------------------------------------------------------
# Action distributions: one batch element (one row of actions or action dimensions) at a time
# --------------------------------------------------------------------------------------------


def categorical_log_probs(logits, mask=None):
    """[*B, A] log π(a): softmax over the valid actions of each row, −inf for the others; a row
    with no valid action is uniform over all A actions (pgjax's documented choice)."""
    z = f64(logits)
    valid = np.ones(z.shape, bool) if mask is None else np.asarray(mask, bool)
    out = np.full(z.shape, -np.inf)
    for index in np.ndindex(*z.shape[:-1]):
        actions = [a for a in range(z.shape[-1]) if valid[(*index, a)]]
        if not actions:
            out[index] = -math.log(z.shape[-1])
            continue
        top = max(z[(*index, a)] for a in actions)
        total = sum(math.exp(z[(*index, a)] - top) for a in actions)
        for a in actions:
            out[(*index, a)] = z[(*index, a)] - top - math.log(total)
    return out


def categorical_entropy(logits, mask=None):
    """[*B] −Σ_a π(a) log π(a) over the actions of positive probability."""
    log_p = categorical_log_probs(logits, mask)
    out = np.zeros(log_p.shape[:-1])
    for index in np.ndindex(*out.shape):
        for a in range(log_p.shape[-1]):
            if log_p[(*index, a)] > -np.inf:
                out[index] -= math.exp(log_p[(*index, a)]) * log_p[(*index, a)]
    return out


def categorical_kl(logits, other_logits, mask=None, other_mask=None):
    """[*B] Σ_a π(a) (log π(a) − log π'(a)) over the actions π makes possible."""
    log_p = categorical_log_probs(logits, mask)
    log_q = categorical_log_probs(other_logits, other_mask)
    out = np.zeros(log_p.shape[:-1])
    for index in np.ndindex(*out.shape):
        for a in range(log_p.shape[-1]):
            if log_p[(*index, a)] > -np.inf:
                p = math.exp(log_p[(*index, a)])
                out[index] += p * (log_p[(*index, a)] - log_q[(*index, a)])
    return out


def _normal_log_density(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)


def tanh_gaussian_log_prob(actions, mean, log_std, low=-1.0, high=1.0, eps=1e-6):
    """[*B] log π(a) of a = c + s tanh(u), u ~ N(μ, σ²): the change of variables
    log N(u) − log(s (1 − tanh²u)) per dimension, with y = (a − c)/s clipped to ±(1 − eps)."""
    a, mu = f64(actions), f64(mean)
    std = np.exp(np.broadcast_to(f64(log_std), a.shape))
    lo, hi = np.broadcast_to(f64(low), a.shape), np.broadcast_to(f64(high), a.shape)
    out = np.zeros(a.shape[:-1])
    for index in np.ndindex(*a.shape):
        centre, scale = (hi[index] + lo[index]) / 2, (hi[index] - lo[index]) / 2
        y = min(max((a[index] - centre) / scale, -1 + eps), 1 - eps)
        u = math.atanh(y)
        density = _normal_log_density(u, mu[index], std[index]) - math.log(scale * (1 - y * y))
        out[index[:-1]] += density
    return out


def tanh_gaussian_moments(mean, log_std, low=-1.0, high=1.0, points=200):
    """([*B, D] E[a], [*B, D] Var[a]) of a = c + s tanh(u), u ~ N(μ, σ²), by Gauss-Hermite
    quadrature (probabilists' weights, normalised by √(2π))."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    weights = weights / math.sqrt(2 * math.pi)
    mu = f64(mean)
    std = np.exp(np.broadcast_to(f64(log_std), mu.shape))
    lo, hi = np.broadcast_to(f64(low), mu.shape), np.broadcast_to(f64(high), mu.shape)
    first, second = np.zeros(mu.shape), np.zeros(mu.shape)
    for index in np.ndindex(*mu.shape):
        centre, scale = (hi[index] + lo[index]) / 2, (hi[index] - lo[index]) / 2
        a = centre + scale * np.tanh(mu[index] + std[index] * nodes)
        first[index] = np.sum(weights * a)
        second[index] = np.sum(weights * a * a)
    return first, second - first**2


def _beta_log_density(x, one_minus_x, alpha, beta):
    """log Beta(x; α, β), with 1 − x given separately so that it keeps its precision near 1."""
    log_norm = math.lgamma(alpha) + math.lgamma(beta) - math.lgamma(alpha + beta)
    return (alpha - 1) * math.log(x) + (beta - 1) * math.log(one_minus_x) - log_norm


def beta_log_prob(actions, alpha, beta, low=0.0, high=1.0, eps=1e-6):
    """[*B] Σ_d log of the Beta(α, β) density of x = (a − low)/(high − low), clipped into
    [eps, 1 − eps], divided by high − low."""
    a, al, be = f64(actions), f64(alpha), f64(beta)
    lo, hi = np.broadcast_to(f64(low), a.shape), np.broadcast_to(f64(high), a.shape)
    out = np.zeros(a.shape[:-1])
    for index in np.ndindex(*a.shape):
        width = hi[index] - lo[index]
        x = min(max((a[index] - lo[index]) / width, eps), 1 - eps)
        out[index[:-1]] += _beta_log_density(x, 1 - x, al[index], be[index]) - math.log(width)
    return out


def _unit_interval_quadrature(step=1 / 32, reach=5.0):
    """Nodes x, 1 − x and weights of the tanh-sinh (double exponential) rule on (0, 1):
    x = 1/(1 + exp(−π sinh s)), dx = x (1 − x) π cosh s ds, s on a uniform grid. It integrates
    the Beta densities' endpoint singularities (x^(α−1), α < 1) to near float64 precision."""
    s = np.arange(-reach, reach + step / 2, step)
    x = 1 / (1 + np.exp(-math.pi * np.sinh(s)))
    one_minus_x = 1 / (1 + np.exp(math.pi * np.sinh(s)))
    return x, one_minus_x, step * x * one_minus_x * math.pi * np.cosh(s)


def _beta_log_densities(alpha, beta):
    """log Beta(x; α, β) at the quadrature nodes."""
    x, one_minus_x, _ = _unit_interval_quadrature()
    return np.array([_beta_log_density(*n, alpha, beta) for n in zip(x, one_minus_x, strict=True)])


def beta_entropy(alpha, beta, low=0.0, high=1.0):
    """[*B] Σ_d −∫ p log p of the Beta density, by numerical integration, + log(high − low)."""
    al, be = f64(alpha), f64(beta)
    lo, hi = np.broadcast_to(f64(low), al.shape), np.broadcast_to(f64(high), al.shape)
    weights = _unit_interval_quadrature()[2]
    out = np.zeros(al.shape[:-1])
    for index in np.ndindex(*al.shape):
        log_p = _beta_log_densities(al[index], be[index])
        entropy = -np.sum(weights * np.exp(log_p) * log_p)
        out[index[:-1]] += entropy + math.log(hi[index] - lo[index])
    return out


def beta_kl(alpha, beta, other_alpha, other_beta):
    """[*B] Σ_d ∫ p (log p − log q) of two Beta densities, by numerical integration."""
    al, be, al2, be2 = (f64(v) for v in (alpha, beta, other_alpha, other_beta))
    weights = _unit_interval_quadrature()[2]
    out = np.zeros(al.shape[:-1])
    for index in np.ndindex(*al.shape):
        log_p = _beta_log_densities(al[index], be[index])
        log_q = _beta_log_densities(al2[index], be2[index])
        out[index[:-1]] += np.sum(weights * np.exp(log_p) * (log_p - log_q))
    return out


def beta_moments(alpha, beta, low=0.0, high=1.0):
    """([*B, D] E[a], [*B, D] Var[a]) of a = low + (high − low) x, x ~ Beta(α, β)."""
    al, be = f64(alpha), f64(beta)
    lo, hi = np.broadcast_to(f64(low), al.shape), np.broadcast_to(f64(high), al.shape)
    total = al + be
    mean = al / total
    variance = al * be / (total**2 * (total + 1))
    return lo + (hi - lo) * mean, (hi - lo) ** 2 * variance


# Language-model RL: one response (the last axis) at a time
# --------------------------------------------------------------------------------------------


def cispo_loss(
    log_probs, old_log_probs, advantages, clip_eps_low, clip_eps_high, mask=None, reduction="mean"
) -> float:
    """The value −clip(ρ)·Â·log π per token (the weight is a constant only for the gradient)."""
    lp, olp, adv = f64(log_probs), f64(old_log_probs), f64(advantages)
    per = np.zeros(lp.shape)
    for index in np.ndindex(*lp.shape):
        ratio = math.exp(lp[index] - olp[index])
        weight = min(max(ratio, 1.0 - clip_eps_low), 1.0 + clip_eps_high)
        per[index] = -weight * adv[index] * lp[index]
    return aggregate(per, mask, reduction)


def _response_log_ratios(train, rollout, mask, index):
    """The valid tokens' log π_train − log π_rollout of response `index`."""
    return [
        train[(*index, t)] - rollout[(*index, t)]
        for t in range(train.shape[-1])
        if mask[(*index, t)]
    ]


def truncated_importance_weights(train_log_probs, rollout_log_probs, cap, level, mask=None):
    train, rollout = f64(train_log_probs), f64(rollout_log_probs)
    mask = _mask_or_ones(mask, train.shape)
    out = np.zeros(train.shape)
    for index in np.ndindex(*train.shape[:-1]):
        sequence_ratio = math.exp(sum(_response_log_ratios(train, rollout, mask, index)))
        for t in range(train.shape[-1]):
            if not mask[(*index, t)]:
                continue
            token_ratio = math.exp(train[(*index, t)] - rollout[(*index, t)])
            out[(*index, t)] = min(token_ratio if level == "token" else sequence_ratio, cap)
    return out


def importance_ratio_mask(train_log_probs, rollout_log_probs, low, high, level, mask=None):
    train, rollout = f64(train_log_probs), f64(rollout_log_probs)
    mask = _mask_or_ones(mask, train.shape)
    out = np.zeros(train.shape, bool)
    for index in np.ndindex(*train.shape[:-1]):
        log_ratios = _response_log_ratios(train, rollout, mask, index)
        product = math.exp(sum(log_ratios))
        geometric = math.exp(sum(log_ratios) / len(log_ratios)) if log_ratios else 1.0
        for t in range(train.shape[-1]):
            if not mask[(*index, t)]:
                continue
            ratio = {
                "token": math.exp(train[(*index, t)] - rollout[(*index, t)]),
                "sequence": product,
                "geometric": geometric,
            }[level]
            out[(*index, t)] = low <= ratio <= high
    return out


def reinforce_plus_plus_advantages(
    rewards, log_probs, ref_log_probs, mask, kl_coef, gamma=1.0, estimator="k1", eps=1e-8
):
    """Per response: the score on its last valid token minus β·k per valid token, the discounted
    sum of the rewards from each token to the end; then batch whitening over valid tokens."""
    lp, rlp = f64(log_probs), f64(ref_log_probs)
    mask = _mask_or_ones(mask, lp.shape)
    penalty = kl_estimate(lp, rlp, estimator)
    scores = f64(rewards)
    num_tokens = lp.shape[-1]
    returns = np.zeros(lp.shape)
    for index in np.ndindex(*lp.shape[:-1]):
        valid = [t for t in range(num_tokens) if mask[(*index, t)]]
        token_rewards = [0.0] * num_tokens
        for t in valid:
            token_rewards[t] -= kl_coef * penalty[(*index, t)]
            if scores.shape == lp.shape:
                token_rewards[t] += scores[(*index, t)]
        if valid and scores.shape != lp.shape:
            token_rewards[valid[-1]] += scores[index]
        for t in range(num_tokens):
            returns[(*index, t)] = sum(
                gamma ** (u - t) * token_rewards[u] for u in range(t, num_tokens)
            )
    return normalize(returns, mask, eps)


def dynamic_sampling_mask(group_rewards, mask=None):
    r = f64(group_rewards)
    mask = _mask_or_ones(mask, r.shape)
    out = np.zeros(r.shape[:-1], bool)
    for index in np.ndindex(*r.shape[:-1]):
        values = {r[(*index, i)] for i in range(r.shape[-1]) if mask[(*index, i)]}
        out[index] = len(values) > 1
    return out


def overlong_penalty(lengths, max_length, cache_length):
    lengths = f64(lengths)
    out = np.zeros(lengths.shape)
    for index in np.ndindex(*lengths.shape):
        length = lengths[index]
        if length <= max_length - cache_length:
            out[index] = 0.0
        elif length <= max_length:
            out[index] = ((max_length - cache_length) - length) / cache_length
        else:
            out[index] = -1.0
    return out


def token_log_probs(hidden, unembedding, tokens, temperature=1.0):
    """`(log π(y), H(π))` per position, from the logits h·W/τ one position at a time."""
    h, w = f64(hidden), f64(unembedding)
    tokens = np.asarray(tokens)
    log_probs, entropy = np.zeros(tokens.shape), np.zeros(tokens.shape)
    for index in np.ndindex(*tokens.shape):
        logits = [float(h[index] @ w[:, v]) / temperature for v in range(w.shape[1])]
        top = max(logits)
        log_total = top + math.log(sum(math.exp(z - top) for z in logits))
        log_p = [z - log_total for z in logits]
        log_probs[index] = log_p[tokens[index]]
        entropy[index] = -sum(math.exp(x) * x for x in log_p)
    return log_probs, entropy


# --------------------------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------------------------

BATCH_SHAPES = ((), (3,), (2, 3))


def random_trajectory(
    rng: np.random.Generator,
    shape,
    p_terminated: float = 0.2,
    p_truncated: float = 0.2,
    consistent_next_values: bool = False,
):
    """Random float64 rewards/values/next_values and bool flags of shape `shape` = `[T, *B]`.

    Flags are drawn independently, so a step can be both terminated and truncated (terminated
    wins: the successor is worth 0). With `consistent_next_values`, next_values[t] = values[t+1]
    inside an episode, and an independent V(final observation) at episode ends and the last row.
    """
    rewards = rng.normal(size=shape)
    values = rng.normal(size=shape)
    next_values = rng.normal(size=shape)
    terminated = rng.random(shape) < p_terminated
    truncated = rng.random(shape) < p_truncated
    if consistent_next_values and shape[0] > 1:
        inside = ~(terminated | truncated)[:-1]
        next_values[:-1] = np.where(inside, values[1:], next_values[:-1])
    return {
        "rewards": rewards,
        "values": values,
        "next_values": next_values,
        "terminated": terminated,
        "truncated": truncated,
    }


def random_coefficient(rng: np.random.Generator, kind: str, shape, low=0.0, high=1.0):
    """A coefficient in [low, high] given as a scalar, per batch element (`B`) or full `[T, *B]`."""
    if kind == "scalar":
        return np.float64(rng.uniform(low, high))
    if kind == "batch":
        return rng.uniform(low, high, size=shape[1:])
    if kind == "full":
        return rng.uniform(low, high, size=shape)
    raise ValueError(kind)


# --------------------------------------------------------------------------------------------
# Loss-kernel test data: `[*B, L]` = 4 sequences of 6 tokens
# --------------------------------------------------------------------------------------------

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True)
TOL = {"rtol": 1e-5, "atol": 1e-6}
SHAPE = (4, 6)


def f32(x):
    return jnp.asarray(x, jnp.float32)


def random_mask(rng, shape, kind):
    """None, a random mask with a fully masked row, or an all-False mask."""
    if kind == "none":
        return None
    if kind == "all_masked":
        return np.zeros(shape, bool)
    mask = rng.random(shape) < 0.6
    mask[0] = False  # a sequence with no valid token
    mask[1, 0] = True
    return mask


def jmask(mask):
    return None if mask is None else jnp.asarray(mask)


float_arrays = hnp.arrays(
    np.float64, SHAPE, elements=st.floats(-3.0, 3.0, allow_nan=False, width=32)
)
mask_arrays = hnp.arrays(np.bool_, SHAPE)


# --------------------------------------------------------------------------------------------
# Recurrent policies
# --------------------------------------------------------------------------------------------


def scan_with_resets(cell, carry, inputs, resets, initial):
    """`pgjax.training.recurrent.scan_with_resets` on `[T, B, ...]` NumPy arrays, one batch
    element and one step at a time: the state restarts from `initial[b]` at every reset."""
    steps, batch = resets.shape
    carry = f64(carry).copy()
    outputs = []
    for t in range(steps):
        row = []
        for b in range(batch):
            if resets[t, b]:
                carry[b] = f64(initial)[b]
            carry[b], y = cell(carry[b], f64(inputs)[t, b])
            row.append(y)
        outputs.append(row)
    return carry, np.asarray(outputs)
