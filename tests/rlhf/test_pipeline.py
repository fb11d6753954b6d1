"""The pipeline's config (every bad setting named before anything compiles), the registry, and
the evaluation metrics every algorithm logs."""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.rlhf import pipeline, task
from pgjax.rlhf.config import RLHFConfig
from pgjax.rlhf.sampling import Responses
from pgjax.runs import registry
from pgjax.training.config import ConfigError


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"task": "CartPole-v1"}, "task", "task must be one of digits, sort"),
        ({"width": 0}, "width", "width must be >= 1"),
        ({"num_heads": 5}, "num_heads", "num_heads=5 must divide the width 64"),
        ({"target_length": 15}, "target_length", "= [1, 14] (room for longer responses"),
        ({"num_minibatches": 5}, "num_minibatches", "num_minibatches=5 must divide 64"),
        ({"reward_model_batch_size": 100}, "reward_model_batch_size", "must divide 2048"),
        ({"num_updates": 0}, "num_updates", "num_updates must be >= 1"),
    ],
)
def test_a_bad_setting_is_named_with_what_was_expected(overrides, field, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        RLHFConfig(**overrides).validate()
    assert e.value.field == field


def test_every_rlhf_algorithm_resolves_by_name_and_validates_its_defaults():
    names = registry.names("rlhf")
    assert names == [
        "rlhf-ppo", "rlhf-grpo", "rlhf-dr-grpo", "rlhf-rloo",
        "rlhf-dapo", "rlhf-gspo", "rlhf-cispo",
    ]  # fmt: skip
    assert not set(names) & set(registry.names("control"))
    for name in names:
        algorithm = registry.get(name)
        assert algorithm.name == name and registry.family_of(name) == "rlhf"
        assert registry.config_class(name) is algorithm.config_class
        algorithm.config_class().validate()
        assert algorithm.config_class().num_updates == 200


def test_response_metrics_are_exact_kl_lengths_and_scores():
    # Two responses of R = 4 slots: "d d EOS ·" (length 2) and "d d d d" (cut at R).
    spec = task.Task(prompt_length=2, response_length=4, target_length=1)
    d = task.FIRST_DIGIT
    prompts = jnp.array([[task.BOS, d, d + 1, task.SEP]] * 2)
    tokens = jnp.array([[d, d + 5, task.EOS, task.PAD], [d, d + 1, d + 1, task.FIRST_LETTER]])
    responses = Responses(tokens, task.response_mask(tokens))
    # π uniform over 2 tokens, π_ref uniform over 4 (others impossible): KL = log 2 per step.
    logits = jnp.where(jnp.arange(task.VOCAB_SIZE) < 2, 0.0, -jnp.inf)
    ref_logits = jnp.where(jnp.arange(task.VOCAB_SIZE) < 4, 0.0, -jnp.inf)
    shape = (2, 4, task.VOCAB_SIZE)
    metrics = pipeline.response_metrics(
        spec,
        prompts,
        responses,
        jnp.broadcast_to(logits, shape),
        jnp.broadcast_to(ref_logits, shape),
        jnp.array([1.0, 3.0]),
    )
    generated = np.array([3, 4])  # slots up to and including the EOS
    np.testing.assert_allclose(metrics["kl_sequence"], np.log(2) * generated.mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["kl_token"], np.log(2), rtol=1e-6)
    np.testing.assert_allclose(metrics["response_length"], 3.0)
    np.testing.assert_allclose(metrics["truncated"], 0.5)
    np.testing.assert_allclose(metrics["rm_score"], 2.0)
    # True rewards: 1 + 0 − 1.5·1 = −0.5 and 1 + 1 + 1 − 1 − 1.5·3 = −2.5; on topic 4 of 6.
    np.testing.assert_allclose(metrics["true_reward"], -1.5)
    np.testing.assert_allclose(metrics["on_topic"], 4 / 6)
