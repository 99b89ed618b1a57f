"""Every notebook runs top to bottom without an error (nbclient, a fresh kernel each),
shows its formulas as math, and is stored clean (no outputs: smaller diffs). The
tutorials of issue 11 are all here and each ends in a numerical check (an ``assert``
comparing the emitted gradient with finite differences or a hand formula)."""

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

FOLDER = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
TUTORIALS = ["01_dimension_analysis", "02_tensor_calculus", "03_layer_norm",
             "04_generalized_jacobians", "05_training_loop"]


def test_there_are_notebooks():
    assert NOTEBOOKS
    assert set(TUTORIALS) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.outputs or c.execution_count for c in code), "clear the outputs before committing"


@pytest.mark.parametrize("path", [FOLDER / f"{n}.ipynb" for n in TUTORIALS], ids=lambda p: p.stem)
def test_tutorial_ends_in_a_numerical_check(path):
    nb = nbformat.read(path, as_version=4)
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert "assert np.allclose(" in last.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    took = time.perf_counter() - start
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # derivations render as LaTeX (Jupyter's _repr_latex_), steps as Markdown with math
    assert any("text/latex" in o.get("data", {}) for o in outputs)
    steps = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert all("$$" in s for s in steps)
    # a few seconds each (a kernel start included; importing torch takes most of 05's)
    assert took < 60, f"{path.name} took {took:.0f} s"
