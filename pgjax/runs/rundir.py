"""Run directories: what the driver writes and `resume` / `evaluate` read.

    RUN_DIR/config.json          algorithm, resolved config and its fingerprint, seeds,
                                 hyperparameters, run options, versions
    RUN_DIR/metrics.csv          one row per (update, run): env_steps and every logged metric
    RUN_DIR/checkpoints/UPDATE/  orbax checkpoints of the whole training state (the last few)
    RUN_DIR/status.json          how and when the run stopped (completed, target_reached,
                                 interrupted, diverged), with the last update and env steps
    RUN_DIR/learning_curve.png   episode return vs environment steps (written by the CLI)
    RUN_DIR/evaluation.json      returns of the final policies (written by the CLI)
    RUN_DIR/tensorboard/         event files, when the optional tensorboardX is installed

Every file but metrics.csv is written atomically (a temporary file, then a rename). metrics.csv
is appended one chunk at a time; `resume` first cuts it back to the checkpoint it continues
from, so a row torn by a crash is never read. JSON files are strict JSON: NaN and infinities
are written as null.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pgjax.imports import import_skipping_inits
from pgjax.runs.errors import RunDirectoryError

CONFIG = "config.json"
METRICS = "metrics.csv"
STATUS = "status.json"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
# What `prepare(..., overwrite=True)` removes: only files pgjax writes, never the user's own.
OWN_FILES = (
    CONFIG,
    METRICS,
    STATUS,
    CHECKPOINTS,
    TENSORBOARD,
    "learning_curve.png",
    "evaluation.json",
    "rlhf_curves.png",  # pgjax rlhf
    "samples.md",
    "sweep.md",  # pgjax sweep
    "sweep.csv",
    "sweep.png",
    "best.json",
)


_UMASK = os.umask(0)
os.umask(_UMASK)


def prepare(run_dir: Path, overwrite: bool) -> Path:
    """Creates `run_dir` for a new run: refused if it holds anything, unless `overwrite`, which
    removes pgjax's own files from it first. Checks that it is writable."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirectoryError(f"--out {run_dir} exists and is not a directory.")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunDirectoryError(
                f"--out {run_dir} is not empty: choose another directory, `pgjax resume "
                f"{run_dir}` to continue the run there, or --overwrite to replace it."
            )
        for name in OWN_FILES:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir):
            pass
    except OSError as error:
        raise RunDirectoryError(f"cannot write to {run_dir}: {error.strerror or error}.") from None
    return run_dir


def _strict(value):
    """JSON-safe: NaN and infinities as None, NumPy scalars and arrays as Python values."""
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return _strict(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_atomic(path: Path, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file in the same directory and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; a result is a normal file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, record: dict) -> None:
    """Strict JSON (no NaN), atomically."""
    text = json.dumps(_strict(record), indent=2, allow_nan=False) + "\n"
    write_atomic(path, text.encode())


def read_json(path: Path) -> dict:
    """A JSON file pgjax wrote; a missing or corrupt one raises RunDirectoryError naming it."""
    path = Path(path)
    if not path.is_file():
        raise RunDirectoryError(f"{path} is missing: is {path.parent} a pgjax run directory?")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunDirectoryError(f"{path} is not readable JSON ({error}).") from None
    if not isinstance(record, dict):
        raise RunDirectoryError(f"{path} does not hold a JSON object.")
    return record


class MetricsLog:
    """`metrics.csv`: a header `update, run, seed, env_steps, <metric>...`, then one row per
    update and run, appended a chunk at a time. Floats are written with `repr`, so they read
    back exactly."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / METRICS

    def append(
        self,
        first_update: int,
        metrics: dict[str, np.ndarray],
        seeds: list[int],
        steps_per_update: int,
    ) -> None:
        """`metrics`: name ↦ `[num_runs, k]` for updates `first_update .. first_update + k - 1`."""
        names = sorted(metrics)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if not self.path.exists():
            writer.writerow(self.header(names))
        columns = [np.asarray(metrics[n], np.float64) for n in names]
        for k in range(columns[0].shape[1]):
            update = first_update + k
            for run, seed in enumerate(seeds):
                values = [repr(float(c[run, k])) for c in columns]
                writer.writerow([update, run, seed, (update + 1) * steps_per_update, *values])
        with self.path.open("a") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def read(self, num_runs: int, num_updates: int | None = None) -> dict[str, np.ndarray]:
        """name ↦ `[num_runs, U]` float arrays of the first U updates (all complete ones by
        default); the columns update, env_steps included."""
        if not self.path.exists():
            return {}
        with self.path.open(newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return {}
        header, body = rows[0], rows[1:]
        complete = [r for r in body if len(r) == len(header)]
        count = len(complete) // num_runs
        if num_updates is not None:
            count = min(count, num_updates)
        try:
            table = np.array(complete[: count * num_runs], np.float64).reshape(
                count, num_runs, len(header)
            )
        except ValueError as error:
            raise RunDirectoryError(f"{self.path} is corrupt ({error}).") from None
        return {name: table[:, :, i].T for i, name in enumerate(header) if name not in ("run",)}

    def header(self, metric_names) -> list[str]:
        """The columns of a metrics.csv with these metrics."""
        return ["update", "run", "seed", "env_steps", *sorted(metric_names)]

    def check(self, num_updates: int, num_runs: int, metric_names) -> None:
        """Raises RunDirectoryError unless metrics.csv holds the rows of the first
        `num_updates` updates under the header these metrics give: a deleted file, a replaced
        header or missing rows would make a resumed run's history silently incomplete."""
        if num_updates == 0:
            return
        if not self.path.is_file():
            raise RunDirectoryError(
                f"{self.path} is missing, but the checkpoint continues from update "
                f"{num_updates}: its history would be lost. Put the file back, or start the "
                "run again with --overwrite."
            )
        with self.path.open(newline="") as f:
            header = next(csv.reader(f), [])
        expected = self.header(metric_names)
        if header != expected:
            raise RunDirectoryError(
                f"{self.path} has the columns {header}, not this run's {expected}: was it "
                "edited or replaced?"
            )

    def truncate(self, num_updates: int, num_runs: int) -> None:
        """Keeps the header and the rows of the first `num_updates` updates (atomically)."""
        if not self.path.exists():
            return
        lines = self.path.read_text().splitlines(keepends=True)
        keep = lines[: 1 + num_updates * num_runs]
        if len(keep) < 1 + num_updates * num_runs:
            raise RunDirectoryError(
                f"{self.path} holds fewer than the {num_updates} updates of the checkpoint."
            )
        write_atomic(self.path, "".join(keep).encode())


class TensorBoardLog:
    """TensorBoard event files under `RUN_DIR/tensorboard/seed_<seed>/` (`run_<i>_seed_<seed>/`
    when runs share seeds), one event per update
    holding every metric that is finite there (an update in which no episode ended has no
    `episode_return` point), x-axis environment steps. `open` returns None when tensorboardX is
    not installed (`pip install 'pgjax[tensorboard]'`)."""

    def __init__(self, writers: dict):
        self.writers = writers

    @classmethod
    def open(
        cls, run_dir: Path, seeds: list[int], resumed_at: int | None = None
    ) -> TensorBoardLog | None:
        """Writers for a session; `resumed_at` (env steps) marks a resume from a checkpoint at
        that step, so that TensorBoard drops the points the interrupted session wrote after
        it (the resumed session writes them again)."""
        try:
            # Not through tensorboardX's `__init__`, which imports PyTorch when it is installed
            # (seconds, for two modules that need none of it).
            writer = import_skipping_inits("tensorboardX.event_file_writer", ("tensorboardX",))
            proto = import_skipping_inits("tensorboardX.proto.event_pb2", ("tensorboardX",))
        except ImportError:
            return None
        EventsWriter, Event, SessionLog = writer.EventsWriter, proto.Event, proto.SessionLog
        writers = {}
        repeated = len(set(seeds)) < len(seeds)  # a sweep's configurations share seeds
        for run, seed in enumerate(seeds):
            name = f"run_{run}_seed_{seed}" if repeated else f"seed_{seed}"
            folder = Path(run_dir) / TENSORBOARD / name
            folder.mkdir(parents=True, exist_ok=True)
            # A file per session, named in time order (the default name has whole seconds,
            # and a second session within the same second would truncate the first's file).
            writers[run] = EventsWriter(str(folder / "events"), f".{time.time_ns()}")
            if resumed_at is not None:
                start = SessionLog(status=SessionLog.START)
                writers[run].write_event(Event(step=resumed_at + 1, session_log=start))
        return cls(writers)

    def write(self, first_update: int, metrics: dict[str, np.ndarray], steps_per_update: int):
        # One event per update with all its metrics, written here: tensorboardX's SummaryWriter
        # pickles every scalar through a bounded multiprocessing queue, which took ≈0.5 s of
        # host time per second of PPO on CartPole (a 15% slower run on a 2-core CPU). The
        # records' checksums need the `crc32c` package (pure Python: 33 µs an event).
        Event = import_skipping_inits("tensorboardX.proto.event_pb2", ("tensorboardX",)).Event
        now = time.time()
        names = list(metrics)
        values = np.stack([np.asarray(metrics[name], np.float64) for name in names], -1)
        for run, writer in enumerate(self.writers.values()):
            for k, row in enumerate(values[run].tolist()):
                event = Event(wall_time=now, step=(first_update + k + 1) * steps_per_update)
                for name, value in zip(names, row, strict=True):
                    if math.isfinite(value):
                        event.summary.value.add(tag=name, simple_value=value)
                if event.summary.value:
                    writer.write_event(event)
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def versions() -> dict[str, Any]:
    """The versions that decide a run's numbers."""
    import jax

    import pgjax

    return {"pgjax": pgjax.__version__, "jax": jax.__version__}
