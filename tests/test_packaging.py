"""Packaging: the sdist carries what its own tests need, the wheel carries the grammar, the
gallery, ``py.typed`` and the playground's static files (its bundled KaTeX), and the wheel installed into a fresh venv runs from another folder.

Both are built with setuptools' PEP 517 backend (``setuptools>=77``, a test extra) from a
copy of the tree in a temporary folder, so the tests need neither ``wheel`` nor ``build``
and leave no ``build/`` or ``*.egg-info`` in the tree. The fresh venv installs the
wheel's dependencies from the package registry (about 15 s with pip's cache); the test
is marked ``slow`` (deselect with ``-m "not slow"``).
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JUNK = (".git", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis", ".pytest_cache",
        ".benchmarks", ".venv", "*.pyc")
# what the sdist must carry besides the package: its tests need these
CARRIED = ("tests", "notebooks", "grammar")


def _backend(hook: str, project: Path, out: Path) -> Path:
    code = f"import sys; from setuptools import build_meta as b; print(b.{hook}(sys.argv[1]))"
    res = subprocess.run([sys.executable, "-c", code, str(out)], cwd=project, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return out / res.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist, wheel built from the unpacked sdist, the unpacked sdist's folder)."""
    pytest.importorskip("setuptools", minversion="77", reason="the test extra installs setuptools>=77")
    junk_before = {p.name for p in ROOT.iterdir() if p.name == "build" or p.name.endswith(".egg-info")}
    tmp = tmp_path_factory.mktemp("packaging")
    shutil.copytree(ROOT, tmp / "tree", ignore=shutil.ignore_patterns(*JUNK))
    sdist = _backend("build_sdist", tmp / "tree", tmp / "dist")
    with tarfile.open(sdist) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp / "unpacked", **safe)
    unpacked = tmp / "unpacked" / sdist.name[:-len(".tar.gz")]
    wheel = _backend("build_wheel", unpacked, tmp / "dist")  # as pip does: the wheel from the sdist
    junk_after = {p.name for p in ROOT.iterdir() if p.name == "build" or p.name.endswith(".egg-info")}
    assert junk_after <= junk_before, "building left junk in the tree"
    return sdist, wheel, unpacked


def test_wheel_carries_grammar_gallery_and_py_typed(built):
    _, wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("indexcalc/grammar/indexcalc.lark", "indexcalc/gallery/layernorm.ic", "indexcalc/cli.py",
              "indexcalc/py.typed", "indexcalc/web/static/app.js", "indexcalc/web/static/app.css",
              "indexcalc/web/static/katex/katex.min.js", "indexcalc/web/static/katex/katex.min.css",
              "indexcalc/web/static/katex/LICENSE", "indexcalc/web/static/katex/fonts/KaTeX_Main-Regular.woff2"):
        assert f in names, f
    fonts = [n for n in names if n.startswith("indexcalc/web/static/katex/fonts/")]
    assert len(fonts) == 20 and all(n.endswith(".woff2") for n in fonts), fonts  # the playground's KaTeX
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "notebooks/")) or "__pycache__" in n]
    import indexcalc
    meta = zipfile.ZipFile(wheel).read(f"indexcalc-{indexcalc.__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta and "Programming Language :: Python :: 3.13" in meta


def test_sdist_carries_what_its_tests_need(built):
    sdist, _, unpacked = built
    for folder in CARRIED + ("indexcalc",):
        here = {p.relative_to(ROOT) for p in (ROOT / folder).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
        missing = [str(p) for p in here if not (unpacked / p).is_file()]
        assert not missing, f"the sdist lacks {missing}"
    for f in ("LICENSE", "README.md", "pyproject.toml", "tests/golden/matmul.txt", "notebooks/tour.ipynb"):
        assert (unpacked / f).is_file(), f


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_runs_from_another_folder(built, tmp_path):
    _, wheel, _ = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    res = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          str(wheel)], capture_output=True, text=True)
    if res.returncode and any(w in res.stderr for w in ("NewConnectionError", "Could not find a version")):
        pytest.skip(f"the package registry is not reachable: {res.stderr.strip()[-300:]}")
    assert res.returncode == 0, res.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    def run(*argv):
        out = subprocess.run(argv, cwd=elsewhere, capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    assert run(str(bindir / "indexcalc"), "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "X,W") == \
        "dX[i,k] = dY[i,j]*W[k,j]\ndW[k,j] = X[i,k]*dY[i,j]\n"
    import indexcalc
    assert run(str(bindir / "indexcalc"), "--version").strip() == f"indexcalc {indexcalc.__version__}"
    where = run(str(python), "-c", "import indexcalc, pathlib; p = pathlib.Path(indexcalc.__file__).parent; "
                "print(p); assert (p / 'py.typed').is_file()").strip()
    assert Path(where).is_relative_to(venv), where  # the installed wheel, not this tree
    assert "PASS" in run(str(python), "-m", "indexcalc", "check", "--example", "attention")
