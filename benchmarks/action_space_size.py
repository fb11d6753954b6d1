"""Action-space size: DQN over k^d joint actions against policy gradients with O(d) outputs, as
the number of action dimensions d grows (issue 26, measurement 4).

The task is the d-dimensional point mass of `pgjax.envs.point_mass` (reach a random goal in
[−1, 1]^d; reward −RMS distance per dimension, 50 steps, solved at a return of −6 whatever d).
PPO (diagonal Gaussian, 2d outputs) and SAC (tanh-Gaussian, 2d outputs) act in [−1, 1]^d;
DQN acts on its twin with k = `BINS` = 3 values per dimension, 3^d joint actions, so its
Q-network's output layer has (64 + 1) · 3^d parameters and every action it takes, and every
target it computes, is a max over 3^d values.

**Learning** (`DIMENSIONS`): every algorithm runs the settings of `ALGORITHMS` on each d,
`SEEDS` seeds vmapped in one program split across the JAX devices
(`benchmarks.common.train_seeds_with_curves`, as `benchmarks.pg_vs_q`), evaluated `EVALUATIONS`
times on 10 episodes of the deterministic policy. A seed's steps to threshold is the
environment steps at its first evaluation of mean return ≥ −6. Time per update is the run's
time (compile excluded, evaluations included) over its updates, for all seeds at once; the
memory is the peak XLA's buffer assignment reports for that whole compiled program (16 seeds,
replay buffers included).

**One update, beyond what can be trained here** (`UPDATE_DIMENSIONS`): DQN's update alone
(`jax.vmap` of `pgjax.algorithms.dqn.update` over the seeds) compiled from abstract shapes
(`jax.eval_shape`, nothing allocated), its peak memory read from the compiled program, and
timed (compile apart, median of `REPEATS` calls) when that peak is under `MAX_RUN_BYTES`; PPO's
and SAC's update at the smallest and largest d for comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAME = "action_space_size"
BINS = 3
SOLVED = -6.0  # pgjax.envs.point_mass.SOLVED_RETURN (not imported: it would load JAX)
SEEDS, QUICK_SEEDS, SMOKE_SEEDS = 16, 4, 2
EVALUATIONS, QUICK_EVALUATIONS, SMOKE_EVALUATIONS = 25, 10, 2
EPISODES = 10
DIMENSIONS, QUICK_DIMENSIONS, SMOKE_DIMENSIONS = (1, 2, 4, 6), (1, 4), (1,)
# DQN's update at each of these d, PPO's and SAC's at the first and last.
UPDATE_DIMENSIONS, SMOKE_UPDATE_DIMENSIONS = (1, 4, 6, 8, 10, 12), (1, 2)
REPEATS = 5
MAX_RUN_BYTES = 4 * 2**30  # run an update program only if its peak fits comfortably here
HIDDEN = (64, 64)
GAMMA = 0.95  # 50-step episodes with a dense reward: a short horizon suffices

# (label, algorithm, discrete actions, overrides): one setting for every d, none tuned per d.
ALGORITHMS = (
    (
        "DQN",
        "dqn",
        True,
        {
            "total_steps": 30_000,
            "num_envs": 4,
            "num_steps": 4,
            "gradient_steps": 4,
            "batch_size": 64,
            "buffer_size": 30_000,
            "learning_starts": 1_000,
            "target_update_every": 250,
            "learning_rate": 1e-3,
            "exploration_fraction": 0.2,
            "epsilon_end": 0.05,
        },
    ),
    (
        "PPO",
        "ppo",
        False,
        {
            "total_steps": 50_000,
            "num_envs": 8,
            "num_steps": 32,
            "num_epochs": 10,
            "num_minibatches": 4,
            "learning_rate": 1e-3,
            "entropy_coef": 0.0,
        },
    ),
    (
        "SAC",
        "sac",
        False,
        {
            "total_steps": 12_000,
            "num_envs": 4,
            "gradient_steps": 1,
            "batch_size": 128,
            "learning_rate": 1e-3,
            "initial_temperature": 0.1,
        },
    ),
)


def env_id(dim: int, discrete: bool) -> str:
    """The point-mass id an algorithm trains on: k^d joint actions for DQN, [−1, 1]^d else."""
    return f"PointMass-d{dim}-k{BINS}-pgjax" if discrete else f"PointMass-d{dim}-pgjax"


def settings(overrides: dict, *, quick: bool = False, smoke: bool = False) -> dict:
    """An algorithm's overrides with the shared network and discount, at the size asked for:
    a quarter of the budget (quick) or a handful of updates (smoke)."""
    fixed = {**overrides, "hidden_sizes": HIDDEN, "gamma": GAMMA}
    if smoke:  # two updates per evaluation, learning from the second update on (off-policy)
        per_update = fixed["num_envs"] * fixed.get("num_steps", 1)
        fixed["total_steps"] = 2 * per_update * SMOKE_EVALUATIONS
        if "gradient_steps" in fixed:
            fixed["learning_starts"] = per_update
    elif quick:
        fixed["total_steps"] //= 4
    return fixed


def output_parameters(label: str, dim: int) -> int:
    """Parameters of the layer that outputs the actions: DQN's k^d Q-values, PPO's d means
    (and d state-independent log σ), SAC's d means and d log σ."""
    width = HIDDEN[-1] + 1
    if label == "DQN":
        return width * BINS**dim
    if label == "PPO":
        return width * dim + dim
    return width * 2 * dim


def measure_learning(dimensions, seeds: int, evaluations: int, quick: bool, smoke: bool) -> dict:
    """Every (algorithm, d): `benchmarks.common.train_seeds_with_curves`' run."""
    from benchmarks.common import train_seeds_with_curves

    runs = {}
    for dim in dimensions:
        for label, name, discrete, overrides in ALGORITHMS:
            run = train_seeds_with_curves(
                name,
                env_id(dim, discrete),
                settings(overrides, quick=quick, smoke=smoke),
                seeds,
                evaluations,
                EPISODES,
            )
            config = run.pop("config")
            run["config"] = config.to_dict()
            run["updates"] = config.num_updates
            run["steps_per_update"] = config.steps_per_update
            runs[f"{label}/d{dim}"] = run
            print(
                f"  {label} d={dim}: compile {run['compile_s']:.1f} s, run {run['run_s']:.1f} s",
                flush=True,
            )
    return runs


def measure_update(
    label: str, name: str, discrete: bool, overrides: dict, dim: int, seeds: int, limit: int
):
    """One update of `seeds` vmapped runs: compiled from abstract shapes, its memory, and its
    median time when its peak is at most `limit` bytes (`update_s` None otherwise)."""
    import statistics

    import jax

    from benchmarks.common import Timer, compiled_memory
    from pgjax.runs import registry

    algorithm = registry.get(name)
    config = algorithm.config_class.for_env(env_id(dim, discrete), **overrides)
    config.validate()
    keys = jax.random.split(jax.random.key(0), seeds)
    init = jax.jit(jax.vmap(lambda key: algorithm.init(config, key)))
    update = jax.jit(jax.vmap(lambda state: algorithm.update(config, state)[0]))
    with Timer() as compiling:
        compiled = update.lower(jax.eval_shape(init, keys)).compile()
    memory = compiled_memory(compiled)
    entry = {
        "label": label,
        "dim": dim,
        "output_parameters": output_parameters(label, dim),
        "compile_s": compiling.seconds,
        "memory": memory,
        "update_s": None,
    }
    if memory is not None and memory["peak"] > limit:
        return entry
    state = jax.block_until_ready(compiled(init(keys)))  # the warm-up call
    times = []
    for _ in range(REPEATS):
        with Timer() as timer:
            state = jax.block_until_ready(compiled(state))
        times.append(timer.seconds)
    entry["update_s"] = statistics.median(times)
    return entry


def measure_updates(dimensions, seeds: int, smoke: bool) -> list[dict]:
    """DQN's update at every d of `dimensions`, PPO's and SAC's at the first and last (smoke:
    PPO's and SAC's at the first only, and DQN's last compiled but not run, as a program over
    `MAX_RUN_BYTES` would be)."""
    entries = []
    for label, name, discrete, overrides in ALGORITHMS:
        dims = dimensions if discrete else sorted({dimensions[0], dimensions[-1]})
        for dim in dims[:1] if smoke and not discrete else dims:
            limit = 0 if smoke and dim == dims[-1] else MAX_RUN_BYTES
            entry = measure_update(
                label, name, discrete, settings(overrides, smoke=smoke), dim, seeds, limit
            )
            entries.append(entry)
            shown = "—" if entry["update_s"] is None else f"{entry['update_s'] * 1e3:.1f} ms"
            print(f"  update {label} d={dim}: {shown}", flush=True)
    return entries


def _bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def summarise(run: dict) -> dict:
    """Steps to the threshold per seed (inf: never), their quartiles, time per update."""
    from benchmarks.pg_vs_q import first_reach, quartiles

    index = first_reach(np.asarray(run["curves"]), SOLVED)
    grid = np.asarray(run["evaluation_steps"])
    steps = np.where(index >= 0, grid[np.maximum(index, 0)], np.inf)
    return {
        "reached": int((index >= 0).sum()),
        "seeds": int(index.size),
        "steps": quartiles(steps),
        "budget": int(grid[-1]),
        "update_s": run["run_s"] / run["updates"],
        "final_return": float(np.median(np.asarray(run["curves"])[:, -1])),
    }


def _steps(x: float) -> str:
    if not np.isfinite(x):
        return "> budget"
    return f"{x / 1000:.1f}k"


def learning_table(runs: dict, summaries: dict, dimensions) -> str:
    from benchmarks.common import format_seconds, markdown_table

    rows = []
    for dim in dimensions:
        for label, _, discrete, _ in ALGORITHMS:
            key = f"{label}/d{dim}"
            run, s = runs[key], summaries[key]
            median, low, high = s["steps"]
            actions = f"{BINS**dim:,} joint" if discrete else f"[−1, 1]^{dim}"
            rows.append(
                [
                    str(dim),
                    label,
                    actions,
                    f"{output_parameters(label, dim):,}",
                    f"{s['reached']}/{s['seeds']}",
                    f"{_steps(median)} [{_steps(low)}, {_steps(high)}]",
                    _steps(s["budget"]),
                    f"{s['final_return']:.1f}",
                    format_seconds(s["update_s"]),
                    format_seconds(run["compile_s"]),
                    _bytes((run.get("memory") or {}).get("peak")),
                ]
            )
    return markdown_table(
        [
            "d",
            "algorithm",
            "actions",
            "output-layer parameters",
            "reached",
            "env steps to −6, median [IQR]",
            "budget",
            "final return (median)",
            "time per update",
            "compile",
            "peak memory (program)",
        ],
        rows,
        align="rllrrrrrrrr",
    )


def update_table(entries: list[dict]) -> str:
    from benchmarks.common import format_seconds, markdown_table

    rows = []
    for e in entries:
        actions = f"{BINS ** e['dim']:,}" if e["label"] == "DQN" else f"[−1, 1]^{e['dim']}"
        memory = e["memory"] or {}
        time = format_seconds(e["update_s"]) if e["update_s"] is not None else "not run"
        rows.append(
            [
                e["label"],
                str(e["dim"]),
                actions,
                f"{e['output_parameters']:,}",
                _bytes(memory.get("peak")),
                _bytes(memory.get("argument")),
                time,
                format_seconds(e["compile_s"]),
            ]
        )
    return markdown_table(
        [
            "algorithm",
            "d",
            "actions",
            "output-layer parameters",
            "peak memory (one update)",
            "of which the state",
            "time per update",
            "compile",
        ],
        rows,
        align="lrlrrrrr",
    )


def plot(runs: dict, summaries: dict, entries: list[dict], dimensions, seeds: int, path: Path):
    """Steps to threshold, time per update and memory against d, log scales."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (steps_axis, time_axis, memory_axis) = plt.subplots(1, 3, figsize=(15, 4.2))
    for label, _, _, _ in ALGORITHMS:
        keys = [f"{label}/d{dim}" for dim in dimensions]
        median = np.array([summaries[k]["steps"][0] for k in keys])
        low = np.array([summaries[k]["steps"][1] for k in keys])
        high = np.array([summaries[k]["steps"][2] for k in keys])
        budget = np.array([summaries[k]["budget"] for k in keys], float)
        shown = np.where(np.isfinite(median), median, budget)
        low, high = (
            np.where(np.isfinite(low), low, budget),
            np.where(np.isfinite(high), high, budget),
        )
        (line,) = steps_axis.plot(dimensions, shown, "o-", label=label)
        steps_axis.fill_between(dimensions, low, high, alpha=0.2, color=line.get_color())
        over = ~np.isfinite(median)
        if over.any():  # the median seed never reached it: drawn at the budget, hollow
            for dim, top in zip(np.asarray(dimensions)[over], budget[over], strict=True):
                steps_axis.plot(dim, top, "^", mfc="white", color=line.get_color())
                steps_axis.annotate(
                    f"{label}: > {_steps(top)} budget",
                    (dim, top),
                    textcoords="offset points",
                    xytext=(-10, -14),
                    ha="right",
                    fontsize=7,
                    color=line.get_color(),
                )
        time_axis.plot(
            dimensions, [summaries[k]["update_s"] for k in keys], "o-", label=f"{label}, training"
        )
        ups = [e for e in entries if e["label"] == label and e["update_s"] is not None]
        if ups:
            time_axis.plot(
                [e["dim"] for e in ups],
                [e["update_s"] for e in ups],
                "x--",
                color=line.get_color(),
                label=f"{label}, one update alone",
            )
        mine = [e for e in entries if e["label"] == label and e["memory"]]
        if mine:
            memory_axis.plot(
                [e["dim"] for e in mine],
                [e["memory"]["peak"] / 2**20 for e in mine],
                "o-",
                color=line.get_color(),
                label=f"{label}: peak of one update",
            )
    dqn = [e for e in entries if e["label"] == "DQN"]
    memory_axis.plot(
        [e["dim"] for e in dqn],
        [e["output_parameters"] * 4 * seeds / 2**20 for e in dqn],
        ":",
        color="grey",
        label=f"DQN output layer × {seeds} seeds (float32)",
    )
    steps_axis.set_ylabel(f"env steps to a return of {SOLVED:g} (median, IQR)")
    time_axis.set_ylabel(f"seconds per update ({seeds} seeds vmapped)")
    memory_axis.set_ylabel("MiB")
    for axis in (steps_axis, time_axis, memory_axis):
        axis.set_yscale("log")
        axis.set_xlabel("action dimensions d")
        axis.legend(fontsize=7)
    fig.suptitle(f"Point mass in d dimensions: DQN over {BINS}^d actions vs PPO and SAC")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bottleneck(summaries: dict, entries: list[dict], dimensions) -> str:
    """Where DQN's max over actions becomes the bottleneck, in the order it bites: learning
    (the first d at which DQN's median seed misses the threshold within its budget), compute
    (the first d at which one DQN update outlasts PPO's and SAC's at the largest d), memory
    (the first d whose update was not run for its peak)."""
    parts = []
    learned = [d for d in dimensions if np.isfinite(summaries[f"DQN/d{d}"]["steps"][0])]
    missed = [d for d in dimensions if d not in learned]
    if learned:
        d = max(learned)
        cells = ", ".join(
            f"{label} {_steps(summaries[f'{label}/d{d}']['steps'][0])}"
            for label, _, _, _ in ALGORITHMS
        )
        parts.append(f"up to d = {d} ({BINS**d:,} actions) DQN reaches the goal ({cells})")
    if missed:
        s = summaries[f"DQN/d{missed[0]}"]
        parts.append(
            f"at d = {missed[0]} ({BINS ** missed[0]:,} actions) {s['reached']} of its "
            f"{s['seeds']} seeds do within {_steps(s['budget'])} steps (median final return "
            f"{s['final_return']:.1f}): learning is the first bottleneck"
        )
    timed = {e["dim"]: e for e in entries if e["label"] == "DQN" and e["update_s"] is not None}
    others = [
        e
        for e in entries
        if e["label"] != "DQN"
        and e["update_s"] is not None
        and e["dim"] == max(x["dim"] for x in entries if x["label"] == e["label"])
    ]
    if timed and others:
        slowest = max(others, key=lambda e: e["update_s"])
        over = [d for d in sorted(timed) if timed[d]["update_s"] > slowest["update_s"]]
        if over:
            times = ", ".join(f"{timed[d]['update_s']:.3g} s at d = {d}" for d in over)
            parts.append(
                f"compute: one DQN update of {SEEDS} seeds takes {times}, longer than "
                f"{slowest['label']}'s at d = {slowest['dim']} ({slowest['update_s']:.3g} s)"
            )
    unrun = [e for e in entries if e["label"] == "DQN" and e["update_s"] is None and e["memory"]]
    if unrun:
        e = unrun[0]
        parts.append(
            f"memory: at d = {e['dim']} ({BINS ** e['dim']:,} actions) one update needs "
            f"{_bytes(e['memory']['peak'])}, its state alone {_bytes(e['memory']['argument'])} "
            f"(not run: over the {_bytes(MAX_RUN_BYTES)} this benchmark allows itself)"
        )
    return "; ".join(parts)


def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
    import jax

    out_dir = Path(out_dir or Path(__file__).resolve().parent / "out")
    seeds = SMOKE_SEEDS if smoke else QUICK_SEEDS if quick else SEEDS
    evaluations = SMOKE_EVALUATIONS if smoke else QUICK_EVALUATIONS if quick else EVALUATIONS
    dimensions = SMOKE_DIMENSIONS if smoke else QUICK_DIMENSIONS if quick else DIMENSIONS
    update_dimensions = SMOKE_UPDATE_DIMENSIONS if smoke else UPDATE_DIMENSIONS
    runs = measure_learning(dimensions, seeds, evaluations, quick, smoke)
    entries = measure_updates(update_dimensions, seeds, smoke)
    return report(runs, entries, out_dir / f"{NAME}-{jax.default_backend()}.png")


def report(runs: dict, entries: list[dict], figure: Path) -> dict:
    """The table, headline, notes and figure of `measure_learning`'s runs and
    `measure_updates`' entries (also rebuilt from a saved JSON's `data`: its `learning` and
    `updates`)."""
    from benchmarks.common import result

    dimensions = sorted({int(key.partition("/d")[2]) for key in runs})
    first = next(iter(runs.values()))
    seeds, evaluations = len(first["curves"]), len(first["evaluation_steps"])
    summaries = {key: summarise(run) for key, run in runs.items()}
    plot(runs, summaries, entries, dimensions, seeds, figure)
    found = bottleneck(summaries, entries, dimensions)
    cells = []
    for dim in dimensions[-2:]:
        steps = []
        for label, _, _, _ in ALGORITHMS:
            s = summaries[f"{label}/d{dim}"]
            shown = _steps(s["steps"][0])
            if not np.isfinite(s["steps"][0]):
                shown = f"{s['reached']}/{s['seeds']} within {_steps(s['budget'])}"
            steps.append(f"{label} {shown}")
        cells.append(f"d = {dim} (DQN: {BINS**dim:,} actions): " + ", ".join(steps))
    beyond = [
        e for e in entries if e["label"] == "DQN" and e["dim"] > dimensions[-1] and e["memory"]
    ]
    costs = [
        f"{e['update_s']:.3g} s at d = {e['dim']}"
        if e["update_s"] is not None
        else f"{_bytes(e['memory']['peak'])} at d = {e['dim']}"
        for e in beyond
    ]
    headline = (
        f"Point mass in d dimensions, DQN over {BINS}^d joint actions vs PPO and SAC, env steps "
        f"to the goal (median of {seeds} seeds): "
        + "; ".join(cells)
        + (f"; one DQN update of {seeds} seeds: " + ", ".join(costs) if costs else "")
    )
    notes = (
        f"Task: `PointMass-d{{d}}-pgjax` (DQN: `PointMass-d{{d}}-k{BINS}-pgjax`), "
        f"threshold {SOLVED:g}; a random policy returns about −30, one moving straight to the "
        f"goal −1.4 to −3.2 (`pgjax.envs.point_mass`). {seeds} seeds per row vmapped in one "
        f"program, evaluated every 1/{evaluations} of the budget ({EPISODES} episodes, "
        "deterministic policy); seeds that never reached the threshold count as above the "
        "budget. One setting per algorithm for every d (64×64 MLPs, γ = 0.95): DQN 4 envs × 4 "
        "steps, 4 gradient steps of 64, target every 250, a 30k buffer; PPO 8 envs × 32 "
        "steps, 10 epochs × 4 minibatches; SAC 4 envs, one gradient step of 128, α₀ = 0.1, a "
        "100k buffer. Budgets: DQN 30k, PPO 50k, SAC 12k env steps per seed (cut to fit the "
        "run into about 25 minutes). Time per update (learning table) = run time / updates, "
        "evaluations included, all seeds at once; an update is 16 env steps for DQN, 256 for "
        "PPO, 4 for SAC, so compare the times within an algorithm across d. The machine was "
        "shared (load average 5-10 during the run): times within ±30% of each other are not "
        "different. Peak memory: XLA's buffer assignment for the whole compiled program "
        "(learning) or one update (second table), `memory_analysis()`.\n\n"
        f"**One update of {seeds} vmapped seeds**, compiled from abstract shapes; timed when "
        f"its peak is under {_bytes(MAX_RUN_BYTES)}. The state is passed in and returned, not "
        "donated, so the time includes copying it (SAC's is mostly its replay buffer):\n\n"
        + update_table(entries)
        + (f"\n\n**Where the max over actions becomes the bottleneck:** {found}." if found else "")
    )
    data = {
        "learning": {k: {**runs[k], **summaries[k]} for k in runs},
        "updates": entries,
        "bins": BINS,
        "threshold": SOLVED,
    }
    return result(
        NAME,
        learning_table(runs, summaries, dimensions),
        data,
        title="Action-space size: DQN over k^d joint actions vs PPO and SAC",
        notes=notes,
        headline=headline,
        files=[figure],
    )
