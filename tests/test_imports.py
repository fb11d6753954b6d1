"""`pgjax.imports`: one module of gymnax or tensorboardX without their packages' `__init__`s,
which import every gymnax environment (matplotlib, seaborn) and PyTorch (when installed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pgjax.imports import import_skipping_inits
from pgjax.runs.rundir import TensorBoardLog

PROGRAM = """
import sys
from pathlib import Path
import numpy as np
from pgjax.envs import make_env
from pgjax.runs.rundir import TensorBoardLog

make_env("CartPole-v1", 2)
log = TensorBoardLog.open(Path(sys.argv[1]), [0])
log.write(0, {"loss": np.ones((1, 2))}, 8)
log.close()
heavy = {"torch", "seaborn", "matplotlib.pyplot", "gymnax", "tensorboardX"}
heavy = sorted(heavy & set(sys.modules))
import gymnax, tensorboardX  # the whole packages still import, in full, afterwards
print(heavy, gymnax.make("Acrobot-v1")[0].name, tensorboardX.SummaryWriter.__name__)
"""


def test_a_run_imports_one_environment_and_the_event_writer_not_their_packages(tmp_path):
    pytest.importorskip("tensorboardX")
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["[]", "Acrobot-v1", "SummaryWriter"]
    assert len(list((tmp_path / "tensorboard" / "seed_0").iterdir())) == 1


def test_a_package_that_is_not_installed_raises_module_not_found_and_tensorboard_is_skipped(
    tmp_path, monkeypatch
):
    # Regression: a fresh `pip install -e .` has no tensorboardX, and every run crashed with
    # an AttributeError instead of skipping the event files.
    with pytest.raises(ModuleNotFoundError, match="not_a_package_pgjax"):
        import_skipping_inits("not_a_package_pgjax.writer", ("not_a_package_pgjax",))
    assert "not_a_package_pgjax" not in sys.modules
    for name in [m for m in sys.modules if m == "tensorboardX" or m.startswith("tensorboardX.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    assert TensorBoardLog.open(tmp_path, [0]) is None
