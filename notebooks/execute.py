"""Execute the notebooks in place and store them WITH their outputs (so that GitHub renders
the derivations), deterministically: each notebook in a fresh kernel started in this folder,
importing this checkout's indexcalc, with a fixed hash seed; no timing metadata, no
interpreter version, execution counts 1, 2, ... (README "Notebooks").

    python notebooks/execute.py                  # every notebook
    python notebooks/execute.py 02_tensor_calculus.ipynb

tests/test_notebooks.py re-executes every notebook and compares what it shows (printed
text and the text/plain, text/markdown and text/latex of results) with the stored outputs
(``stale_cells`` below; trailing blanks and the digits of tiny numbers such as
``1.3e-09`` do not count); a stale notebook fails there with this command. A cell tagged
``needs-torch`` shows PyTorch's results, so run this with PyTorch installed (the `torch`
extra); the tests skip that cell's comparison where PyTorch is absent.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

FOLDER = Path(__file__).resolve().parent
COMMAND = "python notebooks/execute.py"
#: the output types and MIME types compared (images and HTML, if any, are not)
COMPARED = ("text/plain", "text/markdown", "text/latex")
#: a cell whose outputs need an optional package: tag -> module
OPTIONAL = {"needs-torch": "torch"}
#: a number in scientific notation with a negative exponent (a rounding error, a finite
#: difference's relative error) differs between machines: compared as "<small>"
SMALL = re.compile(r"(?<![\w.])-?\d(?:\.\d+)?e-\d+\b")


def installed(module: str) -> bool:
    """Whether ``module`` imports (not merely whether it is found: a broken install counts as
    absent, as it does in the notebook's ``try: import``)."""
    if module not in _INSTALLED:
        try:
            importlib.import_module(module)
            _INSTALLED[module] = True
        except ImportError:
            _INSTALLED[module] = False
    return _INSTALLED[module]


_INSTALLED: dict[str, bool] = {}


def execute(path: Path, timeout: int = 120) -> nbformat.NotebookNode:
    """The notebook at ``path`` executed top to bottom in a fresh kernel, normalized."""
    nb = nbformat.read(path, as_version=4)
    # the kernel inherits the environment: a fixed hash seed (set orders), and this checkout's
    # indexcalc first on the path (not another copy installed elsewhere)
    pythonpath = os.pathsep.join(p for p in (str(FOLDER.parent), os.environ.get("PYTHONPATH")) if p)
    saved = {k: os.environ.get(k) for k in ("PYTHONHASHSEED", "PYTHONPATH")}
    os.environ.update(PYTHONHASHSEED="0", PYTHONPATH=pythonpath)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return normalize(nb, printed_with())


def printed_with() -> dict:
    """The versions whose printing the stored outputs show (NumPy's repr of arrays, SymPy's
    order of terms): another NumPy or SymPy may print the same values differently, so the
    test compares stored outputs only where these are the versions installed."""
    import numpy
    import sympy
    return {"numpy": ".".join(numpy.__version__.split(".")[:2]), "sympy": sympy.__version__}


def normalize(nb: nbformat.NotebookNode, printed: dict | None = None) -> nbformat.NotebookNode:
    """Drop what changes from run to run or machine to machine: the kernel's version
    details, per-cell timing metadata, how printed text was split into messages."""
    # the versions a fresh run printed with (printed), else those the notebook records
    printed = printed or nb.metadata.get("indexcalc", {}).get("printed_with") or printed_with()
    nb.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "indexcalc": {"printed_with": printed}})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.metadata.pop("collapsed", None)
            # printed text arrives in chunks that differ from run to run: one output per run of them
            outputs = []
            for out in cell.outputs:
                if (out.output_type == "stream" and outputs and outputs[-1].output_type == "stream"
                        and outputs[-1].name == out.name):
                    outputs[-1].text = "".join(outputs[-1].text) + "".join(out.text)
                else:
                    outputs.append(out)
            cell.outputs = outputs
    return nb


def shown(cell) -> list[str]:
    """What a code cell shows, as normalized text: its printed stdout and the compared
    representations of its results, in order."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and out.name == "stdout":
            parts.append(("stdout", out.text))
        elif out.output_type in ("execute_result", "display_data"):
            parts += [(mime, out.data[mime]) for mime in COMPARED if mime in out.data]
        elif out.output_type == "error":
            parts.append(("error", f"{out.ename}: {out.evalue}"))
    # stdout may arrive in several chunks: join adjacent ones
    merged: list[tuple[str, str]] = []
    for kind, text in parts:
        text = text if isinstance(text, str) else "".join(text)
        if merged and kind == "stdout" and merged[-1][0] == "stdout":
            merged[-1] = ("stdout", merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return [f"[{kind}]\n" + "\n".join(SMALL.sub("<small>", line.rstrip())
                                        for line in text.strip().splitlines())
            for kind, text in merged]


def stale_cells(stored, fresh) -> list[str]:
    """One message per code cell whose stored outputs differ from a fresh run's (the cell's
    number, counting code cells from 1, and its first line); a cell that needs a package
    that is not installed is not compared."""
    stored_code = [c for c in stored.cells if c.cell_type == "code"]
    fresh_code = [c for c in fresh.cells if c.cell_type == "code"]
    if [c.source for c in stored_code] != [c.source for c in fresh_code]:
        return ["the code cells differ between the stored and the executed notebook"]
    messages = []
    for number, (old, new) in enumerate(zip(stored_code, fresh_code), start=1):
        tags = old.metadata.get("tags", [])
        if any(tag in tags and not installed(module) for tag, module in OPTIONAL.items()):
            continue
        if shown(old) != shown(new):
            first = old.source.strip().splitlines()[0] if old.source.strip() else ""
            messages.append(f"code cell {number} ({first!r}): stored outputs are stale")
    return messages


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in FOLDER.glob("*.ipynb"))
    missing = [m for m in OPTIONAL.values() if not installed(m)]
    if missing:
        print(f"execute.py: {', '.join(missing)} not installed: the cells that need it would store "
              "a skip message; install the extras first", file=sys.stderr)
        return 2
    for name in names:
        path = FOLDER / name
        try:
            nb = execute(path)
        except CellExecutionError as error:
            print(f"{name}: a cell failed, not written: {error.ename}: {error.evalue}",
                  file=sys.stderr)
            return 1
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"{name}: executed and stored with its outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
