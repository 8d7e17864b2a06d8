"""Input decoding with limits and clear errors: images (core.io.image) and sounds (core.io.audio)."""

from __future__ import annotations

from pathlib import Path

from core.errors import UnsupportedInput
from core.io.audio import decode_audio, looks_like_audio
from core.io.formats import media_kind
from core.io.image import decode_image
from core.signal import Signal


def load_input(source: bytes | str | Path, name: str | None = None, sha256: str | None = None) -> Signal:
    """Decode an image or a sound, chosen by the content's magic bytes (a sound's extension as a hint).
    ``sha256``: the content's hash when the caller already has it (it is then not computed again)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise UnsupportedInput(f"No such file: {path}." if not path.exists() else f"{path} is not a file.")
        with path.open("rb") as f:
            head = f.read(64)
        name = name or path.name
    else:
        head = bytes(source[:64])
    if not head:
        raise UnsupportedInput(f"{name or 'The input'!r} is empty (0 bytes); choose an image or a sound file.")
    # Content decides; a sound's extension on content that is neither gets the sound decoder's message.
    if looks_like_audio(head) or media_kind(name or "") == "audio":
        return decode_audio(source, name=name, sha256=sha256)
    return decode_image(source, name=name, sha256=sha256)
