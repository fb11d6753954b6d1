"""The algorithms, one file each, all on the interface of `pgjax.training.algorithm`.

from pgjax import algorithms
ppo = algorithms.get("ppo")                       # an Algorithm: config class, init, update
train = ppo.make_train(ppo.config_class.for_env("CartPole-v1"))
state, metrics = jax.jit(train)(jax.random.key(0))
"""

from __future__ import annotations

from pgjax.algorithms.a2c import A2C
from pgjax.algorithms.dqn import DQN
from pgjax.algorithms.impala import IMPALA, IMPALA_ASYNC
from pgjax.algorithms.ppo import PPO
from pgjax.algorithms.reinforce import REINFORCE
from pgjax.algorithms.sac import SAC
from pgjax.algorithms.trpo import TRPO
from pgjax.rlhf import ALGORITHMS as RLHF_ALGORITHMS
from pgjax.training.algorithm import Algorithm
from pgjax.training.async_runtime import ActorLearner
from pgjax.training.config import ConfigError

REGISTRY: dict[str, Algorithm] = {a.name: a for a in (PPO, REINFORCE, A2C, TRPO, SAC, DQN, IMPALA)}
# Algorithms that also run on the asynchronous actor-learner runtime (`--async`).
ASYNCHRONOUS: dict[str, ActorLearner] = {IMPALA_ASYNC.algorithm.name: IMPALA_ASYNC}


def get(name: str) -> Algorithm:
    """The registered algorithm called `name`, or the RLHF algorithm (`pgjax.rlhf.ALGORITHMS`,
    which `pgjax rlhf` trains on its own task) of that name (ConfigError, listing them, if there
    is none)."""
    if name in RLHF_ALGORITHMS:
        return RLHF_ALGORITHMS[name]
    if name not in REGISTRY:
        raise ConfigError(f"Unknown algorithm {name!r}; choose one of {', '.join(REGISTRY)}.")
    return REGISTRY[name]
