"""The synthetic language task: prompts, the base distribution, the hidden true reward and the
preference labels, against plain-Python references and their stated distributions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.rlhf import task

TASK = task.Task(prompt_length=5, response_length=12, target_length=6, length_penalty=1.5)
# Jitted once per shape: eager calls would compile every primitive on its own.
PROMPTS = jax.jit(task.sample_prompts, static_argnums=(0, 2))
RESPONSES = jax.jit(task.sample_base_responses, static_argnums=0)
PREFERENCES = jax.jit(task.sample_preferences, static_argnums=(0, 2))


def reference_true_reward(spec: task.Task, prompt, response) -> float:
    """r*(x, y) read off the module docstring, one token at a time."""
    digits = {int(t) for t in prompt[1 : 1 + spec.prompt_length]}
    total, length = 0.0, 0
    for token in response:
        if token == task.EOS:
            break
        length += 1
        if token in digits:
            total += 1.0
        elif not task.FIRST_DIGIT <= token < task.FIRST_DIGIT + task.NUM_DIGITS:
            total -= 1.0
    return total - spec.length_penalty * max(0, length - spec.target_length)


def test_true_reward_matches_a_token_by_token_reference_on_arbitrary_tokens(rng):
    # Any token anywhere (stray BOS/SEP/PAD before EOS count −1), with and without an EOS.
    prompts = np.asarray(PROMPTS(TASK, jax.random.key(0), 200))
    responses = rng.integers(0, task.VOCAB_SIZE, (200, TASK.response_length))
    ends = rng.random((100, TASK.response_length)) < 0.15
    responses[:100] = np.where(ends, task.EOS, responses[:100])
    responses[100:] = np.where(responses[100:] == task.EOS, task.PAD, responses[100:])  # no EOS
    got = np.asarray(task.true_reward(TASK, jnp.asarray(prompts), jnp.asarray(responses)))
    expected = [reference_true_reward(TASK, p, r) for p, r in zip(prompts, responses, strict=True)]
    np.testing.assert_allclose(got, expected)
    lengths = np.asarray(task.response_lengths(jnp.asarray(responses)))
    assert (lengths[100:] == TASK.response_length).all()


def test_prompts_are_bos_digits_sep():
    prompts = np.asarray(PROMPTS(TASK, jax.random.key(1), 4000))
    assert prompts.shape == (4000, TASK.prompt_slots)
    assert (prompts[:, 0] == task.BOS).all() and (prompts[:, -1] == task.SEP).all()
    digits = prompts[:, 1:-1] - task.FIRST_DIGIT
    assert digits.min() == 0 and digits.max() == 9
    # Uniform digits: each of the 10 has frequency 0.1 ± 0.01 (≈ 8 standard errors).
    frequencies = np.bincount(digits.ravel(), minlength=10) / digits.size
    np.testing.assert_allclose(frequencies, 0.1, atol=0.01)


def test_base_responses_end_with_eos_then_pad_and_have_the_stated_lengths():
    prompts = PROMPTS(TASK, jax.random.key(2), 20000)
    responses = np.asarray(RESPONSES(TASK, jax.random.key(3), prompts))
    lengths = np.asarray(task.response_lengths(jnp.asarray(responses)))
    assert lengths.min() >= 1 and lengths.max() <= TASK.response_length - 1  # an EOS fits
    slots = np.arange(TASK.response_length)
    assert (responses[slots == lengths[:, None]] == task.EOS).all()
    assert (responses[slots > lengths[:, None]] == task.PAD).all()
    body = responses[slots < lengths[:, None]]
    assert ((body >= task.FIRST_DIGIT) & (body < task.VOCAB_SIZE)).all()
    long = lengths > TASK.target_length
    # 10% long (uniform over n* + 1 … R − 1), else uniform over 1 … n*; ±0.01 ≈ 5 std errors.
    assert abs(long.mean() - TASK.long_rate) < 0.01
    short_counts = np.bincount(lengths[~long], minlength=TASK.target_length + 1)[1:]
    np.testing.assert_allclose(short_counts / (~long).sum(), 1 / TASK.target_length, atol=0.01)
    mask = np.asarray(task.response_mask(jnp.asarray(responses)))
    np.testing.assert_array_equal(mask, slots <= lengths[:, None])


def test_on_topic_share_of_base_responses_follows_the_care_level():
    # A token is a prompt digit with probability u ~ U(0, 1), a letter with (1 − u)/3 and a
    # random digit (on topic with the prompt's share of the 10 digits) otherwise: on average
    # 1/2 + 1/3 · E[share] on topic and 1/6 letters.
    prompts = PROMPTS(TASK, jax.random.key(4), 20000)
    responses = RESPONSES(TASK, jax.random.key(5), prompts)
    scores = np.asarray(task.token_scores(TASK, prompts, responses))
    lengths = np.asarray(task.response_lengths(responses))
    counted = np.arange(TASK.response_length) < lengths[:, None]
    digits = np.asarray(prompts)[:, 1:-1]
    share = np.mean([len(set(row)) / 10 for row in digits])
    assert abs((scores[counted] == 1).mean() - (0.5 + share / 3)) < 0.01
    assert abs((scores[counted] == -1).mean() - 1 / 6) < 0.01


@pytest.mark.parametrize("noise", [0.5, 2.0])
def test_preference_labels_follow_bradley_terry(noise):
    # P(the true-better response is labelled chosen) = σ(|Δr*| / τ): the observed share over
    # 20000 pairs equals the mean of those probabilities within 0.01 (≈ 3 standard errors).
    pairs = PREFERENCES(TASK, jax.random.key(6), 20000, noise)
    margin = np.asarray(
        task.true_reward(TASK, pairs.prompts, pairs.chosen)
        - task.true_reward(TASK, pairs.prompts, pairs.rejected)
    )
    differ = margin != 0
    expected = np.mean(1 / (1 + np.exp(-np.abs(margin[differ]) / noise)))
    assert abs((margin[differ] > 0).mean() - expected) < 0.01
    assert expected < 0.98  # the labels are noisy, not the true order


def test_decode_writes_one_character_per_token_without_padding():
    digit, letter = task.FIRST_DIGIT, task.FIRST_LETTER
    tokens = [task.BOS, digit + 3, digit, task.SEP, letter + 1, task.EOS, task.PAD]
    assert task.decode(np.asarray(tokens)) == "^30|b$"


def test_a_target_length_without_room_for_longer_responses_is_refused():
    with pytest.raises(ValueError, match="target_length must be in"):
        task.Task(response_length=8, target_length=7)
