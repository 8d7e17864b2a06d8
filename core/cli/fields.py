"""``python -m core fields``: every variant field with its type, allowed values, default and help."""

from __future__ import annotations

import argparse

from core.cliutil import format_table
from core.preprocess.schema import field_table

COLUMNS = ("field", "type", "values", "default", "help")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``fields [--markdown]``."""
    parser.add_argument("--markdown", action="store_true", help="the same table in Markdown (the README's copy)")


def fields_text() -> str:
    """The field table as printed (the README's variant field table is this text; a test keeps them in sync)."""
    return format_table([[r[c] for c in COLUMNS] for r in field_table()], list(COLUMNS))


def fields_markdown() -> str:
    """The same rows as ``fields_text`` as a Markdown table (``|`` in a cell escaped)."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "| " + " | ".join("---" for _ in COLUMNS) + " |"]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in field_table()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print ``fields_text()`` (or ``fields_markdown()`` with ``--markdown``)."""
    print(fields_markdown() if args.markdown else fields_text())
    return 0
