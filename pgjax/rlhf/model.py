"""A small causal transformer (flax) for the policy, the reference and the reward model.

`Transformer(...)` maps tokens `[N, L]` at positions `[L]` to next-token logits `[N, L, V]` and
one scalar per position `[N, L]`: the policy's per-token value V(s_t) in PPO, the reward
model's score r(x, y) read at a response's last token. It also returns the keys and values of
every layer, so that generation can decode one token at a time against a cache (pass `cache`;
see `pgjax.rlhf.sampling`). Pre-layer-norm GPT-2 blocks (Radford et al., 2019), learned
positions, no dropout.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.training.networks import ACTIVATIONS

# A layer's cache: keys and values `[N, max_length, heads, width / heads]`.
KVCache = tuple[jax.Array, jax.Array]


def attend(q, k, v, q_positions, k_positions) -> jax.Array:
    """Causal multi-head attention: `q` `[N, Lq, H, D]` attends to the keys `[N, Lk, H, D]` at
    positions ≤ its own (so unwritten cache slots, at later positions, are never read)."""
    logits = jnp.einsum("nqhd,nkhd->nhqk", q, k) / math.sqrt(q.shape[-1])
    visible = k_positions[None, :] <= q_positions[:, None]
    # A select with a finite floor: every query sees at least itself, so no row is all-masked.
    logits = jnp.where(visible, logits, -1e30)
    return jnp.einsum("nhqk,nkhd->nqhd", jax.nn.softmax(logits, axis=-1), v)


class Block(nn.Module):
    """A pre-norm transformer block: causal self-attention (with a key/value cache) and an MLP."""

    width: int
    num_heads: int
    activation: str

    @nn.compact
    def __call__(self, x, positions, cache: KVCache | None):
        n, length, _ = x.shape
        head = self.width // self.num_heads
        qkv = nn.Dense(3 * self.width, name="qkv")(nn.LayerNorm(name="norm_attention")(x))
        q, k, v = jnp.split(qkv.reshape(n, length, 3 * self.num_heads, head), 3, axis=2)
        if cache is None:
            keys, values, key_positions = k, v, positions
        else:  # decoding: write this step's keys and values into the cache, attend to all
            start = (0, positions[0], 0, 0)
            keys = jax.lax.dynamic_update_slice(cache[0], k, start)
            values = jax.lax.dynamic_update_slice(cache[1], v, start)
            key_positions = jnp.arange(keys.shape[1])
        out = attend(q, keys, values, positions, key_positions).reshape(n, length, self.width)
        x = x + nn.Dense(self.width, name="out")(out)
        h = nn.LayerNorm(name="norm_mlp")(x)
        h = ACTIVATIONS[self.activation](nn.Dense(4 * self.width, name="mlp_in")(h))
        return x + nn.Dense(self.width, name="mlp_out")(h), (keys, values)


class Transformer(nn.Module):
    """Causal transformer with a language-model head and a scalar head.

    Attributes:
      vocab_size: V.
      max_length: the most positions (prompt and response).
      width: model width (the residual stream), divisible by `num_heads`.
      num_layers: blocks.
      num_heads: attention heads per block.
      activation: of the MLPs.
    """

    vocab_size: int
    max_length: int
    width: int = 64
    num_layers: int = 2
    num_heads: int = 4
    activation: str = "gelu"

    @nn.compact
    def __call__(self, tokens, positions, cache: tuple[KVCache, ...] | None = None):
        """Args:
          tokens: `[N, L]` int.
          positions: `[L]` int, their positions (`arange(L)` for a whole sequence; `[p]` for
            one decoding step at position p).
          cache: None, or one `KVCache` per layer with `max_length` slots.

        Returns:
          `(logits [N, L, V], scalar [N, L], cache)`: the cache holds the keys and values of
          the L positions (no cache given) or the updated cache.
        """
        embed = nn.Embed(self.vocab_size, self.width, name="embed")
        position_table = self.param(
            "positions", nn.initializers.normal(0.02), (self.max_length, self.width)
        )
        x = embed(tokens) + position_table[positions]
        caches = []
        for i in range(self.num_layers):
            block = Block(self.width, self.num_heads, self.activation, name=f"block_{i}")
            x, layer_cache = block(x, positions, None if cache is None else cache[i])
            caches.append(layer_cache)
        x = nn.LayerNorm(name="norm_final")(x)
        logits = nn.Dense(self.vocab_size, name="lm_head")(x)
        scalar = nn.Dense(1, kernel_init=nn.initializers.zeros, name="scalar_head")(x)[..., 0]
        return logits, scalar, tuple(caches)


def init_params(model: Transformer, key: jax.Array):
    """Parameters with the distribution GPT-2 uses (normal(0.02) embeddings, kernels normal with
    std 1/√fan_in, zero biases, unit layer-norm scales, a zero scalar head), drawn from one
    Gaussian vector for the whole model: XLA:CPU compiles each random draw of a new shape on
    its own, so one draw instead of one per layer takes seconds off compiling."""
    tokens = jnp.zeros((1, 1), jnp.int32)
    shapes = jax.eval_shape(model.init, key, tokens, jnp.zeros(1, jnp.int32))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    noise = jax.random.normal(key, (sum(leaf.size for _, leaf in leaves),))
    params, offset = [], 0
    for path, leaf in leaves:
        name, owner = path[-1].key, path[-2].key
        block = noise[offset : offset + leaf.size].reshape(leaf.shape)
        offset += leaf.size
        if name in ("embedding", "positions"):
            params.append(0.02 * block)
        elif name == "kernel" and owner != "scalar_head":
            params.append(block / math.sqrt(leaf.shape[0]))
        elif name == "scale":
            params.append(jnp.ones(leaf.shape, leaf.dtype))
        else:  # biases, the scalar head
            params.append(jnp.zeros(leaf.shape, leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, params)


def num_params(params) -> int:
    """The number of scalars in a parameter tree."""
    return sum(x.size for x in jax.tree.leaves(params))
