"""Audio: decoding (core.io.audio), spectrograms (core.preprocess.spectrogram), built-in sounds, presets."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import InvalidVariant, UnsupportedInput
from core.io.audio import MAX_SECONDS_LIMIT, MIXDOWN_RULE, decode_audio, looks_like_audio
from core.io.formats import AUDIO_EXTENSIONS
from core.io.synth import SOUND_CLASSES, SoundItem, builtin_sounds, sample_clip, synth_clip, write_wav_folder
from core.preprocess.presets import get_preset
from core.preprocess.spectrogram import MAX_CELLS, compute_spectrogram, spectrogram_shape
from core.preprocess.variant import Spectrogram

FSDD_FILES = ["3_jackson_5.wav", "0_george_0.wav", "7_lucas_12.wav"]

#: The presets' mel: 16 kHz, n_fft 512, hop 128, 64 bands up to 8 kHz.
MEL = Spectrogram(kind="mel", sample_rate=16000, n_fft=512, hop=128, n_mels=64, fmax=8000.0)


@pytest.fixture
def fsdd(shared_data):
    """An FSDD clip's path by name (through the one shared-data fixture)."""
    return lambda name="3_jackson_5.wav": shared_data("fsdd", name)


def _read(path: Path) -> tuple[np.ndarray, int]:
    y, sr = sf.read(str(path), dtype="float32")
    return y, sr


def _sine(freq: float, seconds: float, sr: int, amp: float = 1.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def _wav_bytes(data: np.ndarray, sr: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, data, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _peak_rows(img: np.ndarray) -> np.ndarray:
    """Row of the strongest cell in each frame that has clear energy."""
    loud = img.max(axis=0) > 0.5
    return img.argmax(axis=0)[loud]


# ----------------------------------------------------------------------------------------- spectrogram


@pytest.mark.parametrize("name", FSDD_FILES)
def test_shapes_on_speech(name: str, fsdd) -> None:
    y, sr = _read(fsdd(name))
    assert sr == 8000
    n16 = int(np.ceil(len(y) * 16000 / sr))
    mel = compute_spectrogram(y, sr, MEL)
    assert mel.shape == (64, 1 + n16 // 128)
    stft = compute_spectrogram(y, sr, Spectrogram(kind="stft", n_fft=512, hop=128))
    assert stft.shape == (1 + 512 // 2, 1 + n16 // 128)
    for kind in ("pcen", "mfcc"):
        assert compute_spectrogram(y, sr, _kind(kind)).shape == mel.shape
    for spec in (MEL, Spectrogram(kind="stft", n_fft=256, hop=64, fmin=300.0, fmax=3400.0)):
        img = compute_spectrogram(y, sr, spec)
        assert img.dtype == np.float32 and img.flags.c_contiguous
        assert spectrogram_shape(len(y), sr, spec) == img.shape


def _kind(kind: str, **kw) -> Spectrogram:
    return Spectrogram.from_dict({**MEL.to_dict(), "kind": kind, **kw})


def test_stft_band_limits_keep_only_bins_inside() -> None:
    y = _sine(1000, 0.5, 16000)
    img = compute_spectrogram(y, 16000, Spectrogram(kind="stft", n_fft=512, hop=128, fmin=500.0, fmax=2000.0))
    freqs = np.arange(257) * 16000 / 512
    assert img.shape[0] == int(((freqs >= 500) & (freqs <= 2000)).sum())
    # 1 kHz is bin 32 of the full spectrum, i.e. row (kept bins above it) from the top.
    kept = freqs[(freqs >= 500) & (freqs <= 2000)][::-1]
    assert kept[int(np.median(img.argmax(axis=0)))] == pytest.approx(1000.0)


def test_rising_chirp_moves_up_the_image() -> None:
    """Low frequencies are at the bottom: a rising chirp's peak row index decreases over time."""
    up = [s for s in builtin_sounds(6, seed=3) if s.label == "chirp-up"]
    down = [s for s in builtin_sounds(6, seed=3) if s.label == "chirp-down"]
    for items, sign in ((up, -1), (down, 1)):
        for item in items:
            for spec in (MEL, Spectrogram(kind="stft", n_fft=512, hop=128)):
                rows = _peak_rows(compute_spectrogram(item.waveform, item.sr, spec))
                q = max(len(rows) // 4, 1)
                assert sign * (rows[-q:].mean() - rows[:q].mean()) > 10, (item.name, spec.kind)
    # A low tone sits near the bottom, a high one near the top.
    low = compute_spectrogram(_sine(200, 0.5, 16000), 16000, MEL)
    high = compute_spectrogram(_sine(6000, 0.5, 16000), 16000, MEL)
    assert np.median(low.argmax(axis=0)) > 48 and np.median(high.argmax(axis=0)) < 16


def test_fixed_reference_is_full_scale() -> None:
    spec = _kind("mel", reference="fixed", db_range=(-80.0, 0.0))
    for kind in ("mel", "stft"):
        s = Spectrogram.from_dict({**spec.to_dict(), "kind": kind})
        full = compute_spectrogram(_sine(1000, 1.0, 16000), 16000, s)
        quiet = compute_spectrogram(_sine(1000, 1.0, 16000, amp=0.1), 16000, s)
        assert full.max() == pytest.approx(1.0, abs=0.01), kind  # 0 dB -> top of the range
        assert quiet.max() == pytest.approx(0.75, abs=0.01), kind  # -20 dB of an 80 dB range
    # With reference "max" the level is normalised away.
    a = compute_spectrogram(_sine(1000, 1.0, 16000), 16000, MEL)
    b = compute_spectrogram(_sine(1000, 1.0, 16000, amp=0.1), 16000, MEL)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_top_db_clips_the_floor() -> None:
    y = np.concatenate([np.zeros(8000, np.float32), _sine(1000, 0.5, 16000)]) + np.float32(1e-6)
    for top_db in (40.0, 60.0):
        img = compute_spectrogram(y, 16000, _kind("mel", top_db=top_db))
        floor = 1 - top_db / 80  # the peak is 0 dB; db_range is -80..0
        assert img.min() == pytest.approx(floor, abs=1e-6)
        assert (img >= floor - 1e-6).all()
        assert img.max() == pytest.approx(1.0)


def test_mel_matches_librosa_defaults(fsdd) -> None:
    import librosa

    y, sr = _read(fsdd())
    y16 = librosa.resample(y, orig_sr=sr, target_sr=16000)
    ref = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y16, sr=16000, n_fft=512, hop_length=128, n_mels=64, fmax=8000.0),
        ref=np.max,
        top_db=80.0,
    )
    mine = compute_spectrogram(y, sr, MEL)[::-1] * 80.0 - 80.0
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, atol=0.02)


def test_resampling_before_analysis() -> None:
    """A sound sampled at 8 kHz and at 16 kHz gives the same picture below 4 kHz."""
    lo = compute_spectrogram(_sine(1000, 0.5, 8000, 0.5), 8000, _kind("mel", reference="fixed"))
    hi = compute_spectrogram(_sine(1000, 0.5, 16000, 0.5), 16000, _kind("mel", reference="fixed"))
    assert lo.shape == hi.shape
    mid = slice(2, -2)  # frames away from the edges
    assert np.abs(lo[:, mid] - hi[:, mid]).max() < 0.03


@pytest.mark.parametrize("kind", ["mel", "stft", "pcen", "mfcc"])
def test_minmax_reaches_exactly_zero_and_one(kind: str, fsdd) -> None:
    y, sr = _read(fsdd())
    img = compute_spectrogram(y, sr, _kind(kind, scaling="minmax"))
    assert img.min() == 0.0 and img.max() == 1.0


def test_percentile_clipping(fsdd) -> None:
    y, sr = _read(fsdd("0_george_0.wav"))
    # At the native 8 kHz and with a 160 dB top_db no cells tie at a floor, so the fractions are exact.
    native = Spectrogram(kind="stft", sample_rate=8000, n_fft=256, hop=64, top_db=160.0, percentiles=(5.0, 95.0))
    img = compute_spectrogram(y, sr, Spectrogram.from_dict({**native.to_dict(), "scaling": "percentile"}))
    db = compute_spectrogram(y, sr, Spectrogram.from_dict({**native.to_dict(), "db_range": [-160.0, 0.0]}))
    assert (img == 0).mean() == pytest.approx(0.05, abs=0.02)
    assert (img == 1).mean() == pytest.approx(0.05, abs=0.02)
    inner = (img > 0) & (img < 1)  # inside the clip range the mapping is increasing
    order = np.argsort(db[inner])
    assert (np.diff(img[inner][order]) >= -1e-6).all()


@pytest.mark.parametrize("kind", ["pcen", "mfcc"])
def test_pcen_and_mfcc_are_finite_in_unit_range(kind: str, fsdd) -> None:
    y, sr = _read(fsdd("7_lucas_12.wav"))
    sounds = [(y, sr)] + [(s.waveform, s.sr) for s in builtin_sounds(1, seed=1)]
    for wave, rate in sounds:
        for scaling in ("fixed-db", "minmax", "percentile"):
            img = compute_spectrogram(wave, rate, _kind(kind, scaling=scaling))
            assert img.shape[0] == 64
            assert np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0
            assert img.std() > 0.01  # not a blank picture


def test_mfcc_c0_is_the_bottom_row() -> None:
    """c0 is the mean band level: quiet then loud noise makes the bottom row rise over time, not the top row."""
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    y = np.concatenate([1e-3 * noise, 0.3 * noise])
    img = compute_spectrogram(y, 16000, _kind("mfcc", reference="fixed", top_db=120.0, db_range=(-120.0, 0.0)))
    bottom, top = img[-1], img[0]
    step = bottom[-20:-5].mean() - bottom[5:20].mean()
    assert step == pytest.approx(50 / 120, abs=0.05)  # the noise is 50 dB louder
    assert abs(top[-20:-5].mean() - top[5:20].mean()) < 0.05


def test_silence_is_black_and_deterministic(fsdd) -> None:
    for kind in ("mel", "stft", "pcen", "mfcc"):
        img = compute_spectrogram(np.zeros(8000, np.float32), 16000, _kind(kind))
        assert np.isfinite(img).all()
        if kind in ("mel", "stft"):
            assert img.max() == 0.0, kind
    y, sr = _read(fsdd())
    for kind in ("mel", "pcen"):
        a = compute_spectrogram(y, sr, _kind(kind))
        b = compute_spectrogram(y.copy(), sr, _kind(kind))
        assert np.array_equal(a, b)


def test_spectrogram_refusals() -> None:
    with pytest.raises(UnsupportedInput, match="no samples"):
        compute_spectrogram(np.zeros(0, np.float32), 16000, MEL)
    with pytest.raises(UnsupportedInput, match="mono"):
        compute_spectrogram(np.zeros((100, 2), np.float32), 16000, MEL)
    with pytest.raises(UnsupportedInput, match="non-finite"):
        compute_spectrogram(np.array([0.0, np.nan] * 100, np.float32), 16000, MEL)
    big = Spectrogram(kind="stft", sample_rate=48000, n_fft=8192, hop=16)
    with pytest.raises(InvalidVariant, match="cells") as err:
        compute_spectrogram(np.zeros(48000 * 30, np.float32), 48000, big)
    assert "hop" in str(err.value) and MAX_CELLS == 4096 * 4096
    with pytest.raises(InvalidVariant, match="mel bands"):
        compute_spectrogram(_sine(440, 0.2, 16000), 16000, Spectrogram(n_fft=64, hop=32, n_mels=256))
    with pytest.raises(InvalidVariant, match="fmin"):
        compute_spectrogram(_sine(440, 0.2, 16000), 16000, Spectrogram(fmin=8000.0))


# ----------------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("fmt", "subtype", "tol"),
    [
        ("WAV", "PCM_U8", 1 / 128),
        ("WAV", "PCM_16", 1 / 2**15),
        ("WAV", "PCM_24", 1 / 2**23),
        ("WAV", "PCM_32", 1 / 2**31),
        ("WAV", "FLOAT", 0.0),
        ("WAV", "DOUBLE", 1e-7),
        ("FLAC", "PCM_16", 1 / 2**15),
        ("FLAC", "PCM_24", 1 / 2**23),
    ],
)
def test_decode_lossless_formats(fmt: str, subtype: str, tol: float) -> None:
    wave = synth_clip("harmonic-stack", np.random.default_rng(5), 16000)
    data = _wav_bytes(wave, 16000, subtype, fmt)
    sig = decode_audio(data, name=f"x.{fmt.lower()}")
    got, sr = sig.audio
    assert sr == 16000 and got.dtype == np.float32 and got.shape == wave.shape
    assert np.abs(got - wave).max() <= tol + 1e-9
    p = sig.provenance
    assert (p["format"], p["subtype"], p["channels"], p["truncated"], p["padded"]) == (fmt, subtype, 1, False, False)
    assert p["digest"] == hashlib.sha256(data).hexdigest()[:16]
    assert sig.array.shape[0] == 128 and sig.array.dtype == np.float32  # default display spectrogram


@pytest.mark.parametrize(("fmt", "subtype"), [("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_decode_lossy_formats(fmt: str, subtype: str) -> None:
    wave = _sine(440, 1.0, 16000, 0.5)
    data = _wav_bytes(wave, 16000, subtype, fmt)
    assert looks_like_audio(data[:16])
    got, sr = decode_audio(data).audio
    assert sr == 16000 and abs(len(got) - len(wave)) <= 2048
    spectrum = np.abs(np.fft.rfft(got))
    assert np.fft.rfftfreq(len(got), 1 / sr)[spectrum.argmax()] == pytest.approx(440, abs=2)
    assert 0.4 < np.abs(got).max() < 0.65


def test_decode_real_speech_from_path_and_bytes(fsdd) -> None:
    path = fsdd()
    ref, sr = sf.read(str(path), dtype="float32")
    a = decode_audio(path)
    b = decode_audio(path.read_bytes(), name=path.name)
    assert a.audio[1] == 8000 and np.array_equal(a.audio[0], ref)
    assert np.array_equal(a.audio[0], b.audio[0]) and a.digest == b.digest
    assert a.provenance["source"] == path.name and a.provenance["original_duration_s"] == pytest.approx(len(ref) / sr)
    assert np.array_equal(a.array, compute_spectrogram(ref, sr, Spectrogram()))


def test_stereo_mixdown_is_the_channel_mean() -> None:
    x = _sine(500, 0.5, 16000, 0.8)
    stereo = np.stack([x, -0.5 * x], axis=1)
    sig = decode_audio(_wav_bytes(stereo, 16000, "FLOAT"))
    np.testing.assert_allclose(sig.audio[0], 0.25 * x, atol=1e-7)
    assert sig.provenance["channels"] == 2 and sig.provenance["mixdown"] == MIXDOWN_RULE
    cancel = decode_audio(_wav_bytes(np.stack([x, -x], axis=1), 16000, "FLOAT"))
    assert np.abs(cancel.audio[0]).max() == 0.0


def test_resampling_rate_and_length(fsdd) -> None:
    y, sr = _read(fsdd())
    sig = decode_audio(fsdd(), target_sr=16000)
    wave, rate = sig.audio
    assert rate == 16000 and len(wave) == int(np.ceil(len(y) * 2))
    assert sig.provenance["original_sample_rate"] == 8000 and sig.provenance["resampled"] is True
    tone = decode_audio(_wav_bytes(_sine(1000, 1.0, 8000, 0.5), 8000), target_sr=22050)
    w, r = tone.audio
    assert r == 22050 and len(w) == 22050
    assert np.fft.rfftfreq(len(w), 1 / r)[np.abs(np.fft.rfft(w)).argmax()] == pytest.approx(1000, abs=1)
    assert tone.digest != decode_audio(_wav_bytes(_sine(1000, 1.0, 8000, 0.5), 8000)).digest


def test_long_file_is_truncated_without_reading_it_whole(tmp_path: Path) -> None:
    sr, minutes = 8000, 10
    path = tmp_path / "long.wav"
    chunk = (0.3 * np.sin(2 * np.pi * 300 * np.arange(sr * 60) / sr)).astype(np.float32)
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for _ in range(minutes):
            f.write(chunk)
    whole_decoded = sr * 60 * minutes * 4  # bytes of the full waveform as float32 (19.2 MB)
    tracemalloc.start()
    try:
        sig = decode_audio(path, max_seconds=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    wave, rate = sig.audio
    assert rate == sr and len(wave) == sr
    p = sig.provenance
    assert p["truncated"] is True and p["original_duration_s"] == pytest.approx(600.0)
    assert p["kept_duration_s"] == pytest.approx(1.0)
    assert "600.00 s" in p["notice"] and "first 1.00 s" in p["notice"]
    assert peak < whole_decoded / 5, peak


def test_short_file_is_padded_to_the_minimum() -> None:
    x = _sine(1000, 0.05, 16000, 0.5)
    sig = decode_audio(_wav_bytes(x, 16000, "FLOAT"))
    wave, _ = sig.audio
    assert len(wave) == 1600 and np.array_equal(wave[:800], x) and not wave[800:].any()
    assert sig.provenance["padded"] is True and "padded" in sig.provenance["notice"]
    assert len(decode_audio(_wav_bytes(x, 16000, "FLOAT"), min_seconds=0.0).audio[0]) == 800


def test_refusals_are_clear() -> None:
    with pytest.raises(UnsupportedInput, match="empty"):
        decode_audio(b"", name="e.wav")
    header_only = _wav_bytes(np.zeros((0, 1), np.float32), 8000)
    assert looks_like_audio(header_only)
    with pytest.raises(UnsupportedInput, match="no audio samples"):
        decode_audio(header_only, name="h.wav")
    with pytest.raises(UnsupportedInput, match="not a sound file"):
        decode_audio(np.random.default_rng(0).bytes(5000), name="r.bin")
    nan = _sine(440, 0.2, 16000)
    nan[100] = np.nan
    with pytest.raises(UnsupportedInput, match="non-finite") as err:
        decode_audio(_wav_bytes(nan, 16000, "FLOAT"), name="n.wav")
    assert "'n.wav'" in str(err.value)
    with pytest.raises(UnsupportedInput, match="header is corrupt"):
        decode_audio(header_only[:20], name="t.wav")
    with pytest.raises(UnsupportedInput, match="image"):
        decode_audio(b"\x89PNG\r\n\x1a\n" + bytes(100), name="p.png")
    with pytest.raises(UnsupportedInput, match="does not exist"):
        decode_audio(Path("/nonexistent/x.wav"))
    with pytest.raises(UnsupportedInput, match="maximum duration"):
        decode_audio(header_only, max_seconds=MAX_SECONDS_LIMIT + 1)


def test_looks_like_audio_signatures() -> None:
    wave = _sine(440, 0.1, 16000, 0.5)
    for fmt, subtype in (("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")):
        assert looks_like_audio(_wav_bytes(wave, 16000, subtype, fmt)[:16]), fmt
    assert looks_like_audio(b"ID3\x04\x00" + bytes(11))
    for head in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"hello", b""):
        assert not looks_like_audio(head), head
    assert {".wav", ".flac", ".ogg", ".mp3"} <= set(AUDIO_EXTENSIONS)


# ----------------------------------------------------------------------------------------- built-in sounds


def test_builtin_sounds_are_deterministic() -> None:
    a, b, c = builtin_sounds(3, seed=0), builtin_sounds(3, seed=0), builtin_sounds(3, seed=1)
    assert len(a) == 3 * len(SOUND_CLASSES) >= 18 and len(SOUND_CLASSES) >= 6
    assert all(isinstance(s, SoundItem) for s in a)
    assert [s.name for s in a] == [s.name for s in b]
    assert all(np.array_equal(x.waveform, y.waveform) for x, y in zip(a, b, strict=True))
    assert not any(np.array_equal(x.waveform[:1000], y.waveform[:1000]) for x, y in zip(a, c, strict=True))
    more = builtin_sounds(5, seed=0)  # more clips per class keep the earlier ones
    assert np.array_equal(more[0].waveform, a[0].waveform) and np.array_equal(more[6].waveform, a[4].waveform)
    for s in a:
        assert "_" not in s.label and s.name.split("_")[0] == s.label and s.name.split("_")[1] == s.group
        assert s.waveform.dtype == np.float32 and np.isfinite(s.waveform).all() and np.abs(s.waveform).max() <= 1.0
        assert 0.6 * s.sr <= len(s.waveform) <= 1.0 * s.sr


def test_builtin_classes_differ_where_they_should() -> None:
    items = {s.label: s for s in builtin_sounds(1, seed=2)}
    spec = Spectrogram(kind="stft", n_fft=512, hop=128)
    tone = compute_spectrogram(items["tone"].waveform, 16000, spec)
    noise = compute_spectrogram(items["noise-burst"].waveform, 16000, spec)
    # A pure tone concentrates energy in one row; a noise burst spreads it.
    assert (tone > 0.7).any(axis=1).sum() < 20 < (noise > 0.7).any(axis=1).sum()
    harm = compute_spectrogram(items["harmonic-stack"].waveform, 16000, spec)
    peaks = (harm[:, 20:-20].mean(axis=1) > 0.7).sum()
    assert peaks >= 5  # several harmonics
    with pytest.raises(UnsupportedInput, match="Unknown built-in sound"):
        synth_clip("whistle", np.random.default_rng(0))


def test_sample_clip_matches_the_decoder(tmp_path: Path) -> None:
    sig = sample_clip("chirp-up", seed=0)
    wave, sr = sig.audio
    assert sr == 16000 and np.array_equal(sig.array, compute_spectrogram(wave, sr, Spectrogram()))
    decoded = decode_audio(_wav_bytes(wave, sr, "FLOAT"))
    assert set(decoded.provenance) - {"bytes", "sha256"} <= set(sig.provenance)
    assert np.array_equal(decoded.audio[0], wave) and np.array_equal(decoded.array, sig.array)
    assert sig.provenance["format"] == "synthesized" and len(sig.digest) == 16
    assert sample_clip("chirp-up", seed=0).digest == sig.digest != sample_clip("tone", seed=0).digest


def test_write_wav_folder_round_trips(tmp_path: Path) -> None:
    paths = write_wav_folder(tmp_path / "sounds", n_per_class=2, seed=4)
    items = builtin_sounds(2, seed=4)
    assert [p.name for p in paths] == [f"{s.label}_{s.group}_{s.name.rsplit('_', 1)[1]}.wav" for s in items]
    assert sorted({p.name.split("_", 1)[0] for p in paths}) == sorted(SOUND_CLASSES)
    for p, s in zip(paths, items, strict=True):
        got, sr = decode_audio(p).audio
        assert sr == s.sr and np.abs(got - s.waveform).max() <= 1 / 2**15


# ----------------------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", ["spectrogram", "audio-params"])
def test_audio_presets_load_and_compute(name: str, fsdd) -> None:
    variants = get_preset(name)
    assert variants[0].channels == "replicate"
    assert all(v.spectrogram is not None and v.spectrogram.sample_rate == 16000 for v in variants)
    y, sr = _read(fsdd())
    for v in variants:
        img = compute_spectrogram(y, sr, v.spectrogram)
        assert img.shape[0] == v.spectrogram.n_mels and 0.0 <= img.min() and img.max() <= 1.0
    if name == "spectrogram":
        assert len({v.spectrogram for v in variants}) == 1  # the same mel for every channel strategy
        assert [(v.channels, v.colormap) for v in variants[1:]] == [
            ("conv-sum", None), *(("colormap", c) for c in ("viridis", "magma", "turbo", "jet"))
        ]
    else:
        assert len({(v.spectrogram.n_mels, v.spectrogram.hop) for v in variants}) == 3
        assert all(v.channels == "replicate" for v in variants)
