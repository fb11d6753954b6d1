"""The notebooks in notebooks/ run top to bottom, and their repository copies carry no outputs.

Executed with nbclient on the `python3` Jupyter kernel (ipykernel), as CI would: the first cell
of each notebook skips its `pip install` because pgjax is importable here. When the environment
variable `PGJAX_EXECUTED_NOTEBOOKS` names a directory, each executed notebook is written there
with its outputs, for the documentation build to render (`docs/_ext/pgjax_notebooks.py`)
without executing the notebooks a second time.
"""

from __future__ import annotations

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXECUTED_DIR_VAR = "PGJAX_EXECUTED_NOTEBOOKS"
CELL_TIMEOUT_S = 300  # a training cell compiles PPO: ~10-30 s on a busy 2-core CPU


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "kernels_tour.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs: strip them"
            assert cell.execution_count is None, f"{path.name} cell {index} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_starts_with_a_guarded_install(path):
    notebook = nbformat.read(path, as_version=4)
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert "import pgjax" in first_code.source and "except ImportError" in first_code.source
    assert "pip" in first_code.source


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},  # run in a scratch directory
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first failure
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "error"
    ]
    assert not errors
    executed_dir = os.environ.get(EXECUTED_DIR_VAR)
    if executed_dir:
        pathlib.Path(executed_dir).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, pathlib.Path(executed_dir) / path.name)
