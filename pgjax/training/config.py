"""Algorithm configurations: frozen dataclasses whose fields say what kind of setting they are.

Every field is declared with `static(...)` or `hyperparameter(...)`:

* static settings (environment id, `num_envs`, rollout length, epochs, network sizes, …) fix the
  shape of the compiled program;
* hyperparameters (learning rate, γ, λ, clip ε, coefficients, …) are numbers the program takes
  as inputs: `train(key, hyperparams)` accepts a dict of arrays for any of them, so `jax.vmap`
  trains a grid of them in one compiled program. The state carries them, so `update(state)`
  needs nothing else.

Both carry their documentation and their valid range in the field's metadata, so one generic
`validate()` checks every field (type, NaN, range, choices) before anything is traced, and the
command line offers, documents and checks every field the same way.

The families: `Config` (what the run layer needs of any algorithm), `ControlConfig` (an
environment, its batch and an MLP), and its on-policy and off-policy refinements. This module
imports neither JAX nor an environment suite until a method needs them, so that the command
line can list an algorithm's options without starting JAX.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from typing import Any, ClassVar

# A program counts updates and steps in int32: a static int beyond it cannot be traced.
INT32_MAX = 2**31 - 1

# The policy networks of the on-policy algorithms (`OnPolicyConfig.policy`).
POLICIES = ("mlp", "gru", "lstm")
# How an on-policy policy keeps continuous actions inside the action space's bounds
# (`OnPolicyConfig.action_bounds`).
ACTION_BOUNDS = ("clip", "tanh", "beta")
RECURRENT_SIZE = 128  # the default hidden size of their recurrent cell


class ConfigError(ValueError):
    """An invalid setting; `field` names it (None for settings that only fail together)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnusedSettingError(ConfigError):
    """A setting changed from its default although the configuration makes it do nothing;
    `reason` says why it does nothing."""

    def __init__(self, message: str, field: str, reason: str):
        super().__init__(message, field)
        self.reason = reason


def static(default, doc: str, *, at_least=None, choices=None):
    """A setting that fixes the compiled program's shape (an int, bool, str or tuple)."""
    return dataclasses.field(
        default=default,
        metadata={"traced": False, "doc": doc, "at_least": at_least, "choices": choices},
    )


def hyperparameter(
    default: float,
    doc: str,
    *,
    at_least=None,
    above=None,
    at_most=None,
    below=None,
    search: tuple[float, float] | None = None,
):
    """A number the program takes as an input (vmappable); `above` and `below` are strict
    bounds, `at_least` and `at_most` inclusive ones. `search` is the interval a random search
    draws from (`pgjax.runs.sweep`), inside the valid range; without it a search draws from the
    valid range when both its ends are inclusive bounds, and needs an explicit range otherwise."""
    return dataclasses.field(
        default=default,
        metadata={
            "traced": True,
            "doc": doc,
            "at_least": at_least,
            "above": above,
            "at_most": at_most,
            "below": below,
            "search": search,
        },
    )


def _range_error(name: str, meta: dict, value) -> str | None:
    """Why `value` is outside the field's range, or None when it is inside (checked
    elementwise for arrays)."""
    import numpy as np

    values = np.asarray(value, np.float64)
    if not np.isfinite(values).all():
        return f"{name} must be a finite number, got {value!r}."
    if meta.get("above") is not None and not (values > meta["above"]).all():
        return f"{name} must be > {meta['above']}, got {value!r}."
    if meta.get("at_least") is not None and not (values >= meta["at_least"]).all():
        return f"{name} must be >= {meta['at_least']}, got {value!r}."
    if meta.get("at_most") is not None and not (values <= meta["at_most"]).all():
        return f"{name} must be <= {meta['at_most']}, got {value!r}."
    if meta.get("below") is not None and not (values < meta["below"]).all():
        return f"{name} must be < {meta['below']}, got {value!r}."
    return None


@dataclasses.dataclass(frozen=True)
class Config:
    """What the run layer needs of every algorithm's configuration; families add the fields.

    A subclass says how many updates a run takes (`num_updates`), how many environment steps
    (or, for RLHF, token slots) one update takes (`steps_per_update`) and what it trains on
    (`environment`). `PRESETS` maps an environment to the overrides that make the algorithm
    work well there (`for_env`), `NAMED_PRESETS` a preset's name to such a map (e.g. the
    "classic" configurations, `for_env(env_id, preset="classic")`); `SUMMARY` is the
    algorithm's one-line description. `check()` holds the conditions that involve several
    fields.
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    NAMED_PRESETS: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}
    SUMMARY: ClassVar[str] = ""

    @classmethod
    def named_presets(cls) -> dict[str, dict[str, dict[str, Any]]]:
        """The presets `for_env(env_id, preset=name)` knows, by name."""
        return cls.NAMED_PRESETS

    @classmethod
    def hyperparameter_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("traced"))

    @property
    def environment(self) -> str:
        """The environment (or task) the run trains on, as run records name it."""
        raise NotImplementedError

    @property
    def steps_per_update(self) -> int:
        """Environment steps (per seed) that one `update` takes."""
        raise NotImplementedError

    @property
    def num_updates(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        """Raises `ConfigError`, naming the field and the fix, for a config that cannot work.

        Runs before anything is traced or compiled: every field's type, finiteness, range and
        choices, then the environment (`check_env`), then the conditions between fields
        (`check`).
        """
        for field in dataclasses.fields(self):
            self._validate_field(field, getattr(self, field.name))
        self.check_env()
        self.check()

    def check_env(self) -> None:
        """Raises `ConfigError` for an environment the algorithm cannot use."""

    def check(self) -> None:
        """Conditions between fields (subclasses extend it, calling `super().check()`)."""

    def refuse_unused(self, name: str, reason: str) -> None:
        """Raises `ConfigError` when `name` is set away from its default although `reason`
        makes the algorithm ignore it (a setting that would silently do nothing)."""
        field = {f.name: f for f in dataclasses.fields(self)}[name]
        if getattr(self, name) != field.default:
            raise UnusedSettingError(
                f"{name}={getattr(self, name)!r} has no effect: {reason}.", name, reason
            )

    def ignored(self, name: str) -> str | None:
        """Why this configuration ignores hyperparameter `name` (what `check` says when it is
        moved off its default), or None when it is used."""
        default = {f.name: f for f in dataclasses.fields(self)}[name].default
        try:
            dataclasses.replace(self, **{name: default / 2 if default else 0.5}).check()
        except UnusedSettingError as error:
            if error.field == name:  # the reason, not the probe's value
                return f"{name} has no effect: {error.reason}."
        except ConfigError:
            pass
        return None

    @staticmethod
    def _validate_field(field: dataclasses.Field, value) -> None:
        import numpy as np

        name, meta, kind = field.name, field.metadata, type(field.default)
        if kind is bool:
            ok = isinstance(value, bool | np.bool_)
        elif kind is int:
            ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        elif kind is tuple:
            ok = isinstance(value, tuple) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            )
        else:
            ok = isinstance(value, kind)
        if not ok:
            expected = {tuple: "a tuple of ints", int: "an int", float: "a number"}.get(
                kind, f"a {kind.__name__}"
            )
            raise ConfigError(f"{name} must be {expected}, got {value!r}.", name)
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise ConfigError(
                f"{name} must be one of {', '.join(map(str, meta['choices']))}; got {value!r}.",
                name,
            )
        if kind in (int, float):
            message = _range_error(name, meta, value)
            if message:
                raise ConfigError(message, name)
        if kind is int and value > INT32_MAX:
            raise ConfigError(
                f"{name} must be at most {INT32_MAX} (programs count in int32), got {value}.", name
            )

    # ------------------------------------------------------------------ hyperparameters

    def hyperparams(self) -> dict:
        """The numeric hyperparameters as float32 arrays (the defaults of `train`)."""
        import jax.numpy as jnp

        return {name: jnp.float32(getattr(self, name)) for name in self.hyperparameter_names()}

    def resolve(self, hyperparams: dict | None) -> dict:
        """The config's hyperparameters, with those given in `hyperparams` replacing them.

        Values known before tracing (NumPy arrays, Python numbers, concrete JAX arrays) are
        range-checked elementwise like the config's own; traced values cannot be and are not.
        """
        import jax

        hyperparams = dict(hyperparams or {})
        names = self.hyperparameter_names()
        unknown = sorted(set(hyperparams) - set(names))
        if unknown:
            raise ConfigError(
                f"Unknown hyperparameters {unknown}; {type(self).__name__} takes {list(names)} "
                "(structural settings belong in the config)."
            )
        fields = {f.name: f for f in dataclasses.fields(self)}
        for name, value in hyperparams.items():
            if isinstance(value, jax.core.Tracer):
                continue
            message = _range_error(f"hyperparams[{name!r}]", fields[name].metadata, value)
            if message:
                raise ConfigError(message, name)
        return {**self.hyperparams(), **hyperparams}

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]):
        """The config `to_dict` wrote (JSON turns tuples into lists). Values are not checked
        here (`validate` does), but a field that cannot even be built raises ConfigError."""
        if not isinstance(fields, dict):
            raise ConfigError(f"a {cls.__name__} is a JSON object of fields, got {fields!r}.")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise ConfigError(f"{cls.__name__} has no fields {unknown}.")
        values = dict(fields)
        for name, value in fields.items():
            if isinstance(known[name].default, tuple):
                if not isinstance(value, list | tuple):
                    raise ConfigError(f"{name} must be a list of ints, got {value!r}.", name)
                values[name] = tuple(value)
        return cls(**values)

    def fingerprint(self) -> str:
        """A short hash of every setting: two configs with the same fingerprint train the same."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(f"{type(self).__name__}:{text}".encode()).hexdigest()[:16]


def hyperparameter_grid(**axes) -> dict:
    """The Cartesian product of hyperparameter values, flattened to one leading axis.

    `hyperparameter_grid(learning_rate=[1e-4, 3e-4], clip_eps=[0.1, 0.2])` gives arrays of
    length 4, ready for `jax.vmap(train)(keys, grid)` with 4 keys.
    """
    import jax.numpy as jnp
    import numpy as np

    names = list(axes)
    rows = list(itertools.product(*(np.atleast_1d(axes[n]) for n in names)))
    return {n: jnp.asarray([row[i] for row in rows], jnp.float32) for i, n in enumerate(names)}


@dataclasses.dataclass(frozen=True)
class ControlConfig(Config):
    """A control task: an environment of `pgjax.envs`, a batch of copies of it per run, and
    MLP policies and critics."""

    env_id: str = static(
        "CartPole-v1", "environment id: a gymnax name or SUITE/NAME (`pgjax envs` lists them)"
    )
    total_steps: int = static(500_000, "environment steps per seed", at_least=1)
    num_envs: int = static(4, "environments stepped in parallel per seed", at_least=1)
    hidden_sizes: tuple[int, ...] = static((64, 64), "hidden layer widths of the MLPs")
    activation: str = static("tanh", "hidden activation", choices=("tanh", "relu", "elu", "gelu"))

    @classmethod
    def named_presets(cls) -> dict[str, dict[str, dict[str, Any]]]:
        """Every control algorithm has a "classic" preset, the configuration papers and other
        libraries compare against: `PRESETS` itself where those were not re-derived for speed
        (issue 27), else the class's own `NAMED_PRESETS["classic"]`."""
        return {"classic": cls.PRESETS, **cls.NAMED_PRESETS}

    @classmethod
    def for_env(cls, env_id: str, preset: str | None = None, **overrides):
        """The configuration for `env_id`: the environment's preset (`PRESETS`, tuned where
        one exists), or the preset called `preset` (`named_presets`, e.g. "classic": the
        configuration papers and other libraries compare against), then `overrides`."""
        named = cls.named_presets()
        if preset is None:
            chosen = cls.PRESETS.get(env_id, {})
        elif preset in named:
            chosen = named[preset].get(env_id, {})
        else:
            known = ", ".join(named) or "none"
            raise ConfigError(
                f"{cls.__name__} has no preset {preset!r} (named presets: {known}).", "preset"
            )
        return cls(**{"env_id": env_id, **chosen, **overrides})

    @property
    def environment(self) -> str:
        return self.env_id

    @property
    def clip_actions(self) -> bool:
        """Whether the environment clips continuous actions into the action space's bounds
        (`pgjax.envs.ClipAction`): a policy whose actions already lie inside needs no clip."""
        return True

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update

    def check_env(self) -> None:
        """Raises `ConfigError` for an `env_id` the algorithm cannot use: an unknown suite or
        environment, a suite that is not installed, or one its suite cannot build."""
        from pgjax.envs import env_spec

        try:
            env_spec(self.env_id)
        except ValueError as error:  # an unknown or unbuildable environment
            raise ConfigError(str(error), "env_id") from None

    def check(self) -> None:
        super().check()
        if self.num_updates < 1:
            raise ConfigError(
                f"total_steps={self.total_steps} is less than one update "
                f"({self.steps_per_update} steps); raise total_steps.",
                "total_steps",
            )
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ConfigError(
                f"hidden_sizes must be positive ints, got {self.hidden_sizes}.", "hidden_sizes"
            )


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig(ControlConfig):
    """The settings of every on-policy algorithm; one update is a rollout of `num_steps` steps
    in each of `num_envs` environments, then the algorithm's gradient steps."""

    num_steps: int = static(128, "rollout length per environment per update", at_least=1)
    shared_network: bool = static(False, "actor and critic share one MLP torso")
    normalize_observations: bool = static(False, "standardise observations (running stats)")
    scale_rewards: bool = static(False, "divide rewards by the running std of the return")
    optimizer: str = static("adam", "optimiser", choices=("adam", "rmsprop"))
    anneal_learning_rate: bool = static(True, "anneal the learning rate linearly to 0")
    policy: str = static(
        "mlp",
        "policy network: a feed-forward MLP, or the MLP torso then a GRU or LSTM cell whose "
        "state is carried through episodes",
        choices=POLICIES,
    )
    recurrent_size: int = static(
        RECURRENT_SIZE, "hidden size of the recurrent cell (gru, lstm)", at_least=1
    )
    action_bounds: str = static(
        "clip",
        "continuous actions: a Gaussian whose samples the environment clips into the bounds "
        "(clip), a tanh-squashed Gaussian (tanh) or a Beta policy (beta) over the bounds",
        choices=ACTION_BOUNDS,
    )
    learning_rate: float = hyperparameter(2.5e-4, "learning rate", above=0, search=(1e-4, 1e-2))
    max_grad_norm: float = hyperparameter(
        0.5, "gradient clipping (global norm)", above=0, search=(0.1, 10.0)
    )
    gamma: float = hyperparameter(0.99, "discount γ", at_least=0, at_most=1, search=(0.9, 0.999))

    # Whether the algorithm can train a recurrent policy (carry its state through rollouts and
    # re-run it over whole sequences); one that cannot refuses policy != "mlp".
    RECURRENT: ClassVar[bool] = True

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def gradient_steps_per_update(self) -> int:
        """Optimiser steps per update (what the learning-rate schedule counts)."""
        return 1

    def to_dict(self) -> dict[str, Any]:
        # A feed-forward run's record and fingerprint leave the recurrent settings out, so they
        # stay those pgjax wrote before recurrent policies existed (and those runs resume).
        fields = super().to_dict()
        if not self.recurrent and self.recurrent_size == RECURRENT_SIZE:
            del fields["policy"], fields["recurrent_size"]
        if self.action_bounds == "clip":  # likewise for runs from before bounded policies
            del fields["action_bounds"]
        return fields

    @property
    def clip_actions(self) -> bool:
        """Only the Gaussian of `action_bounds='clip'` samples outside the bounds."""
        return self.action_bounds == "clip"

    @property
    def recurrent(self) -> bool:
        """Whether the policy carries a recurrent state."""
        return self.policy != "mlp"

    def check(self) -> None:
        super().check()
        if self.recurrent and not self.RECURRENT:
            raise ConfigError(
                f"policy={self.policy!r}: {type(self).__name__.removesuffix('Config')} cannot "
                "carry a recurrent state; use policy='mlp' (recurrent policies: PPO, A2C, "
                "REINFORCE, IMPALA).",
                "policy",
            )
        if not self.recurrent:
            self.refuse_unused("recurrent_size", "policy='mlp' has no recurrent cell")
        else:
            self.refuse_unused(
                "shared_network", "a recurrent policy's actor and critic always share its cell"
            )
        if self.action_bounds != "clip":
            self._check_bounded_actions()

    def _check_bounded_actions(self) -> None:
        """tanh and beta map onto the action box: they need continuous, finite bounds."""
        import numpy as np

        from pgjax.envs import env_spec

        spec = env_spec(self.env_id)
        if spec.discrete:
            raise ConfigError(
                f"action_bounds={self.action_bounds!r} bounds continuous actions; "
                f"{self.env_id} has discrete ones: leave action_bounds at 'clip'.",
                "action_bounds",
            )
        if not (np.isfinite(spec.action_low).all() and np.isfinite(spec.action_high).all()):
            raise ConfigError(
                f"action_bounds={self.action_bounds!r} maps actions onto the action space's "
                f"bounds, and {self.env_id}'s are not finite (low {spec.action_low}, high "
                f"{spec.action_high}): use action_bounds='clip'.",
                "action_bounds",
            )


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig(ControlConfig):
    """The settings of every off-policy algorithm; one update is `num_steps` steps in each of
    `num_envs` environments, stored in the replay buffer, then `gradient_steps` gradient steps
    on uniformly sampled batches. Replay ratio: gradient_steps / (num_envs · num_steps)."""

    num_envs: int = static(1, "environments stepped in parallel per seed", at_least=1)
    num_steps: int = static(1, "steps per environment per update", at_least=1)
    activation: str = static("relu", "hidden activation", choices=("tanh", "relu", "elu", "gelu"))
    gradient_steps: int = static(1, "gradient steps per update", at_least=1)
    batch_size: int = static(256, "transitions per gradient step", at_least=1)
    buffer_size: int = static(100_000, "replay buffer capacity (transitions)", at_least=1)
    learning_starts: int = static(
        1_000, "environment steps of uniformly random actions before learning starts", at_least=0
    )
    target_update_every: int = static(1, "gradient steps between target updates", at_least=1)
    bootstrap_truncation: bool = static(
        True,
        "bootstrap time limits from the final observation (false: treat them as terminal, "
        "the common bug, for ablations)",
    )
    learning_rate: float = hyperparameter(
        3e-4, "learning rate (Adam)", above=0, search=(1e-5, 1e-2)
    )
    max_grad_norm: float = hyperparameter(
        10.0, "gradient clipping (global norm)", above=0, search=(0.5, 100.0)
    )
    gamma: float = hyperparameter(0.99, "discount γ", at_least=0, at_most=1, search=(0.9, 0.999))
    tau: float = hyperparameter(
        1.0, "target update θ̄ ← τθ + (1 − τ)θ̄", above=0, at_most=1, search=(0.001, 1.0)
    )

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    def check(self) -> None:
        super().check()
        if self.buffer_size < self.steps_per_update:
            raise ConfigError(
                f"buffer_size={self.buffer_size} cannot hold one update's "
                f"num_envs × num_steps = {self.steps_per_update} transitions.",
                "buffer_size",
            )
        if self.learning_starts >= self.num_updates * self.steps_per_update:
            raise ConfigError(
                f"learning_starts={self.learning_starts} is not below the run's "
                f"{self.num_updates * self.steps_per_update} environment steps, so it would "
                "never learn; lower learning_starts or raise total_steps.",
                "learning_starts",
            )
