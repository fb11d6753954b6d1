"""Vectorised environments of several suites behind one interface (`base`, `vector`), and the
wrappers training uses (`wrappers`).

    env = make_env("CartPole-v1", num_envs=8)            # gymnax: bare names
    env = make_env("brax/inverted_pendulum", num_envs=8)  # other suites: SUITE/NAME
    obs, state = env.reset(key)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action)

`info["final_observation"]` is the true last observation of an episode that ended at the step
(what a time limit is bootstrapped from); `info["episode_return"]`, `info["episode_length"]`
and `info["episode_done"]` report finished episodes in raw, unscaled rewards;
`info["action_mask"]` the valid actions, for environments that have them (Jumanji's,
`"CellSelect-pgjax"`).

Suites: gymnax (installed with pgjax), Brax (`pgjax[brax]`), XLand-MiniGrid
(`pgjax[xminigrid]`) and Jumanji (`pgjax[jumanji]`), each imported only when one of its ids is
used; `list_envs()` lists them all. Besides gymnax's ids, the partially observable tasks of
`partial` (velocity-masked CartPole and Pendulum, a longer memory chain) are gymnax ids too:
`make_env("CartPole-v1-masked", 8)`; so are the tasks with invalid actions of `selection`
(`"CellSelect-pgjax"`).
"""

from pgjax.envs.base import EnvInfo, Environment, EnvSpec, list_envs, split_env_id
from pgjax.envs.partial import MaskObservation, register_masked
from pgjax.envs.vector import VecEnv, env_spec
from pgjax.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    NormalizeObservation,
    RunningMoments,
    ScaleReward,
    action_mask,
    make_env,
    normalize_observation,
    observation_moments,
)

__all__ = [
    "ClipAction",
    "EnvInfo",
    "EnvSpec",
    "Environment",
    "EpisodeStatistics",
    "MaskObservation",
    "NormalizeObservation",
    "RunningMoments",
    "ScaleReward",
    "VecEnv",
    "action_mask",
    "env_spec",
    "list_envs",
    "make_env",
    "normalize_observation",
    "observation_moments",
    "register_masked",
    "split_env_id",
]
