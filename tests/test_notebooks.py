"""The notebooks run: each is executed top to bottom (reduced size) and must raise nothing, and
the committed copy must carry the outputs of a full execution (``make notebooks``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_carries_outputs_of_one_full_execution(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: run it top to bottom (make notebooks)"
    assert all(o.output_type != "error" for c in cells for o in c.outputs)
    assert any("image/png" in o.get("data", {}) for c in cells for o in c.outputs), "no plot in the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKSIM_NOTEBOOK_FAST", "1")
    notebook = nbformat.read(path, as_version=4)
    try:
        # raises CellExecutionError (naming the cell and its traceback) if any cell fails
        nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        shutil.rmtree(ROOT / "results" / "notebook-fast", ignore_errors=True)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not any(o.output_type == "stream" and o.name == "stderr" and "Traceback" in o.text for o in outputs)
