"""Tests for core.io.image.decode_image: modes, value rules, transparency, orientation, refusals."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from core.errors import UnsupportedInput
from core.io.formats import IMAGE_EXTENSIONS as SUPPORTED_EXTENSIONS
from core.io.image import (
    MAX_BYTES,
    MAX_PIXELS,
    decode_image,
    pil_to_array,
)
from core.signal import Signal

# ----------------------------------------------------------------------------------------- helpers


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_header_only(width: int, height: int, idat: bytes = b"\x00garbage, not zlib") -> bytes:
    """A PNG whose IHDR declares width x height but whose pixel data is corrupt: only a check made from
    the header, before decoding, can report the size; decoding would fail with a data error instead."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def refusal(data, **kwargs) -> str:
    with pytest.raises(UnsupportedInput) as info:
        decode_image(data, **kwargs)
    return str(info.value)


# ----------------------------------------------------------------------------------------- basics


def test_constants_exported():
    assert MAX_PIXELS == 40_000_000
    assert MAX_BYTES == 50 * 1024 * 1024
    for ext in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"):
        assert ext in SUPPORTED_EXTENSIONS
    assert ".svg" not in SUPPORTED_EXTENSIONS


def test_truncated_loading_is_not_globally_enabled():
    import core  # noqa: F401  (importing the package must not flip Pillow's global)
    import core.io  # noqa: F401

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_rgb_png_exact_and_provenance():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    data = encode(Image.fromarray(arr), "PNG")
    sig = decode_image(data, name="tiny.png")
    assert isinstance(sig, Signal)
    assert sig.array.dtype == np.float32 and sig.array.shape == (7, 5, 3)
    np.testing.assert_array_equal(sig.array, arr.astype(np.float32) / 255)
    p = sig.provenance
    assert p["source"] == "tiny.png" and p["format"] == "PNG" and p["mode"] == "RGB"
    assert p["size"] == [5, 7] and p["frames"] == 1
    assert p["exif_rotated"] is False and p["alpha_composited"] is False
    import hashlib

    assert p["digest"] == hashlib.sha256(data).hexdigest()[:16] and len(p["digest"]) == 16
    assert sig.digest == p["digest"]
    assert "255" in p["value_rule"]


def test_path_and_file_object_sources(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    data = encode(Image.fromarray(arr), "PNG")
    path = tmp_path / "gray.png"
    path.write_bytes(data)
    by_path = decode_image(path)
    by_str = decode_image(str(path))
    by_file = decode_image(io.BytesIO(data), name="x.png")
    for sig in (by_path, by_str, by_file):
        np.testing.assert_array_equal(sig.array, arr / np.float32(255))
    assert by_path.provenance["source"] == "gray.png"
    assert by_path.provenance["digest"] == by_file.provenance["digest"]


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP", "GIF"])
def test_lossless_formats_round_trip(fmt):
    rng = np.random.default_rng(1)
    if fmt == "GIF":  # palette format: use an image with few colours so the palette is exact
        arr = (rng.integers(0, 4, (9, 11, 3)) * 60).astype(np.uint8)
    else:
        arr = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    sig = decode_image(encode(Image.fromarray(arr), fmt, **kwargs))
    assert sig.array.shape == (9, 11, 3)
    np.testing.assert_allclose(sig.array, arr / 255, atol=1e-6)


def test_jpeg_close_to_source():
    arr = np.full((16, 16, 3), (200, 40, 90), dtype=np.uint8)
    sig = decode_image(encode(Image.fromarray(arr), "JPEG", quality=95))
    assert sig.provenance["format"] == "JPEG"
    np.testing.assert_allclose(sig.array, arr / 255, atol=4 / 255)


@pytest.mark.parametrize("sample", ["chelsea", "coffee", "camera", "brick"])
def test_skimage_samples_round_trip_exactly(sample):
    import skimage.data

    arr = getattr(skimage.data, sample)()
    sig = decode_image(encode(Image.fromarray(arr), "PNG"), name=f"{sample}.png")
    assert sig.array.shape == arr.shape
    np.testing.assert_array_equal(sig.array, (arr / 255).astype(np.float32))


def test_real_photos(shared_data):
    photos = sorted(shared_data("hymenoptera", "train", "ants").glob("*.jpg"))[:2]
    assert len(photos) == 2
    for photo in photos:
        sig = decode_image(photo)
        assert sig.array.ndim == 3 and sig.array.shape[2] == 3
        assert 0.0 <= sig.array.min() and sig.array.max() <= 1.0
        assert sig.provenance["format"] in ("JPEG", "MPO")


# ----------------------------------------------------------------------------------------- modes


def test_mode_1_is_zero_or_one():
    im = Image.new("1", (6, 4), 0)
    im.putpixel((2, 1), 1)
    sig = decode_image(encode(im, "PNG"))
    assert sig.array.shape == (4, 6)
    assert set(np.unique(sig.array).tolist()) == {0.0, 1.0}
    assert sig.array[1, 2] == 1.0 and sig.array.sum() == 1.0
    assert sig.provenance["mode"] == "1"


def test_mode_L_is_one_channel_over_255():
    arr = np.array([[0, 51, 255]], dtype=np.uint8)
    sig = decode_image(encode(Image.fromarray(arr), "PNG"))
    assert sig.array.shape == (1, 3)
    np.testing.assert_allclose(sig.array, [[0.0, 0.2, 1.0]], atol=1e-7)


def test_mode_P_gives_rgb_from_palette():
    im = Image.new("P", (3, 2), 0)
    im.putpalette([10, 20, 30, 250, 0, 5] + [0] * 762)
    im.putpixel((1, 1), 1)
    sig = decode_image(encode(im, "PNG"))
    assert sig.array.shape == (2, 3, 3)
    np.testing.assert_allclose(sig.array[0, 0], np.array([10, 20, 30]) / 255, atol=1e-7)
    np.testing.assert_allclose(sig.array[1, 1], np.array([250, 0, 5]) / 255, atol=1e-7)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gray(fmt):
    arr = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    sig = decode_image(encode(Image.fromarray(arr), fmt))
    assert sig.provenance["mode"].startswith("I;16")
    assert sig.array.shape == (2, 2)
    assert sig.array[1, 0] == 1.0 and sig.array[0, 0] == 0.0
    assert sig.array[0, 1] == pytest.approx(0.5, abs=1e-4)
    assert sig.array[1, 1] == pytest.approx(1000 / 65535, rel=1e-6)


def test_16_bit_big_endian_tiff():
    im = Image.frombytes("I;16B", (3, 1), np.array([1, 32768, 65535], dtype=">u2").tobytes())
    sig = decode_image(encode(im, "TIFF"))
    assert sig.provenance["mode"] == "I;16B"
    np.testing.assert_allclose(sig.array, [[1 / 65535, 32768 / 65535, 1.0]], rtol=1e-6)


def test_int32_within_16_bit_range_uses_fixed_scale():
    im = Image.fromarray(np.array([[0, 65535, 13107]], dtype=np.int32))
    sig = decode_image(encode(im, "TIFF"))
    assert sig.provenance["mode"] == "I"
    np.testing.assert_allclose(sig.array, [[0.0, 1.0, 0.2]], atol=1e-6)
    assert sig.provenance["value_range"] == [0, 65535]


def test_int32_outside_16_bit_range_is_min_max_scaled():
    im = Image.fromarray(np.array([[-100, 0, 99_900]], dtype=np.int32))
    sig = decode_image(encode(im, "TIFF"))
    np.testing.assert_allclose(sig.array, [[0.0, 0.001, 1.0]], atol=1e-6)
    assert sig.provenance["value_range"] == [-100, 99_900]
    assert "min" in sig.provenance["value_rule"]


def test_float_tiff_range_scaled_and_recorded():
    arr = np.array([[-3.0, 2.0], [7.0, 0.0]], dtype=np.float32)
    sig = decode_image(encode(Image.fromarray(arr), "TIFF"))
    assert sig.provenance["mode"] == "F"
    np.testing.assert_allclose(sig.array, [[0.0, 0.5], [1.0, 0.3]], atol=1e-6)
    assert sig.provenance["value_range"] == [-3.0, 7.0]


def test_float_tiff_inside_unit_range_is_unchanged():
    arr = np.array([[0.25, 0.5, 0.125]], dtype=np.float32)
    sig = decode_image(encode(Image.fromarray(arr), "TIFF"))
    np.testing.assert_array_equal(sig.array, arr)
    assert "unchanged" in sig.provenance["value_rule"]


def test_float_tiff_non_finite_replaced_then_scaled():
    arr = np.array([[np.nan, -3.0, 7.0, np.inf, -np.inf]], dtype=np.float32)
    sig = decode_image(encode(Image.fromarray(arr), "TIFF"))
    assert np.isfinite(sig.array).all()
    np.testing.assert_allclose(sig.array, [[0.0, 0.0, 1.0, 1.0, 0.0]], atol=1e-7)
    assert sig.provenance["nonfinite_replaced"] == 3
    assert sig.provenance["value_range"] == [-3.0, 7.0]


def test_float_tiff_all_nan_refused():
    arr = np.full((2, 2), np.nan, dtype=np.float32)
    msg = refusal(encode(Image.fromarray(arr), "TIFF"), name="nan.tif")
    assert "nan.tif" in msg and "finite" in msg


def test_cmyk_converted_to_rgb():
    im = Image.new("CMYK", (2, 2), (0, 255, 255, 0))  # pure red in Pillow's naive conversion
    sig = decode_image(encode(im, "TIFF"))
    assert sig.provenance["mode"] == "CMYK" and sig.array.shape == (2, 2, 3)
    np.testing.assert_allclose(sig.array[0, 0], [1.0, 0.0, 0.0])


def test_cmyk_jpeg_decodes_to_rgb():
    im = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    sig = decode_image(encode(im, "JPEG", quality=95))
    assert sig.array.shape == (8, 8, 3)
    np.testing.assert_allclose(sig.array[4, 4], [1.0, 0.0, 0.0], atol=0.03)


def test_ycbcr_converted_to_rgb():
    im = Image.new("RGB", (2, 2), (30, 160, 220)).convert("YCbCr")
    sig = decode_image(encode(im, "TIFF"))
    assert sig.provenance["mode"] == "YCbCr" and sig.array.shape == (2, 2, 3)
    np.testing.assert_allclose(sig.array[0, 0], np.array([30, 160, 220]) / 255, atol=3 / 255)


@pytest.mark.parametrize(
    "mode, shape",
    [("1", (2, 3)), ("L", (2, 3)), ("LA", (2, 3)), ("P", (2, 3, 3)), ("PA", (2, 3, 3)), ("RGB", (2, 3, 3)),
     ("RGBA", (2, 3, 3)), ("CMYK", (2, 3, 3)), ("YCbCr", (2, 3, 3)), ("I;16", (2, 3)), ("I;16B", (2, 3)),
     ("I", (2, 3)), ("F", (2, 3)), ("RGBa", (2, 3, 3)), ("La", (2, 3)), ("HSV", (2, 3, 3)), ("LAB", (2, 3, 3))],
)
def test_every_mode_shape_dtype_and_range(mode, shape):
    im = Image.new(mode, (3, 2))
    arr, prov = pil_to_array(im)
    assert arr.dtype == np.float32 and arr.shape == shape
    assert 0.0 <= arr.min() and arr.max() <= 1.0
    assert prov["value_rule"]
    Signal(arr)  # accepted by the Signal type


def test_pa_and_la_modes_composited():
    la = Image.new("LA", (2, 1), (100, 0))
    la.putpixel((1, 0), (100, 255))
    arr, prov = pil_to_array(la, background=(0.5, 0.5, 0.5))
    assert arr.shape == (1, 2) and prov["alpha_composited"] is True
    np.testing.assert_allclose(arr, [[0.5, 100 / 255]], atol=1e-7)
    arr_colour, _ = pil_to_array(la, background=(1.0, 0.0, 0.0))
    assert arr_colour.shape == (1, 2, 3)
    np.testing.assert_allclose(arr_colour[0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(arr_colour[0, 1], [100 / 255] * 3, atol=1e-7)

    pa = Image.new("PA", (1, 1))
    pa.putpalette([0, 200, 0] + [0] * 765)
    pa.putpixel((0, 0), (0, 0))
    arr, _ = pil_to_array(pa, background=(0.0, 0.0, 1.0))
    np.testing.assert_array_equal(arr[0, 0], [0.0, 0.0, 1.0])


# ----------------------------------------------------------------------------------------- alpha, GIF


def test_rgba_composited_on_given_background_exactly():
    im = Image.new("RGBA", (3, 1), (255, 0, 0, 0))
    im.putpixel((1, 0), (0, 255, 0, 255))
    im.putpixel((2, 0), (0, 0, 255, 51))  # alpha 0.2
    bg = (0.2, 0.4, 0.6)
    sig = decode_image(encode(im, "PNG"), background=bg)
    a = sig.array
    assert a.shape == (1, 3, 3)
    np.testing.assert_array_equal(a[0, 0], np.asarray(bg, dtype=np.float32))
    np.testing.assert_array_equal(a[0, 1], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(a[0, 2], [0.2 * 0.8, 0.4 * 0.8, 0.2 + 0.6 * 0.8], atol=1e-6)
    assert sig.provenance["alpha_composited"] is True
    assert sig.provenance["background"] == list(bg)
    white = decode_image(encode(im, "PNG"))
    np.testing.assert_array_equal(white.array[0, 0], [1.0, 1.0, 1.0])
    assert white.provenance["digest"] != sig.provenance["digest"]  # cache keys differ by background


def test_opaque_rgba_not_composited():
    arr = np.zeros((2, 2, 4), dtype=np.uint8)
    arr[..., 0] = 77
    arr[..., 3] = 255
    sig = decode_image(encode(Image.fromarray(arr), "PNG"), background=(0.0, 0.0, 0.0))
    assert sig.provenance["alpha_composited"] is False
    np.testing.assert_array_equal(sig.array[..., 0], np.full((2, 2), 77 / np.float32(255)))


def test_gif_first_frame_and_palette_transparency():
    red = Image.new("P", (4, 4), 1)
    red.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
    red.putpixel((0, 0), 0)  # colour 0 is declared transparent
    blue = red.copy()
    blue.paste(2, (0, 0, 4, 4))
    data = encode(red, "GIF", save_all=True, append_images=[blue], transparency=0, duration=100, loop=0)
    bg = (0.0, 1.0, 0.0)
    sig = decode_image(data, background=bg)
    assert sig.provenance["format"] == "GIF" and sig.provenance["frames"] == 2
    assert sig.array.shape == (4, 4, 3)
    np.testing.assert_array_equal(sig.array[0, 0], bg)  # transparent palette entry -> background
    np.testing.assert_array_equal(sig.array[2, 2], [1.0, 0.0, 0.0])  # first frame (red), not blue
    assert sig.provenance["alpha_composited"] is True


def test_png_trns_gray_transparency():
    im = Image.new("L", (2, 1), 30)
    im.putpixel((1, 0), 200)
    sig = decode_image(encode(im, "PNG", transparency=30), background=(0.5, 0.5, 0.5))
    np.testing.assert_allclose(sig.array, [[0.5, 200 / 255]], atol=1e-7)


# ----------------------------------------------------------------------------------------- EXIF


def _exif_jpeg(orientation: int) -> bytes:
    arr = np.zeros((32, 64, 3), dtype=np.uint8)  # stored 64 wide x 32 high
    arr[:16, :16] = (255, 255, 255)  # bright marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif)


@pytest.mark.parametrize(
    "orientation, corner",
    [(6, (slice(0, 16), slice(-16, None))),  # rotate 90° clockwise: top-left -> top-right
     (8, (slice(-16, None), slice(0, 16)))],  # rotate 90° counter-clockwise: top-left -> bottom-left
)
def test_exif_orientation_applied(orientation, corner):
    sig = decode_image(_exif_jpeg(orientation))
    a = sig.array
    assert a.shape == (64, 32, 3)
    assert a[corner].mean() > 0.9
    old_corner = a[:16, :16] if orientation == 6 else a[:16, -16:]
    assert old_corner.mean() < 0.1
    assert sig.provenance["exif_rotated"] is True and sig.provenance["exif_orientation"] == orientation
    assert sig.provenance["size"] == [64, 32]  # original stored size


def test_exif_orientation_1_not_rotated():
    sig = decode_image(_exif_jpeg(1))
    assert sig.array.shape == (32, 64, 3) and sig.provenance["exif_rotated"] is False
    assert sig.array[:16, :16].mean() > 0.9


# ----------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
def test_truncated_files_refused(fmt):
    rng = np.random.default_rng(2)
    data = encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)
    msg = refusal(data[: len(data) // 2], name=f"half.{fmt.lower()}")
    assert f"half.{fmt.lower()}" in msg
    if fmt in ("PNG", "JPEG"):
        assert "truncated" in msg


def test_empty_refused(tmp_path):
    assert "empty" in refusal(b"", name="nothing.png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    msg = refusal(empty)
    assert "empty" in msg and "empty.jpg" in msg


def test_random_bytes_and_text_refused():
    msg = refusal(np.random.default_rng(3).bytes(4096), name="noise.bin")
    assert "noise.bin" in msg and "not a recognised image" in msg
    msg = refusal(b"just some notes\nabout ants\n", name="notes.png")
    assert "notes.png" in msg and "text file" in msg


@pytest.mark.parametrize(
    "data",
    [b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
     b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by hand -->\n<svg width="4" height="4"></svg>'],
)
def test_svg_refused_with_specific_message(data):
    msg = refusal(data, name="logo.svg")
    assert "SVG is not a raster image; upload PNG, JPEG, GIF, BMP, TIFF or WebP." in msg


def test_pdf_refused():
    msg = refusal(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", name="paper.pdf")
    assert "PDF" in msg and "paper.pdf" in msg


def _wav_header() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 4) + b"\x00" * 4
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    "data, kind",
    [(_wav_header(), "WAV"), (b"fLaC\x00\x00\x00\x22" + b"\x00" * 40, "FLAC"), (b"OggS\x00\x02" + b"\x00" * 40, "Ogg"),
     (b"ID3\x04\x00\x00" + b"\x00" * 40, "MP3"), (b"\xff\xfb\x90\x64" + b"\x00" * 40, "MP3")],
)
def test_sounds_refused_as_sound(data, kind):
    msg = refusal(data, name="clip")
    assert "sound file" in msg and kind in msg and "audio" in msg


def test_real_wav_refused_as_an_image(shared_data):
    assert "sound file" in refusal(shared_data("fsdd", "3_jackson_0.wav"))


def test_heic_refused():
    data = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + b"\x00" * 32
    msg = refusal(data, name="IMG_0001.HEIC")
    assert "HEIC" in msg and "JPEG" in msg


def test_too_many_bytes_refused(tmp_path):
    data = encode(Image.new("RGB", (64, 64)), "BMP")
    msg = refusal(data, name="big.bmp", max_bytes=1000)
    assert "big.bmp" in msg and "limit" in msg and "MiB" in msg
    path = tmp_path / "big.bmp"
    path.write_bytes(data)
    assert "limit" in refusal(path, max_bytes=1000)
    assert decode_image(path, max_bytes=len(data)).array.shape == (64, 64, 3)


def test_missing_path_and_directory_refused(tmp_path):
    missing = tmp_path / "nope.png"
    msg = refusal(missing)
    assert str(missing) in msg and "does not exist" in msg
    msg = refusal(tmp_path)
    assert str(tmp_path) in msg and "folder" in msg


def test_bad_background_refused():
    data = encode(Image.new("RGB", (2, 2)), "PNG")
    with pytest.raises(UnsupportedInput):
        decode_image(data, background=(2.0, 0.0, 0.0))


def test_zero_size_header_refused():
    with pytest.raises(UnsupportedInput):
        decode_image(png_header_only(0, 10))


# ----------------------------------------------------------------------------------------- bombs


def test_header_only_png_fails_decoding_when_small():
    """Control for the bomb tests: the same crafted file at a small size fails as *corrupt*, so the
    limit message in the tests below can only come from the header-level size check."""
    msg = refusal(png_header_only(8, 8), name="small.png")
    assert "limit" not in msg and "megapixels" not in msg
    assert "small.png" in msg


def test_just_over_our_limit_refused_from_header():
    msg = refusal(png_header_only(6325, 6325), name="big.png")  # 40,005,625 pixels
    assert "big.png" in msg and "6325×6325" in msg
    assert "limit is 40.0" in msg and "megapixels" in msg


def test_custom_pixel_limit():
    data = encode(Image.new("L", (100, 100)), "PNG")
    msg = refusal(data, max_pixels=9_999)
    assert "100×100" in msg and "limit is 0.009999 megapixels" in msg
    assert decode_image(data, max_pixels=10_000).array.shape == (100, 100)


def test_pillow_warning_range_refused_without_warning():
    pillow_limit = Image.MAX_IMAGE_PIXELS
    assert pillow_limit is not None
    side = int((1.2 * pillow_limit) ** 0.5)  # between Pillow's warning and error thresholds
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked DecompressionBombWarning would fail the test
        msg = refusal(png_header_only(side, side), name="warn.png", max_pixels=10**12)
    assert f"{side}×{side}" in msg
    assert f"limit is {pillow_limit / 1e6:.1f} megapixels" in msg
    assert Image.MAX_IMAGE_PIXELS == pillow_limit


def test_pillow_error_range_refused():
    pillow_limit = Image.MAX_IMAGE_PIXELS
    assert pillow_limit is not None and 30000 * 30000 > 2 * pillow_limit
    msg = refusal(png_header_only(30000, 30000), name="bomb.png")
    assert "bomb.png" in msg and "900.0 megapixels" in msg and "limit is 40.0 megapixels" in msg
    msg = refusal(png_header_only(30000, 30000), name="bomb.png", max_pixels=10**12)
    assert f"limit is {pillow_limit / 1e6:.1f} megapixels" in msg
    assert Image.MAX_IMAGE_PIXELS == pillow_limit


def test_real_small_bomb_png_refused():
    """A genuine, valid one-bit PNG over the limit compresses to a few kilobytes."""
    data = encode(Image.new("1", (7000, 7000)), "PNG")  # 49 megapixels, valid data
    assert len(data) < 200_000
    msg = refusal(data, name="bilevel.png")
    assert "7000×7000" in msg and "limit is 40.0" in msg


def test_bomb_in_tiff_header_refused():
    im = Image.new("L", (8, 8))
    data = bytearray(encode(im, "TIFF"))
    # Rewrite ImageWidth (256) and ImageLength (257) in the first IFD to 9000x9000, leaving the 64 data bytes.
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, typ = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):
            if typ == 3:
                struct.pack_into("<H", data, entry + 8, 9000)
            else:
                struct.pack_into("<I", data, entry + 8, 9000)
    msg = refusal(bytes(data), name="bomb.tif")
    assert "9000×9000" in msg and "limit is 40.0" in msg


# ----------------------------------------------------------------------------------------- concurrency


def test_concurrent_decodes_leave_warning_filters_alone():
    from concurrent.futures import ThreadPoolExecutor

    before = list(warnings.filters)
    showwarning = warnings.showwarning
    good = encode(Image.new("RGBA", (8, 8), (10, 20, 30, 128)), "PNG")
    bomb = png_header_only(10000, 10000)

    def work(i: int) -> str:
        if i % 2:
            return refusal(bomb)
        return str(decode_image(good).array.shape)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(16)))
    assert results[0] == "(8, 8, 3)" and "megapixels" in results[1]
    assert warnings.filters == before and warnings.showwarning is showwarning


def test_corrupt_exif_still_decodes():
    bad_exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00garbage"
    data = encode(Image.new("RGB", (8, 4), (9, 9, 9)), "JPEG", exif=bad_exif)
    sig = decode_image(data)
    assert sig.array.shape == (4, 8, 3) and sig.provenance["exif_rotated"] is False
    assert any("EXIF" in w for w in sig.provenance.get("decoder_warnings", []))
