"""Where the Numba backend keeps its generated modules: written under a hash of their
text to ``$INDEXCALC_CACHE/numba`` (default ``~/.cache/indexcalc/numba``) and executed
from there, so that Numba's on-disk cache of compiled kernels, beside them, serves a
second process; loaded under a lock (threads compiling one program get one finished
module); a damaged cache file discarded with a warning; at most
``INDEXCALC_NUMBA_MODULES`` (32) modules kept in ``sys.modules``.

    >>> m = load("X = 1")
    >>> m.X, load("X = 1") is m
    (1, True)
"""

from __future__ import annotations

import hashlib
import os
import pickletools
import sys
import tempfile
import threading
import warnings
import weakref
from collections import OrderedDict
from pathlib import Path
from types import ModuleType

from indexcalc.errors import CacheError, IndexCalcWarning


def cache_dir() -> Path:
    """Where generated modules (and Numba's compiled kernels, beside them) are kept."""
    base = os.environ.get("INDEXCALC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "indexcalc")
    tried = (Path(base) / "numba", Path(tempfile.gettempdir()) / f"indexcalc-{os.getuid()}" / "numba")
    for folder in tried:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    raise CacheError(f"the numba backend keeps its compiled modules in a folder it can write, and "
                     f"neither {tried[0]} nor {tried[1]} can be created or written: set INDEXCALC_CACHE "
                     "to a folder you can write (or use the numpy backend)")


def load(src: str):
    """The module ``src``, executed from ``cache_dir()/ic_<hash>.py`` (written if absent or
    different) under a lock: threads compiling one program all get the finished module."""
    digest = hashlib.sha256(src.encode()).hexdigest()[:24]
    name = f"indexcalc_numba_{digest}"
    with _LOCK:
        module = _LOADED.get(name) or _ALIVE.get(name)
        if module is None:
            module = _ALIVE[name] = _execute(name, cache_dir() / f"ic_{digest}.py", src)
        publish(name, module)
        return module


_LOCK = threading.RLock()
_LOADED: OrderedDict = OrderedDict()  # module name -> module, least recently published first
# evicted modules still held (by a compiled function, or by Numba), found, not executed again
_ALIVE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _execute(name, path, src):  # a damaged cache file is discarded with a warning
    try:
        stale = path.read_bytes() != src.encode()  # garbled, truncated, or from a hash collision
    except FileNotFoundError:
        stale = None
    if stale:
        _discard(path, path)
    if stale is not False:  # written once: Numba's cache keys on its time stamp
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(src)
        os.replace(tmp, path)
    for entry in sorted((path.parent / "__pycache__").glob(f"{path.stem}.*.nb[ic]")):
        if not _readable(entry):
            _discard(path, entry)
            break
    module = ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # Numba's cache rebuilds a kernel's environment by importing it
    try:  # compiled here, not imported: no .pyc that could be stale or corrupt
        exec(compile(src, str(path), "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _readable(entry: Path) -> bool:
    """Whether Numba's cache file ``entry`` is whole: an index (``.nbi``: two pickles) or
    data (``.nbc``: one), read to the end as opcodes (nothing is unpickled)."""
    try:
        with open(entry, "rb") as f:
            for _ in range(2 if entry.suffix == ".nbi" else 1):
                for _ in pickletools.genops(f):
                    pass
            return not f.read(1)
    except FileNotFoundError:  # another process replaced it meanwhile
        return True
    except Exception:
        return False


def _discard(path: Path, bad: Path) -> None:
    """Every cache file of module ``path`` (Numba's beside it), with a warning naming ``bad``."""
    warnings.warn(f"the Numba cache file {bad} could not be read; it was discarded and the "
                  "program is compiled again", IndexCalcWarning, stacklevel=6)
    for entry in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
        entry.unlink(missing_ok=True)


def publish(name, module) -> None:
    """``module`` in ``sys.modules`` (where Numba's cache finds it), most recently used;
    beyond ``INDEXCALC_NUMBA_MODULES`` (32) the least recently used leaves."""
    with _LOCK:
        _LOADED[name] = module
        _LOADED.move_to_end(name)
        sys.modules[name] = module
        while len(_LOADED) > max(1, int(os.environ.get("INDEXCALC_NUMBA_MODULES", "32"))):
            old, gone = _LOADED.popitem(last=False)
            if sys.modules.get(old) is gone:
                del sys.modules[old]
