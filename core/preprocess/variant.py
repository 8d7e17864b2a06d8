"""The Variant: one frozen, validated, JSON-serializable preprocessing pipeline, and the VariantSet.

Every field is declared once, here, as a pydantic field: its type (``Literal`` choices, strict
numbers, nested specs, a discriminated union of degradations on ``kind``), its range (``ge``/``le``),
its default and its help text (``description``). Validation, the JSON round trip, the dashboard's
widgets (``components.widgets`` reads ``model_fields``), the CLI's field table (``python -m core
fields``) and the URL encoding all derive from these declarations. Pydantic was chosen over plain
dataclasses because it turns the declaration into validation (strict types, bounds, no NaN, unknown
fields refused, tagged unions) without a second copy of each rule; ``explain`` turns its errors into
one sentence for the user. ``Variant.from_dict(v.to_dict()) == v`` always.

Pipeline order (documented once, here): decode -> [spectrogram, for sounds] -> denoisers at source
resolution (``denoise``, in order) -> channel strategy (gray by the luminance rule, then colormap /
replicate / conv-sum / zero-pad / native; for sounds also multi-window / deltas) -> storage at the source's own
resolution (float, png8, png16 or jpeg, as when an image file is written and read back) -> resize and
fit -> degradations and denoisers in the listed order (``degrade``, at network resolution) ->
normalization. ``"resize": "model"`` stands for the model's own recipe and is expanded by
``core.preprocess.recipe.resolve`` before any of this runs.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from core.errors import InvalidVariant
from core.learned.store import model_names

# Strict scalars: "224" is not a size, 1.0 is not an integer, 1 is not a boolean, NaN is not a number.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]

RESIZE_METHODS = ("nearest", "nearest-exact", "bilinear", "bicubic", "lanczos", "area", "hamming")
#: cv2.resize's flag for each method name the opencv backend accepts.
OPENCV_FLAGS = {"nearest": "INTER_NEAREST", "nearest-exact": "INTER_NEAREST_EXACT", "bilinear": "INTER_LINEAR",
                "bicubic": "INTER_CUBIC", "area": "INTER_AREA", "lanczos": "INTER_LANCZOS4"}
#: What each backend can do: method -> allowed antialias settings. Anything else is refused.
BACKEND_CAPS: dict[str, dict[str, tuple[bool, ...]]] = {
    "torch": {
        "nearest": (False,),
        "nearest-exact": (False,),
        "bilinear": (True, False),
        "bicubic": (True, False),
        "area": (True,),
    },
    "pil": {
        "nearest": (False,),
        "bilinear": (True,),
        "bicubic": (True,),
        "lanczos": (True,),
        "area": (True,),
        "hamming": (True,),
    },
    # cv2.resize has no antialias switch: its kernels have a fixed support whatever the scale, so they
    # alias when shrinking; only INTER_AREA averages every source pixel an output pixel covers.
    "opencv": {
        "nearest": (False,),
        "nearest-exact": (False,),
        "bilinear": (False,),
        "bicubic": (False,),
        "area": (True,),
        "lanczos": (False,),
    },
}
#: The nearest honest alternative when a backend cannot honour a (method, antialias) request.
_CAPS_HINT = {
    ("opencv", True): "cv2.resize has no antialias switch (its {flag} samples a fixed neighbourhood and aliases "
                      "when shrinking): set antialias to false to get exactly that, use method 'area' "
                      "(INTER_AREA averages on downscaling), or use backend torch or pil for an antialiased "
                      "{method}.",
    ("opencv", False): "INTER_AREA always averages the pixels it covers when shrinking: set antialias to true, "
                       "or use method 'bilinear' (INTER_LINEAR) for OpenCV's aliasing default.",
}
MAX_VARIANTS = 16


class Spec(BaseModel):
    """Base of every specification: frozen, unknown fields refused, dict/JSON round trip with messages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, /, **data: Any) -> None:
        """Construct and validate; a refusal is InvalidVariant with one sentence, as from ``from_dict``.
        (Pydantic calls this for nested specs too; only the outermost call turns errors into a sentence,
        so the sentence names the full path, e.g. ``resize.size``.)"""
        with _outermost(type(self)):
            super().__init__(**data)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the cache key and export format."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Any) -> Any:
        """Validate a JSON-like object; InvalidVariant with one sentence for the user when it is not valid."""
        with _outermost(cls):
            return cls.model_validate(d)

    def replace(self, **changes: Any) -> Any:
        """A validated copy with some fields changed (nested specs may be given as objects or dicts)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        for name, info in type(self).model_fields.items():  # a field that only applies with another one's value
            cond = only_with(info)
            if cond and name not in changes and any(data.get(k) != v for k, v in cond.items()):
                data[name] = None
        return type(self).from_dict(data)


def _fail(msg: str) -> None:
    raise ValueError(msg)


_VALIDATING = threading.local()


@contextmanager
def _outermost(cls: type[BaseModel]) -> Iterator[None]:
    """Turn a validation error into InvalidVariant, but only at the outermost validation of this thread."""
    if getattr(_VALIDATING, "depth", 0):
        yield
        return
    _VALIDATING.depth = 1
    try:
        yield
    except ValidationError as e:
        raise InvalidVariant(explain(e, cls)) from None
    except RecursionError:
        raise InvalidVariant("The specification nests too deeply.") from None
    finally:
        _VALIDATING.depth = 0


def field_extra(info: Any) -> dict:
    """A field's extra declarations (``step``, ``choices_from``, ``only_with``, ``default_when_set``)."""
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def only_with(info: Any) -> dict:
    """``{other field: value}`` under which a field applies (empty when it always applies)."""
    return dict(field_extra(info).get("only_with") or {})


class Resize(Spec):
    """How the input is brought to the network's size."""

    size: Int = Field(default=224, ge=16, le=1024, description="Output side in pixels (square).")
    method: Literal["nearest", "nearest-exact", "bilinear", "bicubic", "lanczos", "area", "hamming"] = Field(
        default="bicubic",
        description="Interpolation kernel. With backend opencv: nearest, nearest-exact, bilinear (INTER_LINEAR), "
                    "bicubic (INTER_CUBIC) and lanczos (INTER_LANCZOS4) sample a fixed neighbourhood and alias "
                    "when shrinking; area (INTER_AREA) averages the covered pixels when shrinking and nearly "
                    "repeats pixels when enlarging.")
    antialias: Bool = Field(default=True, description="Low-pass before downsampling (opencv: only area does).")
    backend: Literal["torch", "pil", "opencv"] = Field(
        default="torch", description="Library that resizes: torchvision, Pillow or OpenCV (cv2.resize).")
    fit: Literal["stretch", "shorter-side+center-crop", "letterbox"] = Field(
        default="shorter-side+center-crop", description="Aspect handling.")
    crop_pct: Float = Field(
        default=1.0, ge=0.5, le=1.0, json_schema_extra={"step": 0.001},
        description="timm's crop_pct: scale to floor(size / crop_pct), then center-crop size (1 = no margin).")

    @model_validator(mode="after")
    def _capabilities(self) -> Resize:
        caps = BACKEND_CAPS[self.backend]
        if self.method not in caps:
            other = [b for b, c in BACKEND_CAPS.items() if self.method in c]
            _fail(f"The {self.backend} backend has no '{self.method}' resize; use backend {' or '.join(other)}.")
        if self.antialias not in caps[self.method]:
            state = "on" if self.antialias else "off"
            hint = _CAPS_HINT.get((self.backend, self.antialias))
            hint = hint.format(flag=OPENCV_FLAGS.get(self.method, ""), method=self.method) if hint else (
                f"set antialias to {str(caps[self.method][0]).lower()}.")
            _fail(f"The {self.backend} backend cannot resize '{self.method}' with antialias {state}; {hint}")
        if self.crop_pct < 1.0 and self.fit == "letterbox":
            _fail(f"crop_pct {self.crop_pct:g} crops a margin, but the letterbox fit keeps the whole image; "
                  "use crop_pct 1 with letterbox, or the fit shorter-side+center-crop.")
        return self

    @property
    def scale_size(self) -> int:
        """The side the image is first scaled to: ``floor(size / crop_pct)`` (timm's rule), ``size`` at 1.0."""
        return self.size if self.crop_pct == 1.0 else math.floor(self.size / self.crop_pct + 1e-9)


class JpegStorage(Spec):
    """Stored as a JPEG file (Pillow) at the source's own resolution, then read back."""

    kind: Literal["jpeg"] = "jpeg"
    quality: Int = Field(default=75, ge=1, le=100, description="JPEG quality (Pillow; above 95 barely helps).")
    subsampling: Literal["4:2:0", "4:4:4"] = Field(
        default="4:2:0", description="Chroma subsampling: 4:2:0 halves color resolution (Pillow's default).")


STORAGE_LEVELS = ("float", "png8", "png16")


def _nested(cls: type[Spec], value: Any, where: str) -> Any:
    """Validate a nested spec inside a union field, with the nested spec's own one-sentence message."""
    try:
        return cls.model_validate(value)
    except ValidationError as e:
        _fail(explain(e, cls, prefix=f"{where}."))


class Jpeg(Spec):
    """JPEG encode/decode round trip (Pillow, 4:2:0 subsampling) at a quality."""

    kind: Literal["jpeg"] = "jpeg"
    quality: Int = Field(default=75, ge=1, le=95, description="JPEG quality (1 worst, 95 best).")


class Noise(Spec):
    """Additive white Gaussian noise at a signal-to-noise ratio (dB, against the image's power)."""

    kind: Literal["noise"] = "noise"
    snr_db: Float = Field(default=20.0, ge=-10.0, le=60.0, description="Signal-to-noise ratio in dB.")
    seed: Int = Field(default=0, ge=0, le=2**31 - 1, description="Noise seed (same seed, same noise).")


class Blur(Spec):
    """Gaussian blur with a standard deviation in pixels (kernel 2*ceil(3 sigma)+1)."""

    kind: Literal["blur"] = "blur"
    sigma: Float = Field(default=1.0, ge=0.1, le=10.0, description="Standard deviation in pixels.")


class Median(Spec):
    """Median filter (denoising) over a square window of odd size."""

    kind: Literal["median"] = "median"
    size: Int = Field(default=3, ge=3, le=9, description="Window side (odd).", json_schema_extra={"step": 2})

    @field_validator("size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            _fail(f"median size must be odd; got {v}.")
        return v


#: A model name in the models folder (learned gray rules, lab denoisers): see ``core.learned.store``.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$"
_SIGMA_HELP = "Noise standard deviation (0-1 scale); empty = estimated from the image (estimate_sigma)."


def _sigma_field() -> Any:
    """The ``sigma`` field every scikit-image denoiser declares: one range, default and help for all four."""
    return Field(default=None, ge=0.001, le=0.5, description=_SIGMA_HELP, json_schema_extra={"default_when_set": 0.05})


class NlMeans(Spec):
    """Non-local means (scikit-image ``denoise_nl_means``, fast mode)."""

    kind: Literal["nl_means"] = "nl_means"
    sigma: Float | None = _sigma_field()
    h: Float = Field(default=0.6, ge=0.05, le=5.0, description="Filter strength as a multiple of sigma.")
    patch_size: Int = Field(default=5, ge=3, le=9, description="Patch side in pixels.")
    patch_distance: Int = Field(default=6, ge=1, le=15, description="Search distance in pixels.")


class TvChambolle(Spec):
    """Total-variation denoising (scikit-image ``denoise_tv_chambolle``)."""

    kind: Literal["tv_chambolle"] = "tv_chambolle"
    sigma: Float | None = _sigma_field()
    weight: Float = Field(default=1.0, ge=0.05, le=10.0, description="TV weight as a multiple of sigma.")


class Wavelet(Spec):
    """Wavelet shrinkage (scikit-image ``denoise_wavelet``, soft thresholds, color in YCbCr)."""

    kind: Literal["wavelet"] = "wavelet"
    sigma: Float | None = _sigma_field()
    wavelet: Literal["db1", "db2", "db4", "sym4", "coif1"] = Field(default="db1", description="Wavelet family.")
    method: Literal["BayesShrink", "VisuShrink"] = Field(default="BayesShrink", description="Threshold rule.")


class Bilateral(Spec):
    """Bilateral filter (scikit-image ``denoise_bilateral``)."""

    kind: Literal["bilateral"] = "bilateral"
    sigma: Float | None = _sigma_field()
    color: Float = Field(default=1.0, ge=0.05, le=10.0, description="Range (color) std as a multiple of sigma.")
    sigma_spatial: Float = Field(default=2.0, ge=0.5, le=10.0, description="Spatial std in pixels.")


class Learned(Spec):
    """A denoiser trained in the Autoencoder lab, by its name in the models folder (checked when used)."""

    kind: Literal["learned"] = "learned"
    model: Str = Field(default="denoiser", description="Name of a saved lab denoiser.",
                       json_schema_extra={"choices_from": "lab_denoisers"})

    @field_validator("model")
    @classmethod
    def _model_name(cls, v: str) -> str:
        if not re.match(MODEL_NAME_PATTERN, v):
            _fail(f"A lab denoiser's name is 1-48 letters, digits, '.', '_' or '-'; got {v!r}.")
        return v


Denoiser = Annotated[Union[NlMeans, TvChambolle, Wavelet, Bilateral, Learned], Field(discriminator="kind")]
#: kind -> class of the denoisers (usable at source resolution and in ``degrade``).
DENOISERS: dict[str, type[Spec]] = {cls.model_fields["kind"].default: cls for cls in get_args(get_args(Denoiser)[0])}

Degradation = Annotated[Union[Jpeg, Noise, Blur, Median, NlMeans, TvChambolle, Wavelet, Bilateral, Learned],
                        Field(discriminator="kind")]
#: kind -> class, derived from the union (each class declares its kind once, as its ``kind`` literal).
DEGRADATIONS: dict[str, type[Spec]] = {
    cls.model_fields["kind"].default: cls for cls in get_args(get_args(Degradation)[0])
}


class Spectrogram(Spec):
    """How a sound becomes a one-channel image (low frequencies at the bottom rows)."""

    kind: Literal["mel", "stft", "pcen", "mfcc"] = Field(default="mel", description="Spectrogram type.")
    sample_rate: Int = Field(default=16000, ge=4000, le=48000, description="Resample to this rate (Hz).")
    n_fft: Int = Field(default=1024, ge=64, le=8192, description="FFT size (samples).")
    hop: Int = Field(default=256, ge=16, le=4096, description="Hop length (samples).")
    window: Literal["hann", "hamming", "blackman", "boxcar"] = Field(default="hann", description="STFT window.")
    n_mels: Int = Field(default=128, ge=8, le=256, description="Mel bands (mel, pcen, mfcc).")
    fmin: Float = Field(default=0.0, ge=0.0, le=24000.0, description="Lowest frequency (Hz).")
    fmax: Float | None = Field(default=None, ge=1.0, le=24000.0, description="Highest frequency (Hz); empty = Nyquist.",
                               json_schema_extra={"default_when_set": 8000.0})
    top_db: Float = Field(default=80.0, ge=10.0, le=160.0, description="Dynamic range kept below the peak (dB).")
    reference: Literal["max", "fixed"] = Field(default="max", description="dB reference.")
    scaling: Literal["fixed-db", "minmax", "percentile"] = Field(default="fixed-db", description="Mapping to [0, 1].")
    db_range: tuple[Float, Float] = Field(default=(-80.0, 0.0), description="dB mapped to 0 and 1 (fixed-db).")
    percentiles: tuple[Float, Float] = Field(default=(1.0, 99.0), description="Clip percentiles (percentile).")

    @model_validator(mode="after")
    def _consistent(self) -> Spectrogram:
        nyquist = self.sample_rate / 2
        if self.hop > self.n_fft:
            _fail(f"spectrogram hop ({self.hop}) must not exceed n_fft ({self.n_fft}).")
        if self.fmin > nyquist:
            _fail(f"spectrogram fmin ({self.fmin:g} Hz) must not exceed the Nyquist frequency ({nyquist:g} Hz).")
        if self.fmax is not None and self.fmax > nyquist:
            _fail(f"spectrogram fmax ({self.fmax:g} Hz) must not exceed the Nyquist frequency ({nyquist:g} Hz).")
        if self.fmin >= (self.fmax if self.fmax is not None else nyquist):
            _fail("spectrogram fmin must lie below fmax (or below the Nyquist frequency when fmax is empty).")
        for name in ("db_range", "percentiles"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                _fail(f"spectrogram {name} must have low < high; got [{lo:g}, {hi:g}].")
        if self.percentiles[0] < 0 or self.percentiles[1] > 100:
            _fail(f"spectrogram percentiles must lie within [0, 100]; got {list(self.percentiles)}.")
        return self


class MultiWindow(Spec):
    """Three log-mel spectrograms of one sound at different window and hop lengths, as three channels
    (Palanisamy et al. 2020, the ESC-50 / UrbanSound8K recipe). The other spectrogram settings come from
    the variant's ``spectrogram``; its n_fft and hop are replaced by each channel's window and hop."""

    windows_ms: tuple[Float, Float, Float] = Field(
        default=(25.0, 50.0, 100.0), description="Window length of channels 1, 2, 3 (ms).",
        json_schema_extra={"labels": ("ch 1", "ch 2", "ch 3")})
    hops_ms: tuple[Float, Float, Float] = Field(
        default=(10.0, 25.0, 50.0), description="Hop length of channels 1, 2, 3 (ms).",
        json_schema_extra={"labels": ("ch 1", "ch 2", "ch 3")})

    @model_validator(mode="after")
    def _lengths(self) -> MultiWindow:
        for i, (w, h) in enumerate(zip(self.windows_ms, self.hops_ms, strict=True)):
            if not 1.0 <= w <= 1000.0 or not 1.0 <= h <= 1000.0:
                _fail(f"multi-window channel {i + 1}: window and hop must lie between 1 and 1000 ms; "
                      f"got {w:g} ms and {h:g} ms.")
            if h > w:
                _fail(f"multi-window channel {i + 1}: the hop ({h:g} ms) must not exceed the window ({w:g} ms).")
        return self


class Deltas(Spec):
    """The spectrogram, its delta and its delta-delta (``librosa.feature.delta``) as three channels."""

    width: Int = Field(default=9, ge=3, le=25, json_schema_extra={"step": 2},
                       description="Frames in the delta's Savitzky-Golay window (odd).")
    delta_range: Float | None = Field(
        default=None, ge=0.001, le=1.0, json_schema_extra={"default_when_set": 0.05},
        description="A delta of +-this (in [0, 1] image units per frame) maps to 1 and 0; empty = the "
                    "clip's own largest |delta| (per channel).")

    @field_validator("width")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            _fail(f"deltas width must be odd; got {v}.")
        return v


@cache
def colormap_names() -> tuple[str, ...]:
    """Every matplotlib colormap name, sorted case-insensitively."""
    from matplotlib import colormaps

    return tuple(sorted(colormaps, key=str.lower))


GRAY_RULES = ("601", "709", "mean")
LEARNED_PREFIX = "learned:"


def gray_rules() -> tuple[str, ...]:
    """The luma rules, then ``learned:<name>`` for every learned gray rule saved in the models folder."""
    return (*GRAY_RULES, *(LEARNED_PREFIX + n for n in model_names("gray")))


def lab_denoisers() -> tuple[str, ...]:
    """Names of the lab denoisers saved in the models folder."""
    return model_names("denoise")


#: Choices that are not a fixed Literal: field ``choices_from`` name -> function listing them.
DYNAMIC_CHOICES = {"colormaps": colormap_names, "gray_rules": gray_rules, "lab_denoisers": lab_denoisers}
#: How the field table describes a dynamic choice (the list itself depends on this machine).
CHOICES_NOTE = {"colormaps": "any matplotlib colormap",
                "gray_rules": "601, 709, mean, or learned:<name> (a learned gray rule in the models folder)",
                "lab_denoisers": "the name of a lab denoiser in the models folder"}


#: Channel strategies that only a network with this many input channels takes (``core.preprocess.recipe.resolve``
#: refuses them on others; kept here, beside ``Variant.channels``, so that check imports no torch).
NETWORK_CHANNELS: dict[str, int] = {"native": 1}


@cache
def _strategy_options() -> tuple[tuple[str, str, Any], ...]:
    """The fields that belong to one channel strategy (``only_with: {"channels": ...}``): (field, strategy, the
    value it takes when that strategy is chosen without it)."""
    out = []
    for name, info in Variant.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        strategy = extra.get("only_with", {}).get("channels")
        if strategy is not None:
            out.append((name, strategy, extra.get("default_when_set", {})))
    return tuple(out)


class Variant(Spec):
    """One preprocessing pipeline.

    ``channels``: ``rgb`` (color kept; a one-channel input is replicated), or a gray strategy applied
    after reducing color to gray by ``gray`` (ITU-R BT.601, BT.709 luma weights, or channel mean):
    ``replicate`` (gray copied to 3 channels, then normalized per channel), ``conv-sum`` (one channel
    through the first conv with its weights summed over input channels, as timm's adapt_input_conv;
    normalized with the mean of the per-channel statistics), ``zero-pad`` (gray in the first channel,
    the others zero after normalization), ``native`` (the gray image as the single input channel of a
    one-channel network, normalized with its one mean/std; refused for three-channel networks), or
    ``colormap`` (gray through the matplotlib colormap named by ``colormap``). The old one-string form
    ``"channels": "colormap:viridis"`` is still read.
    For sounds, ``multi-window`` (three log-mels at the ``multi_window`` lengths) and ``deltas``
    (spectrogram, delta, delta-delta) build three channels from the sound itself.

    ``storage`` says how the channel image is kept before resizing, at its own resolution: ``float``
    (nothing written: float32 all the way), ``png8`` (8 bits per channel, the default and the behaviour
    before this field existed), ``png16`` (16 bits) or a JPEG file ``{"kind": "jpeg", "quality",
    "subsampling"}``. ``resize`` may be ``"model"``: the model's own recipe (input size, interpolation,
    crop_pct), expanded by ``core.preprocess.recipe.resolve``.
    """

    name: Str = Field(default="reference", description="Label shown everywhere.", max_length=80)
    resize: Resize | Literal["model"] = Field(
        default_factory=Resize, description="Resize and fit; 'model' = the model's own recipe.",
        json_schema_extra={"object_label": "custom"})
    channels: Literal["rgb", "replicate", "conv-sum", "zero-pad", "native", "colormap", "multi-window",
                      "deltas"] = Field(default="rgb", description="Channel strategy (native: one-channel networks "
                                        "only; multi-window and deltas: sounds only).")
    colormap: Str | None = Field(
        default=None, description="Matplotlib colormap; viridis when not given.",
        json_schema_extra={"choices_from": "colormaps", "only_with": {"channels": "colormap"},
                           "default_when_set": "viridis"})
    gray: Str = Field(default="601", description="Luminance rule for color to gray (learned:<name> = a learned rule).",
                      json_schema_extra={"choices_from": "gray_rules"})
    multi_window: MultiWindow | None = Field(
        default=None, description="Window and hop of each channel (they replace the spectrogram's n_fft and hop).",
        json_schema_extra={"only_with": {"channels": "multi-window"}})
    deltas: Deltas | None = Field(
        default=None, description="Delta window and scaling.", json_schema_extra={"only_with": {"channels": "deltas"}})
    storage: Literal["float", "png8", "png16"] | JpegStorage = Field(
        default="png8", description="How the channel image is kept before resizing, at its own resolution: float "
                                    "(raw), png8, png16, or a JPEG file.")
    normalize: Literal["model", "imagenet", "none"] = Field(default="model", description="Input normalization.")
    degrade: tuple[Degradation, ...] = Field(default=(), description="Applied in order at network size.")
    spectrogram: Spectrogram | None = Field(default=None, description="For sounds; default mel when empty.")
    denoise: tuple[Denoiser, ...] = Field(default=(), description="Denoisers applied in order at source "
                                          "resolution, before the channel strategy.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_and_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        ch = data.get("channels")
        if isinstance(ch, str) and ":" in ch:
            strategy, _, arg = ch.partition(":")
            if strategy != "colormap":
                _fail(f"Only colormap takes an argument (colormap:<name>); got {ch!r}.")
            if data.get("colormap") not in (None, arg):
                _fail(f"channels {ch!r} and colormap {data['colormap']!r} disagree; give the colormap once.")
            data = {**data, "channels": "colormap", "colormap": arg}
        for name, strategy, default in _strategy_options():
            if data.get("channels") == strategy and data.get(name) is None:
                data = {**data, name: default}
        return data

    @field_validator("storage", mode="before")
    @classmethod
    def _storage(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v not in STORAGE_LEVELS:
                _fail(f"storage must be float, png8, png16 or a JPEG object "
                      f'{{"kind": "jpeg", "quality": 75, "subsampling": "4:2:0"}}; got {_show(v)}.')
            return v
        if isinstance(v, JpegStorage):
            return v
        if isinstance(v, dict):
            return _nested(JpegStorage, v, "storage")
        _fail(f"storage must be float, png8, png16 or a JPEG object; got {_show(v)}.")

    @field_validator("resize", mode="before")
    @classmethod
    def _resize(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v != "model":
                _fail(f'resize must be an object (size, method, …) or "model" (the model\'s own recipe); '
                      f"got {_show(v)}.")
            return v
        if isinstance(v, Resize):
            return v
        if isinstance(v, dict):
            return _nested(Resize, v, "resize")
        _fail(f'resize must be an object (size, method, …) or "model"; got {_show(v)}.')

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            _fail("A variant needs a non-empty name of at most 80 characters.")
        return v

    @field_validator("gray")
    @classmethod
    def _gray(cls, v: str) -> str:
        if v in GRAY_RULES or (v.startswith(LEARNED_PREFIX) and re.match(MODEL_NAME_PATTERN, v[len(LEARNED_PREFIX):])):
            return v
        _fail(f"gray must be 601, 709, mean, or learned:<name> (a learned gray rule's name: letters, digits, '.', "
              f"'_' or '-'); got {v!r}.")
        return v

    @model_validator(mode="after")
    def _colormap(self) -> Variant:
        for name, strategy, _ in _strategy_options():  # a strategy's own field goes with that strategy only
            value = getattr(self, name)
            if value is not None and self.channels != strategy:
                shown = f"{name} {value!r}" if isinstance(value, str) else name
                _fail(f"{shown} applies only with channels '{strategy}' (channels is '{self.channels}'); "
                      f"remove it or set channels to {strategy}.")
        if self.colormap is not None and self.colormap not in colormap_names():
            _fail(f"Unknown colormap {self.colormap!r}; use any matplotlib colormap, e.g. viridis, turbo, jet, "
                  f"magma, gray.")
        if self.multi_window is not None and self.spectrogram is not None and self.spectrogram.kind == "stft":
            _fail("multi-window stacks spectrograms of different window lengths, which need the same rows: "
                  "use spectrogram kind mel, pcen or mfcc (an stft has n_fft / 2 + 1 rows per window).")
        if self.multi_window is not None and self.denoise:
            _fail("multi-window builds its three spectrograms from the sound itself, so source-resolution denoisers "
                  "(denoise) have no image to work on; put the denoisers in degrade (at network size) instead.")
        return self

    @property
    def storage_kind(self) -> str:
        """``float``, ``png8``, ``png16`` or ``jpeg``."""
        return self.storage if isinstance(self.storage, str) else self.storage.kind

    @cached_property
    def _spec_key(self) -> str:
        d = self.to_dict()
        d.pop("name")
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @cached_property
    def _model_refs(self) -> tuple[tuple[str, str], ...]:
        refs = [("gray", self.gray[len(LEARNED_PREFIX):])] if self.gray.startswith(LEARNED_PREFIX) else []
        refs += [("denoise", d.model) for d in (*self.denoise, *self.degrade) if isinstance(d, Learned)]
        return tuple(refs)

    def model_refs(self) -> tuple[tuple[str, str], ...]:
        """(task, name) of every saved model this variant uses (learned gray, lab denoisers)."""
        return self._model_refs

    def spec_key(self) -> str:
        """Canonical JSON without the name: two variants with equal keys ask for the same input. Pure (no file
        is read): a saved model is named, not digested; caches that outlive a call key on
        ``core.preprocess.recipe.cache_key``, which adds the digests of the saved models a variant names."""
        return self._spec_key


def explain(err: ValidationError, root: type[BaseModel], prefix: str = "") -> str:
    """One sentence for the user from a pydantic error: where (``resize.size``, ``degrade[1] jpeg.quality``),
    what is wrong, and what was given. Only the first problem is named; fixing it reveals the next.
    ``prefix`` names where ``root`` sits when it is validated inside another spec (``"resize."``)."""
    e = err.errors(include_url=False)[0]
    loc, model, name = _where(e["loc"], root)
    loc = prefix + loc
    kind, ctx, given = e["type"], e.get("ctx") or {}, _show(e.get("input"))
    info = model.model_fields.get(name) if model is not None else None
    if kind == "value_error":
        return str(ctx.get("error", e["msg"])).removeprefix("Value error, ")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than") and info is not None:
        lo, hi = bounds(info)
        return f"{loc} must be between {lo:g} and {hi:g}; got {given}."
    if kind == "literal_error":
        return f"{loc} must be one of {ctx.get('expected', '').replace(chr(39), '')}; got {given}."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{loc} must be an integer; got {given}."
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"{loc} must be a finite number; got {given}."
    if kind in ("bool_type", "bool_parsing"):
        return f"{loc} must be true or false; got {given}."
    if kind == "string_type":
        return f"{loc} must be text; got {given}."
    if kind == "string_too_long":
        return f"{loc} must have at most {ctx.get('max_length')} characters."
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields) if model is not None else ""
        return f"{loc.rpartition('.')[0] or root.__name__.lower()}: unknown field {name!r}; allowed: {allowed}."
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        kinds, what = (DENOISERS, "denoiser") if name == "denoise" else (DEGRADATIONS, "degradation")
        return f"Each {what} needs a kind among {', '.join(kinds)}; got {given}."
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"{loc} must be a JSON object; got {type(e.get('input')).__name__}."
    if info is not None and get_args(info.annotation)[-1:] == (Ellipsis,):
        return f"{loc} must be a list; got {given}."
    if info is not None and get_origin(info.annotation) is tuple:
        n = len(get_args(info.annotation))
        return f"{loc} must be a pair [low, high]." if n == 2 else f"{loc} must be a list of {n} numbers."
    if kind == "missing":
        return f"{loc} is required."
    return f"{loc}: {e['msg']} (got {given})."


def _where(path: tuple, root: type[BaseModel]) -> tuple[str, type[BaseModel] | None, str]:
    """(readable location, the model class that owns the failing field, that field's name).

    ``("degrade", 0, "jpeg", "quality")`` reads ``degrade[1] jpeg.quality``; list items count from 1."""
    parts: list[str] = []
    model: type[BaseModel] | None = root
    owner, name, info = root, "", None
    for p in path:
        if isinstance(p, int):
            if parts and info is not None and get_args(info.annotation)[-1:] == (Ellipsis,):
                parts[-1] += f"[{p + 1}]"
            continue
        if model is None and p in DEGRADATIONS and parts:  # the tag of one degradation in the list
            parts[-1] += f" {p}"
            model = DEGRADATIONS[p]
            continue
        if model is None:
            break
        owner, name = model, str(p)
        info = owner.model_fields.get(name)
        parts.append(name)
        inner = [a for a in (info.annotation, *get_args(info.annotation)) if isinstance(a, type)
                 and issubclass(a, BaseModel)] if info is not None else []
        model = inner[0] if inner else None
    return ".".join(parts) or root.__name__.lower(), owner, name


def bounds(info: Any) -> tuple[float | None, float | None]:
    """(low, high) of a field from its ``ge``/``le`` constraints (None where unbounded)."""
    lo = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
    hi = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
    return lo, hi


def _show(value: Any) -> str:
    """A value for an error message, shortened (a 400-digit number or a huge list stays readable)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class VariantSet(Spec):
    """An ordered set of 1 to ``MAX_VARIANTS`` variants with unique names; the first is the reference.

    It owns the set rules for the dashboard, the CLI and the sweep. JSON: ``{"variants": [...]}``;
    ``from_obj`` also reads a bare list and ignores other top-level keys (a preset's description).
    """

    variants: tuple[Variant, ...]

    @model_validator(mode="after")
    def _rules(self) -> VariantSet:
        if not self.variants:
            _fail('A variant set is a non-empty list, or an object {"variants": [...]}; keep at least one '
                  "variant: the first one is the reference.")
        if len(self.variants) > MAX_VARIANTS:
            _fail(f"At most {MAX_VARIANTS} variants at once; got {len(self.variants)}.")
        names = [v.name for v in self.variants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            _fail(f"Variant names must be unique; repeated: {', '.join(dup)}.")
        return self

    # -- sequence behaviour
    def __iter__(self):  # type: ignore[override]
        return iter(self.variants)

    def __len__(self) -> int:
        return len(self.variants)

    def __getitem__(self, i: int) -> Variant:
        return self.variants[i]

    @property
    def reference(self) -> Variant:
        return self.variants[0]

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    # -- construction
    @classmethod
    def of(cls, variants: Any) -> VariantSet:
        """A VariantSet from a VariantSet, or a sequence of Variants (validated against the set rules)."""
        if isinstance(variants, VariantSet):
            return variants
        return cls.from_obj(list(variants))

    @classmethod
    def from_obj(cls, data: Any) -> VariantSet:
        """Read ``{"variants": [...]}`` or a bare list of variant objects (or Variants)."""
        if isinstance(data, dict) and "variants" in data:
            data = data["variants"]
        if not isinstance(data, (list, tuple)) or not data:
            raise InvalidVariant('A variant set is a non-empty list, or an object {"variants": [...]}.')
        if len(data) > MAX_VARIANTS:
            raise InvalidVariant(f"At most {MAX_VARIANTS} variants at once; got {len(data)}.")
        out = []
        for i, d in enumerate(data):
            try:
                out.append(d if isinstance(d, Variant) else Variant.from_dict(d))
            except InvalidVariant as e:
                raise InvalidVariant(f"Variant {i + 1}: {e}") from None
        return cls.from_dict({"variants": out})

    @classmethod
    def from_json(cls, text: str | bytes) -> VariantSet:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidVariant(f"The variant file is not valid JSON: {e}.") from None
        except RecursionError:
            raise InvalidVariant("The variant file nests too deeply to be a variant set.") from None
        return cls.from_obj(data)

    @classmethod
    def from_file(cls, path: str | Path) -> VariantSet:
        """Read a variant set from a JSON file, refusing unreadable files with a clear message."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) else e
            raise InvalidVariant(f"Cannot read variant file {path}: {reason}.") from None
        return cls.from_json(text)

    def to_json(self, indent: int | None = None) -> str:  # type: ignore[override]
        """Indented JSON for files and downloads; ``indent=None`` gives the canonical compact form."""
        if indent is None:
            return super().to_json()
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # -- edits return new, validated sets
    def with_variant(self, i: int, v: Variant) -> VariantSet:
        return VariantSet.of([*self.variants[:i], v, *self.variants[i + 1:]])

    def appended(self, v: Variant) -> VariantSet:
        return VariantSet.of([*self.variants, v])

    def removed(self, i: int) -> VariantSet:
        return VariantSet.of([*self.variants[:i], *self.variants[i + 1:]])

    def moved(self, i: int, delta: int) -> VariantSet:
        vs = list(self.variants)
        j = min(max(i + delta, 0), len(vs) - 1)
        vs[i], vs[j] = vs[j], vs[i]
        return VariantSet.of(vs)

    def unique_name(self, base: str) -> str:
        """``base``, or ``base 2``, ``base 3``… : the first name not taken in this set."""
        if base not in self.names:
            return base
        n = 2
        while f"{base} {n}" in self.names:
            n += 1
        return f"{base} {n}"
