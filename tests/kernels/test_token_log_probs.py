"""Token log-probabilities and entropy from hidden states, in chunks
(pgjax.kernels.token_log_probs): values and gradients against the naive log-softmax + gather and
a float64 reference, for every chunking, dtype and temperature; no `[N, V]` array."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref

import pgjax

BATCH, D, V = (3, 5), 6, 11


def data(rng, batch=BATCH, dim=D, vocabulary=V):
    hidden = rng.normal(size=(*batch, dim))
    unembedding = rng.normal(size=(dim, vocabulary)) * 0.7
    tokens = rng.integers(0, vocabulary, size=batch)
    return hidden, unembedding, tokens


def naive(hidden, unembedding, tokens, temperature=1.0):
    """The log-softmax of all logits, then the gather: the `[N, V]` way."""
    log_p = jax.nn.log_softmax(hidden @ unembedding / temperature, axis=-1)
    chosen = jnp.take_along_axis(log_p, tokens[..., None], -1)[..., 0]
    return chosen, -jnp.sum(jnp.exp(log_p) * log_p, -1)


def weighted(fn, c_lp, c_ent):
    """A scalar of both outputs with random weights, differentiated w.r.t. (h, W, τ)."""

    def scalar(hidden, unembedding, temperature):
        log_probs, entropy = fn(hidden, unembedding, temperature)
        return jnp.sum(c_lp * log_probs + c_ent * entropy)

    return jax.grad(scalar, argnums=(0, 1, 2))


@pytest.mark.parametrize("chunk_size", [1, 4, 15, 64])
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_values_and_gradients_match_the_naive_log_softmax_and_the_float64_reference(
    rng, chunk_size, temperature
):
    hidden, unembedding, tokens = data(rng)
    c_lp, c_ent = rng.normal(size=BATCH), rng.normal(size=BATCH)
    args = (jnp.asarray(hidden, jnp.float32), jnp.asarray(unembedding, jnp.float32))
    tok = jnp.asarray(tokens)

    def chunked(h, w, t):
        return pgjax.chunked_log_probs(h, w, tok, chunk_size=chunk_size, temperature=t)

    log_probs, entropy = jax.jit(chunked)(*args, temperature)
    expected_lp, expected_ent = ref.token_log_probs(hidden, unembedding, tokens, temperature)
    np.testing.assert_allclose(log_probs, expected_lp, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(entropy, expected_ent, rtol=1e-5, atol=1e-5)
    grads = jax.jit(weighted(chunked, c_lp, c_ent))(*args, jnp.float32(temperature))
    naive_grads = weighted(lambda h, w, t: naive(h, w, tok, t), c_lp, c_ent)(
        *args, jnp.float32(temperature)
    )
    for got, want in zip(grads, naive_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_gradients_match_float64_naive_to_1e_10_under_x64(rng):
    hidden, unembedding, tokens = data(rng)
    c_lp, c_ent = rng.normal(size=BATCH), rng.normal(size=BATCH)
    with jax.enable_x64(True):
        args = (jnp.asarray(hidden), jnp.asarray(unembedding), jnp.float64(0.8))
        tok = jnp.asarray(tokens)

        def chunked(h, w, t):
            return pgjax.chunked_log_probs(h, w, tok, chunk_size=4, temperature=t)

        values = jax.jit(chunked)(*args)
        grads = jax.jit(weighted(chunked, c_lp, c_ent))(*args)
        naive_grads = weighted(lambda h, w, t: naive(h, w, tok, t), c_lp, c_ent)(*args)
    assert values[0].dtype == jnp.float64
    expected = ref.token_log_probs(hidden, unembedding, tokens, 0.8)
    for got, want in zip(values, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    for got, want in zip(grads, naive_grads, strict=True):
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_masked_positions_give_zeros_and_their_non_finite_hidden_states_reach_no_gradient(rng):
    hidden, unembedding, tokens = data(rng)
    mask = rng.random(BATCH) < 0.6
    dirty = np.where(mask[..., None], hidden, np.nan)
    c_lp, c_ent = rng.normal(size=BATCH), rng.normal(size=BATCH)

    def run(hidden, tokens):
        def fn(h, w, t):
            return pgjax.chunked_log_probs(h, w, tokens, chunk_size=4, temperature=t, mask=mask)

        args = (jnp.asarray(hidden, jnp.float32), jnp.asarray(unembedding, jnp.float32), 1.0)
        return fn(*args), weighted(fn, c_lp, c_ent)(*args[:2], jnp.float32(1.0))

    clean = run(hidden, jnp.asarray(tokens))
    poisoned = run(dirty, jnp.asarray(np.where(mask, tokens, -1)))
    for a, b in zip(jax.tree.leaves(clean), jax.tree.leaves(poisoned), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clean[0][0][~mask], 0.0)
    expected_lp, _ = ref.token_log_probs(hidden, unembedding, tokens)
    np.testing.assert_allclose(clean[0][0][mask], expected_lp[mask], rtol=1e-5, atol=1e-5)


def test_bfloat16_inputs_compute_in_float32_and_return_gradients_in_bfloat16(rng):
    hidden, unembedding, tokens = data(rng)
    h16, w16 = jnp.asarray(hidden, jnp.bfloat16), jnp.asarray(unembedding, jnp.bfloat16)
    tok = jnp.asarray(tokens)
    log_probs, entropy = pgjax.chunked_log_probs(h16, w16, tok, chunk_size=4)
    assert log_probs.dtype == jnp.float32
    rounded = (np.asarray(h16, np.float64), np.asarray(w16, np.float64))
    expected_lp, expected_ent = ref.token_log_probs(*rounded, tokens)
    np.testing.assert_allclose(log_probs, expected_lp, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(entropy, expected_ent, rtol=1e-4, atol=1e-4)
    g_h, g_w = jax.grad(
        lambda h, w: pgjax.chunked_log_probs(h, w, tok, chunk_size=4)[0].sum(), argnums=(0, 1)
    )(h16, w16)
    assert g_h.dtype == jnp.bfloat16 and g_w.dtype == jnp.bfloat16


def test_traced_out_of_range_tokens_give_nan_and_known_ones_raise(rng):
    hidden, unembedding, tokens = data(rng)
    tokens[0, 0], tokens[1, 2] = -1, V
    out = jax.jit(lambda t: pgjax.chunked_log_probs(f(hidden), f(unembedding), t)[0])(tokens)
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 2])
    assert np.isfinite(out).sum() == tokens.size - 2
    with pytest.raises(ValueError, match=r"chunked_log_probs: `tokens` must be >= 0, got -1"):
        pgjax.chunked_log_probs(f(hidden), f(unembedding), jnp.asarray(tokens))
    tokens[0, 0] = 0
    with pytest.raises(ValueError, match=r"chunked_log_probs: `tokens` must be < 11, got 11"):
        pgjax.chunked_log_probs(f(hidden), f(unembedding), jnp.asarray(tokens))


def f(x):
    return jnp.asarray(x, jnp.float32)


def test_the_compiled_gradient_holds_no_array_of_all_positions_by_the_vocabulary(rng):
    """Memory: the compiled value-and-gradient of the chunked kernel needs less scratch space
    than one float32 `[N, V]` array; the naive one needs several."""
    n, dim, vocabulary, chunk = 512, 16, 4096, 64
    hidden = jnp.zeros((n, dim))
    unembedding = jnp.zeros((dim, vocabulary))
    tokens = jnp.zeros(n, jnp.int32)

    def temp_bytes(fn):
        loss = lambda h, w: jnp.sum(sum(fn(h, w)))  # noqa: E731
        compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(hidden, unembedding)
        return compiled.compile().memory_analysis().temp_size_in_bytes

    full = n * vocabulary * 4
    chunked = temp_bytes(lambda h, w: pgjax.chunked_log_probs(h, w, tokens, chunk_size=chunk))
    assert chunked < full / 2
    assert temp_bytes(lambda h, w: naive(h, w, tokens)) > full
