"""Non-finite values are contained: masks and episode boundaries select, they never multiply.

For every kernel that takes a mask or episode boundaries, NaN, +inf and −inf written into the
slots a result must not depend on (masked-out elements, other episodes, the successor value of a
terminated step) leave the result and its gradient with respect to every float input
bit-identical to those of the clean input. A second test writes +inf into slots the result does
depend on and checks that it shows, so the first cannot pass by never reading the poisoned
inputs.

The return kernels (V-trace included, with its ratios poisoned too) run jitted (one compile
each, fixed shapes). The masked kernels and the one-step kernels of Q-learning and SAC run
eagerly: under jit XLA rewrites `x * convert(mask)` into a select, which hides a mask that
multiplies (measured: the jitted tests passed on the multiplying code of commit 2fad02c, the
eager ones failed for every masked kernel); a scan's products are not rewritten, so there jit
shows it (V-trace's 0 · NaN in the backward pass failed jitted before its products became double
wheres). A guard test fails when a public kernel taking `mask` or `terminated` has no case here,
and every masked kernel is checked to refuse a known mask that is not 0/1.

Invalid-action masks are cases of the same two tests: the logits of masked actions are
poisoned. The bounded distributions' padding rows (poisoned actions and Beta parameters) are
contained by a masked loss; there a padded row's gradient may be −0 instead of 0, so values are
compared, not bits.

Also here: a rejected natural-gradient step is a no-op, and what distributions return for
invalid actions, degenerate logits, masks with no valid action, Beta parameters <= 0 and actions
outside the bounds when the values are traced (the eager errors are in
tests/test_bad_input.py).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import pgjax

EXAMPLES = settings(max_examples=8, deadline=None, derandomize=True)
POISONS = np.array([np.nan, np.inf, -np.inf], np.float32)
TRAJECTORY = (12, 3)  # [T, B] for the return kernels
BATCH = (4, 6)  # [B, L] for the masked kernels (sequence axis last)


def bits(tree) -> list[bytes]:
    """The leaves' bytes, with −0 read as +0: a zero gradient (a step no kept result reads) is the
    zero cotangent times the step's own inputs, so its sign is theirs, which no kernel can
    reproduce once they are NaN. Every other bit counts."""
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]
    return [np.where(leaf == 0, np.zeros_like(leaf), leaf).tobytes() for leaf in leaves]


def poisoned(rng, x: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`x` with NaN, +inf or −inf (drawn per element) wherever `where` holds."""
    return np.where(where, rng.choice(POISONS, size=x.shape), x).astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class Case:
    """`fn(floats, others) -> result`: `floats` (a dict of float arrays) are poisoned and
    differentiated; `others` (flags, masks, actions) are not."""

    fn: Callable
    make: Callable  # rng -> (floats, others, {float name: slots to poison}, kept results)
    jit: bool

    def result_and_gradient(self, floats, others, keep, cotangent):
        """The result where `keep` holds, and the gradient of Σ keep · cotangent · result."""
        run = _jitted if self.jit else _result_and_gradient
        return run(self.fn, floats, others, keep, cotangent)


def _result_and_gradient(fn, floats, others, keep, cotangent):
    def loss(floats):
        out = fn(floats, others)
        return jnp.where(keep, out * cotangent, 0.0).sum(), out

    (_, out), grads = jax.value_and_grad(loss, has_aux=True)(floats)
    return jnp.where(keep, out, 0.0), grads


_jitted = jax.jit(_result_and_gradient, static_argnums=0)


# ------------------------------------------------------------------------------------------
# Episode boundaries: return and advantage kernels
# ------------------------------------------------------------------------------------------


def one_episode_per_column(rng, terminated, truncated) -> np.ndarray:
    """`[T, B]` bool: one randomly chosen episode segment of each column."""
    keep = np.zeros(terminated.shape, bool)
    for b in range(terminated.shape[1]):
        t0 = rng.integers(terminated.shape[0])
        start = t0
        while start > 0 and not (terminated[start - 1, b] or truncated[start - 1, b]):
            start -= 1
        end = ref.segment_end(terminated[:, b], truncated[:, b], t0)
        keep[start : end + 1, b] = True
    return keep


def trajectory(rng, ratios=False):
    data = ref.random_trajectory(rng, TRAJECTORY, p_terminated=0.25, p_truncated=0.15)
    floats = {k: data[k].astype(np.float32) for k in ("rewards", "values", "next_values")}
    if ratios:  # V-trace's log π/μ
        floats["log_rhos"] = rng.normal(scale=0.5, size=TRAJECTORY).astype(np.float32)
    flags = {k: data[k] for k in ("terminated", "truncated")}
    return floats, flags


def episode_case(fn, successor_unused=None, ratios=False) -> Case:
    """Poison every other episode, and `next_values` wherever the kept episode never reads it
    (terminated steps, plus `successor_unused(flags)`)."""

    def make(rng):
        floats, flags = trajectory(rng, ratios)
        keep = one_episode_per_column(rng, flags["terminated"], flags["truncated"])
        unused = flags["terminated"].copy()
        if successor_unused is not None:
            unused |= successor_unused(flags)
        where = {k: ~keep for k in floats}
        where["next_values"] = ~keep | unused
        return floats, flags, where, keep

    return Case(fn, make, jit=True)


def _continuing(flags):
    """Steps whose episode goes on into the next row of the segment."""
    done = flags["terminated"] | flags["truncated"]
    return ~done & (np.arange(done.shape[0]) < done.shape[0] - 1)[:, None]


G, L = 0.9, 0.8


def _gae(f, o, method):
    return pgjax.gae(**f, **o, gamma=G, lambda_=L, method=method, stop_gradient=False)[0]


def _gae_targets(f, o):
    return pgjax.gae(**f, **o, gamma=G, lambda_=L, stop_gradient=False)[1]


def _lambda_returns(f, o, method):
    return pgjax.lambda_returns(
        f["rewards"], f["next_values"], o["terminated"], o["truncated"], G, L,
        method=method, stop_gradient=False,
    )  # fmt: skip


def _discounted(f, o, next_values=True):
    nv = f["next_values"] if next_values else None
    return pgjax.discounted_returns(
        f["rewards"], o["terminated"], o["truncated"], G, nv, stop_gradient=False
    )


def _n_step(f, o):
    return pgjax.n_step_returns(
        f["rewards"], f["next_values"], o["terminated"], o["truncated"], G, 3, stop_gradient=False
    )


def _td(f, o):
    return pgjax.td_errors(
        f["rewards"], f["values"], f["next_values"], o["terminated"], G, stop_gradient=False
    )


def _recurrence(f, o, method):
    # Episode boundaries as zero coefficients: the recurrence's own cut.
    coefficients = jnp.where(o["terminated"] | o["truncated"], 0.0, 0.5)
    return pgjax.reverse_linear_recurrence(coefficients, f["rewards"], method)


def _vtrace(f, o, output, **bars):
    out = pgjax.vtrace(
        f["rewards"], f["values"], f["next_values"], o["terminated"], o["truncated"],
        f["log_rhos"], G, L, stop_gradient=False, **bars,
    )  # fmt: skip
    return out[output]


EPISODE_CASES = {
    "gae_scan": episode_case(functools.partial(_gae, method="scan")),
    "gae_associative": episode_case(functools.partial(_gae, method="associative")),
    "gae_value_targets": episode_case(_gae_targets),
    "lambda_returns_scan": episode_case(functools.partial(_lambda_returns, method="scan")),
    "lambda_returns_associative": episode_case(
        functools.partial(_lambda_returns, method="associative")
    ),
    # λ = 1: next_values is read only where the episode was cut.
    "discounted_returns": episode_case(_discounted, successor_unused=_continuing),
    "discounted_returns_monte_carlo": episode_case(
        functools.partial(_discounted, next_values=False)
    ),
    "n_step_returns": episode_case(_n_step),
    "td_errors": episode_case(_td),
    "reverse_linear_recurrence_scan": episode_case(functools.partial(_recurrence, method="scan")),
    "reverse_linear_recurrence_associative": episode_case(
        functools.partial(_recurrence, method="associative")
    ),
    # V-trace multiplies by the ratios: 0 · NaN in the backward pass unless selected.
    "vtrace_advantages": episode_case(functools.partial(_vtrace, output=0), ratios=True),
    "vtrace_value_targets": episode_case(functools.partial(_vtrace, output=1), ratios=True),
    "vtrace_unclipped_ratios": episode_case(
        functools.partial(_vtrace, output=0, rho_bar=np.inf, c_bar=0.5, pg_rho_bar=2.0),
        ratios=True,
    ),
}


# ------------------------------------------------------------------------------------------
# Masks: losses, aggregation, advantage processing
# ------------------------------------------------------------------------------------------


def mask_case(fn, names, sequence_advantages=False, poison=None) -> Case:
    """Random float inputs `names` of shape BATCH and a random mask (some rows fully masked);
    every float input is poisoned where the mask is off."""

    def make(rng):
        floats = {n: rng.normal(size=BATCH).astype(np.float32) for n in names}
        if "entropies" in floats:
            floats["entropies"] = np.abs(floats["entropies"])
        mask = rng.random(BATCH) < 0.6
        mask[rng.integers(BATCH[0])] = False  # a sequence with no valid token
        where = {n: ~mask for n in names}
        if sequence_advantages:  # one advantage per sequence
            floats["advantages"] = rng.normal(size=BATCH[0]).astype(np.float32)
            where["advantages"] = ~mask.any(-1)
        if poison is not None:
            where = {n: w for n, w in where.items() if n in poison}
        return floats, {"mask": mask}, where, None

    return Case(fn, make, jit=False)


LP = ("log_probs", "old_log_probs", "advantages")


def _reduce(reduction, normalizer=None):
    return lambda f, o: pgjax.aggregate_loss(f["losses"], o["mask"], reduction, normalizer)


MASK_CASES = {
    **{
        f"aggregate_loss_{r}": mask_case(_reduce(r), ["losses"])
        for r in ("mean", "sum", "seq_mean_token_mean", "seq_mean_token_sum")
    },
    "aggregate_loss_constant_normalizer": mask_case(
        _reduce("constant_normalizer", 24.0), ["losses"]
    ),
    "policy_gradient_loss": mask_case(
        lambda f, o: pgjax.policy_gradient_loss(f["log_probs"], f["advantages"], o["mask"]),
        ["log_probs", "advantages"],
    ),
    "surrogate_loss": mask_case(lambda f, o: pgjax.surrogate_loss(**f, mask=o["mask"]), LP),
    "ppo_clip_loss": mask_case(lambda f, o: pgjax.ppo_clip_loss(**f, mask=o["mask"]), LP),
    "ppo_clip_loss_clip_higher_dual_clip": mask_case(
        lambda f, o: pgjax.ppo_clip_loss(
            **f,
            clip_eps=0.1,
            clip_eps_high=0.3,
            dual_clip=3.0,
            mask=o["mask"],
            reduction="seq_mean_token_mean",
        ),
        LP,
    ),
    "ppo_clip_loss_sequence_level": mask_case(
        lambda f, o: pgjax.ppo_clip_loss(**f, sequence_level=True, mask=o["mask"]),
        LP,
        sequence_advantages=True,
    ),
    "sequence_log_ratio": mask_case(
        lambda f, o: pgjax.sequence_log_ratio(f["log_probs"], f["old_log_probs"], o["mask"]),
        ["log_probs", "old_log_probs"],
    ),
    "clip_fraction": mask_case(
        lambda f, o: pgjax.clip_fraction(f["log_probs"], f["old_log_probs"], mask=o["mask"]),
        ["log_probs", "old_log_probs"],
    ),
    "value_loss_squared": mask_case(
        lambda f, o: pgjax.value_loss(f["values"], f["targets"], mask=o["mask"]),
        ["values", "targets"],
    ),
    "value_loss_huber_clipped": mask_case(
        lambda f, o: pgjax.value_loss(
            f["values"],
            f["targets"],
            old_values=f["old_values"],
            clip_eps=0.2,
            loss="huber",
            mask=o["mask"],
        ),
        ["values", "targets", "old_values"],
    ),
    "entropy_loss": mask_case(
        lambda f, o: pgjax.entropy_loss(f["entropies"], o["mask"]), ["entropies"]
    ),
    **{
        f"kl_penalty_loss_{k}": mask_case(
            lambda f, o, k=k: pgjax.kl_penalty_loss(
                f["log_probs"], f["ref_log_probs"], k, o["mask"]
            ),
            ["log_probs", "ref_log_probs"],
        )
        for k in ("k1", "k2", "k3", "k3_value_k2_grad")
    },
    "approx_kl": mask_case(
        lambda f, o: pgjax.approx_kl(f["log_probs"], f["old_log_probs"], o["mask"]),
        ["log_probs", "old_log_probs"],
    ),
    "batch_mean_baseline": mask_case(
        lambda f, o: pgjax.batch_mean_baseline(f["returns"], o["mask"]), ["returns"]
    ),
    "leave_one_out_baseline_axis_0": mask_case(
        lambda f, o: pgjax.leave_one_out_baseline(f["returns"], o["mask"], axis=0), ["returns"]
    ),
    "grpo_advantages": mask_case(
        lambda f, o: pgjax.grpo_advantages(f["rewards"], o["mask"]), ["rewards"]
    ),
    "dr_grpo_advantages": mask_case(
        lambda f, o: pgjax.dr_grpo_advantages(f["rewards"], o["mask"]), ["rewards"]
    ),
    "rloo_advantages": mask_case(
        lambda f, o: pgjax.rloo_advantages(f["rewards"], o["mask"]), ["rewards"]
    ),
    "normalize_advantages": mask_case(
        lambda f, o: pgjax.normalize_advantages(f["advantages"], o["mask"]), ["advantages"]
    ),
    "bradley_terry_loss": mask_case(
        lambda f, o: pgjax.bradley_terry_loss(f["chosen"], f["rejected"], o["mask"]),
        ["chosen", "rejected"],
    ),
}


def _scores_case(fn) -> Case:
    """One score per sequence `[B]` and per-token log-probabilities `[B, L]`: a score is poisoned
    where its sequence has no valid token, log-probabilities where the mask is off."""

    def make(rng):
        mask = rng.random(BATCH) < 0.6
        mask[rng.integers(BATCH[0])] = False
        floats = {
            "rewards": rng.normal(size=BATCH[0]).astype(np.float32),
            "log_probs": -rng.random(BATCH).astype(np.float32),
            "ref_log_probs": -rng.random(BATCH).astype(np.float32),
        }
        where = {"rewards": ~mask.any(-1), "log_probs": ~mask, "ref_log_probs": ~mask}
        return floats, {"mask": mask}, where, None

    return Case(fn, make, jit=False)


def _elementwise_case(fn, name, low, high) -> Case:
    """An elementwise kernel: results kept at random elements, every other element poisoned."""

    def make(rng):
        keep = rng.random(BATCH) < 0.5
        floats = {name: rng.uniform(low, high, size=BATCH).astype(np.float32)}
        return floats, {}, {name: ~keep}, keep

    return Case(fn, make, jit=False)


def _hidden_case(fn) -> Case:
    """Hidden states `[B, L, D]` poisoned at masked positions, whose tokens are −1."""

    def make(rng):
        mask = rng.random(BATCH) < 0.6
        floats = {
            "hidden": rng.normal(size=(*BATCH, 3)).astype(np.float32),
            "unembedding": rng.normal(size=(3, 5)).astype(np.float32),
        }
        tokens = np.where(mask, rng.integers(0, 5, size=BATCH), -1)
        where = {"hidden": np.broadcast_to(~mask[..., None], floats["hidden"].shape)}
        return floats, {"mask": mask, "tokens": tokens}, where, None

    return Case(fn, make, jit=False)


def _ratio_args(f, o):
    return {
        "train_log_probs": f["log_probs"],
        "rollout_log_probs": f["old_log_probs"],
        "mask": o["mask"],
    }


LM_CASES = {
    "cispo_loss": mask_case(
        lambda f, o: pgjax.cispo_loss(
            **f,
            clip_eps_low=0.2,
            clip_eps_high=0.28,
            mask=o["mask"],
            reduction="seq_mean_token_sum",
        ),
        LP,
    ),
    **{
        f"truncated_importance_weights_{level}": mask_case(
            lambda f, o, level=level: pgjax.truncated_importance_weights(
                **_ratio_args(f, o), cap=1.5, level=level
            ),
            ["log_probs", "old_log_probs"],
        )
        for level in ("token", "sequence")
    },
    **{
        f"importance_ratio_mask_{level}": mask_case(
            lambda f, o, level=level: pgjax.importance_ratio_mask(
                **_ratio_args(f, o), low=0.5, high=2.0, level=level
            ),
            ["log_probs", "old_log_probs"],
        )
        for level in ("token", "sequence", "geometric")
    },
    "reinforce_plus_plus_advantages_scores": _scores_case(
        lambda f, o: pgjax.reinforce_plus_plus_advantages(
            **f, mask=o["mask"], kl_coef=0.1, gamma=0.9, estimator="k3"
        )
    ),
    "reinforce_plus_plus_advantages_token_rewards": mask_case(
        lambda f, o: pgjax.reinforce_plus_plus_advantages(**f, mask=o["mask"], kl_coef=0.1),
        ["rewards", "log_probs", "ref_log_probs"],
    ),
    "dynamic_sampling_mask": mask_case(
        lambda f, o: pgjax.dynamic_sampling_mask(f["rewards"], o["mask"]), ["rewards"]
    ),
    "overlong_penalty": _elementwise_case(
        lambda f, o: pgjax.overlong_penalty(f["lengths"], 20, 8), "lengths", 0.0, 30.0
    ),
    "chunked_log_probs": _hidden_case(
        lambda f, o: jnp.stack(
            pgjax.chunked_log_probs(**f, tokens=o["tokens"], chunk_size=7, mask=o["mask"])
        )
    ),
}
MASK_CASES.update(LM_CASES)

# ------------------------------------------------------------------------------------------
# Invalid-action masks: the logits of masked actions
# ------------------------------------------------------------------------------------------

NUM_ACTIONS = 5


def _masked_categorical(f, o):
    dist = pgjax.Categorical(f["logits"], o["mask"])
    other = pgjax.Categorical(f["other_logits"], o["mask"])
    return jnp.stack([dist.log_prob(o["actions"]), dist.entropy(), dist.kl(other)], axis=-1)


def action_mask_case(rows_with_no_valid_action: bool) -> Case:
    """Random logits `[*BATCH, A]` poisoned wherever the mask is off; the actions taken are
    valid ones. With `rows_with_no_valid_action` (traced, jitted: the mask is then unknown at
    trace time, as in a rollout) one row's mask is all False, and all its logits are poisoned."""

    def make(rng):
        shape = (*BATCH, NUM_ACTIONS)
        floats = {n: rng.normal(size=shape).astype(np.float32) for n in ("logits", "other_logits")}
        mask = rng.random(shape) < 0.5
        actions = rng.integers(NUM_ACTIONS, size=BATCH)
        mask[(*np.indices(BATCH), actions)] = True
        if rows_with_no_valid_action:
            mask[rng.integers(BATCH[0]), rng.integers(BATCH[1])] = False
        others = {"mask": mask, "actions": actions.astype(np.int32)}
        return floats, others, {n: ~mask for n in floats}, None

    return Case(_masked_categorical, make, jit=rows_with_no_valid_action)


ACTION_MASK_CASES = {
    "categorical_mask": action_mask_case(False),
    "categorical_mask_traced_with_a_row_of_no_valid_action": action_mask_case(True),
}


# ------------------------------------------------------------------------------------------
# Transitions: Q-learning and soft actor-critic (a batch BATCH, A actions, K critics)
# ------------------------------------------------------------------------------------------

A, K = 3, 2


def normal(rng, *shape):
    return rng.normal(size=shape).astype(np.float32)


def transition_case(fn, make_floats) -> Case:
    """`make_floats(rng, flags) -> (floats, {name: slots to poison})`, with `flags` a random
    `terminated` (for the targets) and a `mask` (for the losses; one row fully masked), each
    set with probability 0.4 / 0.6; every result is kept."""

    def make(rng):
        mask = rng.random(BATCH) < 0.6
        mask[rng.integers(BATCH[0])] = False
        flags = {"terminated": rng.random(BATCH) < 0.4, "mask": mask}
        floats, where = make_floats(rng, flags)
        return floats, flags, where, None

    return Case(fn, make, jit=False)


def _soft_q_floats(rng, flags):
    floats = {
        "rewards": normal(rng, *BATCH),
        "next_q_values": normal(rng, K, *BATCH),
        "next_log_probs": normal(rng, *BATCH),
    }
    dead = flags["terminated"]  # a terminal successor's values are never read
    return floats, {"next_q_values": np.broadcast_to(dead, (K, *BATCH)), "next_log_probs": dead}


def _q_targets_floats(rng, flags, double):
    floats = {"rewards": normal(rng, *BATCH), "next_q_values": normal(rng, *BATCH, A)}
    unread = np.broadcast_to(flags["terminated"][..., None], (*BATCH, A))
    where = {"next_q_values": unread}
    if double:  # the selector picks the action; the other actions' target values are unread
        floats["next_q_selector"] = normal(rng, *BATCH, A)
        best = floats["next_q_selector"].argmax(-1)[..., None] == np.arange(A)
        where = {"next_q_values": unread | ~best, "next_q_selector": unread}
    return floats, where


def _q_loss_floats(rng, flags):
    floats = {"q_values": normal(rng, *BATCH, A), "targets": normal(rng, *BATCH)}
    flags["actions"] = rng.integers(0, A, size=BATCH)
    taken = flags["actions"][..., None] == np.arange(A)
    valid = flags["mask"]
    return floats, {"q_values": ~(valid[..., None] & taken), "targets": ~valid}


def _padded_q_loss_floats(rng, flags):
    """As `_q_loss_floats`, with masked-out transitions padded with action −1."""
    floats, where = _q_loss_floats(rng, flags)
    flags["actions"] = np.where(flags["mask"], flags["actions"], -1)
    return floats, where


def _critics_floats(rng, flags, name):
    floats = {"q_values": normal(rng, K, *BATCH), name: normal(rng, *BATCH)}
    invalid = ~flags["mask"]
    return floats, {"q_values": np.broadcast_to(invalid, (K, *BATCH)), name: invalid}


def _temperature_floats(rng, flags):
    floats = {"log_temperature": np.float32(-1.5), "log_probs": normal(rng, *BATCH)}
    return floats, {"log_probs": ~flags["mask"]}


TRANSITION_CASES = {
    "soft_q_targets": transition_case(
        lambda f, o: pgjax.soft_q_targets(
            **f, terminated=o["terminated"], gamma=G, temperature=0.2, stop_gradient=False
        ),
        _soft_q_floats,
    ),
    **{
        f"q_learning_targets_{kind}": transition_case(
            lambda f, o: pgjax.q_learning_targets(
                **f, terminated=o["terminated"], gamma=G, stop_gradient=False
            ),
            functools.partial(_q_targets_floats, double=kind == "double"),
        )
        for kind in ("plain", "double")
    },
    **{
        f"q_value_loss_{name}": transition_case(
            lambda f, o, loss=loss: pgjax.q_value_loss(
                f["q_values"], o["actions"], f["targets"], loss=loss, mask=o["mask"]
            ),
            make_floats,
        )
        for name, loss, make_floats in (
            ("huber", "huber", _q_loss_floats),
            ("squared", "squared", _q_loss_floats),
            ("padding_action_minus_one", "huber", _padded_q_loss_floats),
        )
    },
    "twin_q_loss": transition_case(
        lambda f, o: pgjax.twin_q_loss(f["q_values"], f["targets"], mask=o["mask"]),
        functools.partial(_critics_floats, name="targets"),
    ),
    "sac_actor_loss": transition_case(
        lambda f, o: pgjax.sac_actor_loss(f["log_probs"], f["q_values"], 0.2, mask=o["mask"]),
        functools.partial(_critics_floats, name="log_probs"),
    ),
    "sac_temperature_loss": transition_case(
        lambda f, o: pgjax.sac_temperature_loss(
            f["log_temperature"], f["log_probs"], -2.0, mask=o["mask"]
        ),
        _temperature_floats,
    ),
}

CASES = {**EPISODE_CASES, **MASK_CASES, **ACTION_MASK_CASES, **TRANSITION_CASES}


def draw(case: Case, seed: int):
    rng = np.random.default_rng(seed)
    floats, others, where, keep = case.make(rng)
    probe = jax.eval_shape(case.fn, floats, others)
    if keep is None:
        keep = np.ones(probe.shape, bool)
    cotangent = rng.normal(size=probe.shape).astype(np.float32)
    return rng, floats, others, where, keep, cotangent


@pytest.mark.parametrize("name", list(CASES))
@EXAMPLES
@given(seed=st.integers(0, 2**32 - 1))
def test_non_finite_values_where_the_result_must_not_look_leave_result_and_gradient_bit_identical(
    name, seed
):
    case = CASES[name]
    rng, floats, others, where, keep, cotangent = draw(case, seed)
    dirty = {k: poisoned(rng, v, where[k]) if k in where else v for k, v in floats.items()}
    clean = case.result_and_gradient(floats, others, keep, cotangent)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(clean))
    assert bits(case.result_and_gradient(dirty, others, keep, cotangent)) == bits(clean)


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_poison_where_the_result_does_look_shows_in_result_or_gradient(name):
    """The control: without it, the test above would pass for a kernel that never read its
    poisoned inputs at all."""
    case = CASES[name]
    _, floats, others, where, keep, cotangent = draw(case, 0)
    used = {k: ~where.get(k, np.zeros(v.shape, bool)) for k, v in floats.items()}
    if name in EPISODE_CASES:  # an input of the kept episode
        used = {k: u & keep for k, u in used.items()}
    dirty = {k: np.where(used[k], np.float32(np.inf), v) for k, v in floats.items()}
    clean = case.result_and_gradient(floats, others, keep, cotangent)
    assert bits(case.result_and_gradient(dirty, others, keep, cotangent)) != bits(clean)


def kernels_taking(*parameters) -> list[str]:
    """The public kernels with any of these parameters."""
    return [
        name
        for name in pgjax.kernels.__all__
        if inspect.isfunction(kernel := getattr(pgjax.kernels, name))
        and set(parameters) & set(inspect.signature(kernel).parameters)
    ]


def kernel_of(case: str) -> str | None:
    """The kernel a case is named after (`gae_scan` -> `gae`)."""
    names = [n for n in pgjax.kernels.__all__ if case == n or case.startswith(n + "_")]
    return max(names, key=len, default=None)


def test_every_kernel_with_a_mask_or_episode_boundaries_has_a_containment_case():
    """A kernel added later joins the two tests above, or this one fails naming it."""
    guarded = kernels_taking("mask", "terminated")
    assert len(guarded) > 20
    covered = {kernel_of(c) for c in CASES}
    assert not [n for n in guarded if n not in covered]


MASKED = [c for c in CASES if kernel_of(c) in kernels_taking("mask")]


@pytest.mark.parametrize("bad", [0.5, np.nan])
@pytest.mark.parametrize("name", MASKED)
def test_a_known_mask_that_is_not_zero_or_one_is_refused_naming_the_kernel_and_mask(name, bad):
    """0.5 or NaN in a float mask used to count as set; known at trace time it is an error."""
    _, floats, others, _, _, _ = draw(CASES[name], 0)
    others = {**others, "mask": np.where(others["mask"], np.float32(bad), np.float32(0))}
    with pytest.raises(ValueError, match=re.escape(f"{kernel_of(name)}: `mask`")):
        CASES[name].fn(floats, others)


def test_language_model_padding_with_minus_one_tokens_is_contained_end_to_end():
    """Padding tokens marked −1 get a NaN log-probability (traced); the masked PPO loss and its
    gradient with respect to the logits are those of padding with token 0."""
    rng = np.random.default_rng(3)
    logits = jnp.asarray(rng.normal(size=(*BATCH, 5)), jnp.float32)
    tokens = rng.integers(0, 5, size=BATCH)
    mask = rng.random(BATCH) < 0.6
    old = jnp.asarray(rng.normal(size=BATCH), jnp.float32)
    advantages = jnp.asarray(rng.normal(size=BATCH), jnp.float32)

    @jax.jit
    def loss_and_grad(logits, tokens):
        def loss(logits):
            log_probs = pgjax.Categorical(logits).log_prob(tokens)
            return pgjax.ppo_clip_loss(log_probs, old, advantages, mask=mask), log_probs

        return jax.value_and_grad(loss, has_aux=True)(logits)

    (clean, _), clean_grad = loss_and_grad(logits, np.where(mask, tokens, 0))
    (dirty, dirty_lp), dirty_grad = loss_and_grad(logits, np.where(mask, tokens, -1))
    assert np.isnan(dirty_lp[~mask]).all()  # the documented traced value
    assert bits((dirty, dirty_grad)) == bits((clean, clean_grad))
    assert np.isfinite(clean_grad).all()


# ------------------------------------------------------------------------------------------
# A rejected natural-gradient step is a no-op
# ------------------------------------------------------------------------------------------


def _singular_problem():
    """A KL that ignores parameter `b`: its Fisher is singular, so with no damping conjugate
    gradient divides by zero and the natural direction is NaN."""
    params = {"w": jnp.asarray([0.3, -0.2], jnp.float32), "b": jnp.asarray([0.5], jnp.float32)}

    def surrogate(p):
        return p["w"].sum() + p["b"].sum()

    def kl(p):
        return 0.0 * p["w"].sum() + 0.0 * p["b"].sum()

    return params, surrogate, kl


def test_natural_gradient_step_with_a_nan_direction_returns_the_input_parameters_bit_for_bit():
    params, surrogate, kl = _singular_problem()

    @jax.jit
    def step(params, max_kl):
        return pgjax.natural_gradient_step(params, surrogate, kl, max_kl, cg_damping=0.0)

    new_params, info = step(params, 0.01)
    assert not bool(info.accepted) and float(info.step_fraction) == 0.0
    assert bits(new_params) == bits(params)


def test_natural_gradient_step_with_a_traced_non_positive_max_kl_accepts_nothing():
    params = {"w": jnp.asarray([0.3, -0.2], jnp.float32)}

    def surrogate(p):
        return jnp.asarray([1.0, 2.0]) @ p["w"]

    def kl(p):
        return 0.5 * jnp.sum(jnp.square(p["w"] - params["w"]))

    step = jax.jit(lambda p, max_kl: pgjax.natural_gradient_step(p, surrogate, kl, max_kl))
    for max_kl in (0.0, -1.0, float("nan")):
        new_params, info = step(params, max_kl)
        assert not bool(info.accepted)
        assert bits(new_params) == bits(params)
    assert bool(step(params, 0.01)[1].accepted)  # the same problem with a valid δ moves


# ------------------------------------------------------------------------------------------
# Distributions: invalid actions and degenerate logits when traced
# ------------------------------------------------------------------------------------------


def test_categorical_out_of_range_actions_traced_give_nan_never_another_actions_log_prob():
    logits = jnp.log(jnp.asarray([[0.2, 0.3, 0.5]] * 4))
    actions = jnp.asarray([-1, 3, 7, 2])
    log_p = jax.jit(lambda a: pgjax.Categorical(logits).log_prob(a))(actions)
    assert np.isnan(log_p[:3]).all()  # −1 does not wrap around to the last action
    np.testing.assert_allclose(log_p[3], np.log(0.5), rtol=1e-6)


def test_categorical_row_with_no_possible_action_traced_gives_nan_and_samples_action_zero():
    logits = jnp.asarray([[0.0, -jnp.inf, 1.0], [-jnp.inf] * 3])
    key = jax.random.key(0, impl="rbg")

    @jax.jit
    def everything(logits):
        dist = pgjax.Categorical(logits)
        actions = jnp.zeros(2, jnp.int32)
        return (
            dist.log_prob(actions), dist.entropy(), dist.kl(dist), dist.sample(key), dist.mode()
        )  # fmt: skip

    log_p, entropy, kl, sample, mode = everything(logits)
    for value in (log_p, entropy, kl):
        assert np.isfinite(value[0]) and np.isnan(value[1])
    assert int(sample[1]) == 0 and int(mode[1]) == 0


def test_gaussian_actions_and_parameters_traced_are_not_checked_and_propagate():
    dist = jax.jit(lambda a: pgjax.DiagGaussian(jnp.zeros((2, 1)), jnp.zeros(1)).log_prob(a))
    assert np.isnan(dist(jnp.asarray([[jnp.nan], [0.0]]))).tolist() == [True, False]
    tanh = jax.jit(lambda a: pgjax.TanhGaussian(jnp.zeros((2, 1)), jnp.zeros(1)).log_prob(a))
    # Traced actions outside [−1, 1] are clipped to ±(1 − 1e-6): the density at the edge.
    np.testing.assert_array_equal(tanh(jnp.asarray([[3.0], [1.0]]))[0], tanh(jnp.ones((2, 1)))[0])


def test_categorical_mask_row_with_no_valid_action_traced_is_uniform_finite_and_contained():
    logits = jnp.asarray([[0.5, 2.0, -1.0], [jnp.nan, jnp.inf, -jnp.inf]])
    mask = jnp.asarray([[True, False, True], [False, False, False]])
    keys = jax.random.split(jax.random.key(0), 3000)

    @jax.jit
    def everything(logits, mask):
        dist = pgjax.Categorical(logits, mask)

        def loss(z):
            d = pgjax.Categorical(z, mask)
            return jnp.sum(d.log_prob(jnp.asarray([0, 2])) + d.entropy() + d.kl(d))

        samples = jax.vmap(dist.sample)(keys)
        return (
            dist.log_probs_all(),
            dist.entropy(),
            dist.kl(dist),
            dist.mode(),
            samples,
            (jax.grad(loss)(logits)),
        )

    log_probs, entropy, kl, mode, samples, grad = everything(logits, mask)
    np.testing.assert_allclose(log_probs[1], np.full(3, -np.log(3.0)), rtol=1e-6)
    np.testing.assert_allclose(entropy[1], np.log(3.0), rtol=1e-6)
    assert float(kl[1]) == 0.0 and int(mode[1]) == 0
    assert set(np.unique(samples[:, 1])) == {0, 1, 2}  # uniform: every action is drawn
    assert np.all(np.asarray(grad[1]) == 0.0)  # its logits are never read
    assert np.all(np.isfinite(np.asarray(grad)))
    # The other row is the masked softmax: action 1 impossible and never drawn.
    assert np.isneginf(log_probs[0, 1]) and not np.any(np.asarray(samples[:, 0]) == 1)


def test_beta_non_positive_or_nan_parameters_traced_give_nan_results_for_their_row_only():
    alpha = jnp.asarray([[2.0, -1.0], [0.0, 1.5], [jnp.nan, 1.0], [1.5, 3.0]])
    beta = jnp.ones((4, 2))

    @jax.jit
    def everything(alpha):
        dist = pgjax.Beta(alpha, beta, -1.0, 1.0)
        return (
            dist.log_prob(jnp.zeros((4, 2))),
            dist.entropy(),
            dist.kl(dist),
            dist.sample(jax.random.key(0)),
            dist.mode(),
        )

    for value in everything(alpha):
        value = np.asarray(value)
        assert np.isnan(value[:3]).all(), value
        assert np.isfinite(value[3]).all(), value


def test_bounded_actions_outside_the_bounds_traced_are_clipped_and_nan_stays_nan():
    low, high = jnp.asarray([-2.0, 0.0]), jnp.asarray([1.0, 4.0])
    inside = jnp.asarray([[-2.0, 4.0], [0.3, 2.0], [1.0, 0.0]])  # two on the bounds
    outside = jnp.asarray([[-5.0, 9.0], [0.3, 2.0], [jnp.inf, -jnp.inf]])
    unknown = jnp.asarray([[jnp.nan, 1.0], [0.3, 2.0], [0.5, 0.5]])
    dists = {
        "tanh": pgjax.TanhGaussian(jnp.zeros((3, 2)), jnp.zeros(2), low, high),
        "beta": pgjax.Beta(jnp.full((3, 2), 0.7), jnp.full((3, 2), 2.0), low, high),
    }
    for name, dist in dists.items():
        log_prob = jax.jit(dist.log_prob)
        on_bounds = np.asarray(log_prob(inside))
        assert np.isfinite(on_bounds).all(), name
        np.testing.assert_array_equal(log_prob(outside), on_bounds, err_msg=name)
        assert np.isnan(log_prob(unknown)).tolist() == [True, False, False], name


def _padded_rows(rng, kind):
    """Rows `[8, 2]` of a bounded distribution, a row mask, and the same rows with the padding
    rows' actions (and Beta parameters) replaced by NaN, ±inf (and 0, −1)."""
    low, high = np.array([-2.0, 0.0], np.float32), np.array([1.0, 4.0], np.float32)
    shape = (8, 2)
    actions = low + (high - low) * rng.random(shape).astype(np.float32)
    actions[0], actions[1] = low, high  # kept rows on the bounds
    mask = rng.random(8) < 0.6
    mask[:2], mask[-1] = True, False
    if kind == "tanh":
        params = {"mean": rng.normal(size=shape), "log_std": rng.normal(size=shape) * 0.3}
    else:
        params = {"alpha": 0.5 + rng.exponential(size=shape), "beta": 1 + rng.random(shape)}
    clean = {k: v.astype(np.float32) for k, v in params.items()} | {"actions": actions}
    dirty = dict(clean)
    padding = np.broadcast_to(~mask[:, None], shape)
    dirty["actions"] = poisoned(rng, actions, padding)
    if kind == "beta":
        bad = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0], np.float32)
        for name in ("alpha", "beta"):
            dirty[name] = np.where(padding, rng.choice(bad, size=shape), clean[name])
    return (low, high), mask, clean, dirty


def _padded_loss(kind, bounds, mask):
    def loss(floats):
        if kind == "tanh":
            dist = pgjax.TanhGaussian(floats["mean"], floats["log_std"], *bounds)
            return pgjax.aggregate_loss(dist.log_prob(floats["actions"]), mask)
        dist = pgjax.Beta(floats["alpha"], floats["beta"], *bounds)
        return pgjax.aggregate_loss(dist.log_prob(floats["actions"]), mask) + (
            pgjax.aggregate_loss(dist.entropy(), mask)
        )

    return jax.value_and_grad(loss)


@pytest.mark.parametrize("kind", ["tanh", "beta"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_padding_rows_of_bounded_distributions_leave_a_masked_loss_and_its_gradient_unchanged(
    kind, seed
):
    rng = np.random.default_rng(seed)
    bounds, mask, clean, dirty = _padded_rows(rng, kind)
    value_and_grad = _padded_loss(kind, bounds, mask)  # eager: nothing rewrites the selects
    expected = value_and_grad(clean)
    assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(expected))
    got = value_and_grad(dirty)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_array_equal(a, b)  # −0 equals 0 here; NaN would not
    # The control: the same poison in a kept row shows.
    shown = {k: v.copy() for k, v in clean.items()}
    shown["actions"][0, 0] = np.nan  # row 0 is kept
    assert np.isnan(float(value_and_grad(shown)[0]))
