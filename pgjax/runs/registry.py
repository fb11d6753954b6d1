"""The algorithms `pgjax train NAME`, `pgjax resume` and `pgjax evaluate` know, by name.

    from pgjax.runs import register
    register(MY_ALGORITHM)          # an `Algorithm` written in your own code

Three sources, looked up in this order:

* algorithms registered in this process with `register(...)`;
* pgjax's own, listed here by module path and imported only when used (so that the command
  line can print its help without importing JAX);
* installed packages that declare an entry point in the group `pgjax.algorithms`, the standard
  Python plugin mechanism: in the package's `pyproject.toml`

      [project.entry-points."pgjax.algorithms"]
      my-algo = "my_package.algorithm:MY_ALGORITHM"

  The entry point's name is the algorithm's name; its object is an `Algorithm` (or a function
  of no arguments returning one).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import NamedTuple

from pgjax.training.config import ConfigError

ENTRY_POINT_GROUP = "pgjax.algorithms"


class Builtin(NamedTuple):
    """One of pgjax's algorithms: where the `Algorithm` and its config class live."""

    algorithm: str  # "module:NAME"
    config: str  # "module:NAME", a module that does not import JAX
    family: str  # "control" (pgjax train) or "rlhf" (pgjax rlhf)
    asynchronous: bool = False  # also runs on the actor-learner engine (`--async`)


_CONFIGS = "pgjax.algorithms.configs"
_RLHF_CONFIGS = "pgjax.rlhf.config"
BUILTIN: dict[str, Builtin] = {
    "ppo": Builtin("pgjax.algorithms.ppo:PPO", f"{_CONFIGS}:PPOConfig", "control"),
    "reinforce": Builtin(
        "pgjax.algorithms.reinforce:REINFORCE", f"{_CONFIGS}:REINFORCEConfig", "control"
    ),
    "a2c": Builtin("pgjax.algorithms.a2c:A2C", f"{_CONFIGS}:A2CConfig", "control"),
    "trpo": Builtin("pgjax.algorithms.trpo:TRPO", f"{_CONFIGS}:TRPOConfig", "control"),
    "impala": Builtin(
        "pgjax.algorithms.impala:IMPALA", f"{_CONFIGS}:IMPALAConfig", "control", True
    ),
    "sac": Builtin("pgjax.algorithms.sac:SAC", f"{_CONFIGS}:SACConfig", "control"),
    "dqn": Builtin("pgjax.algorithms.dqn:DQN", f"{_CONFIGS}:DQNConfig", "control"),
    "rlhf-ppo": Builtin("pgjax.rlhf.ppo:PPO", f"{_RLHF_CONFIGS}:PPOConfig", "rlhf"),
    "rlhf-grpo": Builtin("pgjax.rlhf.grpo:GRPO", f"{_RLHF_CONFIGS}:GRPOConfig", "rlhf"),
    "rlhf-dr-grpo": Builtin("pgjax.rlhf.grpo:DR_GRPO", f"{_RLHF_CONFIGS}:DrGRPOConfig", "rlhf"),
    "rlhf-rloo": Builtin("pgjax.rlhf.grpo:RLOO", f"{_RLHF_CONFIGS}:RLOOConfig", "rlhf"),
    "rlhf-dapo": Builtin("pgjax.rlhf.grpo:DAPO", f"{_RLHF_CONFIGS}:DAPOConfig", "rlhf"),
    "rlhf-gspo": Builtin("pgjax.rlhf.grpo:GSPO", f"{_RLHF_CONFIGS}:GSPOConfig", "rlhf"),
    "rlhf-cispo": Builtin("pgjax.rlhf.grpo:CISPO", f"{_RLHF_CONFIGS}:CISPOConfig", "rlhf"),
}

_registered: dict = {}  # name -> Algorithm, from `register`


def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _entry_points() -> dict:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def register(algorithm, *, replace: bool = False):
    """Makes `algorithm` (a `pgjax.training.algorithm.Algorithm`) trainable, resumable and
    evaluable by its name in this process (`pgjax.runs.run`, `resume`, `evaluate`). A name
    already taken is refused unless `replace`. Returns the algorithm (usable as a decorator
    target: `ALGO = register(Algorithm(...))`)."""
    from pgjax.training.algorithm import Algorithm

    if not isinstance(algorithm, Algorithm):
        raise TypeError(f"register takes a pgjax Algorithm, got {type(algorithm).__name__}.")
    name = algorithm.name
    if not isinstance(name, str) or not name or name.strip() != name or " " in name:
        raise ConfigError(f"An algorithm's name must be a non-empty word, got {name!r}.")
    taken = name in _registered or name in BUILTIN
    if taken and not replace and _registered.get(name) is not algorithm:
        raise ConfigError(f"An algorithm named {name!r} is already registered (replace=True).")
    _registered[name] = algorithm
    return algorithm


def unregister(name: str) -> None:
    """Forgets an algorithm `register` added (pgjax's own and plugins cannot be removed)."""
    _registered.pop(name, None)


def names(family: str | None = None) -> list[str]:
    """Every known algorithm's name (of `family` when given: "control" or "rlhf"), pgjax's own
    first. Entry points are listed without importing them; their family is "control"."""
    known = [n for n, b in BUILTIN.items() if family in (None, b.family)]
    others = [n for n in [*_registered, *_entry_points()] if n not in BUILTIN]
    if family not in (None, "control"):
        others = [n for n in others if family_of(n) == family]
    return known + [n for n in dict.fromkeys(others) if n not in known]


def get(name: str):
    """The `Algorithm` called `name` (ConfigError listing the known ones if there is none)."""
    if name in _registered:
        return _registered[name]
    if name in BUILTIN:
        return _load(BUILTIN[name].algorithm)
    entry = _entry_points().get(name)
    if entry is None:
        raise ConfigError(f"Unknown algorithm {name!r}; choose one of {', '.join(names())}.")
    try:
        loaded = entry.load()
    except Exception as error:  # a broken plugin: name it, whatever went wrong inside it
        raise ConfigError(
            f"The algorithm {name!r} (entry point {entry.value}) could not be loaded: "
            f"{type(error).__name__}: {error}"
        ) from error
    from pgjax.training.algorithm import Algorithm

    algorithm = loaded if isinstance(loaded, Algorithm) else loaded()
    if not isinstance(algorithm, Algorithm) or algorithm.name != name:
        raise ConfigError(
            f"The entry point {name!r} ({entry.value}) must give a pgjax Algorithm named {name!r}."
        )
    return algorithm


def config_class(name: str):
    """The config class of algorithm `name`; for pgjax's own without importing the algorithm
    (nor JAX)."""
    if name in BUILTIN and name not in _registered:
        return _load(BUILTIN[name].config)
    return get(name).config_class


def family_of(name: str) -> str:
    """ "rlhf" for an algorithm of `pgjax rlhf`, else "control"."""
    if name in BUILTIN and name not in _registered:
        return BUILTIN[name].family
    from pgjax.rlhf.config import RLHFConfig

    return "rlhf" if issubclass(config_class(name), RLHFConfig) else "control"


def asynchronous(name: str) -> bool:
    """Whether the algorithm also runs on the actor-learner engine (pgjax's own: without
    JAX)."""
    if name in BUILTIN and name not in _registered:
        return BUILTIN[name].asynchronous
    return get(name).actor_learner is not None


def summary(name: str) -> str:
    """The one-line description, from the config class (pgjax's own: without JAX)."""
    if name in BUILTIN and name not in _registered:
        return config_class(name).SUMMARY
    return get(name).description
