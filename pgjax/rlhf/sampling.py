"""Generating responses with `lax.scan`, and scoring given responses in one forward pass.

`generate` runs the prompt through the model once (filling a key/value cache), then one
`lax.scan` step per response token: sample from softmax(logits / temperature), feed the token
back at the next position. A response that emitted EOS is finished: its later slots are PAD and
masked out. Jitted, batched over prompts, vmappable over seeds.

`forward` teacher-forces prompts and responses through the model and returns, for every
response slot t, what the model said *before* choosing y_t: its distribution π(· | x, y_<t), the
log-probability of y_t and the scalar head (the value V(x, y_<t)), plus the scalar at the
response's last generated token (the reward model's score).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import pgjax
from pgjax.rlhf.model import Transformer
from pgjax.rlhf.task import EOS, PAD, response_lengths, response_mask


class Responses(NamedTuple):
    """Sampled responses.

    Attributes:
      tokens: `[N, R]` int32, PAD after EOS.
      mask: `[N, R]` bool, the generated slots (the tokens and the EOS).
    """

    tokens: jax.Array
    mask: jax.Array


def generate(
    model: Transformer,
    params,
    prompts: jax.Array,
    key: jax.Array,
    response_length: int,
    temperature=1.0,
    greedy: bool = False,
) -> Responses:
    """Samples one response per prompt.

    Args:
      prompts: `[N, S]` int.
      key: PRNG key.
      response_length: R (static), the most tokens, EOS included.
      temperature: τ > 0 (may be traced).
      greedy: take the most likely token instead of sampling.

    Returns:
      `Responses`, `[N, R]`.
    """
    num, S = prompts.shape
    logits, _, prefix = model.apply(params, prompts, jnp.arange(S))
    slots = ((0, 0), (0, response_length), (0, 0), (0, 0))
    cache = tuple((jnp.pad(k, slots), jnp.pad(v, slots)) for k, v in prefix)

    def sample(logits, key, done):
        policy = pgjax.Categorical(logits / temperature)
        token = policy.mode() if greedy else policy.sample(key)
        token = jnp.where(done, PAD, token).astype(jnp.int32)
        return token, done | (token == EOS)

    # Token 0 comes from the prompt's logits; each step then decodes the last token and samples
    # the next, so no step decodes a token whose logits nobody reads.
    keys = jax.random.split(key, response_length)
    first, done = sample(logits[:, -1], keys[0], jnp.zeros(num, bool))

    def step(carry, step_key):
        cache, token, position, done = carry
        logits, _, cache = model.apply(params, token[:, None], position[None], cache)
        token, done = sample(logits[:, 0], step_key, done)
        return (cache, token, position + 1, done), token

    _, rest = jax.lax.scan(step, (cache, first, jnp.int32(S), done), keys[1:])
    tokens = jnp.concatenate([first[:, None], rest.T], axis=1)
    return Responses(tokens, response_mask(tokens))


class Forward(NamedTuple):
    """The model on given responses, per response slot t (`[N, R]` unless stated).

    Attributes:
      logits: `[N, R, V]`, of π(· | x, y_<t) at temperature τ.
      log_probs: log π(y_t | x, y_<t).
      values: the scalar head before y_t, V(x, y_<t).
      score: `[N]`, the scalar head at the last generated token (EOS, or slot R).
    """

    logits: jax.Array
    log_probs: jax.Array
    values: jax.Array
    score: jax.Array


def forward(model: Transformer, params, prompts, responses, temperature=1.0) -> Forward:
    """Teacher-forced pass over `prompts` `[N, S]` and `responses` `[N, R]`."""
    S, R = prompts.shape[1], responses.shape[1]
    tokens = jnp.concatenate([prompts, responses], axis=1)
    logits, scalar, _ = model.apply(params, tokens, jnp.arange(S + R))
    logits = logits[:, S - 1 : S - 1 + R] / temperature
    log_probs = pgjax.Categorical(logits).log_prob(responses)
    last = S - 1 + jnp.minimum(response_lengths(responses) + 1, R)
    score = jnp.take_along_axis(scalar, last[:, None], axis=1)[:, 0]
    return Forward(logits, log_probs, scalar[:, S - 1 : S - 1 + R], score)
