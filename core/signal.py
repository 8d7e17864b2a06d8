"""The Signal: a decoded input ready for preprocessing, with where it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class Signal:
    """A decoded image or spectrogram.

    ``array`` is float32 with values in [0, 1], shaped HxW (one channel) or HxWx3 (RGB).
    ``provenance`` records how it was produced (source name, decoder, original mode and size,
    conversions applied, content digest) so every number shown can say what produced it.
    ``audio`` holds the waveform (float32 mono) and its sample rate when the signal is a sound;
    then each Variant's spectrogram spec turns it into the image the pipeline sees.
    """

    array: np.ndarray
    provenance: dict = field(default_factory=dict)
    audio: tuple[np.ndarray, int] | None = None

    def __post_init__(self) -> None:
        a = self.array
        if a.dtype != np.float32:
            raise TypeError(f"Signal.array must be float32, got {a.dtype}")
        if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
            raise ValueError(f"Signal.array must be HxW or HxWx3, got shape {a.shape}")

    @property
    def is_gray(self) -> bool:
        return self.array.ndim == 2

    @cached_property
    def digest(self) -> str:
        """Content digest of the decoded data (stable cache key for engine results)."""
        if "digest" in self.provenance:
            return str(self.provenance["digest"])
        return array_digest(self.array if self.audio is None else self.audio[0])


def array_digest(a: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(a.shape).encode() + str(a.dtype).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]
