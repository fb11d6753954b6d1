"""`pgjax.training.config`: fields that declare what they are, one validation for all of them,
hyperparameter grids, and configs that survive a round trip through JSON."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.algorithms.a2c import A2CConfig
from pgjax.algorithms.ppo import PPOConfig, make_train
from pgjax.algorithms.trpo import TRPOConfig
from pgjax.training.config import ConfigError, hyperparameter_grid

TINY = PPOConfig(total_steps=4 * 16 * 3, num_envs=4, num_steps=16, num_minibatches=2)


def test_static_and_traced_settings_are_declared_on_the_fields():
    names = PPOConfig.hyperparameter_names()
    assert {"learning_rate", "gamma", "gae_lambda", "clip_eps", "entropy_coef"} <= set(names)
    assert not {"num_envs", "num_steps", "hidden_sizes", "env_id", "num_epochs"} & set(names)
    for field in dataclasses.fields(PPOConfig):
        assert field.metadata.get("doc"), field.name


def test_hyperparameter_grid_is_the_cartesian_product():
    grid = hyperparameter_grid(learning_rate=[1e-4, 1e-3], clip_eps=[0.1, 0.3])
    assert grid["learning_rate"].tolist() == pytest.approx([1e-4, 1e-4, 1e-3, 1e-3])
    assert grid["clip_eps"].tolist() == pytest.approx([0.1, 0.3, 0.1, 0.3])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_minibatches": 3}, r"does not split into num_minibatches=3.*dividing 64"),
        ({"env_id": "CartPole-v9"}, r"Unknown environment id 'CartPole-v9'"),
        ({"learning_rate": -1e-3}, r"learning_rate must be > 0, got -0.001"),
        ({"learning_rate": float("nan")}, r"learning_rate must be a finite number"),
        ({"gamma": float("nan")}, r"gamma must be a finite number"),
        ({"gae_lambda": 1.5}, r"gae_lambda must be <= 1, got 1.5"),
        ({"total_steps": 10}, r"less than one update"),
        ({"num_envs": 0}, r"num_envs must be >= 1, got 0"),
        ({"num_envs": 2.5}, r"num_envs must be an int, got 2.5"),
        ({"clip_value": 1}, r"clip_value must be a bool, got 1"),
        ({"activation": "sigmoidx"}, r"activation must be one of tanh, relu, elu, gelu"),
        ({"hidden_sizes": (64, 0)}, r"hidden_sizes must be positive ints"),
        ({"clip_eps": -0.1}, r"clip_eps must be >= 0"),
    ],
)
def test_invalid_config_fails_before_compilation_naming_the_field(changes, message):
    config = dataclasses.replace(TINY, **changes)
    with pytest.raises(ConfigError, match=message) as error:
        make_train(config)
    name = next(iter(changes))
    assert error.value.field in (name, "num_minibatches", "total_steps")


def test_cross_field_conditions_of_other_algorithms():
    with pytest.raises(ConfigError, match="shared_network"):
        TRPOConfig.for_env("CartPole-v1", shared_network=True).validate()
    with pytest.raises(ConfigError, match="backtrack_coef must be < 1"):
        TRPOConfig.for_env("CartPole-v1", backtrack_coef=1.5).validate()
    with pytest.raises(ConfigError, match="advantage_estimator must be one of n_step, gae"):
        A2CConfig.for_env("CartPole-v1", advantage_estimator="td").validate()


def test_unknown_hyperparameter_is_refused():
    with pytest.raises(ConfigError, match=r"Unknown hyperparameters \['num_envs'\]"):
        make_train(TINY)(jax.random.key(0), {"num_envs": 8})


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"clip_eps": np.array([0.2, -0.1])}, r"hyperparams\['clip_eps'\] must be >= 0"),
        ({"gamma": jnp.array([0.9, jnp.nan])}, r"hyperparams\['gamma'\] must be a finite"),
        ({"learning_rate": 0.0}, r"hyperparams\['learning_rate'\] must be > 0"),
    ],
)
def test_concrete_hyperparameter_arrays_are_range_checked(grid, message):
    with pytest.raises(ConfigError, match=message):
        TINY.resolve(grid)


def test_traced_hyperparameters_are_not_checked_and_flow_into_the_program():
    resolved = jax.jit(lambda lr: TINY.resolve({"learning_rate": lr})["learning_rate"])(-1.0)
    assert float(resolved) == -1.0  # documented: a traced value cannot be checked


def test_config_round_trips_through_json_and_its_fingerprint_follows_every_field():
    config = PPOConfig.for_env("Pendulum-v1", hidden_sizes=(32, 16))
    again = PPOConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.fingerprint() == config.fingerprint()
    assert dataclasses.replace(config, clip_eps=0.3).fingerprint() != config.fingerprint()
    with pytest.raises(ConfigError, match=r"has no fields \['nope'\]"):
        PPOConfig.from_dict({**config.to_dict(), "nope": 1})


def test_every_control_algorithm_has_a_classic_preset_and_an_unknown_name_is_refused():
    from pgjax.runs import registry

    for name in ("ppo", "reinforce", "a2c", "trpo", "impala", "sac", "dqn"):
        config_class = registry.config_class(name)
        assert "classic" in config_class.named_presets(), name
        for env_id in config_class.PRESETS:
            if env_id not in config_class.NAMED_PRESETS.get("classic", {}):
                # not re-derived: the classic preset is the environment's own
                assert config_class.for_env(env_id, "classic") == config_class.for_env(env_id)
        with pytest.raises(ConfigError, match=r"no preset 'fastest'.*classic"):
            config_class.for_env("CartPole-v1", "fastest")
    # re-derived (issue 27): the classic one differs and is the old configuration
    assert A2CConfig.for_env("CartPole-v1", "classic").total_steps == 200_000
    assert A2CConfig.for_env("CartPole-v1").total_steps < 200_000
