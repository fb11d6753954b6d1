"""Your own algorithm (tests/runs/plugin/pgjax_example, a vanilla policy gradient written from
pgjax's blocks): registered from Python, or installed as a package declaring an entry point in
the group `pgjax.algorithms`, it is trained, interrupted with SIGINT and resumed to the
metrics.csv of an uninterrupted run, and evaluated, by the Python API and by `pgjax train /
resume / evaluate`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgjax import runs

PLUGIN = Path(__file__).resolve().parent / "plugin"
TOTAL_STEPS = 2**20  # 4096 updates of 8 × 32 steps: long enough to interrupt
SEEDS = [0, 1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site directory holding the example as an installed package: its module and a
    `.dist-info` with the entry point, which is what `pip install` leaves."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PLUGIN / "pgjax_example", site / "pgjax_example")
    info = site / "pgjax_example-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pgjax-example\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pgjax.algorithms]\nvpg = pgjax_example:VPG\n")
    return site


@pytest.fixture(scope="module")
def whole(tmp_path_factory, site) -> Path:
    """The uninterrupted run, in this process (registered from Python)."""
    sys.path.insert(0, str(site))
    try:
        from pgjax_example import VPG, VPGConfig

        runs.register(VPG, replace=True)
        out = tmp_path_factory.mktemp("whole") / "run"
        options = runs.RunOptions(tensorboard=False)
        runs.run(VPG, VPGConfig(total_steps=TOTAL_STEPS), SEEDS, out, options=options)
    finally:
        sys.path.remove(str(site))
    return out


def _start(args: list[str], site: Path) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def _interrupt_when_training(process: subprocess.Popen, run_dir: Path) -> tuple[str, str]:
    metrics = run_dir / "metrics.csv"
    deadline = time.monotonic() + 180
    while not (metrics.exists() and metrics.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)  # compiled, first chunk written
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=120)


PYTHON = """
import sys
from pgjax.training.parallel import use_cpu_cores
use_cpu_cores(2)
from pgjax import runs
from pgjax_example import VPG, VPGConfig
runs.register(VPG)
if sys.argv[1] == "run":
    options = runs.RunOptions(tensorboard=False)
    result = runs.run(VPG, VPGConfig(total_steps={total}), [0, 1], sys.argv[2], options=options)
else:
    result = runs.resume(sys.argv[2])
print("status", result.status, result.updates)
"""


def test_registered_from_python_it_is_interrupted_and_resumed_to_the_same_run(
    tmp_path, site, whole
):
    script = tmp_path / "train.py"
    script.write_text(PYTHON.format(total=TOTAL_STEPS))
    cut = tmp_path / "cut"
    out, err = _interrupt_when_training(_start([str(script), "run", str(cut)], site), cut)
    assert "status interrupted" in out, (out, err)
    status = json.loads((cut / "status.json").read_text())
    assert status["status"] == "interrupted" and 0 < status["updates"] < 4096
    resumed = _start([str(script), "resume", str(cut)], site)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "status completed 4096" in out, (out, err)
    assert (cut / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()


def test_installed_as_a_plugin_the_command_line_trains_resumes_and_evaluates_it(
    tmp_path, site, whole
):
    cli = ["-m", "pgjax.cli"]
    cut = tmp_path / "cut"
    common = ["--seeds", "2", "--no-progress", "--no-tensorboard", "--eval-episodes", "2"]
    args = [*cli, "train", "vpg", "--total-steps", str(TOTAL_STEPS), *common, "--out", str(cut)]
    process = _start(args, site)
    out, err = _interrupt_when_training(process, cut)
    assert process.returncode == 130 and f"pgjax resume {cut}" in out, (out, err)
    resumed = _start([*cli, "resume", str(cut), "--no-progress"], site)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, (out, err)
    assert (cut / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()
    evaluated = _start([*cli, "evaluate", str(cut), "--episodes", "3"], site)
    out, err = evaluated.communicate(timeout=300)
    assert evaluated.returncode == 0 and "mean return" in out, (out, err)
    assert json.loads((cut / "evaluation.json").read_text())["algorithm"] == "vpg"
    listed = _start([*cli, "--help"], site)
    assert "vpg" in listed.communicate(timeout=60)[0]
