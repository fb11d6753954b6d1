"""Every benchmark still runs: each module in `benchmarks/` (those `python -m benchmarks.run`
lists and any other file there) is imported and its smoke setting run, the smallest that goes
through all of its code, so a renamed or re-signed pgjax API fails here and not in the next full
run. Deselect with `-m "not benchmarks"`.

The smoke runs share one `python -m benchmarks.run --smoke` process (one JAX start-up, XLA's
backend optimisations off, programs compiled once however many benchmarks compile them), which
records each benchmark's outcome after `benchmarks.run.check_result` has checked what it
returned; each benchmark is then one test here.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks import run as runner  # noqa: E402

HELPERS = {"__init__", "common", "run"}  # the modules of benchmarks/ that are not benchmarks
MODULES = sorted(
    {*runner.BENCHMARKS}
    | {path.stem for path in (ROOT / "benchmarks").glob("*.py") if path.stem not in HELPERS}
)
SMOKE_TIMEOUT_S = 3600  # all of them together, on a loaded machine


def test_every_file_in_benchmarks_is_tested():
    files = {path.stem for path in (ROOT / "benchmarks").glob("*.py")} - HELPERS
    assert files <= set(MODULES)
    assert set(runner.BENCHMARKS) <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_defines_run_with_quick_out_dir_and_smoke(name):
    module = __import__(f"benchmarks.{name}", fromlist=["run"])
    parameters = inspect.signature(module.run).parameters
    assert list(parameters)[:3] == ["quick", "out_dir", "smoke"]
    assert [parameters[p].default for p in ("quick", "out_dir", "smoke")] == [False, None, False]


def test_check_result_refuses_what_a_benchmark_must_not_return():
    from benchmarks.common import result, skipped

    assert runner.check_result("x", result("x", "| a |", None))["files"] == []
    assert runner.check_result("x", skipped("x", "no torch"))["skipped"] == "no torch"
    for wrong in (None, {"name": "x"}, result("y", "| a |", None), result("x", " ", None)):
        with pytest.raises(TypeError):
            runner.check_result("x", wrong)
    with pytest.raises(TypeError, match="did not write"):
        runner.check_result("x", result("x", "| a |", None, files=[ROOT / "no-such-file.png"]))


@pytest.fixture(scope="module")
def smoke_outcomes(request, tmp_path_factory) -> tuple[dict, str]:
    """`({name: outcome}, the runner's output)` of the smoke runs of the benchmarks whose tests
    were selected; an outcome has `status` (ok, skipped, failed), `detail` (the reason or the
    traceback), `seconds` and `cpu_seconds`."""
    names = sorted(
        {
            item.callspec.params["name"]
            for item in request.session.items
            if getattr(item, "originalname", "") == "test_benchmark_smoke_setting_runs"
        }
    )
    directory = tmp_path_factory.mktemp("benchmarks-smoke")
    summary = directory / "summary.json"
    argv = ["--smoke", "--out", str(directory), "--summary", str(summary), *names]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_S,
    )
    outcomes = json.loads(summary.read_text()) if summary.exists() else {}
    return outcomes, done.stdout[-20_000:] + done.stderr[-20_000:]


@pytest.mark.benchmarks
@pytest.mark.parametrize("name", MODULES)
def test_benchmark_smoke_setting_runs(name, smoke_outcomes, record_property):
    outcomes, output = smoke_outcomes
    outcome = outcomes.get(name)
    assert outcome is not None, f"benchmarks.run recorded nothing for {name}:\n{output}"
    record_property("seconds", outcome.get("seconds"))
    record_property("cpu_seconds", outcome.get("cpu_seconds"))
    if outcome["status"] == "skipped":
        pytest.skip(f"benchmarks.{name}: {outcome['detail']}")
    assert outcome["status"] == "ok", outcome["detail"]
