"""Replace one table of ``benchmarks/RESULTS.md`` in place: the ``--write`` of the scripts.

A table is a ``### `` heading line (the first line of ``section``) and what follows it up to
the next ``## `` or ``### `` heading or HTML comment line (so the notes under a heading of
their own, and the next script's ``## `` section, are kept); a table not there yet is
appended at the end of the file.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "RESULTS.md"
>>> _ = p.write_text("# R\\n\\n## s\\n\\n### t, 1 thread\\n\\n| a |\\n\\n### t: notes\\n\\nkept\\n\\n## next\\n")
>>> replace_section(p, "### t, 1 thread\\n\\n| b |\\n")
>>> print(p.read_text())
# R
<BLANKLINE>
## s
<BLANKLINE>
### t, 1 thread
<BLANKLINE>
| b |
<BLANKLINE>
### t: notes
<BLANKLINE>
kept
<BLANKLINE>
## next
<BLANKLINE>
"""
import re
from pathlib import Path

_NEXT = re.compile(r"^(## |### |<!-- )", re.M)


def replace_section(path, section: str) -> None:
    """Put ``section`` in place of the table whose heading is its first line, or append it."""
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    title = section.splitlines()[0]
    body = section.rstrip() + "\n"
    m = re.search("^" + re.escape(title) + "$", text, re.M)
    if m is None:
        path.write_text(text.rstrip() + "\n\n" + body)
        return
    nxt = _NEXT.search(text, m.end())
    rest = "\n" + text[nxt.start():] if nxt else ""
    path.write_text(text[:m.start()] + body + rest)
