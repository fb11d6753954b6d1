"""The group algorithms: each paper's advantage, KL placement, surrogate and token aggregation;
padding that cannot leak into the loss or its gradient; dynamic sampling's mask; the stale
sampler's ring and its corrections; a short GRPO run that raises the hidden true reward."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.rlhf import grpo, pipeline, task
from pgjax.rlhf.pipeline import Rollout

CLASSES = {
    "grpo": grpo.GRPOConfig,
    "dr_grpo": grpo.DrGRPOConfig,
    "rloo": grpo.RLOOConfig,
    "dapo": grpo.DAPOConfig,
    "gspo": grpo.GSPOConfig,
    "cispo": grpo.CISPOConfig,
}
PPO_CLIP = ("grpo", "dr_grpo", "rloo", "dapo")  # the token-level clipped surrogate


@pytest.fixture(scope="module")
def configs(small):
    return {name: cls(**small) for name, cls in CLASSES.items()}


def test_each_estimator_has_its_papers_advantage(rng, configs, small):
    # Two groups of G = 8 rewards.
    rewards = rng.normal(size=(2, 8))
    mean = rewards.mean(1, keepdims=True)
    expected = {
        "grpo": (rewards - mean) / (rewards.std(1, ddof=1, keepdims=True) + 1e-6),
        "dr_grpo": rewards - mean,
        "rloo": rewards - (rewards.sum(1, keepdims=True) - rewards) / 7,
    }
    for name, config in configs.items():
        got = grpo.advantages(config, jnp.asarray(rewards.reshape(-1), jnp.float32))
        want = expected.get(name, expected["grpo"])  # DAPO, GSPO and CISPO: GRPO's
        np.testing.assert_allclose(got, want.reshape(-1), rtol=1e-5, atol=1e-6)
    population = grpo.GRPOConfig(**small, std_ddof=0)
    got = grpo.advantages(population, jnp.asarray(rewards.reshape(-1), jnp.float32))
    expected = (rewards - mean) / (rewards.std(1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(got, expected.reshape(-1), rtol=1e-5)


def test_only_rloo_folds_the_kl_into_the_reward(rng, configs):
    mask = jnp.asarray(np.arange(5) < np.array([[2], [5]]))
    log_probs = jnp.asarray(rng.normal(size=(2, 5)), jnp.float32)
    ref = jnp.asarray(rng.normal(size=(2, 5)), jnp.float32)
    poison = jnp.where(mask, 0.0, jnp.nan)  # past the end: must not count
    data = Rollout(None, None, mask, log_probs + poison, ref + poison, None, jnp.array([1.0, 2.0]))
    kl = np.where(np.asarray(mask), np.asarray(log_probs - ref), 0.0).sum(1)
    np.testing.assert_allclose(
        grpo.sequence_rewards(configs["rloo"], data, 0.5), [1.0, 2.0] - 0.5 * kl, rtol=1e-5
    )
    for name in ("grpo", "dr_grpo", "gspo", "cispo"):
        np.testing.assert_array_equal(grpo.sequence_rewards(configs[name], data, 0.5), [1.0, 2.0])


def test_dapo_adds_the_soft_overlong_penalty_to_the_reward(configs, small):
    # R = 10, L_max = 9, DAPO's buffer L_cache = 4: lengths ≤ 5 free, 6…9 ramp down, cut at R −1.
    config = configs["dapo"]
    assert config.overlong_buffer == 4 and small["response_length"] == 10
    lengths = np.array([3, 5, 6, 8, 9, 10])
    slots = np.arange(10)
    responses = np.where(slots < lengths[:, None], task.FIRST_DIGIT, task.PAD)
    responses = np.where(slots == lengths[:, None], task.EOS, responses)
    mask = slots <= np.minimum(lengths, 9)[:, None]
    zeros = jnp.zeros((6, 10))
    data = Rollout(None, jnp.asarray(responses), jnp.asarray(mask), zeros, zeros, None, jnp.ones(6))
    expected = 1.0 + np.array([0.0, 0.0, -0.25, -0.75, -1.0, -1.0])
    np.testing.assert_allclose(grpo.sequence_rewards(config, data, 0.0), expected, rtol=1e-6)


@pytest.mark.parametrize("name", PPO_CLIP)
def test_at_ratio_one_the_loss_is_the_papers_aggregate(sampled, configs, name):
    # With π_θ = π_old and π_ref = π_old · e^{-δ}, the clipped surrogate is −Â and k3 is
    # e^{-δ} − 1 + δ on every token, reduced as the paper reduces them.
    params, prompts, tokens, mask, old = sampled
    old = old.log_probs
    config, mask_np = configs[name], np.asarray(mask)
    advantages = np.repeat(np.linspace(-1.0, 1.0, 8)[:, None], tokens.shape[1], 1)
    delta = 0.3
    batch = grpo.Batch(prompts, tokens, mask, old, old - delta, jnp.asarray(advantages))
    hp = config.hyperparams()
    loss, metrics = jax.jit(lambda p: grpo.loss(config, hp, 0.7, p, batch))(params)
    n = mask_np.sum(1)
    reduce = {
        "seq_mean_token_mean": lambda x: np.mean((x * mask_np).sum(1) / n),
        "seq_mean_token_sum": lambda x: np.mean((x * mask_np).sum(1)),
        "constant_normalizer": lambda x: (x * mask_np).sum() / mask_np.size,
        "mean": lambda x: (x * mask_np).sum() / mask_np.sum(),
    }[config.loss_aggregation]
    np.testing.assert_allclose(metrics["policy_loss"], reduce(-advantages), rtol=1e-5, atol=1e-6)
    k3 = np.exp(-delta) - 1 + delta
    if name == "rloo":
        assert "kl_loss" not in metrics
        np.testing.assert_allclose(loss, metrics["policy_loss"])
    else:
        expected = reduce(np.full(mask_np.shape, k3))
        np.testing.assert_allclose(metrics["kl_loss"], expected, rtol=1e-4)
        total = metrics["policy_loss"] + 0.7 * metrics["kl_loss"]
        np.testing.assert_allclose(loss, total, rtol=1e-5)


@pytest.mark.parametrize("name", list(CLASSES))
def test_the_loss_and_its_gradient_ignore_padded_slots(sampled, configs, padding_is_ignored, name):
    params, prompts, tokens, mask, old = sampled
    config = configs[name]
    advantages = jnp.repeat(jnp.linspace(-1.0, 1.0, 8)[:, None], tokens.shape[1], 1)

    def batch(pad):
        fields = (old.log_probs, old.log_probs - 0.3, advantages)
        return grpo.Batch(prompts, tokens, mask, *(jnp.where(mask, x, pad) for x in fields))

    hp = config.hyperparams()
    padding_is_ignored(lambda p, b: grpo.loss(config, hp, 0.7, p, b)[0], params, batch)


def test_gspo_and_cispo_at_ratio_one_are_their_papers_losses(sampled, configs):
    # GSPO: one ratio per response, so −mean_i Â_i; CISPO: −token-mean(Â · log π), its weight
    # sg(clip(1)) = 1. β = 0 for both, so the loss is the policy loss.
    params, prompts, tokens, mask, old = sampled
    mask_np = np.asarray(mask)
    per_response = np.linspace(-1.0, 1.0, 8)
    advantages = jnp.asarray(np.repeat(per_response[:, None], tokens.shape[1], 1), jnp.float32)
    batch = grpo.Batch(prompts, tokens, mask, old.log_probs, old.log_probs, advantages)
    results = {}
    for name in ("gspo", "cispo"):
        hp = configs[name].hyperparams()
        results[name] = jax.jit(lambda p, c=configs[name], h=hp: grpo.loss(c, h, 0.0, p, batch))(
            params
        )
    np.testing.assert_allclose(results["gspo"][0], -per_response.mean(), atol=1e-6)
    log_probs = np.asarray(old.log_probs)
    cispo = -(np.where(mask_np, np.asarray(advantages) * log_probs, 0.0)).sum() / mask_np.sum()
    np.testing.assert_allclose(results["cispo"][0], cispo, rtol=1e-5)


def test_dynamic_sampling_drops_exactly_the_groups_with_equal_rewards(sampled, small):
    # 8 responses in 2 groups of 4; group 0 all right (rewards equal), group 1 mixed. With the
    # mask, the token-mean loss and its gradient are those of group 1 alone, and NaN advantages
    # in group 0 change nothing.
    params, prompts, tokens, mask, old = sampled
    config = grpo.DAPOConfig(**{**small, "group_size": 4})
    keep = grpo.kept_groups(config, jnp.array([1.0, 1, 1, 1, 0, 1, 0, 0]))
    np.testing.assert_array_equal(keep, [False] * 4 + [True] * 4)
    hp = config.hyperparams()
    advantages = jnp.repeat(jnp.linspace(-1.0, 1.0, 8)[:, None], tokens.shape[1], 1)
    kept = mask & keep[:, None]

    def value_and_grad(batch):
        return jax.jit(jax.value_and_grad(lambda p: grpo.loss(config, hp, 0.0, p, batch)[0]))(
            params
        )

    poisoned = jnp.where(keep[:, None], advantages, jnp.nan)
    full = value_and_grad(grpo.Batch(prompts, tokens, kept, old.log_probs, old.log_probs, poisoned))
    half = slice(4, 8)
    alone = value_and_grad(
        grpo.Batch(
            prompts[half], tokens[half], mask[half], old.log_probs[half], old.log_probs[half],
            advantages[half],
        )
    )  # fmt: skip
    np.testing.assert_allclose(full[0], alone[0], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(full[1]), jax.tree.leaves(alone[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)  # sums in another order


@pytest.mark.parametrize("lag", [1, 3])
def test_the_lag_ring_samples_with_the_parameters_of_k_updates_ago(small, lag):
    # Parameters u after update u: the sampler of update u must hold max(u − k, 0).
    config = grpo.GRPOConfig(**small, rollout_lag=lag)
    state = grpo.with_lag_ring(config, pipeline.RLHFState(jnp.float32(0), *[None] * 6))
    assert state.lagged.shape == (lag,)
    sampled_with = []
    for u in range(8):
        sampler, ring = grpo.lagged(config, state)
        sampled_with.append(float(sampler))
        state = state._replace(params=jnp.float32(u + 1), lagged=ring)
    assert sampled_with == [max(u - lag, 0) for u in range(8)]
    assert grpo.lagged(grpo.GRPOConfig(**small), state)[1] is None  # k = 0: no ring


def test_the_corrections_weight_or_mask_by_the_learner_to_sampler_ratio(configs, small):
    # Token ratios π_old/μ of 0.25, 1, 3 on one response: truncated IS weights the advantages
    # by min(ρ, 2); masking keeps the tokens with ρ in [0.5, 2].
    data = Rollout(None, None, None, jnp.log(jnp.array([[0.25, 1.0, 3.0]])), None, None, None)
    behaviour = jnp.zeros((1, 3))
    mask = jnp.ones((1, 3), bool)
    per_token = jnp.full((1, 3), 2.0)
    for correction, want_mask, want_adv in (
        ("none", [True, True, True], [2.0, 2.0, 2.0]),
        ("truncated_is", [True, True, True], [0.5, 2.0, 4.0]),
        ("mask", [False, True, False], [2.0, 2.0, 2.0]),
    ):
        config = grpo.GRPOConfig(**small, rollout_lag=1, rollout_correction=correction)
        got_mask, got_adv = grpo.correct(
            config, config.hyperparams(), data, behaviour, mask, per_token
        )
        np.testing.assert_array_equal(got_mask, [want_mask])
        np.testing.assert_allclose(got_adv, [want_adv], rtol=1e-6)


@pytest.mark.learning
def test_a_short_grpo_run_raises_the_hidden_true_reward(stages, train_rl, small):
    # As test_ppo's, with 4 prompts × G = 8 responses per update (β 0.3). Gain in true reward
    # measured over seeds 0-15 (2-core AMD EPYC, jax 0.10.2): 0.46-1.15, median 0.96, at a KL
    # of 0.9-1.9 nats per response. Learning rate 1e-9: exactly 0 on every seed.
    _, reference, _ = stages
    config = grpo.GRPOConfig(**small, num_updates=30)
    final, metrics = train_rl(grpo.GRPO, config, 30)
    gain = final["true_reward"] - reference["true_reward"]
    assert np.median(gain) >= 0.5, gain
    assert (gain >= 0.25).sum() >= 7, gain
    assert np.all(np.isfinite(metrics["loss"]))
