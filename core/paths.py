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
