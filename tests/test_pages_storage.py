"""Issue 9 in the dashboard: the storage and resize union widgets, the training-recipe line and the colormap
transfer curves on Compare, the three channels of sound strategies on Audio."""

from __future__ import annotations

import numpy as np
import pytest

from components import charts, results
from core.preprocess.color import colormap_lut
from core.preprocess.presets import get_preset
from core.preprocess.variant import JpegStorage, Resize, Variant
from tests.apptest import editor_key, ok, open_app, session


def _wkey(at, path: str) -> str:  # noqa: ANN001
    return editor_key(at, path)


def test_colormap_curves_plot_the_table_each_channel_in_its_own_color():
    fig = charts.colormap_curves("turbo")
    lines = [t for t in fig.data if t.type == "scatter"]
    lut = colormap_lut("turbo")
    assert [t.name for t in lines] == ["R", "G", "B"]
    for c, t in enumerate(lines):
        assert np.allclose(np.asarray(t.y), lut[:, c]) and list(t.x) == list(range(256))
        rgb = [int(x) for x in t.line.color.removeprefix("rgb(").rstrip(")").split(",")]
        assert int(np.argmax(rgb)) == c  # the R line is red, G green, B blue
    strip = next(t for t in fig.data if t.type == "image")
    assert np.array_equal(np.asarray(strip.z)[0], np.round(lut * 255).astype(np.uint8))


@pytest.mark.slow
def test_editor_switches_storage_and_resize_between_their_forms():
    at = open_app(variants=[Variant(name="a")], timeout=180)
    ok(at)
    at.selectbox(key=_wkey(at, "storage#choice")).set_value("jpeg").run()
    ok(at)
    assert session(at).variants[0].storage == JpegStorage()
    at.number_input(key=_wkey(at, "storage.quality")).set_value(30).run()
    at.selectbox(key=_wkey(at, "storage.subsampling")).set_value("4:4:4").run()
    assert session(at).variants[0].storage == JpegStorage(quality=30, subsampling="4:4:4")
    at.selectbox(key=_wkey(at, "storage#choice")).set_value("float").run()
    assert session(at).variants[0].storage == "float"
    assert not any(w.key == _wkey(at, "storage.quality") for w in at.number_input)

    at.selectbox(key=_wkey(at, "resize#choice")).set_value("model").run()
    ok(at)
    assert session(at).variants[0].resize == "model"
    assert not any(w.key == _wkey(at, "resize.size") for w in at.number_input)
    at.selectbox(key=_wkey(at, "resize#choice")).set_value("custom").run()
    assert session(at).variants[0].resize == Resize()
    at.number_input(key=_wkey(at, "resize.crop_pct")).set_value(0.875).run()
    assert session(at).variants[0].resize.crop_pct == 0.875
    assert at.query_params["v"]  # the link carries the edited set


@pytest.mark.slow
def test_compare_shows_the_recipe_line_and_colormap_curves_and_records_the_recipe_expanded():
    vs = [Variant(name="recipe", resize="model"),
          Variant(name="turbo jpeg", resize="model", channels="colormap", colormap="turbo",
                  storage={"kind": "jpeg", "quality": 30}),
          Variant(name="cv linear", resize=Resize(method="bilinear", antialias=False, backend="opencv"))]
    at = open_app("pages/compare.py", vs, sample="chelsea")
    ok(at)
    captions = [c.value for c in at.caption]
    assert sum(c.endswith(" · ✓ recipe") for c in (c.split("  \n")[0] for c in captions)) == 2
    assert sum("⚠ recipe: interpolation, antialias, crop" in c for c in captions) == 1
    assert any("training recipe: 224 px, bicubic, crop_pct 0.875 (shorter side to 256" in c.replace("\\", "")
               for c in captions)  # shown as plain text: Markdown characters escaped
    assert len(at.get("plotly_chart")) == 2  # one colormap curve chart + the similarity heatmap
    # "What produced these numbers": the recipe expanded (crop_pct differs from the OpenCV variant's 1.0)
    table = next(d.value for d in at.dataframe if "variant" in d.value.columns).set_index("variant")
    assert table.loc["recipe", "resize.crop_pct"] == "0.875" and table.loc["cv linear", "resize.crop_pct"] == "1.0"
    assert session(at).variants[0].resize == "model"  # the set itself keeps the shorthand


@pytest.mark.slow
def test_audio_page_shows_the_three_channels_of_multi_window_and_deltas():
    vs = [v for v in get_preset("storage") if v.name in ("raw float gray", "multi-window", "deltas")]
    at = open_app("pages/audio.py", vs, sample="sound:chirp-up")
    ok(at)
    captions = [c for img in at.image for c in img.captions]
    for label in ("channel 1: 25 ms window, 10 ms hop", "channel 3: 100 ms window, 50 ms hop",
                  "channel 2: delta", "channel 3: delta-delta"):
        assert label in captions, captions


def test_channel_planes_and_recipe_note_helpers():
    from core.inspect.engine import VariantResult

    disp = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    v = VariantResult(Variant(name="d", channels="deltas"), disp, [], [], np.zeros(2))
    planes = results.channel_planes(v)
    assert [p[0] for p in planes] == ["channel 1: spectrogram", "channel 2: delta", "channel 3: delta-delta"]
    assert np.array_equal(planes[1][1], disp[..., 1])
    assert results.channel_planes(VariantResult(Variant(name="r"), disp, [], [], np.zeros(2))) is None
