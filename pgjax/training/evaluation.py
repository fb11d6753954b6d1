"""Evaluating a trained policy: full episodes in fresh environments, all on the device."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pgjax.envs import ClipAction, EpisodeStatistics, VecEnv, env_spec
from pgjax.training.algorithm import Algorithm, scan_updates
from pgjax.training.config import Config


def make_evaluate(
    algorithm: Algorithm, config: Config, num_episodes: int, deterministic: bool = True
):
    """Returns `evaluate(state, key) -> [num_episodes]` undiscounted returns.

    Runs `num_episodes` fresh environments in parallel for one full episode each (up to the time
    limit), acting with `algorithm.act` on the run's `state`: the policy's mode
    (`deterministic`) or samples. Rewards are the environment's own (no scaling).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}.")
    spec = env_spec(config.env_id)
    env = EpisodeStatistics(VecEnv(config.env_id, num_episodes))
    if not spec.discrete:
        env = ClipAction(env)

    def evaluate(state, key: jax.Array) -> jax.Array:
        def step(carry, step_key):
            env_state, obs, returns, finished = carry
            action_key, env_key = jax.random.split(step_key)
            action = algorithm.act(config, state, obs, action_key, deterministic)
            obs, env_state, _, _, _, info = env.step(env_key, env_state, action)
            first_end = info["episode_done"] & ~finished
            returns = jnp.where(first_end, info["episode_return"], returns)
            return (env_state, obs, returns, finished | info["episode_done"]), None

        reset_key, key = jax.random.split(key)
        obs, env_state = env.reset(reset_key)
        carry = (env_state, obs, jnp.zeros(num_episodes), jnp.zeros(num_episodes, bool))
        keys = jax.random.split(key, spec.max_episode_steps)
        (_, _, returns, _), _ = jax.lax.scan(step, carry, keys)
        return returns

    return evaluate


def make_evaluate_runs(
    algorithm: Algorithm,
    config: Config,
    num_runs: int,
    num_episodes: int,
    deterministic: bool = True,
):
    """`evaluate(states, key) -> [num_runs, num_episodes]` returns: `make_evaluate` over the
    leading run axis of `states` (as `vmap` or the driver made them), run i evaluated with
    `jax.random.split(key, num_runs)[i]`. Jit it; states spread over devices or processes stay
    where they are."""
    one = make_evaluate(algorithm, config, num_episodes, deterministic)

    def evaluate(states, key):
        key = jax.random.key(key) if jnp.issubdtype(jnp.asarray(key).dtype, jnp.integer) else key
        return jax.vmap(one)(states, jax.random.split(key, num_runs))

    return evaluate


def evaluate_runs(
    algorithm: Algorithm,
    config: Config,
    states,
    key,
    num_episodes: int,
    deterministic: bool = True,
) -> jax.Array:
    """Evaluates every run of `states` (see `make_evaluate_runs`); `key` a PRNG key or an int
    seed.

    Returns:
      `[num_runs, num_episodes]` undiscounted returns.
    """
    num_runs = jax.tree.leaves(states)[0].shape[0]
    evaluate = make_evaluate_runs(algorithm, config, num_runs, num_episodes, deterministic)
    return jax.jit(evaluate)(states, key)


def evaluation_steps(config: Config, num_evaluations: int) -> list[int]:
    """The environment steps (per seed) after which `make_train_and_evaluate` evaluates."""
    length, first = divmod(config.num_updates, num_evaluations)
    return [(first + (i + 1) * length) * config.steps_per_update for i in range(num_evaluations)]


def make_train_and_evaluate(
    algorithm: Algorithm,
    config: Config,
    num_evaluations: int,
    num_episodes: int,
    deterministic: bool = True,
):
    """`train(key, hyperparams=None) -> (state, returns [num_evaluations, num_episodes])`: a
    whole run with a learning curve, on the device.

    The run's updates are split into `num_evaluations` equal segments (the remainder runs
    first), each followed by `make_evaluate`'s fresh episodes; `evaluation_steps` says when.
    Training metrics are not kept, so memory does not grow with the run. Validates the config.
    """
    config.validate()
    if not 1 <= num_evaluations <= config.num_updates:
        raise ValueError(
            f"num_evaluations must be in [1, {config.num_updates}] (the run's updates), got "
            f"{num_evaluations}."
        )
    length, first = divmod(config.num_updates, num_evaluations)
    evaluate = make_evaluate(algorithm, config, num_episodes, deterministic)

    def train(key: jax.Array, hyperparams: dict | None = None):
        init_key, evaluation_key = jax.random.split(key)
        state = algorithm.init(config, init_key, hyperparams)
        state, _ = scan_updates(algorithm, config, state, first)

        def segment(state, segment_key):
            state, _ = scan_updates(algorithm, config, state, length)
            return state, evaluate(state, segment_key)

        keys = jax.random.split(evaluation_key, num_evaluations)
        return jax.lax.scan(segment, state, keys)

    return train
