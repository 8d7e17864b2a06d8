"""The batched preprocessing pipeline: Signal + Variants -> exactly what the network receives.

Order, per variant: [sound -> spectrogram] -> denoisers at source resolution (``denoise``) -> channel
strategy -> storage -> resize/fit -> degradations and denoisers (``degrade``, at network size, in the
listed order) -> normalization. Rules, documented once here:

- Gray: luma of the encoded values, ``601`` = 0.299 R + 0.587 G + 0.114 B, ``709`` = 0.2126 R +
  0.7152 G + 0.0722 B, ``mean`` = (R + G + B) / 3, ``learned:<name>`` = the pointwise encoder of a
  learned gray rule from the models folder (``core.learned.inference``; trained by ``core.autoencode.gray``).
  A one-channel input is already gray.
- Denoisers (``nl_means``, ``tv_chambolle``, ``wavelet``, ``bilateral``, ``learned``) are defined in
  ``core.preprocess.denoise``; at source resolution they run on the float image (refused above 4
  megapixels), in ``degrade`` on the network-size image.
- ``rgb`` keeps color; a one-channel input is replicated (there is no color to keep).
- ``colormap`` (with ``colormap: <name>``): gray quantized to 256 levels (round(255 g)) indexes
  matplotlib's 256-entry table (matplotlib's own resolution), before storage and resizing (as when a
  colormapped image is saved, then loaded and resized).
- ``replicate``: gray is copied to three channels, then each channel is normalized with its own
  statistics. ``conv-sum``: one channel normalized with the mean of the three means and stds, then
  fed to the first conv with its weights summed over input channels (timm's adapt_input_conv for
  one channel). By linearity that equals the original conv applied to the normalized channel copied
  three times, which is how it is computed: the shared stem is never modified and the batch stays
  uniform. With equal statistics per channel (the model's 0.5/0.5) conv-sum equals replicate;
  with ImageNet statistics each first-layer filter f differs by ``g * a_f + b_f`` with
  ``a_f = sum_c w_fc (1/s_c - 1/s)`` and ``b_f = sum_c w_fc (m/s - m_c/s_c)`` (checked in tests/test_pipeline.py).
- ``zero-pad``: gray normalized with channel 0's statistics goes to channel 0; channels 1 and 2
  are zero after normalization (the training mean).
- ``multi-window`` and ``deltas`` (sounds only): see ``core.preprocess.soundchannels``.
- Storage, at the channel image's own resolution, exactly as when a file is written and read back:
  ``png8`` rounds to 8 bits per channel (PNG is lossless, so rounding is all a PNG does; the default,
  and the only behaviour before storage existed); ``png16`` rounds to 16 bits; ``jpeg`` is a Pillow
  encode/decode of the 8-bit image at the quality and chroma subsampling (a one-channel image is a
  gray JPEG, where subsampling does not apply); ``float`` writes nothing and keeps float32.
- Resizing: 8-bit images (png8, jpeg) are resized as uint8 by every backend, as the libraries do
  after loading an 8-bit file; float and png16 images are resized in float32 (every backend and
  method here works on float32: torchvision's resize and ``F.interpolate``, Pillow's mode "F" one
  channel at a time, cv2.resize on float32), and are never rounded again, so the float path stays
  float through resizing, degradations and normalization. Torch: torchvision's resize (nearest,
  nearest-exact, bilinear, bicubic) and ``F.interpolate(mode="area")``; PIL: Image.resize with the
  named filter (``area`` is PIL's BOX); OpenCV: ``cv2.resize`` with INTER_NEAREST,
  INTER_NEAREST_EXACT, INTER_LINEAR, INTER_CUBIC, INTER_AREA or INTER_LANCZOS4 (no antialias switch:
  only INTER_AREA averages when shrinking). Fits: ``stretch`` to TxT; ``shorter-side+center-crop``
  scales the shorter side to T (rounding the other side) and crops the center SxS; ``letterbox``
  scales the longer side to S and pads with black, centered. T = S, or ``floor(S / crop_pct)`` with a
  crop_pct below 1 (timm's rule: 224 at 0.875 scales to 256 and crops 224). An extreme strip whose
  intermediate would exceed 8 megapixels is first trimmed to its center plus a kernel margin, which
  bounds memory.
- Degradations: ``jpeg`` is a Pillow encode/decode at the quality (4:2:0 for color, gray JPEG for
  one channel); ``noise`` adds N(0, s^2) with s^2 = mean(x^2) / 10^(snr/10) from a generator seeded
  by the degradation's seed and the input's digest (independent noise per image), clipped to [0, 1];
  ``blur`` is a Gaussian of kernel 2*ceil(3 sigma)+1 with reflected borders; ``median`` takes the
  median of a size x size window with reflected borders.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from core.errors import InvalidVariant
from core.models.specs import IMAGENET_MEAN, IMAGENET_STD
from core.preprocess.channels import strategy
from core.preprocess.color import to_uint8
from core.preprocess.denoise import apply_denoiser
from core.preprocess.spectrogram import compute_spectrogram
from core.preprocess.variant import OPENCV_FLAGS, Blur, Jpeg, JpegStorage, Median, Noise, Resize, Spectrogram, Variant
from core.signal import Signal

_TORCH_MODES = {
    "nearest": InterpolationMode.NEAREST,
    "nearest-exact": InterpolationMode.NEAREST_EXACT,
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
}
_PIL_MODES = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


@dataclass(eq=False)
class Prepared:
    """One variant's network input: ``tensor`` (3,S,S) normalized; ``display`` (S,S,3) in [0,1]."""

    variant: Variant
    tensor: torch.Tensor
    display: np.ndarray


def normalization(variant: Variant, model_mean: Sequence[float], model_std: Sequence[float]) -> tuple:
    """(mean, std) per channel that this variant's normalize setting selects."""
    if variant.normalize == "model":
        return tuple(model_mean), tuple(model_std)
    if variant.normalize == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def source_image(signal: Signal, variant: Variant) -> np.ndarray:
    """The image this variant starts from: the signal itself, or its spectrogram for a sound."""
    if signal.audio is None:
        return signal.array

    wave, sr = signal.audio
    return compute_spectrogram(wave, sr, variant.spectrogram or Spectrogram())


def denoise_source(img: np.ndarray, steps: Sequence) -> np.ndarray:
    """The variant's source-resolution denoisers applied in order (the image itself when there are none)."""
    if not steps:
        return img

    for d in steps:
        img = apply_denoiser(img, d)
    return img


def channel_image(img: np.ndarray, variant: Variant, signal: Signal | None = None) -> np.ndarray:
    """The channel strategy applied to the source image ``img``: float32 HxWx3 or HxWx1 in [0, 1]
    (nothing is quantized here except the colormap's 256-level index). ``multi-window`` and
    ``deltas`` need the sound itself (``signal``)."""
    return strategy(variant).image(img, variant, signal)


def _jpeg_roundtrip(arr: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """uint8 HxWxC through a Pillow JPEG file and back (a one-channel image is a gray JPEG)."""
    pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.array(im.convert(pil.mode), dtype=np.uint8).reshape(arr.shape)


def store(img: np.ndarray, storage: str | JpegStorage) -> np.ndarray:
    """The storage step on a float channel image: uint8 for png8 and jpeg, float32 for float and png16."""
    if storage == "float":
        return np.array(img, dtype=np.float32)  # a copy: never a view of the Signal's own array
    if storage == "png16":
        return (np.clip(np.rint(img * 65535.0), 0, 65535) / 65535.0).astype(np.float32)
    x8 = to_uint8(img)
    if isinstance(storage, JpegStorage):
        return _jpeg_roundtrip(x8, storage.quality, storage.subsampling)
    return x8


def stored_image(img: np.ndarray, variant: Variant, signal: Signal | None = None) -> np.ndarray:
    """Channel strategy then storage: what the resize step receives (uint8 or float32, HxWx1 or HxWx3)."""
    x8 = strategy(variant).stored_fast(img, variant)
    if x8 is not None:
        s = variant.storage
        return _jpeg_roundtrip(x8, s.quality, s.subsampling) if isinstance(s, JpegStorage) else x8
    return store(channel_image(img, variant, signal), variant.storage)


def _target_size(h: int, w: int, r: Resize) -> tuple[int, int]:
    s = r.scale_size
    if r.fit == "stretch":
        return s, s
    scale = s / min(h, w) if r.fit == "shorter-side+center-crop" else s / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _resize_torch(x: torch.Tensor, hw: tuple[int, int], r: Resize) -> torch.Tensor:
    if r.method == "area":
        if x.dtype != torch.uint8:
            return F.interpolate(x, size=hw, mode="area")
        y = F.interpolate(x.float(), size=hw, mode="area")
        return y.round_().clamp_(0, 255).to(torch.uint8)
    return TF.resize(x, list(hw), interpolation=_TORCH_MODES[r.method], antialias=r.antialias)


def _resize_pil(x: torch.Tensor, hw: tuple[int, int], r: Resize) -> torch.Tensor:
    out = []
    size = (hw[1], hw[0])
    for im in x:
        arr = im.permute(1, 2, 0).numpy()
        if arr.dtype == np.uint8:
            pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
            res = np.asarray(pil.resize(size, resample=_PIL_MODES[r.method]))
        else:  # float32: Pillow's mode "F" resamples one channel at a time
            res = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(arr[..., c]), mode="F")
                                       .resize(size, resample=_PIL_MODES[r.method])) for c in range(arr.shape[2])],
                           axis=2)
        out.append(torch.from_numpy(res.reshape(hw[0], hw[1], -1).copy()).permute(2, 0, 1))
    return torch.stack(out)


def _resize_opencv(x: torch.Tensor, hw: tuple[int, int], r: Resize) -> torch.Tensor:
    import cv2

    flag = getattr(cv2, OPENCV_FLAGS[r.method])
    out = []
    for im in x:
        arr = np.ascontiguousarray(im.permute(1, 2, 0).numpy())
        res = cv2.resize(arr[..., 0] if arr.shape[2] == 1 else arr, (hw[1], hw[0]), interpolation=flag)
        out.append(torch.from_numpy(res.reshape(hw[0], hw[1], -1).copy()).permute(2, 0, 1))
    return torch.stack(out)


#: Largest intermediate (pixels) a center-crop fit may resize to before the source is trimmed.
MAX_INTERMEDIATE_PIXELS = 8_000_000


def _trim_for_center_crop(x: torch.Tensor, r: Resize) -> torch.Tensor:
    """For extreme strips only (the shorter-side resize would exceed MAX_INTERMEDIATE_PIXELS, e.g.
    1x20000 -> 224x4480000), keep the central part of the long axis that the crop uses, plus a margin
    for the resize kernel. The result then differs from the exact path by a subpixel alignment
    (under half an output pixel); every other image takes the exact path."""
    h, w = x.shape[-2:]
    short, long = min(h, w), max(h, w)
    t = r.scale_size
    if round(long * t / short) * t <= MAX_INTERMEDIATE_PIXELS:
        return x
    margin = 4 * math.ceil(short / t) + 4  # covers lanczos' 3-lobe support at the downscale factor
    keep = min(long, short + 2 * margin)
    start = (long - keep) // 2
    return x[..., start : start + keep, :] if h > w else x[..., :, start : start + keep]


def resize_batch(x: torch.Tensor, r: Resize) -> torch.Tensor:
    """Resize and fit a batch (N,C,H,W) to (N,C,S,S) with the variant's backend and method. A uint8 batch
    stays uint8; a float32 batch is resized in float32 (never rounded)."""
    if r.fit == "shorter-side+center-crop":
        x = _trim_for_center_crop(x, r)
    h, w = x.shape[-2:]
    hw = _target_size(h, w, r)
    if hw != (h, w):
        backend = {"torch": _resize_torch, "pil": _resize_pil, "opencv": _resize_opencv}[r.backend]
        x = backend(x, hw, r)
    s = r.size
    if r.fit == "letterbox":
        pad_h, pad_w = s - hw[0], s - hw[1]
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0)
    elif hw != (s, s):  # shorter-side+center-crop, or stretch with a crop_pct below 1
        top, left = (hw[0] - s) // 2, (hw[1] - s) // 2
        x = x[..., top : top + s, left : left + s]
    return x.contiguous()


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    back = _jpeg_roundtrip(to_uint8(x.permute(1, 2, 0).numpy()), quality).astype(np.float32) / 255.0
    return torch.from_numpy(back).permute(2, 0, 1).contiguous()


def _median(x: torch.Tensor, size: int) -> torch.Tensor:
    p = size // 2
    c, h, w = x.shape
    padded = F.pad(x[None], (p, p, p, p), mode="reflect")
    patches = F.unfold(padded, size)  # (1, C*size*size, H*W)
    return patches.view(c, size * size, h * w).median(dim=1).values.view(c, h, w)


def _noise_seed(seed: int, salt: str) -> int:
    return int(hashlib.sha256(f"{seed}:{salt}".encode()).hexdigest()[:15], 16)


def degrade(x: torch.Tensor, steps: Sequence, salt: str = "") -> torch.Tensor:
    """Apply degradations in order to one float image (C,S,S) in [0,1]. Noise is drawn from a
    generator seeded by (the degradation's seed, ``salt`` = the input's digest): the same input
    always gets the same noise, and the images of a dataset get independent noise."""
    for d in steps:
        if isinstance(d, Jpeg):
            x = _jpeg(x, d.quality)
        elif isinstance(d, Noise):
            power = float((x.double() ** 2).mean())
            sigma = math.sqrt(power / 10 ** (d.snr_db / 10))
            gen = torch.Generator().manual_seed(_noise_seed(d.seed, salt))
            x = (x + sigma * torch.randn(x.shape, generator=gen)).clamp_(0, 1)
        elif isinstance(d, Blur):
            k = 2 * math.ceil(3 * d.sigma) + 1
            k = min(k, 2 * (min(x.shape[-2:]) // 2) - 1)
            x = TF.gaussian_blur(x, [k, k], [d.sigma, d.sigma])
        elif isinstance(d, Median):
            x = _median(x, d.size)
        else:  # a denoiser (core.preprocess.denoise)

            y = apply_denoiser(x.permute(1, 2, 0).numpy(), d)
            x = torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1)))
    return x


def normalize_batch(x: torch.Tensor, variant: Variant, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N,C,S,S) float in [0,1] -> the network input (N,3,S,S) by the channel strategy, on ``x``'s device (the
    CPU pipeline's ``finalize`` and the device-side path in ``core.preprocess.device`` both use it)."""
    m = torch.tensor(mean, dtype=torch.float32, device=x.device)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32, device=x.device)[:, None, None]
    if x.shape[1] == 3:
        return (x - m) / s
    return strategy(variant).normalize(x[:, 0:1], m, s)


def finalize(x: torch.Tensor, variant: Variant, mean: Sequence[float], std: Sequence[float]) -> tuple:
    """(C,S,S) float in [0,1] -> (normalized (3,S,S), display (S,S,3)) by the channel strategy."""
    norm = normalize_batch(x[None], variant, mean, std)[0]
    if x.shape[0] == 3:
        return norm, x.permute(1, 2, 0).numpy()
    return norm, strategy(variant).display(x[0:1], mean)


def prepare_grid(
    signals: Sequence[Signal], variants: Sequence[Variant], mean: Sequence[float], std: Sequence[float]
) -> list[list[Prepared]]:
    """Preprocess every signal under every variant: ``out[v][n]``. The one per-item pipeline behind
    ``prepare`` (one input, V variants) and ``prepare_many`` (N inputs, one variant): a source image
    (the spectrogram, for sounds) and a stored channel image are computed once per input and shared by
    the variants that need the same one, and same-shaped images with the same resize and type go
    through one batched resize call. Variants must be resolved (``core.preprocess.recipe.resolve``):
    ``"resize": "model"`` needs the model's recipe."""
    sources: dict[tuple, np.ndarray] = {}
    denoised: dict[tuple, np.ndarray] = {}
    stored: dict[tuple, np.ndarray] = {}
    pre: dict[tuple[int, int], np.ndarray] = {}
    for vi, v in enumerate(variants):
        if not isinstance(v.resize, Resize):
            raise InvalidVariant(f"Variant {v.name!r} asks for the model's recipe (\"resize\": \"model\"); "
                                 "resolve it against a model first (core.preprocess.recipe.resolve).")
        spec_key = repr(v.spectrogram or Spectrogram())
        group = strategy(v).group(v)
        dkey = tuple(d.to_json() for d in v.denoise)
        ckey = (spec_key, dkey, group, v.colormap, v.gray, v.multi_window, v.deltas, v.storage)
        for n, signal in enumerate(signals):
            skey = (n, "" if signal.audio is None else spec_key)
            if (n, *ckey) not in stored:
                src = None  # multi-window computes its own spectrograms from the sound
                if strategy(v).needs_source():
                    if skey not in sources:
                        sources[skey] = source_image(signal, v)
                    if (*skey, dkey) not in denoised:
                        denoised[(*skey, dkey)] = denoise_source(sources[skey], v.denoise)
                    src = denoised[(*skey, dkey)]
                stored[(n, *ckey)] = stored_image(src, v, signal)
            pre[(vi, n)] = stored[(n, *ckey)]
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for (vi, n), a in pre.items():
        groups.setdefault((variants[vi].resize, a.dtype.str, a.shape), []).append((vi, n))
    resized: dict[tuple[int, int], torch.Tensor] = {}
    for (r, _, _), members in groups.items():
        batch = torch.stack([torch.from_numpy(pre[m]).permute(2, 0, 1) for m in members])
        for m, out in zip(members, resize_batch(batch, r), strict=True):
            resized[m] = out
    result: list[list[Prepared]] = []
    for vi, v in enumerate(variants):
        vm, vs = normalization(v, mean, std)
        row = []
        for n, signal in enumerate(signals):
            x = resized[(vi, n)]
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x
            x = degrade(x, v.degrade, signal.digest)
            tensor, display = finalize(x, v, vm, vs)
            row.append(Prepared(v, tensor.contiguous(), np.ascontiguousarray(display, dtype=np.float32)))
        result.append(row)
    return result


def prepare(signal: Signal, variants: Sequence[Variant], mean: Sequence[float], std: Sequence[float]) -> list[Prepared]:
    """Preprocess one input under V variants."""
    return [row[0] for row in prepare_grid([signal], variants, mean, std)]


def prepare_many(
    signals: Sequence[Signal], variant: Variant, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """Preprocess N inputs under one variant: (N,3,S,S) normalized, ready for a batched forward."""
    return torch.stack([p.tensor for p in prepare_grid(signals, [variant], mean, std)[0]]).contiguous()


