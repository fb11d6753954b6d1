"""Loaded by the interpreters `tests/runs/test_reliability.py` starts (this folder is put first
on their PYTHONPATH): holds one phase of a `pgjax` command open for a few seconds, after writing
its name to a marker file, so that the test can send a signal inside that phase."""

import os
import pathlib
import time

PHASE = os.environ.get("PGJAX_TEST_PHASE")
MARKER = os.environ.get("PGJAX_TEST_MARKER")


def _held(function):
    def held(*args, **kwargs):
        pathlib.Path(MARKER).write_text(PHASE)
        time.sleep(float(os.environ.get("PGJAX_TEST_HOLD", "4")))
        return function(*args, **kwargs)

    return held


if PHASE == "compile":
    from pgjax.runs import chunked

    chunked.CompiledEngine.prepare = _held(chunked.CompiledEngine.prepare)
elif PHASE == "checkpoint":
    from pgjax.runs import checkpoints

    checkpoints.Checkpoints.wait = _held(checkpoints.Checkpoints.wait)
elif PHASE == "evaluation":  # (importing the evaluator here would start JAX's backend early)
    from pgjax.cli import session

    session.evaluate_state = _held(session.evaluate_state)
elif PHASE == "plotting":
    from pgjax.cli import plots

    plots.learning_curve = _held(plots.learning_curve)
