"""Shared by the RLHF learning tests: one small pipeline, and its first stages (the pretrained
reference, the reward model) for 8 seeds, computed once per session in one vmapped program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.rlhf import pipeline
from pgjax.rlhf.config import RLHFConfig
from pgjax.rlhf.evaluation import evaluate_policy as evaluate
from pgjax.rlhf.model import init_params
from pgjax.rlhf.reward_model import preference_accuracy
from pgjax.rlhf.sampling import forward, generate
from pgjax.rlhf.task import EOS, response_mask, sample_prompts
from pgjax.training.parallel import across_devices

# A 2-block, width-32 transformer on prompts of 4 digits and responses of at most 10 tokens:
# small enough to pretrain, fit a reward model and run RL in seconds per seed.
SMALL = {
    "num_blocks": 2,
    "width": 32,
    "num_heads": 2,
    "prompt_length": 4,
    "response_length": 10,
    "target_length": 5,
    "pretrain_steps": 200,
    "preference_pairs": 1024,
    "reward_model_epochs": 2,
    "responses_per_update": 32,
    "num_minibatches": 2,
    "num_epochs": 2,
}
NUM_SEEDS = 8
EVAL_PROMPTS = 512


@pytest.fixture(scope="session")
def small() -> dict:
    """The small pipeline's config fields (`SMALL`)."""
    return dict(SMALL)


@pytest.fixture(scope="session")
def stages():
    """`(states, reference_metrics, reward_model_accuracy)` for seeds 0-7: the RL start states
    (leading axis 8), the reference's `response_metrics` on 512 fresh prompts and the reward
    models' held-out accuracy on 1024 fresh pairs, each `[8]`."""
    config = RLHFConfig(**SMALL, num_updates=10)
    config.validate()

    def one(seed):
        state = pipeline.init(config, jax.random.key(seed))
        eval_key, pair_key = jax.random.split(jax.random.key(1000 + seed))
        metrics = evaluate(config, state, state.reference, eval_key, EVAL_PROMPTS)
        accuracy = preference_accuracy(
            config.model(), state.reward_model, config.task_spec(), pair_key, 1024
        )
        return state, metrics, accuracy

    seeds = jnp.arange(NUM_SEEDS, dtype=jnp.uint32)
    states, metrics, accuracy = across_devices(one, NUM_SEEDS)(seeds)
    return states, _numpy(metrics), np.asarray(accuracy)


@pytest.fixture(scope="session")
def train_rl(stages):
    """`train(algorithm, config, updates) -> (final metrics, training metrics)`: RL from the
    session's stages for every seed, then the final policy answers the prompts the reference
    answered (`response_metrics`, each `[8]`; training metrics `[8, updates]`)."""
    states = stages[0]

    def train(algorithm, config, updates: int):
        def one(state, seed):
            state = pipeline.start(config, state.key, state.reference, state.reward_model)
            state, metrics = jax.lax.scan(
                lambda s, _: algorithm.update(config, s), state, length=updates
            )
            eval_key, _ = jax.random.split(jax.random.key(1000 + seed))
            return evaluate(config, state, state.params, eval_key, EVAL_PROMPTS), metrics

        seeds = jnp.arange(NUM_SEEDS, dtype=jnp.uint32)
        final, metrics = across_devices(one, NUM_SEEDS)(states, seeds)
        return _numpy(final), _numpy(metrics)

    return train


def _numpy(tree: dict) -> dict:
    return {k: np.asarray(v) for k, v in tree.items()}


@pytest.fixture(scope="session")
def sampled(small):
    """`(params, prompts, tokens, mask, old)`: 8 responses of a fresh small policy whose EOS
    is likely (so that many slots are padding), and its teacher-forced pass over them."""
    config = pipeline.RLHFConfig(**small)
    model, spec = config.model(), config.task_spec()

    @jax.jit
    def sample(key):
        init_key, prompt_key, sample_key = jax.random.split(key, 3)
        params = init_params(model, init_key)
        bias = params["params"]["lm_head"]["bias"]
        params["params"]["lm_head"]["bias"] = bias.at[EOS].set(2.0)
        prompts = sample_prompts(spec, prompt_key, 8)
        tokens = generate(model, params, prompts, sample_key, spec.response_length).tokens
        return params, prompts, tokens, forward(model, params, prompts, tokens)

    params, prompts, tokens, old = sample(jax.random.key(0))
    mask = response_mask(tokens)
    assert 0.2 < float(mask.mean()) < 0.9
    return params, prompts, tokens, mask, old


@pytest.fixture(scope="session")
def padding_is_ignored():
    """`check(loss, params, make_batch)`: `loss(params, batch)` is a scalar and `make_batch(pad)`
    a batch holding `pad` in every padded slot; NaN there must change neither the loss nor its
    gradient (masks select, they never multiply)."""

    def check(loss, params, make_batch):
        value_and_grad = jax.jit(jax.value_and_grad(loss))
        clean_loss, clean_grad = value_and_grad(params, make_batch(0.0))
        poisoned_loss, poisoned_grad = value_and_grad(params, make_batch(jnp.nan))
        assert np.isfinite(poisoned_loss)
        np.testing.assert_allclose(poisoned_loss, clean_loss, rtol=1e-6)
        for g, c in zip(jax.tree.leaves(poisoned_grad), jax.tree.leaves(clean_grad), strict=True):
            np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-7)

    return check
