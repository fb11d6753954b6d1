"""Helpers every benchmark shares: timing, markdown tables, the machine's description, JSON.

The contract a benchmark module follows (what `python -m benchmarks.run` calls):

    def run(quick: bool = False, out_dir: Path | None = None, smoke: bool = False) -> dict:
        ...
        return result(NAME, table, data, notes=..., headline=..., files=[...])

`result(...)` builds the dict (`name`, `table`, `data`, and optional `title`, `notes`,
`headline`, `files`); `skipped(NAME, reason)` is what a benchmark returns when it cannot run
here (say, an optional dependency is missing). `out_dir` is where a benchmark may write files
such as plots (list them in `files`); `run.py` writes the JSON and `benchmarks/RESULTS.md`.

Three sizes: full (the published figures), `quick` (small budgets, minutes) and `smoke`: the
smallest setting that still goes through every code path of the benchmark (a tiny budget, one
repeat, one or two seeds, the fewest sizes and variants that reach each function), taking
seconds. `tests/benchmarks` runs every module's smoke setting, so a renamed or re-signed pgjax
API fails there instead of in the next full run. Smoke figures mean nothing: `run.py` never
records them. Without an optional extra (Stable-Baselines3, a PureJaxRL checkout) a smoke run
returns `skipped(...)` or leaves those rows out, as the other sizes do.

Timing on JAX: `time_compile_and_run(fn, *args)` keeps compilation (tracing, lowering and XLA
compilation, `jax.jit(fn).lower(*args).compile()`) apart from the steady-state run time, the
median of several calls of the compiled function, each ended by `jax.block_until_ready`.
Nothing here is CPU-specific: the same code times whatever device JAX selected (set
`JAX_PLATFORMS=cpu` or `cuda`, or `python -m benchmarks.run --platform ...`).
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Distributions whose versions `machine_info` records (None when not installed). Read from
# package metadata, so nothing heavy (torch) is imported just to describe the machine.
VERSIONED_PACKAGES = (
    "pgjax",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "chex",
    "gymnax",
    "brax",
    "rlax",
    "numpy",
    "torch",
    "stable-baselines3",
    "gymnasium",
)


class Timer:
    """Wall-clock timer: `with Timer() as t: ...` then `t.seconds`.

    It does not synchronise the device: end the timed block with `jax.block_until_ready`.
    """

    def __init__(self):
        self.start = math.nan
        self.seconds = math.nan

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self.start


@dataclasses.dataclass(frozen=True)
class Timing:
    """Compile time and steady-state run time of one jitted function, in seconds."""

    lower_s: float  # tracing and lowering to StableHLO
    compile_s: float  # everything before the first call: lowering + XLA compilation
    run_s: float  # median over `runs_s`
    runs_s: tuple[float, ...]  # every timed call (after the warm-up calls)
    output: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def min_s(self) -> float:
        return min(self.runs_s)

    def as_dict(self) -> dict:
        return {
            "lower_s": self.lower_s,
            "compile_s": self.compile_s,
            "run_s": self.run_s,
            "min_run_s": self.min_s,
            "runs_s": list(self.runs_s),
        }


def time_compile_and_run(
    fn: Callable, *args, repeats: int = 5, warmup: int = 1, **jit_kwargs
) -> Timing:
    """Times `fn(*args)` under `jax.jit`: compilation apart from the steady-state run.

    Args:
      fn: a function of arrays (or an already jitted one; `jit_kwargs` then must be empty).
      *args: its arguments; the compiled function is specialised to their shapes and dtypes.
      repeats: timed calls; `run_s` is their median.
      warmup: untimed calls of the compiled function before the timed ones.
      **jit_kwargs: passed to `jax.jit` (e.g. `static_argnums`).

    Returns:
      a `Timing`; `output` holds the last call's result.
    """
    import jax

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    jitted = fn if hasattr(fn, "lower") and not jit_kwargs else jax.jit(fn, **jit_kwargs)
    start = time.perf_counter()
    lowered = jitted.lower(*args)
    lower_s = time.perf_counter() - start
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    output = None
    for _ in range(warmup):
        output = jax.block_until_ready(compiled(*args))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return Timing(lower_s, compile_s, statistics.median(runs), tuple(runs), output)


# --------------------------------------------------------------------------------------------
# Formatting


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A GitHub markdown table. Cells are `str()`-ed (format numbers first, e.g. with
    `format_seconds`); `align` is one character per column, `l`/`r`/`c` (default: right for
    columns whose cells all look numeric, left otherwise)."""
    cells = [[str(c) for c in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row {row} has {len(row)} cells for {len(headers)} headers.")
    if align is None:
        align = "".join(
            "r" if cells and all(_looks_numeric(row[i]) for row in cells) else "l"
            for i in range(len(headers))
        )
    rule = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(rule[a] for a in align) + " |",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]
    return "\n".join(lines)


def _looks_numeric(text: str) -> bool:
    text = text.strip().replace(",", "").replace("×", "").rstrip("x%sk MGµmn")
    if text in ("", "—", "-", "n/a"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_seconds(seconds: float | None) -> str:
    """`0.000012` → `12.0 µs`, `0.0345` → `34.5 ms`, `12.345` → `12.3 s`; None/NaN → `—`."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def format_rate(per_second: float | None) -> str:
    """`1234.5` → `1.23k`, `2.5e6` → `2.50M`; None/NaN → `—`."""
    if per_second is None or not math.isfinite(per_second):
        return "—"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_second >= scale:
            return f"{per_second / scale:.3g}{suffix}"
    return f"{per_second:.3g}"


# --------------------------------------------------------------------------------------------
# Results


def result(
    name: str,
    table: str,
    data: Any,
    *,
    title: str | None = None,
    notes: str = "",
    headline: str = "",
    files: Sequence[str | Path] = (),
) -> dict:
    """What a benchmark's `run` returns.

    Args:
      name: the module's name (`"scaling"`).
      table: a markdown table (`markdown_table`).
      data: the raw measurements, JSON-serialisable (numpy scalars/arrays are converted).
      title: a heading for `RESULTS.md` (default: `name`).
      notes: markdown printed under the table: method, caveats, what is (not) counted.
      headline: one sentence with the figure README quotes (optional).
      files: files written into `out_dir` (plots), linked from `RESULTS.md`.
    """
    return {
        "name": name,
        "title": title or name,
        "table": table,
        "data": data,
        "notes": notes,
        "headline": headline,
        "files": [str(f) for f in files],
    }


def smoke_budget(config, updates: int) -> int:
    """The `total_steps` a smoke run gives `config`: `updates` updates, or more when the config
    acts at random for its first `learning_starts` steps (off-policy), so that it also learns."""
    learning_starts = getattr(config, "learning_starts", 0)
    return config.steps_per_update * max(updates, learning_starts // config.steps_per_update + 1)


def patch_brax_for_jax() -> None:
    """Brax 0.14's trainers call `jax.device_put_replicated`, which jax 0.10 removed: put a
    stand-in on `jax` (the value stacked once per device, what the removed function returned),
    changing nothing in Brax's files."""
    import jax
    import jax.numpy as jnp

    if hasattr(jax, "device_put_replicated"):
        return

    def device_put_replicated(value, devices):
        stacked = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * len(devices)), value)
        return jax.device_put(stacked, devices[0]) if len(devices) == 1 else stacked

    jax.device_put_replicated = device_put_replicated


def run_pgjax_trainer(algorithm, config, seeds: int, eval_episodes: int) -> list[dict]:
    """pgjax's side of a comparison with a Brax trainer: `config`'s jitted `make_train`
    compiled once (timed apart), run once per seed (timed after compilation), each trained
    state's return the mean of `eval_episodes` deterministic evaluation episodes."""
    import jax
    import numpy as np

    from pgjax.training.evaluation import evaluate_runs

    config.check()
    steps = config.num_updates * config.steps_per_update
    start = time.perf_counter()
    train = jax.jit(algorithm.make_train(config)).lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - start
    runs = []
    for seed in range(seeds):
        start = time.perf_counter()
        state, _ = jax.block_until_ready(train(jax.random.key(seed)))
        run_s = time.perf_counter() - start
        states = jax.tree.map(lambda x: x[None], state)
        returns = evaluate_runs(algorithm, config, states, seed + 100, eval_episodes)["return"]
        runs.append(
            {
                "compile_s": compile_s if seed == 0 else None,
                "run_s": run_s,
                "steps": steps,
                "steps_per_s": steps / run_s,
                "return": float(np.mean(np.asarray(returns))),
            }
        )
    return runs


def run_brax_trainer(
    train: Callable, budget: int, seeds: int, eval_episodes: int, **settings
) -> list[dict]:
    """Brax's side of a comparison: its trainer (`brax.training.agents.{ppo,sac}.train.train`)
    run once per seed for `budget` environment steps in 3 training epochs (`num_evals=4`) on
    one device, measured as pgjax's runs are: the steady throughput is Brax's own
    `training/sps` of the epochs after the first (the first includes compiling), the compile
    time the first epoch's excess over the steady rate, the return the last deterministic
    evaluation's mean over `eval_episodes` environments."""
    patch_brax_for_jax()
    runs = []
    for seed in range(seeds):
        epochs: list[float] = []
        evals: list[float] = []

        def progress(step, metrics, epochs=epochs, evals=evals):
            if "training/sps" in metrics:
                epochs.append(float(metrics["training/sps"]))
            evals.append(float(metrics["eval/episode_reward"]))

        start = time.perf_counter()
        train(
            num_timesteps=budget,
            num_evals=4,
            num_eval_envs=eval_episodes,
            deterministic_eval=True,
            max_devices_per_host=1,
            seed=seed,
            progress_fn=progress,
            **settings,
        )
        total_s = time.perf_counter() - start
        steady = statistics.median(epochs[1:]) if len(epochs) > 1 else None
        per_epoch = budget / 3
        runs.append(
            {
                "compile_s": per_epoch / epochs[0] - per_epoch / steady if steady else None,
                "total_s": total_s,
                "steps": budget,
                "steps_per_s": steady,
                "return": evals[-1],
            }
        )
    return runs


def brax_comparison(
    name: str, measure: Callable[[], dict], *, algorithm: str, env: str, budget: int, notes: str
) -> dict:
    """The result of a pgjax-vs-Brax-trainer benchmark (skipped without Brax): `measure()`
    maps "pgjax" and "Brax" to their runs (`compile_s`, `steps_per_s`, `return`); the table
    gives medians over seeds, the headline the throughput ratio and whether issue 23's target
    (pgjax's throughput ≥ Brax's at the same return: a median return at least 0.9× Brax's) is
    met."""
    try:
        import brax  # noqa: F401
    except ImportError:
        return skipped(name, "brax is not installed (pip install 'pgjax[brax]')")
    measured = measure()

    def median(label, key):
        values = [r[key] for r in measured[label] if r[key] is not None]
        return statistics.median(values) if values else float("nan")

    rows = [
        [
            label,
            format_seconds(median(label, "compile_s")),
            format_rate(median(label, "steps_per_s")),
            f"{median(label, 'return'):.0f}",
            " / ".join(f"{r['return']:.0f}" for r in measured[label]),
        ]
        for label in measured
    ]
    table = markdown_table(
        ["trainer", "compile", "env steps/s", f"return at {budget:,} steps", "per seed"], rows
    )
    ratio = median("pgjax", "steps_per_s") / median("Brax", "steps_per_s")
    same_return = median("pgjax", "return") >= 0.9 * median("Brax", "return")
    met = ratio >= 1.0 and same_return
    seeds = len(measured["pgjax"])
    headline = (
        f"{algorithm} on Brax {env}: pgjax {ratio:.2f}× Brax's trainer's environment steps "
        f"per second (return {median('pgjax', 'return'):.0f} vs "
        f"{median('Brax', 'return'):.0f} at {budget:,} steps, median of {seeds} seeds); "
        f"target ≥ 1× at the same return {'met' if met else 'not met'}"
    )
    return result(
        name,
        table,
        {"measured": measured, "ratio": ratio, "met": met},
        title=f"{algorithm} on Brax: pgjax vs Brax's trainer",
        notes=notes + "\n\n'Same return': pgjax's median return at least 0.9× Brax's.",
        headline=headline,
    )


def skipped(name: str, reason: str) -> dict:
    """What a benchmark's `run` returns when it cannot run here (`run.py` prints
    `skipped: reason` and keeps the benchmark's previous section of RESULTS.md)."""
    return {"name": name, "skipped": reason}


def to_jsonable(value: Any) -> Any:
    """Converts numpy/JAX scalars and arrays, tuples, Paths and dataclasses to JSON types;
    NaN and infinities become None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, Timing):
            return to_jsonable(value.as_dict())
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "tolist"):  # numpy / JAX arrays and scalars
        return to_jsonable(value.tolist())
    return str(value)


def write_json(path: str | Path, value: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(value), indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# The machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def gpu_driver() -> str | None:
    """The NVIDIA driver's version as `nvidia-smi` reports it (None without an NVIDIA GPU)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    versions = sorted({line.strip() for line in out.splitlines() if line.strip()})
    return ", ".join(versions) or None


def _accelerator_plugins() -> dict[str, str]:
    """Installed JAX accelerator runtimes (jax-cuda12-plugin, jax-cuda12-pjrt, libtpu, …)."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith(("jax-cuda", "jax-rocm", "libtpu")):
            found[name] = dist.version
    return dict(sorted(found.items()))


def machine_info() -> dict:
    """The machine and software a measurement was taken on: date (UTC), CPU model, cores,
    memory, load average (other processes compete for a small machine), Python, the JAX
    backend and its devices, the NVIDIA driver and JAX's accelerator plugins (where there
    are), and the versions of the packages involved."""
    import jax

    devices = jax.devices()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "load_average": _load_average(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "devices": [d.device_kind for d in devices],
        "versions": {name: _version(name) for name in VERSIONED_PACKAGES},
        "gpu_driver": gpu_driver(),
        "accelerator_plugins": _accelerator_plugins(),
    }


def device_label(info: dict) -> str:
    """One line naming where JAX ran: "2-core CPU (AMD EPYC), no GPU" or
    "1× NVIDIA H100 80GB HBM3 (gpu), host 16-core CPU (…)"."""
    cpu = f"{info['cpu_cores']}-core CPU ({info['cpu_model']})"
    if info["jax_backend"] == "cpu":
        return f"{cpu} shown to JAX as {len(info['devices'])} device(s), no GPU"
    kinds = info["devices"]
    driver = f", driver {info['gpu_driver']}" if info.get("gpu_driver") else ""
    return f"{len(kinds)}× {kinds[0]} ({info['jax_backend']}{driver}), host {cpu}"


def machine_markdown(info: dict) -> str:
    """`machine_info()` as a markdown bullet list."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v is not None)
    missing = [k for k, v in info["versions"].items() if v is None]
    lines = [
        f"- **Date:** {info['date']}",
        f"- **Device (JAX):** {device_label(info)}; backend `{info['jax_backend']}`",
        f"- **CPU:** {info['cpu_model']}, {info['cpu_cores']} cores"
        + (f", {info['memory_gib']} GiB memory" if info.get("memory_gib") else ""),
        f"- **Load average at start (1/5/15 min):** {info.get('load_average')}",
        f"- **OS / Python:** {info['os']}, Python {info['python']}",
        f"- **Versions:** {versions}",
    ]
    plugins = info.get("accelerator_plugins") or {}
    if plugins:
        lines.append(
            "- **Accelerator plugins:** " + ", ".join(f"{k} {v}" for k, v in plugins.items())
        )
    if missing:
        lines.append(f"- **Not installed:** {', '.join(missing)}")
    return "\n".join(lines)


def compiled_memory(compiled) -> dict | None:
    """What XLA's buffer assignment says a compiled program (`jax.jit(f).lower(...).compile()`)
    holds, in bytes: `argument`, `output`, `temp` (everything allocated inside it) and `peak`;
    None where the backend does not report it."""
    try:
        stats = compiled.memory_analysis()
    except (NotImplementedError, AttributeError, RuntimeError):
        return None
    if stats is None:
        return None
    fields = {
        "argument": stats.argument_size_in_bytes,
        "output": stats.output_size_in_bytes,
        "temp": stats.temp_size_in_bytes,
    }
    peak = getattr(stats, "peak_memory_in_bytes", None)
    return {**fields, "peak": int(peak) if peak else sum(fields.values())}


def train_seeds_with_curves(
    name: str,
    env_id: str,
    overrides: dict,
    seeds: int,
    evaluations: int,
    episodes: int,
    preset: str | None = None,
) -> dict:
    """One algorithm (a `pgjax.runs.registry` name) on one environment, `seeds` runs vmapped in
    one program split across the JAX devices (`make_train_and_evaluate`), evaluated
    `evaluations` times on `episodes` fresh episodes of the deterministic policy; `preset` a
    named preset (`Config.for_env`) instead of the environment's own.

    Returns:
      `config`, `curves` `[seeds, evaluations]` mean returns, `evaluation_steps` (environment
      steps per seed at each evaluation), `compile_s`, `run_s` and `memory` (`compiled_memory`
      of the whole program).
    """
    import jax
    import numpy as np

    from pgjax.runs import registry
    from pgjax.training.evaluation import evaluation_steps, make_train_and_evaluate
    from pgjax.training.parallel import across_devices

    algorithm = registry.get(name)
    config = algorithm.config_class.for_env(env_id, preset, **overrides)
    train = across_devices(make_train_and_evaluate(algorithm, config, evaluations, episodes), seeds)
    keys = jax.random.split(jax.random.key(0), seeds)
    with Timer() as compiling:
        compiled = train.lower(keys).compile()
    with Timer() as running:
        _, returns = jax.block_until_ready(compiled(keys))
    return {
        "config": config,
        "curves": np.asarray(returns, np.float64).mean(axis=-1),
        "evaluation_steps": np.asarray(evaluation_steps(config, evaluations)),
        "compile_s": compiling.seconds,
        "run_s": running.seconds,
        "memory": compiled_memory(compiled),
    }
