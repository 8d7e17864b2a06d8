"""The SQLite history of sweeps (``core.runs.store``) and its command line (``core.cli.runs``)."""

from core.paths import prepscope_home
from core.runs.store import SCHEMA_VERSION, RunsError, RunStore, RunSummary, default_path, record_each

__all__ = ["SCHEMA_VERSION", "RunStore", "RunSummary", "RunsError", "default_path", "prepscope_home", "record_each"]
