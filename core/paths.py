"""Where prepscope keeps local state: ``$PREPSCOPE_HOME`` (default ``~/.cache/prepscope``).

Inside it: ``features/`` (the sweep feature cache, movable by ``PREPSCOPE_CACHE_DIR``), ``models/`` (trained
autoencoders with their cards, movable by ``PREPSCOPE_MODELS_DIR``) and ``runs.sqlite``
(the history of sweeps). Deleting any of them loses history, never correctness.
"""

from __future__ import annotations

import os
from pathlib import Path


def prepscope_home() -> Path:
    """``$PREPSCOPE_HOME`` if set, else ``~/.cache/prepscope``."""
    env = os.environ.get("PREPSCOPE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "prepscope"


def data_root() -> Path | None:
    """Where the dashboard lists dataset folders: ``$PREPSCOPE_DATA_ROOT``, else ``../shared/data`` beside
    the project when it exists, else None."""
    env = os.environ.get("PREPSCOPE_DATA_ROOT")
    if env:
        return Path(env).expanduser()
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return default if default.is_dir() else None
