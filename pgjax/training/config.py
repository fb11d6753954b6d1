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
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.envs import env_spec


class ConfigError(ValueError):
    """An invalid setting; `field` names it (None for settings that only fail together)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def static(default, doc: str, *, at_least=None, choices=None):
    """A setting that fixes the compiled program's shape (an int, bool, str or tuple)."""
    return dataclasses.field(
        default=default,
        metadata={"traced": False, "doc": doc, "at_least": at_least, "choices": choices},
    )


def hyperparameter(
    default: float, doc: str, *, at_least=None, above=None, at_most=None, below=None
):
    """A number the program takes as an input (vmappable); `above` and `below` are strict
    bounds, `at_least` and `at_most` inclusive ones."""
    return dataclasses.field(
        default=default,
        metadata={
            "traced": True,
            "doc": doc,
            "at_least": at_least,
            "above": above,
            "at_most": at_most,
            "below": below,
        },
    )


def _range_error(name: str, meta: dict, value) -> str | None:
    """Why `value` is outside the field's range, or None when it is inside (checked
    elementwise for arrays)."""
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
    """What every algorithm's configuration has; subclasses add their own fields and presets.

    `PRESETS` maps an environment id to the overrides that make the algorithm work well there
    (`for_env`). `check()` holds the conditions that involve several fields.
    """

    env_id: str = static(
        "CartPole-v1", "environment id: a gymnax name or SUITE/NAME (`pgjax envs` lists them)"
    )
    total_steps: int = static(500_000, "environment steps per seed", at_least=1)
    num_envs: int = static(4, "environments stepped in parallel per seed", at_least=1)
    hidden_sizes: tuple[int, ...] = static((64, 64), "hidden layer widths of the MLPs")
    activation: str = static("tanh", "hidden activation", choices=("tanh", "relu", "elu", "gelu"))

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def for_env(cls, env_id: str, **overrides):
        """The default configuration for `env_id` (tuned where a preset exists), then
        `overrides`."""
        return cls(**{"env_id": env_id, **cls.PRESETS.get(env_id, {}), **overrides})

    @classmethod
    def hyperparameter_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("traced"))

    @property
    def steps_per_update(self) -> int:
        """Environment steps (per seed) that one `update` takes."""
        raise NotImplementedError

    @property
    def num_updates(self) -> int:
        return self.total_steps // self.steps_per_update

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        """Raises `ConfigError`, naming the field and the fix, for a config that cannot work.

        Runs before anything is traced or compiled: every field's type, finiteness, range and
        choices, then the conditions between fields (`check`).
        """
        for field in dataclasses.fields(self):
            self._validate_field(field, getattr(self, field.name))
        self.check_env()
        if self.num_updates < 1:
            raise ConfigError(
                f"total_steps={self.total_steps} is less than one update "
                f"({self.steps_per_update} steps); raise total_steps.",
                "total_steps",
            )
        self.check()

    def check_env(self) -> None:
        """Raises `ConfigError` for an `env_id` the algorithm cannot use: by default, an unknown
        suite or environment, a suite that is not installed, or one its suite cannot build (an
        algorithm with its own environments overrides this)."""
        try:
            env_spec(self.env_id)
        except ValueError as error:  # an unknown or unbuildable environment
            raise ConfigError(str(error), "env_id") from None

    def check(self) -> None:
        """Conditions between fields (subclasses extend it, calling `super().check()`)."""
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ConfigError(
                f"hidden_sizes must be positive ints, got {self.hidden_sizes}.", "hidden_sizes"
            )

    @staticmethod
    def _validate_field(field: dataclasses.Field, value) -> None:
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

    # ------------------------------------------------------------------ hyperparameters

    def hyperparams(self) -> dict[str, jax.Array]:
        """The numeric hyperparameters as float32 arrays (the defaults of `train`)."""
        return {name: jnp.float32(getattr(self, name)) for name in self.hyperparameter_names()}

    def resolve(self, hyperparams: dict | None) -> dict[str, jax.Array]:
        """The config's hyperparameters, with those given in `hyperparams` replacing them.

        Values known before tracing (NumPy arrays, Python numbers, concrete JAX arrays) are
        range-checked elementwise like the config's own; traced values cannot be and are not.
        """
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


def hyperparameter_grid(**axes) -> dict[str, jax.Array]:
    """The Cartesian product of hyperparameter values, flattened to one leading axis.

    `hyperparameter_grid(learning_rate=[1e-4, 3e-4], clip_eps=[0.1, 0.2])` gives arrays of
    length 4, ready for `jax.vmap(train)(keys, grid)` with 4 keys.
    """
    names = list(axes)
    rows = list(itertools.product(*(np.atleast_1d(axes[n]) for n in names)))
    return {n: jnp.asarray([row[i] for row in rows], jnp.float32) for i, n in enumerate(names)}
