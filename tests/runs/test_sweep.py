"""The sweep's plan, table and population-based training's selection, on the host (nothing
compiles here; `tests/cli/test_sweep.py` runs sweeps end to end)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pgjax.algorithms.configs import A2CConfig, IMPALAConfig, PPOConfig
from pgjax.runs import sweep
from pgjax.runs.pbt import PBTOptions, select
from pgjax.training.config import ConfigError

CONFIG = PPOConfig.for_env("CartPole-v1")


def test_a_grid_is_the_product_of_its_axes_with_every_configuration_on_the_same_seeds():
    plan = sweep.plan(
        CONFIG, seeds=[3, 4], grid={"learning_rate": [1e-4, 1e-3], "clip_eps": [0.1, 0.2, 0.3]}
    )
    assert len(plan.configurations) == 6 and plan.num_runs == 12
    assert plan.run_seeds() == [3, 4] * 6
    pairs = {(c["learning_rate"], c["clip_eps"]) for c in plan.configurations}
    expected = {(float(np.float32(a)), float(np.float32(b))) for a in (1e-4, 1e-3)
                for b in (0.1, 0.2, 0.3)}  # fmt: skip
    assert pairs == expected
    hyperparams = plan.hyperparams()
    assert hyperparams["clip_eps"].dtype == np.float32 and hyperparams["clip_eps"].shape == (12,)
    # run c·K + k is configuration c
    for c, configuration in enumerate(plan.configurations):
        runs = hyperparams["clip_eps"][2 * c : 2 * c + 2].tolist()
        assert runs == [configuration["clip_eps"]] * 2


def test_random_draws_stay_in_their_ranges_and_are_log_uniform_over_wide_positive_ones():
    plan = sweep.plan(CONFIG, seeds=[0], random=2000, sample_seed=1, held=("gamma",))
    assert "gamma" not in plan.names  # held: the user set it
    values = {n: np.array([c[n] for c in plan.configurations]) for n in plan.names}
    for name, (low, high) in plan.search["ranges"].items():
        assert values[name].min() >= np.float32(low) and values[name].max() <= np.float32(high)
    # learning_rate in [1e-4, 1e-2] (100x): log-uniform, so half the draws lie below 1e-3.
    assert abs(np.mean(values["learning_rate"] < 1e-3) - 0.5) < 0.05
    # value_coef in [0.25, 1] (4x): uniform, so half lie below the midpoint 0.625.
    assert abs(np.mean(values["value_coef"] < 0.625) - 0.5) < 0.05
    assert sweep.log_uniform(1e-4, 1e-2) and not sweep.log_uniform(0.25, 1.0)
    assert not sweep.log_uniform(0.0, 0.03)


def test_random_search_is_reproducible_from_its_seed_and_crossed_with_the_grid():
    a = sweep.plan(CONFIG, seeds=[0], random=3, grid={"clip_eps": [0.1, 0.2]}, sample_seed=7)
    b = sweep.plan(CONFIG, seeds=[0], random=3, grid={"clip_eps": [0.1, 0.2]}, sample_seed=7)
    assert a.configurations == b.configurations and len(a.configurations) == 6
    assert "clip_eps" not in a.search["drawn"]


def test_an_open_range_is_not_drawn_unless_given_a_range():
    # IMPALA's rho_bar is only `at_least=0`: a random search leaves it alone...
    plan = sweep.plan(IMPALAConfig.for_env("CartPole-v1"), seeds=[0], random=2)
    assert "rho_bar" not in plan.names and "learning_rate" in plan.names
    # ...unless --range gives it one.
    ranges = {"rho_bar": (0.5, 2.0)}
    plan = sweep.plan(IMPALAConfig.for_env("CartPole-v1"), seeds=[0], random=2, ranges=ranges)
    assert "rho_bar" in plan.names


def test_a_hyperparameter_the_configuration_ignores_is_not_drawn_and_cannot_be_a_grid_axis():
    # n-step A2C has no GAE λ: drawing it would spread the table over a setting that does
    # nothing, and best.json would hold a value `pgjax train --config` refuses.
    n_step = A2CConfig.for_env("CartPole-v1")
    assert "does not use GAE" in n_step.ignored("gae_lambda")
    assert n_step.ignored("gamma") is None
    plan = sweep.plan(n_step, seeds=[0], random=8, ranges={"learning_rate": (1e-4, 1e-2)})
    assert "gae_lambda" not in plan.names and "gamma" in plan.names
    for configuration in plan.configurations:
        A2CConfig.for_env("CartPole-v1", **configuration).validate()
    gae = A2CConfig.for_env("CartPole-v1", advantage_estimator="gae")
    assert "gae_lambda" in sweep.plan(gae, seeds=[0], random=2).names
    with pytest.raises(ConfigError, match=r"gae_lambda.*does not use GAE"):
        sweep.plan(n_step, seeds=[0], grid={"gae_lambda": [0.9, 0.95]})


BAD = {
    "unknown_name": ({"grid": {"learning_rat": [1, 2]}}, "learning_rat"),
    "static_grid": ({"grid": {"num_envs": [4, 8]}}, "static"),
    "static_range": ({"random": 4, "ranges": {"hidden_sizes": (1, 2)}}, "static"),
    "one_value_grid": ({"grid": {"clip_eps": [0.2, 0.2]}}, "two distinct"),
    "out_of_range_grid": ({"grid": {"gamma": [0.9, 1.5]}}, "gamma"),
    "out_of_range_range": ({"random": 4, "ranges": {"learning_rate": (-1, 1)}}, "learning_rate"),
    "reversed_range": ({"random": 4, "ranges": {"clip_eps": (0.3, 0.1)}}, "low must be < high"),
    "range_without_random": (
        {"grid": {"clip_eps": [0.1, 0.2]}, "ranges": {"gamma": (0.9, 1)}},
        "--random",
    ),
    "nothing": ({}, "--grid"),
    "small_population": (
        {"grid": {"clip_eps": [0.1, 0.2]}, "pbt": {"interval": 5}},
        "truncation selection needs at least 4",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_what_cannot_be_swept_is_a_config_error_naming_it(case):
    kwargs, named = BAD[case]
    with pytest.raises(ConfigError, match=named):
        sweep.plan(CONFIG, seeds=[0], **kwargs)


def test_steps_to_threshold_is_the_first_crossing_and_inf_when_never():
    returns = np.array([[1.0, np.nan, 5.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    steps = np.array([[10, 20, 30, 40]] * 2, float)
    found = sweep.steps_to_threshold({"episode_return": returns, "env_steps": steps}, 5.0)
    assert found[0] == 30 and math.isinf(found[1])


def test_rank_orders_by_median_return_then_steps_with_quartiles_over_seeds():
    plan = sweep.plan(CONFIG, seeds=[0, 1, 2, 3], grid={"clip_eps": [0.1, 0.2, 0.3]}, threshold=5)
    final = np.array([1, 2, 3, 4, 10, 10, 10, 10, 10, 10, 10, 10], float)
    returns = np.full((12, 2), np.nan)
    returns[4:8, 1] = 9.0  # configuration 1 reaches the threshold at the second update
    returns[8:, 0] = 9.0  # configuration 2 at the first: faster, so ranked first
    steps = np.tile([100.0, 200.0], (12, 1))
    rows = sweep.rank(plan, final, {"episode_return": returns, "env_steps": steps})
    assert [r["configuration"] for r in rows] == [2, 1, 0]
    assert rows[0]["steps_median"] == 100 and rows[1]["steps_median"] == 200
    assert math.isinf(rows[2]["steps_median"]) and rows[2]["reached"] == 0
    np.testing.assert_allclose(rows[2]["return_median"], np.median([1, 2, 3, 4]))
    q1, q3 = np.percentile([1, 2, 3, 4], [25, 75])
    np.testing.assert_allclose(rows[2]["return_iqr"], q3 - q1)


def test_selection_copies_the_best_over_the_worst_and_perturbs_within_the_range():
    options = PBTOptions(interval=1, ranges={"lr": [0.1, 1.0]}, fraction=0.25, perturb=0.2)
    fitness = np.array([5.0, np.nan, 9.0, 1.0, 7.0, 8.0, 3.0, 6.0])
    hyperparams = {"lr": np.linspace(0.15, 0.95, 8).astype(np.float32), "other": np.arange(8.0)}
    parents, new = select(fitness, hyperparams, options, updates=10)
    worst, best = {1, 3}, {2, 5}  # NaN counts as the worst
    assert {int(i) for i in np.nonzero(parents != np.arange(8))[0]} == worst
    assert all(int(parents[i]) in best for i in worst)
    for i in worst:
        ratio = new["lr"][i] / hyperparams["lr"][parents[i]]
        clipped = new["lr"][i] in (np.float32(0.1), np.float32(1.0))
        assert clipped or np.isclose(ratio, 0.8) or np.isclose(ratio, 1.2)
        assert new["other"][i] == hyperparams["other"][parents[i]]  # copied, not perturbed
    kept = [i for i in range(8) if i not in worst]
    assert np.array_equal(new["lr"][kept], hyperparams["lr"][kept])
    again = select(fitness, hyperparams, options, updates=10)
    assert np.array_equal(again[0], parents)  # a function of the update count: resumable
