"""Population-based training on the device (Jaderberg et al., 2017, "Population Based
Training of Neural Networks", https://arxiv.org/abs/1711.09846).

The population is the run axis of one compiled program: every member is a run, its
hyperparameters live in its state (`state.hyperparams`), so changing them recompiles nothing.
Every `interval` updates, between two chunks of the compiled engine (`pgjax.runs.chunked`,
`between=`):

* fitness: each member's deterministic evaluation return (`pgjax.runs.evaluator`, `episodes`
  episodes, the evaluation seed the update count), a function of the state alone, so a resumed
  run selects as an uninterrupted one does;
* exploit (truncation selection): the `fraction` of members with the lowest fitness each copy
  the whole state (parameters, optimiser, environments, hyperparameters) of a member drawn
  uniformly from the `fraction` with the highest;
* explore: each copied hyperparameter is multiplied by 1 − `perturb` or 1 + `perturb` (drawn
  uniformly), then clipped to its search range; the copy's PRNG key is folded with its index,
  so that it does not replay its parent's randomness.

The draws come from a NumPy generator seeded by (`seed`, update count): the same on every
process and in every session. metrics.csv gains `pbt_parent` (the member whose state the row's
member holds after that update: itself, except at a selection where it copied another) and
`hp_NAME`, the value of each perturbed hyperparameter during the update.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.runs import distributed
from pgjax.runs.evaluator import RunEvaluator
from pgjax.training.config import ConfigError


@dataclasses.dataclass(frozen=True)
class PBTOptions:
    """Population-based training's settings (see the module docstring).

    Attributes:
      interval: updates between selections.
      fraction: the share of the population replaced at each selection (and the share it is
        copied from), in (0, 0.5].
      perturb: hyperparameters are multiplied by 1 ± perturb, in (0, 1).
      episodes: evaluation episodes per member for its fitness.
      seed: the selection's and perturbation's own seed.
      ranges: name ↦ [low, high], the hyperparameters perturbed and the interval each is kept in.
    """

    interval: int
    ranges: dict
    fraction: float = 0.25
    perturb: float = 0.2
    episodes: int = 10
    seed: int = 0

    def validate(self, population: int, names=None) -> None:
        """ConfigError, naming the option, for settings population-based training cannot use
        (before anything compiles)."""
        if not isinstance(self.interval, int) or self.interval < 1:
            raise ConfigError(f"--pbt-interval must be >= 1, got {self.interval!r}.", "interval")
        if not 0 < self.fraction <= 0.5:
            raise ConfigError(
                f"--pbt-fraction must be in (0, 0.5], got {self.fraction}.", "fraction"
            )
        if not 0 < self.perturb < 1:
            raise ConfigError(f"--pbt-perturb must be in (0, 1), got {self.perturb}.", "perturb")
        if not isinstance(self.episodes, int) or self.episodes < 1:
            raise ConfigError(f"--pbt-episodes must be >= 1, got {self.episodes!r}.", "episodes")
        if self.replaced(population) < 1:
            need = int(np.ceil(1 / self.fraction))
            raise ConfigError(
                f"--pbt: a population of {population} member(s) has no member to replace at "
                f"--pbt-fraction {self.fraction}; truncation selection needs at least {need} "
                "(raise --random / the grid or --seeds, or the fraction).",
                "population",
            )
        if not self.ranges:
            raise ConfigError("--pbt needs at least one hyperparameter to perturb.", "ranges")
        if names is not None and set(self.ranges) != set(names):
            raise ConfigError(
                f"--pbt perturbs {sorted(self.ranges)} but the sweep draws {sorted(names)}.",
                "ranges",
            )

    def replaced(self, population: int) -> int:
        """Members replaced (and members copied from) at each selection."""
        return int(population * self.fraction)


def select(
    fitness: np.ndarray, hyperparams: dict[str, np.ndarray], options: PBTOptions, updates: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One exploit-and-explore step on the host.

    Args:
      fitness: `[P]` each member's fitness (NaN counts as the worst).
      hyperparams: name ↦ `[P]` the members' current values.
      updates: the update count (seeds the draws with `options.seed`).

    Returns:
      `parents [P]` (the member whose state each member takes; itself if kept) and the new
      hyperparameters, name ↦ `[P]` float32.
    """
    population = len(fitness)
    n = options.replaced(population)
    order = np.argsort(-np.nan_to_num(np.asarray(fitness, np.float64), nan=-np.inf), kind="stable")
    top, bottom = order[:n], order[population - n :]
    rng = np.random.default_rng([options.seed, updates])
    parents = np.arange(population)
    parents[bottom] = rng.choice(top, size=n)
    new = {}
    for name in sorted(hyperparams):
        values = np.asarray(hyperparams[name], np.float32).copy()
        if name in options.ranges:
            low, high = options.ranges[name]
            factors = rng.choice([1 - options.perturb, 1 + options.perturb], size=n)
            values[bottom] = np.clip(values[parents[bottom]] * factors, low, high)
        else:
            values[bottom] = values[parents[bottom]]
        new[name] = values.astype(np.float32)
    return parents, new


class PopulationBasedTraining:
    """The compiled engine's `between` hook (`pgjax.runs.chunked.Between`) that runs a
    selection every `options.interval` updates (see the module docstring). The state must have
    `key` and `hyperparams` fields (every control algorithm's state does)."""

    def __init__(self, algorithm, config, num_runs: int, run_options, options: PBTOptions):
        options.validate(num_runs)
        if algorithm.target_metric is None:
            raise ConfigError(f"{algorithm.name} has no evaluation return to select members by.")
        self.options, self.num_runs, self.total = options, num_runs, config.num_updates
        self.evaluator = RunEvaluator(
            algorithm, config, num_runs, options.episodes, envs_devices=run_options.envs_devices
        )
        self._copy = None

    def prepare(self, state) -> None:
        if not hasattr(state, "hyperparams") or not hasattr(state, "key"):
            raise ConfigError(
                "population-based training needs a state with `key` and `hyperparams` fields."
            )
        self.evaluator.compile(state)
        shardings = jax.tree.map(lambda x: x.sharding, state)

        def copy(state, parents, hyperparams, copied):
            chosen = jax.tree.map(lambda x: x[parents], state)
            folded = jax.vmap(jax.random.fold_in)(chosen.key, jnp.arange(parents.shape[0]))
            data = jnp.where(
                copied.reshape((-1,) + (1,) * (jax.random.key_data(folded).ndim - 1)),
                jax.random.key_data(folded),
                jax.random.key_data(chosen.key),
            )
            key = jax.random.wrap_key_data(data, impl=jax.random.key_impl(chosen.key))
            hyperparams = {k: v.astype(chosen.hyperparams[k].dtype) for k, v in hyperparams.items()}
            return chosen._replace(key=key, hyperparams=hyperparams)

        hp = {k: np.zeros(self.num_runs, np.float32) for k in state.hyperparams}
        self._copy = (
            jax.jit(copy, out_shardings=shardings)
            .lower(state, np.zeros(self.num_runs, np.int32), hp, np.zeros(self.num_runs, bool))
            .compile()
        )

    def next_boundary(self, done: int) -> int:
        return (done // self.options.interval + 1) * self.options.interval

    def metric_names(self) -> list[str]:
        return ["pbt_parent", *(f"hp_{name}" for name in sorted(self.options.ranges))]

    def __call__(self, state, first: int, after: int):
        count = after - first
        current = {k: np.asarray(v) for k, v in distributed.fetch(state.hyperparams).items()}
        members = np.arange(self.num_runs, dtype=np.float64)
        parents = np.broadcast_to(members[:, None], (self.num_runs, count)).copy()
        metrics = {
            f"hp_{name}": np.broadcast_to(
                current[name].astype(np.float64)[:, None], (self.num_runs, count)
            )
            for name in sorted(self.options.ranges)
        }
        if after % self.options.interval == 0 and after < self.total:
            fitness = self.evaluator(state, after)[self.evaluator.algorithm.target_metric]
            chosen, new = select(fitness.mean(axis=1), current, self.options, after)
            copied = chosen != np.arange(self.num_runs)
            state = self._copy(state, chosen.astype(np.int32), new, copied)
            parents[:, -1] = chosen
        return state, {"pbt_parent": parents, **metrics}
