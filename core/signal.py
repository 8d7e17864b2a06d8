"""The Signal: a decoded input ready for preprocessing, with where it came from."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cached_property

import numpy as np


class Signal:
    """A decoded image or sound.

    ``array`` is float32 with values in [0, 1], shaped HxW (one channel) or HxWx3 (RGB).
    ``provenance`` records how it was produced (source name, decoder, original mode and size,
    conversions applied, content digest) so every number shown can say what produced it.
    ``audio`` holds the waveform (float32 mono) and its sample rate when the signal is a sound;
    then each Variant's spectrogram spec turns it into the image the pipeline sees, and ``array`` is
    only the sound's display spectrogram: a sound may give ``display`` (a function computing it)
    instead of ``array``, and it is computed on first use (a sweep never asks for it).
    A Signal is immutable: its attributes cannot be reassigned.
    """

    def __init__(
        self,
        array: np.ndarray | None = None,
        provenance: dict | None = None,
        audio: tuple[np.ndarray, int] | None = None,
        *,
        display: Callable[[], np.ndarray] | None = None,
    ) -> None:
        if array is None and (display is None or audio is None):
            raise TypeError("Signal needs an array (or, for a sound, a display function)")
        if array is not None:
            _check_array(array)
        set_ = object.__setattr__
        set_(self, "provenance", {} if provenance is None else provenance)
        set_(self, "audio", audio)
        set_(self, "_array", array)
        set_(self, "_display", display)

    provenance: dict
    audio: tuple[np.ndarray, int] | None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Signal is immutable; cannot assign {name!r}")

    def __repr__(self) -> str:
        shape = "lazy" if self._array is None else self._array.shape
        return f"Signal(array={shape}, audio={self.audio is not None}, provenance keys={sorted(self.provenance)})"

    @property
    def array(self) -> np.ndarray:
        a = self._array
        if a is None:
            a = self._display()
            _check_array(a)
            object.__setattr__(self, "_array", a)
        return a

    @property
    def is_gray(self) -> bool:
        return self.array.ndim == 2

    @cached_property
    def digest(self) -> str:
        """Content digest of the decoded data (stable cache key for engine results)."""
        if "digest" in self.provenance:
            return str(self.provenance["digest"])
        return array_digest(self.array if self.audio is None else self.audio[0])


def _check_array(a: np.ndarray) -> None:
    if a.dtype != np.float32:
        raise TypeError(f"Signal.array must be float32, got {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"Signal.array must be HxW or HxWx3, got shape {a.shape}")


def array_digest(a: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(a.shape).encode() + str(a.dtype).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
