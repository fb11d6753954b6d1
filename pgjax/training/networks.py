"""Flax actor and critic MLPs with categorical or Gaussian policy heads.

`ActorCritic(...)(obs)` returns `(distribution, value)`: a `pgjax.Categorical` or
`pgjax.DiagGaussian` over actions (with `action_bounds`, a `SquashedGaussianPolicy` or a
`pgjax.Beta` over the action box) and V(s), for a batch of observations `[*B, *obs_shape]`
(observations are flattened after the batch axes). The actor and critic are separate MLPs by
default (`shared=False`, parameters under `"actor"` and `"critic"`), or share a torso.
Initialisation follows common PPO practice (orthogonal, gain √2 in hidden layers, 0.01 for the
policy output, 1 for the value output; Andrychowicz et al., 2021).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from pgjax.kernels.distributions import Beta, Categorical, DiagGaussian, TanhGaussian

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "elu": nn.elu, "gelu": nn.gelu}


# Orthogonal gains by layer role (Andrychowicz et al., 2021): a layer's role is the start of its
# name (or of the module holding it, for a recurrent cell's gates), so `init_network` can find it
# in the parameter tree. Recurrent cells get orthogonal gates of gain 1 (Saxe et al., 2014).
GAINS = {"hidden": 2.0**0.5, "policy": 0.01, "value": 1.0, "cell": 1.0}

# The recurrent cells a policy may use (`OnPolicyConfig.policy`), from flax.
CELLS = {"gru": nn.GRUCell, "lstm": nn.OptimizedLSTMCell}


def orthogonal(noise: jax.Array, gain: float) -> jax.Array:
    """The orthogonal matrix of a Gaussian `noise` matrix `[rows, cols]` (Saxe et al., 2014),
    times `gain`: Q of its QR decomposition, column signs fixed by diag(R) so Q is Haar-distributed.

    Under `vmap` the QR runs once per matrix: the batched LAPACK call it would become can, on
    XLA:CPU with few cores, wait forever for a worker thread the rest of the program holds
    (seen on 2 cores: `jit(vmap(train))` hung on its first call).
    """

    def one(noise):
        transpose = noise.shape[0] < noise.shape[1]
        q, r = jnp.linalg.qr(noise.T if transpose else noise)
        q = q * jnp.sign(jnp.diagonal(r))
        return gain * (q.T if transpose else q)

    return jax.custom_batching.sequential_vmap(one)(noise)


def _dense(features: int, role: str, name: str | None = None) -> nn.Dense:
    gain = GAINS[role]
    return nn.Dense(
        features,
        kernel_init=lambda key, shape, dtype=jnp.float32: orthogonal(
            jax.random.normal(key, shape, dtype), gain
        ),
        bias_init=nn.initializers.zeros,
        name=name,
    )


class MLP(nn.Module):
    """Hidden layers only: `[*B, D_in] -> [*B, hidden_sizes[-1]]`."""

    hidden_sizes: Sequence[int]
    activation: str = "tanh"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, size in enumerate(self.hidden_sizes):
            x = ACTIVATIONS[self.activation](_dense(size, "hidden", f"hidden_{i}")(x))
        return x


class ActionBounds(NamedTuple):
    """A continuous policy whose actions lie in the box [low, high] by construction
    (`OnPolicyConfig.action_bounds` "tanh" or "beta"); hashable, so a module attribute.

    Attributes:
      kind: "tanh" (`SquashedGaussianPolicy`) or "beta" (`pgjax.Beta`).
      low: `[D]` lower bounds, finite.
      high: `[D]` upper bounds, finite, each above its `low`.
    """

    kind: str
    low: tuple[float, ...]
    high: tuple[float, ...]


class SquashedGaussianPolicy(NamedTuple):
    r"""A `pgjax.TanhGaussian` over [low, high] with the interface the on-policy losses call:
    `sample`, `log_prob`, `entropy()`, `kl`, `mode`.

    Log-probabilities of stored actions: the rollout stores `log_prob(actions)` and the loss
    evaluates `log_prob(actions)` again, so both sides of a ratio π_θ/π_old invert the same
    float32 action the same way. `sample_and_log_prob`'s exact density at the pre-tanh sample is
    not used: at saturation (tanh(u) rounds to ±1 from |u| ≈ 8) the stored action no longer
    determines u, and the ratio of that density to `log_prob(actions)`'s (taken at u = ±7.25)
    would not be 1 at θ = θ_old. Storing u instead would keep the exact density but give the
    transitions a second action array that only this policy needs.

    Entropy: the base Gaussian's, Σ_d (½ + ½ log 2π + log σ_d), in closed form and without a key
    (the losses have none). The squashed action's entropy adds E[log |da/du|], which has no
    closed form, and a bonus on it would also push the mean away from the bounds; the base
    entropy only keeps σ from collapsing, as the clipped Gaussian's bonus does.

    KL: KL(π ‖ π') of two tanh-Gaussians with the same bounds equals their base Gaussians' KL
    exactly (KL is invariant under the same bijection applied to both), which TRPO needs.

    Attributes:
      distribution: the `TanhGaussian`, `mean` `[*B, D]`, `log_std` `[D]`, bounds `[D]`.
    """

    distribution: TanhGaussian

    def base(self) -> DiagGaussian:
        """The Gaussian N(mean, σ²) of the pre-tanh variable u."""
        return DiagGaussian(self.distribution.mean, self.distribution.log_std)

    def sample(self, key: jax.Array) -> jax.Array:
        """`[*B, D]` actions in [low, high]."""
        return self.distribution.sample(key)

    def log_prob(self, actions: jax.Array) -> jax.Array:
        """`[*B]` log π(actions) with the tanh and affine log-determinants (finite on a bound)."""
        return self.distribution.log_prob(actions)

    def entropy(self) -> jax.Array:
        """`[*B]` the base Gaussian's entropy (see the class docstring)."""
        return self.base().entropy()

    def kl(self, other: SquashedGaussianPolicy) -> jax.Array:
        """`[*B]` KL(self ‖ other), exact: the base Gaussians' KL."""
        return self.base().kl(other.base())

    def mode(self) -> jax.Array:
        """`[*B, D]` c + s·tanh(mean)."""
        return self.distribution.mode()


class PolicyHead(nn.Module):
    """Features → a categorical (logits) or diagonal-Gaussian (mean, state-independent log σ)
    distribution; with `action_bounds`, a tanh-squashed Gaussian (the same mean and log σ) or a
    Beta policy, α = 1 + softplus(·) and β = 1 + softplus(·) (Chou et al., 2017: α, β ≥ 1 keep
    the density unimodal and finite on the bounds), over [low, high]."""

    action_dim: int
    discrete: bool
    action_bounds: ActionBounds | None = None

    @nn.compact
    def __call__(self, features: jax.Array):
        out = _dense(self.action_dim, "policy", "policy")(features)
        if self.discrete:
            return Categorical(out)
        bounds = self.action_bounds
        if bounds is not None:
            low, high = jnp.asarray(bounds.low, out.dtype), jnp.asarray(bounds.high, out.dtype)
        if bounds is not None and bounds.kind == "beta":
            beta_out = _dense(self.action_dim, "policy", "policy_beta")(features)
            return Beta(1.0 + nn.softplus(out), 1.0 + nn.softplus(beta_out), low, high)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        if bounds is not None:
            return SquashedGaussianPolicy(TanhGaussian(out, log_std, low, high))
        return DiagGaussian(out, log_std)


class Actor(nn.Module):
    """A policy network: an MLP torso and a categorical or diagonal Gaussian head (or a bounded
    one, `PolicyHead`)."""

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    action_bounds: ActionBounds | None = None

    @nn.compact
    def __call__(self, features: jax.Array):
        hidden = MLP(self.hidden_sizes, self.activation)(features)
        return PolicyHead(self.action_dim, self.discrete, self.action_bounds)(hidden)


class Critic(nn.Module):
    """A value network: an MLP torso and a scalar head, one value per row of features."""

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        hidden = MLP(self.hidden_sizes, self.activation)(features)
        return _dense(1, "value", "value")(hidden)[..., 0]


class ActorCritic(nn.Module):
    """π(·|s) and V(s) from observations `[*B, *obs_shape]`, with `batch_dims` leading axes."""

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    shared: bool = False
    obs_ndim: int = 1  # rank of one observation; the rest of the leading axes are batch
    action_bounds: ActionBounds | None = None  # continuous actions in a box (`PolicyHead`)

    def _features(self, obs: jax.Array) -> jax.Array:
        return flatten_observations(obs, self.obs_ndim)

    def setup(self):
        if self.shared:
            self.torso = MLP(self.hidden_sizes, self.activation)
            self.policy_head = PolicyHead(self.action_dim, self.discrete, self.action_bounds)
            self.value_head = _dense(1, "value")
        else:
            self.actor = Actor(
                self.action_dim,
                self.discrete,
                self.hidden_sizes,
                self.activation,
                self.action_bounds,
            )
            self.critic = Critic(self.hidden_sizes, self.activation)

    def __call__(self, obs: jax.Array):
        features = self._features(obs)
        if self.shared:
            hidden = self.torso(features)
            return self.policy_head(hidden), self.value_head(hidden)[..., 0]
        return self.actor(features), self.critic(features)

    def value(self, obs: jax.Array) -> jax.Array:
        """V(s) alone (skips the policy head when the networks are separate)."""
        features = self._features(obs)
        if self.shared:
            return self.value_head(self.torso(features))[..., 0]
        return self.critic(features)

    def policy(self, obs: jax.Array):
        """π(·|s) alone."""
        features = self._features(obs)
        if self.shared:
            return self.policy_head(self.torso(features))
        return self.actor(features)


class RecurrentActorCritic(nn.Module):
    """π(·|h, s) and V(h, s) of a recurrent policy: an MLP torso, a GRU or LSTM cell (flax's
    `GRUCell` / `OptimizedLSTMCell`), then separate one-layer actor and critic heads.

    The cell is the only sequential part, so each part is its own method: `embed` and `heads`
    take any leading batch axes (a whole rollout `[T, N, ...]` at once), `recur` is one step of
    the cell, which `pgjax.training.recurrent.scan_with_resets` scans over time. The carry
    (`initial_carry`) is `h` `[*B, recurrent_size]` for a GRU, `(c, h)` for an LSTM; the
    actor and critic share it, since one state is carried through an episode.
    """

    action_dim: int
    discrete: bool
    cell: str = "gru"
    recurrent_size: int = 128
    hidden_sizes: Sequence[int] = (64,)
    activation: str = "tanh"
    obs_ndim: int = 1
    action_bounds: ActionBounds | None = None  # continuous actions in a box (`PolicyHead`)

    def setup(self):
        if self.cell not in CELLS:
            raise ValueError(
                f"RecurrentActorCritic: unknown cell {self.cell!r}; choose one of "
                f"{', '.join(CELLS)}."
            )
        if self.recurrent_size < 1:
            raise ValueError(
                f"RecurrentActorCritic: recurrent_size must be >= 1, got {self.recurrent_size}."
            )
        self.torso = MLP(self.hidden_sizes, self.activation)
        self.recurrent_cell = CELLS[self.cell](self.recurrent_size, name="cell")
        head = self.hidden_sizes[-1:]
        self.actor = Actor(
            self.action_dim, self.discrete, head, self.activation, self.action_bounds
        )
        self.critic = Critic(head, self.activation)

    def __call__(self, carry, obs: jax.Array):
        """One step for a batch `[*B, *obs_shape]`: `(carry, distribution, value)`."""
        carry, features = self.recur(carry, self.embed(obs))
        distribution, value = self.heads(features)
        return carry, distribution, value

    def embed(self, obs: jax.Array) -> jax.Array:
        """The torso's features of observations `[*B, *obs_shape]`: `[*B, hidden_sizes[-1]]`."""
        return self.torso(flatten_observations(obs, self.obs_ndim))

    def recur(self, carry, features: jax.Array):
        """One step of the cell: `(carry, output [*B, recurrent_size])`."""
        return self.recurrent_cell(carry, features)

    def heads(self, output: jax.Array):
        """`(π(·|h), V(h))` from the cell's output `[*B, recurrent_size]`."""
        return self.actor(output), self.critic(output)

    def value(self, output: jax.Array) -> jax.Array:
        """V(h) alone from the cell's output."""
        return self.critic(output)


def initial_carry(cell: str, recurrent_size: int, batch_shape: tuple[int, ...]):
    """The zero state a recurrent policy starts every episode from: `[*batch_shape, size]`
    (GRU) or a pair of them `(c, h)` (LSTM), float32, as flax's cells initialise it."""
    zeros = jnp.zeros((*batch_shape, recurrent_size), jnp.float32)
    return (zeros, zeros) if cell == "lstm" else zeros


def flatten_observations(obs: jax.Array, obs_ndim: int) -> jax.Array:
    """`[*B, *obs_shape]` observations (rank-`obs_ndim` each) as float32 `[*B, D]`."""
    batch_shape = obs.shape[: obs.ndim - obs_ndim]
    return obs.reshape((*batch_shape, -1)).astype(jnp.float32)


class QNetwork(nn.Module):
    """Action values Q(s, ·) of discrete actions: `[*B, *obs_shape] -> [*B, action_dim]`."""

    action_dim: int
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "relu"
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        hidden = MLP(self.hidden_sizes, self.activation)(flatten_observations(obs, self.obs_ndim))
        return _dense(self.action_dim, "value", "value")(hidden)


class SquashedGaussianActor(nn.Module):
    """SAC's policy: `[*B, *obs_shape]` -> a `TanhGaussian` over (−1, 1)^action_dim whose mean
    and log σ both depend on the state, log σ clipped to [−20, 2] (Haarnoja et al., 2018)."""

    action_dim: int
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array) -> TanhGaussian:
        hidden = MLP(self.hidden_sizes, self.activation)(flatten_observations(obs, self.obs_ndim))
        mean = _dense(self.action_dim, "policy", "policy_mean")(hidden)
        log_std = _dense(self.action_dim, "policy", "policy_log_std")(hidden)
        return TanhGaussian(mean, jnp.clip(log_std, -20.0, 2.0))


def _role(path) -> str:
    """The role (a key of GAINS) of the kernel at `path`: that of the innermost module named
    after one (a gate of a recurrent cell takes its cell's)."""
    for entry in reversed(path[:-1]):
        role = entry.key.split("_")[0]
        if role in GAINS:
            return role
    raise KeyError(f"no initialisation role in the parameter path {path}")


def init_network(network: nn.Module, key: jax.Array, *inputs):
    """The parameters `network.init(key, *inputs)` would make (orthogonal kernels with their
    role's gain, zero biases and log σ), drawn from one Gaussian vector for the whole network.

    Same distribution as flax's per-layer initialisers, other draws. Why: XLA:CPU compiles every
    random draw of a distinct shape on its own (≈0.3 s each); one draw instead of one per layer
    takes seconds off compiling a training program.
    """
    shapes = jax.eval_shape(network.init, key, *inputs)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    kernels = [leaf.shape for path, leaf in leaves if path[-1].key == "kernel"]
    noise = jax.random.normal(key, (sum(rows * cols for rows, cols in kernels),))
    params, offset = [], 0
    for path, leaf in leaves:
        if path[-1].key != "kernel":
            params.append(jnp.zeros(leaf.shape, leaf.dtype))
            continue
        rows, cols = leaf.shape
        block = noise[offset : offset + rows * cols].reshape(rows, cols)
        offset += rows * cols
        params.append(orthogonal(block, GAINS[_role(path)]))
    return jax.tree_util.tree_unflatten(treedef, params)


def with_action_mask(distribution, action_mask: jax.Array | None, where: str = "policy"):
    """A policy's `Categorical` restricted to the valid actions `action_mask` `[*B, A]` bool
    (invalid-action masking, see `pgjax.Categorical`); `distribution` itself when the mask is
    None, so an environment without masks runs exactly the program it ran before.

    Raises:
      ValueError: (naming `where`) a mask whose shape is not the logits' `[*B, A]`, or a mask on
        a policy that is not categorical. A mask row with no valid action raises when the mask is
        known at trace time; traced, that row is uniform over all actions (`pgjax.Categorical`).
    """
    if action_mask is None:
        return distribution
    if not isinstance(distribution, Categorical):
        raise ValueError(
            f"{where}: `action_mask` needs a categorical policy, got {type(distribution).__name__}."
        )
    if jnp.shape(action_mask) != jnp.shape(distribution.logits):
        raise ValueError(
            f"{where}: `action_mask` has shape {jnp.shape(action_mask)}, expected "
            f"{jnp.shape(distribution.logits)} (the policy's logits, [*B, num_actions])."
        )
    return Categorical(distribution.logits, action_mask)
