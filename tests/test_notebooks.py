"""Every notebook runs top to bottom without an error (nbclient, a fresh kernel each),
shows its formulas as math, and is stored WITH its outputs (so that GitHub renders the
derivations), which must be current: the test re-executes each notebook and compares what
it shows with what is stored (``notebooks/execute.py`` refreshes them). The tutorials of
issue 11 are all here; each has a numerical check (an ``assert`` comparing the emitted
gradient with finite differences or a hand formula) and ends in exercises checked with
``ic.check_answer``."""

import copy
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

FOLDER = Path(__file__).parent.parent / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
TUTORIALS = ["01_dimension_analysis", "02_tensor_calculus", "03_layer_norm",
             "04_generalized_jacobians", "05_training_loop"]

_spec = importlib.util.spec_from_file_location("notebooks_execute", FOLDER / "execute.py")
execute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS
    assert set(TUTORIALS) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    refresh = f"run `{execute.COMMAND} {path.name}`"
    code = code_cells(nb)
    # executed once, top to bottom, in a fresh kernel
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        f"{path.name} is not stored executed top to bottom: {refresh}"
    assert any(c.outputs for c in code), f"{path.name} is stored without outputs: {refresh}"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"], f"{path.name} stores a warning"
    # nothing that changes from run to run or machine to machine
    assert nbformat.writes(execute.normalize(copy.deepcopy(nb))) == nbformat.writes(nb), \
        f"{path.name} is not stored as notebooks/execute.py stores it: {refresh}"
    text = nbformat.writes(nb)
    assert str(FOLDER.parent.resolve()) not in text and "/home/" not in text
    assert not re.search(r"0x[0-9a-f]{6,}", text), "a memory address in the outputs"


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_has_a_numerical_check_and_exercises(name):
    nb = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    heads = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert len(heads) == 1, "one Exercises section"
    before, exercises = nb.cells[:heads[0]], nb.cells[heads[0]:]
    assert "assert np.allclose(" in code_cells(nbformat.from_dict({"cells": before}))[-1].source
    checks = [c for c in exercises if c.cell_type == "code" and "ic.check_answer(" in c.source]
    assert len(checks) >= 2
    # the stored outputs show check_answer's verdicts: a wrong answer reported, a right one
    shown = "\n".join(o.get("text", "") for c in checks for o in c.outputs)
    assert "WRONG" in shown and "RIGHT" in shown


def test_a_stale_output_is_reported():
    """The comparison notices a changed output and names the cell; a cell that needs a
    package that is absent is not compared."""
    stored = nbformat.read(FOLDER / "01_dimension_analysis.ipynb", as_version=4)
    fresh = copy.deepcopy(stored)
    assert execute.stale_cells(stored, fresh) == []
    printed = next(o for c in code_cells(fresh) for o in c.outputs if o.output_type == "stream")
    printed.text = printed.text.replace("dW", "dV")
    stale = execute.stale_cells(stored, fresh)
    assert len(stale) == 1 and "stale" in stale[0] and "code cell" in stale[0]
    # trailing blanks and the digits of a rounding error do not count
    printed.text = printed.text.replace("dV", "dW").replace("\n", "  \n")
    assert execute.stale_cells(stored, fresh) == []
    assert execute.shown({"outputs": [nbformat.v4.new_output("stream", name="stdout", text="err 1.3e-09")]}) \
        == execute.shown({"outputs": [nbformat.v4.new_output("stream", name="stdout", text="err 4e-16")]})
    # the tag of an optional package that is missing skips the comparison
    execute.OPTIONAL["needs-nothing-such"] = "no_such_module_for_indexcalc"
    try:
        code_cells(stored)[0].metadata["tags"] = ["needs-nothing-such"]
        code_cells(fresh)[0].outputs = []
        assert execute.stale_cells(stored, fresh) == []
    finally:
        del execute.OPTIONAL["needs-nothing-such"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_its_outputs_are_current(path):
    stored = nbformat.read(path, as_version=4)
    nb = execute.execute(path)            # a cell that raises fails here (CellExecutionError)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    # derivations render as LaTeX (Jupyter's _repr_latex_), steps as Markdown with math
    assert any("text/latex" in o.get("data", {}) for o in outputs)
    steps = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert all("$$" in s for s in steps)
    recorded = stored.metadata.get("indexcalc", {}).get("printed_with")
    if recorded != execute.printed_with():  # another NumPy/SymPy may print the same values differently
        pytest.skip(f"{path.name} ran; its outputs were stored with {recorded}, not compared "
                    f"under {execute.printed_with()}")
    stale = execute.stale_cells(stored, nb)
    assert not stale, (f"{path.name}: " + "; ".join(stale)
                       + f". Refresh it: {execute.COMMAND} {path.name}")


def test_readme_links_every_notebook_and_pyproject_installs_jupyter():
    """README "Notebooks": a relative link to each notebook followed by what it teaches, and a
    picture of rendered output; the `notebooks` extra installs Jupyter and its Python kernel."""
    root = FOLDER.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Notebooks\n"):]
    section = section[:section.index("\n## ", 1)]
    for path in NOTEBOOKS:
        link = f"](notebooks/{path.name}):"
        assert link in section, f"README's Notebooks section does not link {path.name}"
        assert len(section.split(link, 1)[1].split("\n- ")[0].split()) >= 5, path.name
    pictures = re.findall(r"!\[[^\]]+\]\((docs/[\w.]+\.png)\)", section)
    assert pictures
    for picture in pictures:
        data = (root / picture).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) < 100_000, picture
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    extra = re.search(r"^notebooks = \[(.*)\]$", pyproject, re.M)
    assert extra and "jupyterlab" in extra.group(1) and "ipykernel" in extra.group(1)
    assert 'pip install -e ".[notebooks]"' in section
