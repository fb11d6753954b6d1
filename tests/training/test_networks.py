"""`pgjax.training.networks`: the actor-critic's shapes and its one-draw orthogonal
initialisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.training.networks import GAINS, ActorCritic, init_network, orthogonal


def _layers(params):
    """`{layer path: kernel}` for every dense layer."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {
        "/".join(str(k.key) for k in path[:-1]): np.asarray(leaf)
        for path, leaf in flat
        if path[-1].key == "kernel"
    }


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize(
    ("discrete", "obs_shape"), [(True, (4,)), (False, (3,)), (True, (5, 5, 2))]
)
def test_init_network_matches_flax_init_in_structure_and_scale(shared, discrete, obs_shape):
    network = ActorCritic(3, discrete, (32, 16), shared=shared, obs_ndim=len(obs_shape))
    obs = jnp.zeros((2, *obs_shape))
    params = init_network(network, jax.random.key(0), obs)
    reference = network.init(jax.random.key(0), obs)
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    for leaf, ref in zip(jax.tree.leaves(params), jax.tree.leaves(reference), strict=True):
        assert leaf.shape == ref.shape and leaf.dtype == ref.dtype
    layers = _layers(params)
    for name, kernel in layers.items():
        role = name.split("/")[-1].split("_")[0]
        gain = GAINS[role]
        rows, cols = kernel.shape
        gram = kernel.T @ kernel if rows >= cols else kernel @ kernel.T
        # Orthonormal columns (or rows) scaled by the role's gain, exactly as flax's init.
        np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5, err_msg=name)
        np.testing.assert_allclose(
            np.linalg.norm(kernel), np.linalg.norm(_layers(reference)[name]), rtol=1e-5
        )
    roles = {name.split("/")[-1].split("_")[0] for name in layers}
    assert roles == {"hidden", "policy", "value"}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if path[-1].key != "kernel":
            assert not np.any(np.asarray(leaf)), path  # biases and log σ start at 0


def test_every_layer_gets_its_own_noise_and_keys_give_different_networks():
    network = ActorCritic(2, True, (16, 16))
    obs = jnp.zeros((1, 4))
    layers = _layers(init_network(network, jax.random.key(0), obs))
    actor, critic = layers["params/actor/MLP_0/hidden_1"], layers["params/critic/MLP_0/hidden_1"]
    assert not np.allclose(actor, critic)
    other = _layers(init_network(network, jax.random.key(1), obs))
    assert not np.allclose(actor, other["params/actor/MLP_0/hidden_1"])


def test_vmapped_init_equals_one_init_per_key():
    network = ActorCritic(2, True, (16, 16))
    obs = jnp.zeros((1, 4))
    keys = jax.random.split(jax.random.key(3), 3)
    batched = jax.jit(jax.vmap(lambda k: init_network(network, k, obs)))(keys)
    for i, key in enumerate(keys):
        one = init_network(network, key, obs)
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(one), strict=True):
            np.testing.assert_allclose(a[i], b, atol=1e-6)


def test_orthogonal_is_haar_distributed_on_average():
    """Q of a Gaussian matrix with diag(R) > 0 is Haar-distributed: the entries of a 3×3 Q have
    mean 0 and variance 1/3 (each column is a uniform point on the sphere)."""
    noise = jax.random.normal(jax.random.key(0), (4000, 3, 3))
    q = np.asarray(jax.vmap(lambda n: orthogonal(n, 1.0))(noise))
    np.testing.assert_allclose(q.mean(0), 0.0, atol=0.04)
    np.testing.assert_allclose((q**2).mean(0), 1 / 3, atol=0.03)
