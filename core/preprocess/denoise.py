"""Denoisers applied to images (a preprocessing step): scikit-image's ``restoration`` functions and trained lab models.

Used by the preprocessing pipeline at network size (``degrade`` steps) and at source resolution (the
variant's ``denoise`` steps), and by the single-image lab's pre-filtered regime. Images are float32
HxW or HxWxC in [0, 1]; outputs have the same shape, clipped to [0, 1].

Parameters (declared once on the specs in ``core.preprocess.variant``), with the noise standard
deviation ``sigma`` (in [0, 1] units) estimated by ``skimage.restoration.estimate_sigma`` (wavelet
median absolute deviation, averaged over channels) when not given:

- ``nl_means``: ``denoise_nl_means(fast_mode=True, sigma=sigma, h=h * sigma)``, patch size and distance.
- ``tv_chambolle``: ``denoise_tv_chambolle(weight=weight * sigma)``.
- ``wavelet``: ``denoise_wavelet(sigma=sigma, wavelet, method, mode="soft", rescale_sigma=True)``, color
  in YCbCr.
- ``bilateral``: ``denoise_bilateral(sigma_color=color * sigma, sigma_spatial)``.
- ``learned``: a trained single-image lab model by name (its card says whether it predicts with the
  blind-spot J-invariant scheme and which pre-filter it was trained after). A 3-channel model applied
  to a gray image sees the gray replicated and returns the mean of its 3 outputs; a 1-channel model
  applied to color runs on each channel.
"""

from __future__ import annotations

import numpy as np

from core.errors import InvalidVariant
from core.learned.inference import load_lab_denoiser, run_lab_denoiser
from core.preprocess.variant import DENOISERS

#: Source-resolution denoising is refused above this many pixels (time and memory on a CPU).
MAX_DENOISE_PIXELS = 4_000_000


def denoiser_spec(d: object):  # noqa: ANN201 - a denoiser spec from variant.py
    """A denoiser spec from its JSON form (``{"kind": "nl_means", ...}``); InvalidVariant when it is not one."""
    if isinstance(d, DENOISERS.get(getattr(d, "kind", None), ())):
        return d
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind not in DENOISERS:
        raise InvalidVariant(f"A denoiser needs a kind among {', '.join(DENOISERS)}; got {kind!r:.40}.")
    return DENOISERS[kind].from_dict(d)


def estimate_noise_sigma(img: np.ndarray) -> float:
    """Noise standard deviation of a [0, 1] image (skimage's wavelet-MAD estimator, mean over channels)."""
    from skimage.restoration import estimate_sigma

    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    axis = -1 if img.ndim == 3 else None
    return float(estimate_sigma(img, channel_axis=axis, average_sigmas=True))


def apply_denoiser(img: np.ndarray, spec) -> np.ndarray:  # noqa: ANN001 - a denoiser spec from variant.py
    """Denoise a float image HxW or HxWxC in [0, 1] by ``spec`` (one of the denoiser kinds); same shape out."""
    from skimage import restoration

    img = np.asarray(img, dtype=np.float32)
    squeeze = img.ndim == 3 and img.shape[2] == 1
    x = img[..., 0] if squeeze else img
    if x.shape[0] * x.shape[1] > MAX_DENOISE_PIXELS:
        raise InvalidVariant(f"Denoising a {x.shape[1]}×{x.shape[0]} image is refused (over "
                             f"{MAX_DENOISE_PIXELS // 1_000_000} megapixels); denoise at network size instead "
                             "(a degrade step) or use a smaller image.")
    if min(x.shape[:2]) < 3:
        return img
    axis = -1 if x.ndim == 3 else None
    kind = spec.kind
    if kind == "learned":
        out = apply_lab_model(x, spec.model)
    else:
        sigma = spec.sigma if spec.sigma is not None else estimate_noise_sigma(x)
        sigma = max(sigma, 1e-4)
        if kind == "nl_means":
            out = restoration.denoise_nl_means(x, h=spec.h * sigma, sigma=sigma, fast_mode=True,
                                               patch_size=spec.patch_size, patch_distance=spec.patch_distance,
                                               channel_axis=axis)
        elif kind == "tv_chambolle":
            out = restoration.denoise_tv_chambolle(x, weight=spec.weight * sigma, channel_axis=axis)
        elif kind == "wavelet":
            out = restoration.denoise_wavelet(x, sigma=sigma, wavelet=spec.wavelet, method=spec.method,
                                              mode="soft", rescale_sigma=True, channel_axis=axis,
                                              convert2ycbcr=x.ndim == 3)
        elif kind == "bilateral":
            out = restoration.denoise_bilateral(x, sigma_color=spec.color * sigma, sigma_spatial=spec.sigma_spatial,
                                                channel_axis=axis)
        else:  # pragma: no cover - the Variant's union admits only the kinds above
            raise InvalidVariant(f"Unknown denoiser {kind!r}.")
    out = np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)
    return out[..., None] if squeeze else out


def apply_lab_model(img: np.ndarray, name: str) -> np.ndarray:
    """Run the saved lab denoiser ``name`` on a float image HxW or HxWx3 in [0, 1] (after the pre-filter its card
    names, which is one of the denoisers above)."""
    model, card = load_lab_denoiser(name)
    x = img if img.ndim == 3 else img[..., None]
    if card.get("prefilter"):
        x = apply_denoiser(x, denoiser_spec(card["prefilter"]))
    out = run_lab_denoiser(model, card, x)
    return out if img.ndim == 3 else out[..., 0]
