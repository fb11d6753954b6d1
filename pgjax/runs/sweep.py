"""Hyperparameter sweeps: every configuration × seed of a search trained by one compiled
program, through the run layer's resumable session, then ranked.

    from pgjax import runs
    from pgjax.runs import sweep

    plan = sweep.plan(config, grid={"clip_eps": [0.1, 0.2]}, random=8, seeds=[0, 1, 2, 3])
    result = sweep.run(PPO, config, plan, "runs/sweep")         # 16 × 4 runs, one program
    rows = sweep.summarize("runs/sweep", final_returns)        # sweep.md, sweep.csv, best.json

A sweep is one run of the run layer whose runs are the configurations × seeds: run
`c · K + k` trains configuration c with seed `seeds[k]` (every configuration sees the same
seeds, so configurations are compared on common random numbers), its hyperparameters given as
arrays of one value per run (`pgjax.runs.run(..., hyperparams=...)`). config.json records the
plan under "sweep", so `pgjax resume` continues a sweep like any run and rewrites its table.

How the configurations are drawn:

* `grid`: the Cartesian product of the given values (each axis at least two distinct values);
* `random`: N draws of every hyperparameter with a bounded search range (its field's `search`
  metadata, else its valid range when both ends are inclusive bounds, or a `ranges` entry),
  log-uniform when the range is positive and spans at least 10x, uniform otherwise; the names
  in `held` (set by the user) and the grid's are not drawn. With both, every draw is crossed
  with every grid point.

Static fields (network sizes, numbers of environments, rollout lengths) fix the program's
shape, and a sweep is one program: a grid or range over one is refused, naming the option that
sets it for the whole sweep. Run one sweep per static setting.

With `pbt` (`pgjax.runs.pbt`), the configurations are the initial population of
population-based training: the members' hyperparameters change during the run, and the table
ranks the members by their final hyperparameters.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
from pathlib import Path

import numpy as np

from pgjax.runs import rundir
from pgjax.training.config import Config, ConfigError

SWEEP_FILES = ("sweep.md", "sweep.csv", "best.json", "sweep.png")

# Returns an environment counts as solved at (`threshold` default), for the tables' column of
# environment steps to a threshold: gymnasium's `reward_threshold` where it has one.
SOLVED_AT = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0}


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """What a sweep trains.

    Attributes:
      names: the swept hyperparameters.
      configurations: one `{name: value}` per configuration (float32 values).
      seeds: every configuration's seeds.
      threshold: the return whose first crossing the table reports (None: no such column).
      search: how the configurations were drawn (grid, random, ranges, sample seed).
      pbt: population-based training's options (`pgjax.runs.pbt.PBTOptions` as a dict), or
        None for a plain search.
    """

    names: tuple[str, ...]
    configurations: tuple[dict, ...]
    seeds: tuple[int, ...]
    threshold: float | None = None
    search: dict = dataclasses.field(default_factory=dict)
    pbt: dict | None = None

    @property
    def num_runs(self) -> int:
        return len(self.configurations) * len(self.seeds)

    def run_seeds(self) -> list[int]:
        """Run `c · K + k`'s seed: `seeds[k]`."""
        return [seed for _ in self.configurations for seed in self.seeds]

    def hyperparams(self) -> dict[str, np.ndarray]:
        """`{name: [num_runs] float32}`, each configuration's values repeated over its seeds."""
        k = len(self.seeds)
        return {
            name: np.repeat(np.asarray([c[name] for c in self.configurations], np.float32), k)
            for name in self.names
        }

    def to_record(self) -> dict:
        return {
            "names": list(self.names),
            "configurations": [dict(c) for c in self.configurations],
            "seeds": list(self.seeds),
            "threshold": self.threshold,
            "search": self.search,
            "pbt": self.pbt,
        }

    @classmethod
    def from_record(cls, record: dict) -> SweepPlan:
        return cls(
            tuple(record["names"]),
            tuple(dict(c) for c in record["configurations"]),
            tuple(record["seeds"]),
            record.get("threshold"),
            dict(record.get("search") or {}),
            record.get("pbt"),
        )


# ---------------------------------------------------------------------------- planning


def _fields(config: Config) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(config)}


def _check_name(config: Config, name: str, what: str) -> None:
    """ConfigError for a name that is not a hyperparameter of the config (a static field says
    why it cannot be swept)."""
    fields = _fields(config)
    if name in fields and not fields[name].metadata.get("traced"):
        option = "--" + name.replace("_", "-")
        raise ConfigError(
            f"{what} {name}: {name} is a static setting (it fixes the compiled program's "
            f"shape) and a sweep is one program; set it for the whole sweep ({option} VALUE) "
            "and run one sweep per value.",
            name,
        )
    if name not in fields:
        known = ", ".join(config.hyperparameter_names())
        raise ConfigError(
            f"{what} {name}: {type(config).__name__} has no hyperparameter {name!r}; it has "
            f"{known}.",
            name,
        )
    reason = config.ignored(name)
    if reason:
        raise ConfigError(f"{what} {name}: {reason}", name)


def _check_values(config: Config, name: str, values, what: str) -> None:
    try:
        config.resolve({name: np.asarray(values, np.float64)})
    except ConfigError as error:
        raise ConfigError(f"{what} {name}: {error}", name) from None


def search_range(config: Config, name: str) -> tuple[float, float] | None:
    """The interval a random search draws `name` from: its field's `search` metadata, else its
    valid range when both ends are inclusive bounds, else None (an explicit range is needed)."""
    meta = _fields(config)[name].metadata
    if meta.get("search") is not None:
        return tuple(float(v) for v in meta["search"])
    if meta.get("at_least") is not None and meta.get("at_most") is not None:
        return float(meta["at_least"]), float(meta["at_most"])
    return None


def log_uniform(low: float, high: float) -> bool:
    """Whether a search draws from [low, high] log-uniformly: positive and spanning ≥ 10x."""
    return low > 0 and high / low >= 10


def _draw(rng: np.random.Generator, low: float, high: float) -> float:
    if log_uniform(low, high):
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return float(np.float32(min(max(value, low), high)))


def plan(
    config: Config,
    *,
    seeds: list[int],
    grid: dict[str, list[float]] | None = None,
    random: int = 0,
    ranges: dict[str, tuple[float, float]] | None = None,
    held: tuple[str, ...] = (),
    sample_seed: int = 0,
    threshold: float | None = None,
    pbt: dict | None = None,
) -> SweepPlan:
    """The configurations of a sweep (see the module docstring); ConfigError, naming the
    option, for anything that cannot be swept, before anything compiles.

    Args:
      grid: name ↦ values, each axis at least two distinct values in the field's range.
      random: draws of the random search (0: none).
      ranges: name ↦ (low, high) a random search draws from instead of the declared one.
      held: hyperparameters the random search leaves at the config's value (those the user set).
      sample_seed: the random search's own seed (not the training seeds).
      threshold: the return whose first crossing the table reports.
      pbt: population-based training's options (a dict of `PBTOptions`' fields).
    """
    grid, ranges = dict(grid or {}), dict(ranges or {})
    if not isinstance(random, int) or random < 0:
        raise ConfigError(f"--random must be an int >= 0, got {random!r}.", "random")
    for name, values in grid.items():
        _check_name(config, name, "--grid")
        distinct = sorted({float(np.float32(v)) for v in values})
        if len(distinct) < 2:
            raise ConfigError(
                f"--grid {name}: a grid axis needs at least two distinct values, got "
                f"{list(values)}; set a single value with --{name.replace('_', '-')}.",
                name,
            )
        _check_values(config, name, values, "--grid")
    for name, bounds in ranges.items():
        _check_name(config, name, "--range")
        low, high = bounds
        if not low < high:
            raise ConfigError(f"--range {name}: low must be < high, got {low}, {high}.", name)
        if name in grid:
            raise ConfigError(f"--range {name}: {name} is already a --grid axis.", name)
        _check_values(config, name, [low, high], "--range")
    if ranges and not random:
        raise ConfigError("--range applies to a random search: add --random N.", "random")
    drawn = []
    if random:
        # A hyperparameter this configuration ignores (GAE λ of n-step A2C) is not drawn: it
        # would spread the table over a setting that does nothing, and best.json could not run.
        candidates = [
            n
            for n in config.hyperparameter_names()
            if n not in grid and n not in held and not config.ignored(n)
        ]
        bounds = {n: ranges.get(n) or search_range(config, n) for n in candidates}
        drawn = [n for n in candidates if bounds[n] is not None]
        if not drawn:
            raise ConfigError(
                "--random: no hyperparameter left to draw (every one is held, on the grid or "
                "has an open range: give --range NAME=LOW,HIGH).",
                "random",
            )
    names = tuple(grid) + tuple(drawn)
    points = [dict(zip(grid, p, strict=True)) for p in itertools.product(*grid.values())]
    if random:
        rng = np.random.default_rng(sample_seed)
        draws = [{n: _draw(rng, *bounds[n]) for n in drawn} for _ in range(random)]
        points = [{**p, **d} for d in draws for p in points]
    configurations = tuple(
        {n: float(np.float32(p[n])) for n in names} for p in points
    )  # float32 values, which the program trains with and best.json repeats exactly
    if not configurations or not names:
        raise ConfigError("A sweep needs --grid NAME=V1,V2,... and/or --random N.", "random")
    if len({tuple(c.values()) for c in configurations}) != len(configurations):
        raise ConfigError("The sweep's configurations are not all distinct.", "random")
    search = {
        "grid": {n: [float(v) for v in vs] for n, vs in grid.items()},
        "random": random,
        "drawn": list(drawn),
        "ranges": {n: ranges.get(n) or search_range(config, n) for n in drawn},
        "sample_seed": sample_seed,
    }
    if pbt is not None:
        from pgjax.runs.pbt import PBTOptions

        # Population-based training perturbs every swept hyperparameter within its search
        # range (a grid axis: its range when it has one, else the grid's span).
        spans = {n: [min(vs), max(vs)] for n, vs in search["grid"].items()}
        bounds = {**{n: search_range(config, n) or spans[n] for n in grid}, **search["ranges"]}
        pbt = {**pbt, "ranges": {n: [float(v) for v in bounds[n]] for n in names}}
        PBTOptions(**pbt).validate(len(configurations) * len(seeds), names)
    return SweepPlan(names, configurations, tuple(seeds), threshold, search, pbt)


def default_threshold(env_id: str) -> float | None:
    """The return `env_id` counts as solved at, when known (`SOLVED_AT`)."""
    return SOLVED_AT.get(env_id)


# ---------------------------------------------------------------------------- running


def run(
    algorithm,
    config: Config,
    sweep: SweepPlan,
    run_dir: str | Path,
    *,
    options=None,
    overwrite: bool = False,
    progress=None,
):
    """Trains every configuration × seed of `sweep` in one compiled program (the run layer's
    session: resumable, checkpointed, split across devices and processes). TensorBoard event
    files are not written (one per run of a large sweep helps no one). Returns the
    `RunResult`; `summarize` ranks it."""
    from pgjax.runs.api import engine_for
    from pgjax.runs.options import RunOptions
    from pgjax.runs.record import new_run
    from pgjax.runs.session import Session

    options = dataclasses.replace(options or RunOptions(), tensorboard=False)
    record = new_run(
        algorithm,
        config,
        sweep.run_seeds(),
        run_dir,
        sweep.hyperparams(),
        options,
        overwrite,
        sweep=sweep.to_record(),
    )
    engine = engine_for(algorithm, config, record, options)
    return Session(algorithm, config, record, run_dir, options, engine, progress).run(False)


# ---------------------------------------------------------------------------- the table


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """(median, first quartile, third quartile); infinities count (an unreached threshold)."""
    # Interpolating towards an infinity gives NaN; a huge finite stand-in gives a huge value.
    finite = np.where(np.isposinf(values), 1e300, values)
    q1, median, q3 = np.percentile(finite, [25, 50, 75], method="linear")
    return tuple(float(q) if q < 1e299 else math.inf for q in (median, q1, q3))


def steps_to_threshold(metrics: dict[str, np.ndarray], threshold: float) -> np.ndarray:
    """Per run, the environment steps after the first update whose training episode return
    (the mean over the episodes that ended in it) reached `threshold`; inf when none did."""
    returns, steps = metrics["episode_return"], metrics["env_steps"]
    with np.errstate(invalid="ignore"):
        reached = np.nan_to_num(returns, nan=-np.inf) >= threshold
    first = np.argmax(reached, axis=1)
    return np.where(reached.any(axis=1), steps[np.arange(len(steps)), first], np.inf)


def rank(
    sweep: SweepPlan,
    final_returns: np.ndarray,
    metrics: dict[str, np.ndarray],
    configurations: list[dict] | None = None,
) -> list[dict]:
    """The table's rows, best first: per configuration the median and interquartile range
    over its seeds of the final return and of the steps to the threshold, ranked by median
    return, then by median steps.

    Args:
      final_returns: `[num_runs]` each run's final deterministic evaluation return.
      metrics: metrics.csv's columns `[num_runs, updates]` (`episode_return`, `env_steps`).
      configurations: the configurations to report per run group (population-based training:
        the members' final hyperparameters); default the plan's.
    """
    k = len(sweep.seeds)
    configurations = configurations or list(sweep.configurations)
    returns = np.asarray(final_returns, np.float64).reshape(-1, k)
    steps = None
    if sweep.threshold is not None and "episode_return" in metrics:
        steps = steps_to_threshold(metrics, sweep.threshold).reshape(-1, k)
    rows = []
    for c, values in enumerate(configurations):
        median, q1, q3 = _quartiles(returns[c])
        row = {"configuration": c, **values, "return_median": median, "return_iqr": q3 - q1}
        row["return_q1"], row["return_q3"] = q1, q3
        if steps is not None:
            s_median, s_q1, s_q3 = _quartiles(steps[c])
            row.update(
                steps_median=s_median,
                steps_iqr=s_q3 - s_q1 if math.isfinite(s_q3) else math.inf,
                reached=int(np.isfinite(steps[c]).sum()),
            )
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["return_median"], r.get("steps_median", 0.0)))


def format_number(value) -> str:
    """A table cell: an int as is, a float to 4 significant digits, inf as "not reached"."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "not reached" if value > 0 else "-inf"
    return f"{value:.4g}"


def table_markdown(sweep: SweepPlan, rows: list[dict], title: str) -> str:
    """sweep.md: the ranked table, one row per configuration."""
    k = len(sweep.seeds)
    columns = ["rank", "configuration", *sweep.names, "return median", "return IQR"]
    if sweep.threshold is not None:
        columns += [f"steps to {sweep.threshold:g} median", "steps IQR", f"reached (of {k})"]
    lines = [
        f"# {title}",
        "",
        f"{len(rows)} configurations × {k} seeds; final return: the deterministic policy's "
        "evaluation; steps to the threshold: the first update whose training episode return "
        "reached it. Median and interquartile range over the seeds.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for i, row in enumerate(rows, 1):
        cells = [str(i), str(row["configuration"])]
        cells += [f"{row[n]:.4g}" for n in sweep.names]
        cells += [format_number(row["return_median"]), format_number(row["return_iqr"])]
        if sweep.threshold is not None:
            cells += [format_number(row["steps_median"]), format_number(row["steps_iqr"])]
            cells.append(str(row["reached"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(sweep: SweepPlan, rows: list[dict]) -> str:
    """sweep.csv: the ranked table, every number at full precision."""
    columns = ["rank", "configuration", *sweep.names, "return_median", "return_iqr"]
    columns += ["return_q1", "return_q3"]
    if sweep.threshold is not None:
        columns += ["steps_median", "steps_iqr", "reached"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for i, row in enumerate(rows, 1):
        writer.writerow([i, *(repr(row[c]) for c in columns[1:])])
    return buffer.getvalue()


def best_record(algorithm_name: str, config: Config, sweep: SweepPlan, best: dict, run_dir) -> dict:
    """best.json: what `pgjax train ALGO --config best.json` reruns (the whole config, the best
    configuration's hyperparameters in it, and the sweep's seeds), and how it ranked."""
    fields = {**config.to_dict(), **{n: best[n] for n in sweep.names}}
    ranked = {k: v for k, v in best.items() if k not in sweep.names}
    return {
        "algorithm": algorithm_name,
        "env_id": config.environment,
        "config": fields,
        "seeds": list(sweep.seeds),
        "sweep": {
            "run_dir": str(run_dir),
            "threshold": sweep.threshold,
            "population_based": sweep.pbt is not None,
            **ranked,
        },
    }


def summarize(
    run_dir: str | Path,
    algorithm_name: str,
    config: Config,
    sweep: SweepPlan,
    final_returns: np.ndarray,
    configurations: list[dict] | None = None,
) -> list[dict]:
    """Ranks a finished sweep and writes sweep.md, sweep.csv and best.json into `run_dir`
    (process 0 only, atomically). Returns the rows, best first (see `rank`)."""
    from pgjax.runs import distributed

    metrics = rundir.MetricsLog(run_dir).read(sweep.num_runs)
    rows = rank(sweep, final_returns, metrics, configurations)
    if distributed.is_primary():
        run_dir = Path(run_dir)
        title = f"{algorithm_name.upper()} on {config.environment}: sweep"
        if sweep.pbt is not None:
            title += " (population-based training; final hyperparameters)"
        rundir.write_atomic(run_dir / "sweep.md", table_markdown(sweep, rows, title).encode())
        rundir.write_atomic(run_dir / "sweep.csv", table_csv(sweep, rows).encode())
        best = best_record(algorithm_name, config, sweep, rows[0], run_dir)
        rundir.write_json(run_dir / "best.json", best)
    return rows
