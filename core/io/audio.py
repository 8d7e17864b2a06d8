"""Safe sound decoding: bytes or a path in, a :class:`~core.signal.Signal` with its waveform out.

Formats are whatever libsndfile (through soundfile) reads: WAV (PCM 8/16/24/32-bit, 32/64-bit float),
FLAC, OGG (Vorbis, Opus), MP3 and AIFF. Rules, documented once here:

- Samples are read as float32: integer PCM is scaled to [-1, 1) by its full scale (value / 2**(bits-1),
  unsigned 8-bit is centred first); float files are kept as stored (not clipped). Any NaN or infinite
  sample refuses the file.
- Mono mixdown: the arithmetic mean of all channels with equal weights (librosa's ``to_mono`` rule).
  A phase-inverted stereo pair therefore cancels; the rule is recorded in ``provenance["mixdown"]``.
- Maximum duration: only the first ``max_seconds`` are ever decoded (soundfile is asked for that many
  frames), so a long file costs no more memory than ``max_seconds`` of it; the truncation is recorded
  (``truncated``, ``notice``).
- Minimum duration: a file with no frames is refused; a shorter, non-empty sound is zero-padded at the
  end to ``min_seconds`` (``padded``, ``notice``), because a spectrogram needs a few frames.
- Resampling: with ``target_sr`` the waveform is resampled (librosa, soxr "HQ") after mixdown;
  otherwise the file's own rate is kept. Each Variant's spectrogram resamples to its own rate anyway.
- ``Signal.array`` is the default spectrogram (``compute_spectrogram(wave, sr, Spectrogram())``) for
  display, computed on first use (a sweep, which only needs each variant's own spectrogram, never pays
  for it); ``Signal.audio`` is ``(mono float32 waveform, sample rate)``.
- ``provenance["digest"]`` is the first 16 hex digits of the SHA-256 of the input bytes. When the
  decode settings differ from the defaults it is instead the SHA-256 of (that hash + the settings),
  so two decodes of one file that give different waveforms never share a cache key. ``sha256`` is
  always the plain hash of the bytes.

Refusals are :class:`~core.errors.UnsupportedInput` with a sentence for the user: empty input, input
over ``MAX_BYTES``, a header with no samples, data libsndfile cannot recognise, non-finite samples.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import UnsupportedInput
from core.io.formats import sound_format
from core.preprocess.spectrogram import compute_spectrogram
from core.preprocess.variant import Spectrogram
from core.signal import Signal

MAX_BYTES: int = 256 * 1024 * 1024
"""Largest accepted encoded sound, in bytes (256 MiB); only ``max_seconds`` of it are ever decoded."""

DEFAULT_MAX_SECONDS = 30.0
DEFAULT_MIN_SECONDS = 0.1
MAX_SECONDS_LIMIT = 300.0
"""Largest allowed ``max_seconds``: the display spectrogram of 5 minutes stays under the cell limit."""
MIXDOWN_RULE = "mean of all channels (equal weights)"
_FORMATS_SENTENCE = "use WAV, FLAC, OGG, MP3 or AIFF"
_CHUNK = 1 << 20


def looks_like_audio(head: bytes) -> bool:
    """True when the first bytes of a file carry a sound format's signature (``core.io.formats.sound_format``)."""
    return sound_format(head) is not None


def decode_audio(
    source: bytes | bytearray | memoryview | str | os.PathLike[str],
    *,
    name: str | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    target_sr: int | None = None,
    sha256: str | None = None,
) -> Signal:
    """Decode a sound file into a :class:`Signal` holding its mono waveform and a display spectrogram.

    ``source`` is the encoded bytes or a path (a path is never read whole into memory: it is hashed
    in chunks and soundfile decodes only the first ``max_seconds``). ``name`` is shown in messages
    and provenance (default: the path's name, or ``"upload"``). Longer sounds are truncated with a
    notice, shorter non-empty ones are zero-padded to ``min_seconds``, and ``target_sr`` resamples;
    the module docstring gives every rule. ``sha256`` is the file's hash when the caller already has it
    (a dataset hashes each file once, when it is scanned). Raises :class:`~core.errors.UnsupportedInput` for empty,
    oversized, header-only, unrecognised or non-finite input.
    """
    _check_settings(max_seconds, min_seconds, target_sr)
    data, path, shown = _source(source, name)
    size = len(data) if data is not None else path.stat().st_size  # type: ignore[union-attr]
    if size == 0:
        raise UnsupportedInput(f"'{shown}' is empty (0 bytes); choose a sound file ({_FORMATS_SENTENCE}).")
    if size > MAX_BYTES:
        raise UnsupportedInput(
            f"'{shown}' is {size / 2**20:.1f} MiB; the limit is {MAX_BYTES / 2**20:.0f} MiB. "
            "Cut the part you want to a shorter file first."
        )
    sha = sha256 or _sha256(data, path)
    try:
        handle = sf.SoundFile(io.BytesIO(data) if data is not None else str(path))
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as exc:
        raise UnsupportedInput(_unreadable_message(shown, data, path)) from exc
    with handle as f:
        sr, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
        fmt, subtype = str(f.format), str(f.subtype)
        if sr <= 0 or channels <= 0:
            raise UnsupportedInput(f"'{shown}' has an invalid header ({sr} Hz, {channels} channels).")
        max_frames = max(1, int(round(max_seconds * sr)))
        try:
            wave = f.read(frames=max_frames + 1, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            raise UnsupportedInput(f"'{shown}' is corrupt: its samples cannot be decoded ({exc}).") from exc
    if wave.shape[0] == 0:
        raise UnsupportedInput(
            f"'{shown}' contains no audio samples (a {fmt} header with no data); record or export it again."
        )
    truncated = wave.shape[0] > max_frames
    wave = wave[:max_frames]
    if frames <= 0 or frames < wave.shape[0]:
        frames = wave.shape[0] + (1 if truncated else 0)  # streams whose length the header does not give
    provenance: dict = {
        "source": shown,
        "name": shown,
        "kind": "audio",
        "decoder": f"soundfile {sf.__version__} (libsndfile {sf.__libsndfile_version__})",
        "format": fmt,
        "subtype": subtype,
        "bytes": size,
        "sha256": sha,
    }
    settings = (max_seconds, min_seconds, target_sr) != (DEFAULT_MAX_SECONDS, DEFAULT_MIN_SECONDS, None)
    suffix = f"|max_seconds={max_seconds!r}|min_seconds={min_seconds!r}|target_sr={target_sr!r}" if settings else ""
    digest = hashlib.sha256(bytes.fromhex(sha) + suffix.encode()).hexdigest() if settings else sha
    return waveform_to_signal(
        wave,
        sr,
        provenance=provenance,
        digest=digest[:16],
        original_frames=frames,
        truncated=truncated,
        min_seconds=min_seconds,
        target_sr=target_sr,
    )


def waveform_to_signal(
    wave: np.ndarray,
    sr: int,
    *,
    provenance: dict,
    digest: str,
    original_frames: int | None = None,
    truncated: bool = False,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    target_sr: int | None = None,
) -> Signal:
    """Build the sound :class:`Signal` from decoded samples, by the same rules for files and built-ins.

    ``wave`` is float samples shaped (frames,) or (frames, channels) at ``sr`` Hz, already cut to the
    maximum duration (``truncated`` says whether it was, ``original_frames`` how long the source is).
    This applies the non-finite check, the mono mixdown, resampling to ``target_sr``, padding to
    ``min_seconds`` and the default display spectrogram (computed when ``Signal.array`` is first read), and
    completes ``provenance`` (a copy) with channels, rates, durations, the mixdown rule, notices and ``digest``.
    """
    shown = str(provenance.get("source", "sound"))
    w = np.asarray(wave, dtype=np.float32)
    if w.ndim == 1:
        w = w[:, None]
    if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] == 0:
        raise UnsupportedInput(f"'{shown}' contains no audio samples; record or export it again.")
    if not np.isfinite(w).all():
        bad = int((~np.isfinite(w)).sum())
        raise UnsupportedInput(
            f"'{shown}' contains {bad} non-finite sample(s) (NaN or infinity); it cannot be analysed. "
            "Re-export it from the program that made it."
        )
    channels = w.shape[1]
    mono = w[:, 0] if channels == 1 else w.mean(axis=1, dtype=np.float64).astype(np.float32)
    kept_frames = mono.shape[0]
    original_frames = kept_frames if original_frames is None else int(original_frames)
    out_sr = int(sr)
    if target_sr is not None and int(target_sr) != out_sr:
        import librosa

        mono = librosa.resample(mono, orig_sr=out_sr, target_sr=int(target_sr), res_type="soxr_hq")
        out_sr = int(target_sr)
    kept_s = kept_frames / sr
    min_frames = int(math.ceil(min_seconds * out_sr))
    padded = mono.shape[0] < min_frames
    if padded:
        mono = np.concatenate([mono, np.zeros(min_frames - mono.shape[0], dtype=np.float32)])
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    notices = []
    if truncated:
        notices.append(
            f"Only the first {kept_s:.2f} s of {original_frames / sr:.2f} s were decoded (the maximum duration); "
            "the rest of the sound is ignored."
        )
    if padded:
        notices.append(f"The sound lasts {kept_s:.3f} s; it was padded with silence to {min_seconds:g} s.")
    prov = dict(provenance)
    prov.update(
        {
            "kind": "audio",
            "channels": channels,
            "mixdown": MIXDOWN_RULE if channels > 1 else "none (mono)",
            "original_sample_rate": int(sr),
            "sample_rate": out_sr,
            "resampled": out_sr != int(sr),
            "original_duration_s": original_frames / sr,
            "kept_duration_s": kept_s,
            "duration_s": mono.shape[0] / out_sr,
            "truncated": bool(truncated),
            "padded": bool(padded),
            "notice": " ".join(notices),
            "peak": float(np.abs(mono).max()),
            "display_spectrogram": Spectrogram().to_dict(),
            "digest": digest,
        }
    )
    display = lambda: compute_spectrogram(mono, out_sr, Spectrogram())  # noqa: E731 - computed on first use
    return Signal(provenance=prov, audio=(mono, out_sr), display=display)


def _check_settings(max_seconds: float, min_seconds: float, target_sr: int | None) -> None:
    if not (isinstance(max_seconds, (int, float)) and 0 < max_seconds <= MAX_SECONDS_LIMIT):
        raise UnsupportedInput(
            f"The maximum duration must be more than 0 and at most {MAX_SECONDS_LIMIT:g} seconds; got {max_seconds!r}."
        )
    if not (isinstance(min_seconds, (int, float)) and 0 <= min_seconds <= max_seconds):
        raise UnsupportedInput(
            f"The minimum duration must be between 0 and the maximum ({max_seconds:g} s); got {min_seconds!r}."
        )
    bad_type = isinstance(target_sr, bool) or not isinstance(target_sr, int)
    if target_sr is not None and (bad_type or not 1000 <= target_sr <= 192000):
        raise UnsupportedInput(
            f"The target sample rate must be an integer between 1000 and 192000 Hz; got {target_sr!r}."
        )


def _source(source: object, name: str | None) -> tuple[bytes | None, Path | None, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None, name or "upload"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        shown = name or path.name or str(path)
        if path.is_dir():
            raise UnsupportedInput(f"'{path}' is a folder, not a sound file.")
        if not path.exists():
            raise UnsupportedInput(f"'{path}' does not exist; check the path.")
        if not os.access(path, os.R_OK):
            raise UnsupportedInput(f"'{path}' cannot be read (permission denied).")
        return None, path, shown
    raise UnsupportedInput(f"Cannot read a sound from a {type(source).__name__}; pass the file's bytes or its path.")


def _sha256(data: bytes | None, path: Path | None) -> str:
    h = hashlib.sha256()
    if data is not None:
        h.update(data)
        return h.hexdigest()
    try:
        with open(path, "rb") as fh:  # type: ignore[arg-type]
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise UnsupportedInput(f"'{path}' cannot be read: {exc.strerror or exc}.") from exc
    return h.hexdigest()


def _unreadable_message(shown: str, data: bytes | None, path: Path | None) -> str:
    if data is not None:
        head = data[:16]
    else:
        with open(path, "rb") as fh:  # type: ignore[arg-type]
            head = fh.read(16)
    if looks_like_audio(head):
        return f"'{shown}' looks like a sound file but its header is corrupt or truncated; export it again."
    if head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n":
        return f"'{shown}' is an image, not a sound; use the image input instead."
    return f"'{shown}' is not a sound file this program can read; {_FORMATS_SENTENCE}."
