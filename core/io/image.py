"""Safe image decoding: bytes or a path in, a float32 :class:`~core.signal.Signal` in [0, 1] out.

Accepted formats are PNG (including APNG), JPEG (including MPO), GIF, BMP, TIFF and WebP; only the
first frame of a multi-frame file is used and the frame count is recorded. Pillow is asked to
identify these formats and no others, so no other parser (EPS, PSD, ...) ever sees user data.

Value rules, by Pillow mode of the opened image (the applied rule is recorded in
``provenance["value_rule"]``):

- ``1`` (bilevel): black -> 0.0, white -> 1.0.
- ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` and other 8-bit modes: colour modes are
  converted to RGB by Pillow, then value / 255. ``L`` stays one channel; ``P`` (palette) gives RGB.
- ``I;16``, ``I;16L``, ``I;16B``, ``I;16N`` (unsigned 16-bit): value / 65535, so 65535 -> 1.0.
- ``I`` (32-bit signed), ``I;16S``, ``I;32`` and other integer modes: value / 65535 when every value
  lies in [0, 65535], because Pillow opens many 16-bit sources as ``I`` and a fixed full scale keeps
  brightness comparable between images; otherwise there is no known full scale, so the values are
  min-max scaled, ``(v - min) / (max - min)``. The original range is recorded in
  ``provenance["value_range"]``.
- ``F`` (32-bit float): non-finite values are replaced, NaN and -inf by the smallest finite value and
  +inf by the largest (their count is recorded in ``provenance["nonfinite_replaced"]``; an image with
  no finite value at all is refused). Values already inside [0, 1] are kept as they are; otherwise
  they are min-max scaled. The original finite range is recorded in ``provenance["value_range"]``.
- A constant integer or float image outside [0, 1] has no range to stretch and is clipped instead.

One-channel modes (``1``, ``L``, ``I*``, ``F``) give HxW arrays; colour modes give HxWx3.
Transparency (an alpha band, or a palette / ``tRNS`` transparent colour) is composited over
``background`` (RGB in [0, 1], default white) as ``value * alpha + background * (1 - alpha)``; an
alpha-0 pixel becomes exactly the background. ``LA`` stays one channel when the background is
neutral grey and becomes RGB otherwise. Images whose alpha is fully opaque are not composited (an
opaque ``LA`` image stays one channel) and their digest does not depend on the background.
EXIF orientation is applied with :func:`PIL.ImageOps.exif_transpose`.

Refusals are :class:`~core.errors.UnsupportedInput` with a sentence for the user: empty input,
input over ``max_bytes``, images over ``max_pixels`` (checked from the header, before any pixel data
is decoded; Pillow's own decompression-bomb warning and error are caught and reported the same way),
truncated or corrupt data (Pillow's ``LOAD_TRUNCATED_IMAGES`` is left off), recognisable non-image
files (SVG, PDF, HEIC/AVIF, sounds, videos, archives, text) and anything Pillow cannot identify.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import PIL
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from core.errors import UnsupportedInput
from core.io.formats import sound_format
from core.signal import Signal

MAX_PIXELS: int = 40_000_000
"""Largest accepted image, in pixels (width x height), checked before decoding."""

MAX_BYTES: int = 50 * 1024 * 1024
"""Largest accepted encoded input, in bytes (50 MiB); the dashboard's upload limit matches it."""

PILLOW_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
"""Pillow format identifiers that :func:`decode_image` lets Pillow try (JPEG also yields MPO)."""

_FORMATS_SENTENCE = "upload PNG, JPEG, GIF, BMP, TIFF or WebP"
_HEAD = 4096  # bytes looked at when sniffing a non-image type

# warnings.catch_warnings mutates process-wide state; serialize our own uses of it so that two
# concurrent decodes cannot leave a recording filter installed behind them.
_PIL_LOCK = threading.Lock()

_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

_UNSIGNED_16 = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = {"RGBA": "RGBA", "RGBa": "RGBA", "PA": "RGBA", "LA": "LA", "La": "LA"}

RULE_BILEVEL = "bilevel: black 0, white 1"
RULE_8BIT = "8-bit: value/255"
RULE_16BIT = "16-bit: value/65535"
RULE_INT_16 = "integer within [0, 65535]: value/65535"
RULE_INT_MINMAX = "integer outside [0, 65535]: (value-min)/(max-min)"
RULE_FLOAT_KEEP = "float within [0, 1]: unchanged"
RULE_FLOAT_MINMAX = "float outside [0, 1]: (value-min)/(max-min)"
RULE_CONSTANT_CLIP = "constant image outside [0, 1]: clipped"


def decode_image(
    source: bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO,
    *,
    name: str | None = None,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
    sha256: str | None = None,
) -> Signal:
    """Decode an image file into a float32 :class:`Signal` in [0, 1] with its provenance.

    ``source`` is the encoded bytes, a path (at most ``max_bytes + 1`` bytes are read) or a binary
    file object; ``name`` is the file name shown in messages and provenance (default: the path's
    name, or ``"upload"``). Transparent pixels are composited over ``background`` (RGB in [0, 1]).
    The value rules for each Pillow mode are in this module's docstring. Every failure, including
    any Pillow exception, is raised as :class:`~core.errors.UnsupportedInput` naming the file;
    images over ``max_pixels`` are refused from their header, before pixel data is decoded.
    ``sha256`` is the bytes' hash when the caller already has it (a dataset hashes each file once, when
    it is scanned); otherwise it is computed here.
    """
    data, name = _read_source(source, name, max_bytes)
    bg = _check_background(background)
    if not data:
        raise UnsupportedInput(f"'{name}' is empty (0 bytes); choose an image file.")
    if len(data) > max_bytes:
        raise UnsupportedInput(
            f"'{name}' is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.1f} MiB. "
            "Compress or downscale it first."
        )
    _refuse_known_non_images(data, name)

    limit = _effective_pixel_limit(max_pixels)
    with _PIL_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        im, prov = _open_and_load(data, name, limit)
        try:
            array, value_prov = pil_to_array(im, background=bg)
        except UnsupportedInput as exc:
            raise UnsupportedInput(f"'{name}': {exc}") from exc
        except Exception as exc:
            raise UnsupportedInput(f"'{name}' could not be converted ({im.mode} image): {exc}.") from exc
        finally:
            im.close()
    bombs = [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    if bombs:  # unreachable while limit <= Pillow's threshold; kept as a guard against a changed global
        raise UnsupportedInput(_pixels_message(name, _bomb_pixels(str(bombs[0].message)), limit))

    prov.update(value_prov)
    prov["shape"] = list(array.shape)
    prov["sha256"] = sha256 or hashlib.sha256(data).hexdigest()
    digest = prov["sha256"]
    if prov.get("alpha_composited"):
        # The decoded array depends on the background too; keep cache keys apart.
        background = "|background=" + ",".join(f"{c:.6g}" for c in bg)
        digest = hashlib.sha256(bytes.fromhex(digest) + background.encode()).hexdigest()
    prov["digest"] = digest[:16]
    notes = [str(w.message) for w in caught if not issubclass(w.category, Image.DecompressionBombWarning)]
    if notes:
        prov["decoder_warnings"] = notes[:5]
    return Signal(array=array, provenance=prov)


def pil_to_array(
    im: Image.Image, *, background: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> tuple[np.ndarray, dict]:
    """Convert a loaded Pillow image to a float32 HxW or HxWx3 array in [0, 1] by the module's rules.

    Returns the array and a provenance fragment: ``value_rule``, ``alpha_composited``, the
    ``background`` used when it was, and ``value_range`` / ``nonfinite_replaced`` for integer and
    float modes. Transparency (alpha band or ``transparency`` info) is composited over
    ``background``. Modes Pillow cannot convert to RGB raise :class:`~core.errors.UnsupportedInput`.
    """
    bg = _check_background(background)
    mode = im.mode
    prov: dict = {"alpha_composited": False}

    if mode == "1":
        prov["value_rule"] = RULE_BILEVEL
        return np.asarray(im, dtype=np.float32), prov
    if mode in _UNSIGNED_16:
        arr = np.asarray(im).astype(np.float32)
        arr /= 65535
        prov["value_rule"] = RULE_16BIT
        return arr, prov
    if mode == "I" or mode.startswith("I;"):
        return _scale_integer(np.asarray(im), prov)
    if mode == "F":
        return _scale_float(np.asarray(im, dtype=np.float32), prov)

    if "transparency" in im.info and mode in ("P", "L", "RGB"):
        im = im.convert("LA" if mode == "L" else "RGBA")
        mode = im.mode
    if mode in _ALPHA_MODES:
        if mode != _ALPHA_MODES[mode]:
            im = im.convert(_ALPHA_MODES[mode])
        return _composite(np.asarray(im), bg, prov)

    prov["value_rule"] = RULE_8BIT
    if mode == "L":
        return _u8_to_float(np.asarray(im)), prov
    if mode != "RGB":
        try:
            im = im.convert("RGB")
        except (ValueError, OSError) as exc:
            msg = f"images in Pillow mode {mode} cannot be converted to RGB; {_FORMATS_SENTENCE}."
            raise UnsupportedInput(msg) from exc
    return _u8_to_float(np.asarray(im)), prov


# --------------------------------------------------------------------------------------------- reading


def _read_source(source: object, name: str | None, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), name or "upload"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        shown = name or path.name or str(path)
        try:
            if path.is_dir():
                raise UnsupportedInput(f"'{path}' is a folder, not an image file.")
            with path.open("rb") as fh:
                return fh.read(max_bytes + 1), shown
        except FileNotFoundError as exc:
            raise UnsupportedInput(f"'{path}' does not exist; check the path.") from exc
        except PermissionError as exc:
            raise UnsupportedInput(f"'{path}' cannot be read (permission denied).") from exc
        except OSError as exc:
            raise UnsupportedInput(f"'{path}' cannot be read: {exc.strerror or exc}.") from exc
    if hasattr(source, "read"):
        shown = name or os.path.basename(str(getattr(source, "name", "") or "")) or "upload"
        try:
            data = source.read(max_bytes + 1)  # type: ignore[attr-defined]
        except (OSError, ValueError) as exc:
            raise UnsupportedInput(f"'{shown}' cannot be read: {exc}.") from exc
        if not isinstance(data, bytes | bytearray):
            raise UnsupportedInput(f"'{shown}' was opened in text mode; open it in binary mode ('rb').")
        return bytes(data), shown
    raise UnsupportedInput(
        f"Cannot read an image from a {type(source).__name__}; pass the file's bytes or its path."
    )


def _check_background(background: tuple[float, float, float]) -> tuple[float, float, float]:
    try:
        bg = tuple(float(c) for c in background)
    except (TypeError, ValueError):
        bg = ()
    if len(bg) != 3 or not all(0.0 <= c <= 1.0 for c in bg):
        raise UnsupportedInput(f"The background colour must be three numbers in [0, 1], got {background!r}.")
    return bg  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------- sniffing

_AUDIO_FTYP = (b"M4A ", b"M4B ", b"M4P ", b"F4A ")
_HEIF_FTYP = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2")
_AVIF_FTYP = (b"avif", b"avis")


def _sound_message(name: str, kind: str) -> str:
    return (
        f"'{name}' looks like a sound file ({kind}), not an image. Sounds are decoded by the audio loader: "
        "load it as a sound (the dashboard and the command line recognise sounds by their content)."
    )


def _refuse_known_non_images(data: bytes, name: str) -> None:
    head = data[:_HEAD]
    if head.startswith(b"%PDF-"):
        raise UnsupportedInput(
            f"'{name}' is a PDF document, not a raster image; export the page as PNG, then upload it."
        )
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text_head.startswith(b"<") and b"<svg" in text_head:
        raise UnsupportedInput(f"'{name}': SVG is not a raster image; {_FORMATS_SENTENCE}.")
    if head.startswith(b"\x1f\x8b") and name.lower().endswith(".svgz"):
        raise UnsupportedInput(f"'{name}': SVG is not a raster image; {_FORMATS_SENTENCE}.")
    sound = sound_format(head)
    if sound is not None:
        raise UnsupportedInput(_sound_message(name, sound))
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        raise UnsupportedInput(f"'{name}' is an AVI video, not an image; {_FORMATS_SENTENCE}.")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        compatible = [head[i : i + 4] for i in range(16, min(len(head), 64), 4)]
        brands = [brand, *compatible]
        if any(b in _AVIF_FTYP for b in brands[:1]):
            raise UnsupportedInput(f"'{name}' is an AVIF image, which is not supported; {_FORMATS_SENTENCE}.")
        if any(b in _HEIF_FTYP for b in brands):
            raise UnsupportedInput(
                f"'{name}' is a HEIC/HEIF image, which is not supported; convert it to JPEG or PNG "
                "(on an iPhone: Settings > Camera > Formats > Most Compatible)."
            )
        if any(b in _AVIF_FTYP for b in brands):
            raise UnsupportedInput(f"'{name}' is an AVIF image, which is not supported; {_FORMATS_SENTENCE}.")
        if brand in _AUDIO_FTYP:
            raise UnsupportedInput(_sound_message(name, "M4A/AAC"))
        raise UnsupportedInput(f"'{name}' looks like an MP4/QuickTime video, not an image; {_FORMATS_SENTENCE}.")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        raise UnsupportedInput(f"'{name}' looks like a WebM/Matroska video, not an image; {_FORMATS_SENTENCE}.")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")):
        raise UnsupportedInput(f"'{name}' is a compressed archive, not an image; {_FORMATS_SENTENCE}.")
    if text_head.startswith((b"<!doctype html", b"<html")):
        raise UnsupportedInput(
            f"'{name}' is an HTML page, not an image (a download may have saved an error page); {_FORMATS_SENTENCE}."
        )


def _not_an_image_message(data: bytes, name: str) -> str:
    head = data[:_HEAD]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            is_text = exc.start >= len(head) - 4  # a multi-byte character cut at the sniff boundary
        else:
            is_text = True
        if is_text:
            return f"'{name}' is a text file, not an image; {_FORMATS_SENTENCE}."
    return f"'{name}' is not a recognised image (or its header is corrupt); {_FORMATS_SENTENCE}."


# --------------------------------------------------------------------------------------------- decoding


def _effective_pixel_limit(max_pixels: int) -> int:
    if max_pixels <= 0:
        raise UnsupportedInput(f"The pixel limit must be positive, got {max_pixels}.")
    pillow = Image.MAX_IMAGE_PIXELS
    return min(max_pixels, int(pillow)) if pillow else max_pixels


def _pixels_message(name: str, pixels: int | None, limit: int, size: tuple[int, int] | None = None) -> str:
    if size is not None:
        pixels = size[0] * size[1]
    if pixels is None:
        return f"'{name}' is too large; the limit is {limit / 1e6:.1f} megapixels. Downscale it before uploading."
    digits = 1
    while digits < 6 and round(pixels / 1e6, digits) == round(limit / 1e6, digits):
        digits += 1  # never print "40.0 megapixels; the limit is 40.0"
    what = f"{pixels / 1e6:.{digits}f} megapixels"
    if size is not None:
        what = f"{size[0]}×{size[1]} = {what}"
    return (
        f"'{name}' is {what}; the limit is {limit / 1e6:.{digits}f} megapixels. Downscale it before uploading."
    )


def _bomb_pixels(message: str) -> int | None:
    m = _BOMB_PIXELS.search(message)
    return int(m.group(1)) if m else None


def _open_and_load(data: bytes, name: str, limit: int) -> tuple[ImageFile.ImageFile, dict]:
    """Open (header only), check size, count frames, load frame 0 and apply EXIF orientation."""
    try:
        im = Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:
        raise UnsupportedInput(_pixels_message(name, _bomb_pixels(str(exc)), limit)) from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedInput(_not_an_image_message(data, name)) from exc
    except Exception as exc:  # any parser error in a header is the file's fault, never a traceback
        reason = str(exc) or type(exc).__name__
        raise UnsupportedInput(
            f"'{name}' looks like an image, but its header is truncated or corrupt ({reason}); "
            "re-download or re-export it."
        ) from exc

    try:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise UnsupportedInput(f"'{name}' has zero width or height ({width}×{height}).")
        if width * height > limit:
            raise UnsupportedInput(_pixels_message(name, None, limit, (width, height)))
        fmt = str(im.format or "unknown")
        prov: dict = {
            "source": name,
            "kind": "image",
            "decoder": f"Pillow {PIL.__version__}",
            "format": fmt,
            "mode": im.mode,
            "size": [width, height],
            "bytes": len(data),
        }
        prov["frames"] = int(getattr(im, "n_frames", 1) or 1)
        if prov["frames"] > 1:
            im.seek(0)
        im.load()
        im, prov["exif_orientation"] = _apply_orientation(im, prov)
        prov["exif_rotated"] = prov["exif_orientation"] in range(2, 9)
        if im.mode != prov["mode"]:
            prov["loaded_mode"] = im.mode  # Pillow may change mode on load (GIF frames, JPEG draft)
    except UnsupportedInput:
        im.close()
        raise
    except Image.DecompressionBombError as exc:
        im.close()
        raise UnsupportedInput(_pixels_message(name, _bomb_pixels(str(exc)), limit)) from exc
    except Exception as exc:
        im.close()
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason.lower() or isinstance(exc, EOFError):
            raise UnsupportedInput(
                f"'{name}' is truncated or incomplete ({reason}); re-download or re-export it."
            ) from exc
        raise UnsupportedInput(f"'{name}' is a corrupt {im.format or 'image'} file ({reason}); re-export it.") from exc
    return im, prov


def _apply_orientation(im: ImageFile.ImageFile, prov: dict) -> tuple[ImageFile.ImageFile, int]:
    """Rotate/flip a loaded image upright by its EXIF orientation; a corrupt EXIF block is ignored."""
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception as exc:  # broken EXIF must not cost the user a perfectly good picture
        prov["exif_error"] = str(exc) or type(exc).__name__
        return im, 1
    if orientation not in range(2, 9):
        return im, orientation
    info = dict(im.info)
    rotated = ImageOps.exif_transpose(im)
    if "transparency" in info:
        rotated.info.setdefault("transparency", info["transparency"])
    im.close()
    return rotated, orientation  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------- values


def _u8_to_float(a: np.ndarray) -> np.ndarray:
    out = a.astype(np.float32)
    out /= 255
    return out


def _composite(a: np.ndarray, bg: tuple[float, float, float], prov: dict) -> np.ndarray:
    """Composite an (H,W,2) LA or (H,W,4) RGBA uint8 array over the background."""
    prov["value_rule"] = RULE_8BIT
    color, alpha = a[..., :-1], a[..., -1]
    neutral = bg[0] == bg[1] == bg[2]
    gray = color.shape[-1] == 1
    if bool((alpha == 255).all()):
        return _u8_to_float(color[..., 0] if gray else color), prov
    prov["alpha_composited"] = True
    prov["background"] = list(bg)
    value = _u8_to_float(color)
    weight = _u8_to_float(alpha)[..., None]
    if gray and neutral:
        out = value * weight + np.float32(bg[0]) * (np.float32(1) - weight)
        return np.clip(out[..., 0], 0.0, 1.0, out=out[..., 0]), prov
    if gray:
        value = np.repeat(value, 3, axis=-1)
    out = value * weight + np.asarray(bg, dtype=np.float32) * (np.float32(1) - weight)
    return np.clip(out, 0.0, 1.0, out=out), prov


def _scale_integer(a: np.ndarray, prov: dict) -> tuple[np.ndarray, dict]:
    lo, hi = int(a.min()), int(a.max())
    prov["value_range"] = [lo, hi]
    if lo >= 0 and hi <= 65535:
        out = a.astype(np.float32)
        out /= 65535
        prov["value_rule"] = RULE_INT_16
        return out, prov
    if lo == hi:
        prov["value_rule"] = RULE_CONSTANT_CLIP
        return np.full(a.shape, 0.0 if hi < 0 else 1.0, dtype=np.float32), prov
    out = ((a.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
    prov["value_rule"] = RULE_INT_MINMAX
    return out, prov


def _scale_float(a: np.ndarray, prov: dict) -> tuple[np.ndarray, dict]:
    finite = np.isfinite(a)
    n_bad = int(a.size - np.count_nonzero(finite))
    if n_bad == a.size:
        raise UnsupportedInput("this float image has no finite values (all NaN or infinite); nothing to show.")
    lo, hi = float(a[finite].min()), float(a[finite].max())
    prov["value_range"] = [lo, hi]
    if n_bad:
        a = np.where(np.isnan(a) | np.isneginf(a), np.float32(lo), a)
        a = np.where(np.isposinf(a), np.float32(hi), a).astype(np.float32)
        prov["nonfinite_replaced"] = n_bad
    if lo >= 0.0 and hi <= 1.0:
        prov["value_rule"] = RULE_FLOAT_KEEP
        return np.array(a, dtype=np.float32, copy=True), prov
    if lo == hi:
        prov["value_rule"] = RULE_CONSTANT_CLIP
        return np.clip(a, 0.0, 1.0).astype(np.float32), prov
    out = ((a.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)
    prov["value_rule"] = RULE_FLOAT_MINMAX
    return out, prov
