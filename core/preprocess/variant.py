"""The Variant: one frozen, validated, JSON-serializable preprocessing pipeline.

A Variant drives everything: the dashboard builds its widgets from the field metadata declared
here (``choices``, ``min``, ``max``, ``help``), the engine's caches key on its canonical JSON, the
CLI reads and writes it, and exports embed it. ``Variant.from_dict(v.to_dict()) == v`` always.

Pipeline order (documented once, here): decode -> [spectrogram, for sounds] -> channel strategy
(gray by the luminance rule, then colormap / replicate / conv-sum / zero-pad) -> resize and fit ->
degradations in the listed order (at network resolution) -> normalization.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

from core.errors import InvalidVariant

RESIZE_METHODS = ("nearest", "nearest-exact", "bilinear", "bicubic", "lanczos", "area", "hamming")
BACKENDS = ("torch", "pil")
FITS = ("stretch", "shorter-side+center-crop", "letterbox")
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
}
CHANNEL_STRATEGIES = ("rgb", "replicate", "conv-sum", "zero-pad", "colormap")
GRAY_RULES = ("601", "709", "mean")
NORMALIZATIONS = ("model", "imagenet", "none")
SPEC_KINDS = ("mel", "stft", "pcen", "mfcc")
SPEC_SCALINGS = ("fixed-db", "minmax", "percentile")
WINDOWS = ("hann", "hamming", "blackman", "boxcar")


def _meta(help: str, **kw: Any) -> dict:
    return {"help": help, **kw}


def _fail(msg: str) -> None:
    raise InvalidVariant(msg)


def _show(value: Any) -> str:
    """A value for an error message, shortened (a 400-digit number or a huge list stays readable)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if not isinstance(value, (str, type(None))) or value not in choices:
        _fail(f"{name} must be one of {', '.join(map(str, choices))}; got {_show(value)}.")


def _check_range(name: str, value: Any, lo: float | None, hi: float | None, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        _fail(f"{name} must be {'an integer' if integer else 'a number'}; got {_show(value)}.")
    if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(f"{name} must be between {lo} and {hi}; got {_show(value)}.")


class _Spec:
    """Mixin: dict round trip with validation for the frozen dataclasses below."""

    _tag: ClassVar[str] = ""  # degradations serialize their type as "kind"

    def to_dict(self) -> dict:
        out: dict[str, Any] = {}
        if self._tag:
            out["kind"] = self._tag
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, _Spec):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = [x.to_dict() if isinstance(x, _Spec) else x for x in v]
            out[f.name] = v
        return out

    @classmethod
    def _from_fields(cls, d: Any, where: str):
        if not isinstance(d, dict):
            _fail(f"{where} must be a JSON object; got {type(d).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        d = {k: v for k, v in d.items() if not (k == "kind" and cls._tag)}
        unknown = sorted(set(d) - names)
        if unknown:
            _fail(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}.")
        return d


def _pair(name: str, v: Any) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        _fail(f"{name} must be a pair [low, high]; got {v!r}.")
    lo, hi = v
    _check_range(name, lo, None, None)
    _check_range(name, hi, None, None)
    if not lo < hi:
        _fail(f"{name} must have low < high; got {v!r}.")
    return (float(lo), float(hi))


@dataclass(frozen=True)
class Resize(_Spec):
    """How the input is brought to the network's size."""

    size: int = field(default=224, metadata=_meta("Output side in pixels (square).", min=16, max=1024))
    method: str = field(default="bicubic", metadata=_meta("Interpolation kernel.", choices=RESIZE_METHODS))
    antialias: bool = field(default=True, metadata=_meta("Low-pass before downsampling."))
    backend: str = field(default="torch", metadata=_meta("Library that resizes.", choices=BACKENDS))
    fit: str = field(default="shorter-side+center-crop", metadata=_meta("Aspect handling.", choices=FITS))

    def __post_init__(self) -> None:
        _check_range("resize.size", self.size, 16, 1024, integer=True)
        _check_choice("resize.method", self.method, RESIZE_METHODS)
        _check_choice("resize.backend", self.backend, BACKENDS)
        _check_choice("resize.fit", self.fit, FITS)
        if not isinstance(self.antialias, bool):
            _fail(f"resize.antialias must be true or false; got {self.antialias!r}.")
        caps = BACKEND_CAPS[self.backend]
        if self.method not in caps:
            other = [b for b, c in BACKEND_CAPS.items() if self.method in c]
            _fail(f"The {self.backend} backend has no '{self.method}' resize; use backend {' or '.join(other)}.")
        if self.antialias not in caps[self.method]:
            state = "on" if self.antialias else "off"
            _fail(
                f"The {self.backend} backend cannot resize '{self.method}' with antialias {state}; "
                f"set antialias to {str(caps[self.method][0]).lower()}."
            )

    @classmethod
    def from_dict(cls, d: Any) -> Resize:
        return cls(**cls._from_fields(d, "resize"))


@dataclass(frozen=True)
class Jpeg(_Spec):
    """JPEG encode/decode round trip (Pillow, 4:2:0 subsampling) at a quality."""

    kind: ClassVar[str] = "jpeg"
    _tag: ClassVar[str] = "jpeg"
    quality: int = field(default=75, metadata=_meta("JPEG quality (1 worst, 95 best).", min=1, max=95))

    def __post_init__(self) -> None:
        _check_range("jpeg.quality", self.quality, 1, 95, integer=True)


@dataclass(frozen=True)
class Noise(_Spec):
    """Additive white Gaussian noise at a signal-to-noise ratio (dB, against the image's power)."""

    kind: ClassVar[str] = "noise"
    _tag: ClassVar[str] = "noise"
    snr_db: float = field(default=20.0, metadata=_meta("Signal-to-noise ratio in dB.", min=-10.0, max=60.0))
    seed: int = field(default=0, metadata=_meta("Noise seed (same seed, same noise).", min=0, max=2**31 - 1))

    def __post_init__(self) -> None:
        _check_range("noise.snr_db", self.snr_db, -10.0, 60.0)
        object.__setattr__(self, "snr_db", float(self.snr_db))
        _check_range("noise.seed", self.seed, 0, 2**31 - 1, integer=True)


@dataclass(frozen=True)
class Blur(_Spec):
    """Gaussian blur with a standard deviation in pixels (kernel 2*ceil(3 sigma)+1)."""

    kind: ClassVar[str] = "blur"
    _tag: ClassVar[str] = "blur"
    sigma: float = field(default=1.0, metadata=_meta("Standard deviation in pixels.", min=0.1, max=10.0))

    def __post_init__(self) -> None:
        _check_range("blur.sigma", self.sigma, 0.1, 10.0)
        object.__setattr__(self, "sigma", float(self.sigma))


@dataclass(frozen=True)
class Median(_Spec):
    """Median filter (denoising) over a square window of odd size."""

    kind: ClassVar[str] = "median"
    _tag: ClassVar[str] = "median"
    size: int = field(default=3, metadata=_meta("Window side (odd).", min=3, max=9, step=2))

    def __post_init__(self) -> None:
        _check_range("median.size", self.size, 3, 9, integer=True)
        if self.size % 2 == 0:
            _fail(f"median.size must be odd; got {self.size}.")


Degradation = Union[Jpeg, Noise, Blur, Median]
DEGRADATIONS: dict[str, type] = {c.kind: c for c in (Jpeg, Noise, Blur, Median)}


def degradation_from_dict(d: Any) -> Degradation:
    if not isinstance(d, dict) or not isinstance(d.get("kind"), str) or d["kind"] not in DEGRADATIONS:
        _fail(f"Each degradation needs a kind among {', '.join(DEGRADATIONS)}; got {d!r}.")
    cls = DEGRADATIONS[d["kind"]]
    return cls(**cls._from_fields(d, f"degrade.{d['kind']}"))


@dataclass(frozen=True)
class Spectrogram(_Spec):
    """How a sound becomes a one-channel image (low frequencies at the bottom rows)."""

    kind: str = field(default="mel", metadata=_meta("Spectrogram type.", choices=SPEC_KINDS))
    sample_rate: int = field(default=16000, metadata=_meta("Resample to this rate (Hz).", min=4000, max=48000))
    n_fft: int = field(default=1024, metadata=_meta("FFT size (samples).", min=64, max=8192))
    hop: int = field(default=256, metadata=_meta("Hop length (samples).", min=16, max=4096))
    window: str = field(default="hann", metadata=_meta("STFT window.", choices=WINDOWS))
    n_mels: int = field(default=128, metadata=_meta("Mel bands (mel, pcen, mfcc).", min=8, max=256))
    fmin: float = field(default=0.0, metadata=_meta("Lowest frequency (Hz).", min=0.0, max=24000.0))
    fmax: float | None = field(default=None, metadata=_meta("Highest frequency (Hz); empty = Nyquist."))
    top_db: float = field(default=80.0, metadata=_meta("Dynamic range kept below the peak (dB).", min=10.0, max=160.0))
    reference: str = field(default="max", metadata=_meta("dB reference.", choices=("max", "fixed")))
    scaling: str = field(default="fixed-db", metadata=_meta("Mapping to [0, 1].", choices=SPEC_SCALINGS))
    db_range: tuple[float, float] = field(default=(-80.0, 0.0), metadata=_meta("dB mapped to 0 and 1 (fixed-db)."))
    percentiles: tuple[float, float] = field(default=(1.0, 99.0), metadata=_meta("Clip percentiles (percentile)."))

    def __post_init__(self) -> None:
        _check_choice("spectrogram.kind", self.kind, SPEC_KINDS)
        _check_range("spectrogram.sample_rate", self.sample_rate, 4000, 48000, integer=True)
        _check_range("spectrogram.n_fft", self.n_fft, 64, 8192, integer=True)
        _check_range("spectrogram.hop", self.hop, 16, 4096, integer=True)
        if self.hop > self.n_fft:
            _fail(f"spectrogram.hop ({self.hop}) must not exceed n_fft ({self.n_fft}).")
        _check_choice("spectrogram.window", self.window, WINDOWS)
        _check_range("spectrogram.n_mels", self.n_mels, 8, 256, integer=True)
        _check_range("spectrogram.fmin", self.fmin, 0.0, self.sample_rate / 2)
        if self.fmax is not None:
            _check_range("spectrogram.fmax", self.fmax, self.fmin + 1, self.sample_rate / 2)
        _check_range("spectrogram.top_db", self.top_db, 10.0, 160.0)
        if self.fmin >= (self.fmax if self.fmax is not None else self.sample_rate / 2):
            _fail("spectrogram.fmin must lie below fmax (or below the Nyquist frequency when fmax is empty).")
        for name in ("fmin", "fmax", "top_db"):  # 0 and 0.0 must give the same cache key
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        _check_choice("spectrogram.reference", self.reference, ("max", "fixed"))
        _check_choice("spectrogram.scaling", self.scaling, SPEC_SCALINGS)
        object.__setattr__(self, "db_range", _pair("spectrogram.db_range", self.db_range))
        p = _pair("spectrogram.percentiles", self.percentiles)
        if p[0] < 0 or p[1] > 100:
            _fail(f"spectrogram.percentiles must lie within [0, 100]; got {list(p)}.")
        object.__setattr__(self, "percentiles", p)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["db_range"], d["percentiles"] = list(self.db_range), list(self.percentiles)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Spectrogram:
        return cls(**cls._from_fields(d, "spectrogram"))


@dataclass(frozen=True)
class Variant(_Spec):
    """One preprocessing pipeline.

    ``channels``: ``rgb`` (color kept; a one-channel input is replicated), or a gray strategy applied
    after reducing color to gray by ``gray`` (ITU-R BT.601, BT.709 luma weights, or channel mean):
    ``replicate`` (gray copied to 3 channels, then normalized per channel), ``conv-sum`` (one channel
    through the first conv with its weights summed over input channels, as timm's adapt_input_conv;
    normalized with the mean of the per-channel statistics), ``zero-pad`` (gray in the first channel,
    the others zero after normalization), or ``colormap:<matplotlib name>``.
    """

    name: str = field(default="reference", metadata=_meta("Label shown everywhere."))
    resize: Resize = field(default_factory=Resize, metadata=_meta("Resize and fit."))
    channels: str = field(default="rgb", metadata=_meta("Channel strategy.", choices=CHANNEL_STRATEGIES))
    gray: str = field(default="601", metadata=_meta("Luminance rule for color to gray.", choices=GRAY_RULES))
    normalize: str = field(default="model", metadata=_meta("Input normalization.", choices=NORMALIZATIONS))
    degrade: tuple[Degradation, ...] = field(default=(), metadata=_meta("Applied in order at network size."))
    spectrogram: Spectrogram | None = field(default=None, metadata=_meta("For sounds; default mel when empty."))

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 80:
            _fail(f"A variant needs a non-empty name of at most 80 characters; got {self.name!r}.")
        if not isinstance(self.resize, Resize):
            _fail("resize must be a Resize specification.")
        strategy = self.channels.split(":", 1)[0] if isinstance(self.channels, str) else self.channels
        _check_choice("channels", strategy, CHANNEL_STRATEGIES)
        if strategy == "colormap":
            cmap = self.channels.split(":", 1)[1] if ":" in self.channels else ""
            if cmap not in colormap_names():
                _fail(f"Unknown colormap {cmap!r}; use any matplotlib colormap, e.g. viridis, turbo, jet, magma, gray.")
        elif ":" in self.channels:
            _fail(f"Only colormap takes an argument (colormap:<name>); got {self.channels!r}.")
        _check_choice("gray", self.gray, GRAY_RULES)
        _check_choice("normalize", self.normalize, NORMALIZATIONS)
        if isinstance(self.degrade, list):
            object.__setattr__(self, "degrade", tuple(self.degrade))
        for d in self.degrade:
            if not isinstance(d, tuple(DEGRADATIONS.values())):
                _fail(f"Unknown degradation {d!r}.")
        if self.spectrogram is not None and not isinstance(self.spectrogram, Spectrogram):
            _fail("spectrogram must be a Spectrogram specification or null.")

    @property
    def strategy(self) -> str:
        """The channel strategy without its argument: rgb, replicate, conv-sum, zero-pad or colormap."""
        return self.channels.split(":", 1)[0]

    @property
    def colormap(self) -> str | None:
        return self.channels.split(":", 1)[1] if self.strategy == "colormap" else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "resize": self.resize.to_dict(),
            "channels": self.channels,
            "gray": self.gray,
            "normalize": self.normalize,
            "degrade": [d.to_dict() for d in self.degrade],
            "spectrogram": None if self.spectrogram is None else self.spectrogram.to_dict(),
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the cache key and export format."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def spec_key(self) -> str:
        """Canonical JSON without the name: two variants with equal keys compute the same input."""
        d = self.to_dict()
        d.pop("name")
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def replace(self, **changes: Any) -> Variant:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: Any) -> Variant:
        d = dict(cls._from_fields(d, "variant"))
        if "resize" in d:
            d["resize"] = Resize.from_dict(d["resize"])
        if "degrade" in d:
            if not isinstance(d["degrade"], list):
                _fail("degrade must be a list of degradations.")
            d["degrade"] = tuple(degradation_from_dict(x) for x in d["degrade"])
        if d.get("spectrogram") is not None:
            d["spectrogram"] = Spectrogram.from_dict(d["spectrogram"])
        return cls(**d)


def colormap_names() -> frozenset[str]:
    from matplotlib import colormaps

    return frozenset(colormaps)


def variants_to_dict(variants: list[Variant] | tuple[Variant, ...]) -> dict:
    return {"variants": [v.to_dict() for v in variants]}


def variants_to_json(variants: list[Variant] | tuple[Variant, ...], indent: int | None = 2) -> str:
    return json.dumps(variants_to_dict(variants), indent=indent)


def variants_from_json(text: str | bytes) -> list[Variant]:
    """Parse a variant set: ``{"variants": [...]}`` or a bare list. The first is the reference."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidVariant(f"The variant file is not valid JSON: {e}.") from None
    except RecursionError:
        raise InvalidVariant("The variant file nests too deeply to be a variant set.") from None
    return variants_from_obj(data)


def variants_from_file(path: str | Path) -> list[Variant]:
    """Read a variant set from a JSON file, refusing unreadable files with a clear message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else e
        raise InvalidVariant(f"Cannot read variant file {path}: {reason}.") from None
    return variants_from_json(text)


def variants_from_obj(data: Any) -> list[Variant]:
    if isinstance(data, dict) and "variants" in data:
        data = data["variants"]
    if not isinstance(data, list) or not data:
        raise InvalidVariant('A variant set is a non-empty list, or an object {"variants": [...]}.')
    if len(data) > MAX_VARIANTS:
        raise InvalidVariant(f"At most {MAX_VARIANTS} variants at once; got {len(data)}.")
    out = []
    for i, d in enumerate(data):
        try:
            out.append(Variant.from_dict(d))
        except InvalidVariant as e:
            raise InvalidVariant(f"Variant {i + 1}: {e}") from None
        except TypeError as e:
            raise InvalidVariant(f"Variant {i + 1}: {e}.") from None
    names = [v.name for v in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidVariant(f"Variant names must be unique; repeated: {', '.join(dup)}.")
    return out


MAX_VARIANTS = 16
