"""The Audio page's issue-13 pieces: time and frequency axes that land where the sound's energy is, a notice (and a
one-click fix) when the analysis rate differs from the file's, "apply to all variants" for the fit as for the
spectrogram, and the spectrogram-colormaps preset."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from components.charts import spectrogram_axes
from core.io import load_input
from core.preprocess.pipeline import prepare_grid
from core.preprocess.presets import get_preset
from core.preprocess.variant import Resize, Variant
from tests.apptest import key_ending, ok, open_app, session, uploader


def _tone_wav(sr: int, freq: float, start: float, stop: float, seconds: float = 1.0) -> bytes:
    t = np.arange(int(sr * seconds)) / sr
    wave = np.where((t >= start) & (t < stop), 0.5 * np.sin(2 * np.pi * freq * t), 0.0).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def _tick(labels: list[str], ticks: list[float], label: str) -> float:
    return ticks[labels.index(label)]


@pytest.mark.parametrize("fit", ["stretch", "letterbox"])
def test_spectrogram_axes_put_a_2khz_tone_at_0_4_s_where_the_ticks_say(fit: str) -> None:
    signal = load_input(_tone_wav(16000, 2000.0, 0.35, 0.45), name="tone.wav")
    base = get_preset("spectrogram")[0]
    variant = base.replace(resize=Resize(size=224, fit=fit, crop_pct=1.0))
    (prep,) = prepare_grid([signal], [variant], (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))[0]
    image = prep.display[..., 0]
    axes = spectrogram_axes(variant, len(signal.audio[0]), signal.audio[1], image.shape[1])
    row = int(np.argmax(image.sum(axis=1)))  # the tone's band
    col = float(np.average(np.arange(image.shape[1]), weights=image.sum(axis=0) ** 4))  # the burst's middle
    assert abs(row - _tick(axes.y_labels, axes.y_ticks, "2k")) <= 4
    assert abs(col - _tick(axes.x_labels, axes.x_ticks, "0.4")) <= 6
    assert axes.y_title == "frequency (Hz)" and axes.x_labels[0] == "0"


def test_center_crop_axes_show_only_the_kept_band() -> None:
    crop = Variant(name="crop")  # default spectrogram (128 mel bands, ~52 frames): the frequency axis is cropped
    axes = spectrogram_axes(crop, 13166, 16000, 224)
    assert axes.x_labels == ["0", "0.2", "0.4", "0.6", "0.8"]  # the shorter axis (time) is whole
    assert "250" not in axes.y_labels and "6k" not in axes.y_labels  # the band's ends are cut off


def test_spectrogram_colormaps_preset_has_every_colormap_with_the_stretch_fit() -> None:
    maps, cmaps, spec = get_preset("spectrogram-colormaps"), get_preset("colormaps"), get_preset("spectrogram")
    assert [v.colormap for v in maps] == [v.colormap for v in cmaps]
    assert all(v.resize.fit == "stretch" and v.spectrogram == spec[0].spectrogram for v in maps)
    assert maps[0].channels == "replicate"


@pytest.mark.slow
def test_an_8khz_file_gets_a_notice_and_the_one_click_fix_analyses_at_its_rate() -> None:
    at = open_app("pages/audio.py", list(get_preset("spectrogram"))[:2])
    uploader(at, "audio_upload").upload("speech8k.wav", _tone_wav(8000, 1000.0, 0.2, 0.8), "audio/wav")
    at.run()
    ok(at)
    notice = next(w.value for w in at.warning if "sampled at 8000 Hz" in w.value)
    assert "16000 Hz" in notice and "empty band" in notice
    at.button(key="audio_use_file_rate").click().run()
    ok(at)
    assert all(v.spectrogram.sample_rate == 8000 and v.spectrogram.fmax is None for v in session(at).variants)
    assert not any("sampled at 8000 Hz" in w.value for w in at.warning)


@pytest.mark.slow
def test_apply_the_fit_to_all_variants() -> None:
    at = open_app("pages/audio.py", [Variant(name="a"), Variant(name="b", resize=Resize(size=160))],
                  sample="sound:chirp-up")
    ok(at)
    at.selectbox(key=key_ending(at, "selectbox", "audio_fit:" + _digest(at) + ":fit")).select("stretch")
    at.number_input(key=key_ending(at, "number_input", ":size")).set_value(192)
    next(b for b in at.button if b.proto.form_id == "audio_fit").click()
    at.run()
    ok(at)
    assert [(v.resize.fit, v.resize.size) for v in session(at).variants] == [("stretch", 192), ("stretch", 192)]
    assert not any("center-crop" in w.value for w in at.warning)


def _digest(at) -> str:  # noqa: ANN001
    key = next(w.key for w in at.selectbox if w.key and w.key.startswith("audio_fit:"))
    return key.split(":")[1]


def test_audio_page_shows_variants_with_identical_inputs_as_one_column() -> None:
    """As on Compare: two variants that give the network the same spectrogram image are one column "a = b" with the
    reason, one difference image, one table row."""
    from core.io import synth
    from tests.apptest import plain

    first = Variant(name="spec", spectrogram=get_preset("spectrogram")[0].spectrogram, channels="replicate")
    other = first.model_copy(update={"name": "viridis", "channels": "colormap", "colormap": "viridis"})
    twin = first.model_copy(update={"name": "same again"})
    at = open_app("pages/audio.py", [first, other, twin], sample="sound:" + synth.SOUND_CLASSES[0])
    ok(at)
    merged = "spec = same again"
    diffs = [plain(c).split(":")[0] for img in at.image for c in img.captions if "|Δ| mean" in plain(c)]
    assert diffs == ["viridis"], diffs  # one difference image: the twin is not drawn against its own copy
    notes = [plain(i.value) for i in at.info if merged in plain(i.value)]
    assert len(notes) == 1 and "same preprocessing under different names" in notes[0]
    summary = next(d.value for d in at.dataframe if "top-5 overlap" in d.value)
    assert list(summary["variant"]) == [merged, "viridis"]
