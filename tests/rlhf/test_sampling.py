"""Generation respects masks and lengths (nothing after EOS, at most R tokens), samples from
softmax(logits / τ), and agrees with the teacher-forced pass that scores responses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.rlhf import task
from pgjax.rlhf.model import Transformer, init_params
from pgjax.rlhf.sampling import forward, generate

TASK = task.Task(prompt_length=4, response_length=10, target_length=5)
MODEL = Transformer(task.VOCAB_SIZE, TASK.sequence_length, width=32, num_layers=1, num_heads=2)
R = TASK.response_length


def _params(eos_bias=0.0, seed=0):
    params = INIT(MODEL, jax.random.key(seed))
    bias = params["params"]["lm_head"]["bias"]
    params["params"]["lm_head"]["bias"] = bias.at[task.EOS].set(eos_bias)
    return params


# model, response_length and greedy are static: one compiled program per shape and mode.
GENERATE = jax.jit(generate, static_argnums=(0, 4, 6))
INIT = jax.jit(init_params, static_argnums=0)
FORWARD = jax.jit(forward, static_argnums=0)
APPLY = jax.jit(MODEL.apply)


def _generate(params, num=512, temperature=1.0, greedy=False, seed=1):
    prompts = task.sample_prompts(TASK, jax.random.key(seed), num)
    key = jax.random.key(seed + 1)
    return prompts, GENERATE(MODEL, params, prompts, key, R, temperature, greedy)


@pytest.mark.parametrize("eos_bias", [3.0, 50.0, -50.0])
def test_nothing_follows_eos_and_the_mask_covers_exactly_the_generated_tokens(eos_bias):
    # eos_bias 3: EOS with probability ≈ 0.4 at every step; 50: always first; −50: never, so
    # every response is cut at R.
    _, responses = _generate(_params(eos_bias))
    tokens, mask = np.asarray(responses.tokens), np.asarray(responses.mask)
    lengths = np.asarray(task.response_lengths(responses.tokens))
    slots = np.arange(R)
    assert tokens.shape == mask.shape == (512, R)
    for row, n in zip(tokens, lengths, strict=True):
        if n < R:
            assert row[n] == task.EOS and (row[n + 1 :] == task.PAD).all()
        assert task.EOS not in row[:n]  # (any other token may be generated, PAD included)
    np.testing.assert_array_equal(mask, slots <= lengths[:, None])
    if eos_bias == 50.0:
        assert (lengths == 0).all() and (mask.sum(1) == 1).all()
    elif eos_bias == -50.0:
        assert (lengths == R).all() and mask.all()
    else:
        assert 0.2 < (lengths == 0).mean() < 0.6 and (lengths < R).mean() > 0.95


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_first_tokens_are_drawn_from_softmax_of_logits_over_temperature(temperature):
    params = _params(eos_bias=0.0, seed=3)
    prompts = jnp.repeat(task.sample_prompts(TASK, jax.random.key(4), 1), 20000, axis=0)
    first = GENERATE(MODEL, params, prompts, jax.random.key(5), 1, temperature, False).tokens
    logits = APPLY(params, prompts[:1], jnp.arange(TASK.prompt_slots))[0][0, -1]
    expected = np.asarray(jax.nn.softmax(logits / temperature))
    counts = np.bincount(np.asarray(first[:, 0]), minlength=task.VOCAB_SIZE)
    # Total variation of 20000 draws over 20 tokens: ≈ 0.01 by chance.
    assert 0.5 * np.abs(counts / 20000 - expected).sum() < 0.025


def test_greedy_generation_is_the_argmax_of_the_teacher_forced_logits():
    params = _params(eos_bias=3.0, seed=6)
    prompts, responses = _generate(params, num=64, greedy=True)
    scored = FORWARD(MODEL, params, prompts, responses.tokens, 1.0)
    argmax = np.asarray(jnp.argmax(scored.logits, -1))
    mask = np.asarray(responses.mask)
    np.testing.assert_array_equal(argmax[mask], np.asarray(responses.tokens)[mask])


def test_forward_log_probs_score_and_values_read_the_right_positions():
    params = _params(seed=7)
    kernel = params["params"]["scalar_head"]["kernel"]
    params["params"]["scalar_head"]["kernel"] = jnp.ones_like(kernel)
    prompts, responses = _generate(params, num=16)
    out = FORWARD(MODEL, params, prompts, responses.tokens, 0.7)
    tokens = jnp.concatenate([prompts, responses.tokens], 1)
    logits, scalar, _ = APPLY(params, tokens, jnp.arange(TASK.sequence_length))
    S, rows = TASK.prompt_slots, np.arange(16)[:, None]
    # y_t is chosen from the logits at position S + t − 1; V(x, y_<t) is read there too.
    log_p = np.asarray(jax.nn.log_softmax(logits[:, S - 1 : S - 1 + R] / 0.7))
    expected = log_p[rows, np.arange(R), np.asarray(responses.tokens)]
    np.testing.assert_allclose(out.log_probs, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.values, scalar[:, S - 1 : S - 1 + R], atol=1e-5)
    last = S + np.minimum(np.asarray(task.response_lengths(responses.tokens)), R - 1)
    np.testing.assert_allclose(out.score, np.asarray(scalar)[rows[:, 0], last], atol=1e-5)
