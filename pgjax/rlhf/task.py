"""The environment of the RLHF pipeline: a small synthetic language with a hidden true reward.

A prompt is `BOS d_1 … d_P SEP` with P random digits; a response is up to `response_length`
tokens, the last of them EOS (a response that has not ended by then is cut there). The hidden
"true" preference, which only labels the reward model's training pairs and the evaluation, never
the RL stage:

    r*(x, y) = Σ_{t ≤ n} s_t  −  c · max(0, n − n*)

over the n tokens before EOS, with s_t = +1 for a digit that occurs in the prompt (on topic), 0
for another digit and −1 for anything else (letters, stray special tokens), and a length term:
every token past the target length n* costs c = 1.5.

The base distribution (what the reference policy is pretrained on, and what the preference pairs
are drawn from) has a per-response "care" level u ~ U(0, 1): each token is a prompt digit with
probability u, a letter with (1 − u)/3 and a random digit otherwise. Its lengths are mostly at or
below n* (uniform on 1 … n*), so in the preference data a longer response is usually a better
one: length is a feature correlated with the true preference. A small fraction of responses
(`long_rate`) is longer, so the reward model sees the length penalty only rarely: the gap
through which an over-optimised policy hacks it (Gao et al., 2022, "Scaling laws for reward
model overoptimization", https://arxiv.org/abs/2210.10760; Singhal et al., 2023, "A long way to
go: investigating length correlations in RLHF", https://arxiv.org/abs/2310.03716).

Everything is generated on the fly with `jax.random`; nothing is downloaded. Token arrays are
int32; responses carry PAD after their EOS.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PAD, BOS, SEP, EOS = 0, 1, 2, 3
FIRST_DIGIT, NUM_DIGITS = 4, 10
FIRST_LETTER, NUM_LETTERS = FIRST_DIGIT + NUM_DIGITS, 6
VOCAB_SIZE = FIRST_LETTER + NUM_LETTERS
# One character per token id, for reading samples: PAD · BOS ^ SEP | EOS $, digits, letters.
CHARACTERS = "·^|$0123456789abcdef"


@dataclasses.dataclass(frozen=True)
class Task:
    """The sizes and the hidden rules of the task (static: they fix array shapes).

    Attributes:
      prompt_length: P, digits per prompt.
      response_length: R, the most tokens a response has, its EOS included.
      target_length: n*, the response length (before EOS) the true reward prefers.
      length_penalty: c, true reward lost per token beyond n*.
      long_rate: the base distribution's share of responses longer than n*.
    """

    prompt_length: int = 6
    response_length: int = 16
    target_length: int = 8
    length_penalty: float = 1.5
    long_rate: float = 0.1

    def __post_init__(self):
        if self.prompt_length < 1:
            raise ValueError(f"prompt_length must be >= 1, got {self.prompt_length}.")
        if not 1 <= self.target_length <= self.response_length - 2:
            raise ValueError(
                f"target_length must be in [1, response_length - 2] = "
                f"[1, {self.response_length - 2}] (room for longer responses and their EOS), "
                f"got {self.target_length}."
            )

    @property
    def prompt_slots(self) -> int:
        """S = P + 2: BOS, the digits, SEP."""
        return self.prompt_length + 2

    @property
    def sequence_length(self) -> int:
        """S + R, a prompt and a whole response."""
        return self.prompt_slots + self.response_length

    def base_responses(self, key: jax.Array, prompts: jax.Array) -> jax.Array:
        """`[N, R]` responses from the base distribution (`sample_base_responses`)."""
        return sample_base_responses(self, key, prompts)


def sample_prompts(task: Task, key: jax.Array, num: int) -> jax.Array:
    """`[num, S]` prompts `BOS d_1 … d_P SEP`, digits uniform and independent."""
    digits = jax.random.randint(key, (num, task.prompt_length), 0, NUM_DIGITS) + FIRST_DIGIT
    column = jnp.full((num, 1), 0, jnp.int32)
    return jnp.concatenate([column + BOS, digits.astype(jnp.int32), column + SEP], axis=1)


def end_tokens(tokens: jax.Array, lengths: jax.Array) -> jax.Array:
    """`tokens` `[N, R]` with EOS at slot `lengths[i]` (when < R) and PAD after it."""
    slots = jnp.arange(tokens.shape[-1])
    ended = jnp.where(slots == lengths[:, None], EOS, PAD)
    return jnp.where(slots < lengths[:, None], tokens, ended).astype(jnp.int32)


def sample_base_responses(task: Task, key: jax.Array, prompts: jax.Array) -> jax.Array:
    """`[N, R]` responses from the base distribution (see the module's docstring)."""
    num, R = prompts.shape[0], task.response_length
    # One draw for everything (XLA:CPU compiles each random draw of a new shape on its own).
    u = jax.random.uniform(key, (num, 3 + 3 * R))
    care, kind, pick, value = u[:, :1], u[:, 3 : 3 + R], u[:, 3 + R : 3 + 2 * R], u[:, 3 + 2 * R :]
    n_long = R - 1 - task.target_length  # lengths n* + 1 … R − 1 (an EOS still fits)
    short_lengths = 1 + jnp.floor(u[:, 2] * task.target_length)
    long_lengths = task.target_length + 1 + jnp.floor(u[:, 2] * n_long)
    lengths = jnp.where(u[:, 1] < task.long_rate, long_lengths, short_lengths).astype(jnp.int32)
    picks = 1 + jnp.floor(pick * task.prompt_length).astype(jnp.int32)
    from_prompt = jnp.take_along_axis(prompts, picks, axis=1)
    digit = FIRST_DIGIT + jnp.floor(value * NUM_DIGITS).astype(jnp.int32)
    letter = FIRST_LETTER + jnp.floor(value * NUM_LETTERS).astype(jnp.int32)
    tokens = jnp.where(
        kind < care, from_prompt, jnp.where(kind < (1 + 2 * care) / 3, letter, digit)
    )
    return end_tokens(tokens, lengths)


def response_lengths(responses: jax.Array) -> jax.Array:
    """`[N]` int32, the tokens before the first EOS (R when there is none)."""
    is_end = responses == EOS
    return jnp.where(is_end.any(-1), jnp.argmax(is_end, -1), responses.shape[-1]).astype(jnp.int32)


def response_mask(responses: jax.Array) -> jax.Array:
    """`[N, R]` bool, the generated slots: the tokens before EOS and the EOS itself."""
    slots = jnp.arange(responses.shape[-1])
    return slots <= response_lengths(responses)[:, None]


def token_scores(task: Task, prompts: jax.Array, responses: jax.Array) -> jax.Array:
    """`[N, R]` float32 s_t: +1 for a prompt digit, 0 for another digit, −1 for anything else,
    on the tokens before EOS (0 from the EOS on)."""
    digits = prompts[:, 1 : 1 + task.prompt_length]
    on_topic = (responses[:, :, None] == digits[:, None, :]).any(-1)
    is_digit = (responses >= FIRST_DIGIT) & (responses < FIRST_DIGIT + NUM_DIGITS)
    scores = jnp.where(on_topic, 1.0, jnp.where(is_digit, 0.0, -1.0))
    before_end = jnp.arange(responses.shape[-1]) < response_lengths(responses)[:, None]
    return jnp.where(before_end, scores, 0.0)


def true_reward(task: Task, prompts: jax.Array, responses: jax.Array) -> jax.Array:
    """`[N]` float32, the hidden r*(x, y) = Σ_t s_t − c · max(0, n − n*)."""
    excess = jnp.maximum(response_lengths(responses) - task.target_length, 0)
    return token_scores(task, prompts, responses).sum(-1) - task.length_penalty * excess


class Preferences(NamedTuple):
    """Labelled comparisons: for each prompt, the response the labeller preferred and the other.

    Attributes:
      prompts: `[N, S]`.
      chosen: `[N, R]`.
      rejected: `[N, R]`.
    """

    prompts: jax.Array
    chosen: jax.Array
    rejected: jax.Array


def sample_preferences(task: Task, key: jax.Array, num: int, noise) -> Preferences:
    r"""`num` pairs of base responses to fresh prompts, labelled with Bradley-Terry noise.

    .. math:: P(y_a \succ y_b \mid x) = \sigma\big((r^*(x, y_a) - r^*(x, y_b)) / \tau\big)

    Args:
      noise: τ > 0 (may be traced): the labellers' temperature; small τ labels by the true
        reward almost always, large τ almost at random.
    """
    prompt_key, a_key, b_key, label_key = jax.random.split(key, 4)
    prompts = sample_prompts(task, prompt_key, num)
    a = sample_base_responses(task, a_key, prompts)
    b = sample_base_responses(task, b_key, prompts)
    margin = (true_reward(task, prompts, a) - true_reward(task, prompts, b)) / noise
    a_wins = jax.random.bernoulli(label_key, jax.nn.sigmoid(margin))[:, None]
    return Preferences(prompts, jnp.where(a_wins, a, b), jnp.where(a_wins, b, a))


def decode(tokens) -> str:
    """One token sequence as text, e.g. `^350912|5593$`; PAD is left out."""
    return "".join(CHARACTERS[t] for t in np.asarray(tokens).tolist() if t != PAD)
