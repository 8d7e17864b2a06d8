"""Supported file formats, stated once: extensions of images and sounds, and sniffing a sound by its bytes.

Content decides what a file is; an extension is only a hint (``core.io.load_input``) and the way
dataset folders pick their files (``media_kind``).
"""

from __future__ import annotations

from pathlib import PurePath

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".bmp", ".tif", ".tiff", ".webp",
)
"""File name extensions of the accepted image formats (lower case, with the dot)."""

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
"""File name extensions of the accepted sound formats (lower case, with the dot)."""


def media_kind(name: str | PurePath) -> str | None:
    """``image``, ``audio`` or None, by the file name's extension."""
    ext = PurePath(name).suffix.lower()
    return "image" if ext in IMAGE_EXTENSIONS else "audio" if ext in AUDIO_EXTENSIONS else None


def sound_format(head: bytes) -> str | None:
    """The sound format whose signature the first bytes carry (WAV, AIFF, FLAC, Ogg, MP3), or None.

    Recognised: RIFF/RF64 ``WAVE``, ``FORM`` AIFF/AIFC, ``fLaC``, ``OggS``, ``ID3`` (tagged MP3) and a
    valid MPEG audio frame header (sync bits, and version, layer, bitrate and rate fields that are not
    reserved). Pass at least the first 12 bytes.
    """
    h = bytes(head[:16])
    if h[:4] in (b"RIFF", b"RF64") and h[8:12] == b"WAVE":
        return "WAV"
    if h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if h.startswith(b"fLaC"):
        return "FLAC"
    if h.startswith(b"OggS"):
        return "Ogg"
    if h.startswith(b"ID3"):
        return "MP3"
    if len(h) >= 3 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0:
        version, layer = (h[1] >> 3) & 3, (h[1] >> 1) & 3
        bitrate, rate = h[2] >> 4, (h[2] >> 2) & 3
        if version != 1 and layer != 0 and bitrate != 0xF and rate != 3:
            return "MP3"
    return None
