"""Built-in sounds: a small labelled sound set the project synthesizes deterministically (no downloads).

Seven classes (``SOUND_CLASSES``), each a short clip (0.6 to 1.0 s) with a 10 ms fade in and out, a
peak level between -6 and -1 dBFS and white background noise at a signal-to-noise ratio:

- ``tone``: a pure sine, 250 Hz to 3 kHz (log-uniform).
- ``chirp-up`` / ``chirp-down``: an exponential sweep between 150-600 Hz and 2-6 kHz.
- ``am-tone``: a sine carrier (400 Hz to 2.5 kHz) amplitude-modulated at 3-15 Hz, depth 0.6-1.
- ``noise-burst``: a 0.1-0.4 s burst of white noise at a random position, silence around it.
- ``click-train``: 1 ms decaying clicks at 8-40 per second.
- ``harmonic-stack``: a 100-400 Hz fundamental with harmonics up to 6 kHz at amplitude 1/k.

Pitch, duration, level and SNR come from a ``numpy.random.Generator``; ``builtin_sounds`` seeds one
generator per clip from (seed, class, index), so the same seed gives bit-identical clips and asking
for more clips per class never changes the earlier ones. Each clip has a ``group`` that sets its SNR
range (``clean`` 30-40 dB, ``mild`` 18-30 dB, ``noisy`` 8-18 dB), cycling with the index, so a
grouped split can test robustness to recording conditions like FSDD's speakers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import InvalidDataset, UnsupportedInput
from core.io.audio import waveform_to_signal
from core.signal import Signal, array_digest

SOUND_CLASSES: tuple[str, ...] = (
    "tone",
    "chirp-up",
    "chirp-down",
    "am-tone",
    "noise-burst",
    "click-train",
    "harmonic-stack",
)
"""Labels of the built-in sound classes (no ``_``, so ``{label}_{group}_{n}.wav`` parses back)."""

GROUPS: dict[str, tuple[float, float]] = {"clean": (30.0, 40.0), "mild": (18.0, 30.0), "noisy": (8.0, 18.0)}
"""Group name -> SNR range in dB; clip ``i`` of a class belongs to group ``i % 3``."""

_FADE_S = 0.01


@dataclass
class SoundItem:
    """One built-in clip: file-style name, class label, group (SNR condition), mono waveform and rate."""

    name: str
    label: str
    group: str
    waveform: np.ndarray
    sr: int


def synth_clip(label: str, rng: np.random.Generator, sr: int = 16000, *, snr_db: float | None = None) -> np.ndarray:
    """Synthesize one clip of class ``label`` as a float32 mono waveform in [-1, 1] at ``sr`` Hz.

    Every random choice (duration, pitch, modulation, position, level, noise) is drawn from ``rng``
    in a fixed order, so equal generator states give equal clips. ``snr_db`` sets the background
    noise level against the clip's own power; when None it is drawn uniformly from 8 to 40 dB.
    Raises UnsupportedInput for an unknown label or a rate outside 8 to 96 kHz.
    """
    if label not in SOUND_CLASSES:
        raise UnsupportedInput(f"Unknown built-in sound {label!r}; choose one of {', '.join(SOUND_CLASSES)}.")
    if not isinstance(sr, int) or not 8000 <= sr <= 96000:
        raise UnsupportedInput(f"The built-in sounds need a sample rate between 8000 and 96000 Hz; got {sr!r}.")
    nyq = sr / 2
    n = int(round(rng.uniform(0.6, 1.0) * sr))
    t = np.arange(n) / sr
    if label == "tone":
        f = _log_uniform(rng, 250.0, min(3000.0, 0.4 * nyq))
        x = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    elif label in ("chirp-up", "chirp-down"):
        lo = _log_uniform(rng, 150.0, 600.0)
        hi = _log_uniform(rng, 2000.0, min(6000.0, 0.75 * nyq))
        f0, f1 = (lo, hi) if label == "chirp-up" else (hi, lo)
        dur = n / sr
        k = np.log(f1 / f0)
        x = np.sin(2 * np.pi * f0 * dur / k * (np.exp(k * t / dur) - 1.0))
    elif label == "am-tone":
        f = _log_uniform(rng, 400.0, min(2500.0, 0.4 * nyq))
        rate, depth = rng.uniform(3.0, 15.0), rng.uniform(0.6, 1.0)
        x = (1 - depth / 2 + depth / 2 * np.sin(2 * np.pi * rate * t)) * np.sin(2 * np.pi * f * t)
    elif label == "noise-burst":
        m = int(round(rng.uniform(0.1, 0.4) * sr))
        start = int(rng.integers(0, n - m + 1))
        x = np.zeros(n)
        x[start : start + m] = rng.standard_normal(m) * _fade(m, sr)
    elif label == "click-train":
        period = int(round(sr / rng.uniform(8.0, 40.0)))
        offset = int(rng.integers(0, period))
        click = np.exp(-np.arange(int(0.001 * sr) + 1) / (0.0002 * sr))
        x = np.zeros(n)
        for s in range(offset, n - click.size, period):
            x[s : s + click.size] += click
    else:
        f0 = _log_uniform(rng, 100.0, 400.0)
        ks = np.arange(1, int(min(6000.0, 0.9 * nyq) // f0) + 1)
        phases = rng.uniform(0, 2 * np.pi, ks.size)
        x = (np.sin(2 * np.pi * f0 * ks[:, None] * t[None, :] + phases[:, None]) / ks[:, None]).sum(axis=0)
    x = x * _fade(n, sr)
    peak_db = rng.uniform(-6.0, -1.0)
    snr = rng.uniform(8.0, 40.0) if snr_db is None else float(snr_db)
    power = float(np.mean(x**2)) or 1e-12
    x = x + rng.standard_normal(n) * np.sqrt(power / 10 ** (snr / 10))
    x = x / (np.abs(x).max() or 1.0) * 10 ** (peak_db / 20)
    return x.astype(np.float32)


def builtin_sounds(n_per_class: int = 20, seed: int = 0, sr: int = 16000) -> list[SoundItem]:
    """The built-in labelled sound set: ``n_per_class`` clips of each class in ``SOUND_CLASSES``.

    Clip ``i`` of class ``c`` is drawn from ``numpy.random.default_rng([seed, c, i])`` with the SNR
    range of its group (``GROUPS``, cycling with ``i``), so the same seed gives bit-identical
    waveforms, a different seed different ones, and a larger ``n_per_class`` keeps the earlier clips.
    Items are ordered by class, then index; names are ``{label}_{group}_{i}``.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or not 1 <= n_per_class <= 1000:
        raise InvalidDataset(f"The built-in sound set needs 1 to 1000 clips per class; got {n_per_class!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidDataset(f"The seed must be a non-negative integer; got {seed!r}.")
    groups = list(GROUPS)
    items = []
    for c, label in enumerate(SOUND_CLASSES):
        for i in range(n_per_class):
            group = groups[i % len(groups)]
            rng = np.random.default_rng([seed, c, i])
            snr = rng.uniform(*GROUPS[group])
            wave = synth_clip(label, rng, sr, snr_db=snr)
            items.append(SoundItem(name=f"{label}_{group}_{i}", label=label, group=group, waveform=wave, sr=sr))
    return items


def item_signal(item: SoundItem, name: str | None = None) -> Signal:
    """A built-in clip as a :class:`Signal`, like ``decode_audio`` gives: through the same helper the
    decoder uses, so its provenance has the same keys (format ``synthesized``) and its digest is the
    content digest of the waveform."""
    name = name or item.name
    provenance = {"source": name, "name": name, "kind": "audio", "decoder": "prepscope synthesizer (core.io.synth)",
                  "format": "synthesized", "subtype": "FLOAT", "label": item.label}
    wave = np.ascontiguousarray(item.waveform, dtype=np.float32)
    return waveform_to_signal(wave, item.sr, provenance=provenance, digest=array_digest(wave))


def sample_clip(label: str = "chirp-up", seed: int = 0) -> Signal:
    """The dashboard's default sound: ``builtin_sounds``' first clip of ``label`` for ``seed`` (16 kHz,
    group ``clean``) as a :class:`Signal`."""
    if label not in SOUND_CLASSES:
        raise UnsupportedInput(f"Unknown built-in sound {label!r}; choose one of {', '.join(SOUND_CLASSES)}.")
    item = builtin_sounds(1, seed)[SOUND_CLASSES.index(label)]
    return item_signal(item, f"builtin:{item.name} (seed {seed})")


def write_wav_folder(folder: str | os.PathLike[str], n_per_class: int = 20, seed: int = 0) -> list[Path]:
    """Write the built-in set as 16-bit PCM WAV files ``{label}_{group}_{i}.wav`` into ``folder``.

    The folder is created when missing; the flat-folder dataset loader reads the label before the
    first ``_`` and the group after it. Returns the written paths in ``builtin_sounds`` order.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in builtin_sounds(n_per_class, seed):
        path = out / f"{item.name}.wav"
        sf.write(str(path), item.waveform, item.sr, subtype="PCM_16")
        paths.append(path)
    return paths


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _fade(n: int, sr: int) -> np.ndarray:
    k = min(int(_FADE_S * sr), n // 2)
    env = np.ones(n)
    if k > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        env[:k], env[n - k :] = ramp, ramp[::-1]
    return env


def zone_plate(size: int = 512) -> np.ndarray:
    """A zone plate: concentric rings whose spatial frequency grows linearly from the center, reaching the pixel
    grid's Nyquist limit (0.5 cycles per pixel) at the middle of each edge. Shrunk without low-pass filtering, the
    fine outer rings alias into false, coarser rings (moiré); an antialiased resize turns them into flat gray.
    An (size, size) float array in [0, 1], deterministic."""
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r2 = (x - c) ** 2 + (y - c) ** 2
    return (0.5 + 0.5 * np.cos(np.pi * r2 / size)).astype(np.float32)

