"""Result pages (Compare, Feature maps, Statistics, Audio) and the components behind them.

Pure helpers are tested on a hand-made InspectResult (fast); the pages run through Streamlit's
AppTest with the real engine on a small variant set seeded through the shared state's URL encoding.
"""

from __future__ import annotations

import csv
import io
import json
import struct

import numpy as np
import pytest

from components import charts, exports, layer_tables, results
from core.inspect.engine import STATS, InspectResult, LayerResult, Prediction, VariantResult
from core.preprocess.variant import Resize, Spectrogram, Variant
from tests.apptest import key_ending, ok, open_app, plain, session, uploader

LAYERS = ["stem", "stage1", "head"]


# ----------------------------------------------------------------------------- a hand-made result


def _layer(name: str, fmap: np.ndarray, similarity: float = 1.0, cka: float | None = 1.0,
           bn_shift: float | None = 0.5) -> LayerResult:
    stats = {k: float(i) + 0.25 for i, k in enumerate(STATS)}
    return LayerResult(name=name, **stats, similarity=similarity, cka=cka, bn_shift=bn_shift,
                       fmap=fmap.astype(np.float16))


def _variant(name: str, display: np.ndarray, top: list[tuple[str, int, float]], fmaps: list[np.ndarray],
             sim: float = 1.0) -> VariantResult:
    layers = [_layer(n, f, similarity=sim, cka=None if i == 0 and sim < 1 else sim) for i, (n, f) in
              enumerate(zip(LAYERS, fmaps, strict=True))]
    return VariantResult(variant=Variant(name=name), display=display.astype(np.float32),
                         top5=[Prediction(lbl, idx, p) for lbl, idx, p in top], layers=layers, pooled=np.zeros(4))


def make_result(n_variants: int = 3, odd_size_last: bool = False) -> InspectResult:
    rng = np.random.default_rng(0)
    tops = [("tabby", 281, 0.5), ("Egyptian cat", 285, 0.3), ("tiger cat", 282, 0.1), ("lynx", 287, 0.05),
            ("remote control", 761, 0.01)]
    variants = []
    for i in range(n_variants):
        size = 24 if (odd_size_last and i == n_variants - 1 and i > 0) else 32
        display = np.full((size, size, 3), 0.2 * i, dtype=np.float32)
        fmaps = [rng.random((6, 8, 8)) + i, rng.random((4, 4, 4)), rng.random((10, 2, 2))]
        top = tops if i % 2 == 0 else [tops[1], tops[0], tops[3], ("jay", 17, 0.02), ("kite", 21, 0.01)]
        variants.append(_variant(f"v{i}", display, top, fmaps, sim=1.0 if i == 0 else 0.9 - 0.1 * i))
    return InspectResult(model="efficientnet_lite0", model_description="test model", provenance={"digest": "abc123"},
                         layer_names=list(LAYERS), variants=variants, seconds=0.1)


# ----------------------------------------------------------------------------- pure helpers


def test_rank_channels_orders_by_reference_mean_activation() -> None:
    fmap = np.zeros((5, 3, 3), dtype=np.float32)
    for c, m in enumerate([0.1, 3.0, -1.0, 2.0, 3.0]):
        fmap[c] = m
    assert results.rank_channels(fmap, 3).tolist() == [1, 4, 3]  # tie 1/4 broken by the lower index
    assert results.rank_channels(fmap, 99).tolist() == [1, 4, 3, 0, 2]
    assert results.rank_channels(fmap, 0).tolist() == [1]
    with pytest.raises(ValueError):
        results.rank_channels(fmap[0], 2)


def test_feature_map_figure_lines_up_reference_channels_across_variants() -> None:
    result = make_result(3)
    ref = result.variants[0].layers[0].fmap.astype(np.float32)
    channels = results.rank_channels(ref, 2)
    fig = charts.feature_map_figure(result, 0, channels)
    assert len(fig.data) == (2 + 1) * 3  # (k channels + mean row) x variants
    for row, ch in enumerate(channels):
        zs = [np.asarray(t.z) for t in fig.data[row * 3:(row + 1) * 3]]
        for vi, z in enumerate(zs):
            expected = result.variants[vi].layers[0].fmap.astype(np.float32)[ch][::-1]
            np.testing.assert_allclose(z, expected, rtol=1e-6)
        # one color scale per channel row, shared by the variants of that row
        assert len({(t.zmin, t.zmax) for t in fig.data[row * 3:(row + 1) * 3]}) == 1
        assert fig.data[row * 3].zmin == pytest.approx(min(z.min() for z in zs))
    mean_row = fig.data[-3:]
    np.testing.assert_allclose(np.asarray(mean_row[1].z),
                               result.variants[1].layers[0].fmap.astype(np.float32).mean(0)[::-1], rtol=1e-5)

    diff = charts.feature_map_figure(result, 0, channels, diff=True)
    assert len(diff.data) == (2 + 1) * 2  # reference column left out
    z = np.asarray(diff.data[0].z)
    v1 = result.variants[1].layers[0].fmap.astype(np.float32)[channels[0]]
    np.testing.assert_allclose(z, (v1 - ref[channels[0]])[::-1], rtol=1e-5, atol=1e-6)
    assert diff.data[0].zmin == -diff.data[0].zmax


def test_difference_map_mean_over_channels_and_size_check() -> None:
    a = np.zeros((4, 4, 3), dtype=np.float32)
    b = a.copy()
    b[0, 0] = [0.3, 0.6, 0.9]
    d = results.difference_map(b, a)
    assert d.shape == (4, 4)
    assert d[0, 0] == pytest.approx(0.6)
    assert d[1:, 1:].max() == 0
    assert results.difference_map(np.zeros((5, 4, 3), np.float32), a) is None
    gray = results.difference_map(np.ones((4, 4), np.float32), a)
    assert gray.shape == (4, 4) and gray.min() == pytest.approx(1.0)

    maps, vmax = results.difference_maps(make_result(3, odd_size_last=True))
    assert maps[0] is None and maps[2] is None  # reference, and a variant of another size
    assert vmax == pytest.approx(0.2)
    assert results.colorize_difference(maps[1], vmax).shape == (32, 32, 3)


def test_agreement_and_top1_text() -> None:
    result = make_result(2)
    ref, other = result.variants
    assert results.agreement(ref, ref) == results.Agreement(True, 5)
    a = results.agreement(other, ref)
    assert not a.same_top1 and a.top5_overlap == 3
    assert "top-5 overlap 3/5" in a.sentence()
    assert results.top1_text(ref) == "top-1: tabby (50.0%)"


def test_top5_overlap_counts_out_of_the_classes_the_network_has() -> None:
    """A two-class network ranks two classes: the overlap is out of min(5, classes), "2/2", never "2/5"."""
    from dataclasses import replace

    result = make_result(2)
    ref, other = (replace(v, top5=v.top5[:2]) for v in result.variants)
    other = replace(other, top5=[ref.top5[1], ref.top5[0]])
    a = results.agreement(other, ref)
    assert (a.top5_overlap, a.k) == (2, 2)
    assert "overlap 2/2" in a.sentence() and "/5" not in a.sentence()
    assert results.agreement(result.variants[0], result.variants[0]).k == 5


def test_layer_table_and_csv_have_one_row_per_variant_and_layer() -> None:
    result = make_result(3, odd_size_last=True)
    table = layer_tables.layer_table(result)
    assert len(table) == 3 * len(LAYERS)
    assert list(table.columns) == [*layer_tables.TABLE_KEYS, *STATS, "similarity", "cka", "bn_shift"]
    rows = list(csv.DictReader(io.StringIO(exports.table_csv(table).decode("utf-8"))))
    assert len(rows) == 9
    assert {(r["variant"], r["layer"]) for r in rows} == {(f"v{i}", n) for i in range(3) for n in LAYERS}
    v2_stem = next(r for r in rows if r["variant"] == "v2" and r["layer"] == "stem")
    assert float(v2_stem["similarity"]) == pytest.approx(0.7)
    assert v2_stem["cka"] == ""  # None from the engine: empty cell, not a made-up number
    assert float(v2_stem["l2_norm"]) == pytest.approx(7.25)
    matrix = layer_tables.measure_matrix(result, "similarity")
    assert matrix.shape == (3, 3) and list(matrix.index) == ["v0", "v1", "v2"]
    summary = results.summary_table(result)
    assert summary["same top-1"].tolist() == [True, False, True]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_comparison_png_is_the_grid_under_a_header_with_provenance_chunks() -> None:
    for n in (1, 5):
        result = make_result(n)
        prov = exports.Provenance("Compare", "sample: test", result, "http://h/compare?sample=test&preset=channels")
        data = exports.comparison_png(result, prov)
        width, height = _png_size(data)
        grid_w, grid_h = exports.png_size(n)
        assert (width, height) == (grid_w, grid_h + exports.header_px(prov, grid_w))
        meta = exports.png_metadata(data)
        record = meta["record"]
        assert meta["Source"] == prov.link and record["link"] == prov.link and record["figure"] == "Compare"
        assert record["model"] == "efficientnet_lite0" and record["input"] == "sample: test"
        assert record["input_digest"] == "abc123" and record["versions"]["torch"]
        assert [Variant.from_dict(v) for v in record["variants"]] == [v.variant for v in result.variants]
        assert "v0" in meta["Description"] and "sample: test" in meta["Title"]
    assert exports.png_size(5) == (4 * exports.PNG_CELL_PX, 2 * (exports.PNG_CELL_PX + exports.PNG_TITLE_PX))


def test_header_names_title_input_model_and_every_variant() -> None:
    result = make_result(3)
    lines = exports.Provenance("Feature maps of layer stem", "upload: a $b$.png", result, settings={"layer": "stem"}
                               ).lines(800)
    text = " ".join(lines)
    assert lines[0] == "prepscope · Feature maps of layer stem"
    assert "upload: a $b$.png" in text and "abc123" in text and "model efficientnet_lite0" in text
    assert "1. v0 (reference) · 2. v1 · 3. v2" in text and "layer stem" in text
    assert exports.mpl_text("a $b$") == r"a \$b\$"  # drawn literally, not as a formula


def test_feature_maps_png_is_the_feature_map_grid() -> None:
    result = make_result(3)
    channels = results.rank_channels(result.variants[0].layers[0].fmap, 4)
    prov = exports.Provenance("Feature maps of layer stem", "sample: test", result, "http://h/feature_maps",
                              {"layer": "stem"})
    plain = exports.feature_maps_png(result, 0, channels, False, prov)
    diff = exports.feature_maps_png(result, 0, channels, True, prov)
    (w_plain, h_plain), (w_diff, h_diff) = _png_size(plain), _png_size(diff)
    assert h_plain == h_diff and h_plain - exports.header_px(prov, w_plain) > 5 * 100  # 4 channels + the mean
    assert w_plain - w_diff == 120  # one column per variant; the difference view drops the reference's column
    assert exports.png_metadata(plain)["record"]["settings"] == {"layer": "stem"}


def test_statistics_png_carries_its_provenance() -> None:
    result = make_result(2)
    prov = exports.Provenance("Activation statistics per layer", "sample: test", result, "http://h/activations")
    data = exports.statistics_png(layer_tables.layer_table(result), list(result.layer_names), prov)
    width, height = _png_size(data)
    assert width == 3 * 380 and height > 4 * 210
    assert exports.png_metadata(data)["record"]["figure"] == "Activation statistics per layer"


def test_result_json_round_trips_variant_specs() -> None:
    result = make_result(2)
    data = json.loads(exports.result_json(result, "sample: test"))
    assert data["input_label"] == "sample: test" and data["model"] == "efficientnet_lite0"
    assert "versions" in data and data["versions"]["torch"]
    assert [Variant.from_dict(v["spec"]) for v in data["variants"]] == [v.variant for v in result.variants]
    assert "fmap" not in json.dumps(data)


def test_statistics_and_measure_figures_cover_every_number() -> None:
    result = make_result(3)
    fig = charts.statistics_figure(layer_tables.layer_table(result), list(result.layer_names))
    measures = len(STATS) + len(layer_tables.COMPARISON_MEASURES)
    assert len(fig.data) == measures * 3
    assert {a.text for a in fig.layout.annotations} == {*STATS, "similarity", "cka", "bn_shift (log scale)"}
    heat = charts.measures_heatmap(result)
    assert len(heat.data) == 3 and np.asarray(heat.data[0].z).shape == (3, len(LAYERS))


def test_waveform_decimation_keeps_peaks_and_bounds_points() -> None:
    sr = 8000
    wave = np.zeros(sr * 10, dtype=np.float32)
    wave[12345], wave[54321] = 0.9, -0.8
    t, y = charts.decimate_envelope(wave, sr, max_points=1000)
    assert len(t) == len(y) <= 1000
    assert y.max() == pytest.approx(0.9) and y.min() == pytest.approx(-0.8)
    assert t[0] >= 0 and t[-1] <= 10
    short_t, short_y = charts.decimate_envelope(wave[:100], sr)
    assert len(short_y) == 100 and short_t[1] == pytest.approx(1 / sr)


def test_spectrogram_is_set_on_every_variant() -> None:
    variants = [Variant(name="a"), Variant(name="b", resize=Resize(size=128))]
    spec, uniform = results.shared_spectrogram(variants)
    assert spec == Spectrogram() and uniform
    new = Spectrogram(kind="stft", n_fft=512, hop=128)
    out = results.with_spectrogram(variants, new)
    assert [v.name for v in out] == ["a", "b"] and all(v.spectrogram == new for v in out)
    assert out[1].resize.size == 128
    assert results.shared_spectrogram([out[0], variants[1]]) == (new, False)


# ----------------------------------------------------------------------------- pages (AppTest, real engine)


def _seeded(page: str, variants: list[Variant] | None = None, **params: str):
    return open_app(page, variants, **params)


SMALL_SET = [
    Variant(name="rgb"),
    Variant(name="gray-replicate", channels="replicate"),
    Variant(name="viridis-160", channels="colormap", colormap="viridis", resize=Resize(size=160)),
]


_no_exception = ok


@pytest.mark.slow
def test_compare_page_shows_each_variant_and_the_reference_top1() -> None:
    at = _seeded("pages/compare.py", SMALL_SET, sample="chelsea").run()
    _no_exception(at)
    captions = [plain(c) for img in at.image for c in img.captions]
    assert captions.count("rgb (reference)") == 1
    for v in SMALL_SET[1:]:
        assert captions.count(v.name) == 1, captions
    assert any("top-5 overlap" in c.value for c in at.caption)
    # difference image only where the size matches the reference (160 px variant has none)
    assert sum(": |Δ| mean" in c and "(its own)" in c for c in captions) == 1  # per-variant scale by default
    assert any("input size differs" in c.value for c in at.caption)
    at.selectbox(key="compare_scale__widget").set_value("shared").run()
    assert sum(": |Δ| mean" in plain(c) and "(shared)" in c for img in at.image for c in img.captions) == 1
    assert at.query_params["compare_scale"] == "shared"
    at.selectbox(key="compare_zoom__widget").set_value("center").run()
    zoomed = [c for img in at.image for c in img.captions if ": center, 4×" in c]
    assert len(zoomed) == len(SMALL_SET) and at.query_params["compare_zoom"] == "center"
    top1 = [m.value for m in at.markdown if "top-1" in m.value]
    assert top1 and top1[0].startswith("**Reference top-1: ")
    assert {d.label for d in at.download_button} >= {"Results (JSON)", "Figure (PNG)"}
    assert any("efficientnet_lite0" in plain(c.value) and "chelsea" in c.value for c in at.caption)


@pytest.mark.slow
def test_feature_maps_page_renders_a_chosen_layer_and_diff_mode() -> None:
    at = _seeded("pages/feature_maps.py", SMALL_SET[:2], sample="chelsea").run()
    _no_exception(at)
    layer_box = at.selectbox(key="fm_layer_widget")
    assert "stage3" in layer_box.options
    layer_box.select("stage3")
    at.slider(key="fm_k_widget").set_value(3)
    at.run()
    _no_exception(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"]) == (3 + 1) * 2
    assert "stage3" in spec["layout"]["title"]["text"]
    assert at.query_params["fm_layer"] == "stage3"
    at.toggle(key="fm_diff_widget").set_value(True)
    at.run()
    _no_exception(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"]) == (3 + 1) * 1  # the one non-reference variant
    assert spec["layout"]["title"]["text"].startswith("Δ vs reference")
    assert any("ranked once on the reference by mean activation" in c.value for c in at.caption)


@pytest.mark.slow
def test_feature_maps_options_come_from_the_link() -> None:
    at = _seeded("pages/feature_maps.py", SMALL_SET[:2], sample="chelsea", fm_layer="stage5", fm_k="2",
                 fm_diff="1").run()
    _no_exception(at)
    assert at.selectbox(key="fm_layer_widget").value == "stage5"
    assert at.slider(key="fm_k_widget").value == 2
    assert at.toggle(key="fm_diff_widget").value is True


@pytest.mark.slow
def test_statistics_page_table_and_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    served: dict[str, tuple[str | None, bytes]] = {}  # what the download buttons hand to the browser
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):  # noqa: ANN001, ANN202
        file_id = original(self, path_or_data, mimetype, kind, filename)
        served[file_id] = (filename, path_or_data if isinstance(path_or_data, bytes) else b"")
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    at = _seeded("pages/activations.py", SMALL_SET, sample="chelsea").run()
    _no_exception(at)
    table = next(d.value for d in at.dataframe if "layer" in d.value.columns)
    from core.models import load_model

    n_layers = len(load_model("efficientnet_lite0").layer_names)
    assert len(table) == len(SMALL_SET) * n_layers
    assert set(table.groupby(["variant", "layer"]).size()) == {1}
    assert {*STATS, "similarity", "cka", "bn_shift"} <= set(table.columns)
    # the reference compared with itself
    ref_rows = table[table["variant"] == "rgb"]
    assert np.allclose(ref_rows["similarity"], 1.0, atol=1e-5)
    labels = {d.label for d in at.download_button}
    assert {"Results (JSON)", "Table (CSV)", "Figure (PNG)"} <= labels
    assert len(at.get("plotly_chart")) == 1
    csv_button = next(d for d in at.download_button if d.label == "Table (CSV)")
    filename, content = served[csv_button.proto.url.rsplit("/", 1)[-1].split(".")[0]]
    assert filename.endswith("-layers.csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert len(rows) == len(SMALL_SET) * n_layers
    assert len({(r["variant"], r["layer"]) for r in rows}) == len(rows)
    assert list(rows[0]) == [*layer_tables.TABLE_KEYS, *STATS, "similarity", "cka", "bn_shift"]
    viridis_stem = next(r for r in rows if r["variant"] == "viridis-160" and r["layer"] == "stem")
    assert viridis_stem["cka"] == ""  # 160 px input: spatial sizes differ from the reference, no CKA


@pytest.mark.slow
def test_audio_page_with_image_input_offers_a_builtin_sound() -> None:
    at = _seeded("pages/audio.py", SMALL_SET[:2], sample="chelsea").run()
    _no_exception(at)
    assert any("is an image, not a sound" in i.value for i in at.info)
    at.button(key="audio_load_default").click()
    at.run()
    _no_exception(at)
    assert all("is an image" not in i.value for i in at.info)
    assert len(at.main.get("audio")) == 1
    assert any("top-1" in m.value for m in at.markdown)


@pytest.mark.slow
def test_audio_page_builtin_clip_and_spectrogram_settings() -> None:
    from core.io import synth

    at = _seeded("pages/audio.py", SMALL_SET[:2], sample="chelsea").run()
    label = list(synth.SOUND_CLASSES)[-1]
    at.selectbox(key="audio_clip").select(label)
    at.button(key="audio_load_clip").click()
    at.run()
    _no_exception(at)
    assert any(label in c.value for c in at.caption)
    assert len(at.main.get("audio")) == 1
    # a spectrogram is one-channel: rgb and gray replicated give the network the same input, one column
    assert "rgb = gray-replicate (reference)" in [c.value for c in at.caption]
    assert "spec_0" in {c.key for c in at.get("plotly_chart")}  # drawn with time and frequency axes
    at.selectbox(key=key_ending(at, "selectbox", ":kind")).select("stft")
    at.number_input(key=key_ending(at, "number_input", ":n_fft")).set_value(512)
    at.form_submit_button[0].click()
    at.run()
    _no_exception(at)
    spec = session(at).variants
    assert all(v.spectrogram.kind == "stft" and v.spectrogram.n_fft == 512 for v in spec)


@pytest.mark.slow
def test_audio_page_with_an_uploaded_fsdd_wav(shared_data) -> None:
    wavs = sorted(shared_data("fsdd").glob("3_*.wav"))
    at = _seeded("pages/audio.py", SMALL_SET[:2], sample="chelsea").run()
    uploader(at, "audio_upload").upload(wavs[0].name, wavs[0].read_bytes(), "audio/wav")
    at.run()
    _no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert any(wavs[0].name in plain(c.value) and "8000 Hz" in c.value for c in at.caption)
    assert any("top-1" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 3  # waveform, similarity heatmap, feature maps, statistics


@pytest.mark.slow
def test_audio_page_warns_about_cropping_and_switches_to_the_spectrogram_preset() -> None:
    at = _seeded("pages/audio.py", SMALL_SET[:2], sample="sound:chirp-up").run()
    _no_exception(at)
    assert any("center-crop" in w.value for w in at.warning)
    at.button(key="audio_use_preset").click()
    at.run()
    _no_exception(at)
    assert not any("center-crop" in w.value for w in at.warning)
    names = list(session(at).variants.names)
    from core.preprocess.presets import get_preset

    assert names == [v.name for v in get_preset("spectrogram")]


@pytest.mark.slow
def test_audio_spectrogram_form_follows_the_variant_set() -> None:
    from core.preprocess.presets import get_preset

    at = _seeded("pages/audio.py", SMALL_SET[:2], sample="sound:chirp-up").run()
    assert at.number_input(key=key_ending(at, "number_input", ":n_fft")).value == 1024  # the default spec
    at.button(key="audio_use_preset").click()
    at.run()
    _no_exception(at)
    spec = get_preset("spectrogram")[0].spectrogram
    assert at.number_input(key=key_ending(at, "number_input", ":n_fft")).value == spec.n_fft
    assert at.number_input(key=key_ending(at, "number_input", ":n_mels")).value == spec.n_mels


def test_per_variant_difference_scales_make_small_effects_visible() -> None:
    small, large = np.full((4, 4), 0.01, np.float32), np.full((4, 4), 0.5, np.float32)
    small[0, 0] = 0.02
    assert results.difference_scales([None, small, large], "per variant") == [None, pytest.approx(0.02), 0.5]
    assert results.difference_scales([None, small, large], "shared") == [None, 0.5, 0.5]
    # on its own scale the small difference's brightest pixel is as bright as the large one's
    own = results.colorize_difference(small, 0.02)
    assert own[0, 0].tolist() == pytest.approx(results.colorize_difference(large, 0.5)[0, 0].tolist())


def test_zoom_crop_takes_the_same_region_of_inputs_of_any_size() -> None:
    big = np.zeros((320, 320), np.float32)
    big[140:180, 140:180] = 1.0  # a square in the middle
    small = big[::2, ::2]  # the same scene at half the size
    a, b = results.zoom_crop(big, "center", 4, out_px=160), results.zoom_crop(small, "center", 4, out_px=160)
    assert a.shape == b.shape == (160, 160)
    assert a.mean() == pytest.approx(b.mean())  # the same part of the scene
    assert results.zoom_crop(big, "top left", 8, out_px=160).max() == 0.0  # far from the square
    corner = results.zoom_crop(np.arange(64 * 64, dtype=np.float32).reshape(64, 64), "bottom right", 2, out_px=64)
    assert corner[-1, -1] == 64 * 64 - 1  # clamped inside the image, pixels repeated, not interpolated
    assert np.all(corner[::2, ::2] == corner[1::2, 1::2])


def test_differing_fields_table_keeps_only_what_differs() -> None:
    result = make_result(3)
    result.variants[1].variant = result.variants[1].variant.replace(resize=Resize(size=160))
    table = results.differing_fields(result)
    assert list(table.columns) == ["variant", "resize.size"]
    assert table["resize.size"].tolist() == ["224", "160", "224"]
    same = make_result(2)
    assert list(results.differing_fields(same).columns) == ["variant"]
    prov = json.loads(results.provenance_json(result, "sample: x"))
    assert prov["input"] == "sample: x" and len(prov["variants"]) == 3 and prov["input_provenance"]["digest"]
