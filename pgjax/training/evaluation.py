"""Evaluating a trained policy: one evaluator, one rule for its keys, all on the device.

`make_evaluate` is the evaluation of one run (the algorithm's own evaluator, or full episodes
in fresh environments); `evaluation_key` the one rule for its PRNG keys; `evaluate_runs` every
run of a batch of states. The run layer compiles the same per-run function over its devices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.envs import ClipAction, EpisodeStatistics, VecEnv, action_mask, env_spec
from pgjax.training.algorithm import Algorithm, scan_updates
from pgjax.training.config import Config
from pgjax.training.parallel import across_devices
from pgjax.training.recurrent import reset_carry


def make_evaluate(algorithm: Algorithm, config: Config, num_episodes: int, deterministic=True):
    """Returns `evaluate(state, key) -> metrics`, one run's evaluation: the algorithm's own
    `evaluator` when it has one (RLHF), else `episode_returns`' `{"return": [num_episodes]}`."""
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}.")
    if algorithm.evaluator is not None:
        return algorithm.evaluator(config, num_episodes, deterministic)
    episodes = episode_returns(algorithm, config, num_episodes, deterministic)
    return lambda state, key: {"return": episodes(state, key)}


def episode_returns(algorithm: Algorithm, config: Config, num_episodes: int, deterministic=True):
    """Returns `evaluate(state, key) -> [num_episodes]` undiscounted returns.

    Runs `num_episodes` fresh environments in parallel for one full episode each (up to the time
    limit), acting with `algorithm.act` on the run's `state`: the policy's mode
    (`deterministic`) or samples. A policy with a state (`algorithm.initial_carry` not None for
    this config) acts with `act_carried`, its state reset where an episode ends. On an
    environment whose spec has `action_mask`, an algorithm that takes masks
    (`algorithm.action_masks`) acts on the valid actions of each observation only. Rewards are
    the environment's own (no scaling); continuous actions are clipped into the bounds as in
    training (`config.clip_actions`).
    """
    spec = env_spec(config.env_id)
    masked = spec.action_mask and algorithm.action_masks
    env = EpisodeStatistics(VecEnv(config.env_id, num_episodes))
    if config.clip_actions and not spec.discrete:
        env = ClipAction(env)

    def evaluate(state, key: jax.Array) -> jax.Array:
        fresh = None
        if algorithm.initial_carry is not None:
            fresh = algorithm.initial_carry(config, state, num_episodes)

        def step(carry, step_key):
            env_state, obs, policy_carry, returns, finished = carry
            action_key, env_key = jax.random.split(step_key)
            mask = {"action_mask": action_mask(env_state)} if masked else {}
            if fresh is None:
                action = algorithm.act(config, state, obs, action_key, deterministic, **mask)
            else:
                policy_carry, action = algorithm.act_carried(
                    config, state, policy_carry, obs, action_key, deterministic, **mask
                )
            obs, env_state, _, _, _, info = env.step(env_key, env_state, action)
            if fresh is not None:
                policy_carry = reset_carry(policy_carry, info["episode_done"], fresh)
            first_end = info["episode_done"] & ~finished
            returns = jnp.where(first_end, info["episode_return"], returns)
            done = finished | info["episode_done"]
            return (env_state, obs, policy_carry, returns, done), None

        reset_key, key = jax.random.split(key)
        obs, env_state = env.reset(reset_key)
        zeros = jnp.zeros(num_episodes)
        carry = (env_state, obs, fresh, zeros, jnp.zeros(num_episodes, bool))
        keys = jax.random.split(key, spec.max_episode_steps)
        (_, _, _, returns, _), _ = jax.lax.scan(step, carry, keys)
        return returns

    return evaluate


def evaluation_key(seed, run_index) -> jax.Array:
    """The key run `run_index` of an evaluation numbered `seed` is evaluated with:
    `fold_in(key(seed), run_index)`. Every evaluation in pgjax (target stops, `pgjax
    evaluate`, the reports, the asynchronous engine) draws its keys by this one rule, so the
    same seed evaluates a run the same way wherever the runs are placed."""
    return jax.random.fold_in(jax.random.key(seed), run_index)


def make_evaluate_run(algorithm: Algorithm, config: Config, num_episodes: int, deterministic=True):
    """`evaluate(state, run_index, seed) -> metrics`: `make_evaluate` keyed by
    `evaluation_key(seed, run_index)`; vmap it over the runs (index and state) with one seed."""
    evaluate = make_evaluate(algorithm, config, num_episodes, deterministic)
    return lambda state, run_index, seed: evaluate(state, evaluation_key(seed, run_index))


def make_evaluate_runs(
    algorithm: Algorithm,
    config: Config,
    num_runs: int,
    num_episodes: int,
    deterministic: bool = True,
    envs_devices: int = 1,
):
    """`evaluate(states, run_indices [R] uint32, seed) -> metrics [R, ...]`: `make_evaluate_run`
    jitted over the runs, split across the devices like a training state
    (`pgjax.training.parallel.across_devices`; `.lower(...).compile()` compiles it ahead)."""
    one = make_evaluate_run(algorithm, config, num_episodes, deterministic)
    return across_devices(one, num_runs, in_axes=(0, 0, None), envs_devices=envs_devices)


def evaluate_runs(
    algorithm: Algorithm, config: Config, states, seed: int, num_episodes: int, deterministic=True
) -> dict:
    """Evaluates every run of `states` (leaves `[num_runs, ...]`, as `vmap` or `pgjax.runs`
    made them) with `make_evaluate_runs`, run i keyed by `evaluation_key(seed, i)`.

    Returns:
      the metrics, each `[num_runs, ...]` (for control algorithms `{"return": [R, episodes]}`).
    """
    num_runs = jax.tree.leaves(states)[0].shape[0]
    evaluate = make_evaluate_runs(algorithm, config, num_runs, num_episodes, deterministic)
    return evaluate(states, np.arange(num_runs, dtype=np.uint32), np.uint32(seed))


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
    evaluate = episode_returns(algorithm, config, num_episodes, deterministic)

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
