"""The algorithms, one file each, all on the interface of `pgjax.training.algorithm`.

from pgjax import algorithms
ppo = algorithms.get("ppo")                       # an Algorithm: config class, init, update
train = ppo.make_train(ppo.config_class.for_env("CartPole-v1"))
state, metrics = jax.jit(train)(jax.random.key(0))
"""

from __future__ import annotations

from pgjax.algorithms.a2c import A2C
from pgjax.algorithms.ppo import PPO
from pgjax.algorithms.reinforce import REINFORCE
from pgjax.algorithms.trpo import TRPO
from pgjax.training.algorithm import Algorithm
from pgjax.training.config import ConfigError

REGISTRY: dict[str, Algorithm] = {a.name: a for a in (PPO, REINFORCE, A2C, TRPO)}


def get(name: str) -> Algorithm:
    """The registered algorithm called `name` (ConfigError, listing them, if there is none)."""
    if name not in REGISTRY:
        raise ConfigError(f"Unknown algorithm {name!r}; choose one of {', '.join(REGISTRY)}.")
    return REGISTRY[name]
