"""The grammar and the gallery ship inside the wheel (.ci/run also installs the wheel
into a fresh venv and runs it from another folder)."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_carries_grammar_and_gallery(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel, = tmp_path.glob("indexcalc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "indexcalc/grammar/indexcalc.lark" in names
    assert "indexcalc/gallery/layernorm.ic" in names
    assert "indexcalc/cli.py" in names
