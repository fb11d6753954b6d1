"""Log-probabilities of sampled tokens and the policy's entropy, straight from the last hidden
states and the unembedding, a chunk of tokens at a time.

A language model's policy over a vocabulary of V tokens is softmax(h W / τ). Computing the
log-softmax of all N = T·B positions at once, then gathering the sampled tokens, materialises an
`[N, V]` float32 array, and reverse-mode differentiation keeps it (or the logits) alive until the
backward pass: 4 GiB for 8k tokens of a 128k vocabulary. Here the flattened positions are cut into
chunks of `chunk_size`; a `lax.scan` computes each chunk's logits, keeps only its log-sum-exp, the
sampled token's log-probability and the entropy (`[N]` each), and the backward pass (a
`custom_vjp`) recomputes each chunk's logits from h and W instead of storing them. Peak memory
beyond the inputs and outputs is a few `[chunk_size, V]` float32 buffers and the `[D, V]`
gradient accumulator; the price is one more matmul (the recomputation) per chunk.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from pgjax.kernels import _checks


def chunked_log_probs(
    hidden: jax.Array,
    unembedding: jax.Array,
    tokens: jax.Array,
    *,
    chunk_size: int = 1024,
    temperature=1.0,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    r"""log π(y) of the given tokens and the entropy of π, from hidden states, in chunks.

    .. math::
        z = h W / \tau,\qquad
        \log\pi(y) = z_y - \log\sum_v e^{z_v},\qquad
        \mathcal H(\pi) = \log\sum_v e^{z_v} - \sum_v \pi(v)\, z_v

    The same numbers and gradients (w.r.t. `hidden`, `unembedding` and `temperature`) as
    `jax.nn.log_softmax(hidden @ unembedding / temperature)` gathered at `tokens`, without the
    `[N, V]` array: see this module's docstring. Logits are computed and reduced in float32 (at
    least); bfloat16 `hidden` / `unembedding` are multiplied in their own dtype with float32
    accumulation, and their gradients come back in their dtype. Sampling at temperature τ
    (as vLLM does) means the sampler's log-probabilities are those of z / τ: pass the same τ
    here for the trainer's. Reverse mode only (`jax.grad`, `jax.vjp`): the recomputing backward
    pass is a `custom_vjp`, which `jax.jvp` / `jax.jacfwd` cannot go through.

    Hidden states at masked-out positions are replaced by 0 (and their tokens by 0) before
    anything is computed, so NaN or ±inf there reaches neither a result nor the gradient of the
    shared `unembedding` (a product with a zero cotangent would not keep it out: 0 · NaN = NaN).

    Args:
      hidden: `[*B, D]` float, the final hidden states (after the last norm), one per position.
      unembedding: `[D, V]` float, W (the transposed embedding when tied).
      tokens: `[*B]` int in [0, V), the tokens whose log-probability is wanted. Out of range:
        ValueError when known at trace time; traced, a NaN log-probability (as
        `pgjax.Categorical.log_prob`).
      chunk_size: static int ≥ 1, positions per chunk (N is padded up to a multiple).
      temperature: scalar float > 0, τ; may be traced.
      mask: optional `[*B]` bool, valid positions; outputs are 0 elsewhere.

    Returns:
      `(log_probs, entropy)`, each `[*B]` float.
    """
    fn = "chunked_log_probs"
    _checks.check_rank(fn, "hidden", hidden, 1, "[*B, D]")
    if jnp.ndim(unembedding) != 2 or jnp.shape(unembedding)[0] != jnp.shape(hidden)[-1]:
        raise ValueError(
            f"{fn}: `unembedding` has shape {jnp.shape(unembedding)}, expected "
            f"({jnp.shape(hidden)[-1]}, V) (`hidden`'s last axis, D, by the vocabulary size)."
        )
    batch = tuple(jnp.shape(hidden)[:-1])
    _checks.check_shape(fn, "tokens", tokens, batch, "`hidden` without its last axis, [*B]")
    tokens = jnp.asarray(tokens)
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"{fn}: `tokens` must be integers, got dtype {tokens.dtype}.")
    chunk_size = _checks.check_count(fn, "chunk_size", chunk_size)
    _checks.check_scalar(fn, "temperature", temperature, above=0)
    dtype = _checks.compute_dtype(hidden, unembedding)
    hidden = _checks.as_float(fn, "hidden", hidden, _own_float(hidden, dtype))
    unembedding = _checks.as_float(fn, "unembedding", unembedding, _own_float(unembedding, dtype))
    vocabulary = unembedding.shape[1]
    mask = _checks.check_mask(fn, mask, batch, "`tokens`")
    if mask is None:
        _checks.check_range(fn, "tokens", tokens, at_least=0, below=vocabulary)
    else:
        _checks.check_range(fn, "tokens", jnp.where(mask, tokens, 0), at_least=0, below=vocabulary)
    num = math.prod(batch)
    if num == 0:
        return jnp.zeros(batch, dtype), jnp.zeros(batch, dtype)
    flat_hidden = hidden.reshape(num, -1)
    flat_tokens = tokens.reshape(num)
    if mask is not None:
        flat_mask = mask.reshape(num)
        flat_hidden = jnp.where(flat_mask[:, None], flat_hidden, 0)
        flat_tokens = jnp.where(flat_mask, flat_tokens, 0)
    valid = (flat_tokens >= 0) & (flat_tokens < vocabulary)
    flat_tokens = jnp.where(valid, flat_tokens, 0).astype(jnp.int32)
    chunk = min(chunk_size, num)
    pad = -num % chunk
    flat_hidden = jnp.pad(flat_hidden, ((0, pad), (0, 0)))
    flat_tokens = jnp.pad(flat_tokens, (0, pad))
    log_probs, entropy = _log_probs_and_entropy(
        flat_hidden.reshape(-1, chunk, flat_hidden.shape[-1]),
        unembedding,
        flat_tokens.reshape(-1, chunk),
        jnp.asarray(temperature, dtype),
    )
    log_probs = jnp.where(valid, log_probs.reshape(-1)[:num], jnp.nan)
    entropy = entropy.reshape(-1)[:num]
    if mask is not None:
        log_probs = jnp.where(flat_mask, log_probs, 0.0)
        entropy = jnp.where(flat_mask, entropy, 0.0)
    return log_probs.reshape(batch), entropy.reshape(batch)


def _own_float(x, default):
    """`x`'s dtype if it is a float (bfloat16 stays bfloat16 for the matmuls), else `default`."""
    own = jnp.asarray(x).dtype
    return own if jnp.issubdtype(own, jnp.floating) else default


def _logits(hidden, unembedding, temperature):
    """`[chunk, V]` z = h W / τ, accumulated in the compute dtype."""
    product = jnp.matmul(hidden, unembedding, preferred_element_type=temperature.dtype)
    return product / temperature


@jax.custom_vjp
def _log_probs_and_entropy(hidden, unembedding, tokens, temperature):
    return _forward(hidden, unembedding, tokens, temperature)[0]


def _forward(hidden, unembedding, tokens, temperature):
    """`hidden`: `[C, chunk, D]`, `tokens`: `[C, chunk]`; returns `([C, chunk], [C, chunk])` and
    the residuals (the inputs and each position's log-sum-exp and entropy, `[C, chunk]`)."""

    def chunk(_, inputs):
        h, y = inputs
        z = _logits(h, unembedding, temperature)
        top = z.max(-1, keepdims=True)
        shifted = z - top
        exp = jnp.exp(shifted)
        total = exp.sum(-1)
        log_total = jnp.log(total)
        # H = lse − Σ π z, with π z summed on the shifted logits (the shift cancels).
        entropy = log_total - (exp * shifted).sum(-1) / total
        chosen = jnp.take_along_axis(shifted, y[:, None], -1)[:, 0]
        return None, (chosen - log_total, entropy, log_total + top[:, 0])

    _, (log_probs, entropy, lse) = jax.lax.scan(chunk, None, (hidden, tokens))
    residuals = (hidden, unembedding, tokens, temperature, lse, entropy)
    return (log_probs, entropy), residuals


def _backward(residuals, cotangents):
    hidden, unembedding, tokens, temperature, lse, entropy = residuals
    g_log_probs, g_entropy = cotangents
    vocabulary = unembedding.shape[1]

    def chunk(carry, inputs):
        g_unembedding, g_temperature = carry
        h, y, lse_c, entropy_c, g_lp, g_h = inputs
        z = _logits(h, unembedding, temperature)
        log_p = z - lse_c[:, None]
        p = jnp.exp(log_p)
        one_hot = jnp.arange(vocabulary) == y[:, None]
        # ∂ log π(y)/∂z = 1[v = y] − π;  ∂H/∂z = −π (log π + H).
        g_z = g_lp[:, None] * (one_hot - p) - g_h[:, None] * p * (log_p + entropy_c[:, None])
        g_product = g_z / temperature  # z = (h W) / τ
        g_temperature = g_temperature - jnp.sum(g_product * z)
        g_hidden = jnp.matmul(
            g_product.astype(unembedding.dtype), unembedding.T, preferred_element_type=z.dtype
        )
        g_unembedding = g_unembedding + jnp.matmul(
            h.T, g_product.astype(h.dtype), preferred_element_type=z.dtype
        )
        return (g_unembedding, g_temperature), g_hidden.astype(hidden.dtype)

    init = (jnp.zeros(unembedding.shape, temperature.dtype), jnp.zeros((), temperature.dtype))
    (g_unembedding, g_temperature), g_hidden = jax.lax.scan(
        chunk, init, (hidden, tokens, lse, entropy, g_log_probs, g_entropy)
    )
    return g_hidden, g_unembedding.astype(unembedding.dtype), None, g_temperature


_log_probs_and_entropy.defvjp(_forward, _backward)
