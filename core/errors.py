"""Typed errors whose message is meant for the user, shown as-is in the page or on stderr.

A message that points at a setting names it the way the surface showing it does: ``on_surface(cli, page)``
embeds both wordings (``on_surface("--label-pattern", "the Label pattern field")``); ``str(err)`` is the
command line's sentence and ``page_message(err)`` the dashboard's, so a page never tells its user about a flag.
"""

from __future__ import annotations

import re

_OPEN, _SEP, _CLOSE = "\u27ea", "\u2758", "\u27eb"
_MARK = re.compile(f"{_OPEN}(.*?){_SEP}(.*?){_CLOSE}", re.S)


def on_surface(cli: str, page: str) -> str:
    """A phrase with its command-line and its dashboard wording; the message is rendered for one of them."""
    return f"{_OPEN}{cli}{_SEP}{page}{_CLOSE}"


def render(text: str, surface: str = "cli") -> str:
    """``text`` with every ``on_surface`` phrase in the wording of ``surface`` (``"cli"`` or ``"page"``)."""
    return _MARK.sub(lambda m: m.group(1) if surface == "cli" else m.group(2), text)


class PrepscopeError(Exception):
    """Base class: ``str(err)`` is a complete, actionable sentence for the user (command-line wording)."""

    def __str__(self) -> str:
        return render(super().__str__(), "cli")


def page_message(err: BaseException) -> str:
    """The error's sentence in the dashboard's wording (settings named as the page names them)."""
    text = Exception.__str__(err) if isinstance(err, PrepscopeError) else str(err)
    return render(text, "page")


class UnsupportedInput(PrepscopeError):
    """The input cannot be decoded: empty, truncated, not an image/sound, too large, unsupported."""


class InvalidVariant(PrepscopeError):
    """A variant specification is malformed or asks for a combination that cannot be computed."""


class InvalidDataset(PrepscopeError):
    """A dataset folder or archive is unusable (layout, limits, too few classes)."""


class UnknownModel(PrepscopeError):
    """The model name is not registered, or its weights cannot be loaded."""
