"""A task with a verifiable reward: sort the prompt's digits. No reward model; the reward is an
exact check of the answer, and accuracy is the metric.

A prompt is `BOS d_1 … d_P SEP` as in `pgjax.rlhf.task`; the one correct response is the P
digits in ascending order, then EOS:

    r(x, y) = 1  if y = sort(d_1 … d_P) EOS,   else 0

Why sorting. Its answer is checked exactly, has a fixed length (P tokens, so a response that
runs on or stops early is wrong, and the response length is a readable metric) and needs every
token right. It is within reach of a 2-block transformer: each answer token is the smallest
prompt digit not yet emitted, one attention lookup over the prompt keyed by the previous answer
token, plus a count for repeated digits; a sum would need carries spread over several tokens, a
copy or a reversal only a fixed positional lookup. A short pretraining on noisy answers leaves
the reference right on a fraction of prompts (the repeated-digit cases worst), so groups of
sampled answers have rewards that vary and RL has something to raise.

The base distribution (the reference's pretraining data): the sorted answer with every token
replaced by a uniform random digit with probability `noise`; with probability `length_error`
the answer loses its last digit, with the same probability it runs on by 1 to R − 1 − P random
digits (an EOS still fits), otherwise it has the right length.

Token ids, `decode` and the prompt sampler are those of `pgjax.rlhf.task`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

import pgjax
from pgjax.rlhf.task import FIRST_DIGIT, NUM_DIGITS, end_tokens, response_lengths


@dataclasses.dataclass(frozen=True)
class SortTask:
    """The sizes and the base distribution of the sorting task (static: they fix shapes).

    Attributes:
      prompt_length: P, digits per prompt (and per correct answer).
      response_length: R ≥ P + 2, the most tokens a response has, its EOS included (room for
        an answer that runs on).
      noise: the base distribution's per-token error rate.
      length_error: the base distribution's probability of a short answer, and of a long one.
    """

    prompt_length: int = 5
    response_length: int = 8
    noise: float = 0.15
    length_error: float = 0.1

    def __post_init__(self):
        if self.prompt_length < 1:
            raise ValueError(f"prompt_length must be >= 1, got {self.prompt_length}.")
        if self.response_length < self.prompt_length + 2:
            raise ValueError(
                f"response_length must be >= prompt_length + 2 = {self.prompt_length + 2} "
                f"(the answer, its EOS and room to run on), got {self.response_length}."
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
        """`[N, R]` responses from the base distribution (see the module's docstring)."""
        return sample_base_answers(self, key, prompts)


def sorted_answers(task: SortTask, prompts: jax.Array) -> jax.Array:
    """`[N, P]` int32, the prompts' digits in ascending order (the correct answers)."""
    return jnp.sort(prompts[:, 1 : 1 + task.prompt_length], axis=-1).astype(jnp.int32)


def sample_base_answers(task: SortTask, key: jax.Array, prompts: jax.Array) -> jax.Array:
    """`[N, R]` answers from the base distribution, PAD after their EOS."""
    num, P, R = prompts.shape[0], task.prompt_length, task.response_length
    u = jax.random.uniform(key, (num, 3 + 2 * R))  # one draw (see task.sample_base_responses)
    wrong, value = u[:, 3 : 3 + R], u[:, 3 + R :]
    answer = jnp.pad(sorted_answers(task, prompts), ((0, 0), (0, R - P)))
    random_digit = FIRST_DIGIT + jnp.floor(value * NUM_DIGITS).astype(jnp.int32)
    slots = jnp.arange(R)
    tokens = jnp.where((wrong < task.noise) | (slots >= P), random_digit, answer)
    extra = 1 + jnp.floor(u[:, 2] * (R - 1 - P)).astype(jnp.int32)
    lengths = jnp.where(
        u[:, 1] < task.length_error,
        P - 1,
        jnp.where(u[:, 1] < 2 * task.length_error, P + extra, P),
    )
    return end_tokens(tokens, lengths)


def correct(task: SortTask, prompts: jax.Array, responses: jax.Array) -> jax.Array:
    """`[N]` bool: the response is exactly the sorted prompt digits followed by EOS."""
    P = task.prompt_length
    right_tokens = (responses[:, :P] == sorted_answers(task, prompts)).all(-1)
    return right_tokens & (response_lengths(responses) == P)


def reward(task: SortTask, prompts: jax.Array, responses: jax.Array) -> jax.Array:
    """`[N]` float32, the verifiable reward: 1 for a correct answer, 0 otherwise."""
    return correct(task, prompts, responses).astype(jnp.float32)


def response_metrics(task: SortTask, prompts, responses, logits, ref_logits):
    """What the evaluation reports about a batch of responses to the sorting task (means over
    it): the accuracy, KL(π ‖ π_ref) per response and per token (exact at every step, summed
    over the generated slots), the response length and the share cut at the maximum length."""
    kl = pgjax.Categorical(logits).kl(pgjax.Categorical(ref_logits))
    kl_sequence = jnp.where(responses.mask, kl, 0.0).sum(-1)
    lengths = response_lengths(responses.tokens)
    return {
        "accuracy": reward(task, prompts, responses.tokens).mean(),
        "kl_sequence": kl_sequence.mean(),
        "kl_token": kl_sequence.sum() / jnp.maximum(responses.mask.sum(), 1),
        "response_length": lengths.mean(),
        "truncated": (lengths == task.response_length).mean(),
    }
