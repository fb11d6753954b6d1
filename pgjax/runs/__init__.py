"""The run layer: what runs algorithms (above `pgjax.algorithms` and `pgjax.rlhf`, below the
command line).

    from pgjax import runs
    result = runs.run(PPO, PPOConfig.for_env("CartPole-v1"), seeds=[0, 1], run_dir="runs/cp")
    result = runs.resume("runs/cp")
    runs.register(MY_ALGORITHM)          # your own algorithm: trainable, resumable, evaluable

Modules:

    registry.py       algorithms by name: pgjax's own, `register`ed, and installed plugins
    record.py         config.json: create, read, check a run's settings
    rundir.py         the run directory's files (metrics.csv, status.json, TensorBoard)
    checkpoints.py    orbax checkpoints with digests
    session.py        one process's share of a run: drives an engine, owns the run directory
    engine.py         what a session needs of an engine, and the parts engines share
    chunked.py        the compiled chunked loop (the default engine)
    actor_learner.py  the asynchronous actor-learner engine (`--async`)
    evaluator.py      the one evaluator (targets, `pgjax evaluate`, reports)
    sweep.py          hyperparameter sweeps: configurations × seeds in one run, ranked
    pbt.py            population-based training between the compiled engine's chunks
    signals.py        stop requests (Ctrl-C, SIGTERM)
    distributed.py    several processes (JAX's distributed runtime)
    compile_cache.py  JAX's persistent compilation cache
    options.py        RunOptions, AsyncOptions (plain Python)
    api.py            run, resume, restore, evaluate

Names are loaded on first use, so that the command line imports JAX only when it computes.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "run": "api",
    "resume": "api",
    "restore": "api",
    "evaluate": "api",
    "RunResult": "session",
    "DivergenceError": "session",
    "StorageError": "session",
    "RunOptions": "options",
    "AsyncOptions": "options",
    "register": "registry",
    "RunDirectoryError": "errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"pgjax.runs.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'pgjax.runs' has no attribute {name!r}")
