"""Public-API contract of every kernel: jit / vmap / grad, input validation, dtypes, docstrings."""

from __future__ import annotations

import inspect
import pydoc
import re
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

import pgjax

T, B = 5, 2
SEQ = (3, 4)  # [*B, L] for token-level losses


def f32(x):
    return jnp.asarray(x, jnp.float32)


def trajectory(rng):
    data = ref.random_trajectory(rng, (T, B), 0.25, 0.25)
    return {
        k: jnp.asarray(v, jnp.float32 if v.dtype.kind == "f" else None) for k, v in data.items()
    }


def _tiny_policy():
    features = f32(np.random.default_rng(7).normal(size=(4, 3)))

    def log_policy(params):
        return jax.nn.log_softmax(features @ params["w"] + params["b"], -1)

    return log_policy


LOG_POLICY = _tiny_policy()


def _kl_at(params0):
    old = jax.lax.stop_gradient(LOG_POLICY(params0))
    return lambda p: jnp.mean(jnp.sum(jnp.exp(old) * (old - LOG_POLICY(p)), -1))


def _fisher(params, vector):
    return pgjax.fisher_vector_product(_kl_at(params), params, vector, 0.1)


def _trpo(params, advantages):
    old = jax.lax.stop_gradient(LOG_POLICY(params))

    def surrogate(p):
        return jnp.mean(jnp.exp(LOG_POLICY(p)[:, 0] - old[:, 0]) * advantages)

    return pgjax.natural_gradient_step(params, surrogate, _kl_at(params), 0.01)


def _params(rng):
    return {"w": f32(rng.normal(scale=0.3, size=(3, 3))), "b": f32(rng.normal(size=3) * 0.1)}


LOW, HIGH = jnp.array([-2.0, 0.0]), jnp.array([1.0, 0.5])  # action bounds, [D]


def _masked_categorical(rng):
    """logits `[4, 3]`, a mask with a valid action per row, and a valid action per row."""
    mask = rng.random((4, 3)) < 0.6
    actions = rng.integers(0, 3, 4)
    mask[np.arange(4), actions] = True
    return f32(rng.normal(size=(4, 3))), jnp.asarray(mask), jnp.asarray(actions)


class Case(NamedTuple):
    covers: str  # the public name it exercises
    fn: Callable  # (*arrays) -> pytree of arrays
    make: Callable  # rng -> tuple of example arguments (pytrees of arrays)
    grad: str  # w.r.t. argument 0: "flows" (finite, non-zero), "stopped" (exactly 0), "skip"
    # Positions of arguments shared by all examples rather than vmapped (PRNG keys: vmapping
    # threefry over keys compiles slowly and is jax.random's business, not pgjax's).
    shared: tuple[int, ...] = ()


def _traj_args(*names):
    return lambda rng: tuple(trajectory(rng)[n] for n in names)


def _seq(rng, *kinds):
    out = []
    for kind in kinds:
        if kind == "logp":
            out.append(f32(-rng.random(SEQ) * 2))
        elif kind == "adv":
            out.append(f32(rng.normal(size=SEQ)))
        elif kind == "adv_seq":
            out.append(f32(rng.normal(size=SEQ[:-1])))
        elif kind == "mask":
            out.append(jnp.asarray(rng.random(SEQ) < 0.7))
        elif kind == "pos":
            out.append(f32(rng.random(SEQ) + 0.1))
    return tuple(out)


CASES = {
    "gae": Case(
        "gae",
        lambda v, r, nv, te, tr: (
            pgjax.gae(r, v, nv, te, tr, 0.95, 0.9),
            pgjax.gae(r, v, nv, te, tr, 0.95, 0.9, method="associative"),
        ),
        _traj_args("values", "rewards", "next_values", "terminated", "truncated"),
        "stopped",
    ),
    "lambda_returns": Case(
        "lambda_returns",
        lambda nv, r, te, tr: pgjax.lambda_returns(r, nv, te, tr, 0.95, 0.9),
        _traj_args("next_values", "rewards", "terminated", "truncated"),
        "stopped",
    ),
    "discounted_returns": Case(
        "discounted_returns",
        lambda r, te, tr, nv: pgjax.discounted_returns(r, te, tr, 0.9, nv),
        _traj_args("rewards", "terminated", "truncated", "next_values"),
        "stopped",
    ),
    "n_step_returns": Case(
        "n_step_returns",
        lambda r, nv, te, tr: pgjax.n_step_returns(r, nv, te, tr, 0.9, 3),
        _traj_args("rewards", "next_values", "terminated", "truncated"),
        "stopped",
    ),
    "td_errors": Case(
        "td_errors",
        lambda v, r, nv, te: pgjax.td_errors(r, v, nv, te, 0.9),
        _traj_args("values", "rewards", "next_values", "terminated"),
        "flows",
    ),
    "reverse_linear_recurrence": Case(
        "reverse_linear_recurrence",
        lambda b, a: pgjax.reverse_linear_recurrence(a, b),
        lambda rng: (f32(rng.normal(size=(T, B))), f32(rng.uniform(0, 1, (T, B)))),
        "flows",
    ),
    "aggregate_loss": Case(
        "aggregate_loss",
        lambda x, m: pgjax.aggregate_loss(x, m, "seq_mean_token_mean"),
        lambda rng: _seq(rng, "adv", "mask"),
        "flows",
    ),
    "policy_gradient_loss": Case(
        "policy_gradient_loss",
        lambda lp, adv, m: pgjax.policy_gradient_loss(lp, adv, m),
        lambda rng: _seq(rng, "logp", "adv", "mask"),
        "flows",
    ),
    "ppo_clip_loss": Case(
        "ppo_clip_loss",
        lambda lp, old, adv, m: pgjax.ppo_clip_loss(
            lp, old, adv, clip_eps=0.2, clip_eps_high=0.3, dual_clip=3.0, mask=m
        ),
        lambda rng: _seq(rng, "logp", "logp", "adv", "mask"),
        "flows",
    ),
    "ppo_clip_loss_sequence_level": Case(
        "ppo_clip_loss",
        lambda lp, old, adv, m: pgjax.ppo_clip_loss(lp, old, adv, sequence_level=True, mask=m),
        lambda rng: _seq(rng, "logp", "logp", "adv_seq", "mask"),
        "flows",
    ),
    "sequence_log_ratio": Case(
        "sequence_log_ratio",
        lambda lp, old, m: pgjax.sequence_log_ratio(lp, old, m),
        lambda rng: _seq(rng, "logp", "logp", "mask"),
        "flows",
    ),
    "clip_fraction": Case(
        "clip_fraction",
        lambda lp, old: pgjax.clip_fraction(lp, old),
        lambda rng: _seq(rng, "logp", "logp"),
        "stopped",
    ),
    "value_loss": Case(
        "value_loss",
        lambda v, g, old, m: pgjax.value_loss(
            v, g, old_values=old, clip_eps=0.2, loss="huber", mask=m
        ),
        lambda rng: _seq(rng, "adv", "adv", "adv", "mask"),
        "flows",
    ),
    "entropy_loss": Case(
        "entropy_loss",
        lambda h, m: pgjax.entropy_loss(h, m),
        lambda rng: _seq(rng, "pos", "mask"),
        "flows",
    ),
    "kl_estimate": Case(
        "kl_estimate",
        lambda lp, rlp: pgjax.kl_estimate(lp, rlp, "k3"),
        lambda rng: _seq(rng, "logp", "logp"),
        "flows",
    ),
    "kl_penalty_loss": Case(
        "kl_penalty_loss",
        lambda lp, rlp, m: pgjax.kl_penalty_loss(lp, rlp, "k2", m),
        lambda rng: _seq(rng, "logp", "logp", "mask"),
        "flows",
    ),
    "approx_kl": Case(
        "approx_kl",
        lambda lp, old: pgjax.approx_kl(lp, old),
        lambda rng: _seq(rng, "logp", "logp"),
        "stopped",
    ),
    "adaptive_kl_coefficient": Case(
        "adaptive_kl_coefficient",
        lambda beta, kl, target: pgjax.adaptive_kl_coefficient(
            beta, kl, target, rule="proportional"
        ),
        lambda rng: (f32(rng.random() + 0.5), f32(rng.random() * 0.02), f32(0.01)),
        "flows",
    ),
    "batch_mean_baseline": Case(
        "batch_mean_baseline",
        lambda g, m: pgjax.batch_mean_baseline(g, m),
        lambda rng: _seq(rng, "adv", "mask"),
        "stopped",
    ),
    "leave_one_out_baseline": Case(
        "leave_one_out_baseline",
        lambda g, m: pgjax.leave_one_out_baseline(g, m, axis=0),
        lambda rng: _seq(rng, "adv", "mask"),
        "stopped",
    ),
    "grpo_advantages": Case(
        "grpo_advantages",
        lambda r, m: pgjax.grpo_advantages(r, m),
        lambda rng: _seq(rng, "adv", "mask"),
        "stopped",
    ),
    "dr_grpo_advantages": Case(
        "dr_grpo_advantages",
        lambda r, m: pgjax.dr_grpo_advantages(r, m),
        lambda rng: _seq(rng, "adv", "mask"),
        "stopped",
    ),
    "rloo_advantages": Case(
        "rloo_advantages",
        lambda r, m: pgjax.rloo_advantages(r, m),
        lambda rng: _seq(rng, "adv", "mask"),
        "stopped",
    ),
    "bradley_terry_loss": Case(
        "bradley_terry_loss",
        lambda c, r, m: pgjax.bradley_terry_loss(c, r, m),
        lambda rng: _seq(rng, "adv", "adv", "mask"),
        "flows",
    ),
    "normalize_advantages": Case(
        "normalize_advantages",
        lambda a, m: pgjax.normalize_advantages(a, m),
        lambda rng: _seq(rng, "adv", "mask"),
        "flows",
    ),
    "Categorical": Case(
        "Categorical",
        lambda logits, actions: (
            pgjax.Categorical(logits).log_prob(actions),
            pgjax.Categorical(logits).entropy(),
            pgjax.Categorical(logits).kl(pgjax.Categorical(jnp.zeros_like(logits))),
            pgjax.Categorical(logits).log_probs_all(),
        ),
        lambda rng: (f32(rng.normal(size=(4, 3))), jnp.asarray(rng.integers(0, 3, 4))),
        "flows",
    ),
    "DiagGaussian": Case(
        "DiagGaussian",
        lambda mean, log_std, x, key: (
            pgjax.DiagGaussian(mean, log_std).log_prob(x),
            pgjax.DiagGaussian(mean, log_std).entropy(),
            pgjax.DiagGaussian(mean, log_std).kl(pgjax.DiagGaussian(x, jnp.zeros(2))),
            pgjax.DiagGaussian(mean, log_std).sample(key),
        ),
        lambda rng: (
            f32(rng.normal(size=(4, 2))),
            f32(rng.normal(size=2) * 0.3),
            f32(rng.normal(size=(4, 2))),
            jax.random.key(int(rng.integers(1 << 30))),
        ),
        "flows",
        shared=(3,),
    ),
    "TanhGaussian": Case(
        "TanhGaussian",
        lambda mean, log_std, key: (
            pgjax.TanhGaussian(mean, log_std).sample_and_log_prob(key),
            pgjax.TanhGaussian(mean, log_std).log_prob(jnp.tanh(mean) * 0.5),
        ),
        lambda rng: (
            f32(rng.normal(size=(4, 2))),
            f32(rng.normal(size=(4, 2)) * 0.3),
            jax.random.key(int(rng.integers(1 << 30))),
        ),
        "flows",
        shared=(2,),
    ),
    "Categorical_masked": Case(
        "Categorical",
        lambda logits, mask, actions: (
            pgjax.Categorical(logits, mask).log_prob(actions),
            pgjax.Categorical(logits, mask).entropy(),
            pgjax.Categorical(logits, mask).kl(pgjax.Categorical(jnp.zeros_like(logits), mask)),
            pgjax.Categorical(logits, mask).log_probs_all(),
            pgjax.Categorical(logits, mask).mode(),
        ),
        lambda rng: _masked_categorical(rng),
        "flows",
    ),
    "TanhGaussian_bounded": Case(
        "TanhGaussian",
        lambda mean, log_std, key: (
            pgjax.TanhGaussian(mean, log_std, LOW, HIGH).sample_and_log_prob(key),
            # On the bounds too: finite values and gradients.
            pgjax.TanhGaussian(mean, log_std, LOW, HIGH).log_prob(
                jnp.stack([LOW, HIGH, 0.5 * (LOW + HIGH), LOW])
            ),
            pgjax.TanhGaussian(mean, log_std, LOW, HIGH).mode(),
        ),
        lambda rng: (
            f32(rng.normal(size=(4, 2))),
            f32(rng.normal(size=(4, 2)) * 0.3),
            jax.random.key(int(rng.integers(1 << 30))),
        ),
        "flows",
        shared=(2,),
    ),
    "Beta": Case(
        "Beta",
        lambda alpha, beta, unit, key: (
            pgjax.Beta(alpha, beta, LOW, HIGH).log_prob(LOW + (HIGH - LOW) * unit),
            pgjax.Beta(alpha, beta, LOW, HIGH).entropy(),
            pgjax.Beta(alpha, beta, LOW, HIGH).kl(pgjax.Beta(beta, alpha, LOW, HIGH)),
            pgjax.Beta(alpha, beta, LOW, HIGH).sample(key),
            pgjax.Beta(alpha, beta, LOW, HIGH).mode(),
            pgjax.Beta(alpha, beta).log_prob(jnp.round(unit)),  # on the bounds 0 and 1
        ),
        lambda rng: (
            f32(1.0 + rng.exponential(size=(4, 2))),
            f32(0.5 + rng.exponential(size=(4, 2))),
            f32(rng.random((4, 2))),
            jax.random.key(int(rng.integers(1 << 30))),
        ),
        "flows",
        shared=(3,),
    ),
    "fisher_vector_product": Case(
        # Its own gradient (a third derivative of the KL) is not something TRPO uses.
        "fisher_vector_product",
        _fisher,
        lambda rng: (_params(rng), _params(rng)),
        "skip",
    ),
    "natural_gradient_step": Case(
        "natural_gradient_step",
        _trpo,
        lambda rng: (_params(rng), f32(rng.normal(size=4))),
        "skip",
    ),
}
if hasattr(pgjax, "surrogate_loss"):
    CASES["surrogate_loss"] = Case(
        "surrogate_loss",
        lambda lp, old, adv, m: pgjax.surrogate_loss(lp, old, adv, m),
        lambda rng: _seq(rng, "logp", "logp", "adv", "mask"),
        "flows",
    )


def _q_batch(rng):
    """Rewards `[B]`, next Q `[B, A]`, selector `[B, A]`, terminated `[B]` (B = 4, A = 3)."""
    return (
        f32(rng.normal(size=4)),
        f32(rng.normal(size=(4, 3))),
        f32(rng.normal(size=(4, 3))),
        jnp.asarray(rng.random(4) < 0.3),
    )


def _sac_batch(rng):
    """Q values of two critics `[2, B]`, log-probs `[B]`, rewards `[B]`, terminated `[B]`."""
    return (
        f32(rng.normal(size=(2, 4))),
        f32(-rng.random(4) * 2),
        f32(rng.normal(size=4)),
        jnp.asarray(rng.random(4) < 0.3),
    )


CASES.update(
    {
        "q_learning_targets": Case(
            "q_learning_targets",
            lambda nq, r, sel, te: pgjax.q_learning_targets(r, nq, te, 0.9, next_q_selector=sel),
            lambda rng: tuple(_q_batch(rng)[i] for i in (1, 0, 2, 3)),
            "stopped",
        ),
        "q_value_loss": Case(
            "q_value_loss",
            lambda q, a, y: pgjax.q_value_loss(q, a, y, mask=y > -1.0),
            lambda rng: (
                f32(rng.normal(size=(4, 3))),
                jnp.asarray(rng.integers(0, 3, 4)),
                f32(rng.normal(size=4)),
            ),
            "flows",
        ),
        "epsilon_greedy": Case(
            "epsilon_greedy",
            lambda q, eps: pgjax.epsilon_greedy(q, eps).log_probs_all(),
            lambda rng: (f32(rng.normal(size=(4, 3))), f32(rng.random())),
            "stopped",
        ),
        "linear_schedule": Case(
            "linear_schedule",
            lambda count: pgjax.linear_schedule(count, 1.0, 0.05, 10.0),
            lambda rng: (f32(rng.random() * 9),),  # inside the annealing window
            "flows",
        ),
        "soft_q_targets": Case(
            "soft_q_targets",
            lambda nq, lp, r, te: pgjax.soft_q_targets(r, nq, lp, te, 0.9, 0.2),
            _sac_batch,
            "stopped",
        ),
        "twin_q_loss": Case(
            "twin_q_loss",
            lambda q, y, m: pgjax.twin_q_loss(q, y, mask=m),
            lambda rng: (
                _sac_batch(rng)[0],
                f32(rng.normal(size=4)),
                jnp.asarray(rng.random(4) < 0.7),
            ),
            "flows",
        ),
        "sac_actor_loss": Case(
            "sac_actor_loss",
            lambda q, lp: pgjax.sac_actor_loss(lp, q, 0.2),
            lambda rng: _sac_batch(rng)[:2],
            "flows",
        ),
        "sac_temperature_loss": Case(
            "sac_temperature_loss",
            lambda log_alpha, lp: pgjax.sac_temperature_loss(log_alpha, lp, -1.0),
            lambda rng: (f32(rng.normal()), _sac_batch(rng)[1]),
            "flows",
        ),
    }
)
CASES.update(
    {
        "cispo_loss": Case(
            "cispo_loss",
            lambda lp, old, adv, m: pgjax.cispo_loss(
                lp, old, adv, clip_eps_low=0.2, clip_eps_high=0.28, mask=m
            ),
            lambda rng: _seq(rng, "logp", "logp", "adv", "mask"),
            "flows",
        ),
        "truncated_importance_weights": Case(
            "truncated_importance_weights",
            lambda lp, old, m: pgjax.truncated_importance_weights(
                lp, old, cap=1.5, level="sequence", mask=m
            ),
            lambda rng: _seq(rng, "logp", "logp", "mask"),
            "stopped",
        ),
        "importance_ratio_mask": Case(
            "importance_ratio_mask",
            lambda lp, old, m: pgjax.importance_ratio_mask(
                lp, old, low=0.5, high=2.0, level="geometric", mask=m
            ).astype(jnp.float32),
            lambda rng: _seq(rng, "logp", "logp", "mask"),
            "stopped",
        ),
        "reinforce_plus_plus_advantages": Case(
            "reinforce_plus_plus_advantages",
            lambda r, lp, rlp, m: pgjax.reinforce_plus_plus_advantages(
                r, lp, rlp, m, kl_coef=0.1, gamma=0.9
            ),
            lambda rng: (_seq(rng, "adv_seq")[0], *_seq(rng, "logp", "logp", "mask")),
            "stopped",
        ),
        "dynamic_sampling_mask": Case(
            "dynamic_sampling_mask",
            lambda r, m: pgjax.dynamic_sampling_mask(jnp.round(r), m).astype(jnp.float32),
            lambda rng: _seq(rng, "adv", "mask"),
            "stopped",
        ),
        "overlong_penalty": Case(
            "overlong_penalty",
            lambda lengths: pgjax.overlong_penalty(lengths, 20, 8),
            lambda rng: (f32(rng.uniform(12.5, 19.5, size=SEQ)),),  # inside the ramp
            "stopped",
        ),
        "chunked_log_probs": Case(
            "chunked_log_probs",
            lambda h, w, y, m: pgjax.chunked_log_probs(
                h, w, y, chunk_size=5, temperature=0.8, mask=m
            ),
            lambda rng: (
                f32(rng.normal(size=(*SEQ, 4))),
                f32(rng.normal(size=(4, 7))),
                jnp.asarray(rng.integers(0, 7, SEQ)),
                jnp.asarray(rng.random(SEQ) < 0.7),
            ),
            "flows",
        ),
        "kl_penalty_loss_straight_through": Case(
            "kl_penalty_loss",
            lambda lp, rlp, m: pgjax.kl_penalty_loss(lp, rlp, "k3_value_k2_grad", m),
            lambda rng: _seq(rng, "logp", "logp", "mask"),
            "flows",
        ),
    }
)
CASES["vtrace"] = Case(
    "vtrace",
    lambda v, r, nv, te, tr, lr: pgjax.vtrace(r, v, nv, te, tr, lr, 0.95, 0.9, rho_bar=2.0),
    lambda rng: (
        *_traj_args("values", "rewards", "next_values", "terminated", "truncated")(rng),
        f32(rng.normal(size=(T, B))),
    ),
    "stopped",
)


def assert_trees_close(actual, expected, **tol):
    a_leaves, a_tree = jax.tree.flatten(actual)
    e_leaves, e_tree = jax.tree.flatten(expected)
    assert a_tree == e_tree
    for a, e in zip(a_leaves, e_leaves, strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            continue
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), **tol)


def scalarise(tree):
    """A weighted sum of every float leaf (weights vary, so normalised outputs do not sum to 0)."""
    total = jnp.zeros(())
    for leaf in jax.tree.leaves(tree):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            weights = jnp.cos(jnp.arange(leaf.size, dtype=jnp.float32)).reshape(leaf.shape)
            total = total + jnp.sum(jnp.where(jnp.isfinite(leaf), leaf, 0.0) * weights)
    return total


def test_every_public_kernel_has_a_jit_vmap_grad_case():
    public = {
        name
        for name in pgjax.__all__
        if inspect.isfunction(getattr(pgjax, name))
        or name in ("Beta", "Categorical", "DiagGaussian", "TanhGaussian")
    }
    covered = {case.covers for case in CASES.values()}
    assert public <= covered, f"no jit/vmap/grad case for {sorted(public - covered)}"


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_jits_vmaps_like_a_loop_and_has_finite_documented_gradients(rng, name):
    """jit: every public kernel traces and compiles. vmap over a leading axis equals a Python
    loop of single calls. grad w.r.t. the first argument is finite, and non-zero ("flows") or
    exactly zero ("stopped", for targets and diagnostics). Eager calls are checked against the
    NumPy references in the other test_kernels_* files."""
    case = CASES[name]
    examples = [case.make(rng) for _ in range(3)]
    examples = [
        tuple(examples[0][i] if i in case.shared else a for i, a in enumerate(ex))
        for ex in examples
    ]
    in_axes = tuple(None if i in case.shared else 0 for i in range(len(examples[0])))

    def value_and_grad(first, *rest):
        grad = None
        if case.grad != "skip":
            grad = jax.grad(lambda x: scalarise(case.fn(x, *rest)))(first)
        return case.fn(first, *rest), grad

    jitted = jax.jit(value_and_grad)  # one program for the value and its gradient
    results = [jitted(*ex) for ex in examples]
    stacked = [
        examples[0][i] if i in case.shared else jax.tree.map(lambda *xs: jnp.stack(xs), *args)
        for i, args in enumerate(zip(*examples, strict=True))
    ]
    batched = jax.jit(jax.vmap(case.fn, in_axes=in_axes))(*stacked)
    expected = jax.tree.map(lambda *xs: jnp.stack(xs), *(value for value, _ in results))
    assert_trees_close(batched, expected, rtol=1e-5, atol=1e-6)
    if case.grad == "skip":
        return
    for _, grad in results:
        leaves = [np.asarray(g) for g in jax.tree.leaves(grad)]
        assert all(np.all(np.isfinite(g)) for g in leaves)
        if case.grad == "stopped":
            assert all(np.all(g == 0.0) for g in leaves)
        else:
            assert any(np.any(g != 0.0) for g in leaves)


@pytest.mark.parametrize("kernel", ["gae", "lambda_returns", "discounted_returns", "n_step"])
def test_vmap_over_the_batch_axis_equals_the_batched_call(rng, kernel):
    d = trajectory(rng)
    fns = {
        "gae": lambda r, v, nv, te, tr: pgjax.gae(r, v, nv, te, tr, 0.9, 0.8),
        "lambda_returns": lambda r, v, nv, te, tr: pgjax.lambda_returns(r, nv, te, tr, 0.9, 0.8),
        "discounted_returns": lambda r, v, nv, te, tr: pgjax.discounted_returns(r, te, tr, 0.9, nv),
        "n_step": lambda r, v, nv, te, tr: pgjax.n_step_returns(r, nv, te, tr, 0.9, 2),
    }
    fn = fns[kernel]
    args = (d["rewards"], d["values"], d["next_values"], d["terminated"], d["truncated"])
    per_column = jax.jit(jax.vmap(fn, in_axes=1, out_axes=1))(*args)
    assert_trees_close(per_column, jax.jit(fn)(*args), rtol=1e-6, atol=1e-6)


def test_gamma_and_lambda_may_be_traced_and_vmapped_as_hyperparameters(rng):
    d = trajectory(rng)

    def advantages(gamma, lam):
        return pgjax.gae(
            d["rewards"],
            d["values"],
            d["next_values"],
            d["terminated"],
            d["truncated"],
            gamma,
            lam,
        )[0]

    gammas, lams = jnp.array([0.5, 0.9, 0.99]), jnp.array([0.0, 0.7, 1.0])
    swept = jax.jit(jax.vmap(advantages))(gammas, lams)
    single = jax.jit(advantages)
    for i in range(3):
        np.testing.assert_allclose(swept[i], single(gammas[i], lams[i]), rtol=1e-5, atol=1e-6)


def _linear_kernels(r, v, nv, te, tr, stop, method):
    """Every target kernel: each is linear in (rewards, values, next_values)."""
    out = {
        "gae": pgjax.gae(r, v, nv, te, tr, 0.9, 0.8, method=method, stop_gradient=stop),
        "lambda_returns": pgjax.lambda_returns(
            r, nv, te, tr, 0.9, 0.8, method=method, stop_gradient=stop
        ),
        "discounted_returns": pgjax.discounted_returns(
            r, te, tr, 0.9, nv, method=method, stop_gradient=stop
        ),
    }
    if method == "scan":  # these have no method
        out["n_step_returns"] = pgjax.n_step_returns(r, nv, te, tr, 0.9, 3, stop_gradient=stop)
        out["td_errors_target"] = pgjax.td_errors(r, v, nv, te, 0.9, stop_gradient=stop) + v
    return out


def _linear_references(r, v, nv, te, tr, method):
    out = {
        "gae": ref.gae(r, v, nv, te, tr, 0.9, 0.8),
        "lambda_returns": ref.lambda_returns(r, nv, te, tr, 0.9, 0.8),
        "discounted_returns": ref.discounted_returns(r, te, tr, 0.9, nv),
    }
    if method == "scan":
        out["n_step_returns"] = ref.n_step_returns(r, nv, te, tr, 0.9, 3)
        out["td_errors_target"] = ref.td_errors(r, v, nv, te, 0.9) + v
    return out


@pytest.mark.parametrize("method", ["scan", "associative"])
def test_targets_have_zero_gradient_by_default_and_the_exact_linear_one_without_stop(rng, method):
    # The targets are linear in (rewards, values, next_values), so the reference's difference
    # along a direction is exactly the directional derivative: the JVP with
    # stop_gradient=False must equal it, and with the default stop_gradient=True it must be 0
    # (for td_errors, δ + V isolates the target r + γ(1 − term)V', the stopped part).
    data = ref.random_trajectory(rng, (6, 2), 0.25, 0.25)
    keys = ("rewards", "values", "next_values")
    direction = {k: rng.normal(size=(6, 2)) for k in keys}
    te, tr = data["terminated"], data["truncated"]

    @jax.jit
    def jvps(primals, tangents):
        def run(stop):
            return jax.jvp(
                lambda *a: _linear_kernels(*a, jnp.asarray(te), jnp.asarray(tr), stop, method),
                primals,
                tangents,
            )[1]

        return run(False), run(True)

    primals = tuple(f32(data[k]) for k in keys)
    tangents = tuple(f32(direction[k]) for k in keys)
    free, stopped = jvps(primals, tangents)
    base = _linear_references(*(data[k] for k in keys), te, tr, method)
    moved = _linear_references(*(data[k] + direction[k] for k in keys), te, tr, method)
    for name in base:
        for f, s_, b, m in zip(
            jax.tree.leaves(free[name]),
            jax.tree.leaves(stopped[name]),
            jax.tree.leaves(base[name]),
            jax.tree.leaves(moved[name]),
            strict=True,
        ):
            np.testing.assert_allclose(f, m - b, rtol=1e-5, atol=1e-5, err_msg=name)
            np.testing.assert_array_equal(s_, 0.0, err_msg=name)


# ------------------------------------------------------------------------------------------
# Input validation: trace-time ValueErrors that name the argument and the shapes
# ------------------------------------------------------------------------------------------

R = jnp.zeros((6, 3))
F = jnp.zeros((6, 3), bool)
L = jnp.zeros(SEQ)

BAD_INPUTS = {
    "values_T_vs_TB": (
        lambda: pgjax.gae(R, jnp.zeros(6), R, F, F, 0.9, 0.9),
        r"gae: `values` has shape \(6,\), expected \(6, 3\)",
    ),
    "terminated_T_vs_TB": (
        lambda: pgjax.discounted_returns(R, jnp.zeros(6, bool), F, 0.9),
        r"discounted_returns: `terminated` has shape \(6,\), expected \(6, 3\)",
    ),
    "rewards_T_vs_next_values_TB": (
        lambda: pgjax.lambda_returns(jnp.zeros(6), R, F, F, 0.9, 0.9),
        r"lambda_returns: `next_values` has shape \(6, 3\), expected \(6,\)",
    ),
    "gamma_wrong_shape": (
        lambda: pgjax.gae(R, R, R, F, F, jnp.full(4, 0.9), 0.9),
        r"gae: `gamma` has shape \(4,\), expected a scalar, the batch shape \(3,\) or the full "
        r"shape \(6, 3\)",
    ),
    "lambda_wrong_shape": (
        lambda: pgjax.lambda_returns(R, R, F, F, 0.9, jnp.full((3, 6), 0.9)),
        r"lambda_returns: `lambda_` has shape \(3, 6\)",
    ),
    "gamma_above_one": (
        lambda: pgjax.gae(R, R, R, F, F, 1.5, 0.9),
        r"gae: `gamma` must be <= 1.0, got 1.5",
    ),
    "gamma_array_above_one": (
        lambda: pgjax.td_errors(R, R, R, F, jnp.array([0.9, 1.01, 0.9])),
        r"td_errors: `gamma` must be <= 1.0, got 1\.0(1|09)",
    ),
    "lambda_negative": (
        lambda: pgjax.gae(R, R, R, F, F, 0.9, -0.1),
        r"gae: `lambda_` must be >= 0.0, got -0.1",
    ),
    "unknown_method": (
        lambda: pgjax.gae(R, R, R, F, F, 0.9, 0.9, method="parallel"),
        r"gae: `method` must be one of \('scan', 'associative'\), got 'parallel'",
    ),
    "unknown_method_discounted": (
        lambda: pgjax.discounted_returns(R, F, F, 0.9, method="unrolled"),
        r"discounted_returns: `method` must be one of \('scan', 'associative'\)",
    ),
    "unknown_reduction": (
        lambda: pgjax.policy_gradient_loss(L, L, reduction="median"),
        r"aggregate_loss: `reduction` must be one of \('mean', 'sum', .*\), got 'median'",
    ),
    "unknown_estimator": (
        lambda: pgjax.kl_penalty_loss(L, L, estimator="k4"),
        r"kl_estimate: `estimator` must be one of \('k1', 'k2', 'k3', 'k3_value_k2_grad'\), "
        r"got 'k4'",
    ),
    "cispo_advantages_shape": (
        lambda: pgjax.cispo_loss(L, L, L[0], clip_eps_low=0.2, clip_eps_high=0.2),
        r"cispo_loss: `advantages` has shape \(4,\), expected \(3, 4\)",
    ),
    "cispo_negative_clip_eps_high": (
        lambda: pgjax.cispo_loss(L, L, L, clip_eps_low=0.2, clip_eps_high=-1.0),
        r"cispo_loss: `clip_eps_high` must be >= 0, got -1.0",
    ),
    "truncated_weights_unknown_level": (
        lambda: pgjax.truncated_importance_weights(L, L, cap=2.0, level="geometric"),
        r"truncated_importance_weights: `level` must be one of \('token', 'sequence'\)",
    ),
    "truncated_weights_zero_cap": (
        lambda: pgjax.truncated_importance_weights(L, L, cap=0.0),
        r"truncated_importance_weights: `cap` must be > 0, got 0.0",
    ),
    "ratio_mask_low_above_high": (
        lambda: pgjax.importance_ratio_mask(L, L, low=2.0, high=0.5),
        r"importance_ratio_mask: `low` must be <= `high`, got low=2.0 and high=0.5",
    ),
    "ratio_mask_rollout_shape": (
        lambda: pgjax.importance_ratio_mask(L, L[0], low=0.5, high=2.0),
        r"importance_ratio_mask: `rollout_log_probs` has shape \(4,\), expected \(3, 4\)",
    ),
    "reinforce_plus_plus_rewards_shape": (
        lambda: pgjax.reinforce_plus_plus_advantages(L[0], L, L, kl_coef=0.1),
        r"reinforce_plus_plus_advantages: `rewards` has shape \(4,\), expected \(3,\) .* "
        r"or \(3, 4\)",
    ),
    "reinforce_plus_plus_gamma_above_one": (
        lambda: pgjax.reinforce_plus_plus_advantages(L[:, 0], L, L, kl_coef=0.1, gamma=1.5),
        r"reinforce_plus_plus_advantages: `gamma` must be <= 1, got 1.5",
    ),
    "dynamic_sampling_scalar_rewards": (
        lambda: pgjax.dynamic_sampling_mask(jnp.zeros(())),
        r"dynamic_sampling_mask: `group_rewards` must have rank >= 1",
    ),
    "overlong_cache_above_max": (
        lambda: pgjax.overlong_penalty(L, max_length=8, cache_length=10),
        r"overlong_penalty: `cache_length` must be <= `max_length`",
    ),
    "chunked_unembedding_shape": (
        lambda: pgjax.chunked_log_probs(L, jnp.zeros((3, 7)), jnp.zeros(3, int)),
        r"chunked_log_probs: `unembedding` has shape \(3, 7\), expected \(4, V\)",
    ),
    "chunked_tokens_shape": (
        lambda: pgjax.chunked_log_probs(L, jnp.zeros((4, 7)), jnp.zeros(4, int)),
        r"chunked_log_probs: `tokens` has shape \(4,\), expected \(3,\)",
    ),
    "chunked_chunk_size_zero": (
        lambda: pgjax.chunked_log_probs(L, jnp.zeros((4, 7)), jnp.zeros(3, int), chunk_size=0),
        r"chunked_log_probs: `chunk_size` must be a static int >= 1, got 0",
    ),
    "unknown_value_loss": (
        lambda: pgjax.value_loss(L, L, loss="l1"),
        r"value_loss: `loss` must be one of \('squared', 'huber'\), got 'l1'",
    ),
    "n_zero": (
        lambda: pgjax.n_step_returns(R, R, F, F, 0.9, 0),
        r"n_step_returns: `n` must be a static int >= 1, got 0",
    ),
    "n_not_int": (
        lambda: pgjax.n_step_returns(R, R, F, F, 0.9, 2.0),
        r"n_step_returns: `n` must be a static int >= 1, got 2.0",
    ),
    "advantages_shape": (
        lambda: pgjax.ppo_clip_loss(L, L, jnp.zeros(3)),
        r"ppo_clip_loss: `advantages` has shape \(3,\), expected \(3, 4\)",
    ),
    "sequence_advantages_shape": (
        lambda: pgjax.ppo_clip_loss(L, L, L, sequence_level=True),
        r"ppo_clip_loss: `advantages` has shape \(3, 4\), expected \(3,\)",
    ),
    "mask_shape": (
        lambda: pgjax.policy_gradient_loss(L, L, mask=jnp.ones(4, bool)),
        r"policy_gradient_loss: `mask` has shape \(4,\), expected \(3, 4\)",
    ),
    "old_log_probs_shape": (
        lambda: pgjax.ppo_clip_loss(L, L[0], L),
        r"ppo_clip_loss: `old_log_probs` has shape \(4,\), expected \(3, 4\)",
    ),
    "value_targets_shape": (
        lambda: pgjax.value_loss(L, L.T),
        r"value_loss: `targets` has shape \(4, 3\), expected \(3, 4\)",
    ),
    "value_clip_needs_both": (
        lambda: pgjax.value_loss(L, L, old_values=L),
        r"value_loss: value clipping needs both `old_values` and `clip_eps`",
    ),
    "dual_clip_not_above_one": (
        lambda: pgjax.ppo_clip_loss(L, L, L, dual_clip=1.0),
        r"ppo_clip_loss: `dual_clip` must be > 1, got 1.0",
    ),
    "negative_clip_eps": (
        lambda: pgjax.ppo_clip_loss(L, L, L, clip_eps=-0.1),
        r"ppo_clip_loss: `clip_eps` must be >= 0, got -0.1",
    ),
    "constant_normalizer_missing": (
        lambda: pgjax.aggregate_loss(L, reduction="constant_normalizer"),
        r"aggregate_loss: reduction 'constant_normalizer' needs a positive `normalizer`",
    ),
    "loo_axis_out_of_range": (
        lambda: pgjax.leave_one_out_baseline(L, axis=2),
        r"leave_one_out_baseline: `axis` 2 is out of range for shape \(3, 4\)",
    ),
    "grpo_scalar_rewards": (
        lambda: pgjax.grpo_advantages(jnp.zeros(())),
        r"grpo_advantages: `rewards` must have rank >= 1",
    ),
    "recurrence_offsets_shape": (
        lambda: pgjax.reverse_linear_recurrence(R, R[0]),
        r"reverse_linear_recurrence: `offsets` has shape \(3,\), expected \(6, 3\)",
    ),
    "categorical_actions_shape": (
        lambda: pgjax.Categorical(jnp.zeros((4, 3))).log_prob(jnp.zeros(3, int)),
        r"Categorical.log_prob: `actions` has shape \(3,\), expected \(4,\)",
    ),
    "gaussian_actions_shape": (
        lambda: pgjax.DiagGaussian(jnp.zeros((4, 2)), jnp.zeros(2)).log_prob(jnp.zeros(2)),
        r"DiagGaussian.log_prob: `actions` has shape \(2,\), expected \(4, 2\)",
    ),
    "adaptive_kl_non_scalar": (
        lambda: pgjax.adaptive_kl_coefficient(jnp.ones(2), 0.1, 0.01),
        r"adaptive_kl_coefficient: `beta` must be a scalar, got shape \(2,\)",
    ),
    "adaptive_kl_unknown_rule": (
        lambda: pgjax.adaptive_kl_coefficient(1.0, 0.1, 0.01, rule="pid"),
        r"adaptive_kl_coefficient: `rule` must be one of \('ppo', 'proportional'\)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_value_error_naming_argument_and_shapes(case):
    thunk, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        thunk()


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (
            lambda r, v: pgjax.gae(r, v, r, r > 0, r > 0, 0.9, 0.9),
            r"gae: `values` has shape \(6,\), expected \(6, 3\)",
        ),
        (
            lambda r, v: pgjax.gae(r, r, r, r > 0, r > 0, 0.9, 0.9, method="fast"),
            r"`method` must be one of",
        ),
        (
            lambda r, v: pgjax.n_step_returns(r, r, r > 0, r > 0, 0.9, 0),
            r"`n` must be a static int >= 1",
        ),
    ],
)
def test_validation_errors_are_raised_while_tracing_under_jit(fn, message):
    with pytest.raises(ValueError, match=message):
        jax.jit(fn)(R, jnp.zeros(6))


def test_non_numeric_inputs_raise_type_error_naming_the_argument():
    with pytest.raises(TypeError, match=r"gae: `rewards` must be a real number array"):
        pgjax.gae(R.astype(jnp.complex64), R, R, F, F, 0.9, 0.9)


# ------------------------------------------------------------------------------------------
# Dtypes
# ------------------------------------------------------------------------------------------


def _returns_kernels(d, gamma=0.9, lam=0.8):
    """Every return/advantage kernel on the trajectory `d` (arrays of any accepted dtype)."""
    r, v, nv, te, tr = (
        d[k] for k in ("rewards", "values", "next_values", "terminated", "truncated")
    )
    return {
        "gae_scan": pgjax.gae(r, v, nv, te, tr, gamma, lam),
        "gae_associative": pgjax.gae(r, v, nv, te, tr, gamma, lam, method="associative"),
        "lambda_returns": pgjax.lambda_returns(r, nv, te, tr, gamma, lam),
        "discounted_returns": pgjax.discounted_returns(r, te, tr, gamma, nv),
        "monte_carlo_returns": pgjax.discounted_returns(r, te, tr, gamma),
        "n_step_returns": pgjax.n_step_returns(r, nv, te, tr, gamma, 3),
        "td_errors": pgjax.td_errors(r, v, nv, te, gamma),
    }


def _returns_references(d, gamma=0.9, lam=0.8):
    r, v, nv, te, tr = (
        np.asarray(d[k]) for k in ("rewards", "values", "next_values", "terminated", "truncated")
    )
    te, tr = te.astype(bool), tr.astype(bool)
    return {
        "gae_scan": ref.gae(r, v, nv, te, tr, gamma, lam),
        "gae_associative": ref.gae(r, v, nv, te, tr, gamma, lam),
        "lambda_returns": ref.lambda_returns(r, nv, te, tr, gamma, lam),
        "discounted_returns": ref.discounted_returns(r, te, tr, gamma, nv),
        "monte_carlo_returns": ref.discounted_returns(r, te, tr, gamma),
        "n_step_returns": ref.n_step_returns(r, nv, te, tr, gamma, 3),
        "td_errors": ref.td_errors(r, v, nv, te, gamma),
    }


def _flag_kernels(d):
    """The kernels that convert rewards and flags (all share `_checks.trajectory`)."""
    r, v, nv, te, tr = (
        d[k] for k in ("rewards", "values", "next_values", "terminated", "truncated")
    )
    return {
        "gae": pgjax.gae(r, v, nv, te, tr, 0.9, 0.8),
        "monte_carlo_returns": pgjax.discounted_returns(r, te, tr, 0.9),
        "n_step_returns": pgjax.n_step_returns(r, nv, te, tr, 0.9, 3),
        "td_errors": pgjax.td_errors(r, v, nv, te, 0.9),
    }


def test_integer_rewards_and_integer_or_float_flags_match_float_and_bool(rng):
    d = trajectory(rng)
    ints = {**d, "rewards": jnp.asarray(rng.integers(-3, 4, size=(T, B)), jnp.int32)}
    floats = {**ints, "rewards": ints["rewards"].astype(jnp.float32)}
    expected = _flag_kernels(floats)
    for flag_dtype in (jnp.int32, jnp.float32, jnp.uint8):
        flags = {k: d[k].astype(flag_dtype) for k in ("terminated", "truncated")}
        out = _flag_kernels({**ints, **flags})
        for name in expected:
            assert_trees_close(out[name], expected[name], rtol=1e-6, atol=1e-6)
            assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(out[name])), name


def test_float64_inputs_under_x64_give_float64_outputs_matching_reference_to_1e_10(rng):
    data = ref.random_trajectory(rng, (8, 3), 0.25, 0.25)
    lp, old, adv = -rng.random(SEQ), -rng.random(SEQ), rng.normal(size=SEQ)
    expected = _returns_references(data)
    expected_losses = {
        "ppo_clip_loss": ref.ppo_clip_loss(lp, old, adv, dual_clip=2.0),
        "value_loss": ref.value_loss(lp, adv, loss="huber"),
        "kl_estimate": ref.kl_estimate(lp, old),
        "normalize_advantages": ref.normalize(adv),
        "grpo_advantages": ref.grpo_advantages(adv),
    }

    def loss_kernels(lp, old, adv):
        return {
            "ppo_clip_loss": pgjax.ppo_clip_loss(lp, old, adv, dual_clip=2.0),
            "value_loss": pgjax.value_loss(lp, adv, loss="huber"),
            "kl_estimate": pgjax.kl_estimate(lp, old),
            "normalize_advantages": pgjax.normalize_advantages(adv),
            "grpo_advantages": pgjax.grpo_advantages(adv),
        }

    with jax.enable_x64(True):
        d = {k: jnp.asarray(v) for k, v in data.items()}
        assert d["rewards"].dtype == jnp.float64
        out = jax.jit(_returns_kernels)(d)
        losses = jax.jit(loss_kernels)(jnp.asarray(lp), jnp.asarray(old), jnp.asarray(adv))
    for name in expected:
        for leaf, exp in zip(
            jax.tree.leaves(out[name]), jax.tree.leaves(expected[name]), strict=True
        ):
            assert leaf.dtype == jnp.float64, name
            np.testing.assert_allclose(leaf, exp, rtol=1e-10, atol=1e-10, err_msg=name)
    for name, value in losses.items():
        assert value.dtype == jnp.float64, name
        np.testing.assert_allclose(value, expected_losses[name], rtol=1e-10, atol=1e-10)


def test_bfloat16_inputs_give_float32_outputs_accumulated_in_float32(rng):
    data = ref.random_trajectory(rng, (8, 3), 0.25, 0.25)
    bf = {
        k: jnp.asarray(v, jnp.bfloat16) if v.dtype.kind == "f" else jnp.asarray(v)
        for k, v in data.items()
    }
    # The reference sees exactly the bfloat16-rounded inputs, so a float32 computation must
    # match it to float32 precision, far tighter than bfloat16's ~3 significant digits.
    rounded = {k: np.asarray(v, np.float64) for k, v in bf.items()}
    out = jax.jit(_returns_kernels)(bf)
    expected = _returns_references(rounded)
    for name in expected:
        for leaf, exp in zip(
            jax.tree.leaves(out[name]), jax.tree.leaves(expected[name]), strict=True
        ):
            assert leaf.dtype == jnp.float32, name
            np.testing.assert_allclose(leaf, exp, rtol=1e-5, atol=1e-5, err_msg=name)
    lp = jnp.asarray(-rng.random(SEQ), jnp.bfloat16)
    adv = jnp.asarray(rng.normal(size=SEQ), jnp.bfloat16)
    mask = jnp.asarray(rng.random(SEQ) < 0.7)

    def loss_kernels(lp, adv, mask):
        return (
            pgjax.ppo_clip_loss(lp, lp, adv),
            pgjax.policy_gradient_loss(lp, adv, mask),
            pgjax.value_loss(lp, adv),
            pgjax.entropy_loss(adv),
            pgjax.kl_estimate(lp, adv),
            pgjax.kl_penalty_loss(lp, adv),
            pgjax.normalize_advantages(adv, mask),
            pgjax.grpo_advantages(adv),
            pgjax.rloo_advantages(adv),
            pgjax.aggregate_loss(adv, mask, "seq_mean_token_mean"),
        )

    values = jax.jit(loss_kernels)(lp, adv, mask)
    for value in values:
        assert value.dtype == jnp.float32
    np.testing.assert_allclose(
        values[1],
        ref.policy_gradient_loss(
            np.asarray(lp, np.float64), np.asarray(adv, np.float64), np.asarray(mask)
        ),
        rtol=1e-5,
    )


# ------------------------------------------------------------------------------------------
# Public API and documentation
# ------------------------------------------------------------------------------------------

SHAPE_OR_EQUATION = re.compile(r"`\[[^`\]]*\]`|\.\. math::|scalar")


@pytest.mark.parametrize("name", pgjax.__all__)
def test_public_name_has_a_docstring_with_shapes_or_an_equation(name):
    doc = inspect.getdoc(getattr(pgjax, name))
    assert doc, f"pgjax.{name} has no docstring"
    assert SHAPE_OR_EQUATION.search(doc), f"pgjax.{name}'s docstring names no shape or equation"
    if inspect.isfunction(getattr(pgjax, name)):
        assert "Args:" in doc and "Returns:" in doc, name


@pytest.mark.parametrize(
    "cls", [pgjax.Beta, pgjax.Categorical, pgjax.DiagGaussian, pgjax.TanhGaussian]
)
def test_distribution_methods_document_their_shapes(cls):
    for name, member in vars(cls).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        doc = inspect.getdoc(member) or ""
        assert re.search(r"`\[\*B", doc), f"{cls.__name__}.{name}: {doc!r}"


def test_help_for_gae_shows_shapes_equation_conventions_and_reference():
    text = pydoc.render_doc(pgjax.gae, renderer=pydoc.plaintext)
    for needle in (
        "[T, *B]",
        ".. math::",
        "Args:",
        "Returns:",
        "terminated",
        "truncated",
        "next_values",
        "lambda_",
        "method",
        "arxiv.org/abs/1506.02438",
    ):
        assert needle in text, needle
