"""Nothing lost, nothing silent: a signal in any phase of a real `pgjax` process (compiling,
writing the last checkpoint, the final evaluation, plotting), a corrupted checkpoint, a
metrics.csv that no longer matches its checkpoint, a full disk and a process of a multi-process
run that never starts. Each ends in one line and a known exit status, and leaves a directory
that `pgjax resume` continues or `pgjax evaluate` reads."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgjax.cli import main

PHASES = Path(__file__).resolve().parent / "phases"  # the sitecustomize that holds a phase
SMALL = [
    "--preset",
    "classic",
    "--total-steps",
    "4096",
    "--no-progress",
    "--no-tensorboard",
    "--eval-episodes",
    "2",
]


def _default_sigint():
    # A shell without job control starts background jobs with SIGINT ignored, and children
    # inherit that: give the command the SIGINT a terminal's Ctrl-C would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _pgjax(args, **environment):
    env = {**os.environ, **environment}
    return subprocess.Popen(
        [sys.executable, "-m", "pgjax.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_default_sigint,
    )


def _signal_in_phase(tmp_path, phase, args, number=signal.SIGINT):
    """Runs `pgjax ARGS` with `phase` held open, sends `number` inside it; returns
    `(returncode, stdout, stderr)`."""
    marker = tmp_path / f"{phase}.marker"
    pythonpath = os.pathsep.join([str(PHASES), *sys.path])
    process = _pgjax(
        args, PYTHONPATH=pythonpath, PGJAX_TEST_PHASE=phase, PGJAX_TEST_MARKER=str(marker)
    )
    deadline = time.monotonic() + 240
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), process.communicate()
    process.send_signal(number)
    out, err = process.communicate(timeout=240)
    return process.returncode, out, err


@pytest.mark.parametrize(
    ("phase", "number", "then"),
    [
        ("compile", signal.SIGINT, "resume"),
        ("checkpoint", signal.SIGTERM, "complete"),
        ("evaluation", signal.SIGINT, "complete"),
        ("plotting", signal.SIGTERM, "complete"),
    ],
)
def test_a_signal_in_any_phase_exits_130_in_one_line_and_loses_nothing(
    tmp_path, phase, number, then
):
    run_dir = tmp_path / "run"
    code, out, err = _signal_in_phase(
        tmp_path, phase, ["train", "ppo", *SMALL, "--out", str(run_dir)], number
    )
    assert code == 130, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    status = json.loads((run_dir / "status.json").read_text())
    if then == "complete":
        # The run had finished: its checkpoint and status are whole, evaluate reads them.
        assert status["status"] == "completed" and status["updates"] == 8
        evaluated = _pgjax(["evaluate", str(run_dir), "--episodes", "2"])
        out, err = evaluated.communicate(timeout=300)
        assert evaluated.returncode == 0 and "mean return" in out, (out, err)
    else:
        assert status["status"] == "interrupted" and f"pgjax resume {run_dir}" in out
        resumed = _pgjax(["resume", str(run_dir), "--no-progress"])
        out, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, (out, err)
        assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """A finished PPO run with a checkpoint after every chunk of 2 updates (3 kept)."""
    run_dir = tmp_path_factory.mktemp("reliability") / "run"
    argv = ["train", "ppo", *SMALL, "--out", str(run_dir), "--chunk-updates", "2"]
    assert main([*argv, "--checkpoint-every", "1"]) == 0
    return run_dir


def _corrupt(checkpoint: Path) -> None:
    """Flips 8 bytes in the middle of the checkpoint's largest data file: orbax still reads it
    (the arrays' bytes, not the files that describe them), so only the digests can tell."""
    files = [p for p in (checkpoint / "state").rglob("*") if p.is_file()]
    largest = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(largest.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xFF
    largest.write_bytes(bytes(data))


def _steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())


def test_a_corrupted_checkpoint_is_named_and_an_earlier_one_is_offered(
    checkpointed, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    shutil.copytree(checkpointed, run_dir)
    *earlier, latest = _steps(run_dir)
    assert latest == 8 and earlier
    _corrupt(run_dir / "checkpoints" / "8")
    for command in (["resume", str(run_dir), "--no-progress"], ["evaluate", str(run_dir)]):
        capsys.readouterr()
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "checkpoints/8 is corrupted: state" in err and err.count("\n") == 1, err
        assert f"--from-checkpoint {earlier[-1]}" in err, err
    # Asked to, resume continues from the newest intact one; the bad one is moved aside.
    capsys.readouterr()
    resume = ["resume", str(run_dir), "--from-checkpoint", str(earlier[-1]), "--no-progress"]
    assert main(resume) == 0
    assert any(p.name.startswith("8.discarded") for p in (run_dir / "checkpoints").iterdir())
    assert json.loads((run_dir / "status.json").read_text())["updates"] == 8


def test_restored_arrays_that_differ_from_their_digests_are_refused(checkpointed, tmp_path):
    from pgjax.runs.checkpoints import Checkpoints, CorruptCheckpointError, digests

    run_dir = tmp_path / "run"
    shutil.copytree(checkpointed, run_dir)
    *earlier, _ = _steps(run_dir)
    checkpoints = Checkpoints(run_dir)
    try:
        meta = {"digests": {"['params']": "0" * 64}}
        listed = ", ".join(map(str, earlier))
        with pytest.raises(CorruptCheckpointError, match=f"earlier checkpoints: {listed};"):
            checkpoints._verify(run_dir / "checkpoints" / "8", 8, {"params": [1.0]}, meta)
        assert digests({"x": [1.0, 2.0]}) != digests({"x": [1.0, 2.5]})
    finally:
        checkpoints.close()


@pytest.mark.parametrize("damage", ["deleted", "header", "short"])
def test_resume_refuses_a_metrics_csv_that_lost_its_history(checkpointed, tmp_path, capsys, damage):
    run_dir = tmp_path / "run"
    shutil.copytree(checkpointed, run_dir)
    metrics = run_dir / "metrics.csv"
    lines = metrics.read_text().splitlines(keepends=True)
    if damage == "deleted":
        metrics.unlink()
    elif damage == "header":
        metrics.write_text("update,run,seed,env_steps,loss\n" + "".join(lines[1:]))
    else:
        metrics.write_text("".join(lines[:3]))
    (run_dir / "checkpoints" / "8").rename(run_dir / "checkpoints" / "8.set-aside")
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "metrics.csv" in err and err.count("\n") == 1, err


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


def test_a_full_disk_is_one_line_naming_the_last_checkpoint_and_resume_continues(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "500k"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        run_dir = disk / "run"
        args = ["train", "ppo", "--total-steps", "400000", "--no-progress", "--no-tensorboard"]
        args += ["--chunk-updates", "20", "--checkpoint-every", "2", "--keep-checkpoints", "1"]
        process = _pgjax([*args, "--eval-episodes", "2", "--out", str(run_dir)])
        out, err = process.communicate(timeout=600)
        assert process.returncode == 1, (out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "no space left" in err and "pgjax resume" in err, err
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        resumed = _pgjax(["resume", str(run_dir), "--no-progress"])
        out, err = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, (out, err)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_peer_that_never_starts_ends_the_other_in_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    args = ["train", "ppo", "--out", str(tmp_path / "run"), "--num-processes", "2"]
    args += ["--process-id", "0", "--coordinator-address", f"localhost:{port}"]
    process = _pgjax([*args, "--distributed-timeout", "3", "--cpu-devices", "1"])
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, (out, err)
    assert "process(es) [1] did not join" in err and "Traceback" not in err, err
    assert "Check failure" not in err
