"""The transformer: causal, its key/value-cache decoding equals the full forward pass, and its
initialisation (one draw) has the shapes and scales flax's `init` would give."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.rlhf.model import Transformer, init_params, num_params
from pgjax.rlhf.task import VOCAB_SIZE

MODEL = Transformer(VOCAB_SIZE, max_length=12, width=32, num_layers=2, num_heads=4)
APPLY = jax.jit(MODEL.apply)
INIT = jax.jit(init_params, static_argnums=0)


def _params(seed=0):
    params = INIT(MODEL, jax.random.key(seed))
    # A non-zero scalar head, so that its outputs are tested too.
    head = params["params"]["scalar_head"]
    head["kernel"] = jax.random.normal(jax.random.key(seed + 1), head["kernel"].shape)
    return params


def test_outputs_at_a_position_do_not_depend_on_later_tokens(rng):
    params = _params()
    tokens = jnp.asarray(rng.integers(0, VOCAB_SIZE, (3, 12)))
    changed = tokens.at[:, 7:].set((tokens[:, 7:] + 5) % VOCAB_SIZE)
    logits, scalar, _ = APPLY(params, tokens, jnp.arange(12))
    logits2, scalar2, _ = APPLY(params, changed, jnp.arange(12))
    np.testing.assert_allclose(logits[:, :7], logits2[:, :7], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scalar[:, :7], scalar2[:, :7], rtol=1e-5, atol=1e-5)
    assert not np.allclose(logits[:, 7:], logits2[:, 7:])


def test_cached_decoding_equals_the_full_forward_pass(rng):
    params = _params()
    tokens = jnp.asarray(rng.integers(0, VOCAB_SIZE, (3, 12)))
    full_logits, full_scalar, _ = APPLY(params, tokens, jnp.arange(12))
    prefix = 5
    logits, scalar, cache = APPLY(params, tokens[:, :prefix], jnp.arange(prefix))
    slots = ((0, 0), (0, 12 - prefix), (0, 0), (0, 0))
    cache = tuple((jnp.pad(k, slots), jnp.pad(v, slots)) for k, v in cache)
    decoded, decoded_scalar = [logits], [scalar]
    for position in range(prefix, 12):
        token = tokens[:, position : position + 1]
        logits, scalar, cache = APPLY(params, token, jnp.array([position]), cache)
        decoded.append(logits)
        decoded_scalar.append(scalar)
    np.testing.assert_allclose(jnp.concatenate(decoded, 1), full_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jnp.concatenate(decoded_scalar, 1), full_scalar, atol=1e-4)


def test_init_params_has_flax_shapes_gpt2_scales_and_a_zero_scalar_head():
    params = INIT(MODEL, jax.random.key(0))
    args = (jax.random.key(0), jnp.zeros((1, 1), jnp.int32), jnp.zeros(1, int))
    flax_params = jax.eval_shape(MODEL.init, *args)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, flax_params)
    p = params["params"]
    np.testing.assert_allclose(np.std(p["embed"]["embedding"]), 0.02, rtol=0.1)
    kernel = p["block_0"]["mlp_in"]["kernel"]  # [32, 128]: std 1/√32
    np.testing.assert_allclose(np.std(kernel), 1 / np.sqrt(32), rtol=0.1)
    assert (p["scalar_head"]["kernel"] == 0).all() and (p["block_0"]["qkv"]["bias"] == 0).all()
    assert (p["norm_final"]["scale"] == 1).all()


def test_the_default_model_has_about_a_hundred_thousand_parameters():
    model = Transformer(VOCAB_SIZE, max_length=24, width=64, num_layers=2, num_heads=4)
    count = num_params(jax.eval_shape(lambda key: init_params(model, key), jax.random.key(0)))
    assert 100_000 <= count <= 110_000, count
