"""Sound to one-channel image: the spectrogram a Variant's ``spectrogram`` spec describes.

``compute_spectrogram`` is a pure, deterministic function of (waveform, sample rate, spec). The
rules it follows, documented once here:

- The waveform (mono float, any rate) is first resampled to ``spec.sample_rate`` with librosa's
  default resampler (soxr "HQ"), then analysed with a centred STFT (``librosa.stft``, zero padding).
- Orientation: the returned image has **low frequencies at the bottom**: row 0 is the highest
  frequency band (or the highest MFCC coefficient); columns are frames, left to right in time.
  There are ``1 + len // hop`` frames for ``len`` samples at ``spec.sample_rate``.
- Kinds: ``stft`` is the linear-frequency power spectrum in dB, rows = bins between ``fmin`` and
  ``fmax`` (all ``1 + n_fft // 2`` bins by default); ``mel`` is the mel power spectrum in dB with
  librosa's default filterbank (Slaney mel scale, Slaney area normalisation), rows = ``n_mels``;
  ``pcen`` is per-channel energy normalisation (``librosa.pcen`` with its defaults) of the mel power
  scaled by 2**31 as librosa's documentation recommends, rows = ``n_mels``; ``mfcc`` is the
  orthonormal DCT-II of the mel dB spectrogram with ``n_mfcc = n_mels`` (every coefficient kept),
  rows = coefficients, c0 at the bottom.
- Reference (stft, mel, mfcc): ``max`` is ``librosa.power_to_db(ref=np.max)``, so the loudest cell
  of the clip is 0 dB (exactly what librosa computes); ``fixed`` measures against full scale: 0 dB is
  the level a full-scale sine at the FFT bin nearest 1 kHz produces in its strongest row, so a clip's
  loudness is kept (a -20 dBFS sine near 1 kHz reads -20 dB; exact at any frequency for ``stft``, while
  for ``mel`` a sine's band energy depends on where it falls between the triangular filters, so away
  from 1 kHz it reads up to a few dB off, e.g. -24.4 dB at 3 kHz). ``top_db`` then clips the floor at the clip's peak
  minus ``top_db``. PCEN is already gain-normalised and ignores reference and top_db.
- Mapping to [0, 1] (``scaling``): ``fixed-db`` maps ``db_range`` linearly to [0, 1] and clips, the
  same for every clip; ``minmax`` maps the clip's own minimum to exactly 0 and maximum to exactly 1;
  ``percentile`` maps the clip's ``percentiles`` (low, high) to 0 and 1 and clips. A constant image
  (silence) maps to all zeros. For kinds without a dB scale, ``fixed-db`` means: PCEN values are
  divided by ``PCEN_FULL_SCALE`` and clipped; MFCC coefficients are brought to dB units (c0 / sqrt(n)
  is the mean band level and is mapped by ``db_range``; c_k * sqrt(2 / n), k >= 1, is the amplitude
  of a cosine ripple of the envelope, mapped so that 0 is 0.5 and +-half the range width are 1 and 0).
- Memory guard: a spectrogram whose STFT (or output) would exceed ``MAX_CELLS`` cells is refused
  with :class:`~core.errors.InvalidVariant`, as is a mel filterbank with empty bands.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from core.errors import InvalidVariant, UnsupportedInput
from core.preprocess.variant import Spectrogram

#: Largest number of time-frequency cells (STFT or output) computed for one spectrogram.
MAX_CELLS = 4096 * 4096
#: PCEN value mapped to 1.0 by ``fixed-db`` scaling (loud speech onsets in FSDD peak near 7).
PCEN_FULL_SCALE = 8.0
#: Frequency (Hz) of the full-scale sine that defines 0 dB for ``reference="fixed"``.
CALIBRATION_HZ = 1000.0
_AMIN = 1e-10
_FLUSH = 1e-20


def compute_spectrogram(waveform: np.ndarray, sr: int, spec: Spectrogram) -> np.ndarray:
    """Turn a mono waveform into the spectrogram image ``spec`` describes.

    ``waveform`` is a 1-D float array sampled at ``sr`` Hz; it is resampled to ``spec.sample_rate``
    first. The result is a float32 HxW array in [0, 1] with row 0 the highest frequency (see the
    module docstring for kinds, reference, top_db and scaling rules). Raises UnsupportedInput for an
    empty, multi-channel or non-finite waveform and InvalidVariant when the spec cannot be computed
    for it (too many cells, empty mel bands, fmin not below fmax).
    """
    y = _check_waveform(waveform, sr)
    target = spec.sample_rate
    n_out = int(np.ceil(len(y) * target / sr)) if sr != target else len(y)
    frames = 1 + n_out // spec.hop
    lo_hz, hi_hz = _band(spec)
    bins = 1 + spec.n_fft // 2
    rows = bins if spec.kind == "stft" else spec.n_mels
    cells = max(bins, rows) * frames
    if cells > MAX_CELLS:
        raise InvalidVariant(
            f"This spectrogram would need {max(bins, rows)} x {frames} cells (more than {MAX_CELLS:,}); "
            "raise the hop, lower n_fft, or use a shorter clip."
        )
    if sr != target:
        y = _resample(y, sr, target)
    power = _power(y, spec)
    if spec.kind == "stft":
        freqs = np.arange(bins) * (target / spec.n_fft)
        keep = (freqs >= lo_hz) & (freqs <= hi_hz)
        if not keep.any():
            raise InvalidVariant(
                f"No FFT bin lies between fmin {lo_hz:g} Hz and fmax {hi_hz:g} Hz; widen the band or raise n_fft."
            )
        img = _scale_db(_to_db(power[keep], spec), spec)
    else:
        mel = _project(_mel_basis(target, spec.n_fft, spec.n_mels, lo_hz, hi_hz), power)
        if spec.kind == "mel":
            img = _scale_db(_to_db(mel, spec), spec)
        elif spec.kind == "pcen":
            img = _scale_pcen(_pcen(mel, target, spec.hop), spec)
        else:
            img = _scale_mfcc(_mfcc(_to_db(mel, spec)), spec)
    return np.ascontiguousarray(img[::-1], dtype=np.float32)


def spectrogram_shape(n_samples: int, sr: int, spec: Spectrogram) -> tuple[int, int]:
    """The (rows, frames) ``compute_spectrogram`` returns for ``n_samples`` at ``sr`` Hz, without computing it."""
    n_out = int(np.ceil(n_samples * spec.sample_rate / sr)) if sr != spec.sample_rate else n_samples
    frames = 1 + n_out // spec.hop
    if spec.kind != "stft":
        return spec.n_mels, frames
    lo_hz, hi_hz = _band(spec)
    freqs = np.arange(1 + spec.n_fft // 2) * (spec.sample_rate / spec.n_fft)
    return int(((freqs >= lo_hz) & (freqs <= hi_hz)).sum()), frames


def _check_waveform(waveform: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(waveform)
    if y.ndim != 1:
        raise UnsupportedInput(f"A spectrogram needs a mono waveform (1-D); got shape {y.shape}. Mix it down first.")
    if y.size == 0:
        raise UnsupportedInput("The sound has no samples; there is nothing to show.")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise UnsupportedInput(f"The sample rate must be a positive integer; got {sr!r}.")
    y = y.astype(np.float32, copy=False)
    if not np.isfinite(y).all():
        raise UnsupportedInput("The sound contains non-finite samples (NaN or infinity); it cannot be analysed.")
    return y


def _band(spec: Spectrogram) -> tuple[float, float]:
    hi = spec.sample_rate / 2 if spec.fmax is None else float(spec.fmax)
    lo = float(spec.fmin)
    if not lo < hi:
        raise InvalidVariant(f"spectrogram.fmin ({lo:g} Hz) must be below fmax ({hi:g} Hz, Nyquist when empty).")
    return lo, hi


def _resample(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    import librosa

    return librosa.resample(y, orig_sr=int(sr), target_sr=int(target), res_type="soxr_hq").astype(np.float32)


def _power(y: np.ndarray, spec: Spectrogram) -> np.ndarray:
    import librosa

    frames = 1 + len(y) // spec.hop
    if len(y) < spec.n_fft:  # the same zeros the centred STFT pads with; spares librosa's short-input warning
        y = np.concatenate([y, np.zeros(spec.n_fft - len(y), dtype=y.dtype)])
    d = librosa.stft(y, n_fft=spec.n_fft, hop_length=spec.hop, window=spec.window, center=True, pad_mode="constant")
    power = (d.real[:, :frames] ** 2 + d.imag[:, :frames] ** 2).astype(np.float32)
    # Flush negligible powers (the empty band above an upsampled clip's old Nyquist) to zero: they lie
    # far below every dB floor used here (amin >= 1e-10), and products of them are subnormal floats,
    # which make the mel projection ~30x slower on x86.
    power[power < _FLUSH] = 0.0
    return power


def _project(basis: np.ndarray, power: np.ndarray) -> np.ndarray:
    # np.einsum without optimize never calls BLAS: a multi-threaded sgemm this small spends far longer
    # waiting for its second thread on a busy CPU than computing (measured: 20 ms against 0.3 ms).
    return np.einsum("mf,ft->mt", basis, power)


@lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    # Band k spans mel_f[k]..mel_f[k+2] (librosa's triangles); it is empty when no FFT bin lies inside.
    edges = librosa.mel_frequencies(n_mels=n_mels + 2, fmin=fmin, fmax=fmax)
    bins = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    inside = (bins[None, :] > edges[:-2, None]) & (bins[None, :] < edges[2:, None])
    empty = int((~inside.any(axis=1)).sum())
    if empty:
        raise InvalidVariant(
            f"{empty} of the {n_mels} mel bands contain no FFT bin at n_fft {n_fft} and {sr} Hz; "
            "lower n_mels, raise n_fft, or widen fmin..fmax."
        )
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=32)
def _full_scale_power(
    kind: str, sr: int, n_fft: int, hop: int, window: str, n_mels: int, lo: float, hi: float
) -> float:
    """Power a full-scale sine at the bin nearest CALIBRATION_HZ (inside the band) gives in its strongest row."""
    spacing = sr / n_fft
    f = CALIBRATION_HZ if lo <= CALIBRATION_HZ <= hi else (lo + hi) / 2
    f = min(max(round(f / spacing), 1), n_fft // 2 - 1) * spacing
    n = max(4 * n_fft, sr // 4)
    t = np.arange(n) / sr
    sine = np.sin(2 * np.pi * f * t).astype(np.float32)
    spec = Spectrogram(kind="stft", sample_rate=sr, n_fft=n_fft, hop=hop, window=window, n_mels=n_mels)
    power = _power(sine, spec)
    if kind != "stft":
        power = _project(_mel_basis(sr, n_fft, n_mels, lo, hi), power)
    mid = power[:, power.shape[1] // 2]
    return float(mid.max())


def _to_db(power: np.ndarray, spec: Spectrogram) -> np.ndarray:
    import librosa

    if spec.reference == "max":
        if not power.max() > _AMIN:  # silence: no peak to be relative to, so everything sits at the floor
            return np.full(power.shape, -spec.top_db, dtype=np.float32)
        return librosa.power_to_db(power, ref=np.max, amin=_AMIN, top_db=spec.top_db)
    lo, hi = _band(spec)
    ref = _full_scale_power(spec.kind, spec.sample_rate, spec.n_fft, spec.hop, spec.window, spec.n_mels, lo, hi)
    return librosa.power_to_db(power, ref=ref, amin=_AMIN * ref, top_db=spec.top_db)


def _pcen(mel: np.ndarray, sr: int, hop: int) -> np.ndarray:
    import librosa

    return librosa.pcen(mel * np.float32(2**31), sr=sr, hop_length=hop)


def _mfcc(db: np.ndarray) -> np.ndarray:
    from scipy.fft import dct

    return dct(db, type=2, axis=0, norm="ortho")


def _scale_db(db: np.ndarray, spec: Spectrogram) -> np.ndarray:
    if spec.scaling == "fixed-db":
        lo, hi = spec.db_range
        return np.clip((db - lo) / (hi - lo), 0.0, 1.0)
    return _scale_clip(db, spec)


def _scale_pcen(p: np.ndarray, spec: Spectrogram) -> np.ndarray:
    if spec.scaling == "fixed-db":
        return np.clip(p / PCEN_FULL_SCALE, 0.0, 1.0)
    return _scale_clip(p, spec)


def _scale_mfcc(c: np.ndarray, spec: Spectrogram) -> np.ndarray:
    if spec.scaling != "fixed-db":
        return _scale_clip(c, spec)
    n = c.shape[0]
    lo, hi = spec.db_range
    out = np.empty_like(c)
    out[0] = (c[0] / np.sqrt(n) - lo) / (hi - lo)
    out[1:] = 0.5 + c[1:] * np.sqrt(2.0 / n) / (hi - lo)
    return np.clip(out, 0.0, 1.0)


def _scale_clip(x: np.ndarray, spec: Spectrogram) -> np.ndarray:
    """Per-clip mappings: min-max (exact 0 and 1) or percentile clipping; a constant image maps to 0."""
    x = x.astype(np.float64)
    if spec.scaling == "minmax":
        lo, hi = float(x.min()), float(x.max())
    else:
        lo, hi = (float(v) for v in np.percentile(x, spec.percentiles))
    if not hi > lo:
        return np.zeros_like(x)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)
