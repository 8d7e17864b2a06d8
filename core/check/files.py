"""File and format facts of every item (headers first, then one safe decode), and the findings they give.

Headers are read without decoding pixels or samples (Pillow opens lazily; PNG bit depth comes from its IHDR
chunk; soundfile reads the sound's header). Each item is then decoded once with the project's safe decoder
(``Dataset.load``): a file it refuses is an ``unreadable`` finding, named, and left out of everything else.
The decoded array gives what only pixels can: gray stored as RGB (R = G = B), channel statistics, and image
properties (brightness, contrast entropy, sharpness) computed here on the decoded arrays rather than by
CleanVision, which would open every file again with its own reader and outside the decoder's limits. Sounds
give peak, clipping, level, silence and DC offset of the decoded waveform. A perceptual hash of each item
(pixels, or a coarse log-mel spectrogram) finds re-encoded and resized copies within and across splits.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from core import __version__
from core.check.report import Finding
from core.errors import PrepscopeError
from core.evaluate.datasets import Dataset, Item
from core.evaluate.features import FeatureCache
from core.io.image import PILLOW_FORMATS
from core.provenance import Stopped

#: Image properties are computed on a copy whose longer side is at most this many pixels.
PROPERTY_PX = 256
#: Largest channel difference (in 8-bit steps) for an RGB image to count as gray: JPEG's colour
#: conversion of a gray picture leaves differences of one or two steps.
GRAY_TOLERANCE = 2 / 255
DARK, LIGHT = 0.12, 0.92
LOW_ENTROPY_BITS = 2.5
CLIP_LEVEL, CLIP_SHARE = 0.999, 1e-3
SILENCE_DB = -60.0
#: Perceptual hashes within this many bits (of 63) are the same picture: on hymenoptera a 0.6x, JPEG-60 copy is
#: 0-2 bits from its original, and the closest distinct photos are 14 bits apart.
NEAR_BITS = 6
#: The same for sounds (``sound_hash``, 255 bits), and the rate sounds are hashed at.
SOUND_NEAR_BITS, HASH_RATE = 14, 8000


def _bit_depth(path: Path | None, im) -> int:  # noqa: ANN001 - PIL image
    """Bits per sample from the header: PNG's IHDR byte, else the Pillow mode."""
    if path is not None and im.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        if len(head) >= 26 and head[12:16] == b"IHDR":
            return int(head[24])
    if im.format == "TIFF":
        bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        if bits:
            return int(max(bits) if isinstance(bits, tuple) else bits)
    return {"1": 1, "I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16, "I": 32, "F": 32}.get(im.mode, 8)


def jpeg_quality(quantization: dict) -> int | None:
    """libjpeg's quality setting estimated from the luminance quantization table (header only; None when absent)."""
    table = quantization.get(0) if quantization else None
    if not table:
        return None
    std = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17,
           22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78,
           87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
    scale = 100.0 * sum(table) / sum(std)  # libjpeg: table = std * scale / 100, scale = 5000/q or 200 - 2q
    q = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return int(min(100, max(1, round(q))))


def image_header(path: Path) -> dict:
    """Format, mode, bit depth, alpha, frames, EXIF orientation, size and JPEG quality, from the header only."""
    with Image.open(path, formats=PILLOW_FORMATS) as im:
        out = {"format": str(im.format), "mode": im.mode, "bit_depth": _bit_depth(path, im),
               "alpha": "A" in im.mode or "transparency" in im.info, "width": int(im.width),
               "height": int(im.height), "frames": int(getattr(im, "n_frames", 1) or 1)}
        try:
            out["exif_orientation"] = int(im.getexif().get(0x0112, 1) or 1)
        except Exception:  # noqa: BLE001 - a broken EXIF block is not this check's business
            out["exif_orientation"] = 1
        if im.format in ("JPEG", "MPO"):
            out["jpeg_quality"] = jpeg_quality(getattr(im, "quantization", None) or {})
    return out


def sound_header(path: Path) -> dict:
    """Format, subtype, sample rate, channels and duration from the sound's header."""
    info = sf.info(str(path))
    return {"format": str(info.format), "subtype": str(info.subtype), "sample_rate": int(info.samplerate),
            "channels": int(info.channels), "duration_s": float(info.frames) / max(1, int(info.samplerate))}


def _small(a: np.ndarray) -> np.ndarray:
    step = max(1, math.ceil(max(a.shape[:2]) / PROPERTY_PX))
    return a[::step, ::step]


def image_properties(a: np.ndarray) -> dict:
    """Gray-as-RGB, brightness, entropy, sharpness and channel sums of a decoded float image in [0, 1]."""
    rgb = a.ndim == 3
    gray_rgb = bool(rgb and np.abs(a[..., 0] - a[..., 1]).max() <= GRAY_TOLERANCE
                    and np.abs(a[..., 1] - a[..., 2]).max() <= GRAY_TOLERANCE)
    s = _small(a)
    g = s @ np.array([0.299, 0.587, 0.114], np.float32) if rgb else s
    hist = np.bincount(np.clip((g * 255 + 0.5).astype(np.int64), 0, 255).ravel(), minlength=256)
    p = hist[hist > 0] / hist.sum()
    lap = (g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]) * 255 if min(g.shape) > 2 \
        else np.zeros(1, np.float32)
    c = (s if rgb else np.repeat(s[..., None], 3, axis=2)).reshape(-1, 3).astype(np.float64)
    return {"gray_rgb": gray_rgb, "phash": perceptual_hash(a), "brightness": float(g.mean()),
            "entropy": float(-(p * np.log2(p)).sum()), "sharpness": float(lap.var()),
            "_sum": c.sum(axis=0).tolist(), "_sumsq": (c * c).sum(axis=0).tolist(), "_n": int(c.shape[0])}


def perceptual_hash(a: np.ndarray) -> str:
    """A 63-bit DCT hash of the image's gray levels (32 x 32 box average, signs of the 8 x 8 lowest frequencies
    against their median, DC left out) as hex: a re-encoded or resized copy stays within a few bits."""
    from scipy.fft import dctn

    g = a @ np.array([0.299, 0.587, 0.114], np.float32) if a.ndim == 3 else a
    small = Image.fromarray((np.clip(g, 0, 1) * 255 + 0.5).astype(np.uint8)).resize((32, 32), Image.Resampling.BOX)
    d = dctn(np.asarray(small, np.float64), norm="ortho")[:8, :8].ravel()[1:]
    return np.packbits(d > np.median(d)).tobytes().hex()


def sound_hash(wave: np.ndarray, sr: int) -> str:
    """A 255-bit DCT hash of the sound's log-mel spectrogram (8 kHz, 64 bands up to 4 kHz, 40 dB range, 64 x 64 box
    average, signs of the 16 x 16 lowest frequencies against their median) as hex. On FSDD a copy resampled to
    16 kHz, at 80% gain with faint noise, is 0-10 bits from its original; distinct clips are at least 20 apart."""
    import librosa
    from scipy.fft import dctn

    w = np.asarray(wave, dtype=np.float32)
    if sr != HASH_RATE:
        w = librosa.resample(w, orig_sr=sr, target_sr=HASH_RATE, res_type="soxr_hq")
    mel = librosa.feature.melspectrogram(y=w, sr=HASH_RATE, n_fft=256, hop_length=64, n_mels=64, fmax=HASH_RATE / 2)
    db = librosa.power_to_db(mel, ref=np.max, top_db=40.0)
    img = ((db - db.min()) / max(1e-9, float(db.max() - db.min())) * 255).astype(np.uint8)
    small = Image.fromarray(img).resize((64, 64), Image.Resampling.BOX)
    d = dctn(np.asarray(small, np.float64), norm="ortho")[:16, :16].ravel()[1:]
    return np.packbits(d > np.median(d)).tobytes().hex()


def hash_pairs(a: list[str], b: list[str] | None = None, bits: int | None = None) -> list[tuple[int, int, int]]:
    """(i, j, distance) for hashes of ``a`` within ``bits`` of a hash of ``b`` (of ``a`` itself, j < i, when None)."""
    bits = NEAR_BITS if bits is None else bits
    if not a or (b is not None and not b):
        return []
    ha = np.unpackbits(np.array([np.frombuffer(bytes.fromhex(h), np.uint8) for h in a]), axis=1).astype(np.int16)
    hb = ha if b is None else np.unpackbits(np.array([np.frombuffer(bytes.fromhex(h), np.uint8) for h in b]),
                                            axis=1).astype(np.int16)
    out = []
    for s in range(0, len(ha), 256):
        x = ha[s:s + 256]
        d = x @ (1 - hb).T + (1 - x) @ hb.T  # Hamming distances of the block against all of b
        for i, j in zip(*np.nonzero(d <= bits), strict=True):
            i = int(i) + s
            if b is None and j >= i:
                continue
            out.append((i, int(j), int(d[i - s, j])))
    return out


def sound_properties(wave: np.ndarray) -> dict:
    """Peak, clipped share, RMS level (dBFS) and DC offset of a decoded mono waveform."""
    w = np.asarray(wave, dtype=np.float64)
    peak = float(np.abs(w).max()) if w.size else 0.0
    rms = float(np.sqrt(np.mean(w * w))) if w.size else 0.0
    return {"peak": peak, "clipped": float(np.mean(np.abs(w) >= CLIP_LEVEL)) if w.size else 0.0,
            "rms_db": 20 * math.log10(max(rms, 1e-10)), "dc": float(w.mean()) if w.size else 0.0}


def item_facts(ds: Dataset, item: Item, index: int, split: str) -> dict:
    """Everything the file pass knows of one item; ``readable`` False with ``error`` when the decoder refused it."""
    ref = None if isinstance(item.ref, int) else Path(str(item.ref))
    facts: dict = {"split": split, "index": index, "path": ds.item_path(item), "name": ds.item_name(item),
                   "label": ds.classes[item.label], "sha256": item.sha256}
    if ref is not None:
        facts["bytes"] = ref.stat().st_size
        try:
            facts.update(sound_header(ref) if ds.kind == "audio" else image_header(ref))
        except Exception as e:  # noqa: BLE001 - the safe decode below names the problem for the user
            facts["header_error"] = str(e) or type(e).__name__
    try:
        signal = ds.load(item)
    except PrepscopeError as e:
        facts.update(readable=False, error=str(e))
        return facts
    facts["readable"] = True
    if signal.audio is not None:
        wave, sr = signal.audio
        facts.setdefault("sample_rate", int(signal.provenance.get("original_sample_rate", sr)))
        facts.setdefault("channels", int(signal.provenance.get("channels", 1)))
        facts.setdefault("duration_s", float(signal.provenance.get("original_duration_s", len(wave) / sr)))
        facts.update(sound_properties(wave))
        facts["phash"] = sound_hash(wave, sr)
    else:
        a = signal.array
        facts.setdefault("width", int(a.shape[1]))
        facts.setdefault("height", int(a.shape[0]))
        facts["decoded_shape"] = list(a.shape)
        facts.update(image_properties(a))
    return facts


def scan(train: Dataset, test: Dataset | None, progress: Callable[[int, int], None] | None = None,
         should_stop: Callable[[], bool] | None = None) -> list[dict]:
    """The facts of every item of ``train`` then ``test`` (see ``item_facts``)."""
    jobs = [(train, it, i, "train") for i, it in enumerate(train.items)]
    if test is not None:
        jobs += [(test, it, i, "test") for i, it in enumerate(test.items)]
    out = []
    for n, (ds, it, i, split) in enumerate(jobs):
        if should_stop is not None and should_stop():
            raise Stopped(f"Stopped after reading {n} of {len(jobs)} files; nothing was recorded.")
        out.append(item_facts(ds, it, i, split))
        if progress is not None:
            progress(n + 1, len(jobs))
    return out


def cached_scan(train: Dataset, test: Dataset | None, cache_dir=None,  # noqa: ANN001 - str | Path | None
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> tuple[list[dict], bool]:
    """``scan``, kept beside the feature cache as JSON keyed by the datasets' content digests (file bytes, labels,
    order) and the prepscope version: a repeated check decodes nothing. Returns (facts, read from the cache)."""
    root = FeatureCache(cache_dir).root
    key = hashlib.sha256(f"check-files|{train.digest}|{None if test is None else test.digest}|{__version__}".encode())
    path = root / f"{key.hexdigest()[:32]}.checkfiles.json"
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(facts, list) and len(facts) == len(train) + (0 if test is None else len(test)):
            return facts, True
    except (OSError, ValueError):
        pass
    facts = scan(train, test, progress, should_stop)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(facts), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs the next check this pass again
    return facts, False


# ------------------------------------------------------------------------------------------------ findings


def ref(f: dict, **values) -> dict:  # noqa: ANN003 - the values that made the item a finding
    """An item as a finding lists it: split, path, name, class, then its values."""
    return {"split": f["split"], "path": f["path"], "name": f["name"], "label": f["label"], **values}


def _share(n: int, total: int) -> str:
    return f"{n} of {total} ({100 * n / max(1, total):.0f}%)"


def _mix(facts: list[dict], key: str, kind: str, what: str) -> Finding | None:
    values = Counter(str(f[key]) for f in facts if key in f)
    if len(values) < 2:
        return None
    common = values.most_common(1)[0][0]
    odd = [ref(f, **{key: f[key]}) for f in facts if key in f and str(f[key]) != common]
    text = ", ".join(f"{v} {n}" for v, n in values.most_common())
    return Finding(kind, "low", len(odd), f"{what}: {text}.", odd, {"values": dict(values)})


def file_findings(facts: list[dict], kind: str) -> list[Finding]:
    """Unreadable files, exact duplicates (within a split) and leaks (across splits), and the format findings."""
    out: list[Finding] = []
    bad = [f for f in facts if not f["readable"]]
    if bad:
        out.append(Finding("unreadable", "high", len(bad), f"{len(bad)} file(s) the safe decoder refuses, e.g. "
                           f"{bad[0]['name']}.", [ref(f, error=f["error"]) for f in bad]))
    out += exact_duplicates(facts)
    out += near_copies(facts, kind)
    ok = [f for f in facts if f["readable"]]
    n = len(ok)
    if not ok:
        return out
    if kind == "audio":
        out += [m for m in (_mix(ok, "sample_rate", "sample_rate", "sample rates (Hz)"),
                            _mix(ok, "channels", "channels", "channel counts"),
                            _mix(ok, "format", "format_mix", "formats")) if m]
        out += sound_findings(ok)
        return out
    out += [m for m in (_mix(ok, "format", "format_mix", "formats"), _mix(ok, "mode", "mode_mix", "modes")) if m]
    for key, kind_, sev, what, test in (
        ("gray_rgb", "gray_rgb", "low", "stored as RGB with R = G = B", lambda f: f.get("gray_rgb")),
        ("bit_depth", "bit_depth", "low", "with more than 8 bits per sample", lambda f: f.get("bit_depth", 8) > 8),
        ("alpha", "alpha", "low", "with an alpha channel or a transparent colour", lambda f: f.get("alpha")),
        ("exif_orientation", "exif_rotation", "low", "turned upright by their EXIF orientation",
         lambda f: f.get("exif_orientation", 1) in range(2, 9)),
        ("frames", "animation", "low", "with several frames", lambda f: f.get("frames", 1) > 1),
    ):
        hit = [f for f in ok if test(f)]
        if hit:
            out.append(Finding(kind_, sev, len(hit), f"{_share(len(hit), n)} images {what}.",
                               [ref(f, **{key: f.get(key)}) for f in hit]))
    out += property_findings(ok)
    return out


def exact_duplicates(facts: list[dict]) -> list[Finding]:
    """Byte-identical files: within one split (``duplicate``) and across train/test (``leakage``)."""
    by_hash: dict[str, list[dict]] = {}
    for f in facts:
        if f.get("sha256"):
            by_hash.setdefault(f["sha256"], []).append(f)
    dup, leak = [], []
    for group in by_hash.values():
        if len(group) < 2:
            continue
        splits = {f["split"] for f in group}
        for s in splits:
            same = [f for f in group if f["split"] == s]
            if len(same) > 1:
                labels = {f["label"] for f in same}
                dup += [ref(f, copy_of=same[0]["path"], how="identical bytes", labels=len(labels)) for f in same[1:]]
        if len(splits) > 1:
            first_train = next(f for f in group if f["split"] == "train")
            leak += [ref(f, copy_of=first_train["path"], how="identical bytes") for f in group if f["split"] == "test"]
    out = []
    if dup:
        out.append(Finding("duplicate", "medium", len(dup), f"{len(dup)} file(s) are byte-identical copies of "
                           "another item of the same split.", dup, {"how": "exact"}))
    if leak:
        out.append(Finding("leakage", "high", len(leak), f"{len(leak)} test file(s) are byte-identical to "
                           "training files.", leak, {"how": "exact"}))
    return out


def near_copies(facts: list[dict], kind: str = "image") -> list[Finding]:
    """Re-encoded, resized or resampled copies by perceptual hash (``perceptual_hash``, ``sound_hash``): within a
    split (``duplicate``) and test items near a training item (``leakage``); byte-identical pairs are
    ``exact_duplicates``' and left out here."""
    bits = SOUND_NEAR_BITS if kind == "audio" else NEAR_BITS
    what = "sounds" if kind == "audio" else "images"
    hashed = [f for f in facts if f.get("phash")]
    out = []
    dup = []
    for split in ("train", "test"):
        fs = [f for f in hashed if f["split"] == split]
        seen: set[int] = set()
        for i, j, d in sorted(hash_pairs([f["phash"] for f in fs], bits=bits), key=lambda t: (t[0], t[2])):
            if i in seen or fs[i].get("sha256") == fs[j].get("sha256"):
                continue
            seen.add(i)
            dup.append(ref(fs[i], copy_of=fs[j]["path"], how="near (perceptual hash)", hash_bits=d))
    if dup:
        out.append(Finding("duplicate", "medium", len(dup), f"{len(dup)} {what} are near copies (re-encoded, "
                           f"resized) of another item of the same split (perceptual hash within {bits} bits).", dup,
                           {"how": "near"}))
    tr = [f for f in hashed if f["split"] == "train"]
    te = [f for f in hashed if f["split"] == "test"]
    best: dict[int, tuple[int, int]] = {}
    for i, j, d in hash_pairs([f["phash"] for f in te], [f["phash"] for f in tr], bits=bits):
        if te[i].get("sha256") != tr[j].get("sha256") and (i not in best or d < best[i][1]):
            best[i] = (j, d)
    leak = [ref(te[i], copy_of=tr[j]["path"], how="near (perceptual hash)", hash_bits=d)
            for i, (j, d) in sorted(best.items())]
    if leak:
        out.append(Finding("leakage", "high", len(leak), f"{len(leak)} test {what} are near copies (re-encoded, "
                           f"resized) of training items (perceptual hash within {bits} bits).", leak,
                           {"how": "near"}))
    return out


def property_findings(ok: list[dict]) -> list[Finding]:
    """Dark, light, low-information, blurry and odd-size images (properties of the decoded arrays)."""
    out = []
    n = len(ok)
    sharp = np.array([f["sharpness"] for f in ok])
    blur_limit = max(5.0, 0.05 * float(np.median(sharp)))
    for kind, what, test, key in (
        ("dark", f"with mean brightness below {DARK}", lambda f: f["brightness"] < DARK, "brightness"),
        ("light", f"with mean brightness above {LIGHT}", lambda f: f["brightness"] > LIGHT, "brightness"),
        ("low_information", f"with a gray-level entropy below {LOW_ENTROPY_BITS} bits",
         lambda f: f["entropy"] < LOW_ENTROPY_BITS, "entropy"),
        ("blurry", f"with a Laplacian variance below {blur_limit:.1f} (5% of the set's median, at most "
                   f"{PROPERTY_PX} px)", lambda f: f["sharpness"] < blur_limit, "sharpness"),
    ):
        hit = [f for f in ok if test(f)]
        if hit:
            out.append(Finding(kind, "low", len(hit), f"{_share(len(hit), n)} images {what}.",
                               [ref(f, **{key: round(f[key], 3)}) for f in hit]))
    area = np.array([f["width"] * f["height"] for f in ok], dtype=np.float64)
    aspect = np.array([f["width"] / f["height"] for f in ok])
    med = float(np.median(area))
    odd = [ref(f, width=f["width"], height=f["height"], aspect=round(f["width"] / f["height"], 2))
           for f, a, r in zip(ok, area, aspect, strict=True) if a < med / 4 or a > med * 4 or r > 2.5 or r < 0.4]
    if odd:
        out.append(Finding("odd_size", "low", len(odd), f"{_share(len(odd), n)} images are under a quarter or over "
                           "four times the median area, or have an aspect ratio beyond 2.5:1.", odd,
                           {"median_area": med}))
    return out


def sound_findings(ok: list[dict]) -> list[Finding]:
    """Clipping, silence, DC offset and unusual durations of the decoded sounds."""
    out = []
    n = len(ok)
    for kind, sev, what, test, keys in (
        ("clipping", "medium", f"with at least {100 * CLIP_SHARE:g}% of samples at full scale",
         lambda f: f["clipped"] >= CLIP_SHARE, ("clipped", "peak")),
        ("silence", "medium", f"with a level below {SILENCE_DB:g} dBFS", lambda f: f["rms_db"] < SILENCE_DB,
         ("rms_db",)),
        ("dc_offset", "low", "with a DC offset above 0.01 and a tenth of their RMS level",
         lambda f: abs(f["dc"]) > 0.01 and abs(f["dc"]) > 0.1 * 10 ** (f["rms_db"] / 20), ("dc",)),
    ):
        hit = [f for f in ok if test(f)]
        if hit:
            out.append(Finding(kind, sev, len(hit), f"{_share(len(hit), n)} sounds {what}.",
                               [ref(f, **{k: round(float(f[k]), 4) for k in keys}) for f in hit]))
    dur = np.array([f["duration_s"] for f in ok])
    med = float(np.median(dur))
    odd = [ref(f, duration_s=round(f["duration_s"], 3)) for f in ok
           if f["duration_s"] > 3 * med or f["duration_s"] < med / 3]
    if odd:
        out.append(Finding("duration", "low", len(odd), f"{_share(len(odd), n)} sounds last under a third or over "
                           f"three times the median {med:.2f} s.", odd,
                           {"median_s": med, "min_s": float(dur.min()), "max_s": float(dur.max())}))
    return out


def channel_stats(ok: list[dict]) -> tuple[list[float], list[float]] | None:
    """The set's per-channel mean and standard deviation (gray counted as three equal channels)."""
    fs = [f for f in ok if "_sum" in f]
    if not fs:
        return None
    n = sum(f["_n"] for f in fs)
    s = np.sum([f["_sum"] for f in fs], axis=0) / n
    sq = np.sum([f["_sumsq"] for f in fs], axis=0) / n
    return s.tolist(), np.sqrt(np.maximum(sq - s * s, 0)).tolist()


def public(f: dict) -> dict:
    """An item's facts without the private accumulators."""
    return {k: v for k, v in f.items() if not k.startswith("_")}


__all__ = ["channel_stats", "file_findings", "image_header", "item_facts", "jpeg_quality", "public", "scan",
           "sound_header"]
