"""Configuration shared by the on-policy algorithms.

A config is a frozen dataclass. Its fields split in two:

* structural settings (environment id, num_envs, rollout length, epochs, network sizes, …)
  fix the shape of the compiled program and are static;
* numeric hyperparameters, listed in `HYPERPARAMETERS` (learning rate, γ, λ, clip ε,
  coefficients, …), become a dict of arrays passed to `train(key, hyperparams)`, so `jax.vmap`
  can train a grid of them in one compiled program.

Every check runs in `validate()`, before anything is traced or compiled, and says what to
change.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.envs import env_spec


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig:
    env_id: str = "CartPole-v1"
    total_steps: int = 500_000
    num_envs: int = 4
    num_steps: int = 128  # rollout length per environment per update
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    shared_network: bool = False
    policy_head: str = "auto"  # "auto", "categorical" or "gaussian"
    normalize_observations: bool = False
    scale_rewards: bool = False
    learning_rate: float = 2.5e-4
    anneal_learning_rate: bool = True
    max_grad_norm: float = 0.5
    gamma: float = 0.99

    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = ("learning_rate", "max_grad_norm", "gamma")
    POSITIVE: ClassVar[tuple[str, ...]] = ("learning_rate", "max_grad_norm")
    UNIT_INTERVAL: ClassVar[tuple[str, ...]] = ("gamma",)
    PRESETS: ClassVar[dict[str, dict]] = {}

    @classmethod
    def for_env(cls, env_id: str, **overrides):
        """The default configuration for `env_id` (tuned where a preset exists), then
        `overrides`."""
        return cls(**{"env_id": env_id, **cls.PRESETS.get(env_id, {}), **overrides})

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update

    def validate(self) -> None:
        """Raises ValueError, naming the field and the fix, for a config that cannot work."""
        spec = env_spec(self.env_id)
        for name in ("total_steps", "num_envs", "num_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.num_updates < 1:
            raise ValueError(
                f"total_steps={self.total_steps} is less than one update "
                f"(num_envs × num_steps = {self.steps_per_update}); raise total_steps."
            )
        for name in self.POSITIVE:
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}.")
        for name in self.UNIT_INTERVAL:
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}.")
        if self.policy_head not in ("auto", "categorical", "gaussian"):
            raise ValueError(
                f"policy_head must be 'auto', 'categorical' or 'gaussian', got "
                f"{self.policy_head!r}."
            )
        expected = "categorical" if spec.discrete else "gaussian"
        if self.policy_head not in ("auto", expected):
            kind = "discrete" if spec.discrete else "continuous (Box)"
            raise ValueError(
                f"policy_head={self.policy_head!r} does not fit {self.env_id}, whose actions "
                f"are {kind}: use policy_head='{expected}' or 'auto'."
            )
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive ints, got {self.hidden_sizes}.")

    def hyperparams(self) -> dict[str, jax.Array]:
        """The numeric hyperparameters as float32 arrays (the defaults of `train`)."""
        return {name: jnp.float32(getattr(self, name)) for name in self.HYPERPARAMETERS}

    def resolve(self, hyperparams: dict | None) -> dict[str, jax.Array]:
        """The config's hyperparameters with those given in `hyperparams` replacing them."""
        hyperparams = dict(hyperparams or {})
        unknown = set(hyperparams) - set(self.HYPERPARAMETERS)
        if unknown:
            raise ValueError(
                f"Unknown hyperparameters {sorted(unknown)}; {type(self).__name__} takes "
                f"{list(self.HYPERPARAMETERS)} (structural settings belong in the config)."
            )
        return {**self.hyperparams(), **hyperparams}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def hyperparameter_grid(**axes) -> dict[str, jax.Array]:
    """The Cartesian product of hyperparameter values, flattened to one leading axis.

    `hyperparameter_grid(learning_rate=[1e-4, 3e-4], clip_eps=[0.1, 0.2])` gives arrays of
    length 4, ready for `jax.vmap(train)(keys, grid)` with 4 keys.
    """
    names = list(axes)
    rows = list(itertools.product(*(np.atleast_1d(axes[n]) for n in names)))
    return {n: jnp.asarray([row[i] for row in rows], jnp.float32) for i, n in enumerate(names)}
