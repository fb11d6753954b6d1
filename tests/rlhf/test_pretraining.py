"""The reference policy learns the base distribution by maximum likelihood: its samples have the
base distribution's true reward and length."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.rlhf import pipeline, task
from pgjax.rlhf.pretraining import language_model_loss


def _base_statistics(config):
    spec = config.task_spec()

    @jax.jit
    def statistics(key):
        prompt_key, response_key = jax.random.split(key)
        prompts = task.sample_prompts(spec, prompt_key, 20000)
        responses = task.sample_base_responses(spec, response_key, prompts)
        lengths = task.response_lengths(responses)
        return task.true_reward(spec, prompts, responses).mean(), lengths.mean()

    return tuple(float(x) for x in statistics(jax.random.key(5)))


@pytest.mark.learning
def test_the_reference_samples_like_the_base_distribution(stages, small):
    # Base distribution (20000 samples): true reward 1.16, length 3.46. Measured over seeds
    # 0-15 (512 sampled responses each, 2-core AMD EPYC, jax 0.10.2): reference true reward
    # 0.81-1.08, length 3.12-3.67. Pretraining learning rate 1e-9: true reward −11.9 to −3.3,
    # length 5.2-9.5 (near-uniform tokens).
    _, reference, _ = stages
    base_reward, base_length = _base_statistics(pipeline.RLHFConfig(**small))
    assert np.all(np.abs(reference["true_reward"] - base_reward) < 0.5), reference["true_reward"]
    assert np.all(np.abs(reference["response_length"] - base_length) < 0.5)
    assert np.all(reference["kl_sequence"] == 0.0)  # the reference against itself


def test_the_language_model_loss_is_the_mean_nll_up_to_and_including_eos(small, sampled):
    model = pipeline.RLHFConfig(**small).model()
    params, prompts, tokens, mask, old = sampled
    loss = jax.jit(lambda r: language_model_loss(model, params, prompts, r)[0])
    mask = np.asarray(mask)  # the tokens up to and including each EOS
    np.testing.assert_allclose(loss(tokens), -np.asarray(old.log_probs)[mask].mean(), rtol=1e-5)
    # Past the EOS, any token: the loss is unchanged.
    changed = jnp.where(mask, tokens, task.FIRST_LETTER)
    np.testing.assert_allclose(loss(changed), loss(tokens), rtol=1e-6)
