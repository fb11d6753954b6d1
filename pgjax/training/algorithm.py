"""The algorithm interface: a config class and three pure functions.

    state = init(config, key, hyperparams)             # everything a run needs to continue
    state, metrics = update(config, state)             # one update: a rollout and its gradient
                                                       # steps, an env step and replay updates…
    action = act(config, state, obs, key, deterministic)   # the trained policy, for evaluation
    action = act(config, state, obs, key, deterministic, action_mask=mask)  # `action_masks`

`config` is static (it fixes the program's shape); `state` is a pytree (parameters, optimiser
state, environments, normaliser statistics, PRNG keys, the run's hyperparameters, replay
buffers…), so a run is `lax.scan(update, init(key), length=num_updates)`, seeds and
hyperparameter grids are `jax.vmap` axes, and the run layer (`pgjax.runs`) can run it a chunk
at a time, checkpoint it and resume it.

Optional parts: an `evaluator` when the algorithm is not evaluated by episodes of its
environment (RLHF), an `actor_learner` split when it can also run on the asynchronous
actor-learner engine (IMPALA), and `initial_carry` with `act_carried` when its policy can carry
a state from step to step (recurrent policies):

    carry = initial_carry(config, state, num_envs)     # None: this config's policy is stateless
    carry, action = act_carried(config, state, carry, obs, key, deterministic)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp

from pgjax.training.config import Config
from pgjax.training.types import EnvCarry, Hyperparams, Metrics, Transition

C = TypeVar("C", bound=Config)
S = TypeVar("S")

# `evaluator(config, num_episodes, deterministic) -> evaluate(state, key) -> metrics`: one run's
# evaluation, every metric an array (per episode, or a scalar).
Evaluator = Callable[[Any, int, bool], Callable[[Any, jax.Array], Metrics]]


@dataclasses.dataclass(frozen=True)
class ActorLearner:
    """An algorithm split into what its actors and its learner do (one run each; the
    asynchronous engine of `pgjax.runs` vmaps them over the seeds).

    Attributes:
      reset: `(config, hyperparams, key) -> EnvCarry`, an actor's fresh environments.
      collect: `(config, hyperparams, params, env, key) -> (env, Transition [T, N, ...])`, one
        rollout with the policy `params`, behaviour log-probabilities included.
      learn: `(config, state, trajectory) -> (state, metrics)`, the learner's step on a rollout
        of any (older) parameters.
    """

    reset: Callable[[Any, Hyperparams, jax.Array], EnvCarry]
    collect: Callable[..., tuple[EnvCarry, Transition]]
    learn: Callable[[Any, Any, Transition], tuple[Any, Metrics]]


@dataclasses.dataclass(frozen=True)
class Algorithm(Generic[C, S]):
    """An algorithm: what `pgjax.runs.register` takes and `pgjax train NAME` runs.

    Attributes:
      name: what the command line calls it (`pgjax train NAME`).
      config_class: its config, a `pgjax.training.config.Config` subclass with presets.
      init: `(config, key, hyperparams=None) -> state`.
      update: `(config, state) -> (state, metrics)`, metrics a dict of scalars.
      act: `(config, state, obs [N, *obs_shape], key, deterministic) -> actions [N, ...]`, the
        policy acting on raw environment observations.
      summary: one line for the command line's help (default: the config's `SUMMARY`).
      data_parallel: whether its rollouts and minibatches go through
        `pgjax.training.parallel.shard_envs`, so that `envs_devices > 1` splits a run's
        environments over devices (otherwise every device would compute the whole run).
      evaluator: how a trained state is evaluated (`Evaluator`); None for episodes of the
        config's environment with `act` (`pgjax.training.evaluation.make_evaluate`).
      target_metric: the evaluation metric `--target-return` compares (its mean over episodes
        and runs), or None when the evaluation has no return (a target is then refused).
      actor_learner: the split the asynchronous engine runs (None: it cannot).
      action_masks: whether `act` and `act_carried` take `action_mask` (`[N, num_actions]`
        bool, the valid actions), which evaluation passes on an environment whose spec has
        `action_mask`; an algorithm without it acts there on every action.
      initial_carry: `(config, state, num_envs) -> carry`, the policy's state at the start of
        `num_envs` episodes (leaves `[num_envs, ...]`), or None when the config's policy has
        none (then `act` is used). None: the algorithm's policies never carry a state.
      act_carried: `(config, state, carry, obs, key, deterministic) -> (carry, actions)`, the
        stateful `act`; the caller resets the carry to `initial_carry`'s where an episode ended.
    """

    name: str
    config_class: type[C]
    init: Callable[[C, jax.Array, dict | None], S]
    update: Callable[[C, S], tuple[S, Metrics]]
    act: Callable[[C, S, jax.Array, jax.Array, bool], jax.Array]
    summary: str = ""
    data_parallel: bool = False
    evaluator: Evaluator | None = None
    target_metric: str | None = "return"
    actor_learner: ActorLearner | None = None
    action_masks: bool = False
    initial_carry: Callable[[C, S, int], Any] | None = None
    act_carried: Callable[..., tuple[Any, jax.Array]] | None = None

    @property
    def description(self) -> str:
        """The one-line summary: `summary`, else the config class's `SUMMARY`."""
        return self.summary or getattr(self.config_class, "SUMMARY", "")

    def make_train(self, config: C) -> Callable[..., tuple[S, Metrics]]:
        """`train(key, hyperparams=None) -> (state, metrics)`: the whole run as one pure
        function, `lax.scan(update, init(key, hyperparams), length=config.num_updates)`, with
        metrics stacked to `[num_updates]`. Validates the config first."""
        config.validate()
        return functools.partial(_train, self, config)


def _train(algorithm: Algorithm, config: Config, key: jax.Array, hyperparams: dict | None = None):
    hyperparams = config.resolve(hyperparams)
    # Hyperparameters left at the config's values are constants of the program, and XLA would
    # fold them into the update's arithmetic (reassociating it), so the run's last bits would
    # differ from the driver's chunks, which read them from the state. Adding 0·k, with k a
    # finite value computed from the key at run time, keeps them values (x + 0·k = x exactly;
    # XLA cannot drop 0·k, which is not 0 for every float k).
    runtime_zero = 0.0 * jax.random.key_data(key).ravel()[0].astype(jnp.float32)
    hyperparams = {name: value + runtime_zero for name, value in hyperparams.items()}
    state = algorithm.init(config, key, hyperparams)
    return scan_updates(algorithm, config, state, config.num_updates)


def scan_updates(algorithm: Algorithm, config: Config, state, num_updates: int):
    """`num_updates` calls of `update` in a `lax.scan`: `(state, metrics [num_updates])`."""
    return jax.lax.scan(lambda state, _: algorithm.update(config, state), state, length=num_updates)
