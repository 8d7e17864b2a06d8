"""Small pieces both command-line commands share: where the table goes and writing JSON results."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.errors import PrepscopeError


def table_stream(json_target: str | None) -> TextIO:
    """Where the human-readable table goes: stderr when the JSON itself goes to stdout (``--json -``),
    so stdout stays valid JSON; stdout otherwise."""
    return sys.stderr if json_target == "-" else sys.stdout


def check_json_target(path: str | None) -> None:
    """Refuse an unwritable ``--json`` path before any work is done, not after a long run."""
    if not path or path == "-":
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise PrepscopeError(f"Cannot write {path}: it is a folder; give a file name.")
    if not parent.is_dir():
        raise PrepscopeError(f"Cannot write {path}: the folder {parent} does not exist.")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise PrepscopeError(f"Cannot write {path}: permission denied.")


def write_json(path: str, data: dict) -> None:
    """Write ``data`` as indented JSON to ``path``, or to stdout for ``-``."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if path == "-":
        print(text)
        return
    try:
        Path(path).write_text(text + "\n", encoding="utf-8")
    except OSError as e:
        raise PrepscopeError(f"Cannot write {path}: {e.strerror}.") from None


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path``, or to stdout for ``-``."""
    if path == "-":
        print(text, end="")
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise PrepscopeError(f"Cannot write {path}: {e.strerror}.") from None


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table: columns padded to their widest cell, a dashed rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def progress_printer(quiet: bool) -> Callable[[float, str], None] | None:
    """Progress on stderr (``[ 42%] message``): one updating line on a terminal, a line per 10% in a log; None
    with ``quiet``."""
    if quiet:
        return None
    last = [-1]
    tty = sys.stderr.isatty()

    def show(fraction: float, message: str) -> None:
        pct = int(fraction * 100)
        if tty and pct != last[0]:
            last[0] = pct
            print(f"\r[{pct:3d}%] {message[:90]:<90}", end="", file=sys.stderr, flush=True)
            if fraction >= 1.0:
                print(file=sys.stderr)
        elif not tty and pct // 10 != last[0]:  # a log file gets one line per 10%
            last[0] = pct // 10
            print(f"[{pct:3d}%] {message}", file=sys.stderr, flush=True)

    return show
