"""Housekeeping of the feature cache folder: temporaries a killed sweep left behind.

The cache writes each variant's arrays to ``<key>.pooled.npy.tmp<pid>-<n>.npy`` (and ``.logits``) and renames
them into place when complete (``core.evaluate.features``). A sweep killed with ``kill -9`` never renames nor
removes them: nothing reads them again, and a large dataset leaves hundreds of megabytes. ``remove_orphans``
deletes the temporaries whose writing process is gone; it runs at the start of every sweep. A temporary of a
live process (another sweep, or this process's own writers in other threads) is never touched.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: ``<key>.pooled.npy.tmp1234-140123.npy``: the writer's process id after ``.tmp``.
TEMPORARY = re.compile(r"\.npy\.tmp(\d+)-[^/]*\.npy$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def orphans(root: str | Path) -> list[Path]:
    """Temporaries in the cache folder ``root`` whose writing process no longer runs."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = TEMPORARY.search(p.name)
        if m and p.is_file() and not _alive(int(m.group(1))):
            found.append(p)
    return sorted(found)


def remove_orphans(root: str | Path) -> int:
    """Delete the orphaned temporaries under ``root`` (see ``orphans``); returns how many were removed."""
    n = 0
    for p in orphans(root):
        try:
            p.unlink()
            n += 1
        except FileNotFoundError:  # another sweep removed it first
            pass
    return n
