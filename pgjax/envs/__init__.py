"""Vectorised gymnax environments (`vector`) and the wrappers training uses (`wrappers`).

    env = make_env("CartPole-v1", num_envs=8)
    obs, state = env.reset(key)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action)

`info["final_observation"]` is the true last observation of an episode that ended at the step
(what a time limit is bootstrapped from); `info["episode_return"]`, `info["episode_length"]`
and `info["episode_done"]` report finished episodes in raw, unscaled rewards.

Besides gymnax's ids, the partially observable tasks of `partial` (velocity-masked CartPole and
Pendulum, a longer memory chain) are built by id: `make_env("CartPole-v1-masked", 8)`.
"""

from pgjax.envs.partial import PARTIALLY_OBSERVABLE, MaskObservation, register_masked
from pgjax.envs.vector import EnvSpec, VecEnv, env_spec
from pgjax.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    NormalizeObservation,
    RunningMoments,
    ScaleReward,
    make_env,
    normalize_observation,
    observation_moments,
)

__all__ = [
    "PARTIALLY_OBSERVABLE",
    "ClipAction",
    "EnvSpec",
    "EpisodeStatistics",
    "MaskObservation",
    "NormalizeObservation",
    "RunningMoments",
    "ScaleReward",
    "VecEnv",
    "env_spec",
    "make_env",
    "normalize_observation",
    "observation_moments",
    "register_masked",
]
