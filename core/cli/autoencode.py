"""``python -m core autoencode gray|single``: the Autoencoder lab's commands (``core.autoencode.cli``)."""

from __future__ import annotations

from core.autoencode.cli import add_arguments

__all__ = ["add_arguments"]
