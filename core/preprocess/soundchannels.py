"""Three channels from one sound: ``multi-window`` and ``deltas`` (float32 HxWx3 in [0, 1]).

Rules, documented once here:

- ``multi-window`` (Palanisamy et al. 2020, "Rethinking CNN models for audio classification", the
  ESC-50 / UrbanSound8K recipe): channel i is the variant's spectrogram (kind mel, pcen or mfcc; its
  sample rate, mel bands, band, dB reference and scaling) computed with a window of
  ``round(windows_ms[i] * sample_rate / 1000)`` samples (the FFT size) and a hop of
  ``round(hops_ms[i] * sample_rate / 1000)`` samples. The channels share their rows (mel bands) but not
  their frame counts, so channels 2 and 3 are linearly interpolated along time onto channel 1's frame
  times (centred frames: frame k sits at k * hop samples; beyond the last frame the last value is
  held). The stack is then resized like any image.
- ``deltas``: channel 1 is the variant's spectrogram S (in [0, 1]); channels 2 and 3 are
  ``librosa.feature.delta(S, width, order=1)`` and ``order=2`` along time (Savitzky-Golay
  derivatives, in image units per frame). A delta is signed, so it is mapped to [0, 1] with 0 at 0.5:
  ``0.5 + 0.5 * d / r``, clipped, where r is ``delta_range``, or, when that is empty, the clip's own
  largest |d| in that channel (an all-zero delta maps to 0.5).
"""

from __future__ import annotations

import numpy as np

from core.errors import InvalidVariant
from core.preprocess.spectrogram import compute_spectrogram
from core.preprocess.variant import Deltas, MultiWindow, Spectrogram


def multi_window_specs(spec: Spectrogram, mw: MultiWindow) -> list[Spectrogram]:
    """The three spectrogram specs of a multi-window stack: ``spec`` with each channel's window (as
    n_fft) and hop in samples at ``spec.sample_rate``."""
    out = []
    sr = spec.sample_rate
    for i, (win, hop) in enumerate(zip(mw.windows_ms, mw.hops_ms, strict=True)):
        n_fft, hop_n = round(win * sr / 1000), round(hop * sr / 1000)
        try:
            out.append(Spectrogram.from_dict({**spec.to_dict(), "n_fft": n_fft, "hop": hop_n}))
        except InvalidVariant as e:
            raise InvalidVariant(f"multi-window channel {i + 1} ({win:g} ms window, {hop:g} ms hop) at {sr} Hz "
                                 f"gives n_fft {n_fft} and hop {hop_n} samples: {e}") from None
    return out


def _align(img: np.ndarray, hop: int, frames: int, target_hop: int) -> np.ndarray:
    """Linear interpolation of ``img`` (rows x its frames at ``hop``) at ``frames`` frame times of ``target_hop``."""
    pos = np.arange(frames, dtype=np.float64) * (target_hop / hop)
    pos = np.clip(pos, 0.0, img.shape[1] - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, img.shape[1] - 1)
    f = (pos - i0).astype(np.float32)
    return img[:, i0] * (1.0 - f) + img[:, i1] * f


def multi_window_image(wave: np.ndarray, sr: int, spec: Spectrogram, mw: MultiWindow) -> np.ndarray:
    """The multi-window stack (rows x channel 1's frames x 3), float32 in [0, 1]."""
    specs = multi_window_specs(spec, mw)
    imgs = []
    for i, s in enumerate(specs):
        try:
            imgs.append(compute_spectrogram(wave, sr, s))
        except InvalidVariant as e:
            raise InvalidVariant(f"multi-window channel {i + 1} ({mw.windows_ms[i]:g} ms window, n_fft {s.n_fft}): "
                                 f"{e}") from None
    frames = imgs[0].shape[1]
    chans = [imgs[0]] + [_align(im, s.hop, frames, specs[0].hop) for im, s in zip(imgs[1:], specs[1:], strict=True)]
    return np.ascontiguousarray(np.stack(chans, axis=2), dtype=np.float32)


def deltas_image(spectrogram: np.ndarray, d: Deltas) -> np.ndarray:
    """Spectrogram, delta and delta-delta (rows x frames x 3), float32 in [0, 1]."""
    import librosa

    s = np.asarray(spectrogram, dtype=np.float32)
    frames = s.shape[1]
    if frames < d.width:
        raise InvalidVariant(f"deltas width {d.width} needs at least {d.width} frames; this spectrogram has "
                             f"{frames}: lower the width or the spectrogram hop, or use a longer sound.")
    chans = [s]
    for order in (1, 2):
        delta = librosa.feature.delta(s, width=d.width, order=order, axis=-1)
        r = d.delta_range if d.delta_range is not None else float(np.abs(delta).max())
        chans.append(np.full_like(s, 0.5) if r == 0 else np.clip(0.5 + 0.5 * delta / r, 0.0, 1.0))
    return np.ascontiguousarray(np.stack(chans, axis=2), dtype=np.float32)
